//! What the vault holds, for an operator to see: [`Vault::principals`], [`Vault::grants`],
//! [`Vault::certificates`], [`Vault::certificate`], and [`Vault::delete_certificate`]. None
//! of them needs a KEK, and none reads key bytes: a listing says whether a key is there
//! and which KEK wraps it, never more.

use cert_download::CertificateId;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::audit::AuditEntry;
use crate::db::{id_i64, on_db, split_issuers};
use crate::error::VaultError;
use crate::vault::Vault;

/// A principal and what it holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PrincipalInfo {
    /// Its name.
    pub name: String,
    /// When it was created (unix seconds).
    pub created_at: i64,
    /// How many grants it has.
    pub grants: i64,
    /// How many of its tokens still work (neither revoked nor expired).
    pub active_tokens: i64,
    /// The fingerprints (`sha256:<hex>`) of its client certificates, oldest first.
    pub client_certificates: Vec<String>,
}

/// One grant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GrantInfo {
    /// The principal.
    pub principal: String,
    /// `read` or `export_key`.
    pub permission: String,
    /// The certificate id; `None`: every certificate.
    pub certificate_id: Option<i64>,
    /// When it was granted (unix seconds).
    pub granted_at: i64,
}

/// A stored certificate as a listing shows it (no key bytes).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CertificateInfo {
    /// Its id.
    pub id: i64,
    /// The leaf's subject (RFC 4514), `None` if the stored leaf does not parse.
    pub subject: Option<String>,
    /// The leaf's issuer (RFC 4514).
    pub issuer: Option<String>,
    /// The leaf's notAfter (unix seconds).
    pub not_after: Option<i64>,
    /// The SHA-256 of the leaf's DER, hex.
    pub sha256: String,
    /// How many issuer certificates are stored with it.
    pub chain_length: usize,
    /// Whether a sealed private key is stored.
    pub key: bool,
    /// The KEK that wraps the key.
    pub kek_id: Option<String>,
    /// When it was imported (unix seconds).
    pub imported_at: i64,
}

/// A certificate in full: the listing's fields and each stored issuer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CertificateDetail {
    /// The listing's fields.
    #[serde(flatten)]
    pub info: CertificateInfo,
    /// The stored key's encoding (`pkcs8`, `pkcs1`, `sec1`).
    pub key_format: Option<String>,
    /// When the key was sealed (unix seconds).
    pub sealed_at: Option<i64>,
    /// The issuers, in stored order: each one's subject, issuer, notAfter and SHA-256.
    pub issuers: Vec<CertificateSummary>,
}

/// What a listing says of one certificate's DER.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CertificateSummary {
    /// The subject (RFC 4514), `None` if the DER does not parse.
    pub subject: Option<String>,
    /// The issuer (RFC 4514).
    pub issuer: Option<String>,
    /// notAfter (unix seconds).
    pub not_after: Option<i64>,
    /// The SHA-256 of the DER, hex.
    pub sha256: String,
}

fn summary(der: &[u8]) -> CertificateSummary {
    use x509_cert::der::Decode;
    let sha256 = Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    match x509_cert::Certificate::from_der(der) {
        Ok(cert) => {
            let tbs = cert.tbs_certificate();
            CertificateSummary {
                subject: Some(tbs.subject().to_string()),
                issuer: Some(tbs.issuer().to_string()),
                not_after: i64::try_from(tbs.validity().not_after.to_unix_duration().as_secs())
                    .ok(),
                sha256,
            }
        }
        Err(_) => CertificateSummary {
            subject: None,
            issuer: None,
            not_after: None,
            sha256,
        },
    }
}

/// The certificates with their key's KEK, format and time (never its bytes), then `$tail`.
macro_rules! certificate_query {
    ($tail:literal) => {
        concat!(
            "SELECT c.id, c.leaf, c.issuers, c.imported_at, s.kek_id, s.key_format, \
             s.sealed_at FROM certificates c \
             LEFT JOIN sealed_keys s ON s.certificate_id = c.id ",
            $tail
        )
    };
}

type CertificateRow = (
    i64,
    Vec<u8>,
    Vec<u8>,
    i64,
    Option<String>,
    Option<String>,
    Option<i64>,
);

fn detail(row: CertificateRow) -> CertificateDetail {
    let (id, leaf, issuers, imported_at, kek_id, key_format, sealed_at) = row;
    let leaf_summary = summary(&leaf);
    let issuers: Vec<CertificateSummary> = split_issuers(&issuers)
        .unwrap_or_default()
        .iter()
        .map(|c| summary(c.as_ref()))
        .collect();
    CertificateDetail {
        info: CertificateInfo {
            id,
            subject: leaf_summary.subject,
            issuer: leaf_summary.issuer,
            not_after: leaf_summary.not_after,
            sha256: leaf_summary.sha256,
            chain_length: issuers.len(),
            key: kek_id.is_some(),
            kek_id,
            imported_at,
        },
        key_format,
        sealed_at,
        issuers,
    }
}

impl Vault {
    /// Every principal with its number of grants and working tokens and its client
    /// certificates' fingerprints, by name.
    pub async fn principals(&self) -> Result<Vec<PrincipalInfo>, VaultError> {
        let now = crate::db::now_secs();
        let mut certificates: std::collections::HashMap<String, Vec<String>> =
            std::collections::HashMap::new();
        for cert in self.client_certificates(None).await? {
            certificates
                .entry(cert.principal)
                .or_default()
                .push(cert.fingerprint);
        }
        let mut principals = on_db!(&self.db, pool => {
            sqlx::query(
                "SELECT p.name, p.created_at, \
                 (SELECT COUNT(*) FROM grants g WHERE g.principal = p.name), \
                 (SELECT COUNT(*) FROM tokens t WHERE t.principal = p.name \
                  AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > $1)) \
                 FROM principals p ORDER BY p.name",
            )
            .bind(now)
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(|row| Ok(PrincipalInfo {
                name: row.try_get(0)?,
                created_at: row.try_get(1)?,
                grants: row.try_get(2)?,
                active_tokens: row.try_get(3)?,
                client_certificates: Vec::new(),
            }))
            .collect::<Result<Vec<_>, sqlx::Error>>()?
        });
        for principal in &mut principals {
            principal.client_certificates =
                certificates.remove(&principal.name).unwrap_or_default();
        }
        Ok(principals)
    }

    /// The grants, of one principal or of all, by principal, permission and id.
    pub async fn grants(&self, principal: Option<&str>) -> Result<Vec<GrantInfo>, VaultError> {
        Ok(on_db!(&self.db, pool => {
            sqlx::query(
                "SELECT principal, permission, certificate_id, granted_at FROM grants \
                 WHERE $1 IS NULL OR principal = $1 \
                 ORDER BY principal, permission, certificate_id",
            )
            .bind(principal)
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(|row| {
                let id: i64 = row.try_get(2)?;
                Ok(GrantInfo {
                    principal: row.try_get(0)?,
                    permission: row.try_get(1)?,
                    certificate_id: (id != 0).then_some(id),
                    granted_at: row.try_get(3)?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?
        }))
    }

    /// Every stored certificate, by id (no key bytes: whether a key is there, and its KEK).
    pub async fn certificates(&self) -> Result<Vec<CertificateInfo>, VaultError> {
        let rows = on_db!(&self.db, pool => {
            sqlx::query_as::<_, CertificateRow>(certificate_query!("ORDER BY c.id"))
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().map(|row| detail(row).info).collect())
    }

    /// One stored certificate with its chain; [`VaultError::UnknownCertificate`] if absent.
    pub async fn certificate(&self, id: CertificateId) -> Result<CertificateDetail, VaultError> {
        let row = on_db!(&self.db, pool => {
            sqlx::query_as::<_, CertificateRow>(certificate_query!("WHERE c.id = $1"))
                .bind(id_i64(id))
                .fetch_optional(pool)
                .await?
        });
        row.map(detail)
            .ok_or(VaultError::UnknownCertificate(id.get()))
    }

    /// Deletes a certificate and its sealed key (grants naming it go too). Final. The audit
    /// trail records it first (`error` = `certificate_deleted`, principal `operator`, the
    /// given `operator` name in `client`), so a deletion is never missing from the trail;
    /// [`VaultError::UnknownCertificate`] if absent.
    pub async fn delete_certificate(
        &self,
        id: CertificateId,
        operator: &str,
    ) -> Result<(), VaultError> {
        let n = id_i64(id);
        let exists: Option<i64> = on_db!(&self.db, pool => {
            sqlx::query_scalar("SELECT id FROM certificates WHERE id = $1")
                .bind(n)
                .fetch_optional(pool)
                .await?
        });
        if exists.is_none() {
            return Err(VaultError::UnknownCertificate(id.get()));
        }
        self.record_audit(&AuditEntry {
            principal: Some("operator".into()),
            certificate_id: Some(n),
            status: 200,
            error: Some("certificate_deleted".into()),
            client: Some(operator.to_owned()),
            instance: Some("cert-download-vault".into()),
            ..AuditEntry::default()
        })
        .await?;
        on_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM sealed_keys WHERE certificate_id = $1")
                .bind(n)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM grants WHERE certificate_id = $1")
                .bind(n)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM certificates WHERE id = $1")
                .bind(n)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }
}
