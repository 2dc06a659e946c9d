//! Import: [`check_record`] and [`Vault::import`], which stores a certificate with its
//! sealed key in one transaction.

use cert_download::{
    CertificateId, CertificateRecord, DownloadRequest, Password, PasswordPolicy, Prepared,
    PrivateKeyDer, Zeroizing,
};
use serde::Serialize;
use sqlx::Row;

use crate::db::{id_i64, join_issuers, now_secs, on_db, sealed_from_row};
use crate::error::VaultError;
use crate::vault::Vault;

/// What `import` did with a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportOutcome {
    /// A new record.
    Inserted,
    /// The record was there with other content and was replaced.
    Replaced,
    /// The record was there as given.
    Unchanged,
}

/// Checks a record as the crate checks it before every download: the leaf and each issuer
/// parse as certificates, and the key (if any) is a supported key of the leaf's public key.
/// The vault stores nothing the endpoint would refuse to serve.
pub fn check_record(
    id: CertificateId,
    record: &CertificateRecord,
    key: Option<&PrivateKeyDer<'_>>,
) -> Result<(), cert_download::Error> {
    // A PEM download with the key and the chain runs every check the crate has (the
    // password is only needed to make the request; nothing is encoded).
    let request = match key {
        Some(_) => {
            let password = Password::new("import-check-only", &PasswordPolicy::DEFAULT)?;
            DownloadRequest::pem(id).with_key(password)
        }
        None => DownloadRequest::pem(id),
    };
    let key = key.map(|k| Zeroizing::new(k.clone_key()));
    Prepared::from_record(request, record.clone(), key).map(|_| ())
}

impl Vault {
    /// Stores one record after [`check_record`], in one transaction: the certificate row
    /// and its sealed key appear together or not at all. A record stored with the same
    /// leaf, issuers and key is left as it is; one with other content is replaced.
    pub async fn import(
        &self,
        id: CertificateId,
        record: &CertificateRecord,
        key: Option<&PrivateKeyDer<'_>>,
    ) -> Result<ImportOutcome, VaultError> {
        check_record(id, record, key).map_err(|reason| VaultError::Rejected { id, reason })?;
        let issuers = join_issuers(&record.issuers);
        let n = id_i64(id);
        let now = now_secs();
        let keyring = self.keyring()?;
        let newest = keyring.newest().id().to_owned();
        self.db.ensure_check(keyring, &newest).await?;
        let outcome = on_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let existing = sqlx::query(
                "SELECT c.leaf, c.issuers, s.kek_id, s.wrap_nonce, s.wrapped_key, s.key_format, \
                 s.key_nonce, s.ciphertext FROM certificates c \
                 LEFT JOIN sealed_keys s ON s.certificate_id = c.id WHERE c.id = $1",
            )
            .bind(n)
            .fetch_optional(&mut *tx)
            .await?;
            let outcome = match existing {
                None => ImportOutcome::Inserted,
                Some(row) => {
                    let same_cert = row.try_get::<Vec<u8>, _>(0)? == record.leaf.as_ref()
                        && row.try_get::<Vec<u8>, _>(1)? == issuers;
                    let stored = sealed_from_row(&row, 2)?;
                    let same_key = match (&stored, key) {
                        (None, None) => true,
                        (Some(sealed), Some(key)) => keyring
                            .open(id, sealed)
                            .is_ok_and(|k| Zeroizing::new(k).secret_der() == key.secret_der()),
                        _ => false,
                    };
                    if same_cert && same_key {
                        ImportOutcome::Unchanged
                    } else {
                        ImportOutcome::Replaced
                    }
                }
            };
            if outcome != ImportOutcome::Unchanged {
                sqlx::query(
                    "INSERT INTO certificates (id, leaf, issuers, imported_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (id) DO UPDATE SET leaf = excluded.leaf, issuers = excluded.issuers, \
                     imported_at = excluded.imported_at",
                )
                .bind(n)
                .bind(record.leaf.as_ref())
                .bind(&issuers)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM sealed_keys WHERE certificate_id = $1")
                    .bind(n)
                    .execute(&mut *tx)
                    .await?;
                if let Some(key) = key {
                    let sealed = keyring.seal(id, key)?;
                    sqlx::query(
                        "INSERT INTO sealed_keys (certificate_id, kek_id, wrap_nonce, wrapped_key, \
                         key_format, key_nonce, ciphertext, sealed_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(n)
                    .bind(&sealed.kek_id)
                    .bind(&sealed.wrap_nonce)
                    .bind(&sealed.wrapped_key)
                    .bind(sealed.format.as_str())
                    .bind(&sealed.key_nonce)
                    .bind(&sealed.ciphertext)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
            }
            outcome
        });
        Ok(outcome)
    }
}
