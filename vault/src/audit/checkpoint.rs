//! Signed checkpoints: for every writer, its last sequence number and head hash, with the
//! time, signed with the vault's Ed25519 audit key. A checkpoint is one JSON line, stored in
//! the insert-only `audit_checkpoints` table and, by the service, appended to a file that
//! can be shipped elsewhere. The signature covers a byte string rebuilt from the line's
//! fields (never the JSON text), written down in the crate documentation.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::db::{Db, now_secs, on_db};
use crate::error::VaultError;
use crate::seal::{Keyring, SealedAuditKey};
use crate::vault::Vault;

const CHECKPOINT_LABEL: &[u8] = b"cert-download-vault/v1 audit-checkpoint\0";

/// One writer's place in a checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointWriter {
    /// The writer (the service instance's name).
    pub writer: String,
    /// Its last sequence number when the checkpoint was made.
    pub seq: i64,
    /// That row's `row_hash`, lowercase hex.
    pub head: String,
}

/// A signed checkpoint, as one JSON line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// When it was made (unix milliseconds).
    pub at_ms: i64,
    /// Who made it (the instance name, or `cert-download-vault` for the admin command).
    pub signer: String,
    /// Every writer's head, ordered by name (bytes).
    pub writers: Vec<CheckpointWriter>,
    /// The Ed25519 public key that signed it, standard base64.
    pub public_key: String,
    /// The Ed25519 signature of [`Checkpoint::signed_bytes`], standard base64.
    pub signature: String,
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

fn put_text(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(&u32::try_from(text.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(text.as_bytes());
}

/// Why a checkpoint line does not vouch for anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CheckpointFault {
    /// Not a checkpoint (bad JSON, a head that is not 32 bytes of hex).
    Malformed,
    /// Signed by a key other than the one the verifier trusts.
    OtherKey,
    /// The signature does not verify under the trusted key.
    BadSignature,
}

impl Checkpoint {
    /// The bytes the signature covers:
    /// label | at_ms (8, big-endian) | len(signer) (4) | signer | count (4) |
    /// per writer: len(writer) (4) | writer | seq (8) | head (32).
    /// `None` when a head is not 32 bytes of hex.
    pub fn signed_bytes(&self) -> Option<Vec<u8>> {
        let mut out = CHECKPOINT_LABEL.to_vec();
        out.extend_from_slice(&self.at_ms.to_be_bytes());
        put_text(&mut out, &self.signer);
        out.extend_from_slice(
            &u32::try_from(self.writers.len())
                .unwrap_or(u32::MAX)
                .to_be_bytes(),
        );
        for w in &self.writers {
            put_text(&mut out, &w.writer);
            out.extend_from_slice(&w.seq.to_be_bytes());
            let head = unhex(&w.head).filter(|h| h.len() == 32)?;
            out.extend_from_slice(&head);
        }
        Some(out)
    }

    /// The JSON line (without its newline).
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Checks the signature against `trusted` (the audit public key).
    pub(crate) fn check(&self, trusted: &VerifyingKey) -> Result<(), CheckpointFault> {
        let message = self.signed_bytes().ok_or(CheckpointFault::Malformed)?;
        let key = STANDARD
            .decode(&self.public_key)
            .map_err(|_| CheckpointFault::Malformed)?;
        if key.as_slice() != trusted.as_bytes() {
            return Err(CheckpointFault::OtherKey);
        }
        let signature = STANDARD
            .decode(&self.signature)
            .ok()
            .and_then(|s| Signature::from_slice(&s).ok())
            .ok_or(CheckpointFault::BadSignature)?;
        trusted
            .verify(&message, &signature)
            .map_err(|_| CheckpointFault::BadSignature)
    }
}

/// The audit signing key of a vault, opened under the KEK. Wiped when dropped (dalek's
/// `zeroize`); its `Debug` shows the public key only.
pub(crate) struct AuditSigner {
    key: SigningKey,
}

impl fmt::Debug for AuditSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditSigner")
            .field(
                "public_key",
                &STANDARD.encode(self.key.verifying_key().as_bytes()),
            )
            .finish_non_exhaustive()
    }
}

/// The public key in standard base64: how it is stored, printed and compared.
pub(crate) fn public_key_text(key: &VerifyingKey) -> String {
    STANDARD.encode(key.as_bytes())
}

/// Parses a public key as `audit public-key` prints it.
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, VaultError> {
    let bytes: [u8; 32] = STANDARD
        .decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            VaultError::Invalid("the audit public key is not 32 bytes of standard base64".into())
        })?;
    VerifyingKey::from_bytes(&bytes)
        .map_err(|_| VaultError::Invalid("the audit public key is not an Ed25519 point".into()))
}

impl Db {
    /// The newest audit signing key's public key and sealed seed, if the vault has one.
    async fn newest_audit_key(&self) -> Result<Option<(String, SealedAuditKey)>, VaultError> {
        let row = on_db!(self, pool => {
            sqlx::query(
                "SELECT public_key, kek_id, nonce, sealed FROM audit_signing_keys \
                 ORDER BY created_at DESC, public_key LIMIT 1",
            )
            .fetch_optional(pool)
            .await?
            .map(|row| -> Result<_, sqlx::Error> {
                Ok((row.try_get::<String, _>(0)?, SealedAuditKey {
                    kek_id: row.try_get(1)?,
                    nonce: row.try_get(2)?,
                    sealed: row.try_get(3)?,
                }))
            })
            .transpose()?
        });
        Ok(row)
    }

    /// Opens the newest audit signing key; `None` when the vault has none (`init` makes it).
    pub(crate) async fn audit_signer(
        &self,
        keyring: &Keyring,
    ) -> Result<Option<AuditSigner>, VaultError> {
        let Some((public, sealed)) = self.newest_audit_key().await? else {
            return Ok(None);
        };
        let public = parse_public_key(&public)?;
        let seed = keyring
            .open_audit_key(&sealed, public.as_bytes())?
            .ok_or(VaultError::AuditKeyDoesNotOpen)?;
        let key = SigningKey::from_bytes(&seed);
        if key.verifying_key() != public {
            return Err(VaultError::AuditKeyDoesNotOpen);
        }
        Ok(Some(AuditSigner { key }))
    }

    /// Creates an audit signing key, sealed under the newest KEK, unless the vault has one.
    pub(crate) async fn ensure_audit_key(&self, keyring: &Keyring) -> Result<(), VaultError> {
        if self.newest_audit_key().await?.is_some() {
            return Ok(());
        }
        let mut seed = zeroize::Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut_slice()).map_err(|_| crate::seal::SealError::Random)?;
        let key = SigningKey::from_bytes(&seed);
        let public = key.verifying_key();
        let sealed = keyring.seal_audit_key(&seed, public.as_bytes())?;
        on_db!(self, pool => {
            sqlx::query(
                "INSERT INTO audit_signing_keys (public_key, kek_id, nonce, sealed, created_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (public_key) DO NOTHING",
            )
            .bind(public_key_text(&public))
            .bind(&sealed.kek_id)
            .bind(&sealed.nonce)
            .bind(&sealed.sealed)
            .bind(now_secs())
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Rewraps every audit signing key not under the newest KEK (part of `rekey`).
    pub(crate) async fn rekey_audit_keys(&self, keyring: &Keyring) -> Result<u64, VaultError> {
        let newest = keyring.newest().id().to_owned();
        let rows = on_db!(self, pool => {
            sqlx::query(
                "SELECT public_key, kek_id, nonce, sealed FROM audit_signing_keys \
                 WHERE kek_id <> $1",
            )
            .bind(&newest)
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(|row| -> Result<_, sqlx::Error> {
                Ok((row.try_get::<String, _>(0)?, SealedAuditKey {
                    kek_id: row.try_get(1)?,
                    nonce: row.try_get(2)?,
                    sealed: row.try_get(3)?,
                }))
            })
            .collect::<Result<Vec<_>, _>>()?
        });
        let mut moved = 0;
        for (public_text, sealed) in rows {
            let public = parse_public_key(&public_text)?;
            let seed = keyring
                .open_audit_key(&sealed, public.as_bytes())?
                .ok_or(VaultError::AuditKeyDoesNotOpen)?;
            let new = keyring.seal_audit_key(&seed, public.as_bytes())?;
            on_db!(self, pool => {
                moved += sqlx::query(
                    "UPDATE audit_signing_keys SET kek_id = $1, nonce = $2, sealed = $3 \
                     WHERE public_key = $4 AND kek_id = $5",
                )
                .bind(&new.kek_id)
                .bind(&new.nonce)
                .bind(&new.sealed)
                .bind(&public_text)
                .bind(&sealed.kek_id)
                .execute(pool)
                .await?
                .rows_affected();
            });
        }
        Ok(moved)
    }

    /// Every writer's last sequence number and row hash, as committed now.
    async fn chain_heads(&self) -> Result<Vec<CheckpointWriter>, VaultError> {
        let mut heads = on_db!(self, pool => {
            sqlx::query(
                "SELECT a.writer, a.seq, a.row_hash FROM audit a JOIN \
                 (SELECT writer, MAX(seq) AS seq FROM audit WHERE seq IS NOT NULL \
                  GROUP BY writer) m ON a.writer = m.writer AND a.seq = m.seq",
            )
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(|row| -> Result<_, sqlx::Error> {
                Ok(CheckpointWriter {
                    writer: row.try_get(0)?,
                    seq: row.try_get(1)?,
                    head: hex(&row.try_get::<Vec<u8>, _>(2)?),
                })
            })
            .collect::<Result<Vec<_>, _>>()?
        });
        heads.sort_by(|a, b| a.writer.as_bytes().cmp(b.writer.as_bytes()));
        Ok(heads)
    }
}

impl Vault {
    /// Makes a signed checkpoint of every writer's head, stores it in `audit_checkpoints`
    /// and returns it (its [`Checkpoint::to_line`] is what a checkpoint file holds).
    /// `signer` names who made it.
    pub async fn audit_checkpoint(&self, signer: &str) -> Result<Checkpoint, VaultError> {
        let key = self.audit_signer.as_ref().ok_or(VaultError::NoAuditKey)?;
        let writers = self.db.chain_heads().await?;
        let mut checkpoint = Checkpoint {
            at_ms: super::now_ms(),
            signer: signer.to_owned(),
            writers,
            public_key: public_key_text(&key.key.verifying_key()),
            signature: String::new(),
        };
        let message = checkpoint.signed_bytes().ok_or(VaultError::Invalid(
            "a stored row hash is not 32 bytes".into(),
        ))?;
        checkpoint.signature = STANDARD.encode(key.key.sign(&message).to_bytes());
        let line = checkpoint.to_line();
        on_db!(&self.db, pool => {
            sqlx::query("INSERT INTO audit_checkpoints (at_ms, line) VALUES ($1, $2)")
                .bind(checkpoint.at_ms)
                .bind(&line)
                .execute(pool)
                .await?;
        });
        Ok(checkpoint)
    }

    /// The public key of the audit signing key (standard base64), if the vault has one.
    pub fn audit_public_key(&self) -> Option<String> {
        self.audit_signer
            .as_ref()
            .map(|s| public_key_text(&s.key.verifying_key()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signer_debug_shows_no_secret() {
        let key = SigningKey::from_bytes(&[9u8; 32]);
        let text = format!("{:?}", AuditSigner { key: key.clone() });
        assert!(text.contains(&public_key_text(&key.verifying_key())));
        assert!(!text.contains(&hex(&[9u8; 32])));
        assert!(!text.contains(&STANDARD.encode([9u8; 32])));
    }

    #[test]
    fn a_checkpoint_verifies_under_its_key_only() {
        let key = SigningKey::from_bytes(&[1u8; 32]);
        let other = SigningKey::from_bytes(&[2u8; 32]);
        let mut c = Checkpoint {
            at_ms: 5,
            signer: "a".into(),
            writers: vec![CheckpointWriter {
                writer: "a".into(),
                seq: 3,
                head: hex(&[4; 32]),
            }],
            public_key: public_key_text(&key.verifying_key()),
            signature: String::new(),
        };
        c.signature = STANDARD.encode(key.sign(&c.signed_bytes().unwrap()).to_bytes());
        assert_eq!(c.check(&key.verifying_key()), Ok(()));
        assert_eq!(
            c.check(&other.verifying_key()),
            Err(CheckpointFault::OtherKey)
        );
        let mut changed = c.clone();
        changed.writers[0].seq = 2;
        assert_eq!(
            changed.check(&key.verifying_key()),
            Err(CheckpointFault::BadSignature)
        );
        let mut bad = c.clone();
        bad.writers[0].head = "zz".into();
        assert_eq!(
            bad.check(&key.verifying_key()),
            Err(CheckpointFault::Malformed)
        );
    }
}
