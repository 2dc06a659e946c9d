-- How each download's key went out (`password`, `cms` to a recipient's certificate, `kwp`
-- for an HSM or KMS import; NULL when no key did) and, for a recipient, the SHA-256 of its
-- certificate's DER in lowercase hex, as `openssl x509 -fingerprint -sha256` prints it
-- without the colons.
ALTER TABLE audit ADD COLUMN key_delivery TEXT;
ALTER TABLE audit ADD COLUMN recipient_sha256 TEXT;
