//! End-to-end tests of the server on the vault (`--database URL --kek-file FILE`): the
//! server runs as a process on a SQLite file in a temporary directory, or on a fresh
//! database of the PostgreSQL cluster named by CERT_DOWNLOAD_POSTGRES_URL (scripts/test-all
//! starts a throwaway one; without it the PostgreSQL tests are ignored, "needs PostgreSQL").
//!
//! One module a section:
//!
//! - `statuses`: every status of the contract through the database, with the audit row of
//!   each;
//! - `audit_rule`: with the audit insert made to fail (a trigger), no download leaves;
//! - `revocation`: revocation seen by two instances at once;
//! - `start_up`: the vault's flags in the README; an unreachable or wrong database, or
//!   another vault's KEK file, refused at start;
//! - `database_loss`: the database gone in the middle of requests, back again;
//! - `two_instances`: two instances on one PostgreSQL, set up with the admin command, one
//!   SIGKILLed in the middle of a flood: the other keeps answering and every 200 has its
//!   audit row.
//!
//! This file holds the set-up they share: a deployment (the demo store and three
//! principals' tokens), the server started on it, and the checks of audit rows and bodies.

use cert_download_test_support::vault_db as common;

use std::time::Duration;

use cert_download_test_support::server_harness::*;
use cert_download_vault::{AuditFilter, AuditRow, Permission, Scope, Vault};
use common::{Backend, DEMO_IDS, TestDb, import_dir};

/// The server executable cargo built for this test binary.
const SERVER: ServerBinary = ServerBinary::new(env!("CARGO_BIN_EXE_cert-download-server"));

/// `test: body;` runs `body(Backend)` as `sqlite::test` and `postgres::test`, the latter
/// ignored without a cluster.
macro_rules! on_both_databases {
    ($($name:ident: $body:ident;)*) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$body(crate::common::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[cfg_attr(
                    not(postgres_cluster),
                    ignore = "needs PostgreSQL: set CERT_DOWNLOAD_POSTGRES_URL (scripts/test-all starts a throwaway cluster)"
                )]
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$body(crate::common::Backend::Postgres).await
                }
            )*
        }
    };
}

// The sections, each a module; the set-up they share follows.
mod audit_rule;
mod database_loss;
mod revocation;
mod start_up;
mod statuses;
mod two_instances;

const PASSWORD: &str = "securepassword123";

/// A vault holding the demo store, and tokens of three principals.
struct Deployment {
    db: TestDb,
    /// The test's own connection (admin operations, audit rows).
    vault: Vault,
    /// Read and export on every certificate.
    admin: String,
    /// Read on every certificate.
    reader: String,
    /// No grant.
    outsider: String,
}

async fn deployment(backend: Backend) -> Deployment {
    let db = TestDb::new(backend).await;
    let vault = db.init().await;
    db.grant_service_role().await;
    let (stored, refused) =
        import_dir(&vault, &repo_dir().join("examples/demo-store"), &DEMO_IDS).await;
    assert_eq!((stored.as_slice(), refused.len()), (DEMO_IDS.as_slice(), 0));
    let admin = common::full_access_token(&vault, "admin").await;
    vault
        .grant("reader", Permission::Read, &Scope::All)
        .await
        .unwrap();
    let reader = vault
        .create_token("reader", None)
        .await
        .unwrap()
        .token
        .to_string();
    let outsider = vault
        .create_token("outsider", None)
        .await
        .unwrap()
        .token
        .to_string();
    Deployment {
        db,
        vault,
        admin,
        reader,
        outsider,
    }
}

/// The server on `url` (the deployment's database, as the service role, unless given),
/// named `instance`, with short database waits and the per-principal limit lifted.
fn start_on(db: &TestDb, url: Option<&str>, instance: &str, extra: &[&str]) -> Server {
    let kek = db.kek_file.to_str().unwrap();
    let service_url = db.service_url();
    let (cert, key) = vault_tls_files(db.dir.path());
    let mut args = vec![
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
        "--database",
        url.unwrap_or(&service_url),
        "--kek-file",
        kek,
        "--instance",
        instance,
        "--db-acquire-timeout",
        "1",
        "--db-timeout",
        "2",
        "--downloads-per-minute",
        "100000",
        "--download-burst",
        "100000",
    ];
    args.extend_from_slice(extra);
    SERVER.start(&args)
}

fn start(db: &TestDb, instance: &str) -> Server {
    start_on(db, None, instance, &[])
}

async fn audit_rows(vault: &Vault) -> Vec<AuditRow> {
    vault.audit(&AuditFilter::default()).await.unwrap()
}

fn summary(row: &AuditRow) -> (String, i64, String, bool, u16, Option<String>) {
    let e = &row.entry;
    (
        e.principal.clone().unwrap_or_default(),
        e.certificate_id.unwrap_or(0),
        e.format.clone().unwrap_or_default(),
        e.key_out,
        e.status,
        e.error.clone(),
    )
}

/// Texts of database errors that must never reach a response body.
const BACKEND_WORDS: &[&str] = &[
    "sqlx",
    "os error",
    "Connection refused",
    "connection",
    "pool",
    "PostgreSQL",
    "SQLite",
    "sqlite",
    "trigger",
    "refused by the test",
    "timed out",
    "KEK",
];

#[track_caller]
fn no_backend_text(reply: &Reply) {
    for word in BACKEND_WORDS {
        assert!(
            !reply.body.contains(word),
            "a response names the backend ({word:?}): {}",
            reply.body
        );
    }
}

#[track_caller]
fn retry_after(reply: &Reply) {
    let secs: u64 = reply
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("a 503 without Retry-After: {:?}", reply.headers));
    assert!((1..=60).contains(&secs), "Retry-After {secs}");
}

fn body(id: u64, format: &str, key: bool) -> String {
    if format == "pfx" {
        format!(r#"{{"id": {id}, "format": "pfx", "password": "{PASSWORD}"}}"#)
    } else {
        format!(
            r#"{{"id": {id}, "format": "{format}", "download_key": {key}, "password": "{PASSWORD}"}}"#
        )
    }
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}
