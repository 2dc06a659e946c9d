//! The vault: a database pool and the keyring, opened and checked by [`Vault::connect`]
//! or [`Vault::init`]. Its operations are in the modules that use it: downloads in
//! `caller`, the audit trail in `audit`, the administrative operations in `admin`; the
//! tables themselves are `db`'s. Knows nothing of AES: sealing is [`Keyring`]'s.

use std::fmt;
use std::sync::Arc;

use crate::audit::chain::Heads;
use crate::audit::checkpoint::AuditSigner;
use crate::db::{Db, VaultOptions, on_db};
use crate::error::VaultError;
use crate::seal::{Keyring, SharedKeyring};

/// The vault: a database pool and the keyring. Cheap to clone (both are shared).
#[derive(Clone)]
pub struct Vault {
    pub(crate) db: Db,
    /// Permits of the token look-ups ([`Vault::caller`]): fewer than the connections.
    pub(crate) token_lookups: Arc<tokio::sync::Semaphore>,
    /// `None`: opened by [`Vault::connect_without_keks`], for what needs no key.
    pub(crate) keyring: Option<Arc<SharedKeyring>>,
    /// Each audit writer's chain head in this process.
    pub(crate) audit_heads: Arc<Heads>,
    /// The key that signs audit checkpoints, if the vault has one.
    pub(crate) audit_signer: Option<Arc<AuditSigner>>,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.db {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        };
        f.debug_struct("Vault")
            .field("database", &kind)
            .field("keyring", &self.keyring)
            .finish()
    }
}

/// The token look-ups allowed at once on a pool of `connections`: half, at least one.
pub(crate) fn token_lookup_permits(connections: u32) -> usize {
    usize::try_from(connections / 2).unwrap_or(1).max(1)
}

impl Vault {
    /// Opens the vault at `url` (`sqlite://FILE` or `postgres://...`) with the KEKs of
    /// `keyring`, and checks them: each KEK of the file that the vault knows opens its check
    /// value, every KEK a sealed key uses is in the file, and at least one KEK of the file
    /// is the vault's. A wrong or missing KEK file is an error here, not on each download.
    ///
    /// The schema must be there (`init`), unless `options.migrate` is set.
    pub async fn connect(
        url: &str,
        keyring: Keyring,
        options: VaultOptions,
    ) -> Result<Self, VaultError> {
        let mut vault = Self::open_pool(url, Some(keyring), &options).await?;
        if options.migrate {
            vault.db.migrate().await?;
        } else {
            vault.db.require_schema().await?;
        }
        vault.db.check_keks(&*vault.keyring()?).await?;
        if options.migrate {
            vault.db.ensure_audit_key(&*vault.keyring()?).await?;
        }
        vault.audit_signer = vault
            .db
            .audit_signer(&*vault.keyring()?)
            .await?
            .map(Arc::new);
        Ok(vault)
    }

    /// Opens the vault at `url` without any KEK, for what needs none: the listings, grants,
    /// tokens, the audit trail, deleting a certificate. Whoever audits need not hold the
    /// master key. What seals or opens a key (import, rekey, a download of a key) answers
    /// [`VaultError::NeedsKeks`]. The schema must be there (`init`).
    pub async fn connect_without_keks(
        url: &str,
        options: VaultOptions,
    ) -> Result<Self, VaultError> {
        let vault = Self::open_pool(url, None, &options.migrate(false)).await?;
        vault.db.require_schema().await?;
        Ok(vault)
    }

    /// The keyring in use now (a snapshot: a reload does not change it), or
    /// [`VaultError::NeedsKeks`] when the vault was opened without one.
    pub fn keyring(&self) -> Result<Arc<Keyring>, VaultError> {
        Ok(self.shared_keyring()?.current())
    }

    /// The keyring as shared between requests (swapped by a reload).
    pub(crate) fn shared_keyring(&self) -> Result<&SharedKeyring, VaultError> {
        self.keyring.as_deref().ok_or(VaultError::NeedsKeks)
    }

    /// Creates or upgrades the schema (creating a missing SQLite file) and stores a check
    /// value for every KEK of the file that has none; then opens as
    /// [`connect`](Self::connect). Idempotent.
    pub async fn init(
        url: &str,
        keyring: Keyring,
        options: VaultOptions,
    ) -> Result<Self, VaultError> {
        let mut vault = Self::open_pool(url, Some(keyring), &options.clone().migrate(true)).await?;
        vault.db.migrate().await?;
        let keyring = vault.keyring()?;
        let ids: Vec<String> = keyring.ids().map(str::to_owned).collect();
        // A file none of whose KEKs the vault knows is refused, not adopted (unless the
        // vault is new).
        let known = vault.db.known_check_ids().await?;
        if !known.is_empty() && !ids.iter().any(|id| known.contains(id)) {
            return Err(VaultError::UnknownKeks);
        }
        for id in ids {
            vault.db.ensure_check(&keyring, &id).await?;
        }
        vault.db.check_keks(&keyring).await?;
        vault.db.ensure_audit_key(&keyring).await?;
        vault.audit_signer = vault.db.audit_signer(&keyring).await?.map(Arc::new);
        Ok(vault)
    }

    async fn open_pool(
        url: &str,
        keyring: Option<Keyring>,
        options: &VaultOptions,
    ) -> Result<Self, VaultError> {
        let db = Db::open(url, options).await?;
        Ok(Self {
            db,
            token_lookups: Arc::new(tokio::sync::Semaphore::new(token_lookup_permits(
                options.max_connections,
            ))),
            keyring: keyring.map(|k| Arc::new(SharedKeyring::new(k))),
            audit_heads: Arc::default(),
            audit_signer: None,
        })
    }

    /// The ids of the stored certificates, ascending.
    pub async fn certificate_ids(&self) -> Result<Vec<i64>, VaultError> {
        Ok(on_db!(&self.db, pool => {
            sqlx::query_scalar("SELECT id FROM certificates ORDER BY id").fetch_all(pool).await?
        }))
    }

    /// Closes the pool (waits for the connections to close).
    pub async fn close(&self) {
        on_db!(&self.db, pool => pool.close().await);
    }
}
