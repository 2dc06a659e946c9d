//! Bearer tokens: [`Vault::create_token`] shows a new token once and stores its SHA-256
//! beside a random public id; [`Vault::tokens`] lists them by id (never the hash);
//! [`Vault::revoke_token`], [`Vault::revoke_token_id`] and
//! [`Vault::revoke_principal_tokens`] stop them, the last two without the plaintext.

use std::fmt;
use std::time::Duration;

use cert_download::Zeroizing;
use serde::Serialize;

use crate::db::{now_secs, on_db, token_hash};
use crate::error::VaultError;
use crate::seal::SealError;
use crate::vault::Vault;

/// The length of an issued token: `cdv_` and 43 base64url characters (256 bits).
pub(crate) const TOKEN_LEN: usize = 4 + 43;

/// Whether `token` has the form the vault issues (`cdv_` and 43 base64url characters).
/// Anything else cannot be a token of the vault and is refused without a query.
pub(crate) fn is_issued_form(token: &str) -> bool {
    token.len() == TOKEN_LEN
        && token.starts_with("cdv_")
        && token.as_bytes()[4..]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

/// A new bearer token: shown once, stored only as its SHA-256.
#[derive(Serialize)]
#[non_exhaustive]
pub struct NewToken {
    /// The token, `cdv_` and 43 characters of base64url (256 random bits), in a buffer
    /// wiped when dropped.
    #[serde(serialize_with = "secret_str")]
    pub token: Zeroizing<String>,
    /// Its public id, for `token list` and `token revoke --id` (not derived from the
    /// token).
    pub id: String,
    /// Its principal.
    pub principal: String,
    /// When it stops working (unix seconds), if ever.
    pub expires_at: Option<i64>,
}

fn secret_str<S: serde::Serializer>(value: &Zeroizing<String>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(value)
}

impl fmt::Debug for NewToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewToken")
            .field("token", &"[redacted]")
            .field("id", &self.id)
            .field("principal", &self.principal)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A stored token as `token list` shows it: its id and times, never the token or its hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TokenInfo {
    /// Its public id.
    pub id: String,
    /// Its principal.
    pub principal: String,
    /// When it was created (unix seconds).
    pub created_at: i64,
    /// When it stops working (unix seconds), if ever.
    pub expires_at: Option<i64>,
    /// When it was revoked (unix seconds), if it was.
    pub revoked_at: Option<i64>,
    /// When the service last authenticated it (unix seconds, to the minute), if ever.
    pub last_used_at: Option<i64>,
}

/// A fresh public token id: 64 random bits in hex.
fn new_token_id() -> Result<String, VaultError> {
    let mut raw = [0u8; 8];
    getrandom::fill(&mut raw).map_err(|_| SealError::Random)?;
    Ok(raw.iter().map(|b| format!("{b:02x}")).collect())
}

impl Vault {
    /// Creates a bearer token for `principal` (created if new), valid for `expires_in`
    /// (or until revoked). The token is returned once; only its SHA-256 is stored.
    pub async fn create_token(
        &self,
        principal: &str,
        expires_in: Option<Duration>,
    ) -> Result<NewToken, VaultError> {
        use base64::Engine;
        self.ensure_principal(principal).await?;
        let mut raw = Zeroizing::new([0u8; 32]);
        getrandom::fill(raw.as_mut()).map_err(|_| SealError::Random)?;
        // Sized for the whole token up front: appending never moves (and so never leaves
        // behind) a copy of it.
        let mut token = Zeroizing::new(String::with_capacity(TOKEN_LEN));
        token.push_str("cdv_");
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_string(raw.as_ref(), &mut token);
        let id = new_token_id()?;
        let now = now_secs();
        let expires_at =
            expires_in.map(|d| now.saturating_add(i64::try_from(d.as_secs()).unwrap_or(i64::MAX)));
        on_db!(&self.db, pool => {
            sqlx::query(
                "INSERT INTO tokens (hash, principal, created_at, expires_at, id) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(token_hash(&token))
            .bind(principal)
            .bind(now)
            .bind(expires_at)
            .bind(&id)
            .execute(pool)
            .await?;
        });
        Ok(NewToken {
            token,
            id,
            principal: principal.to_owned(),
            expires_at,
        })
    }

    /// The tokens of `principal`, oldest first: ids and times, never a hash.
    pub async fn tokens(&self, principal: &str) -> Result<Vec<TokenInfo>, VaultError> {
        use sqlx::Row;
        let rows = on_db!(&self.db, pool => {
            sqlx::query(
                "SELECT id, principal, created_at, expires_at, revoked_at, last_used_at \
                 FROM tokens WHERE principal = $1 ORDER BY created_at, id",
            )
            .bind(principal)
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(|row| {
                Ok(TokenInfo {
                    id: row.try_get::<Option<String>, _>(0)?.unwrap_or_default(),
                    principal: row.try_get(1)?,
                    created_at: row.try_get(2)?,
                    expires_at: row.try_get(3)?,
                    revoked_at: row.try_get(4)?,
                    last_used_at: row.try_get(5)?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?
        });
        Ok(rows)
    }

    /// Revokes a token. `Ok(false)`: it was revoked already. An unknown token is an error.
    pub async fn revoke_token(&self, token: &str) -> Result<bool, VaultError> {
        let hash = token_hash(token);
        let changed = on_db!(&self.db, pool => {
            sqlx::query("UPDATE tokens SET revoked_at = $2 WHERE hash = $1 AND revoked_at IS NULL")
                .bind(&hash)
                .bind(now_secs())
                .execute(pool)
                .await?
                .rows_affected()
        });
        if changed > 0 {
            return Ok(true);
        }
        let exists: Option<i64> = on_db!(&self.db, pool => {
            sqlx::query_scalar("SELECT created_at FROM tokens WHERE hash = $1")
                .bind(&hash)
                .fetch_optional(pool)
                .await?
        });
        match exists {
            Some(_) => Ok(false),
            None => Err(VaultError::UnknownToken),
        }
    }

    /// Revokes the token of id `id` (from [`tokens`](Self::tokens)). `Ok(false)`: it was
    /// revoked already. An unknown id is an error.
    pub async fn revoke_token_id(&self, id: &str) -> Result<bool, VaultError> {
        let changed = on_db!(&self.db, pool => {
            sqlx::query("UPDATE tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                .bind(id)
                .bind(now_secs())
                .execute(pool)
                .await?
                .rows_affected()
        });
        if changed > 0 {
            return Ok(true);
        }
        let exists: Option<i64> = on_db!(&self.db, pool => {
            sqlx::query_scalar("SELECT created_at FROM tokens WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        match exists {
            Some(_) => Ok(false),
            None => Err(VaultError::UnknownToken),
        }
    }

    /// Revokes every token of `principal` not yet revoked; returns how many.
    pub async fn revoke_principal_tokens(&self, principal: &str) -> Result<u64, VaultError> {
        Ok(on_db!(&self.db, pool => {
            sqlx::query(
                "UPDATE tokens SET revoked_at = $2 WHERE principal = $1 AND revoked_at IS NULL",
            )
            .bind(principal)
            .bind(now_secs())
            .execute(pool)
            .await?
            .rows_affected()
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::is_issued_form;

    #[test]
    fn only_the_issued_form_is_a_token() {
        let good = format!("cdv_{}", "A".repeat(42) + "_");
        assert!(is_issued_form(&good));
        assert!(is_issued_form(&format!("cdv_{}", "-9z".repeat(14) + "Q")));
        for bad in [
            String::new(),
            "cdv_".into(),
            format!("cdv_{}", "A".repeat(42)),
            format!("cdv_{}", "A".repeat(44)),
            format!("cdx_{}", "A".repeat(43)),
            format!("cdv_{}", "A".repeat(42) + "="),
            format!("cdv_{}", "A".repeat(42) + "+"),
            format!("cdv_{}", "A".repeat(41) + "é"),
        ] {
            assert!(!is_issued_form(&bad), "{bad:?}");
        }
    }
}
