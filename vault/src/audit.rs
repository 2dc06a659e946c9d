//! The audit trail: the rows a host records for each download ([`AuditEntry`]) and reads
//! back ([`AuditRow`], [`AuditFilter`]). Apart from the rest because the trail is
//! insert-only and written by the service, not by the admin command.
//!
//! Each row is chained to its writer's previous row (`chain`), the heads of every chain
//! are signed from time to time (`checkpoint`), and `verify` checks both with the public
//! key only: see the crate documentation, "Audit chain".

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use sqlx::Row;

use crate::db::on_db;
use crate::error::VaultError;
use crate::vault::Vault;

pub(crate) mod chain;
pub(crate) mod checkpoint;
pub(crate) mod verify;

use chain::{GENESIS, Head, Link, row_hash};

/// The writer of rows recorded without an instance name (a library host that sets none).
pub const DEFAULT_WRITER: &str = "default";

/// How many times an insert whose sequence number another process took first re-reads its
/// writer's head and tries again (two processes writing under one instance name).
const CHAIN_RETRIES: usize = 32;

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
    /// The format asked for (`pfx`, `pem`, `crt`, `p7b`, `kwp`).
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
    /// How the key was to go out, when the request asked for one: `password`, `cms` (to a
    /// recipient's certificate) or `kwp` (`cert_download::KeyDelivery::as_str`).
    pub key_delivery: Option<String>,
    /// The SHA-256 of the recipient certificate's DER, lowercase hex, when the key was to
    /// go to a recipient.
    pub recipient_sha256: Option<String>,
    /// How the caller authenticated: `token` (a bearer token) or `certificate` (a client
    /// certificate registered with `principal add-cert`); `None` for rows written before
    /// the column existed and for the admin command's own rows.
    pub credential: Option<String>,
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

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Vault {
    /// Records one download in the audit trail; returns once the row is committed.
    ///
    /// The row joins its writer's chain (the writer is `entry.instance`, or
    /// [`DEFAULT_WRITER`]): it takes the next sequence number and links to the writer's
    /// previous row by hash, computed here before the one `INSERT` (no extra round trip,
    /// but the first row of a writer in this process reads its head first). A writer's
    /// inserts run one at a time in this process; a number taken by another process
    /// (the unique `(writer, seq)` index refuses it) makes this one re-read the head and
    /// try again.
    pub async fn record_audit(&self, entry: &AuditEntry) -> Result<(), VaultError> {
        let at = entry.at_ms.unwrap_or_else(now_ms);
        let writer = entry.instance.as_deref().unwrap_or(DEFAULT_WRITER);
        let slot = self.audit_heads.slot(writer);
        let mut head = slot.lock().await;
        let mut attempt = 0;
        loop {
            attempt += 1;
            // Taken out: if this future is dropped or the insert fails, the head is read
            // again before the next row (the insert may or may not have committed).
            let last = match head.take() {
                Some(last) => last,
                None => self.chain_head(writer).await?,
            };
            let seq = last.seq + 1;
            let link = Link {
                writer,
                seq,
                prev_hash: &last.hash,
            };
            let hash = row_hash(&link, at, entry);
            match self.insert_audit(Some((&link, &hash)), at, entry).await {
                Ok(()) => {
                    *head = Some(Head { seq, hash });
                    return Ok(());
                }
                Err(sqlx::Error::Database(e))
                    if e.is_unique_violation() && attempt < CHAIN_RETRIES =>
                {
                    // The other process keeps its head in memory and would win every race
                    // against a re-read: step aside for a random while, longer each time.
                    let mut r = [0u8; 2];
                    let _ = getrandom::fill(&mut r);
                    let micros = u64::from(u16::from_le_bytes(r)) % 1000 * attempt as u64;
                    tokio::time::sleep(std::time::Duration::from_micros(micros)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The insert as it was before the chain (no writer, sequence number or hashes): for
    /// the benchmark that prices the chain, and for tests of unchained rows. Not for hosts.
    #[doc(hidden)]
    pub async fn record_audit_unchained(&self, entry: &AuditEntry) -> Result<(), VaultError> {
        let at = entry.at_ms.unwrap_or_else(now_ms);
        Ok(self.insert_audit(None, at, entry).await?)
    }

    /// The writer's last row as committed: where its chain continues.
    async fn chain_head(&self, writer: &str) -> Result<Head, VaultError> {
        let last: Option<(i64, Vec<u8>)> = on_db!(&self.db, pool => {
            sqlx::query_as(
                "SELECT seq, row_hash FROM audit WHERE writer = $1 AND seq IS NOT NULL \
                 ORDER BY seq DESC LIMIT 1",
            )
            .bind(writer)
            .fetch_optional(pool)
            .await?
        });
        Ok(match last {
            Some((seq, hash)) => Head {
                seq,
                hash: hash.try_into().map_err(|_| {
                    VaultError::Invalid(format!(
                        "the last audit row of writer {writer:?} has a row hash that is not 32 bytes"
                    ))
                })?,
            },
            None => Head {
                seq: 0,
                hash: GENESIS,
            },
        })
    }

    /// The one INSERT of an audit row, every column named once; `chain` is the row's link
    /// and hash (`None`: an unchained row, its chain columns NULL).
    async fn insert_audit(
        &self,
        chain: Option<(&Link<'_>, &[u8; 32])>,
        at: i64,
        entry: &AuditEntry,
    ) -> Result<(), sqlx::Error> {
        on_db!(&self.db, pool => {
            sqlx::query(
                "INSERT INTO audit (at_ms, principal, certificate_id, format, key_out, status, \
                 error, client, instance, key_delivery, recipient_sha256, peer, pfx_encryption, \
                 writer, seq, prev_hash, row_hash, credential) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
                 $17, $18)",
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
            .bind(&entry.key_delivery)
            .bind(&entry.recipient_sha256)
            .bind(&entry.peer)
            .bind(&entry.pfx_encryption)
            .bind(chain.map(|(link, _)| link.writer))
            .bind(chain.map(|(link, _)| link.seq))
            .bind(chain.map(|(link, _)| link.prev_hash))
            .bind(chain.map(|(_, hash)| hash.as_slice()))
            .bind(&entry.credential)
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
                 client, instance, key_delivery, recipient_sha256, peer, pfx_encryption, \
                 credential \
                 FROM audit \
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
                        key_delivery: row.try_get(10)?,
                        recipient_sha256: row.try_get(11)?,
                        peer: row.try_get(12)?,
                        pfx_encryption: row.try_get(13)?,
                        credential: row.try_get(14)?,
                    },
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?
        });
        Ok(rows)
    }
}
