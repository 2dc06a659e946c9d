//! Grants: which principal may read or export the key of which certificates
//! ([`Permission`], [`Scope`], [`Vault::grant`], [`Vault::revoke`]).

use cert_download::CertificateId;
use serde::Serialize;

use crate::db::{id_i64, now_secs, on_db};
use crate::error::VaultError;
use crate::vault::Vault;

/// A permission a grant gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Download the certificate and its chain.
    Read,
    /// Export its private key (together with `Read`).
    ExportKey,
}

impl Permission {
    fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::ExportKey => "export_key",
        }
    }
}

/// Which certificates a grant covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every certificate, present and future.
    All,
    /// These certificates.
    Ids(Vec<CertificateId>),
}

impl Scope {
    /// The stored certificate ids: 0 stands for every certificate.
    fn stored_ids(&self) -> Vec<i64> {
        match self {
            Scope::All => vec![0],
            Scope::Ids(ids) => ids.iter().map(|id| id_i64(*id)).collect(),
        }
    }
}

impl Vault {
    /// Grants `permission` on `scope` to `principal` (created if new). Returns how many
    /// grants were added (0 when all were there).
    pub async fn grant(
        &self,
        principal: &str,
        permission: Permission,
        scope: &Scope,
    ) -> Result<u64, VaultError> {
        self.ensure_principal(principal).await?;
        let mut added = 0;
        for n in scope.stored_ids() {
            added += on_db!(&self.db, pool => {
                sqlx::query(
                    "INSERT INTO grants (principal, permission, certificate_id, granted_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                )
                .bind(principal)
                .bind(permission.as_str())
                .bind(n)
                .bind(now_secs())
                .execute(pool)
                .await?
                .rows_affected()
            });
        }
        Ok(added)
    }

    /// Takes `permission` on `scope` from `principal`. [`Scope::All`] removes every grant
    /// of that permission (the grant on all certificates and those on single ones).
    /// Returns how many grants were removed.
    pub async fn revoke(
        &self,
        principal: &str,
        permission: Permission,
        scope: &Scope,
    ) -> Result<u64, VaultError> {
        let removed = match scope {
            Scope::All => on_db!(&self.db, pool => {
                sqlx::query("DELETE FROM grants WHERE principal = $1 AND permission = $2")
                    .bind(principal)
                    .bind(permission.as_str())
                    .execute(pool)
                    .await?
                    .rows_affected()
            }),
            Scope::Ids(_) => {
                let mut removed = 0;
                for n in scope.stored_ids() {
                    removed += on_db!(&self.db, pool => {
                        sqlx::query(
                            "DELETE FROM grants WHERE principal = $1 AND permission = $2 \
                             AND certificate_id = $3",
                        )
                        .bind(principal)
                        .bind(permission.as_str())
                        .bind(n)
                        .execute(pool)
                        .await?
                        .rows_affected()
                    });
                }
                removed
            }
        };
        Ok(removed)
    }
}
