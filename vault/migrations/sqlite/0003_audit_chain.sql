-- The audit trail made tamper-evident (see the crate documentation, "Audit chain"): each
-- row of a writer (a service instance) carries its sequence number in that writer's chain,
-- the SHA-256 of the writer's previous row, and the SHA-256 of its own canonical encoding.
-- Rows written before this migration keep NULL here: "unchained".
ALTER TABLE audit ADD COLUMN writer TEXT;
ALTER TABLE audit ADD COLUMN seq BIGINT;
ALTER TABLE audit ADD COLUMN prev_hash BLOB;
ALTER TABLE audit ADD COLUMN row_hash BLOB;
-- Two inserts of one writer can never take the same number (the loser re-reads its head
-- and retries); `audit verify` and the head lookup walk this index.
CREATE UNIQUE INDEX audit_chain ON audit (writer, seq);

-- The Ed25519 keys that sign checkpoints: the 32-byte seed sealed under a KEK
-- (AES-256-GCM, src/seal/audit_key.rs); the public key in standard base64.
CREATE TABLE audit_signing_keys (
    public_key TEXT PRIMARY KEY,
    kek_id TEXT NOT NULL,
    nonce BLOB NOT NULL,
    sealed BLOB NOT NULL,
    created_at BIGINT NOT NULL
);

-- Signed checkpoints, one JSON line each (the same line the service appends to
-- --audit-checkpoint-file); insert-only like the audit rows.
CREATE TABLE audit_checkpoints (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms BIGINT NOT NULL,
    line TEXT NOT NULL
);

CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit checkpoints are insert-only');
END;
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit checkpoints are insert-only');
END;
