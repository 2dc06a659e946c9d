//! The audit trail: the rows a host records for each download ([`AuditEntry`]) and reads
//! back ([`AuditRow`], [`AuditFilter`]). Apart from the rest because the trail is
//! insert-only and written by the service, not by the admin command.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use sqlx::Row;

use crate::db::on_db;
use crate::error::VaultError;
use crate::vault::Vault;

/// One row of the audit trail, as the host records it: never a password, a token or key
/// bytes (no field can hold one).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// When (unix milliseconds); `None`: now.
    pub at_ms: Option<i64>,
    /// The authenticated principal, if any.
    pub principal: Option<String>,
    /// The certificate asked for, if the request named one.
    pub certificate_id: Option<i64>,
    /// The format asked for (`pfx`, `pem`, `crt`, `p7b`).
    pub format: Option<String>,
    /// Whether a private key went out.
    pub key_out: bool,
    /// The HTTP status answered.
    pub status: u16,
    /// The error code answered (`forbidden`, `key_not_found`, ...), if any.
    pub error: Option<String>,
    /// The client's address: the connection's peer, or the address a trusted proxy
    /// forwarded.
    pub client: Option<String>,
    /// The connection's peer (`ip:port`), kept beside `client`: when the client's address
    /// was forwarded, the proxy that forwarded it.
    pub peer: Option<String>,
    /// The PFX profile of a pfx download (`aes256_sha256`, `aes256_sha256_pbmac1`,
    /// `tripledes_sha1`).
    pub pfx_encryption: Option<String>,
    /// The name of the service instance that answered.
    pub instance: Option<String>,
}

/// A stored audit row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditRow {
    /// Its sequence number.
    pub id: i64,
    /// The entry.
    #[serde(flatten)]
    pub entry: AuditEntry,
}

/// Which audit rows to list.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    /// From this time on (unix milliseconds, inclusive).
    pub since_ms: Option<i64>,
    /// Before this time (unix milliseconds, exclusive).
    pub until_ms: Option<i64>,
    /// Of this principal.
    pub principal: Option<String>,
    /// About this certificate.
    pub certificate_id: Option<i64>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Vault {
    /// Records one download in the audit trail; returns once the row is committed.
    pub async fn record_audit(&self, entry: &AuditEntry) -> Result<(), VaultError> {
        let at = entry.at_ms.unwrap_or_else(now_ms);
        on_db!(&self.db, pool => {
            sqlx::query(
                "INSERT INTO audit (at_ms, principal, certificate_id, format, key_out, status, \
                 error, client, instance, peer, pfx_encryption) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(at)
            .bind(&entry.principal)
            .bind(entry.certificate_id)
            .bind(&entry.format)
            .bind(entry.key_out)
            .bind(i32::from(entry.status))
            .bind(&entry.error)
            .bind(&entry.client)
            .bind(&entry.instance)
            .bind(&entry.peer)
            .bind(&entry.pfx_encryption)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The audit rows that match `filter`, oldest first.
    pub async fn audit(&self, filter: &AuditFilter) -> Result<Vec<AuditRow>, VaultError> {
        let rows = on_db!(&self.db, pool => {
            sqlx::query(
                "SELECT id, at_ms, principal, certificate_id, format, key_out, status, error, \
                 client, instance, peer, pfx_encryption FROM audit \
                 WHERE ($1 IS NULL OR at_ms >= $1) AND ($2 IS NULL OR at_ms < $2) \
                 AND ($3 IS NULL OR principal = $3) AND ($4 IS NULL OR certificate_id = $4) \
                 ORDER BY id",
            )
            .bind(filter.since_ms)
            .bind(filter.until_ms)
            .bind(&filter.principal)
            .bind(filter.certificate_id)
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(|row| {
                Ok(AuditRow {
                    id: row.try_get(0)?,
                    entry: AuditEntry {
                        at_ms: row.try_get(1)?,
                        principal: row.try_get(2)?,
                        certificate_id: row.try_get(3)?,
                        format: row.try_get(4)?,
                        key_out: row.try_get(5)?,
                        status: u16::try_from(row.try_get::<i32, _>(6)?).unwrap_or(0),
                        error: row.try_get(7)?,
                        client: row.try_get(8)?,
                        instance: row.try_get(9)?,
                        peer: row.try_get(10)?,
                        pfx_encryption: row.try_get(11)?,
                    },
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?
        });
        Ok(rows)
    }
}
