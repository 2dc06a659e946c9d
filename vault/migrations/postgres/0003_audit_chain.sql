-- The audit chain and its signed checkpoints: the schema of
-- vault/migrations/sqlite/0003_audit_chain.sql (read its comments), with BYTEA for BLOB and
-- an identity column for audit_checkpoints.id. The service's role needs
--   GRANT SELECT ON audit_signing_keys TO vault_service;
--   GRANT SELECT, INSERT ON audit_checkpoints TO vault_service;
ALTER TABLE audit ADD COLUMN writer TEXT;
ALTER TABLE audit ADD COLUMN seq BIGINT;
ALTER TABLE audit ADD COLUMN prev_hash BYTEA;
ALTER TABLE audit ADD COLUMN row_hash BYTEA;
CREATE UNIQUE INDEX audit_chain ON audit (writer, seq);

CREATE TABLE audit_signing_keys (
    public_key TEXT PRIMARY KEY,
    kek_id TEXT NOT NULL,
    nonce BYTEA NOT NULL,
    sealed BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE audit_checkpoints (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    line TEXT NOT NULL
);

CREATE TRIGGER audit_checkpoints_no_update_or_delete BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_insert_only();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_insert_only();
