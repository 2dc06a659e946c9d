-- Client certificates (mTLS) registered to principals: the SHA-256 of the certificate's
-- DER names its principal, as a token's hash does (`principal add-cert`). Removing a
-- certificate (`principal remove-cert`) deletes its row: the service looks the
-- fingerprint up on every request, so it stops working from the next one. The subject
-- and notAfter are kept for the listing only (the TLS handshake checks the chain and the
-- dates; the vault decides who it is). The service's role reads it:
--   GRANT SELECT ON client_certificates TO vault_service;
CREATE TABLE client_certificates (
    fingerprint BYTEA PRIMARY KEY CHECK (octet_length(fingerprint) = 32),
    principal TEXT NOT NULL REFERENCES principals (name) ON DELETE CASCADE,
    subject TEXT,
    not_after BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX client_certificates_principal ON client_certificates (principal);

-- How the caller of each download authenticated: 'token' or 'certificate'. NULL in the
-- rows written before (and in the admin command's own rows). It is the last column of
-- the audit chain's canonical encoding, which leaves NULL columns out: the rows chained
-- before it hash as they did. The check is added NOT VALID: every existing row holds NULL
-- there, which passes it, and a validating scan would hold the audit table's ACCESS
-- EXCLUSIVE lock (every download waits for its audit row) for as long as the table takes
-- to read. New and changed rows are checked all the same.
ALTER TABLE audit ADD COLUMN credential TEXT;
ALTER TABLE audit ADD CONSTRAINT audit_credential_kind
    CHECK (credential IN ('token', 'certificate')) NOT VALID;
