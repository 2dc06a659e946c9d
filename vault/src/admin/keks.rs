//! The KEKs as the vault uses them: [`Vault::kek_usage`] (how many keys each KEK wraps,
//! which have a check value) and [`Vault::retire_kek`], which takes a KEK out of service
//! once nothing needs it. Where a KEK lives is behind [`KekHolder`]: a KEK file
//! ([`KekFile`]) removes the KEK's line; another kind (a token object) implements the
//! same trait to destroy its object.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sqlx::Row;
use zeroize::Zeroizing;

use crate::db::on_db;
use crate::error::VaultError;
use crate::seal::{KekFileError, Keyring};
use crate::vault::Vault;

/// One KEK: in the keyring, in the database, or both.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KekUsage {
    /// Its id.
    pub kek_id: String,
    /// Whether the keyring (the KEK file) holds it.
    pub in_keyring: bool,
    /// Whether it is the keyring's newest, the one that seals.
    pub newest: bool,
    /// Whether the database has its check value.
    pub check_value: bool,
    /// How many sealed keys it wraps.
    pub keys: i64,
}

/// Where KEKs are kept, as far as retiring one goes.
pub trait KekHolder {
    /// Removes the KEK `kek_id` for good (after [`Vault::retire_kek`] found that nothing
    /// needs it).
    fn remove(&self, kek_id: &str) -> Result<(), VaultError>;
}

/// A KEK file (see [`crate::seal`] for its format).
#[derive(Clone, Debug)]
pub struct KekFile {
    path: PathBuf,
}

impl KekFile {
    /// The KEK file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }
}

impl KekHolder for KekFile {
    /// Rewrites the file without the KEK's line (comments and the other lines kept, in
    /// order): a new file, mode 0600, written and synced beside it, then renamed over it,
    /// so that a crash leaves the old file or the new one. The result is checked as
    /// [`Keyring::load`] checks a file before it replaces the old one.
    fn remove(&self, kek_id: &str) -> Result<(), VaultError> {
        let path = &self.path;
        let shown = path.display().to_string();
        let io = |source| {
            VaultError::KekFile(KekFileError::Io {
                path: shown.clone(),
                source,
            })
        };
        Keyring::load(path)?;
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(io)?);
        let mut kept = Zeroizing::new(String::with_capacity(text.len()));
        let mut removed = false;
        for line in text.lines() {
            let first = line.split_whitespace().next();
            if !line.trim_start().starts_with('#') && first == Some(kek_id) {
                removed = true;
                continue;
            }
            kept.push_str(line);
            kept.push('\n');
        }
        if !removed {
            return Err(VaultError::Invalid(format!(
                "KEK file {shown} holds no KEK {kek_id:?}"
            )));
        }
        Keyring::parse(kept.as_bytes(), &shown)?;
        let temporary = temporary_beside(path);
        let written = (|| {
            use std::os::unix::fs::OpenOptionsExt;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&temporary)?;
            file.write_all(kept.as_bytes())?;
            file.sync_all()?;
            std::fs::rename(&temporary, path)?;
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::File::open(dir)?.sync_all()?;
            }
            Ok(())
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&temporary);
        }
        written.map_err(io)
    }
}

/// A key in a PKCS#11 token: retiring it destroys the token's object (`C_DestroyObject`).
impl KekHolder for crate::TokenUri {
    fn remove(&self, kek_id: &str) -> Result<(), VaultError> {
        if self.object != kek_id {
            return Err(VaultError::Invalid(format!(
                "the token key {:?} is not KEK {kek_id:?}",
                self.object
            )));
        }
        Keyring::destroy_in_token(self).map_err(VaultError::from)
    }
}

fn temporary_beside(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".retire-{}", std::process::id()));
    path.with_file_name(name)
}

impl Vault {
    /// Each KEK of the keyring, oldest first, then each KEK the database knows and the
    /// keyring lacks: how many keys it wraps and whether it has a check value.
    pub async fn kek_usage(&self) -> Result<Vec<KekUsage>, VaultError> {
        let keyring = self.keyring()?;
        let counts = on_db!(&self.db, pool => {
            sqlx::query("SELECT kek_id, COUNT(*) FROM sealed_keys GROUP BY kek_id")
                .fetch_all(pool).await?
                .into_iter()
                .map(|row| Ok((row.try_get::<String, _>(0)?, row.try_get::<i64, _>(1)?)))
                .collect::<Result<Vec<_>, sqlx::Error>>()?
        });
        let checks = self.db.known_check_ids().await?;
        let newest = keyring.newest().id();
        let keys = |id: &str| counts.iter().find(|(k, _)| k == id).map_or(0, |(_, n)| *n);
        let mut out: Vec<KekUsage> = keyring
            .ids()
            .map(|id| KekUsage {
                kek_id: id.to_owned(),
                in_keyring: true,
                newest: id == newest,
                check_value: checks.iter().any(|c| c == id),
                keys: keys(id),
            })
            .collect();
        let mut others: Vec<&str> = checks
            .iter()
            .map(String::as_str)
            .chain(counts.iter().map(|(k, _)| k.as_str()))
            .filter(|id| !keyring.contains(id))
            .collect();
        others.sort_unstable();
        others.dedup();
        out.extend(others.into_iter().map(|id| KekUsage {
            kek_id: id.to_owned(),
            in_keyring: false,
            newest: false,
            check_value: checks.iter().any(|c| c == id),
            keys: keys(id),
        }));
        Ok(out)
    }

    /// Retires KEK `kek_id`: refused ([`VaultError::KekInUse`]) while it wraps any key
    /// (run `rekey` first), while it is the newest (it seals new keys), or while it is the
    /// only KEK of the keyring with a check value (the vault would not open without it).
    /// Then `source` removes it and its check value leaves the database; the vault opens
    /// with the keyring that remains.
    pub async fn retire_kek(&self, kek_id: &str, source: &dyn KekHolder) -> Result<(), VaultError> {
        let usage = self.kek_usage().await?;
        let in_use = |why: String| VaultError::KekInUse {
            kek_id: kek_id.to_owned(),
            why,
        };
        let Some(this) = usage.iter().find(|k| k.kek_id == kek_id && k.in_keyring) else {
            return Err(VaultError::Invalid(format!(
                "the keyring holds no KEK {kek_id:?}"
            )));
        };
        if this.keys > 0 {
            return Err(in_use(format!(
                "{} sealed keys are wrapped by it; run `rekey` first",
                this.keys
            )));
        }
        if this.newest {
            return Err(in_use(
                "it is the newest KEK of the file, the one that seals; add a KEK \
                 (`kek new --rotate`) and run `rekey` first"
                    .into(),
            ));
        }
        if !usage
            .iter()
            .any(|k| k.in_keyring && k.check_value && k.kek_id != kek_id)
        {
            return Err(in_use(
                "its check value is the only one of the file's KEKs in the database, \
                 which the vault needs to open; run `init` or `rekey` first"
                    .into(),
            ));
        }
        // The audit's signing key is sealed under a KEK too (`rekey` moves it first).
        let audit_keys: i64 = on_db!(&self.db, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM audit_signing_keys WHERE kek_id = $1")
                .bind(kek_id)
                .fetch_one(pool)
                .await?
        });
        if audit_keys > 0 {
            return Err(in_use(
                "the audit's signing key is sealed under it; run `rekey` first".into(),
            ));
        }
        source.remove(kek_id)?;
        on_db!(&self.db, pool => {
            sqlx::query("DELETE FROM kek_checks WHERE kek_id = $1")
                .bind(kek_id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }
}
