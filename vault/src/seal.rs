//! Envelope encryption of private keys: a keyring of key-encryption keys (KEKs) read from a
//! file, and the sealing of one key for one record. Knows nothing of SQL.
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
use std::io::Write;
use std::path::Path;

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use cert_download::pki_types::{PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer};
use cert_download::{CertificateId, PrivateKeyDer};
use zeroize::{Zeroize, Zeroizing};

/// The length of a KEK and of a data key: AES-256.
pub const KEY_LEN: usize = 32;
/// The length of an AES-GCM nonce.
pub const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// The largest key DER sealed (an RSA-16384 PKCS#8 key is about 9.4 KiB).
const MAX_KEY_DER: usize = 64 * 1024;

const WRAP_LABEL: &[u8] = b"cert-download-vault/v1 wrap\0";
const KEY_LABEL: &[u8] = b"cert-download-vault/v1 key\0";
const CHECK_LABEL: &[u8] = b"cert-download-vault/v1 check\0";
/// What a check value holds once opened.
const CHECK_PLAINTEXT: &[u8] = b"cert-download-vault KEK check v1";

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

    fn byte(self) -> u8 {
        match self {
            KeyFormat::Pkcs8 => 1,
            KeyFormat::Pkcs1 => 2,
            KeyFormat::Sec1 => 3,
        }
    }

    fn of(key: &PrivateKeyDer<'_>) -> Option<Self> {
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

/// A data key wrapped anew by [`Keyring::rewrap`].
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
}

/// Why a KEK file was refused. Never holds key bytes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KekFileError {
    /// The file cannot be read or written.
    #[error("KEK file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Group or others may access the file.
    #[error(
        "KEK file {path} is accessible by group or others (mode {mode:o}); \
         chmod 600 it (it holds the keys of every sealed private key)"
    )]
    Permissions {
        /// The file.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
    /// A line does not parse.
    #[error("KEK file {path}, line {line}: {what}")]
    Syntax {
        /// The file.
        path: String,
        /// The line number (from 1).
        line: usize,
        /// What is wrong.
        what: &'static str,
    },
    /// The file holds no KEK.
    #[error("KEK file {path} holds no key-encryption key")]
    Empty {
        /// The file.
        path: String,
    },
    /// The file exists and was not to be overwritten.
    #[error("KEK file {path} already exists")]
    Exists {
        /// The file.
        path: String,
    },
}

/// One key-encryption key. Its bytes are wiped when dropped and never shown.
pub struct Kek {
    id: String,
    key: Zeroizing<[u8; KEY_LEN]>,
}

impl Kek {
    /// Its id.
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl fmt::Debug for Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kek")
            .field("id", &self.id)
            .field("key", &"[redacted]")
            .finish()
    }
}

/// The KEKs of a KEK file, oldest first: the newest seals, any opens what it sealed.
pub struct Keyring {
    keks: Vec<Kek>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("kek_ids", &self.ids().collect::<Vec<_>>())
            .finish()
    }
}

fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn random(buf: &mut [u8]) -> Result<(), SealError> {
    getrandom::fill(buf).map_err(|_| SealError::Random)
}

fn cipher(key: &[u8; KEY_LEN]) -> Aes256Gcm {
    Aes256Gcm::new(key.into())
}

fn wrap_aad(id: CertificateId, kek_id: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(WRAP_LABEL.len() + 9 + kek_id.len());
    aad.extend_from_slice(WRAP_LABEL);
    aad.extend_from_slice(&id.get().to_be_bytes());
    // Ids are at most 64 bytes (valid_id), so the length fits in one byte.
    aad.push(kek_id.len() as u8);
    aad.extend_from_slice(kek_id.as_bytes());
    aad
}

fn key_aad(id: CertificateId, format: KeyFormat) -> Vec<u8> {
    let mut aad = Vec::with_capacity(KEY_LABEL.len() + 9);
    aad.extend_from_slice(KEY_LABEL);
    aad.extend_from_slice(&id.get().to_be_bytes());
    aad.push(format.byte());
    aad
}

fn check_aad(kek_id: &str) -> Vec<u8> {
    let mut aad = CHECK_LABEL.to_vec();
    aad.extend_from_slice(kek_id.as_bytes());
    aad
}

/// AES-256-GCM of `plaintext`: the ciphertext followed by the tag.
fn encrypt(key: &[u8; KEY_LEN], nonce: &[u8; NONCE_LEN], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(plaintext.len() + TAG_LEN);
    out.extend_from_slice(plaintext);
    // Encryption fails only for inputs of gigabytes; keys are capped far below.
    match cipher(key).encrypt_inout_detached(&Nonce::from(*nonce), aad, out.as_mut_slice().into()) {
        Ok(tag) => out.extend_from_slice(&tag),
        // The buffer still holds the plaintext: wipe it.
        Err(_) => out.zeroize(),
    }
    out
}

/// Opens `sealed` (ciphertext and tag) into a zeroizing buffer; `None` when it does not
/// authenticate.
fn decrypt(
    key: &[u8; KEY_LEN],
    nonce: &[u8],
    aad: &[u8],
    sealed: &[u8],
) -> Option<Zeroizing<Vec<u8>>> {
    let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
    let split = sealed.len().checked_sub(TAG_LEN)?;
    let (ciphertext, tag) = sealed.split_at(split);
    let tag = Tag::try_from(tag).ok()?;
    let mut buf = Zeroizing::new(ciphertext.to_vec());
    cipher(key)
        .decrypt_inout_detached(&Nonce::from(nonce), aad, buf.as_mut_slice().into(), &tag)
        .ok()?;
    Some(buf)
}

impl Keyring {
    /// Reads a KEK file (see the module's documentation for its format and rules).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, KekFileError> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let io = |source| KekFileError::Io {
            path: shown.clone(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(io)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(KekFileError::Permissions { path: shown, mode });
            }
        }
        if meta.len() > 1024 * 1024 {
            return Err(KekFileError::Syntax {
                path: shown,
                line: 0,
                what: "the file is larger than 1 MiB",
            });
        }
        let text = Zeroizing::new(std::fs::read(path).map_err(io)?);
        Self::parse(&text, &shown)
    }

    /// Parses the text of a KEK file; `path` only names it in errors.
    pub fn parse(text: &[u8], path: &str) -> Result<Self, KekFileError> {
        let syntax = |line, what| KekFileError::Syntax {
            path: path.to_owned(),
            line,
            what,
        };
        let text = std::str::from_utf8(text).map_err(|_| syntax(0, "not UTF-8 text"))?;
        let mut keks: Vec<Kek> = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let n = n + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut fields = line.split_whitespace();
            let (Some(id), Some(encoded), None) = (fields.next(), fields.next(), fields.next())
            else {
                return Err(syntax(n, "expected `<id> <base64 key>`"));
            };
            if !valid_id(id) {
                return Err(syntax(
                    n,
                    "an id is 1 to 64 characters of A-Z a-z 0-9 . _ -",
                ));
            }
            if keks.iter().any(|k| k.id == id) {
                return Err(syntax(n, "this id is already used by an earlier line"));
            }
            let decoded = Zeroizing::new(
                STANDARD
                    .decode(encoded)
                    .map_err(|_| syntax(n, "the key is not base64"))?,
            );
            let mut key = Zeroizing::new([0u8; KEY_LEN]);
            if decoded.len() != KEY_LEN {
                return Err(syntax(n, "the key is not 32 bytes"));
            }
            key.copy_from_slice(&decoded);
            keks.push(Kek {
                id: id.to_owned(),
                key,
            });
        }
        if keks.is_empty() {
            return Err(KekFileError::Empty {
                path: path.to_owned(),
            });
        }
        Ok(Self { keks })
    }

    /// A new KEK with a fresh id: `kek-<unix seconds>-<8 random hex digits>`.
    pub fn generate_kek() -> Result<Kek, SealError> {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        random(key.as_mut())?;
        let mut tag = [0u8; 4];
        random(&mut tag)?;
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
        Ok(Kek {
            id: format!("kek-{secs}-{hex}"),
            key,
        })
    }

    /// Writes a new KEK file holding one fresh KEK, with mode 0600; refuses to overwrite.
    /// Returns the new KEK's id.
    pub fn create_file(path: impl AsRef<Path>) -> Result<String, KekFileError> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let kek = Self::generate_kek().map_err(|_| KekFileError::Io {
            path: shown.clone(),
            source: std::io::Error::other("the random source failed"),
        })?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => KekFileError::Exists {
                path: shown.clone(),
            },
            _ => KekFileError::Io {
                path: shown.clone(),
                source: e,
            },
        })?;
        let text = Zeroizing::new(format!(
            "# cert-download-vault key-encryption keys, oldest first; the last one seals.\n\
             # Keep this file apart from the database, mode 0600.\n{} {}\n",
            kek.id,
            STANDARD.encode(kek.key.as_ref())
        ));
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|source| KekFileError::Io {
                path: shown,
                source,
            })?;
        Ok(kek.id)
    }

    /// Appends a fresh KEK to an existing KEK file (after checking the file as
    /// [`load`](Self::load) does): it becomes the newest and seals from now on; `rekey`
    /// moves the existing keys to it. Returns its id.
    pub fn append_to_file(path: impl AsRef<Path>) -> Result<String, KekFileError> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        Self::load(path)?;
        let kek = Self::generate_kek().map_err(|_| KekFileError::Io {
            path: shown.clone(),
            source: std::io::Error::other("the random source failed"),
        })?;
        let line = Zeroizing::new(format!(
            "{} {}\n",
            kek.id,
            STANDARD.encode(kek.key.as_ref())
        ));
        let io = |source| KekFileError::Io {
            path: shown.clone(),
            source,
        };
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(io)?;
        file.write_all(line.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(io)?;
        Ok(kek.id)
    }

    /// A keyring of the given KEKs, oldest first (tests and hosts that keep KEKs elsewhere).
    pub fn from_keks(keks: Vec<(String, [u8; KEY_LEN])>) -> Result<Self, KekFileError> {
        let mut text = Zeroizing::new(String::new());
        for (id, key) in keks {
            let key = Zeroizing::new(key);
            text.push_str(&format!("{id} {}\n", STANDARD.encode(key.as_ref())));
        }
        Self::parse(text.as_bytes(), "(in memory)")
    }

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
        let wrapped_key = encrypt(&kek.key, wrap_nonce, &wrap_aad(id, &kek.id), dek);
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
        let plain =
            decrypt(&kek.key, wrap_nonce, &wrap_aad(id, kek_id), wrapped_key).ok_or_else(|| {
                SealError::DoesNotOpen {
                    id,
                    kek_id: kek_id.to_owned(),
                }
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
        let wrapped_key = encrypt(
            &newest.key,
            &wrap_nonce,
            &wrap_aad(id, &newest.id),
            dek.as_ref(),
        );
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
            sealed: encrypt(&kek.key, &nonce, &check_aad(&kek.id), CHECK_PLAINTEXT),
        })
    }

    /// Whether the keyring's KEK of that id opens `check`. `None` when it holds no such KEK.
    pub fn verify_check(&self, check: &CheckValue) -> Option<bool> {
        let kek = self.get(&check.kek_id)?;
        Some(
            decrypt(&kek.key, &check.nonce, &check_aad(&kek.id), &check.sealed)
                .is_some_and(|plain| plain.as_slice() == CHECK_PLAINTEXT),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> CertificateId {
        CertificateId::new(n).unwrap()
    }

    fn kek(byte: u8) -> [u8; KEY_LEN] {
        let mut k = [0u8; KEY_LEN];
        for (i, b) in k.iter_mut().enumerate() {
            *b = byte.wrapping_add(i as u8);
        }
        k
    }

    fn ring() -> Keyring {
        Keyring::from_keks(vec![("old".into(), kek(0x80)), ("kek-test".into(), kek(0))]).unwrap()
    }

    fn sample_key() -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            b"\x30\x05\x02\x01\x00\x04\x00key".to_vec(),
        ))
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Values computed independently with Python `cryptography` 48's AESGCM:
    ///
    /// ```python
    /// kek = bytes(range(32)); dek = bytes(range(0x40, 0x60))
    /// wn = bytes(range(0xa0, 0xac)); kn = bytes(range(0xb0, 0xbc))
    /// idb = (12345).to_bytes(8, "big")
    /// wrap_aad = b"cert-download-vault/v1 wrap\0" + idb + bytes([8]) + b"kek-test"
    /// key_aad = b"cert-download-vault/v1 key\0" + idb + bytes([1])
    /// AESGCM(kek).encrypt(wn, dek, wrap_aad).hex()
    /// AESGCM(dek).encrypt(kn, b"\x30\x05\x02\x01\x00\x04\x00key", key_aad).hex()
    /// ```
    #[test]
    fn known_answer() {
        let dek: [u8; KEY_LEN] = core::array::from_fn(|i| 0x40 + i as u8);
        let wn: [u8; NONCE_LEN] = core::array::from_fn(|i| 0xa0 + i as u8);
        let kn: [u8; NONCE_LEN] = core::array::from_fn(|i| 0xb0 + i as u8);
        let sealed = ring()
            .seal_with(id(12345), &sample_key(), &dek, &wn, &kn)
            .unwrap();
        assert_eq!(sealed.kek_id, "kek-test");
        assert_eq!(hex(&sealed.wrapped_key), KAT_WRAPPED);
        assert_eq!(hex(&sealed.ciphertext), KAT_CIPHERTEXT);
        let opened = ring().open(id(12345), &sealed).unwrap();
        assert_eq!(opened.secret_der(), sample_key().secret_der());
    }

    const KAT_WRAPPED: &str = "a6593e6e018e44f82a2ccd984b378e9120fd0b43c6e2143bc4577cdd23f62b5e94c71e5c523c53df2dc8906f8fbd3096";
    const KAT_CIPHERTEXT: &str = "33058284c14eebf25e97831ddc91622632e8477a4f79933a4f67";

    #[test]
    fn round_trip_every_format_and_fresh_randomness() {
        let ring = ring();
        for key in [
            sample_key(),
            PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(vec![1, 2, 3])),
            PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(vec![4, 5, 6])),
        ] {
            let a = ring.seal(id(7), &key).unwrap();
            let b = ring.seal(id(7), &key).unwrap();
            assert_ne!(
                a.wrapped_key, b.wrapped_key,
                "a fresh data key and nonce each time"
            );
            assert_ne!(a.ciphertext, b.ciphertext);
            let opened = ring.open(id(7), &a).unwrap();
            assert_eq!(opened.secret_der(), key.secret_der());
            assert_eq!(KeyFormat::of(&opened), KeyFormat::of(&key));
        }
    }

    fn does_not_open(result: Result<PrivateKeyDer<'static>, SealError>) -> SealError {
        match result {
            Ok(_) => panic!("a tampered key opened"),
            Err(e) => e,
        }
    }

    #[test]
    fn every_flipped_bit_of_every_field_is_refused() {
        let ring = ring();
        let sealed = ring.seal(id(9), &sample_key()).unwrap();
        let fields: [fn(&mut SealedKey) -> &mut Vec<u8>; 4] = [
            |s| &mut s.wrap_nonce,
            |s| &mut s.wrapped_key,
            |s| &mut s.key_nonce,
            |s| &mut s.ciphertext,
        ];
        for field in fields {
            for byte in 0..field(&mut sealed.clone()).len() {
                for bit in [0x01u8, 0x80] {
                    let mut tampered = sealed.clone();
                    field(&mut tampered)[byte] ^= bit;
                    let e = does_not_open(ring.open(id(9), &tampered));
                    assert!(matches!(e, SealError::DoesNotOpen { .. }), "{e:?}");
                }
            }
        }
        // Truncated and extended fields.
        let mut short = sealed.clone();
        short.ciphertext.truncate(10);
        does_not_open(ring.open(id(9), &short));
        let mut long = sealed.clone();
        long.ciphertext.push(0);
        does_not_open(ring.open(id(9), &long));
        let mut nonce = sealed.clone();
        nonce.key_nonce.pop();
        does_not_open(ring.open(id(9), &nonce));
    }

    #[test]
    fn bound_to_its_record_kek_and_format() {
        let ring = ring();
        let a = ring.seal(id(1), &sample_key()).unwrap();
        let b = ring.seal(id(2), &sample_key()).unwrap();
        // Copied to another record, or two records swapped.
        does_not_open(ring.open(id(2), &a));
        does_not_open(ring.open(id(1), &b));
        // Only the wrapped key swapped in (same KEK).
        let mut mixed = a.clone();
        mixed.wrapped_key = b.wrapped_key.clone();
        mixed.wrap_nonce = b.wrap_nonce.clone();
        does_not_open(ring.open(id(1), &mixed));
        // Relabelled as another KEK the ring holds, or as another key format.
        let mut relabelled = a.clone();
        relabelled.kek_id = "old".into();
        does_not_open(ring.open(id(1), &relabelled));
        let mut reformatted = a.clone();
        reformatted.format = KeyFormat::Sec1;
        does_not_open(ring.open(id(1), &reformatted));
        // A KEK the ring does not hold.
        let mut unknown = a.clone();
        unknown.kek_id = "gone".into();
        assert!(matches!(
            ring.open(id(1), &unknown),
            Err(SealError::UnknownKek(k)) if k == "gone"
        ));
        // The right id, under a wrong KEK of the same id.
        let wrong = Keyring::from_keks(vec![("kek-test".into(), kek(1))]).unwrap();
        does_not_open(wrong.open(id(1), &a));
    }

    #[test]
    fn rewrap_moves_only_the_data_key() {
        let old = Keyring::from_keks(vec![("old".into(), kek(0x80))]).unwrap();
        let sealed = old.seal(id(5), &sample_key()).unwrap();
        assert_eq!(sealed.kek_id, "old");
        let both = ring();
        let new = both
            .rewrap(
                id(5),
                &sealed.kek_id,
                &sealed.wrap_nonce,
                &sealed.wrapped_key,
            )
            .unwrap()
            .unwrap();
        assert_eq!(new.kek_id, "kek-test");
        let moved = SealedKey {
            kek_id: new.kek_id,
            wrap_nonce: new.wrap_nonce,
            wrapped_key: new.wrapped_key,
            ..sealed.clone()
        };
        let again = both.rewrap(id(5), &moved.kek_id, &moved.wrap_nonce, &moved.wrapped_key);
        assert!(again.unwrap().is_none(), "already newest");
        let only_new = Keyring::from_keks(vec![("kek-test".into(), kek(0))]).unwrap();
        assert_eq!(
            only_new.open(id(5), &moved).unwrap().secret_der(),
            sample_key().secret_der()
        );
        // The rewrapped key is bound to its record too.
        does_not_open(only_new.open(id(6), &moved));
    }

    #[test]
    fn check_values() {
        let ring = ring();
        let check = ring.check_value("kek-test").unwrap();
        assert_eq!(ring.verify_check(&check), Some(true));
        let wrong = Keyring::from_keks(vec![("kek-test".into(), kek(1))]).unwrap();
        assert_eq!(wrong.verify_check(&check), Some(false));
        let other = Keyring::from_keks(vec![("other".into(), kek(0))]).unwrap();
        assert_eq!(other.verify_check(&check), None);
        let mut tampered = check.clone();
        tampered.sealed[0] ^= 1;
        assert_eq!(ring.verify_check(&tampered), Some(false));
    }

    #[test]
    fn kek_file_rules() {
        let key = STANDARD.encode(kek(3));
        let ok = format!("# comment\n\nfirst {key}\nsecond {key}\n");
        let ring = Keyring::parse(ok.as_bytes(), "f").unwrap();
        assert_eq!(ring.ids().collect::<Vec<_>>(), ["first", "second"]);
        assert_eq!(ring.newest().id(), "second");
        let bad = |text: String, want: &str| {
            let e = Keyring::parse(text.as_bytes(), "f")
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{e}");
            assert!(!e.contains(&key), "{e}");
        };
        bad(String::new(), "holds no key-encryption key");
        bad("# only a comment\n".into(), "holds no key-encryption key");
        bad(format!("a {}\n", &key[..20]), "line 1: the key is not");
        bad(
            format!("a {key}\nb {}", &key[..key.len() - 4]),
            "line 2: the key is not 32 bytes",
        );
        bad(format!("a {key}\nb"), "line 2: expected");
        bad(format!("a {key} extra\n"), "line 1: expected");
        bad(format!("a/b {key}\n"), "line 1: an id is");
        bad(
            format!("a {key}\na {key}\n"),
            "line 2: this id is already used",
        );
    }

    #[cfg(unix)]
    #[test]
    fn kek_file_permissions_and_creation() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kek");
        let first = Keyring::create_file(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(matches!(
            Keyring::create_file(&path),
            Err(KekFileError::Exists { .. })
        ));
        let second = Keyring::append_to_file(&path).unwrap();
        let ring = Keyring::load(&path).unwrap();
        assert_eq!(
            ring.ids().collect::<Vec<_>>(),
            [first.as_str(), second.as_str()]
        );
        for mode in [0o640, 0o604, 0o660, 0o644, 0o700] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let got = Keyring::load(&path);
            if mode & 0o077 != 0 {
                let e = got.unwrap_err().to_string();
                assert!(e.contains("accessible by group or others"), "{e}");
            } else {
                got.unwrap();
            }
        }
    }

    #[test]
    fn debug_is_redacted() {
        let secret = kek(0x11);
        let ring = Keyring::from_keks(vec![("visible-id".into(), secret)]).unwrap();
        let shown = format!("{ring:?} {:?}", ring.newest());
        assert!(shown.contains("visible-id"), "{shown}");
        assert!(shown.contains("[redacted]"), "{shown}");
        for needle in [
            hex(&secret),
            STANDARD.encode(secret),
            format!("{:?}", &secret[..4]),
        ] {
            assert!(!shown.contains(&needle), "{shown}");
        }
        // A sealed key's Debug shows ciphertext only: never the key DER.
        let sealed = ring.seal(id(1), &sample_key()).unwrap();
        let shown = format!("{sealed:?}");
        assert!(!shown.contains("107, 101, 121"), "{shown}");
    }
}
