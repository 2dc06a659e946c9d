//! The pipeline of a download: the policy's refusals of a request, then the store asked for
//! the record (and, only when the key goes out, for the key), the stored material checked,
//! and the file encoded.
//!
//! [`download`], [`download_with`] and [`download_json`] run it in one call; [`prepare`] or
//! [`prepare_async`] and then [`Prepared::encode`] run it in two steps, so that an async host
//! keeps the CPU-bound encoding off its executor.

use std::fmt;

use rustls_pki_types::PrivateKeyDer;
use zeroize::Zeroizing;

use crate::encode;
use crate::error::{Error, ErrorKind};
use crate::material;
use crate::policy::{ExportPolicy, PfxEncryption, RecipientDelivery};
use crate::random::{OsRandom, RandomSource};
use crate::recipient::RecipientKeyType;
use crate::request::{
    DownloadRequest, Format, kwp_recipient_required, kwp_requires_rsa, p7b_key_refused,
    pfx_recipient_refused,
};
use crate::response::DownloadResponse;
use crate::store::{
    AsyncCertificateStore, CertificateRecord, CertificateStore, MAX_CERTIFICATE_BYTES,
    MAX_CHAIN_LEN, StoreError,
};

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
/// [`MAX_BODY_BYTES`](crate::MAX_BODY_BYTES) is a 400 `body_too_large`: read at most one
/// byte more than that.
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
        (Format::P7b, _) if request.includes_key() => Err(p7b_key_refused()),
        (Format::Pfx, Some(_)) => Err(pfx_recipient_refused()),
        (Format::Kwp, None) => Err(kwp_recipient_required()),
        (Format::Kwp, Some(recipient)) => match recipient.key_type() {
            RecipientKeyType::Rsa { .. } => Ok(()),
            other => Err(kwp_requires_rsa(other)),
        },
        _ => Ok(()),
    }
}

/// A download whose material is loaded and checked, ready to encode.
pub struct Prepared {
    request: DownloadRequest,
    material: material::CheckedMaterial,
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
            return Err(StoreError::KeyNotFound.into_error(id));
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
        let material = material::CheckedMaterial::check(record, with_chain, key)?;
        Ok(Self { request, material })
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
        encode::encode(&self.request, &self.material, policy, rng)
    }
}

impl fmt::Debug for Prepared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prepared")
            .field("request", &self.request)
            .field("issuers", &self.material.issuers.len())
            .field("key", &self.material.key.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

// The export policy's refusals of a request. They live with the pipeline that applies them,
// not in the `policy` module, because they read the request, and the request reads the
// policy (its password rules and PFX profiles).
impl ExportPolicy {
    /// This policy's refusals of a valid request, before any store is asked: a pfx whose
    /// `pfx_encryption` is outside the allowed profiles (400 `pfx_encryption_not_allowed`,
    /// naming the allowed ones), recipient delivery off (400 `key_recipient_not_allowed`) or
    /// required (400 `key_recipient_required` for a keyed download under a password), and
    /// an RSA recipient under [`min_recipient_rsa_bits`](Self::min_recipient_rsa_bits) (400
    /// `key_recipient_too_small`).
    ///
    /// [`download_with`] and [`download_json`] apply it before the store is asked anything,
    /// and [`Prepared::encode`] again; a host on the split path ([`prepare`],
    /// [`prepare_async`]) calls it first, so that a refused request costs no store lookup.
    ///
    /// ```
    /// use cert_download::{DownloadRequest, ExportPolicy, PfxEncryption};
    ///
    /// let modern = ExportPolicy::builder()
    ///     .allowed_pfx_encryptions(&[PfxEncryption::Aes256Sha256, PfxEncryption::Aes256Sha256Pbmac1])
    ///     .build()?;
    /// let legacy = DownloadRequest::from_json(
    ///     br#"{"id": 1, "format": "pfx", "password": "securepassword123", "pfx_encryption": "tripledes_sha1"}"#,
    /// )?;
    /// let error = modern.check_request(&legacy).unwrap_err();
    /// assert_eq!((error.status(), error.code()), (400, "pfx_encryption_not_allowed"));
    /// assert!(error.message().contains("aes256_sha256_pbmac1"));
    /// assert!(ExportPolicy::default().check_request(&legacy).is_ok());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn check_request(&self, request: &DownloadRequest) -> Result<(), Error> {
        self.check_pfx_encryption(request)?;
        match (self.recipient_delivery(), request.key_recipient()) {
            (RecipientDelivery::Off, Some(_)) => Err(Error::new(
                ErrorKind::KeyRecipientNotAllowed,
                "this server does not deliver keys to a key_recipient; use a password",
            )),
            (RecipientDelivery::Required, None) if request.includes_key() => Err(Error::new(
                ErrorKind::KeyRecipientRequired,
                "this server delivers keys only to a key_recipient certificate, not under a \
                 password",
            )),
            (_, Some(recipient)) => match recipient.key_type() {
                RecipientKeyType::Rsa { bits } if bits < self.min_recipient_rsa_bits() => {
                    Err(Error::new(
                        ErrorKind::KeyRecipientTooSmall,
                        format!(
                            "the key_recipient certificate's RSA key has {bits} bits; this \
                             server requires at least {}",
                            self.min_recipient_rsa_bits()
                        ),
                    ))
                }
                _ => Ok(()),
            },
            _ => Ok(()),
        }
    }

    /// A pfx whose `pfx_encryption` is outside the allowed profiles: 400
    /// `pfx_encryption_not_allowed` naming the allowed ones.
    fn check_pfx_encryption(&self, request: &DownloadRequest) -> Result<(), Error> {
        if request.format() != Format::Pfx {
            return Ok(());
        }
        let profile = request.pfx_encryption().unwrap_or(self.pfx_encryption());
        if self.allows_pfx_encryption(profile) {
            return Ok(());
        }
        let allowed: Vec<&str> = self
            .allowed_pfx_encryptions()
            .map(PfxEncryption::as_str)
            .collect();
        Err(Error::new(
            ErrorKind::PfxEncryptionNotAllowed,
            format!(
                "pfx_encryption {:?} is not allowed here; allowed: {}",
                profile.as_str(),
                allowed.join(", ")
            ),
        ))
    }
}
