//! What `audit verify` reports: the [`AuditReport`] with each writer's
//! [`AuditWriterSummary`], the [`LastCheckpoint`] seen, and every [`AuditProblem`] found
//! (its [`AuditProblemKind`]). Serialized, it is the JSON that `audit verify` prints.

use serde::Serialize;

/// What is wrong with a row or a checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditProblemKind {
    /// The row's columns are not the ones it was written with (or it is not the row the
    /// next row or a checkpoint links to).
    Changed,
    /// No row holds this sequence number, though later ones exist.
    Missing,
    /// The row was written with another sequence number.
    Reordered,
    /// The chain ends before the last row a checkpoint vouches for.
    CutOff,
    /// A checkpoint whose signature does not verify under the public key.
    BadSignature,
    /// A checkpoint signed by another key.
    OtherKey,
    /// A checkpoint line that is not a checkpoint.
    Malformed,
}

/// One problem found by [`AuditVerifier::verify`](super::AuditVerifier::verify).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditProblem {
    /// What is wrong.
    pub problem: AuditProblemKind,
    /// The writer whose chain it is in (row problems).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub writer: Option<String>,
    /// The sequence number of the first bad row (row problems).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<i64>,
    /// The row's `id`, when a row is there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    /// The checkpoint (`table id N` or `FILE line N`), for checkpoint problems.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<String>,
    /// In words.
    pub detail: String,
}

/// One writer's chain as verified.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditWriterSummary {
    /// The writer.
    pub writer: String,
    /// Its rows.
    pub rows: u64,
    /// Its last sequence number (0: none).
    pub last_seq: i64,
    /// The hash of its last row, hex.
    pub head: String,
    /// The highest sequence number a valid checkpoint vouches for (0: none).
    pub vouched_seq: i64,
}

/// The last valid checkpoint seen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LastCheckpoint {
    /// Where it is (`table id N` or `FILE line N`).
    pub source: String,
    /// When it was made (unix milliseconds).
    pub at_ms: i64,
    /// Who made it.
    pub signer: String,
}

/// The result of [`AuditVerifier::verify`](super::AuditVerifier::verify): `verified` when `problems` is empty.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    /// No problem found.
    pub verified: bool,
    /// Chained rows read.
    pub rows: u64,
    /// Rows written before the chain existed (no sequence number): counted, not checked.
    pub unchained: i64,
    /// Each writer's chain.
    pub writers: Vec<AuditWriterSummary>,
    /// Valid checkpoints read from the table.
    pub checkpoints_table: u64,
    /// Valid checkpoints read from the lines given (`--checkpoints FILE`).
    pub checkpoints_file: u64,
    /// The newest valid checkpoint.
    pub last_checkpoint: Option<LastCheckpoint>,
    /// The first bad row of each writer, and every bad checkpoint.
    pub problems: Vec<AuditProblem>,
}
