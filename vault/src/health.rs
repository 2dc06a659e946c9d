//! What a service asks of its vault to say whether it is ready for traffic: the database
//! answers, the keyring still opens its check value, the audit trail still takes rows; and
//! how busy the connection pool is. Kept apart from the vault's operations so that a
//! readiness probe costs one small query each, never a scan.

use sqlx::Row;

use crate::db::{Db, on_db};
use crate::error::VaultError;
use crate::seal::CheckValue;
use crate::vault::Vault;

/// The connection pool as a service's metrics show it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolState {
    /// Connections open (in use and idle).
    pub open: u32,
    /// Open connections idle in the pool.
    pub idle: u32,
    /// The most the pool opens (`VaultOptions::max_connections`).
    pub max: u32,
}

impl PoolState {
    /// Open connections lent out to a query.
    pub fn in_use(&self) -> u32 {
        self.open.saturating_sub(self.idle)
    }
}

impl Vault {
    /// The database answers a trivial query (`SELECT 1`) on a pooled connection; a SQLite
    /// file must also still open, since pooled connections keep a removed or replaced file
    /// open and would answer from it.
    pub async fn ping(&self) -> Result<(), VaultError> {
        if let Db::Sqlite(pool) = &self.db {
            let path = pool.connect_options().get_filename().to_owned();
            if !path.as_os_str().is_empty() && path != std::path::Path::new(":memory:") {
                std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(&path)
                    .map_err(|e| VaultError::Database(sqlx::Error::Io(e)))?;
            }
        }
        on_db!(&self.db, pool => {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    /// Some KEK of the keyring opens its check value in the database, and none fails to:
    /// the KEK file in memory is still the vault's (the check `connect` made, without the
    /// count of sealed keys per KEK, which reads the whole table).
    pub async fn keyring_opens_check(&self) -> Result<(), VaultError> {
        let rows = on_db!(&self.db, pool => {
            sqlx::query("SELECT kek_id, nonce, sealed FROM kek_checks").fetch_all(pool).await?
                .into_iter()
                .map(|row| Ok(CheckValue {
                    kek_id: row.try_get(0)?,
                    nonce: row.try_get(1)?,
                    sealed: row.try_get(2)?,
                }))
                .collect::<Result<Vec<_>, sqlx::Error>>()?
        });
        let mut opened = false;
        for check in &rows {
            match self.keyring()?.verify_check(check) {
                Some(true) => opened = true,
                Some(false) => return Err(VaultError::KekMismatch(check.kek_id.clone())),
                None => {}
            }
        }
        if opened {
            Ok(())
        } else {
            Err(VaultError::UnknownKeks)
        }
    }

    /// The audit trail takes a row: one is inserted in a transaction that is then rolled
    /// back, so that a refusal (a permission taken away, a trigger, a full disk on
    /// PostgreSQL) shows before a download meets it. Nothing is left behind; on PostgreSQL
    /// the identity column skips a number, as after any failed insert.
    pub async fn audit_accepts_rows(&self) -> Result<(), VaultError> {
        on_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO audit (at_ms, principal, key_out, status, error, instance) \
                 VALUES ($1, NULL, $2, $3, $4, NULL)",
            )
            .bind(0_i64)
            .bind(false)
            .bind(0_i32)
            .bind("readiness probe, rolled back")
            .execute(&mut *tx)
            .await?;
            tx.rollback().await?;
        });
        Ok(())
    }

    /// The connection pool now.
    pub fn pool_state(&self) -> PoolState {
        on_db!(&self.db, pool => PoolState {
            open: pool.size(),
            idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
            max: pool.options().get_max_connections(),
        })
    }
}
