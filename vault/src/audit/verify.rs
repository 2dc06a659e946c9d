//! `audit verify`: walks every writer's chain in pages (bounded memory: one page of rows,
//! plus what the checkpoints vouch for), recomputes every row hash, checks every link and
//! every checkpoint's signature against the audit public key, and names the first bad row of
//! each writer. Needs the database only: no KEK, no token, no PIN. The report it returns
//! is in `verify/report.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr as _;

use ed25519_dalek::VerifyingKey;
use sqlx::Row;

use super::AuditEntry;
use super::chain::{GENESIS, Link, row_hash};
use super::checkpoint::{Checkpoint, CheckpointFault, hex, parse_public_key, unhex};
use crate::db::{Db, VaultOptions, on_db};
use crate::error::VaultError;

mod report;

pub use report::{AuditProblem, AuditProblemKind, AuditReport, AuditWriterSummary, LastCheckpoint};

/// The most sequence numbers tried when a row's hash does not match its place, to tell a
/// row moved to another number ("reordered") from a changed one.
const REORDER_SEARCH: i64 = 10_000_000;

/// A checkpoint's claim about one writer.
#[derive(Clone, Debug)]
struct Claim {
    seq: i64,
    head: Vec<u8>,
    source: String,
}

/// Reads and verifies the audit trail of a vault database; holds no secret.
#[derive(Debug)]
pub struct AuditVerifier {
    db: Db,
}

/// A chained row as read.
struct ChainRow {
    id: i64,
    seq: i64,
    prev_hash: Vec<u8>,
    row_hash: Vec<u8>,
    at_ms: i64,
    entry: AuditEntry,
}

impl AuditVerifier {
    /// Opens the database at `url` (its schema must be current). No KEK is read.
    pub async fn open(url: &str, options: VaultOptions) -> Result<Self, VaultError> {
        let options = VaultOptions {
            migrate: false,
            ..options
        };
        let db = Db::open(url, &options).await?;
        db.require_schema().await?;
        Ok(Self { db })
    }

    /// The public keys of the vault's audit signing keys, newest first (base64).
    pub async fn public_keys(&self) -> Result<Vec<String>, VaultError> {
        Ok(on_db!(&self.db, pool => {
            sqlx::query_scalar(
                "SELECT public_key FROM audit_signing_keys ORDER BY created_at DESC, public_key",
            )
            .fetch_all(pool)
            .await?
        }))
    }

    /// Closes the pool.
    pub async fn close(&self) {
        on_db!(&self.db, pool => pool.close().await);
    }

    /// Verifies every chain and checkpoint against `public_key` (as `audit public-key`
    /// prints it). `extra` are checkpoint lines kept elsewhere, each with its source's name
    /// (e.g. `("checkpoints.jsonl line 3", line)`). Reads `page` rows per query.
    pub async fn verify(
        &self,
        public_key: &str,
        extra: &[(String, String)],
        page: u32,
    ) -> Result<AuditReport, VaultError> {
        let trusted = parse_public_key(public_key)?;
        let page = i64::from(page.max(1));
        let mut problems = Vec::new();
        let mut claims: BTreeMap<String, Vec<Claim>> = BTreeMap::new();
        let mut last: Option<LastCheckpoint> = None;

        let table: Vec<(i64, String)> = on_db!(&self.db, pool => {
            sqlx::query("SELECT id, line FROM audit_checkpoints ORDER BY id")
                .fetch_all(pool)
                .await?
                .into_iter()
                .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
                .collect::<Result<Vec<_>, sqlx::Error>>()?
        });
        let mut checkpoints_table = 0;
        let mut checkpoints_file = 0;
        let sources = table
            .iter()
            .map(|(id, line)| (format!("table id {id}"), line.as_str(), true))
            .chain(extra.iter().map(|(s, l)| (s.clone(), l.as_str(), false)));
        for (source, line, in_table) in sources {
            match take_checkpoint(&trusted, &source, line, &mut claims) {
                Ok(checkpoint) => {
                    if in_table {
                        checkpoints_table += 1;
                    } else {
                        checkpoints_file += 1;
                    }
                    if last.as_ref().is_none_or(|l| checkpoint.at_ms >= l.at_ms) {
                        last = Some(LastCheckpoint {
                            source,
                            at_ms: checkpoint.at_ms,
                            signer: checkpoint.signer,
                        });
                    }
                }
                Err(problem) => problems.push(problem),
            }
        }
        for list in claims.values_mut() {
            list.sort_by_key(|c| c.seq);
        }

        let mut writers: BTreeSet<String> = on_db!(&self.db, pool => {
            sqlx::query_scalar::<_, String>(
                "SELECT DISTINCT writer FROM audit WHERE writer IS NOT NULL AND seq IS NOT NULL",
            )
            .fetch_all(pool)
            .await?
            .into_iter()
            .collect()
        });
        writers.extend(claims.keys().cloned());

        let mut summaries = Vec::new();
        let mut rows = 0;
        for writer in writers {
            let list = claims.remove(&writer).unwrap_or_default();
            let (summary, problem) = self.walk(&writer, &list, page).await?;
            rows += summary.rows;
            summaries.push(summary);
            problems.extend(problem);
        }
        let unchained: i64 = on_db!(&self.db, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM audit WHERE seq IS NULL")
                .fetch_one(pool)
                .await?
        });
        Ok(AuditReport {
            verified: problems.is_empty(),
            rows,
            unchained,
            writers: summaries,
            checkpoints_table,
            checkpoints_file,
            last_checkpoint: last,
            problems,
        })
    }

    async fn page(
        &self,
        writer: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<ChainRow>, VaultError> {
        Ok(on_db!(&self.db, pool => {
            sqlx::query(
                "SELECT id, seq, prev_hash, row_hash, at_ms, principal, certificate_id, format, \
                 key_out, status, error, client, instance, key_delivery, recipient_sha256, peer, \
                 pfx_encryption, credential \
                 FROM audit \
                 WHERE writer = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            )
            .bind(writer)
            .bind(after)
            .bind(limit)
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(|row| {
                Ok(ChainRow {
                    id: row.try_get(0)?,
                    seq: row.try_get(1)?,
                    prev_hash: row.try_get::<Option<Vec<u8>>, _>(2)?.unwrap_or_default(),
                    row_hash: row.try_get::<Option<Vec<u8>>, _>(3)?.unwrap_or_default(),
                    at_ms: row.try_get(4)?,
                    entry: AuditEntry {
                        at_ms: None,
                        principal: row.try_get(5)?,
                        certificate_id: row.try_get(6)?,
                        format: row.try_get(7)?,
                        key_out: row.try_get(8)?,
                        status: u16::try_from(row.try_get::<i32, _>(9)?).unwrap_or(u16::MAX),
                        error: row.try_get(10)?,
                        client: row.try_get(11)?,
                        instance: row.try_get(12)?,
                        key_delivery: row.try_get(13)?,
                        recipient_sha256: row.try_get(14)?,
                        peer: row.try_get(15)?,
                        pfx_encryption: row.try_get(16)?,
                        credential: row.try_get(17)?,
                    },
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?
        }))
    }

    /// Walks one writer's chain; returns its summary and its first problem.
    async fn walk(
        &self,
        writer: &str,
        claims: &[Claim],
        page: i64,
    ) -> Result<(AuditWriterSummary, Option<AuditProblem>), VaultError> {
        let max_seq: i64 = on_db!(&self.db, pool => {
            sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(seq) FROM audit WHERE writer = $1")
                .bind(writer)
                .fetch_one(pool)
                .await?
                .unwrap_or(0)
        });
        let problem_at = |kind, seq: i64, id: Option<i64>, detail: String| AuditProblem {
            problem: kind,
            writer: Some(writer.to_owned()),
            seq: Some(seq),
            id,
            checkpoint: None,
            detail,
        };
        let mut first: Option<AuditProblem> = None;
        let (mut rows, mut expected, mut after) = (0u64, 1i64, 0i64);
        let mut head: Vec<u8> = GENESIS.to_vec();
        let mut previous_id: Option<i64> = None;
        let mut next_claim = 0;
        loop {
            let batch = self.page(writer, after, page).await?;
            let Some(last) = batch.last() else { break };
            after = last.seq;
            for row in batch {
                rows += 1;
                if first.is_some() {
                    continue;
                }
                if row.seq != expected {
                    let detail = if row.seq == expected + 1 {
                        format!(
                            "no row holds seq {expected}; the next row (id {}) holds seq {}",
                            row.id, row.seq
                        )
                    } else {
                        format!(
                            "no row holds seq {expected} to {}; the next row (id {}) holds seq {}",
                            row.seq - 1,
                            row.id,
                            row.seq
                        )
                    };
                    first = Some(problem_at(
                        AuditProblemKind::Missing,
                        expected,
                        None,
                        detail,
                    ));
                    continue;
                }
                let link = Link {
                    writer,
                    seq: row.seq,
                    prev_hash: &row.prev_hash,
                };
                if row_hash(&link, row.at_ms, &row.entry).as_slice() != row.row_hash {
                    let search = max_seq.clamp(1, REORDER_SEARCH);
                    let written_as = (1..=search).find(|&k| {
                        k != row.seq
                            && row_hash(&Link { seq: k, ..link }, row.at_ms, &row.entry).as_slice()
                                == row.row_hash
                    });
                    first = Some(match written_as {
                        Some(k) => problem_at(
                            AuditProblemKind::Reordered,
                            row.seq,
                            Some(row.id),
                            format!(
                                "row id {} holds seq {} but was written as seq {k}",
                                row.id, row.seq
                            ),
                        ),
                        None => problem_at(
                            AuditProblemKind::Changed,
                            row.seq,
                            Some(row.id),
                            format!(
                                "row id {} (seq {}) does not match its hash: a column was changed",
                                row.id, row.seq
                            ),
                        ),
                    });
                    continue;
                }
                if row.prev_hash != head {
                    let seq = row.seq - 1;
                    first = Some(problem_at(
                        AuditProblemKind::Changed,
                        seq,
                        previous_id,
                        format!(
                            "row seq {seq} is not the row that seq {} (id {}) links to: it was changed and its hash recomputed, or replaced",
                            row.seq, row.id
                        ),
                    ));
                    continue;
                }
                while let Some(claim) = claims.get(next_claim).filter(|c| c.seq <= row.seq) {
                    if claim.seq == row.seq && claim.head != row.row_hash {
                        first = Some(problem_at(
                            AuditProblemKind::Changed,
                            row.seq,
                            Some(row.id),
                            format!(
                                "row id {} (seq {}) is not the row checkpoint {} vouches for: the chain up to it was rewritten",
                                row.id, row.seq, claim.source
                            ),
                        ));
                    }
                    next_claim += 1;
                }
                head = row.row_hash;
                previous_id = Some(row.id);
                expected += 1;
            }
        }
        let last_seq = expected - 1;
        if first.is_none()
            && let Some(claim) = claims
                .iter()
                .filter(|c| c.seq > last_seq)
                .max_by_key(|c| c.seq)
        {
            first = Some(problem_at(
                AuditProblemKind::CutOff,
                last_seq + 1,
                None,
                format!(
                    "checkpoint {} vouches for seq {} but the chain ends at seq {last_seq}: rows {} to {} were cut off",
                    claim.source,
                    claim.seq,
                    last_seq + 1,
                    claim.seq
                ),
            ));
        }
        let vouched_seq = claims.iter().map(|c| c.seq).max().unwrap_or(0);
        Ok((
            AuditWriterSummary {
                writer: writer.to_owned(),
                rows,
                last_seq,
                head: hex(&head),
                vouched_seq,
            },
            first,
        ))
    }
}

/// Checks one checkpoint line and records what it vouches for.
fn take_checkpoint(
    trusted: &VerifyingKey,
    source: &str,
    line: &str,
    claims: &mut BTreeMap<String, Vec<Claim>>,
) -> Result<Checkpoint, AuditProblem> {
    let problem = |kind, detail: &str| AuditProblem {
        problem: kind,
        writer: None,
        seq: None,
        id: None,
        checkpoint: Some(source.to_owned()),
        detail: format!("checkpoint {source} {detail}"),
    };
    let checkpoint: Checkpoint = serde_json::Value::from_str(line)
        .ok()
        .and_then(|v| serde_json::from_value(v).ok())
        .ok_or_else(|| problem(AuditProblemKind::Malformed, "is not a checkpoint line"))?;
    match checkpoint.check(trusted) {
        Ok(()) => {}
        Err(CheckpointFault::Malformed) => {
            return Err(problem(
                AuditProblemKind::Malformed,
                "has a head that is not 32 bytes of hex",
            ));
        }
        Err(CheckpointFault::OtherKey) => {
            return Err(problem(
                AuditProblemKind::OtherKey,
                "is signed by another key than the audit public key given",
            ));
        }
        Err(CheckpointFault::BadSignature) => {
            return Err(problem(
                AuditProblemKind::BadSignature,
                "has a signature that does not verify under the audit public key",
            ));
        }
    }
    for w in &checkpoint.writers {
        claims.entry(w.writer.clone()).or_default().push(Claim {
            seq: w.seq,
            head: unhex(&w.head).unwrap_or_default(),
            source: source.to_owned(),
        });
    }
    Ok(checkpoint)
}
