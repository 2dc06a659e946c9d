-- cert-download-vault schema, PostgreSQL dialect: the schema of
-- vault/migrations/sqlite/0001_vault.sql (read its comments), with BYTEA for BLOB and an
-- identity column for audit.id.

CREATE TABLE kek_checks (
    kek_id TEXT PRIMARY KEY,
    nonce BYTEA NOT NULL,
    sealed BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE certificates (
    id BIGINT PRIMARY KEY CHECK (id > 0),
    leaf BYTEA NOT NULL,
    issuers BYTEA NOT NULL,
    imported_at BIGINT NOT NULL
);

CREATE TABLE sealed_keys (
    certificate_id BIGINT PRIMARY KEY REFERENCES certificates (id) ON DELETE CASCADE,
    kek_id TEXT NOT NULL,
    wrap_nonce BYTEA NOT NULL,
    wrapped_key BYTEA NOT NULL,
    key_format TEXT NOT NULL CHECK (key_format IN ('pkcs8', 'pkcs1', 'sec1')),
    key_nonce BYTEA NOT NULL,
    ciphertext BYTEA NOT NULL,
    sealed_at BIGINT NOT NULL
);
CREATE INDEX sealed_keys_kek_id ON sealed_keys (kek_id);

CREATE TABLE principals (
    name TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
);

CREATE TABLE grants (
    principal TEXT NOT NULL REFERENCES principals (name) ON DELETE CASCADE,
    permission TEXT NOT NULL CHECK (permission IN ('read', 'export_key')),
    certificate_id BIGINT NOT NULL CHECK (certificate_id >= 0),
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (principal, permission, certificate_id)
);

CREATE TABLE tokens (
    hash BYTEA PRIMARY KEY,
    principal TEXT NOT NULL REFERENCES principals (name) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX tokens_principal ON tokens (principal);

-- Insert-only. The trigger refuses UPDATE and DELETE to every role, the owner included;
-- the service's role gets INSERT and SELECT only (see the crate's documentation):
--   GRANT SELECT ON kek_checks, certificates, sealed_keys, principals, grants, tokens TO vault_service;
--   GRANT SELECT, INSERT ON audit TO vault_service;
CREATE TABLE audit (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    principal TEXT,
    certificate_id BIGINT,
    format TEXT,
    key_out BOOLEAN NOT NULL,
    status INTEGER NOT NULL,
    error TEXT,
    client TEXT,
    instance TEXT
);
CREATE INDEX audit_at ON audit (at_ms);

CREATE FUNCTION audit_insert_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit rows are insert-only';
END;
$$;
CREATE TRIGGER audit_no_update_or_delete BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_insert_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION audit_insert_only();
