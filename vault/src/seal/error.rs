//! Why sealing or a keyring failed: [`SealError`] (a key not sealed or not opened, a KEK
//! whose token does not answer), [`is_custody_unavailable`] to find the latter in an error's
//! chain, and [`KeyringError`] (a keyring not put together from its sources).

use cert_download::CertificateId;

use super::{KekFileError, TokenError};

/// Why a key was not sealed or did not open. Never holds key bytes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The sealed key names a KEK the keyring does not hold.
    #[error("the key is sealed under KEK {0:?}, which the KEK file does not hold")]
    UnknownKek(String),
    /// Authentication failed: tampered, moved to another record, or a wrong KEK.
    #[error(
        "the sealed key of certificate {id} does not open under KEK {kek_id:?} \
         (tampered, moved from another record, or a wrong KEK)"
    )]
    DoesNotOpen {
        /// The certificate id the key was opened for.
        id: CertificateId,
        /// The KEK id it names.
        kek_id: String,
    },
    /// A stored field has the wrong length.
    #[error("the sealed key of certificate {id} is malformed ({what})")]
    Malformed {
        /// The certificate id.
        id: CertificateId,
        /// Which field.
        what: &'static str,
    },
    /// The key is not PKCS#8, PKCS#1 or SEC1, or too large.
    #[error("the key cannot be sealed: {0}")]
    Unsupported(&'static str),
    /// The operating system's random source failed.
    #[error("the random source failed")]
    Random,
    /// The KEK is in a token that does not answer just now (removed, failing): a condition
    /// that passes, answered 503 `key_custody_unavailable` by the service.
    #[error("KEK {kek_id:?} cannot be used just now: {cause}")]
    Custody {
        /// The KEK's id.
        kek_id: String,
        /// The token's answer (never a PIN or key bytes).
        cause: String,
    },
}

/// Whether `error`, or an error in its `source` chain, is a KEK whose token does not answer
/// ([`SealError::Custody`]): for the `Backend` source of a [`VaultStore`](crate::VaultStore)
/// answer, as the host gets it back from `cert_download::Error::source`.
pub fn is_custody_unavailable(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(SealError::Custody { .. }) = e.downcast_ref::<SealError>() {
            return true;
        }
        if let Some(crate::VaultError::Seal(SealError::Custody { .. })) =
            e.downcast_ref::<crate::VaultError>()
        {
            return true;
        }
        current = e.source();
    }
    false
}

/// Why a keyring could not be put together from its sources.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyringError {
    /// A KEK file was refused.
    #[error(transparent)]
    File(#[from] KekFileError),
    /// A token's KEK cannot be reached.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// Two sources hold a KEK of the same id.
    #[error("two KEK sources hold a KEK with the id {0:?}")]
    DuplicateId(String),
    /// No source was given.
    #[error("no KEK source given (--kek FILE or --kek pkcs11:URI)")]
    NoSource,
}
