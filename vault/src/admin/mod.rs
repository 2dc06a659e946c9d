//! The administrative operations on a [`Vault`]: import, grants, tokens, client
//! certificates, rekey, the
//! listings, KEK retirement and backup, what the
//! admin command runs (a service only reads and audits). Each is an `impl Vault` block in
//! its own file; here is what grants and tokens share, the principals.

mod backup;
mod client_certificates;
mod grants;
mod import;
mod keks;
mod listing;
mod rekey;
mod tokens;

pub use client_certificates::{
    ClientCertificateInfo, certificate_from_pem, fingerprint_text, parse_fingerprint,
};
pub use grants::{Permission, Scope};
pub use import::{ImportOutcome, check_record};
pub use keks::{KekFile, KekHolder, KekUsage};
pub use listing::{
    CertificateDetail, CertificateInfo, CertificateSummary, GrantInfo, PrincipalInfo,
};
pub use rekey::RekeyReport;
pub(crate) use tokens::is_issued_form;
pub use tokens::{NewToken, TokenInfo};

use crate::db::{now_secs, on_db};
use crate::error::VaultError;
use crate::vault::Vault;

impl Vault {
    async fn ensure_principal(&self, principal: &str) -> Result<(), VaultError> {
        valid_principal(principal)?;
        on_db!(&self.db, pool => {
            sqlx::query(
                "INSERT INTO principals (name, created_at) VALUES ($1, $2) \
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(principal)
            .bind(now_secs())
            .execute(pool)
            .await?;
        });
        Ok(())
    }
}

fn valid_principal(name: &str) -> Result<(), VaultError> {
    if (1..=128).contains(&name.chars().count()) && !name.chars().any(char::is_control) {
        Ok(())
    } else {
        Err(VaultError::Invalid(
            "a principal name is 1 to 128 characters, no control characters".into(),
        ))
    }
}
