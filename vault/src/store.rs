//! The store one caller sees: [`AsyncCertificateStore`] over the vault's tables.

use std::fmt;

use cert_download::{
    AsyncCertificateStore, CertificateDer, CertificateId, CertificateRecord, PrivateKeyDer,
    StoreError,
};
use sqlx::Row;

use crate::vault::{Vault, id_i64, now_secs, on_db, sealed_from_row, split_issuers};

/// The vault as one caller sees it (from [`Vault::caller`]).
///
/// Answers, per call (the token is checked again by each one):
///
/// | case | answer |
/// |---|---|
/// | unknown, expired or revoked token | `Unauthenticated` (401) |
/// | no read grant on the id, or no such id | `NotFound` (404): ids cannot be probed |
/// | read grant, no export grant, key asked | `KeyExportForbidden` (403) |
/// | both grants, no key stored | `KeyNotFound` (404 `key_not_found`) |
/// | a sealed key that does not open (tampered, swapped, wrong KEK) | `Backend` (500 `store_failure`), the cause for the host's log, no key bytes |
/// | a stored issuers column that does not split into certificates | `InvalidCertificate` (500) |
///
/// A caller without a read grant gets 404, not 403: the answer for an id it may not read
/// is the answer for an id that does not exist, so grants reveal nothing about other
/// records (the store traits allow either). A key goes out only to a caller with both
/// grants: an export grant alone gives nothing.
#[derive(Clone)]
pub struct VaultStore {
    vault: Vault,
    /// The principal and the token's hash; `None`: not authenticated.
    caller: Option<(String, Vec<u8>)>,
}

impl fmt::Debug for VaultStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultStore")
            .field("principal", &self.principal())
            .finish_non_exhaustive()
    }
}

impl VaultStore {
    pub(crate) fn new(vault: Vault, caller: Option<(String, Vec<u8>)>) -> Self {
        Self { vault, caller }
    }

    /// The principal the token named when the store was made; `None`: the token was
    /// unknown, expired or revoked (every call answers 401).
    pub fn principal(&self) -> Option<&str> {
        self.caller.as_ref().map(|(p, _)| p.as_str())
    }
}

/// The grants part of both queries: 1 when the token's principal holds `permission` on
/// the id (`$2`) or on every certificate (0).
macro_rules! has_grant {
    ($permission:literal) => {
        concat!(
            "CASE WHEN EXISTS (SELECT 1 FROM grants g WHERE g.principal = t.principal \
             AND g.permission = '",
            $permission,
            "' AND g.certificate_id IN (0, $2)) THEN 1 ELSE 0 END"
        )
    };
}

/// The token of the call is still valid: `$1` its hash, `$3` now.
macro_rules! valid_token {
    () => {
        "t.hash = $1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > $3)"
    };
}

/// May read, the leaf, the issuers; no row: the token is not valid.
const CERTIFICATE_QUERY: &str = concat!(
    "SELECT ",
    has_grant!("read"),
    ", c.leaf, c.issuers FROM tokens t LEFT JOIN certificates c ON c.id = $2 WHERE ",
    valid_token!()
);

/// May read, may export, the certificate exists, the sealed key's six columns; no row:
/// the token is not valid.
const KEY_QUERY: &str = concat!(
    "SELECT ",
    has_grant!("read"),
    ", ",
    has_grant!("export_key"),
    ", CASE WHEN c.id IS NULL THEN 0 ELSE 1 END, s.kek_id, s.wrap_nonce, s.wrapped_key, \
     s.key_format, s.key_nonce, s.ciphertext \
     FROM tokens t LEFT JOIN certificates c ON c.id = $2 \
     LEFT JOIN sealed_keys s ON s.certificate_id = c.id WHERE ",
    valid_token!()
);

impl AsyncCertificateStore for VaultStore {
    async fn certificate(&self, id: CertificateId) -> Result<CertificateRecord, StoreError> {
        let Some((_, hash)) = &self.caller else {
            return Err(StoreError::Unauthenticated);
        };
        let row = on_db!(&self.vault.db, pool => {
            sqlx::query(CERTIFICATE_QUERY)
                .bind(hash)
                .bind(id_i64(id))
                .bind(now_secs())
                .fetch_optional(pool)
                .await
                .map_err(StoreError::backend)?
                .map(|row| -> Result<_, sqlx::Error> {
                    Ok((
                        row.try_get::<i32, _>(0)?,
                        row.try_get::<Option<Vec<u8>>, _>(1)?,
                        row.try_get::<Option<Vec<u8>>, _>(2)?,
                    ))
                })
                .transpose()
                .map_err(StoreError::backend)?
        });
        match row {
            None => Err(StoreError::Unauthenticated),
            Some((1, Some(leaf), Some(issuers))) => {
                let issuers = split_issuers(&issuers).ok_or(StoreError::InvalidCertificate)?;
                Ok(CertificateRecord::new(CertificateDer::from(leaf), issuers))
            }
            Some(_) => Err(StoreError::NotFound),
        }
    }

    async fn private_key(&self, id: CertificateId) -> Result<PrivateKeyDer<'static>, StoreError> {
        let Some((_, hash)) = &self.caller else {
            return Err(StoreError::Unauthenticated);
        };
        let row = on_db!(&self.vault.db, pool => {
            sqlx::query(KEY_QUERY)
                .bind(hash)
                .bind(id_i64(id))
                .bind(now_secs())
                .fetch_optional(pool)
                .await
                .map_err(StoreError::backend)?
                .map(|row| -> Result<_, sqlx::Error> {
                    Ok((
                        row.try_get::<i32, _>(0)? == 1,
                        row.try_get::<i32, _>(1)? == 1,
                        row.try_get::<i32, _>(2)? == 1,
                        sealed_from_row(&row, 3)?,
                    ))
                })
                .transpose()
                .map_err(StoreError::backend)?
        });
        let Some((may_read, may_export, present, sealed)) = row else {
            return Err(StoreError::Unauthenticated);
        };
        if !may_read || !present {
            return Err(StoreError::NotFound);
        }
        if !may_export {
            return Err(StoreError::KeyExportForbidden);
        }
        let sealed = sealed.ok_or(StoreError::KeyNotFound)?;
        self.vault
            .keyring
            .open(id, &sealed)
            .map_err(StoreError::backend)
    }
}
