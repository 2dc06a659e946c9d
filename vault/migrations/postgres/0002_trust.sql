-- The PostgreSQL dialect of vault/migrations/sqlite/0002_trust.sql (read its comments).
-- The service role needs UPDATE on tokens.last_used_at alone to record a token's last use:
--   GRANT UPDATE (last_used_at) ON tokens TO vault_service;
ALTER TABLE audit ADD COLUMN peer TEXT;
ALTER TABLE audit ADD COLUMN pfx_encryption TEXT;
ALTER TABLE tokens ADD COLUMN id TEXT;
ALTER TABLE tokens ADD COLUMN last_used_at BIGINT;
UPDATE tokens SET id = substr(md5(random()::text || encode(hash, 'hex')), 1, 16) WHERE id IS NULL;
CREATE UNIQUE INDEX tokens_id ON tokens (id);
