//! The KEK file (its format is in [`crate::seal`]'s documentation): reading and checking
//! it, creating it, appending a KEK, and [`KekFileError`]. Apart from the cryptography so
//! that the file's rules (permissions, syntax, ids) read on their own.

use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use super::{KEY_LEN, Kek, Keyring, SealError, random};

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

fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
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
}
