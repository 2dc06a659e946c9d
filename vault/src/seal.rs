//! Envelope encryption of private keys: a keyring of key-encryption keys (KEKs) read from a
//! file or held in a PKCS#11 token, and the sealing of one key for one record. Knows
//! nothing of SQL.
//!
//! # Where the KEK is kept, and what each choice protects against
//!
//! - **A KEK file** (`--kek FILE`): the KEK is in a file apart from the database and in the
//!   process's memory while it runs. A stolen database, backup or replica opens nothing
//!   without the file. Whoever reads the file (or the process's memory, or a core dump)
//!   holds every key.
//! - **A KEK in a PKCS#11 token** (`--kek 'pkcs11:token=T;object=ID?pin-source=file:PIN'`):
//!   the KEK is generated in the token as a sensitive, never-extractable AES-256 key and
//!   never leaves it; each data key is wrapped and unwrapped inside the token (AES-256-GCM,
//!   see [`pkcs11`]'s documentation for why not key wrap). Whoever copies the machine's
//!   files gets no KEK: with an HSM, opening keys needs the HSM itself (and the PIN), and
//!   stops when it is taken away. It does not protect against an attacker who controls the
//!   running service (it can ask the token to unwrap), nor, with SoftHSM2, against one who
//!   copies the token directory and the PIN file: SoftHSM2 is a file, kept to test the
//!   path real HSMs take.
//!
//! One keyring may hold both, oldest first (`--kek OLD-FILE --kek TOKEN-URI`): the newest
//! seals, any opens what it sealed, so `rekey` moves every data key from the file to the
//! token while downloads go on, and the file can then be deleted.
//!
//! # What a sealed key is
//!
//! Each private key gets its own random 256-bit data key (DEK). The key's DER is encrypted
//! under the DEK with AES-256-GCM; the DEK is encrypted ("wrapped") under the newest KEK
//! with AES-256-GCM. Both use a random 96-bit nonce. The associated data binds each
//! ciphertext to its place:
//!
//! ```text
//! wrap AAD = "cert-download-vault/v1 wrap" 0x00 | id (8 bytes, big-endian) | len(kek id) (1 byte) | kek id
//! key  AAD = "cert-download-vault/v1 key"  0x00 | id (8 bytes, big-endian) | format (1 byte: 1 PKCS#8, 2 PKCS#1, 3 SEC1)
//! ```
//!
//! So a sealed key copied to another certificate id, or swapped with another record's, or
//! relabelled with another KEK id or key format, does not open. The key ciphertext does not
//! name the KEK, so a [`rewrap`](Keyring::rewrap) under a newer KEK touches only the
//! wrapped DEK.
//!
//! # The KEK file
//!
//! Text, one KEK per line, oldest first; the last line is the newest and seals:
//!
//! ```text
//! # cert-download-vault key-encryption keys, oldest first; the last one seals.
//! kek-1764768300-3fa29c01 <base64 of 32 random bytes>
//! ```
//!
//! Blank lines and lines starting with `#` are ignored. An id is 1 to 64 characters of
//! `A-Z a-z 0-9 . _ -`. The file is refused when its group or others have any permission
//! on it (mode & 0o077, as ssh refuses a private key), when a line does not hold an id and
//! exactly 32 bytes of standard base64, when an id repeats, and when it holds no KEK.

use std::fmt;
use std::path::PathBuf;

use cert_download::pki_types::{PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer};
use cert_download::{CertificateId, PrivateKeyDer};
use zeroize::Zeroizing;

mod audit_key;
mod cipher;
mod error;
mod kek_file;
pub mod pkcs11;
mod private_file;
mod sealed;
mod shared;

pub(crate) use audit_key::SealedAuditKey;
use cipher::{check_aad, decrypt, encrypt, key_aad, random, wrap_aad};
pub use error::{KeyringError, SealError, is_custody_unavailable};
pub use kek_file::KekFileError;
pub use pkcs11::{TokenError, TokenUri};
pub use sealed::{CheckValue, KeyFormat, Rewrapped, SealedKey};
pub(crate) use shared::SharedKeyring;

/// The length of a KEK and of a data key: AES-256.
pub const KEY_LEN: usize = 32;
/// The length of an AES-GCM nonce.
pub const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// The largest key DER sealed (an RSA-16384 PKCS#8 key is about 9.4 KiB).
const MAX_KEY_DER: usize = 64 * 1024;

/// What a check value holds once opened.
const CHECK_PLAINTEXT: &[u8] = b"cert-download-vault KEK check v1";

/// Where a KEK comes from: a KEK file (each of its lines is a KEK), or a key in a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KekSource {
    /// A KEK file.
    File(PathBuf),
    /// A key in a PKCS#11 token.
    Token(TokenUri),
}

impl KekSource {
    /// `pkcs11:...` names a token's key; anything else is a KEK file's path.
    pub fn parse(value: &str) -> Result<Self, TokenError> {
        if value.starts_with("pkcs11:") {
            Ok(KekSource::Token(TokenUri::parse(value)?))
        } else {
            Ok(KekSource::File(PathBuf::from(value)))
        }
    }
}

impl fmt::Display for KekSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KekSource::File(path) => write!(f, "{}", path.display()),
            KekSource::Token(uri) => write!(f, "{uri}"),
        }
    }
}

/// One key-encryption key: bytes of a KEK file (wiped when dropped, never shown), or a
/// key in a token (never in this process).
pub struct Kek {
    id: String,
    custody: Custody,
}

enum Custody {
    File(Zeroizing<[u8; KEY_LEN]>),
    Token(pkcs11::TokenKek),
}

impl Kek {
    /// Its id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whether it is held in a token.
    pub fn in_token(&self) -> bool {
        matches!(self.custody, Custody::Token(_))
    }

    fn custody_error(&self, e: TokenError) -> SealError {
        SealError::Custody {
            kek_id: self.id.clone(),
            cause: e.to_string(),
        }
    }

    /// AES-256-GCM under this KEK: the ciphertext followed by the tag.
    fn encrypt(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, SealError> {
        let out = match &self.custody {
            Custody::File(key) => encrypt(key, nonce, aad, plaintext),
            Custody::Token(token) => token
                .encrypt(nonce, aad, plaintext)
                .map_err(|e| self.custody_error(e))?,
        };
        if out.is_empty() {
            return Err(SealError::Unsupported("the cipher refused the input"));
        }
        Ok(out)
    }

    /// Opens what [`encrypt`](Self::encrypt) sealed; `Ok(None)` when it does not
    /// authenticate.
    fn decrypt(
        &self,
        nonce: &[u8],
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Option<Zeroizing<Vec<u8>>>, SealError> {
        match &self.custody {
            Custody::File(key) => Ok(decrypt(key, nonce, aad, sealed)),
            Custody::Token(token) => token
                .decrypt(nonce, aad, sealed)
                .map_err(|e| self.custody_error(e)),
        }
    }
}

impl fmt::Debug for Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("Kek");
        out.field("id", &self.id);
        match &self.custody {
            Custody::File(_) => out.field("key", &"[redacted]"),
            Custody::Token(token) => out.field("token", &token.uri()),
        };
        out.finish()
    }
}

/// KEKs, oldest first: the newest seals, any opens what it sealed. From a KEK file
/// ([`load`](Self::load)), or from several sources, files and token keys
/// ([`from_sources`](Self::from_sources)).
pub struct Keyring {
    keks: Vec<Kek>,
    /// Where its KEKs came from, to read them again; empty when made in memory.
    sources: Vec<KekSource>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("kek_ids", &self.ids().collect::<Vec<_>>())
            .finish()
    }
}

impl Keyring {
    /// The ids of its KEKs, oldest first.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.keks.iter().map(|k| k.id.as_str())
    }

    /// The KEK that seals: the last of the file.
    pub fn newest(&self) -> &Kek {
        // `parse` refuses a file without KEKs, so there is a last one.
        &self.keks[self.keks.len() - 1]
    }

    fn get(&self, id: &str) -> Option<&Kek> {
        self.keks.iter().find(|k| k.id == id)
    }

    /// Whether it holds a KEK with this id.
    pub fn contains(&self, id: &str) -> bool {
        self.get(id).is_some()
    }

    /// Seals `key` for certificate `id` under a fresh data key and the newest KEK.
    pub fn seal(&self, id: CertificateId, key: &PrivateKeyDer<'_>) -> Result<SealedKey, SealError> {
        let mut dek = Zeroizing::new([0u8; KEY_LEN]);
        random(dek.as_mut())?;
        let mut wrap_nonce = [0u8; NONCE_LEN];
        let mut key_nonce = [0u8; NONCE_LEN];
        random(&mut wrap_nonce)?;
        random(&mut key_nonce)?;
        self.seal_with(id, key, &dek, &wrap_nonce, &key_nonce)
    }

    /// [`seal`](Self::seal) with the data key and nonces given (known-answer tests).
    fn seal_with(
        &self,
        id: CertificateId,
        key: &PrivateKeyDer<'_>,
        dek: &[u8; KEY_LEN],
        wrap_nonce: &[u8; NONCE_LEN],
        key_nonce: &[u8; NONCE_LEN],
    ) -> Result<SealedKey, SealError> {
        let format = KeyFormat::of(key).ok_or(SealError::Unsupported("an unknown key encoding"))?;
        let der = key.secret_der();
        if der.is_empty() || der.len() > MAX_KEY_DER {
            return Err(SealError::Unsupported(
                "the key is empty or larger than 64 KiB",
            ));
        }
        let kek = self.newest();
        let wrapped_key = kek.encrypt(wrap_nonce, &wrap_aad(id, &kek.id), dek)?;
        let ciphertext = encrypt(dek, key_nonce, &key_aad(id, format), der);
        if wrapped_key.is_empty() || ciphertext.is_empty() {
            return Err(SealError::Unsupported("the cipher refused the input"));
        }
        Ok(SealedKey {
            kek_id: kek.id.clone(),
            wrap_nonce: wrap_nonce.to_vec(),
            wrapped_key,
            format,
            key_nonce: key_nonce.to_vec(),
            ciphertext,
        })
    }

    /// The data key of `sealed`, unwrapped.
    fn unwrap_dek(
        &self,
        id: CertificateId,
        kek_id: &str,
        wrap_nonce: &[u8],
        wrapped_key: &[u8],
    ) -> Result<Zeroizing<[u8; KEY_LEN]>, SealError> {
        let kek = self
            .get(kek_id)
            .ok_or_else(|| SealError::UnknownKek(kek_id.to_owned()))?;
        if wrap_nonce.len() != NONCE_LEN {
            return Err(SealError::Malformed {
                id,
                what: "wrap nonce",
            });
        }
        let plain = kek
            .decrypt(wrap_nonce, &wrap_aad(id, kek_id), wrapped_key)?
            .ok_or_else(|| SealError::DoesNotOpen {
                id,
                kek_id: kek_id.to_owned(),
            })?;
        let mut dek = Zeroizing::new([0u8; KEY_LEN]);
        if plain.len() != KEY_LEN {
            return Err(SealError::Malformed {
                id,
                what: "wrapped data key",
            });
        }
        dek.copy_from_slice(&plain);
        Ok(dek)
    }

    /// Opens the key sealed for certificate `id`.
    pub fn open(
        &self,
        id: CertificateId,
        sealed: &SealedKey,
    ) -> Result<PrivateKeyDer<'static>, SealError> {
        let dek = self.unwrap_dek(id, &sealed.kek_id, &sealed.wrap_nonce, &sealed.wrapped_key)?;
        if sealed.key_nonce.len() != NONCE_LEN {
            return Err(SealError::Malformed {
                id,
                what: "key nonce",
            });
        }
        let mut der = decrypt(
            &dek,
            &sealed.key_nonce,
            &key_aad(id, sealed.format),
            &sealed.ciphertext,
        )
        .ok_or_else(|| SealError::DoesNotOpen {
            id,
            kek_id: sealed.kek_id.clone(),
        })?;
        // Moved into the key (no copy left behind); PrivateKeyDer is wiped by the caller's
        // Zeroizing wrapper (the library wraps every key it is handed).
        let der = std::mem::take(&mut *der);
        Ok(match sealed.format {
            KeyFormat::Pkcs8 => PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der)),
            KeyFormat::Pkcs1 => PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(der)),
            KeyFormat::Sec1 => PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(der)),
        })
    }

    /// Wraps the data key of a sealed key (its `kek_id`, `wrap_nonce` and `wrapped_key`)
    /// under the newest KEK; `None` when it already is. The key's ciphertext is untouched.
    pub fn rewrap(
        &self,
        id: CertificateId,
        kek_id: &str,
        wrap_nonce: &[u8],
        wrapped_key: &[u8],
    ) -> Result<Option<Rewrapped>, SealError> {
        let newest = self.newest();
        if kek_id == newest.id {
            return Ok(None);
        }
        let dek = self.unwrap_dek(id, kek_id, wrap_nonce, wrapped_key)?;
        let mut wrap_nonce = [0u8; NONCE_LEN];
        random(&mut wrap_nonce)?;
        let wrapped_key = newest.encrypt(&wrap_nonce, &wrap_aad(id, &newest.id), dek.as_ref())?;
        Ok(Some(Rewrapped {
            kek_id: newest.id.clone(),
            wrap_nonce: wrap_nonce.to_vec(),
            wrapped_key,
        }))
    }

    /// A check value for the KEK `kek_id` (which the keyring must hold).
    pub fn check_value(&self, kek_id: &str) -> Result<CheckValue, SealError> {
        let kek = self
            .get(kek_id)
            .ok_or_else(|| SealError::UnknownKek(kek_id.to_owned()))?;
        let mut nonce = [0u8; NONCE_LEN];
        random(&mut nonce)?;
        Ok(CheckValue {
            kek_id: kek.id.clone(),
            nonce: nonce.to_vec(),
            sealed: kek.encrypt(&nonce, &check_aad(&kek.id), CHECK_PLAINTEXT)?,
        })
    }

    /// Whether the keyring's KEK of that id opens `check`. `Ok(None)` when it holds no such
    /// KEK; an error when the KEK's token does not answer.
    pub fn verify_check(&self, check: &CheckValue) -> Result<Option<bool>, SealError> {
        let Some(kek) = self.get(&check.kek_id) else {
            return Ok(None);
        };
        Ok(Some(
            kek.decrypt(&check.nonce, &check_aad(&kek.id), &check.sealed)?
                .is_some_and(|plain| plain.as_slice() == CHECK_PLAINTEXT),
        ))
    }

    /// Where its KEKs came from (empty when made in memory).
    pub fn sources(&self) -> &[KekSource] {
        &self.sources
    }

    /// A keyring of the KEKs of `sources`, oldest first: each KEK file's KEKs in the
    /// file's order, each token's key. Every token is reached now (module, token, PIN,
    /// key), so a wrong one is an error here.
    pub fn from_sources(sources: &[KekSource]) -> Result<Self, KeyringError> {
        if sources.is_empty() {
            return Err(KeyringError::NoSource);
        }
        let mut keks: Vec<Kek> = Vec::new();
        for source in sources {
            let added = match source {
                KekSource::File(path) => Self::load(path)?.keks,
                KekSource::Token(uri) => vec![Kek {
                    id: uri.object.clone(),
                    custody: Custody::Token(pkcs11::TokenKek::open(uri)?),
                }],
            };
            for kek in added {
                if keks.iter().any(|k| k.id == kek.id) {
                    return Err(KeyringError::DuplicateId(kek.id));
                }
                keks.push(kek);
            }
        }
        Ok(Self {
            keks,
            sources: sources.to_vec(),
        })
    }

    /// Generates the key `uri` names in its token (AES-256, sensitive, never extractable);
    /// refuses when the token holds a key of that label. Returns the KEK's id (the label).
    pub fn generate_in_token(uri: &TokenUri) -> Result<String, TokenError> {
        pkcs11::generate(uri)?;
        Ok(uri.object.clone())
    }

    /// Destroys the key `uri` names in its token, for good. Use
    /// [`Vault::retire_kek`](crate::Vault::retire_kek), which first checks that nothing
    /// needs it (a [`TokenUri`] is the [`KekHolder`](crate::KekHolder) of its key).
    pub(crate) fn destroy_in_token(uri: &TokenUri) -> Result<(), TokenError> {
        pkcs11::destroy(uri)
    }
}

#[cfg(test)]
mod tests;
