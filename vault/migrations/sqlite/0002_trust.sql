-- What the service can check about who asked, and what tokens exist.
-- audit.peer: the address of the connection (a trusted proxy, when the client's address
--   was forwarded); audit.client stays the client's address.
-- audit.pfx_encryption: the PFX profile of a pfx download (aes256_sha256, ...).
-- tokens.id: a random public name of a token, to list and revoke it without its
--   plaintext (never derived from the token or its hash).
-- tokens.last_used_at: when the service last authenticated it (unix seconds, written at
--   most once a minute per token).
ALTER TABLE audit ADD COLUMN peer TEXT;
ALTER TABLE audit ADD COLUMN pfx_encryption TEXT;
ALTER TABLE tokens ADD COLUMN id TEXT;
ALTER TABLE tokens ADD COLUMN last_used_at BIGINT;
UPDATE tokens SET id = lower(hex(randomblob(8))) WHERE id IS NULL;
CREATE UNIQUE INDEX tokens_id ON tokens (id);
