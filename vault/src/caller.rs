//! The store one caller sees: [`Vault::caller`] checks a bearer token (and
//! [`Vault::caller_by_client_certificate`] a verified client certificate's fingerprint)
//! and gives a [`VaultStore`], the [`AsyncCertificateStore`] over the vault's tables for
//! that caller.
//! Downloads go through here only; it builds on [`Vault`] and the row codec, and nothing
//! below it knows of it.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cert_download::{
    AsyncCertificateStore, CertificateDer, CertificateId, CertificateRecord, PrivateKeyDer,
    StoreError,
};
use sqlx::Row;

use crate::db::{Db, id_i64, now_secs, on_db, sealed_from_row, split_issuers, token_hash};
use crate::error::VaultError;
use crate::seal::SealedKey;
use crate::vault::Vault;

/// The vault as one caller sees it (from [`Vault::caller`] or
/// [`Vault::caller_by_client_certificate`]).
///
/// Answers, per call (the credential is checked again by each one):
///
/// | case | answer |
/// |---|---|
/// | unknown, expired or revoked token; client certificate not (or no longer) registered | `Unauthenticated` (401) |
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
///
/// One query answers both calls of a download: `certificate` reads the record, the
/// caller's grants and the sealed key in one snapshot, and keeps the key's answer for a
/// `private_key` of the same id that follows within a second (once). So a keyed download
/// costs one database round trip, and its key is the key of the leaf it returned even if
/// an import replaces the record meanwhile. `private_key` on its own queries (and checks)
/// everything itself.
pub struct VaultStore {
    vault: Vault,
    /// The principal and its credential; `None`: not authenticated.
    caller: Option<(String, Credential)>,
    /// The key's answer read with the last `certificate`.
    prefetched: Mutex<Option<Prefetched>>,
}

/// What a caller authenticated with, as each store call checks it again.
#[derive(Clone)]
enum Credential {
    /// The SHA-256 of a bearer token (`tokens.hash`).
    Token(Vec<u8>),
    /// The SHA-256 of a client certificate's DER (`client_certificates.fingerprint`).
    Certificate([u8; 32]),
}

impl Credential {
    fn kind(&self) -> &'static str {
        match self {
            Credential::Token(_) => "token",
            Credential::Certificate(_) => "certificate",
        }
    }
}

/// How long a key read with `certificate` stands in for `private_key`'s own query.
const PREFETCH_TTL: Duration = Duration::from_secs(1);

struct Prefetched {
    id: CertificateId,
    at: Instant,
    /// `None`: no export grant.
    key: Option<Option<SealedKey>>,
}

impl Clone for VaultStore {
    fn clone(&self) -> Self {
        Self::new(self.vault.clone(), self.caller.clone())
    }
}

impl fmt::Debug for VaultStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultStore")
            .field("principal", &self.principal())
            .finish_non_exhaustive()
    }
}

impl VaultStore {
    fn new(vault: Vault, caller: Option<(String, Credential)>) -> Self {
        Self {
            vault,
            caller,
            prefetched: Mutex::new(None),
        }
    }

    /// The principal the credential named when the store was made; `None`: the token was
    /// unknown, expired or revoked, or the client certificate not registered (every call
    /// answers 401).
    pub fn principal(&self) -> Option<&str> {
        self.caller.as_ref().map(|(p, _)| p.as_str())
    }

    /// How the caller authenticated, as the audit trail's `credential` column says it:
    /// `token` or `certificate`; `None` when not authenticated.
    pub fn credential(&self) -> Option<&'static str> {
        self.caller.as_ref().map(|(_, c)| c.kind())
    }

    /// Everything the caller may know about `id`, in one query. Drops any snapshot first:
    /// only the latest `certificate` call's snapshot may serve, and only if it succeeded.
    async fn lookup(&self, id: CertificateId) -> Result<Lookup, StoreError> {
        if let Ok(mut slot) = self.prefetched.lock() {
            *slot = None;
        }
        let Some((_, credential)) = &self.caller else {
            return Err(StoreError::Unauthenticated);
        };
        let sqlite = matches!(&self.vault.db, Db::Sqlite(_));
        let row = on_db!(&self.vault.db, pool => {
            let query = match credential {
                Credential::Token(hash) => {
                    sqlx::query(if sqlite { QUERY_SQLITE } else { QUERY_POSTGRES })
                        .bind(hash.as_slice())
                        .bind(id_i64(id))
                        .bind(now_secs())
                }
                Credential::Certificate(fingerprint) => {
                    sqlx::query(if sqlite {
                        CERTIFICATE_QUERY_SQLITE
                    } else {
                        CERTIFICATE_QUERY_POSTGRES
                    })
                    .bind(fingerprint.as_slice())
                    .bind(id_i64(id))
                }
            };
            query
                .fetch_optional(pool)
                .await
                .map_err(StoreError::backend)?
                .map(|row| -> Result<_, sqlx::Error> {
                    Ok(Lookup {
                        may_read: row.try_get::<i32, _>(0)? == 1,
                        may_export: row.try_get::<i32, _>(1)? == 1,
                        leaf: row.try_get(2)?,
                        issuers: row.try_get(3)?,
                        sealed: sealed_from_row(&row, 4)?,
                    })
                })
                .transpose()
                .map_err(StoreError::backend)?
        });
        // No row: the token is not (or no longer) valid, or the certificate not registered.
        let lookup = row.ok_or(StoreError::Unauthenticated)?;
        if !lookup.may_read || lookup.leaf.is_none() {
            return Err(StoreError::NotFound);
        }
        Ok(lookup)
    }

    async fn open(
        &self,
        id: CertificateId,
        key: Option<Option<SealedKey>>,
    ) -> Result<PrivateKeyDer<'static>, StoreError> {
        let sealed = key
            .ok_or(StoreError::KeyExportForbidden)?
            .ok_or(StoreError::KeyNotFound)?;
        self.vault
            .open_sealed(id, &sealed)
            .await
            .map_err(StoreError::backend)
    }
}

struct Lookup {
    may_read: bool,
    may_export: bool,
    leaf: Option<Vec<u8>>,
    issuers: Option<Vec<u8>>,
    sealed: Option<SealedKey>,
}

impl Lookup {
    /// The key's answer: `None` without an export grant, else the sealed key if any.
    fn key(self) -> Option<Option<SealedKey>> {
        self.may_export.then_some(self.sealed)
    }
}

/// The grants part of the query: true when the caller's principal holds `permission` on
/// the id (`$id`) or on every certificate (0).
macro_rules! has_grant {
    ($permission:literal, $id:literal) => {
        concat!(
            "EXISTS (SELECT 1 FROM grants g WHERE g.principal = t.principal \
             AND g.permission = '",
            $permission,
            "' AND g.certificate_id IN (0, ",
            $id,
            "))"
        )
    };
}

/// May read, may export, the leaf, the issuers, the sealed key's six columns, for the
/// credential row `t` of `$table` that `$where` selects (no row: no such credential) and
/// the id `$2`, which `$id` spells (see [`QUERY_SQLITE`]). The credential is a token
/// ([`token_lookup!`]) or a client certificate ([`certificate_lookup!`]).
///
/// The grants are conditions of the joins, not only columns of the answer: without a
/// read grant the certificate's row is not joined (its bytes are not read or sent), and
/// without an export grant the sealed key's row is not, so that an id the caller may not
/// read costs what an absent id costs, and its timing tells nothing.
macro_rules! lookup_query {
    ($table:literal, $id:literal, $where:expr) => {
        concat!(
            "SELECT CASE WHEN ",
            has_grant!("read", $id),
            " THEN 1 ELSE 0 END, CASE WHEN ",
            has_grant!("export_key", $id),
            " THEN 1 ELSE 0 END, c.leaf, c.issuers, s.kek_id, s.wrap_nonce, s.wrapped_key, \
             s.key_format, s.key_nonce, s.ciphertext FROM ",
            $table,
            " t LEFT JOIN certificates c ON c.id = ",
            $id,
            " AND ",
            has_grant!("read", $id),
            " LEFT JOIN sealed_keys s ON s.certificate_id = c.id AND ",
            has_grant!("export_key", $id),
            " WHERE ",
            $where
        )
    };
}

/// The lookup by the token of hash `$1` (spelt `$hash`), valid at `$3`.
macro_rules! token_lookup {
    ($hash:literal, $id:literal) => {
        lookup_query!(
            "tokens",
            $id,
            concat!(
                "t.hash = ",
                $hash,
                " AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > $3)"
            )
        )
    };
}

/// The lookup by the client certificate of fingerprint `$1` (spelt `$fingerprint`):
/// registered or not, nothing more (its chain and dates are the TLS handshake's).
macro_rules! certificate_lookup {
    ($fingerprint:literal, $id:literal) => {
        lookup_query!(
            "client_certificates",
            $id,
            concat!("t.fingerprint = ", $fingerprint)
        )
    };
}

/// The lookup for PostgreSQL.
const QUERY_POSTGRES: &str = token_lookup!("$1", "$2");

/// The lookup by client certificate for PostgreSQL.
const CERTIFICATE_QUERY_POSTGRES: &str = certificate_lookup!("$1", "$2");

/// The lookup by client certificate for SQLite (`+`: see [`QUERY_SQLITE`]).
const CERTIFICATE_QUERY_SQLITE: &str = certificate_lookup!("+$1", "+$2");

/// The lookup for SQLite: the same query with `+$1` and `+$2` (unary plus: the same value)
/// in its two `column = parameter` terms. Spelt `column = $N` in a join, SQLite (3.54:
/// `whereLoopOutputAdjust`) marks the statement as one whose plan may depend on the
/// parameter's value, and sqlx clears the bindings (`sqlite3_clear_bindings`) before each
/// execution, which expires a statement so marked: every execution parsed and planned the
/// SQL again (`sqlite3Reprepare` inside `sqlite3_step`, twice the CPU of the query itself;
/// `perf/benches/vault.rs` times both spellings). With `+`, the cached statement runs as
/// prepared, with the same plan (each table searched by its primary key). The token query
/// of [`Vault::caller`] reads one table by a unique key and is not marked.
#[doc(hidden)]
pub const QUERY_SQLITE: &str = token_lookup!("+$1", "+$2");

impl AsyncCertificateStore for VaultStore {
    async fn certificate(&self, id: CertificateId) -> Result<CertificateRecord, StoreError> {
        let mut lookup = self.lookup(id).await?;
        let (Some(leaf), Some(issuers)) = (lookup.leaf.take(), lookup.issuers.take()) else {
            return Err(StoreError::NotFound);
        };
        let issuers = split_issuers(&issuers).ok_or(StoreError::InvalidCertificate)?;
        if let Ok(mut slot) = self.prefetched.lock() {
            *slot = Some(Prefetched {
                id,
                at: Instant::now(),
                key: lookup.key(),
            });
        }
        Ok(CertificateRecord::new(CertificateDer::from(leaf), issuers))
    }

    async fn private_key(&self, id: CertificateId) -> Result<PrivateKeyDer<'static>, StoreError> {
        if self.caller.is_none() {
            return Err(StoreError::Unauthenticated);
        }
        let prefetched = self
            .prefetched
            .lock()
            .ok()
            .and_then(|mut slot| slot.take())
            .filter(|p| p.id == id && p.at.elapsed() < PREFETCH_TTL);
        let key = match prefetched {
            Some(p) => p.key,
            None => self.lookup(id).await?.key(),
        };
        self.open(id, key).await
    }
}

/// How stale a token's `last_used_at` may get before a look-up writes it again: a write
/// per token per minute at most, not one per request.
const LAST_USE_RESOLUTION_SECS: i64 = 60;

impl Vault {
    /// The store seen by the caller that `token` names: every call checks the token again
    /// (a revoked or expired token stops working at once). An unknown, expired or revoked
    /// token gives a store that answers every call `Unauthenticated` (401);
    /// [`VaultStore::principal`] is then `None`, for a host that answers 401 before it
    /// reads the body.
    ///
    /// A token not of the form the vault issues (`cdv_` and 43 base64url characters) is
    /// answered so without a query. The others take a permit of the token look-ups, fewer
    /// than the pool's connections (half of them, at least one): a flood of made-up
    /// tokens waits for permits and leaves connections to the callers already known.
    /// A valid token's last use is written when the stored one is over a minute old (on
    /// PostgreSQL the service role needs `UPDATE (last_used_at)` on `tokens` for it; without
    /// it the look-up still succeeds and the time is not kept).
    pub async fn caller(&self, token: &str) -> Result<VaultStore, VaultError> {
        if !crate::admin::is_issued_form(token) {
            return Ok(VaultStore::new(self.clone(), None));
        }
        let hash = token_hash(token);
        let _permit = self
            .token_lookups
            .acquire()
            .await
            .map_err(|_| VaultError::Database(sqlx::Error::PoolClosed))?;
        let now = now_secs();
        let found: Option<(String, Option<i64>)> = on_db!(&self.db, pool => {
            sqlx::query_as(
                "SELECT principal, last_used_at FROM tokens WHERE hash = $1 \
                 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)",
            )
            .bind(&hash)
            .bind(now)
            .fetch_optional(pool)
            .await?
        });
        let Some((principal, last_used)) = found else {
            return Ok(VaultStore::new(self.clone(), None));
        };
        if last_used.is_none_or(|at| now.saturating_sub(at) >= LAST_USE_RESOLUTION_SECS) {
            // Best effort: the answer does not depend on it (see above).
            let _: Result<_, sqlx::Error> = on_db!(&self.db, pool => {
                sqlx::query("UPDATE tokens SET last_used_at = $2 WHERE hash = $1")
                    .bind(&hash)
                    .bind(now)
                    .execute(pool)
                    .await
                    .map(|_| ())
            });
        }
        Ok(VaultStore::new(
            self.clone(),
            Some((principal, Credential::Token(hash))),
        ))
    }

    /// The store seen by the caller whose client certificate has SHA-256 `fingerprint`
    /// (of its DER), as registered with [`Vault::add_client_certificate`]: the same store
    /// as [`caller`](Self::caller) gives for a token, so the principal's grants apply
    /// alike. The host must have verified the certificate first (the TLS handshake: chain
    /// to its client CA, dates, and proof of the key); the vault only says whose it is.
    ///
    /// Looked up now, and again by every store call (no cache): a certificate removed with
    /// `principal remove-cert` stops working from the next request. Not registered: a
    /// store that answers every call `Unauthenticated` (401), [`VaultStore::principal`]
    /// `None`. Takes a permit of the look-ups, as a token does.
    pub async fn caller_by_client_certificate(
        &self,
        fingerprint: &[u8; 32],
    ) -> Result<VaultStore, VaultError> {
        let _permit = self
            .token_lookups
            .acquire()
            .await
            .map_err(|_| VaultError::Database(sqlx::Error::PoolClosed))?;
        let found: Option<String> = on_db!(&self.db, pool => {
            sqlx::query_scalar("SELECT principal FROM client_certificates WHERE fingerprint = $1")
                .bind(fingerprint.as_slice())
                .fetch_optional(pool)
                .await?
        });
        Ok(VaultStore::new(
            self.clone(),
            found.map(|principal| (principal, Credential::Certificate(*fingerprint))),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::{
        CERTIFICATE_QUERY_POSTGRES, CERTIFICATE_QUERY_SQLITE, QUERY_POSTGRES, QUERY_SQLITE,
    };

    #[test]
    fn both_dialects_ask_the_same_query() {
        assert_eq!(QUERY_SQLITE.matches("+$").count(), 6);
        assert_eq!(QUERY_SQLITE.replace("+$", "$"), QUERY_POSTGRES);
        assert_eq!(CERTIFICATE_QUERY_SQLITE.matches("+$").count(), 6);
        assert_eq!(
            CERTIFICATE_QUERY_SQLITE.replace("+$", "$"),
            CERTIFICATE_QUERY_POSTGRES
        );
    }

    #[test]
    fn both_credentials_ask_the_same_grants_and_joins() {
        let (select, token) = QUERY_POSTGRES.split_once(" FROM tokens t ").unwrap();
        let (same, certificate) = CERTIFICATE_QUERY_POSTGRES
            .split_once(" FROM client_certificates t ")
            .unwrap();
        assert_eq!(select, same);
        let joins = |q: &str| q.split_once(" WHERE t.").unwrap().0.to_owned();
        assert_eq!(joins(token), joins(certificate));
        assert!(certificate.ends_with("WHERE t.fingerprint = $1"));
    }
}
