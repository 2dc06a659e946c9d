//! What sealing produces, as the database stores it: a [`SealedKey`] (and the
//! [`KeyFormat`] of the key inside), a data key [`Rewrapped`] under a newer KEK, and a KEK's
//! [`CheckValue`]. Every field of these is safe to keep beside the data.

use cert_download::PrivateKeyDer;

/// How a stored key is encoded (the [`PrivateKeyDer`] variant).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyFormat {
    /// PKCS#8 `PrivateKeyInfo`.
    Pkcs8,
    /// PKCS#1 `RSAPrivateKey`.
    Pkcs1,
    /// SEC1 `ECPrivateKey`.
    Sec1,
}

impl KeyFormat {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyFormat::Pkcs8 => "pkcs8",
            KeyFormat::Pkcs1 => "pkcs1",
            KeyFormat::Sec1 => "sec1",
        }
    }

    /// The format of a stored name.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "pkcs8" => Some(KeyFormat::Pkcs8),
            "pkcs1" => Some(KeyFormat::Pkcs1),
            "sec1" => Some(KeyFormat::Sec1),
            _ => None,
        }
    }

    pub(super) fn byte(self) -> u8 {
        match self {
            KeyFormat::Pkcs8 => 1,
            KeyFormat::Pkcs1 => 2,
            KeyFormat::Sec1 => 3,
        }
    }

    pub(super) fn of(key: &PrivateKeyDer<'_>) -> Option<Self> {
        match key {
            PrivateKeyDer::Pkcs8(_) => Some(KeyFormat::Pkcs8),
            PrivateKeyDer::Pkcs1(_) => Some(KeyFormat::Pkcs1),
            PrivateKeyDer::Sec1(_) => Some(KeyFormat::Sec1),
            _ => None,
        }
    }
}

/// A private key as it is stored: every field is safe to keep in a database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedKey {
    /// The id of the KEK that wraps the data key.
    pub kek_id: String,
    /// The nonce of the data key's wrapping.
    pub wrap_nonce: Vec<u8>,
    /// The data key, encrypted under the KEK (32 bytes and the 16-byte tag).
    pub wrapped_key: Vec<u8>,
    /// How the key DER is encoded.
    pub format: KeyFormat,
    /// The nonce of the key's encryption.
    pub key_nonce: Vec<u8>,
    /// The key DER encrypted under the data key, followed by the 16-byte tag.
    pub ciphertext: Vec<u8>,
}

/// A data key wrapped anew by [`Keyring::rewrap`](super::Keyring::rewrap).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rewrapped {
    /// The KEK that now wraps the data key (the newest).
    pub kek_id: String,
    /// The new wrapping's nonce.
    pub wrap_nonce: Vec<u8>,
    /// The data key under the new KEK.
    pub wrapped_key: Vec<u8>,
}

/// A KEK's check value: a known text sealed under the KEK, kept in the database so that a
/// wrong KEK file is found when the vault opens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckValue {
    /// The KEK's id.
    pub kek_id: String,
    /// The nonce.
    pub nonce: Vec<u8>,
    /// The sealed known text and its tag.
    pub sealed: Vec<u8>,
}
