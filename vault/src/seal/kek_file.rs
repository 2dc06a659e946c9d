//! The KEK file (its format is in [`crate::seal`]'s documentation): reading and checking
//! it, creating it, appending a KEK, and [`KekFileError`]. Apart from the cryptography so
//! that the file's rules (permissions, syntax, ids) read on their own.

use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use zeroize::{Zeroize, Zeroizing};

use super::private_file::{self, FileProblem};
use super::{Custody, KEY_LEN, Kek, KekSource, Keyring, SealError, random};

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
    /// The file is a symbolic link, not a regular file, or owned by another user.
    #[error("KEK file {path}: {problem}")]
    Unsafe {
        /// The file.
        path: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The file exists and was not to be overwritten.
    #[error("KEK file {path} already exists")]
    Exists {
        /// The file.
        path: String,
    },
}

pub(crate) fn valid_id(id: &str) -> bool {
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
        // Opened once, without following a symbolic link; mode and owner are checked on
        // the open file.
        let text = private_file::read(path, 1024 * 1024).map_err(|problem| match problem {
            FileProblem::Io(e) => io(e),
            FileProblem::Permissions(mode) => KekFileError::Permissions {
                path: shown.clone(),
                mode,
            },
            FileProblem::TooLarge(_) => KekFileError::Syntax {
                path: shown.clone(),
                line: 0,
                what: "the file is larger than 1 MiB",
            },
            other => KekFileError::Unsafe {
                path: shown.clone(),
                problem: other.to_string(),
            },
        })?;
        let mut ring = Self::parse(&text, &shown)?;
        ring.sources = vec![KekSource::File(path.to_owned())];
        Ok(ring)
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
                custody: Custody::File(key),
            });
        }
        if keks.is_empty() {
            return Err(KekFileError::Empty {
                path: path.to_owned(),
            });
        }
        Ok(Self {
            keks,
            sources: Vec::new(),
        })
    }

    /// A new KEK with a fresh id: `kek-<unix seconds>-<8 random hex digits>`.
    pub fn generate_kek() -> Result<Kek, SealError> {
        let (id, key) = Self::fresh_kek()?;
        Ok(Kek {
            id,
            custody: Custody::File(key),
        })
    }

    /// A fresh id and 32 random bytes.
    fn fresh_kek() -> Result<(String, Zeroizing<[u8; KEY_LEN]>), SealError> {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        random(key.as_mut())?;
        let mut tag = [0u8; 4];
        random(&mut tag)?;
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
        Ok((format!("kek-{secs}-{hex}"), key))
    }

    /// A KEK file's line for a fresh KEK, `<id> <base64>\n`, built in a wiped buffer that is
    /// never reallocated (so no copy of the key's base64 is left behind). Returns the id too.
    fn fresh_line(shown: &str) -> Result<(String, Zeroizing<String>), KekFileError> {
        let (id, key) = Self::fresh_kek().map_err(|_| KekFileError::Io {
            path: shown.to_owned(),
            source: std::io::Error::other("the random source failed"),
        })?;
        Ok((id.clone(), kek_line(&id, &key)))
    }

    /// Writes a new KEK file holding one fresh KEK, with mode 0600; refuses to overwrite.
    /// Returns the new KEK's id.
    pub fn create_file(path: impl AsRef<Path>) -> Result<String, KekFileError> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let (id, line) = Self::fresh_line(&shown)?;
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
        file.write_all(
            b"# cert-download-vault key-encryption keys, oldest first; the last one seals.\n\
              # Keep this file apart from the database, mode 0600.\n",
        )
        .and_then(|()| file.write_all(line.as_bytes()))
        .and_then(|()| file.sync_all())
        .map_err(|source| KekFileError::Io {
            path: shown,
            source,
        })?;
        Ok(id)
    }

    /// Appends a fresh KEK to an existing KEK file (after checking the file as
    /// [`load`](Self::load) does): it becomes the newest and seals from now on; `rekey`
    /// moves the existing keys to it. Returns its id.
    pub fn append_to_file(path: impl AsRef<Path>) -> Result<String, KekFileError> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        Self::load(path)?;
        let (id, line) = Self::fresh_line(&shown)?;
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
        Ok(id)
    }

    /// A keyring of the given KEKs, oldest first (tests and hosts that keep KEKs elsewhere),
    /// checked as a KEK file's lines are. Each key is wiped in the given `Vec` as it is
    /// taken, so the `Vec`'s buffer holds no KEK when it is freed.
    pub fn from_keks(mut keks: Vec<(String, [u8; KEY_LEN])>) -> Result<Self, KekFileError> {
        let path = "(in memory)";
        let mut ring = Vec::with_capacity(keks.len());
        let mut failed = None;
        for (n, (id, key)) in keks.iter_mut().enumerate() {
            let taken = Zeroizing::new(*key);
            key.zeroize();
            if failed.is_some() {
                continue;
            }
            if !valid_id(id) || ring.iter().any(|k: &Kek| k.id == *id) {
                failed = Some(KekFileError::Syntax {
                    path: path.to_owned(),
                    line: n + 1,
                    what: "an id is 1 to 64 characters of A-Z a-z 0-9 . _ -, each used once",
                });
                continue;
            }
            ring.push(Kek {
                id: id.clone(),
                custody: Custody::File(taken),
            });
        }
        if let Some(e) = failed {
            return Err(e);
        }
        if ring.is_empty() {
            return Err(KekFileError::Empty {
                path: path.to_owned(),
            });
        }
        Ok(Self {
            keks: ring,
            sources: Vec::new(),
        })
    }
}

/// `<id> <base64 of key>\n` in a wiped buffer allocated once at its final size.
fn kek_line(id: &str, key: &[u8; KEY_LEN]) -> Zeroizing<String> {
    let encoded_len = base64::encoded_len(KEY_LEN, true).unwrap_or(64);
    let mut line = Zeroizing::new(String::with_capacity(id.len() + 1 + encoded_len + 1));
    line.push_str(id);
    line.push(' ');
    STANDARD.encode_string(key, &mut line);
    line.push('\n');
    line
}
