-- cert-download-vault schema, SQLite dialect. vault/migrations/postgres/0001_vault.sql is the
-- same schema in PostgreSQL's dialect (BYTEA for BLOB, BIGINT for INTEGER, an identity
-- column for audit.id);
-- tests/schema.rs checks that both declare the same tables and columns.

-- Check values: a known text sealed under each KEK (see src/seal.rs), so that a wrong or
-- missing KEK file is an error when the vault opens.
CREATE TABLE kek_checks (
    kek_id TEXT PRIMARY KEY,
    nonce BLOB NOT NULL,
    sealed BLOB NOT NULL,
    created_at BIGINT NOT NULL
);

-- One row per certificate: the leaf and its issuers (each DER certificate after the other,
-- in stored order) as they were imported. (INTEGER PRIMARY KEY: SQLite's rowid itself, a
-- 64-bit integer, so a lookup by id walks one B-tree.)
CREATE TABLE certificates (
    id INTEGER PRIMARY KEY CHECK (id > 0),
    leaf BLOB NOT NULL,
    issuers BLOB NOT NULL,
    imported_at BIGINT NOT NULL
);

-- The private key of a certificate, sealed (src/seal.rs): the data key wrapped by the KEK
-- kek_id, the key's DER encrypted under the data key. Nothing here opens without the KEK.
CREATE TABLE sealed_keys (
    certificate_id INTEGER PRIMARY KEY REFERENCES certificates (id) ON DELETE CASCADE,
    kek_id TEXT NOT NULL,
    wrap_nonce BLOB NOT NULL,
    wrapped_key BLOB NOT NULL,
    key_format TEXT NOT NULL CHECK (key_format IN ('pkcs8', 'pkcs1', 'sec1')),
    key_nonce BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    sealed_at BIGINT NOT NULL
);
CREATE INDEX sealed_keys_kek_id ON sealed_keys (kek_id);

CREATE TABLE principals (
    name TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
);

-- permission 'read' (the certificate and its chain) or 'export_key' (its private key; a
-- key goes out only with both). certificate_id 0 = every certificate (ids start at 1).
CREATE TABLE grants (
    principal TEXT NOT NULL REFERENCES principals (name) ON DELETE CASCADE,
    permission TEXT NOT NULL CHECK (permission IN ('read', 'export_key')),
    certificate_id BIGINT NOT NULL CHECK (certificate_id >= 0),
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (principal, permission, certificate_id)
);

-- Bearer tokens: only the SHA-256 of each token is stored.
CREATE TABLE tokens (
    hash BLOB PRIMARY KEY,
    principal TEXT NOT NULL REFERENCES principals (name) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX tokens_principal ON tokens (principal);

-- One row per download; rows are only ever inserted (the triggers refuse the rest).
CREATE TABLE audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
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

CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'audit rows are insert-only');
END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'audit rows are insert-only');
END;
