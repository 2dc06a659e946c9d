//! Bearer tokens: [`Vault::create_token`] shows a new token once and stores its SHA-256;
//! [`Vault::revoke_token`] stops it.

use std::fmt;
use std::time::Duration;

use cert_download::Zeroizing;
use serde::Serialize;

use crate::db::{now_secs, on_db, token_hash};
use crate::error::VaultError;
use crate::seal::SealError;
use crate::vault::Vault;

/// A new bearer token: shown once, stored only as its SHA-256.
#[derive(Serialize)]
pub struct NewToken {
    /// The token, `cdv_` and 43 characters of base64url (256 random bits).
    pub token: String,
    /// Its principal.
    pub principal: String,
    /// When it stops working (unix seconds), if ever.
    pub expires_at: Option<i64>,
}

impl fmt::Debug for NewToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewToken")
            .field("token", &"[redacted]")
            .field("principal", &self.principal)
            .field("expires_at", &self.expires_at)
            .finish()
    }
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
        let token = format!(
            "cdv_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw.as_ref())
        );
        let now = now_secs();
        let expires_at =
            expires_in.map(|d| now.saturating_add(i64::try_from(d.as_secs()).unwrap_or(i64::MAX)));
        on_db!(&self.db, pool => {
            sqlx::query(
                "INSERT INTO tokens (hash, principal, created_at, expires_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(token_hash(&token))
            .bind(principal)
            .bind(now)
            .bind(expires_at)
            .execute(pool)
            .await?;
        });
        Ok(NewToken {
            token,
            principal: principal.to_owned(),
            expires_at,
        })
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
}
