-- Client certificates (mTLS) registered to principals: the SHA-256 of the certificate's
-- DER names its principal, as a token's hash does (`principal add-cert`). Removing a
-- certificate (`principal remove-cert`) deletes its row: the service looks the
-- fingerprint up on every request, so it stops working from the next one. The subject
-- and notAfter are kept for the listing only (the TLS handshake checks the chain and the
-- dates; the vault decides who it is).
CREATE TABLE client_certificates (
    fingerprint BLOB PRIMARY KEY CHECK (length(fingerprint) = 32),
    principal TEXT NOT NULL REFERENCES principals (name) ON DELETE CASCADE,
    subject TEXT,
    not_after BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX client_certificates_principal ON client_certificates (principal);

-- How the caller of each download authenticated: 'token' or 'certificate'. NULL in the
-- rows written before (and in the admin command's own rows). It is the last column of
-- the audit chain's canonical encoding, which leaves NULL columns out: the rows chained
-- before it hash as they did.
ALTER TABLE audit ADD COLUMN credential TEXT CHECK (credential IN ('token', 'certificate'));
