//! The database underneath: the pool of either SQLite or PostgreSQL and how to open it
//! ([`VaultOptions`]), the embedded migrations, the KEK checks run at open, and the row
//! codec (ids, times, token hashes, the issuers column, sealed-key columns: `db/codec.rs`).
//! It is kept apart so that every operation of the vault builds on one layer that knows the
//! tables but none of the operations; it depends on nothing of the vault but `error` and
//! `seal` (which knows nothing of SQL).

use std::str::FromStr;
use std::time::Duration;

use sqlx::Row;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgSslMode};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::error::VaultError;
use crate::seal::{CheckValue, Keyring};

mod codec;

pub(crate) use codec::{
    id_i64, join_issuers, now_secs, sealed_from_row, split_issuers, token_hash,
};

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
            crate::db::Db::Sqlite($pool) => $body,
            crate::db::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_db;

/// How to connect. `Default`: 10 connections, 5 s to acquire one, no migration at open,
/// and a PostgreSQL link off loopback only with `sslmode=verify-full`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct VaultOptions {
    /// The most connections in the pool.
    pub max_connections: u32,
    /// How long a query waits for a free connection before it fails (a 500 to the caller).
    pub acquire_timeout: Duration,
    /// Apply the schema (and create a missing SQLite file) at open, as `init` does.
    pub migrate: bool,
    /// Allow a `postgres://` URL whose host is not loopback without `sslmode=verify-full`
    /// (see [`Vault::connect`](crate::Vault::connect)): only where the link is protected
    /// otherwise (a VPN, an IPsec tunnel, a private network you trust).
    pub insecure_database_transport: bool,
}

impl Default for VaultOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
            migrate: false,
            insecure_database_transport: false,
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

    /// Whether a PostgreSQL link off loopback may go without `sslmode=verify-full`.
    pub fn insecure_database_transport(mut self, insecure: bool) -> Self {
        self.insecure_database_transport = insecure;
        self
    }
}

/// The database of `url` as it may be logged: the host, port, database and user of the
/// parsed URL (the file of a SQLite one), never the URL as given, whose password may sit
/// in the user part or in the query (`?password=`).
pub fn describe_database(url: &str) -> String {
    if url.starts_with("sqlite:") {
        return match SqliteConnectOptions::from_str(url) {
            Ok(options) => format!("sqlite {}", options.get_filename().display()),
            Err(_) => "a sqlite URL that does not parse".to_owned(),
        };
    }
    match PgConnectOptions::from_str(url) {
        Ok(options) => format!(
            "postgres host {} port {} database {} user {}",
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or("(the user's)"),
            options.get_username()
        ),
        Err(_) => "a database URL that does not parse".to_owned(),
    }
}

/// Whether a PostgreSQL host is on this machine: a Unix socket directory (an absolute
/// path), `localhost`, or a loopback address (127.0.0.0/8, `::1`, also IPv4-mapped). Any
/// other name or address, private ones included, is a network that someone else may sit
/// on.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.starts_with('/')
        || host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.to_canonical().is_loopback())
}

/// The `hostaddr` parameter of a PostgreSQL URL, if any: the address sqlx connects to
/// instead of resolving the host (the host is still the name TLS verifies).
fn hostaddr(url: &str) -> Option<&str> {
    url.split_once('?')?
        .1
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, _)| *name == "hostaddr")
        .map(|(_, value)| value)
}

/// Refuses a PostgreSQL link that leaves the machine without a verified server: a host
/// (or `hostaddr`) that is not loopback needs `sslmode=verify-full`, unless the options
/// allow otherwise. `verify-ca` is not enough: it accepts any server with a certificate
/// from the CA, whatever its name.
pub(crate) fn check_transport(
    url: &str,
    connect: &PgConnectOptions,
    options: &VaultOptions,
) -> Result<(), VaultError> {
    let local = connect.get_socket().is_some()
        || (is_loopback_host(connect.get_host()) && hostaddr(url).is_none_or(is_loopback_host));
    if local
        || options.insecure_database_transport
        || matches!(connect.get_ssl_mode(), PgSslMode::VerifyFull)
    {
        return Ok(());
    }
    Err(VaultError::InsecureTransport {
        host: connect.get_host().to_owned(),
    })
}

/// Run on each new PostgreSQL connection: "committed" then means on the primary's disk
/// (and its synchronous standbys', where configured) whatever the cluster's, database's or
/// role's default, so that an audit row acknowledged before a download is released
/// survives a crash of the database.
const ON_CONNECT_POSTGRES: &str = "SET synchronous_commit = on";

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

/// Creates `path` as a new, empty file readable and writable by its owner only; an
/// existing file is an error (`AlreadyExists`).
pub(crate) fn create_owner_only_new(path: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map(drop)
}

impl Db {
    /// The pool for `url`, `sqlite:` or `postgres://` (`postgresql://`).
    pub(crate) async fn open(url: &str, options: &VaultOptions) -> Result<Self, VaultError> {
        let db = if url.starts_with("sqlite:") {
            let connect = SqliteConnectOptions::from_str(url)?
                .create_if_missing(options.migrate)
                .foreign_keys(true)
                .journal_mode(SqliteJournalMode::Wal)
                // FULL: a committed audit row or import survives a power cut, not only a crash.
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(options.acquire_timeout);
            let file = connect.get_filename();
            if options.migrate {
                create_owner_only(file).map_err(VaultError::CreateFile)?;
            } else if !file.as_os_str().is_empty()
                && file != std::path::Path::new(":memory:")
                && !file.exists()
            {
                return Err(VaultError::NoSuchFile(file.display().to_string()));
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
            check_transport(url, &connect, options)?;
            Db::Postgres(
                PgPoolOptions::new()
                    .after_connect(|connection, _| {
                        Box::pin(async move {
                            sqlx::Executor::execute(&mut *connection, ON_CONNECT_POSTGRES).await?;
                            Ok(())
                        })
                    })
                    .max_connections(options.max_connections)
                    .test_before_acquire(false)
                    .acquire_timeout(options.acquire_timeout)
                    .connect_with(connect)
                    .await?,
            )
        } else {
            return Err(VaultError::UnsupportedUrl);
        };
        Ok(db)
    }

    pub(crate) async fn migrate(&self) -> Result<(), VaultError> {
        match self {
            Db::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await?,
            Db::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await?,
        }
        Ok(())
    }

    /// Every migration of this build is applied.
    pub(crate) async fn require_schema(&self) -> Result<(), VaultError> {
        let (migrator, applied): (&sqlx::migrate::Migrator, Result<Vec<i64>, sqlx::Error>) =
            match self {
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

    pub(crate) async fn known_check_ids(&self) -> Result<Vec<String>, VaultError> {
        Ok(on_db!(self, pool => {
            sqlx::query_scalar("SELECT kek_id FROM kek_checks").fetch_all(pool).await?
        }))
    }

    /// Stores a check value for KEK `kek_id` unless it has one.
    pub(crate) async fn ensure_check(
        &self,
        keyring: &Keyring,
        kek_id: &str,
    ) -> Result<(), VaultError> {
        let check = keyring.check_value(kek_id)?;
        on_db!(self, pool => {
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

    /// Checks the KEK file against the vault's check values and sealed keys.
    pub(crate) async fn check_keks(&self, keyring: &Keyring) -> Result<(), VaultError> {
        let rows = on_db!(self, pool => {
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
            match keyring.verify_check(check)? {
                Some(true) => any_known = true,
                Some(false) => return Err(VaultError::KekMismatch(check.kek_id.clone())),
                None => {}
            }
        }
        let used = on_db!(self, pool => {
            sqlx::query("SELECT kek_id, COUNT(*) FROM sealed_keys GROUP BY kek_id")
                .fetch_all(pool).await?
                .into_iter()
                .map(|row| Ok((row.try_get::<String, _>(0)?, row.try_get::<i64, _>(1)?)))
                .collect::<Result<Vec<_>, sqlx::Error>>()?
        });
        for (kek_id, count) in used {
            if !keyring.contains(&kek_id) {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_this_machine_only() {
        for host in [
            "127.0.0.1",
            "127.3.2.1",
            "::1",
            "[::1]",
            "localhost",
            "LOCALHOST",
            "/run/postgresql",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "10.0.0.5",
            "192.168.1.1",
            "db",
            "db.example",
            "localhost.example",
            "0.0.0.0",
            "::",
            "128.0.0.1",
            "fe80::1",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn a_link_off_loopback_needs_verify_full() {
        let judge = |url: &str, insecure: bool| {
            let connect = PgConnectOptions::from_str(url).unwrap();
            let options = VaultOptions::default().insecure_database_transport(insecure);
            check_transport(url, &connect, &options)
        };
        for ok in [
            "postgres://svc@127.0.0.1:5432/vault",
            "postgres://svc@localhost/vault",
            "postgres://svc@[::1]:5432/vault",
            "postgres://svc@%2Frun%2Fpostgresql/vault",
            "postgres://svc@db.example/vault?sslmode=verify-full",
            "postgres://svc@db.example/vault?sslmode=verify-full&sslrootcert=/etc/ca.pem",
            "postgres://svc@127.0.0.1/vault?hostaddr=127.0.0.2",
        ] {
            assert!(judge(ok, false).is_ok(), "{ok}");
        }
        for refused in [
            "postgres://svc@db.example/vault",
            "postgres://svc@10.0.0.5/vault?sslmode=require",
            "postgres://svc@10.0.0.5/vault?sslmode=verify-ca",
            "postgres://svc@10.0.0.5/vault?sslmode=prefer",
            "postgresql://svc@db.example:5432/vault?sslmode=disable",
            // The address connected to is judged too.
            "postgres://svc@localhost/vault?hostaddr=10.0.0.5",
        ] {
            let error = judge(refused, false).unwrap_err();
            assert!(error.to_string().contains("sslmode=verify-full"), "{error}");
            assert_eq!(error.code(), "insecure_database_transport");
            assert!(judge(refused, true).is_ok(), "{refused}");
        }
    }
}
