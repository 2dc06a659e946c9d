//! Serve `POST /api/certificate/download` from a Rust service that keeps certificates and
//! private keys: give the id of a stored certificate and a format, get back a file that
//! opens in OpenSSL, Java, Windows, macOS, NSS and GnuTLS. PFX (PKCS#12) always carries the
//! key, PEM and CRT carry it on request, P7B carries the chain and never a key; a private
//! key never leaves without a password. Pure Rust, `#![forbid(unsafe_code)]`.
//!
//! ```
//! use cert_download::store::MemoryEntry;
//! use cert_download::{
//!     CertificateDer, CertificateId, ExportPolicy, MemoryStore, OsRandom, PemObject,
//!     PrivateKeyDer, download_json,
//! };
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A store of one record, from PEM files (the demo record of this crate's repository).
//! let mut certs = CertificateDer::pem_file_iter("examples/demo-store/12345/cert.pem")?
//!     .collect::<Result<Vec<_>, _>>()?;
//! let leaf = certs.remove(0);
//! let key = PrivateKeyDer::from_pem_file("examples/demo-store/12345/key.pem")?;
//! let mut store = MemoryStore::new();
//! let id = CertificateId::new(12345).ok_or("a valid id")?;
//! store.insert(id, MemoryEntry::new(leaf).with_issuers(certs).with_key(key));
//!
//! // A request body in, a status and a JSON body out.
//! let body = br#"{"id": "12345", "format": "pfx", "password": "securepassword123"}"#;
//! let (status, json) = match download_json(body, &store, &ExportPolicy::default(), &mut OsRandom) {
//!     Ok(response) => (200, response.to_json()),
//!     Err(error) => (error.status(), error.to_json()),
//! };
//! assert_eq!(status, 200);
//! assert!(json.starts_with(r#"{"certificate":""#));
//! # Ok(())
//! # }
//! ```
//!
//! # Your host
//!
//! Storage and authorization are yours: implement [`CertificateStore`] (or
//! [`AsyncCertificateStore`]) on a value bound to the caller, and check it with the
//! `conformance` suite (a cargo feature for your `[dev-dependencies]`). [`MemoryStore`] and
//! [`DirectoryStore`] ship. The [`ExportPolicy`] you pass (iteration counts, password rules,
//! the default PFX profile) applies on every route.
//!
//! - **A synchronous host** calls [`download_json`] with the body, the caller's store and
//!   the policy, and answers [`Error::status`] with [`Error::to_json`] on error. Typed
//!   requests go through [`DownloadRequest`] and [`download_with`].
//! - **An async host** parses with [`DownloadRequest::from_json_with_policy`], authorizes and
//!   loads with [`prepare_async`] (a synchronous store runs on tokio's blocking pool as
//!   `BlockingStore`, the `tokio` feature; a store picked at run time is held as
//!   `Arc<dyn` [`store::DynAsyncCertificateStore`]`>`), then runs [`Prepared::encode`], which
//!   is CPU-bound, on `spawn_blocking`.
//! - **An axum (or any `http`-crate) host** does the async steps and answers with
//!   `http::response` (the `http` feature): status, JSON, `Cache-Control: no-store`, and
//!   `WWW-Authenticate` on 401. The crate `examples/axum-host` in the repository is a
//!   complete, tested host.
//!
//! # Features
//!
//! | feature | default | |
//! |---|---|---|
//! | `fast-key-check` | on | precomputed tables for the P-256/P-384 key check |
//! | `parallel-kdf` | off | a PFX's key derivations on two threads |
//! | `tokio` | off | `BlockingStore` |
//! | `http` | off | `http::response`, the answer as an `http::Response` |
//! | `conformance` | off | `conformance`, the test suite for your store (embeds demo keys) |
//!
//! # Where to read on
//!
//! - [`guide`]: how to build a host (your store, async hosts, authentication and the body
//!   limit, an axum host), the features, what goes into each file and which consumer opens
//!   which output.
//! - [`request`]: the request's fields and the response; [`ErrorKind`]: the statuses and
//!   error codes.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod certificate;
mod download;
mod encode;
mod error;
mod kdf;
mod key;
mod material;
mod recipient;
mod response;

#[cfg(feature = "conformance")]
#[cfg_attr(docsrs, doc(cfg(feature = "conformance")))]
pub mod conformance;
pub mod guide;
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod http;
pub mod policy;
pub mod random;
pub mod request;
pub mod store;

pub use download::{Prepared, download, download_json, download_with, prepare, prepare_async};
pub use error::{Error, ErrorKind};
pub use policy::{ExportPolicy, PasswordPolicy, PfxEncryption, RecipientDelivery};
pub use random::OsRandom;
pub use recipient::{
    KeyRecipient, MAX_KEY_RECIPIENT_BYTES, MAX_RECIPIENT_RSA_BITS, MIN_RECIPIENT_RSA_BITS,
    RecipientKeyType,
};
pub use request::{CertificateId, DownloadRequest, Format, KeyDelivery, MAX_BODY_BYTES, Password};
pub use response::{DownloadResponse, KeyFormat};
/// The certificate and key types of the API ([`CertificateDer`], [`PrivateKeyDer`], their
/// PKCS#8, PKCS#1 and SEC1 forms) and [`PemObject`] to read them from PEM: the crate
/// `rustls-pki-types`, so a host needs no dependency of its own to call this one.
pub use rustls_pki_types as pki_types;
#[doc(no_inline)]
pub use rustls_pki_types::pem::PemObject;
pub use rustls_pki_types::{CertificateDer, PrivateKeyDer};
#[cfg(feature = "tokio")]
pub use store::BlockingStore;
pub use store::{
    AsyncCertificateStore, CertificateRecord, CertificateStore, DirectoryStore, MemoryStore,
    StoreError,
};
#[doc(no_inline)]
pub use zeroize::Zeroizing;

/// The README's Rust blocks, run as doc tests (the crate's front page is the text above).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
