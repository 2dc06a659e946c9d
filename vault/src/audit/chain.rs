//! The chain itself: a row's canonical encoding and hash, and the head (last sequence number
//! and hash) each writer of this process continues from. The encoding is written down in
//! the crate documentation ("Audit chain"); [`canonical_encoding`] is its one definition,
//! and `audit verify` recomputes it from the columns as stored.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use super::AuditEntry;

/// The first bytes of every encoded row (its version: a new encoding gets a new label).
const ROW_LABEL: &[u8] = b"cert-download-vault/v1 audit-row\0";

/// The `prev_hash` of a writer's first row.
pub(crate) const GENESIS: [u8; 32] = [0; 32];

/// One row's place in its writer's chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Link<'a> {
    pub(crate) writer: &'a str,
    pub(crate) seq: i64,
    pub(crate) prev_hash: &'a [u8],
}

/// Appends one column, `name` and value, to the encoding: a NULL column is left out, so a
/// nullable column added later changes no hash of the rows that hold NULL in it.
struct Encoder(Vec<u8>);

impl Encoder {
    fn bytes(&mut self, name: &str, value: Option<&[u8]>) {
        let Some(value) = value else { return };
        // Column names are ours and short; values are bounded by the database.
        self.0.push(u8::try_from(name.len()).unwrap_or(u8::MAX));
        self.0.extend_from_slice(name.as_bytes());
        self.0
            .extend_from_slice(&u32::try_from(value.len()).unwrap_or(u32::MAX).to_be_bytes());
        self.0.extend_from_slice(value);
    }

    fn text(&mut self, name: &str, value: Option<&str>) {
        self.bytes(name, value.map(str::as_bytes));
    }

    fn int(&mut self, name: &str, value: Option<i64>) {
        self.bytes(name, value.map(i64::to_be_bytes).as_ref().map(|b| &b[..]));
    }

    fn boolean(&mut self, name: &str, value: bool) {
        self.bytes(name, Some(&[u8::from(value)]));
    }
}

/// The canonical encoding of a chained row: the label, then one line per column in this
/// fixed order. A new audit column is one line added at the end (nullable, so that the
/// rows written before it hash as they did).
pub(crate) fn canonical_encoding(link: &Link<'_>, at_ms: i64, entry: &AuditEntry) -> Vec<u8> {
    let mut e = Encoder(Vec::with_capacity(256));
    e.0.extend_from_slice(ROW_LABEL);
    e.text("writer", Some(link.writer));
    e.int("seq", Some(link.seq));
    e.bytes("prev_hash", Some(link.prev_hash));
    e.int("at_ms", Some(at_ms));
    e.text("principal", entry.principal.as_deref());
    e.int("certificate_id", entry.certificate_id);
    e.text("format", entry.format.as_deref());
    e.boolean("key_out", entry.key_out);
    e.int("status", Some(i64::from(entry.status)));
    e.text("error", entry.error.as_deref());
    e.text("client", entry.client.as_deref());
    e.text("instance", entry.instance.as_deref());
    e.text("key_delivery", entry.key_delivery.as_deref());
    e.text("recipient_sha256", entry.recipient_sha256.as_deref());
    e.text("peer", entry.peer.as_deref());
    e.text("pfx_encryption", entry.pfx_encryption.as_deref());
    // Added with migration 0005: NULL in every row chained before it, which therefore
    // encodes (and hashes) exactly as it did then.
    e.text("credential", entry.credential.as_deref());
    e.0
}

/// SHA-256 of the row's canonical encoding: its `row_hash`.
pub(crate) fn row_hash(link: &Link<'_>, at_ms: i64, entry: &AuditEntry) -> [u8; 32] {
    Sha256::digest(canonical_encoding(link, at_ms, entry)).into()
}

/// A writer's last row: the next row takes `seq + 1` and links to `hash`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Head {
    pub(crate) seq: i64,
    pub(crate) hash: [u8; 32],
}

/// The head of each writer this process writes as, behind one async lock per writer: a
/// writer's inserts run one after the other (each links to the one before), different
/// writers' in parallel. `None`: not known (not read yet, or the last insert failed or was
/// cancelled, so it may or may not have committed): read from the database before the next.
#[derive(Debug, Default)]
pub(crate) struct Heads {
    writers: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Head>>>>>,
}

impl Heads {
    pub(crate) fn slot(&self, writer: &str) -> Arc<tokio::sync::Mutex<Option<Head>>> {
        let mut map = self
            .writers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(map.entry(writer.to_owned()).or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> AuditEntry {
        AuditEntry {
            principal: Some("alice".into()),
            certificate_id: Some(7),
            format: Some("pfx".into()),
            key_out: true,
            status: 200,
            instance: Some("a".into()),
            ..AuditEntry::default()
        }
    }

    #[test]
    fn encoding_is_the_documented_one() {
        let link = Link {
            writer: "a",
            seq: 1,
            prev_hash: &GENESIS,
        };
        let mut expected = ROW_LABEL.to_vec();
        let mut col = |name: &str, value: &[u8]| {
            expected.push(name.len() as u8);
            expected.extend_from_slice(name.as_bytes());
            expected.extend_from_slice(&(value.len() as u32).to_be_bytes());
            expected.extend_from_slice(value);
        };
        col("writer", b"a");
        col("seq", &1i64.to_be_bytes());
        col("prev_hash", &[0; 32]);
        col("at_ms", &5i64.to_be_bytes());
        col("principal", b"alice");
        col("certificate_id", &7i64.to_be_bytes());
        col("format", b"pfx");
        col("key_out", &[1]);
        col("status", &200i64.to_be_bytes());
        col("instance", b"a");
        assert_eq!(canonical_encoding(&link, 5, &entry()), expected);
    }

    #[test]
    fn every_column_changes_the_hash() {
        let link = Link {
            writer: "a",
            seq: 1,
            prev_hash: &GENESIS,
        };
        let base = row_hash(&link, 5, &entry());
        let mut changed: Vec<[u8; 32]> = vec![
            row_hash(
                &Link {
                    writer: "b",
                    ..link
                },
                5,
                &entry(),
            ),
            row_hash(&Link { seq: 2, ..link }, 5, &entry()),
            row_hash(
                &Link {
                    prev_hash: &[1; 32],
                    ..link
                },
                5,
                &entry(),
            ),
            row_hash(&link, 6, &entry()),
        ];
        let edits: [fn(&mut AuditEntry); 10] = [
            |e| e.principal = Some("bob".into()),
            |e| e.certificate_id = Some(8),
            |e| e.format = None,
            |e| e.key_out = false,
            |e| e.status = 404,
            |e| e.error = Some("x".into()),
            |e| e.client = Some("127.0.0.1".into()),
            |e| e.instance = None,
            |e| e.credential = Some("token".into()),
            |e| e.credential = Some("certificate".into()),
        ];
        for edit in edits {
            let mut e = entry();
            edit(&mut e);
            changed.push(row_hash(&link, 5, &e));
        }
        assert!(changed.iter().all(|h| *h != base));
        // A value cannot slide into the next column: lengths and names are prefixed.
        let mut a = entry();
        a.principal = Some("ab".into());
        a.format = Some("c".into());
        let mut b = entry();
        b.principal = Some("a".into());
        b.format = Some("bc".into());
        assert_ne!(row_hash(&link, 5, &a), row_hash(&link, 5, &b));
    }

    /// A row as the service wrote it before the `credential` column existed (migration
    /// 0005), and its `row_hash` as that code computed it (hex, recorded before the column
    /// was added): a row with no credential must still hash to it, or every chain written
    /// before the upgrade would stop verifying.
    #[test]
    fn rows_chained_before_the_credential_column_hash_as_they_did() {
        let link = Link {
            writer: "instance-a",
            seq: 41,
            prev_hash: &[7; 32],
        };
        let entry = AuditEntry {
            principal: Some("alice".into()),
            certificate_id: Some(12345),
            format: Some("pfx".into()),
            key_out: true,
            status: 200,
            client: Some("192.0.2.7".into()),
            peer: Some("192.0.2.7:50000".into()),
            pfx_encryption: Some("aes256_sha256".into()),
            instance: Some("instance-a".into()),
            key_delivery: Some("password".into()),
            ..AuditEntry::default()
        };
        let hex = |h: [u8; 32]| h.iter().map(|b| format!("{b:02x}")).collect::<String>();
        assert_eq!(
            hex(row_hash(&link, 1_765_000_000_000, &entry)),
            "a9fc3c442ff75846fc133a3f0c025873bea639f4ea46f197b2ea00e3cc864c14"
        );
        // The column, once set, is the last one encoded.
        let with = AuditEntry {
            credential: Some("certificate".into()),
            ..entry.clone()
        };
        let mut tail = canonical_encoding(&link, 1_765_000_000_000, &entry);
        tail.push(10);
        tail.extend_from_slice(b"credential");
        tail.extend_from_slice(&11u32.to_be_bytes());
        tail.extend_from_slice(b"certificate");
        assert_eq!(canonical_encoding(&link, 1_765_000_000_000, &with), tail);
    }
}
