//! Test databases: a SQLite file in a temporary directory, or a fresh database on the
//! PostgreSQL cluster of CERT_DOWNLOAD_POSTGRES_URL; each with its own KEK file.

use std::path::{Path, PathBuf};

use cert_download::{CertificateId, CertificateStore, DirectoryStore, StoreError, Zeroizing};
use cert_download_vault::{Keyring, Vault, VaultOptions};
use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;
use sqlx::{AssertSqlSafe, Row};
use tempfile::TempDir;

/// Which database a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in a temporary directory.
    Sqlite,
    /// A fresh database on the cluster of CERT_DOWNLOAD_POSTGRES_URL.
    Postgres,
}

/// Generates `mod sqlite` and `mod postgres` with one tokio test per name, each calling
/// `super::<name>(Backend)`; the PostgreSQL ones are ignored without a cluster.
#[macro_export]
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::vault_db::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[cfg_attr(
                    not(postgres_cluster),
                    ignore = "needs PostgreSQL: set CERT_DOWNLOAD_POSTGRES_URL (scripts/test-all starts a throwaway cluster)"
                )]
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::vault_db::Backend::Postgres).await
                }
            )*
        }
    };
}

/// A test's own database, not yet initialised, and its KEK file.
pub struct TestDb {
    /// SQLite or PostgreSQL.
    pub backend: Backend,
    /// The `--database` URL.
    pub url: String,
    /// The temporary directory holding the KEK file (and the SQLite file).
    pub dir: TempDir,
    /// A KEK file with one fresh KEK.
    pub kek_file: PathBuf,
    /// The SQLite file.
    pub file: Option<PathBuf>,
}

fn random_name() -> String {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).unwrap();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The admin URL of the PostgreSQL cluster (CERT_DOWNLOAD_POSTGRES_URL).
pub fn postgres_url() -> String {
    std::env::var("CERT_DOWNLOAD_POSTGRES_URL")
        .expect("CERT_DOWNLOAD_POSTGRES_URL names a PostgreSQL cluster")
}

/// `url` with its database name replaced.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[after_scheme..]
        .find('/')
        .map_or(base.len(), |i| after_scheme + i);
    format!("{}/{name}{query}", &base[..host_end])
}

impl TestDb {
    /// A new KEK file and an empty database (a new database on the cluster for PostgreSQL).
    pub async fn new(backend: Backend) -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let kek_file = dir.path().join("kek");
        Keyring::create_file(&kek_file).unwrap();
        match backend {
            Backend::Sqlite => {
                let file = dir.path().join("vault.db");
                TestDb {
                    backend,
                    url: format!("sqlite://{}", file.display()),
                    dir,
                    kek_file,
                    file: Some(file),
                }
            }
            Backend::Postgres => {
                let admin = postgres_url();
                let name = format!("vault_test_{}", random_name());
                let pool = PgPool::connect(&admin).await.unwrap();
                sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&pool)
                    .await
                    .unwrap();
                pool.close().await;
                TestDb {
                    backend,
                    url: with_database(&admin, &name),
                    dir,
                    kek_file,
                    file: None,
                }
            }
        }
    }

    /// The KEK file's keyring.
    pub fn keyring(&self) -> Keyring {
        Keyring::load(&self.kek_file).unwrap()
    }

    /// `Vault::init` on the database.
    pub async fn init(&self) -> Vault {
        Vault::init(&self.url, self.keyring(), VaultOptions::default())
            .await
            .unwrap()
    }

    /// `Vault::connect` to the database.
    pub async fn connect(&self) -> Vault {
        Vault::connect(&self.url, self.keyring(), VaultOptions::default())
            .await
            .unwrap()
    }

    /// The PostgreSQL role the service connects as ([`TestDb::service_url`]): one per test
    /// database.
    pub fn service_role(&self) -> String {
        format!("svc_{}", self.url.rsplit('_').next().unwrap_or("vault"))
    }

    /// The URL the service connects with: on PostgreSQL as [`TestDb::service_role`] (made
    /// by [`TestDb::grant_service_role`]), which may not change audit rows; on SQLite the
    /// file.
    pub fn service_url(&self) -> String {
        match self.backend {
            Backend::Sqlite => self.url.clone(),
            Backend::Postgres => url_as_role(&self.url, &self.service_role()),
        }
    }

    /// On PostgreSQL, creates the service role with the grants the crate documents (after
    /// `init`: the grants name the tables). Nothing on SQLite.
    pub async fn grant_service_role(&self) {
        if self.backend != Backend::Postgres {
            return;
        }
        create_service_role(&self.url, &self.service_role()).await;
    }

    /// A pool on the database, past the vault.
    pub async fn raw(&self) -> Raw {
        Raw::connect(self.backend, &self.url).await
    }
}

/// Direct access to the tables, for tampering and counting.
pub enum Raw {
    /// On a SQLite file.
    Sqlite(SqlitePool),
    /// On a PostgreSQL database.
    Postgres(PgPool),
}

macro_rules! on_raw {
    ($raw:expr, $pool:ident => $body:expr) => {
        match $raw {
            Raw::Sqlite($pool) => $body,
            Raw::Postgres($pool) => $body,
        }
    };
}

/// The five stored fields of a sealed key (and its KEK id).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedRow {
    /// The KEK the data key is wrapped under.
    pub kek_id: String,
    /// The nonce of the data key's wrapping.
    pub wrap_nonce: Vec<u8>,
    /// The wrapped data key.
    pub wrapped_key: Vec<u8>,
    /// The stored key's format.
    pub key_format: String,
    /// The nonce of the key's sealing.
    pub key_nonce: Vec<u8>,
    /// The sealed key.
    pub ciphertext: Vec<u8>,
}

impl Raw {
    /// A pool on the `backend` database at `url` (a copy of a test database, say).
    pub async fn connect(backend: Backend, url: &str) -> Raw {
        match backend {
            Backend::Sqlite => Raw::Sqlite(SqlitePool::connect(url).await.unwrap()),
            Backend::Postgres => Raw::Postgres(PgPool::connect(url).await.unwrap()),
        }
    }

    /// Runs each of `statements` in turn; a statement that fails fails the test, naming it.
    pub async fn execute_all(&self, statements: impl IntoIterator<Item = String>) {
        for sql in statements {
            let done = on_raw!(self, pool => sqlx::query(AssertSqlSafe(sql.clone()))
                .execute(pool)
                .await
                .map(|_| ()));
            done.unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }

    /// The single number `sql` selects.
    pub async fn count(&self, sql: &'static str) -> i64 {
        on_raw!(self, pool => sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await.unwrap())
    }

    /// `sql` with `param` bound as `$1`, if given.
    pub async fn count_with(&self, sql: &'static str, param: Option<&str>) -> i64 {
        on_raw!(self, pool => {
            let query = sqlx::query_scalar::<_, i64>(sql);
            let query = match param {
                Some(p) => query.bind(p.to_owned()),
                None => query,
            };
            query.fetch_one(pool).await.unwrap()
        })
    }

    /// Runs `sql`; the rows it touched.
    pub async fn execute(&self, sql: &'static str) -> Result<u64, sqlx::Error> {
        on_raw!(self, pool => sqlx::query(sql).execute(pool).await.map(|r| r.rows_affected()))
    }

    /// The sealed key row of certificate `id`.
    pub async fn sealed(&self, id: i64) -> SealedRow {
        on_raw!(self, pool => {
            let row = sqlx::query(
                "SELECT kek_id, wrap_nonce, wrapped_key, key_format, key_nonce, ciphertext \
                 FROM sealed_keys WHERE certificate_id = $1",
            )
            .bind(id)
            .fetch_one(pool)
            .await
            .unwrap();
            SealedRow {
                kek_id: row.get(0),
                wrap_nonce: row.get(1),
                wrapped_key: row.get(2),
                key_format: row.get(3),
                key_nonce: row.get(4),
                ciphertext: row.get(5),
            }
        })
    }

    /// Overwrites the sealed key row of certificate `id`.
    pub async fn set_sealed(&self, id: i64, s: &SealedRow) {
        on_raw!(self, pool => {
            sqlx::query(
                "UPDATE sealed_keys SET kek_id = $2, wrap_nonce = $3, wrapped_key = $4, \
                 key_format = $5, key_nonce = $6, ciphertext = $7 WHERE certificate_id = $1",
            )
            .bind(id)
            .bind(&s.kek_id)
            .bind(&s.wrap_nonce)
            .bind(&s.wrapped_key)
            .bind(&s.key_format)
            .bind(&s.key_nonce)
            .bind(&s.ciphertext)
            .execute(pool)
            .await
            .unwrap();
        })
    }

    /// Closes the pool.
    pub async fn close(&self) {
        on_raw!(self, pool => pool.close().await)
    }
}

/// The workspace's root directory.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The library's test fixtures as a DirectoryStore tree (tests/fixtures/store).
pub fn fixtures() -> PathBuf {
    workspace().join("tests/fixtures/store")
}

/// The demo store (examples/demo-store).
pub fn demo_store() -> PathBuf {
    workspace().join("examples/demo-store")
}

/// The certificate id `n`.
pub fn id(n: u64) -> CertificateId {
    CertificateId::new(n).unwrap()
}

/// Imports the records of a DirectoryStore tree through the API; returns the ids stored
/// and those refused.
pub async fn import_dir(vault: &Vault, dir: &Path, ids: &[u64]) -> (Vec<u64>, Vec<u64>) {
    let store = DirectoryStore::new(dir).unwrap();
    let (mut stored, mut refused) = (Vec::new(), Vec::new());
    for &n in ids {
        let record = match store.certificate(id(n)) {
            Ok(r) => r,
            Err(_) => {
                refused.push(n);
                continue;
            }
        };
        let key = match store.private_key(id(n)) {
            Ok(k) => Some(Zeroizing::new(k)),
            Err(StoreError::KeyNotFound) => None,
            Err(_) => {
                refused.push(n);
                continue;
            }
        };
        match vault.import(id(n), &record, key.as_deref()).await {
            Ok(_) => stored.push(n),
            Err(cert_download_vault::VaultError::Rejected { .. }) => refused.push(n),
            Err(e) => panic!("import of {n} failed: {e}"),
        }
    }
    (stored, refused)
}

/// A token of `principal`, granted read and key export on every certificate.
pub async fn full_access_token(vault: &cert_download_vault::Vault, principal: &str) -> String {
    use cert_download_vault::{Permission, Scope};
    for permission in [Permission::Read, Permission::ExportKey] {
        vault
            .grant(principal, permission, &Scope::All)
            .await
            .unwrap();
    }
    vault
        .create_token(principal, None)
        .await
        .unwrap()
        .token
        .to_string()
}

/// On the PostgreSQL database of `url` (a superuser's, after the vault's `init`: the
/// grants name the tables), creates `role` (LOGIN, unless it exists) with the grants the
/// crate documents for the service ([`SERVICE_GRANTS`]), which do not let it change audit
/// rows.
pub async fn create_service_role(url: &str, role: &str) {
    let pool = PgPool::connect(url).await.unwrap();
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_roles WHERE rolname = $1")
        .bind(role)
        .fetch_optional(&pool)
        .await
        .unwrap();
    if exists.is_none() {
        sqlx::query(AssertSqlSafe(format!("CREATE ROLE {role} LOGIN")))
            .execute(&pool)
            .await
            .unwrap();
    }
    for grant in SERVICE_GRANTS {
        sqlx::query(AssertSqlSafe(grant.replace("vault_service", role)))
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;
}

/// `url` with its user (and password, if any) replaced by `role`: `postgres://u@host/db`
/// becomes `postgres://role@host/db`.
pub fn url_as_role(url: &str, role: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[start..];
    let host = rest.find('@').map_or(rest, |at| &rest[at + 1..]);
    format!("{}{role}@{host}", &url[..start])
}

/// The grants of the service's PostgreSQL role, as the crate's documentation gives them
/// (`vault/tests/trust.rs` checks that it does).
pub const SERVICE_GRANTS: [&str; 7] = [
    "GRANT USAGE ON SCHEMA public TO vault_service",
    "GRANT SELECT ON _sqlx_migrations, kek_checks, certificates, sealed_keys, principals, grants, tokens TO vault_service",
    "GRANT SELECT, INSERT ON audit TO vault_service",
    "GRANT UPDATE (last_used_at) ON tokens TO vault_service",
    "GRANT SELECT ON audit_signing_keys TO vault_service",
    "GRANT SELECT, INSERT ON audit_checkpoints TO vault_service",
    "GRANT SELECT ON client_certificates TO vault_service",
];

/// The ids of the test fixtures (tests/fixtures/store: 1 to 21).
pub const FIXTURE_IDS: std::ops::RangeInclusive<u64> = 1..=21;
/// The fixtures the crate's checks refuse: mismatched keys (11, 12, 16), a corrupt
/// certificate (13), an unsupported Ed448 key (17), a corrupt key (18).
pub const FIXTURES_REFUSED: [u64; 6] = [11, 12, 13, 16, 17, 18];
/// The demo store's records.
pub const DEMO_IDS: [u64; 5] = [1001, 1002, 1003, 1004, 12345];
