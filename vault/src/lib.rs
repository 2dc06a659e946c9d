//! A vault behind `cert-download`: certificates and envelope-sealed private keys in SQLite
//! or PostgreSQL, per-principal grants, hashed bearer tokens and an insert-only audit trail.
//!
//! - [`seal`]: the envelope encryption (a data key per private key, wrapped by a KEK from a
//!   file kept apart from the database, or held in a PKCS#11 token; what each choice
//!   protects against is in its documentation). Knows nothing of SQL.
//! - [`Vault`]: the database (schema, KEK checks, import, grants, tokens, rekey, audit).
//! - [`VaultStore`]: the `AsyncCertificateStore` one caller sees, from [`Vault::caller`].
//!
//! ```no_run
//! # async fn serve() -> Result<(), Box<dyn std::error::Error>> {
//! use cert_download::{DownloadRequest, ExportPolicy, OsRandom, prepare_async};
//! use cert_download_vault::{AuditEntry, Keyring, Vault, VaultOptions};
//!
//! // At start: a wrong or missing KEK file fails here, not on each download.
//! let keyring = Keyring::load("/etc/cert-download/kek")?;
//! let vault = Vault::connect("sqlite:///var/lib/cert-download/vault.db", keyring,
//!     VaultOptions::default()).await?;
//!
//! // Per request: the store bound to the caller that the bearer token names.
//! let store = vault.caller("cdv_...token from the Authorization header...").await?;
//! let request = DownloadRequest::from_json(br#"{"id": 12345, "format": "crt"}"#)?;
//! let status = match prepare_async(request, &store).await {
//!     Ok(prepared) => prepared.encode(&ExportPolicy::default(), &mut OsRandom).map_or_else(|e| e.status(), |_| 200),
//!     Err(error) => error.status(),
//! };
//! vault.record_audit(&AuditEntry {
//!     principal: store.principal().map(str::to_owned),
//!     certificate_id: Some(12345),
//!     format: Some("crt".into()),
//!     status,
//!     ..AuditEntry::default()
//! }).await?;
//! # Ok(()) }
//! ```
//!
//! # Design
//!
//! - **Schema** (`migrations/sqlite`, `migrations/postgres`: one schema in two dialects,
//!   embedded with `sqlx::migrate!` and applied by [`Vault::init`] or at open with
//!   [`VaultOptions::migrate`]): `certificates` (id, leaf DER, issuers as DER one after the
//!   other), `sealed_keys` (KEK id, wrap nonce, wrapped data key, key format, key nonce,
//!   ciphertext), `kek_checks` (a known text sealed under each KEK), `principals`, `grants`
//!   (principal, `read` or `export_key`, certificate id or 0 for every certificate),
//!   `tokens` (SHA-256 of the token, principal, expiry, revocation), `client_certificates`
//!   (SHA-256 of a client certificate's DER, principal, subject, notAfter, registration
//!   time), `audit` (insert-only; `credential` says whether the caller used a token or a
//!   certificate).
//! - **Sealing**: see [`seal`] (data key per key, KEK file, associated data layout).
//! - **Tokens** are 256 random bits (`cdv_` and base64url); the database keeps their
//!   SHA-256 only. A fast hash is right for secrets of that entropy (no dictionary to try;
//!   a password hash such as Argon2 would cost every request milliseconds for nothing),
//!   and the lookup is by the hash, so comparing happens on values an attacker cannot
//!   steer byte by byte.
//! - **Client certificates** (mTLS): [`Vault::caller_by_client_certificate`] gives the
//!   same [`VaultStore`] as a token for a certificate whose fingerprint is registered
//!   ([`Vault::add_client_certificate`], `principal add-cert`), checked again by every
//!   store call as a token is. The host verifies the certificate (chain, dates, proof of
//!   its key) in the TLS handshake; the vault maps it to a principal. A fingerprint is
//!   not a secret, so it is stored as it is and looked up plainly.
//! - **Answers**: see [`VaultStore`]; no read grant is 404, as for an id that does not
//!   exist, so that ids cannot be probed; a sealed key that does not open is a `Backend`
//!   error (500 `store_failure`) whose cause names the id and KEK for the log, never bytes.
//! - **Rekey**: [`Vault::rekey`] reads the rows not under the newest KEK in batches and
//!   rewraps each data key with its own compare-and-swap `UPDATE`; downloads read either
//!   wrapping meanwhile; a crash leaves some rows moved and a new run moves the rest. When
//!   it reports `remaining: 0`, older KEKs can leave the file.
//! - **KEKs at run time**: the keyring is shared by the requests and swapped whole when its
//!   sources are read again: by [`Vault::reload_keyring`] (the server calls it on SIGHUP),
//!   and by the vault itself when a sealed key names a KEK it lacks (at most once a second),
//!   so a KEK added by `kek new --rotate` is used by a running instance without a restart.
//!   A KEK whose token does not answer is [`SealError::Custody`]
//!   ([`is_custody_unavailable`]): the host answers 503, and the token is reached again
//!   (its module re-initialised) once it is back.
//! - **Opening** ([`Vault::connect`]) checks the KEK file against the database: a KEK whose
//!   check value does not open, a KEK that sealed keys use and the file lacks, or a file
//!   with none of the vault's KEKs is an error at start.
//!
//! # Audit chain
//!
//! The triggers stop mistakes, not the table's owner. So each audit row is also chained
//! to the previous row of its **writer** (the service's `--instance`; rows recorded with
//! no instance are writer [`DEFAULT_WRITER`]): columns `writer`, `seq` (1, 2, 3, ... per
//! writer; a unique index on `(writer, seq)`), `prev_hash` (the previous row's
//! `row_hash`; 32 zero bytes for seq 1) and `row_hash` = SHA-256 of the row's canonical
//! encoding, computed by the writer before its one `INSERT`:
//!
//! ```text
//! "cert-download-vault/v1 audit-row" 0x00, then for each column in this order whose value
//! is not NULL:  len(name) (1 byte) | name | len(value) (4 bytes, big-endian) | value
//!   writer, seq, prev_hash, at_ms, principal, certificate_id, format, key_out, status,
//!   error, client, instance, key_delivery, recipient_sha256, peer, pfx_encryption,
//!   credential
//! text: UTF-8; integers (seq, at_ms, certificate_id, status): 8 bytes big-endian two's
//! complement; key_out: 1 byte 0 or 1; prev_hash: its 32 bytes
//! ```
//!
//! A column added later goes at the end of that list, nullable: the rows that hold NULL
//! in it hash as before. So did `credential` (migration 0005: `token` or `certificate`,
//! how the caller authenticated): every row chained before it holds NULL there and
//! verifies unchanged, and no version label was needed. A writer's inserts run one at a time in its process (each links
//! to the one before); a process that finds its number taken (another process under the
//! same name) re-reads its head and tries again, so numbers are never shared or skipped.
//! A restarted instance reads its last committed row and continues; a new name starts a
//! new chain. Rows written before the chain existed have NULL there: `audit verify`
//! counts them as `unchained`.
//!
//! **Checkpoints**: an Ed25519 key (created by `init`, its seed sealed under the newest
//! KEK with AES-256-GCM, associated data `"cert-download-vault/v1 audit-key" 0x00 |
//! public key`, rewrapped by `rekey`) signs, for every writer, its last `seq` and
//! `row_hash`, with the time and the signer's name ([`Vault::audit_checkpoint`]; the
//! service every `--audit-checkpoint-secs` and at shutdown). A checkpoint is one JSON
//! line ([`Checkpoint`]) in the insert-only `audit_checkpoints` table and, optionally, a
//! file shipped elsewhere. The signature covers (see [`Checkpoint::signed_bytes`]):
//!
//! ```text
//! "cert-download-vault/v1 audit-checkpoint" 0x00 | at_ms (8) | len(signer) (4) | signer |
//! count (4) | per writer: len(writer) (4) | writer | seq (8) | row_hash (32)
//! ```
//!
//! **Verifying** ([`AuditVerifier`], `cert-download-vault audit verify`) needs the
//! database and the public key only: it walks each writer's chain by `seq` in pages,
//! recomputes every hash, checks every link and every checkpoint's signature, and names
//! the first bad row of each writer: `changed`, `missing`, `reordered` (the row hashes
//! under another `seq`), `cut_off` (a checkpoint vouched for more rows). With the newest
//! KEK in a PKCS#11 token the signing key's seed is sealed by the token (AES-256-GCM
//! inside it, as a data key is) and opened in the process's memory only to sign; it is not
//! a token object of its own.
//!
//! # PostgreSQL roles
//!
//! The audit table refuses `UPDATE`, `DELETE` and `TRUNCATE` through triggers (SQLite and
//! PostgreSQL alike). A trigger binds every role, but the table's owner (or a superuser)
//! can drop it: on PostgreSQL the service must connect as a role that may read the vault
//! and insert audit rows, nothing more, and [`Vault::check_service_role`] (which the
//! server runs at start) refuses a role that owns `audit` or holds `UPDATE`, `DELETE` or
//! `TRUNCATE` on it. The admin command runs as the owner:
//!
//! ```sql
//! CREATE ROLE vault_service LOGIN PASSWORD '...';
//! GRANT USAGE ON SCHEMA public TO vault_service;
//! GRANT SELECT ON _sqlx_migrations, kek_checks, certificates, sealed_keys, principals,
//!     grants, tokens TO vault_service;
//! GRANT SELECT, INSERT ON audit TO vault_service;   -- no UPDATE, DELETE or TRUNCATE
//! GRANT UPDATE (last_used_at) ON tokens TO vault_service;   -- a token's last use
//! GRANT SELECT ON audit_signing_keys TO vault_service;
//! GRANT SELECT, INSERT ON audit_checkpoints TO vault_service;
//! GRANT SELECT ON client_certificates TO vault_service;   -- mTLS callers
//! ```
//!
//! (`audit.id` is an identity column: inserting needs no grant on its sequence.)
//!
//! On SQLite there are no roles: the service's user must be able to write the file, so
//! the triggers guard against mistakes (a careless statement, a tool run against the
//! wrong file), **not** against that user, who can drop them. Where the audit trail must
//! stand against the service's own account, use PostgreSQL with the role above.
//!
//! # The database link
//!
//! Whoever sits on the link to PostgreSQL can answer for the database: make any token
//! valid, grant itself export, and acknowledge audit rows it never stores. So
//! [`Vault::connect`] refuses a `postgres://` URL whose host (or `hostaddr`) is not
//! loopback (127.0.0.0/8, `::1`, `localhost`) or a Unix socket unless it says
//! `sslmode=verify-full` (the server's certificate chains to a trusted root **and** names
//! the host; add `sslrootcert=FILE` for a private CA), or
//! [`VaultOptions::insecure_database_transport`] is set (`--insecure-database-transport`
//! on the command lines) for a link protected otherwise. `require` and `verify-ca` are not
//! enough: the first accepts any certificate, the second any certificate of the CA.
//! Every connection sets `synchronous_commit = on`, so that an audit row acknowledged
//! before a download is released is on disk whatever the cluster's default.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod admin;
mod audit;
mod caller;
mod custody;
mod database_url;
mod db;
mod error;
mod health;
pub mod seal;
mod service_role;
mod vault;

pub use admin::{
    CertificateDetail, CertificateInfo, CertificateSummary, ClientCertificateInfo, GrantInfo,
    ImportOutcome, KekFile, KekHolder, KekUsage, NewToken, Permission, PrincipalInfo, RekeyReport,
    Scope, TokenInfo, certificate_from_pem, check_record, fingerprint_text, parse_fingerprint,
};
pub use audit::checkpoint::{Checkpoint, CheckpointWriter, parse_public_key};
pub use audit::verify::{
    AuditProblem, AuditProblemKind, AuditReport, AuditVerifier, AuditWriterSummary, LastCheckpoint,
};
pub use audit::{AuditEntry, AuditFilter, AuditRow, DEFAULT_WRITER};
#[doc(hidden)]
pub use caller::QUERY_SQLITE;
pub use caller::VaultStore;
pub use database_url::database_url;
pub use db::{VaultOptions, describe_database};
pub use error::{VaultError, is_unavailable};
pub use health::PoolState;
pub use seal::{
    KekFileError, KekSource, Keyring, KeyringError, SealError, SealedKey, TokenError, TokenUri,
    is_custody_unavailable,
};
pub use vault::Vault;

/// The crate's README (`vault/README.md`): its Rust block compiled as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
