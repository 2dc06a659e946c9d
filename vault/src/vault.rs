//! The database side: connection, schema, KEK checks, the admin operations and the audit
//! trail. Knows nothing of AES: sealing is [`Keyring`]'s.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cert_download::{
    CertificateDer, CertificateId, CertificateRecord, DownloadRequest, Password, PasswordPolicy,
    Prepared, PrivateKeyDer, Zeroizing,
};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::seal::{CheckValue, KeyFormat, Keyring, SealError, SealedKey};
use crate::store::VaultStore;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The pool of one of the two databases.
#[derive(Clone, Debug)]
pub(crate) enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the pool of whichever database this is: the queries
/// are the same text for both (`$1` placeholders work in SQLite and PostgreSQL).
macro_rules! on_db {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            crate::vault::Db::Sqlite($pool) => $body,
            crate::vault::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_db;

/// Why the vault failed. The texts name ids, paths and causes, never key bytes, tokens or
/// passwords.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// The URL is neither `sqlite://` nor `postgres://` (or `postgresql://`).
    #[error("unsupported database URL (use sqlite://FILE or postgres://...)")]
    UnsupportedUrl,

    /// The new SQLite file could not be created.
    #[error("cannot create the SQLite file: {0}")]
    CreateFile(#[source] std::io::Error),
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying the schema failed.
    #[error("schema migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The schema is missing or older than this build: run `init`.
    #[error("the database has no vault schema or an older one: run `cert-download-vault init`")]
    NotInitialized,
    /// The KEK file was refused.
    #[error(transparent)]
    KekFile(#[from] crate::seal::KekFileError),
    /// A KEK of the file does not open its check value: it is not the key this vault was
    /// initialized with.
    #[error("KEK {0:?} of the KEK file is not the KEK of that id this vault was sealed with")]
    KekMismatch(String),
    /// Keys in the database are sealed under a KEK the file does not hold.
    #[error("{count} sealed keys use KEK {kek_id:?}, which the KEK file does not hold")]
    KekMissing {
        /// The KEK id.
        kek_id: String,
        /// How many keys use it.
        count: i64,
    },
    /// None of the file's KEKs was ever used by this vault.
    #[error("the KEK file holds none of the KEKs this vault was initialized with")]
    UnknownKeks,
    /// Sealing or opening a key failed.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// A record failed the crate's checks and was not stored.
    #[error("certificate {id} was refused: {reason}")]
    Rejected {
        /// The record's id.
        id: CertificateId,
        /// The crate's error (its `Display`: never key bytes).
        reason: cert_download::Error,
    },
    /// A bad argument (principal name, id, token).
    #[error("{0}")]
    Invalid(String),
    /// The token is unknown.
    #[error("no such token")]
    UnknownToken,
}

impl VaultError {
    /// A stable snake_case code for scripts.
    pub fn code(&self) -> &'static str {
        match self {
            VaultError::UnsupportedUrl => "unsupported_url",
            VaultError::CreateFile(_) => "create_file",
            VaultError::Database(_) => "database",
            VaultError::Migrate(_) => "migration",
            VaultError::NotInitialized => "not_initialized",
            VaultError::KekFile(_) => "kek_file",
            VaultError::KekMismatch(_) => "kek_mismatch",
            VaultError::KekMissing { .. } => "kek_missing",
            VaultError::UnknownKeks => "unknown_keks",
            VaultError::Seal(_) => "seal",
            VaultError::Rejected { .. } => "rejected",
            VaultError::Invalid(_) => "invalid_argument",
            VaultError::UnknownToken => "unknown_token",
        }
    }
}

impl VaultError {
    /// Whether the database could not be reached or was too busy (connection refused or
    /// lost, no free connection within the acquire timeout, a server shutting down, a
    /// locked or full SQLite file): a condition that passes, where the same call may work
    /// when tried again. A host answers these 503 with `Retry-After`; the rest are faults
    /// of the data or the schema.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, VaultError::Database(e) if sqlx_unavailable(e))
    }
}

/// Whether `error`, or an error in its `source` chain, is a database that could not be
/// reached or was too busy (see [`VaultError::is_unavailable`]). For the `Backend` source
/// of a [`VaultStore`](crate::VaultStore) answer, as the host gets it back from
/// `cert_download::Error::source`.
pub fn is_unavailable(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(sqlx) = e.downcast_ref::<sqlx::Error>() {
            return sqlx_unavailable(sqlx);
        }
        if let Some(vault) = e.downcast_ref::<VaultError>() {
            return vault.is_unavailable();
        }
        current = e.source();
    }
    false
}

fn sqlx_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::BeginFailed => true,
        sqlx::Error::Database(db) => {
            let code = db.code();
            let code = code.as_deref().unwrap_or("");
            match code.parse::<u32>() {
                // SQLite's (extended) result codes: BUSY, LOCKED, IOERR, FULL, CANTOPEN.
                Ok(n) if code.len() < 5 => matches!(n & 0xff, 5 | 6 | 10 | 13 | 14),
                // PostgreSQL's SQLSTATE: connection exceptions (08), insufficient
                // resources (53), operator intervention (57: shutting down, cannot connect
                // now), serialization failure and deadlock (40001, 40P01).
                _ => {
                    code.starts_with("08")
                        || code.starts_with("53")
                        || code.starts_with("57")
                        || matches!(code, "40001" | "40P01")
                }
            }
        }
        _ => false,
    }
}

/// How to connect. `Default`: 10 connections, 5 s to acquire one, no migration at open.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct VaultOptions {
    /// The most connections in the pool.
    pub max_connections: u32,
    /// How long a query waits for a free connection before it fails (a 500 to the caller).
    pub acquire_timeout: Duration,
    /// Apply the schema (and create a missing SQLite file) at open, as `init` does.
    pub migrate: bool,
}

impl Default for VaultOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
            migrate: false,
        }
    }
}

impl VaultOptions {
    /// The pool size.
    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// The wait for a free connection.
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// Whether to apply the schema at open.
    pub fn migrate(mut self, migrate: bool) -> Self {
        self.migrate = migrate;
        self
    }
}

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

/// What `rekey` did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RekeyReport {
    /// The newest KEK of the file, which now wraps the keys.
    pub kek_id: String,
    /// Data keys wrapped anew under the newest KEK by this run.
    pub rewrapped: u64,
    /// Keys changed by someone else while this run read them (left for the next run).
    pub skipped: u64,
    /// Keys not under the newest KEK after this run.
    pub remaining: i64,
}

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

/// One row of the audit trail, as the host records it: never a password, a token or key
/// bytes (no field can hold one).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// When (unix milliseconds); `None`: now.
    pub at_ms: Option<i64>,
    /// The authenticated principal, if any.
    pub principal: Option<String>,
    /// The certificate asked for, if the request named one.
    pub certificate_id: Option<i64>,
    /// The format asked for (`pfx`, `pem`, `crt`, `p7b`).
    pub format: Option<String>,
    /// Whether a private key went out.
    pub key_out: bool,
    /// The HTTP status answered.
    pub status: u16,
    /// The error code answered (`forbidden`, `key_not_found`, ...), if any.
    pub error: Option<String>,
    /// The client's address.
    pub client: Option<String>,
    /// The name of the service instance that answered.
    pub instance: Option<String>,
}

/// A stored audit row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditRow {
    /// Its sequence number.
    pub id: i64,
    /// The entry.
    #[serde(flatten)]
    pub entry: AuditEntry,
}

/// Which audit rows to list.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    /// From this time on (unix milliseconds, inclusive).
    pub since_ms: Option<i64>,
    /// Before this time (unix milliseconds, exclusive).
    pub until_ms: Option<i64>,
    /// Of this principal.
    pub principal: Option<String>,
    /// About this certificate.
    pub certificate_id: Option<i64>,
}

pub(crate) fn id_i64(id: CertificateId) -> i64 {
    // CertificateId is at most 2^63-1.
    i64::try_from(id.get()).unwrap_or(i64::MAX)
}

pub(crate) fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The stored hash of a bearer token: SHA-256 of its UTF-8 bytes.
pub(crate) fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The issuers column: each DER certificate after the other.
fn join_issuers(issuers: &[CertificateDer<'_>]) -> Vec<u8> {
    issuers
        .iter()
        .flat_map(|c| c.as_ref().iter().copied())
        .collect()
}

/// Splits the issuers column back into certificates by their DER lengths; `None` if it
/// does not split into whole DER elements.
pub(crate) fn split_issuers(mut bytes: &[u8]) -> Option<Vec<CertificateDer<'static>>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let len = der_element_len(bytes)?;
        let (one, rest) = bytes.split_at_checked(len)?;
        out.push(CertificateDer::from(one.to_vec()));
        bytes = rest;
    }
    Some(out)
}

/// The length of the DER element (tag, length, content) at the start of `bytes`.
fn der_element_len(bytes: &[u8]) -> Option<usize> {
    let first = *bytes.get(1)?;
    let (header, content) = if first < 0x80 {
        (2, usize::from(first))
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let len = bytes
            .get(2..2 + n)?
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (2 + n, len)
    };
    header.checked_add(content)
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

/// The vault: a database pool and the keyring. Cheap to clone (both are shared).
#[derive(Clone)]
pub struct Vault {
    pub(crate) db: Db,
    pub(crate) keyring: Arc<Keyring>,
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

/// Creates a new SQLite file readable and writable by its owner only (0600), as the KEK file
/// must be: it holds sealed keys and token hashes, and SQLite gives its `-wal` and `-shm`
/// files the database file's mode. An existing file is left as it is.
fn create_owner_only(path: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if path.as_os_str().is_empty() || path == std::path::Path::new(":memory:") {
        return Ok(());
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Err(error) if error.kind() != std::io::ErrorKind::AlreadyExists => Err(error),
        _ => Ok(()),
    }
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
        let vault = Self::open_pool(url, keyring, &options).await?;
        if options.migrate {
            vault.migrate().await?;
        } else {
            vault.require_schema().await?;
        }
        vault.check_keks().await?;
        Ok(vault)
    }

    /// Creates or upgrades the schema (creating a missing SQLite file) and stores a check
    /// value for every KEK of the file that has none; then opens as
    /// [`connect`](Self::connect). Idempotent.
    pub async fn init(
        url: &str,
        keyring: Keyring,
        options: VaultOptions,
    ) -> Result<Self, VaultError> {
        let vault = Self::open_pool(url, keyring, &options.clone().migrate(true)).await?;
        vault.migrate().await?;
        let ids: Vec<String> = vault.keyring.ids().map(str::to_owned).collect();
        // A file none of whose KEKs the vault knows is refused, not adopted (unless the
        // vault is new).
        let known = vault.known_check_ids().await?;
        if !known.is_empty() && !ids.iter().any(|id| known.contains(id)) {
            return Err(VaultError::UnknownKeks);
        }
        for id in ids {
            vault.ensure_check(&id).await?;
        }
        vault.check_keks().await?;
        Ok(vault)
    }

    async fn open_pool(
        url: &str,
        keyring: Keyring,
        options: &VaultOptions,
    ) -> Result<Self, VaultError> {
        let db = if url.starts_with("sqlite:") {
            let connect = SqliteConnectOptions::from_str(url)?
                .create_if_missing(options.migrate)
                .foreign_keys(true)
                .journal_mode(SqliteJournalMode::Wal)
                // FULL: a committed audit row or import survives a power cut, not only a crash.
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(options.acquire_timeout);
            if options.migrate {
                create_owner_only(connect.get_filename()).map_err(VaultError::CreateFile)?;
            }
            Db::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(options.max_connections)
                    .test_before_acquire(false)
                    .acquire_timeout(options.acquire_timeout)
                    .connect_with(connect)
                    .await?,
            )
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let connect = PgConnectOptions::from_str(url)?;
            Db::Postgres(
                PgPoolOptions::new()
                    .max_connections(options.max_connections)
                    .test_before_acquire(false)
                    .acquire_timeout(options.acquire_timeout)
                    .connect_with(connect)
                    .await?,
            )
        } else {
            return Err(VaultError::UnsupportedUrl);
        };
        Ok(Self {
            db,
            keyring: Arc::new(keyring),
        })
    }

    async fn migrate(&self) -> Result<(), VaultError> {
        match &self.db {
            Db::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await?,
            Db::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await?,
        }
        Ok(())
    }

    /// Every migration of this build is applied.
    async fn require_schema(&self) -> Result<(), VaultError> {
        let (migrator, applied): (&sqlx::migrate::Migrator, Result<Vec<i64>, sqlx::Error>) =
            match &self.db {
                Db::Sqlite(pool) => (
                    &SQLITE_MIGRATIONS,
                    sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                        .fetch_all(pool)
                        .await,
                ),
                Db::Postgres(pool) => (
                    &POSTGRES_MIGRATIONS,
                    sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                        .fetch_all(pool)
                        .await,
                ),
            };
        let applied = applied.map_err(|_| VaultError::NotInitialized)?;
        if migrator.iter().all(|m| applied.contains(&m.version)) {
            Ok(())
        } else {
            Err(VaultError::NotInitialized)
        }
    }

    async fn known_check_ids(&self) -> Result<Vec<String>, VaultError> {
        Ok(on_db!(&self.db, pool => {
            sqlx::query_scalar("SELECT kek_id FROM kek_checks").fetch_all(pool).await?
        }))
    }

    /// Stores a check value for KEK `kek_id` unless it has one.
    pub(crate) async fn ensure_check(&self, kek_id: &str) -> Result<(), VaultError> {
        let check = self.keyring.check_value(kek_id)?;
        on_db!(&self.db, pool => {
            sqlx::query(
                "INSERT INTO kek_checks (kek_id, nonce, sealed, created_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (kek_id) DO NOTHING",
            )
            .bind(&check.kek_id)
            .bind(&check.nonce)
            .bind(&check.sealed)
            .bind(now_secs())
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    async fn check_keks(&self) -> Result<(), VaultError> {
        let rows = on_db!(&self.db, pool => {
            sqlx::query("SELECT kek_id, nonce, sealed FROM kek_checks").fetch_all(pool).await?
                .into_iter()
                .map(|row| Ok(CheckValue {
                    kek_id: row.try_get(0)?,
                    nonce: row.try_get(1)?,
                    sealed: row.try_get(2)?,
                }))
                .collect::<Result<Vec<_>, sqlx::Error>>()?
        });
        let mut any_known = false;
        for check in &rows {
            match self.keyring.verify_check(check) {
                Some(true) => any_known = true,
                Some(false) => return Err(VaultError::KekMismatch(check.kek_id.clone())),
                None => {}
            }
        }
        let used = on_db!(&self.db, pool => {
            sqlx::query("SELECT kek_id, COUNT(*) FROM sealed_keys GROUP BY kek_id")
                .fetch_all(pool).await?
                .into_iter()
                .map(|row| Ok((row.try_get::<String, _>(0)?, row.try_get::<i64, _>(1)?)))
                .collect::<Result<Vec<_>, sqlx::Error>>()?
        });
        for (kek_id, count) in used {
            if !self.keyring.contains(&kek_id) {
                return Err(VaultError::KekMissing { kek_id, count });
            }
            if !rows.iter().any(|c| c.kek_id == kek_id) {
                return Err(VaultError::KekMismatch(kek_id));
            }
        }
        if !rows.is_empty() && !any_known {
            return Err(VaultError::UnknownKeks);
        }
        Ok(())
    }

    /// The store seen by the caller that `token` names: every call checks the token again
    /// (a revoked or expired token stops working at once). An unknown, expired or revoked
    /// token gives a store that answers every call `Unauthenticated` (401);
    /// [`VaultStore::principal`] is then `None`, for a host that answers 401 before it
    /// reads the body.
    pub async fn caller(&self, token: &str) -> Result<VaultStore, VaultError> {
        let hash = token_hash(token);
        let principal: Option<String> = on_db!(&self.db, pool => {
            sqlx::query_scalar(
                "SELECT principal FROM tokens WHERE hash = $1 AND revoked_at IS NULL \
                 AND (expires_at IS NULL OR expires_at > $2)",
            )
            .bind(&hash)
            .bind(now_secs())
            .fetch_optional(pool)
            .await?
        });
        Ok(VaultStore::new(self.clone(), principal.map(|p| (p, hash))))
    }

    /// Records one download in the audit trail; returns once the row is committed.
    pub async fn record_audit(&self, entry: &AuditEntry) -> Result<(), VaultError> {
        let at = entry.at_ms.unwrap_or_else(now_ms);
        on_db!(&self.db, pool => {
            sqlx::query(
                "INSERT INTO audit (at_ms, principal, certificate_id, format, key_out, status, \
                 error, client, instance) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(at)
            .bind(&entry.principal)
            .bind(entry.certificate_id)
            .bind(&entry.format)
            .bind(entry.key_out)
            .bind(i32::from(entry.status))
            .bind(&entry.error)
            .bind(&entry.client)
            .bind(&entry.instance)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The audit rows that match `filter`, oldest first.
    pub async fn audit(&self, filter: &AuditFilter) -> Result<Vec<AuditRow>, VaultError> {
        let rows = on_db!(&self.db, pool => {
            sqlx::query(
                "SELECT id, at_ms, principal, certificate_id, format, key_out, status, error, \
                 client, instance FROM audit \
                 WHERE ($1 IS NULL OR at_ms >= $1) AND ($2 IS NULL OR at_ms < $2) \
                 AND ($3 IS NULL OR principal = $3) AND ($4 IS NULL OR certificate_id = $4) \
                 ORDER BY id",
            )
            .bind(filter.since_ms)
            .bind(filter.until_ms)
            .bind(&filter.principal)
            .bind(filter.certificate_id)
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(|row| {
                Ok(AuditRow {
                    id: row.try_get(0)?,
                    entry: AuditEntry {
                        at_ms: row.try_get(1)?,
                        principal: row.try_get(2)?,
                        certificate_id: row.try_get(3)?,
                        format: row.try_get(4)?,
                        key_out: row.try_get(5)?,
                        status: u16::try_from(row.try_get::<i32, _>(6)?).unwrap_or(0),
                        error: row.try_get(7)?,
                        client: row.try_get(8)?,
                        instance: row.try_get(9)?,
                    },
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?
        });
        Ok(rows)
    }

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
        let keyring = &self.keyring;
        let newest = keyring.newest().id().to_owned();
        self.ensure_check(&newest).await?;
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

    /// Rewraps every data key that is not under the newest KEK, in batches of `batch` rows,
    /// each row its own atomic update (compare-and-swap on the old wrapping, so a key that
    /// an import replaced meanwhile is left alone). Downloads go on meanwhile: a row is
    /// under its old KEK or its new one, and the file holds both. Stopped at any point
    /// (a crash included), a new run picks up the rows still under an old KEK.
    pub async fn rekey(&self, batch: u32) -> Result<RekeyReport, VaultError> {
        let newest = self.keyring.newest().id().to_owned();
        self.ensure_check(&newest).await?;
        let batch = i64::from(batch.max(1));
        let mut report = RekeyReport {
            kek_id: newest.clone(),
            ..RekeyReport::default()
        };
        let mut after = 0i64;
        loop {
            let rows = on_db!(&self.db, pool => {
                sqlx::query(
                    "SELECT certificate_id, kek_id, wrap_nonce, wrapped_key FROM sealed_keys \
                     WHERE kek_id <> $1 AND certificate_id > $2 ORDER BY certificate_id LIMIT $3",
                )
                .bind(&newest)
                .bind(after)
                .bind(batch)
                .fetch_all(pool)
                .await?
                .into_iter()
                .map(|row| Ok((
                    row.try_get::<i64, _>(0)?,
                    row.try_get::<String, _>(1)?,
                    row.try_get::<Vec<u8>, _>(2)?,
                    row.try_get::<Vec<u8>, _>(3)?,
                )))
                .collect::<Result<Vec<_>, sqlx::Error>>()?
            });
            if rows.is_empty() {
                break;
            }
            for (n, kek_id, wrap_nonce, wrapped_key) in rows {
                after = n;
                let id = CertificateId::new(u64::try_from(n).unwrap_or(0))
                    .ok_or_else(|| VaultError::Invalid(format!("stored id {n} is out of range")))?;
                // Only the wrapping is read and rewritten: the key ciphertext stays.
                let Some(new) = self
                    .keyring
                    .rewrap(id, &kek_id, &wrap_nonce, &wrapped_key)?
                else {
                    continue;
                };
                let changed = on_db!(&self.db, pool => {
                    sqlx::query(
                        "UPDATE sealed_keys SET kek_id = $1, wrap_nonce = $2, wrapped_key = $3 \
                         WHERE certificate_id = $4 AND kek_id = $5 AND wrapped_key = $6",
                    )
                    .bind(&new.kek_id)
                    .bind(&new.wrap_nonce)
                    .bind(&new.wrapped_key)
                    .bind(n)
                    .bind(&kek_id)
                    .bind(&wrapped_key)
                    .execute(pool)
                    .await?
                    .rows_affected()
                });
                if changed == 1 {
                    report.rewrapped += 1;
                } else {
                    report.skipped += 1;
                }
            }
        }
        report.remaining = on_db!(&self.db, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM sealed_keys WHERE kek_id <> $1")
                .bind(&newest)
                .fetch_one(pool)
                .await?
        });
        Ok(report)
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

fn valid_principal(name: &str) -> Result<(), VaultError> {
    if (1..=128).contains(&name.chars().count()) && !name.chars().any(char::is_control) {
        Ok(())
    } else {
        Err(VaultError::Invalid(
            "a principal name is 1 to 128 characters, no control characters".into(),
        ))
    }
}

/// The sealed key in columns `first..first+6` of a row (kek_id, wrap_nonce, wrapped_key,
/// key_format, key_nonce, ciphertext); `None` when the LEFT JOIN found none.
pub(crate) fn sealed_from_row<R>(row: &R, first: usize) -> Result<Option<SealedKey>, sqlx::Error>
where
    R: Row,
    usize: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Vec<u8>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let Some(kek_id) = row.try_get::<Option<String>, _>(first)? else {
        return Ok(None);
    };
    let format_name: String = row.try_get(first + 3)?;
    let format = KeyFormat::from_name(&format_name).ok_or_else(|| sqlx::Error::ColumnDecode {
        index: "key_format".into(),
        source: "an unknown key format".into(),
    })?;
    Ok(Some(SealedKey {
        kek_id,
        wrap_nonce: row.try_get(first + 1)?,
        wrapped_key: row.try_get(first + 2)?,
        format,
        key_nonce: row.try_get(first + 4)?,
        ciphertext: row.try_get(first + 5)?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unavailable_is_the_database_not_the_data() {
        let io = |kind| sqlx::Error::Io(std::io::Error::from(kind));
        for e in [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            io(std::io::ErrorKind::ConnectionRefused),
            io(std::io::ErrorKind::ConnectionReset),
        ] {
            assert!(VaultError::Database(e).is_unavailable());
        }
        for e in [
            VaultError::Database(sqlx::Error::RowNotFound),
            VaultError::NotInitialized,
            VaultError::UnknownToken,
        ] {
            assert!(!e.is_unavailable(), "{e}");
        }
        // Found through a source chain, as a host gets it from cert_download::Error.
        let store = cert_download::StoreError::backend(sqlx::Error::PoolTimedOut);
        let id = CertificateId::new(1).unwrap();
        let error = store.into_error(id);
        assert!(is_unavailable(std::error::Error::source(&error).unwrap()));
        let broken = cert_download::StoreError::backend(sqlx::Error::RowNotFound).into_error(id);
        assert!(!is_unavailable(std::error::Error::source(&broken).unwrap()));
    }

    #[test]
    fn issuers_column_round_trip() {
        let a = CertificateDer::from(vec![0x30, 0x03, 1, 2, 3]);
        let mut long = vec![0x30, 0x82, 0x01, 0x00];
        long.extend(std::iter::repeat_n(7u8, 256));
        let b = CertificateDer::from(long);
        let joined = join_issuers(&[a.clone(), b.clone()]);
        assert_eq!(split_issuers(&joined), Some(vec![a, b]));
        assert_eq!(split_issuers(&[]), Some(vec![]));
        assert_eq!(split_issuers(&joined[..joined.len() - 1]), None);
        assert_eq!(split_issuers(&[0x30]), None);
    }
}
