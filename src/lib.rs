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

use std::fmt;

mod certificate;
mod credential;
mod encode;
mod error;
mod kdf;
mod key;
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

use random::RandomSource;
use store::{MAX_CERTIFICATE_BYTES, MAX_CHAIN_LEN};

/// Downloads one certificate as `request` asks, with the default [`ExportPolicy`] and the
/// operating system's random source.
///
/// The store is asked for the certificate, then (only when the key goes out) for the key;
/// the stored material is checked; then the file is encoded.
pub fn download<S: CertificateStore + ?Sized>(
    request: DownloadRequest,
    store: &S,
) -> Result<DownloadResponse, Error> {
    download_with(request, store, &ExportPolicy::DEFAULT, &mut OsRandom)
}

/// [`download`] with a policy and a random source of your choice.
pub fn download_with<S: CertificateStore + ?Sized>(
    request: DownloadRequest,
    store: &S,
    policy: &ExportPolicy,
    rng: &mut dyn RandomSource,
) -> Result<DownloadResponse, Error> {
    // The policy's refusals come before the store is asked anything.
    policy.check_request(&request)?;
    prepare(request, store)?.encode(policy, rng)
}

/// Parses a JSON request body under `policy`'s password policy, then downloads.
///
/// Everything a `POST /api/certificate/download` handler does but the HTTP; on error,
/// answer [`Error::status`] with [`Error::to_json`] as the body.
///
/// The body is validated completely (400) before the store is asked anything, as the
/// contract orders, and only the store knows whether the caller is authenticated: an
/// unauthenticated caller with a bad body gets 400. To answer 401 first, authenticate
/// before calling this and answer `Error::from(ErrorKind::Unauthenticated)`. A body over
/// [`MAX_BODY_BYTES`] is a 400 `body_too_large`: read at most one byte more than that.
pub fn download_json<S: CertificateStore + ?Sized>(
    body: &[u8],
    store: &S,
    policy: &ExportPolicy,
    rng: &mut dyn RandomSource,
) -> Result<DownloadResponse, Error> {
    let request = DownloadRequest::from_json_with_policy(body, policy.password_policy())?;
    download_with(request, store, policy, rng)
}

/// The first half of a download: authorize and load from the store, check the material.
///
/// The result is `Send + 'static`: an async host runs this step (or its own async fetch and
/// [`Prepared::from_record`]) on its executor and [`Prepared::encode`], which is CPU-bound,
/// where it chooses, e.g. on `tokio::task::spawn_blocking`.
pub fn prepare<S: CertificateStore + ?Sized>(
    request: DownloadRequest,
    store: &S,
) -> Result<Prepared, Error> {
    refuse_unservable(&request)?;
    let id = request.id();
    let record = store.certificate(id).map_err(|e| e.into_error(id))?;
    let key = if request.includes_key() {
        let key = store.private_key(id).map_err(|e| e.into_error(id))?;
        Some(Zeroizing::new(key))
    } else {
        None
    };
    Prepared::from_record(request, record, key)
}

/// [`prepare`] for an [`AsyncCertificateStore`]: the same calls, awaited. Nothing here is
/// CPU-heavy; run [`Prepared::encode`] off the executor.
pub async fn prepare_async<S: AsyncCertificateStore + ?Sized>(
    request: DownloadRequest,
    store: &S,
) -> Result<Prepared, Error> {
    refuse_unservable(&request)?;
    let id = request.id();
    let record = store.certificate(id).await.map_err(|e| e.into_error(id))?;
    let key = if request.includes_key() {
        let key = store.private_key(id).await.map_err(|e| e.into_error(id))?;
        Some(Zeroizing::new(key))
    } else {
        None
    };
    Prepared::from_record(request, record, key)
}

/// A request built through the Rust API that no file can answer (a p7b with a key, a pfx
/// to a recipient, a kwp without an RSA recipient; the JSON parser refuses them already),
/// refused before the store is asked anything.
fn refuse_unservable(request: &DownloadRequest) -> Result<(), Error> {
    match (request.format(), request.key_recipient()) {
        (Format::P7b, _) if request.includes_key() => Err(crate::request::p7b_key_refused()),
        (Format::Pfx, Some(_)) => Err(crate::request::pfx_recipient_refused()),
        (Format::Kwp, None) => Err(crate::request::kwp_recipient_required()),
        (Format::Kwp, Some(recipient)) => match recipient.key_type() {
            recipient::RecipientKeyType::Rsa { .. } => Ok(()),
            other => Err(crate::request::kwp_requires_rsa(other)),
        },
        _ => Ok(()),
    }
}

/// A download whose material is loaded and checked, ready to encode.
pub struct Prepared {
    request: DownloadRequest,
    credential: credential::Credential,
}

impl Prepared {
    /// Checks material the host loaded itself: the leaf parses, the issuers parse (when
    /// they go out), the key (needed exactly when `request.includes_key()`) belongs to the
    /// leaf. The host must have authorized the caller for this record and, with a key, for
    /// its export.
    ///
    /// The key comes wrapped in [`Zeroizing`] (re-exported here), so that the host's copy
    /// is wiped when the download is done. A store error of the host's own fetch becomes
    /// the crate's [`Error`] with [`StoreError::into_error`].
    pub fn from_record(
        request: DownloadRequest,
        record: CertificateRecord,
        key: Option<Zeroizing<PrivateKeyDer<'static>>>,
    ) -> Result<Self, Error> {
        refuse_unservable(&request)?;
        let id = request.id();
        if request.includes_key() && key.is_none() {
            return Err(store::StoreError::KeyNotFound.into_error(id));
        }
        let key = if request.includes_key() { key } else { None };
        if record.issuers.len() >= MAX_CHAIN_LEN {
            return Err(Error::new(
                ErrorKind::InvalidChain,
                format!("the stored chain of certificate {id} is longer than {MAX_CHAIN_LEN}"),
            ));
        }
        if record.leaf.len() > MAX_CERTIFICATE_BYTES {
            return Err(Error::new(
                ErrorKind::InvalidCertificate,
                format!("the stored certificate {id} is larger than {MAX_CERTIFICATE_BYTES} bytes"),
            ));
        }
        if record
            .issuers
            .iter()
            .any(|c| c.len() > MAX_CERTIFICATE_BYTES)
        {
            return Err(Error::new(
                ErrorKind::InvalidChain,
                format!(
                    "an issuer of certificate {id} is larger than {MAX_CERTIFICATE_BYTES} bytes"
                ),
            ));
        }
        let with_chain = request.include_chain() && request.format() != Format::Crt;
        let credential = credential::Credential::check(record, with_chain, key)?;
        Ok(Self {
            request,
            credential,
        })
    }

    /// The request this download answers.
    pub fn request(&self) -> &DownloadRequest {
        &self.request
    }

    /// Encodes the file: CPU-bound, dominated by the password-based key derivation.
    pub fn encode(
        &self,
        policy: &ExportPolicy,
        rng: &mut dyn RandomSource,
    ) -> Result<DownloadResponse, Error> {
        encode::encode(&self.request, &self.credential, policy, rng)
    }
}

impl fmt::Debug for Prepared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prepared")
            .field("request", &self.request)
            .field("issuers", &self.credential.issuers.len())
            .field("key", &self.credential.key.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}
