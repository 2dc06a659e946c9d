//! What the test suites of several cert-download crates share, so that no test reaches
//! into another crate's files:
//!
//! - [`judges`]: which external judges (openssl, Java, GnuTLS, NSS, Go, PostgreSQL, ...)
//!   are installed, for the build scripts of `interop` and `server`, which turn it into
//!   `judge_*` cfgs that ignore a test whose judge is missing, with a reason naming what
//!   to install;
//! - `vault_db` (feature `vault-db`): the vault's test databases, a SQLite file or a fresh
//!   database on the PostgreSQL cluster of `CERT_DOWNLOAD_POSTGRES_URL`, for the vault's
//!   own tests and the server's tests on the vault;
//! - `server_harness` (feature `server-harness`): the service's test harness, shared by
//!   the server's test binaries: the server started as a process (its path given by the
//!   test binary) and awaited on its `listening on` line, the reqwest and raw TLS clients,
//!   the reader of the contract's answers, the `openssl` runner, the demo store's paths;
//! - `pfx_reader` (feature `pfx-reader`): a PKCS#12 reader that shares no code with the
//!   library's encoder, for the library's tests and its fuzz targets.
#![forbid(unsafe_code)]

pub mod judges;
#[cfg(feature = "pfx-reader")]
pub mod pfx_reader;
#[cfg(feature = "server-harness")]
pub mod server_harness;
#[cfg(feature = "vault-db")]
pub mod vault_db;
