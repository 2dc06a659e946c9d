//! Rekey: [`Vault::rekey`] moves every data key to the newest KEK of the file, in batches,
//! each row its own compare-and-swap, while downloads go on.

use cert_download::CertificateId;
use serde::Serialize;
use sqlx::Row;

use crate::db::on_db;
use crate::error::VaultError;
use crate::vault::Vault;

/// What `rekey` did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RekeyReport {
    /// The newest KEK of the file, which now wraps the keys.
    pub kek_id: String,
    /// Data keys wrapped anew under the newest KEK by this run.
    pub rewrapped: u64,
    /// Keys changed by someone else while this run read them (left for the next run).
    pub skipped: u64,
    /// Keys not under the newest KEK after this run.
    pub remaining: i64,
}

impl Vault {
    /// Rewraps every data key that is not under the newest KEK, in batches of `batch` rows,
    /// each row its own atomic update (compare-and-swap on the old wrapping, so a key that
    /// an import replaced meanwhile is left alone). Downloads go on meanwhile: a row is
    /// under its old KEK or its new one, and the file holds both. Stopped at any point
    /// (a crash included), a new run picks up the rows still under an old KEK.
    pub async fn rekey(&self, batch: u32) -> Result<RekeyReport, VaultError> {
        let keyring = self.keyring()?;
        let newest = keyring.newest().id().to_owned();
        self.db.ensure_check(keyring, &newest).await?;
        // The audit signing key is sealed under a KEK too: it moves with the data keys.
        self.db.rekey_audit_keys(keyring).await?;
        let batch = i64::from(batch.max(1));
        let mut report = RekeyReport {
            kek_id: newest.clone(),
            ..RekeyReport::default()
        };
        let mut after = 0i64;
        loop {
            let rows = on_db!(&self.db, pool => {
                sqlx::query(
                    "SELECT certificate_id, kek_id, wrap_nonce, wrapped_key FROM sealed_keys \
                     WHERE kek_id <> $1 AND certificate_id > $2 ORDER BY certificate_id LIMIT $3",
                )
                .bind(&newest)
                .bind(after)
                .bind(batch)
                .fetch_all(pool)
                .await?
                .into_iter()
                .map(|row| Ok((
                    row.try_get::<i64, _>(0)?,
                    row.try_get::<String, _>(1)?,
                    row.try_get::<Vec<u8>, _>(2)?,
                    row.try_get::<Vec<u8>, _>(3)?,
                )))
                .collect::<Result<Vec<_>, sqlx::Error>>()?
            });
            if rows.is_empty() {
                break;
            }
            for (n, kek_id, wrap_nonce, wrapped_key) in rows {
                after = n;
                let id = CertificateId::new(u64::try_from(n).unwrap_or(0))
                    .ok_or_else(|| VaultError::Invalid(format!("stored id {n} is out of range")))?;
                // Only the wrapping is read and rewritten: the key ciphertext stays.
                let Some(new) = keyring.rewrap(id, &kek_id, &wrap_nonce, &wrapped_key)? else {
                    continue;
                };
                let changed = on_db!(&self.db, pool => {
                    sqlx::query(
                        "UPDATE sealed_keys SET kek_id = $1, wrap_nonce = $2, wrapped_key = $3 \
                         WHERE certificate_id = $4 AND kek_id = $5 AND wrapped_key = $6",
                    )
                    .bind(&new.kek_id)
                    .bind(&new.wrap_nonce)
                    .bind(&new.wrapped_key)
                    .bind(n)
                    .bind(&kek_id)
                    .bind(&wrapped_key)
                    .execute(pool)
                    .await?
                    .rows_affected()
                });
                if changed == 1 {
                    report.rewrapped += 1;
                } else {
                    report.skipped += 1;
                }
            }
        }
        report.remaining = on_db!(&self.db, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM sealed_keys WHERE kek_id <> $1")
                .bind(&newest)
                .fetch_one(pool)
                .await?
        });
        Ok(report)
    }
}
