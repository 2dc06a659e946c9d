//! End-to-end tests of the server on the vault (`--database URL --kek-file FILE`): the
//! server runs as a process on a SQLite file in a temporary directory, or on a fresh
//! database of the PostgreSQL cluster named by CERT_DOWNLOAD_POSTGRES_URL (scripts/test-all
//! starts a throwaway one; without it the PostgreSQL tests are ignored, "needs PostgreSQL").
//!
//! - every status of the contract through the database, with the audit row of each;
//! - the audit rule: with the audit insert made to fail (a trigger), no download leaves;
//! - revocation seen by two instances at once;
//! - the database unreachable at start, gone in the middle of requests, back again;
//! - two instances on one PostgreSQL, set up with the admin command, one SIGKILLed in the
//!   middle of a flood: the other keeps answering and every 200 has its audit row.

#[allow(dead_code)]
#[path = "server/harness.rs"]
mod harness;
#[allow(dead_code)]
#[path = "server/raw.rs"]
mod raw;
#[allow(dead_code)]
#[path = "server/tools.rs"]
mod tools;

use cert_download_test_support::vault_db as common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cert_download_vault::{AuditFilter, AuditRow, Permission, Scope, Vault};
use common::{Backend, DEMO_IDS, TestDb, import_dir};
use harness::*;
use tokio::io::AsyncWriteExt;

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

/// TLS files for a vault server: the demo certificate and a copy of its key that only its
/// owner may read (the demo store's own key file is refused for the vault).
fn tls_files(db: &TestDb) -> (String, String) {
    use std::os::unix::fs::PermissionsExt;
    let demo = repo_dir().join("examples/demo-store/tls");
    let key = db.dir.path().join("tls-server.key");
    if !key.exists() {
        std::fs::copy(demo.join("server.key"), &key).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    (
        demo.join("server.pem").to_str().unwrap().to_owned(),
        key.to_str().unwrap().to_owned(),
    )
}

/// The server on `url` (the deployment's database, as the service role, unless given),
/// named `instance`, with short database waits and the per-principal limit lifted.
fn start_on(db: &TestDb, url: Option<&str>, instance: &str, extra: &[&str]) -> Server {
    let kek = db.kek_file.to_str().unwrap();
    let service_url = db.service_url();
    let (cert, key) = tls_files(db);
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
    Server::start(&args)
}

fn start(db: &TestDb, instance: &str) -> Server {
    start_on(db, None, instance, &[])
}

async fn audit_rows(vault: &Vault) -> Vec<AuditRow> {
    vault.audit(&AuditFilter::default()).await.unwrap()
}

/// An audit row as `(principal, id, format, key_out, status, error)`.
type Expected = (
    &'static str,
    i64,
    &'static str,
    bool,
    u16,
    Option<&'static str>,
);

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

// ---------------------------------------------------------------------------------------
// Every status through the database, each with its audit row
// ---------------------------------------------------------------------------------------

async fn every_status_with_its_audit_row(backend: Backend) {
    let d = deployment(backend).await;
    let server = start(&d.db, "instance-a");
    let http = client(&server);
    let ask = |token: Option<&str>, body: String| {
        let (http, server) = (&http, &server);
        let token = token.map(str::to_owned);
        async move { post_json(http, server, token.as_deref(), &body).await }
    };
    let mut expected: Vec<Expected> = Vec::new();

    // 200 in every format, with and without a key.
    ask(Some(&d.admin), body(12345, "pfx", true))
        .await
        .expect_ok("pfx");
    expected.push(("admin", 12345, "pfx", true, 200, None));
    let pem = ask(Some(&d.admin), body(1001, "pem", true)).await;
    let text = String::from_utf8(pem.expect_ok("pem").certificate).unwrap();
    assert!(
        text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
        "{text}"
    );
    expected.push(("admin", 1001, "pem", true, 200, None));
    let crt = ask(Some(&d.admin), body(1004, "crt", true)).await;
    assert!(crt.expect_ok("crt").key.is_some());
    expected.push(("admin", 1004, "crt", true, 200, None));
    let crt = ask(Some(&d.reader), body(12345, "crt", false)).await;
    let leaf = tools::pem_file_certs(&demo("12345/cert.pem")).remove(0);
    assert_eq!(crt.expect_ok("crt").certificate, leaf, "the stored leaf");
    expected.push(("reader", 12345, "crt", false, 200, None));
    ask(Some(&d.reader), body(1003, "p7b", false))
        .await
        .expect_ok("p7b");
    expected.push(("reader", 1003, "p7b", false, 200, None));

    // 403: a reader asks for a key.
    ask(Some(&d.reader), body(12345, "pfx", true))
        .await
        .expect_error(403, &["key_export_forbidden"]);
    expected.push((
        "reader",
        12345,
        "pfx",
        false,
        403,
        Some("key_export_forbidden"),
    ));
    // 404: no grant answers as no record does (ids cannot be probed).
    let hidden = ask(Some(&d.outsider), body(12345, "crt", false)).await;
    hidden.expect_error(404, &["certificate_not_found"]);
    expected.push((
        "outsider",
        12345,
        "crt",
        false,
        404,
        Some("certificate_not_found"),
    ));
    let absent = ask(Some(&d.admin), body(777, "crt", false)).await;
    absent.expect_error(404, &["certificate_not_found"]);
    expected.push((
        "admin",
        777,
        "crt",
        false,
        404,
        Some("certificate_not_found"),
    ));
    assert_eq!(
        hidden.body.replace("12345", "777"),
        absent.body,
        "a record without a grant must answer as an absent one"
    );
    ask(Some(&d.admin), body(1003, "pem", true))
        .await
        .expect_error(404, &["key_not_found"]);
    expected.push(("admin", 1003, "pem", false, 404, Some("key_not_found")));

    // 500: a sealed key that does not open (a flipped ciphertext byte).
    let raw = d.db.raw().await;
    let mut sealed = raw.sealed(1002).await;
    sealed.ciphertext[0] ^= 1;
    raw.set_sealed(1002, &sealed).await;
    let broken = ask(Some(&d.admin), body(1002, "pfx", true)).await;
    broken.expect_error(500, &["store_failure"]);
    no_backend_text(&broken);
    expected.push(("admin", 1002, "pfx", false, 500, Some("store_failure")));
    // The keyless download of that record still works.
    ask(Some(&d.admin), body(1002, "crt", false))
        .await
        .expect_ok("crt");
    expected.push(("admin", 1002, "crt", false, 200, None));

    // Refused before the store: in the log only, no row.
    ask(None, body(12345, "crt", false))
        .await
        .expect_error(401, &["unauthenticated"]);
    ask(Some("cdv_not-a-token"), body(12345, "crt", false))
        .await
        .expect_error(401, &["unauthenticated"]);
    ask(Some(&d.admin), r#"{"id": 12345}"#.to_owned())
        .await
        .expect_error(400, &["missing_field"]);

    // Revoked: refused on the next request (the token is looked up on every request).
    d.vault.revoke_token(&d.reader).await.unwrap();
    ask(Some(&d.reader), body(12345, "crt", false))
        .await
        .expect_error(401, &["unauthenticated"]);

    let rows = audit_rows(&d.vault).await;
    let got: Vec<_> = rows.iter().map(summary).collect();
    let want: Vec<_> = expected
        .iter()
        .map(|(p, id, f, k, s, e)| {
            (
                p.to_string(),
                *id,
                f.to_string(),
                *k,
                *s,
                e.map(str::to_owned),
            )
        })
        .collect();
    assert_eq!(got, want, "one audit row per download, in order");
    for row in &rows {
        assert_eq!(row.entry.instance.as_deref(), Some("instance-a"));
        let client: SocketAddr = row.entry.client.as_deref().unwrap().parse().unwrap();
        assert!(client.ip().is_loopback(), "{row:?}");
        assert!(row.entry.at_ms.unwrap() > 1_700_000_000_000, "{row:?}");
    }
    let log = server.stop().stderr;
    assert!(!log.contains(PASSWORD), "the log shows a password");
    assert!(!log.contains(&d.admin), "the log shows a token");
    raw.close().await;
}

// ---------------------------------------------------------------------------------------
// The audit rule
// ---------------------------------------------------------------------------------------

/// Makes every audit insert fail (a trigger the service's statements cannot tell from a
/// full disk or a lost permission), or lifts it.
async fn refuse_audit_inserts(db: &TestDb, refuse: bool) {
    let raw = db.raw().await;
    let statements: &[&'static str] = match (db.backend, refuse) {
        (Backend::Sqlite, true) => &[
            "CREATE TRIGGER audit_refused_by_the_test BEFORE INSERT ON audit \
             BEGIN SELECT RAISE(ABORT, 'audit refused by the test'); END",
        ],
        (Backend::Sqlite, false) => &["DROP TRIGGER audit_refused_by_the_test"],
        (Backend::Postgres, true) => &[
            "CREATE FUNCTION audit_refused_by_the_test() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'audit refused by the test'; END; $$",
            "CREATE TRIGGER audit_refused_by_the_test BEFORE INSERT ON audit \
             FOR EACH ROW EXECUTE FUNCTION audit_refused_by_the_test()",
        ],
        (Backend::Postgres, false) => &[
            "DROP TRIGGER audit_refused_by_the_test ON audit",
            "DROP FUNCTION audit_refused_by_the_test()",
        ],
    };
    for sql in statements {
        raw.execute(sql).await.unwrap();
    }
    raw.close().await;
}

async fn no_download_leaves_without_its_audit_row(backend: Backend) {
    let d = deployment(backend).await;
    let server = start(&d.db, "instance-a");
    let http = client(&server);
    post_json(&http, &server, Some(&d.admin), &body(1004, "crt", true))
        .await
        .expect_ok("crt");
    assert_eq!(audit_rows(&d.vault).await.len(), 1);

    refuse_audit_inserts(&d.db, true).await;
    for (token, request) in [
        (&d.admin, body(12345, "pfx", true)),
        (&d.admin, body(1004, "crt", true)),
        (&d.admin, body(1001, "pem", true)),
        // A download without a key is held back too: every 200 has its row.
        (&d.admin, body(12345, "crt", false)),
        (&d.reader, body(1003, "p7b", false)),
    ] {
        let reply = post_json(&http, &server, Some(token), &request).await;
        reply.expect_error(503, &["audit_unavailable"]);
        retry_after(&reply);
        no_backend_text(&reply);
        assert!(
            !reply.body.contains("certificate\":"),
            "a withheld download carries nothing: {}",
            reply.body
        );
    }
    // A refusal carries nothing: it is sent, and its missing row is logged.
    post_json(&http, &server, Some(&d.reader), &body(12345, "pfx", true))
        .await
        .expect_error(403, &["key_export_forbidden"]);
    assert_eq!(audit_rows(&d.vault).await.len(), 1, "no row was written");
    assert!(
        server
            .wait_for_log("audit row not written", 6, Duration::from_secs(5))
            .await,
        "each unwritten row is logged:\n{}",
        server.log_so_far()
    );

    refuse_audit_inserts(&d.db, false).await;
    post_json(&http, &server, Some(&d.admin), &body(12345, "pfx", true))
        .await
        .expect_ok("pfx");
    let rows = audit_rows(&d.vault).await;
    assert_eq!(rows.len(), 2);
    assert_eq!(
        summary(&rows[1]),
        ("admin".into(), 12345, "pfx".into(), true, 200, None)
    );
}

// ---------------------------------------------------------------------------------------
// Revocation across instances
// ---------------------------------------------------------------------------------------

async fn revocation_reaches_every_instance(backend: Backend) {
    let d = deployment(backend).await;
    let (a, b) = (start(&d.db, "a"), start(&d.db, "b"));
    let (http_a, http_b) = (client(&a), client(&b));
    let token = common::full_access_token(&d.vault, "operator").await;
    for (http, server) in [(&http_a, &a), (&http_b, &b)] {
        post_json(http, server, Some(&token), &body(1004, "crt", true))
            .await
            .expect_ok("crt");
    }

    // The export grant taken away: both refuse the key at once, still serve the leaf.
    d.vault
        .revoke("operator", Permission::ExportKey, &Scope::All)
        .await
        .unwrap();
    let revoked = Instant::now();
    for (http, server) in [(&http_a, &a), (&http_b, &b)] {
        post_json(http, server, Some(&token), &body(1004, "crt", true))
            .await
            .expect_error(403, &["key_export_forbidden"]);
        post_json(http, server, Some(&token), &body(1004, "crt", false))
            .await
            .expect_ok("crt");
    }
    // The token revoked: both refuse it on the next request.
    d.vault.revoke_token(&token).await.unwrap();
    for (http, server) in [(&http_a, &a), (&http_b, &b)] {
        post_json(http, server, Some(&token), &body(1004, "crt", false))
            .await
            .expect_error(401, &["unauthenticated"]);
    }
    let took = revoked.elapsed();
    // Six requests, no waiting: the lookups are per request (no cache to expire).
    assert!(took < Duration::from_secs(5), "{took:?}");
    let instances: Vec<_> = audit_rows(&d.vault)
        .await
        .into_iter()
        .map(|r| (r.entry.instance.unwrap_or_default(), r.entry.status))
        .collect();
    assert_eq!(
        instances,
        [
            ("a".to_owned(), 200),
            ("b".to_owned(), 200),
            ("a".to_owned(), 403),
            ("a".to_owned(), 200),
            ("b".to_owned(), 403),
            ("b".to_owned(), 200),
        ]
    );
}

on_both_databases! {
    every_status_with_its_audit_row: every_status_with_its_audit_row;
    no_download_leaves_without_its_audit_row: no_download_leaves_without_its_audit_row;
    revocation_reaches_every_instance: revocation_reaches_every_instance;
}

/// The service's README (`server/README.md`), "Run it as a vault", names every flag of the
/// vault, each with the default the flag has.
#[test]
fn the_readme_states_the_vault_flags_and_their_defaults() {
    use clap::CommandFactory;
    let readme = std::fs::read_to_string(repo_dir().join("server/README.md")).unwrap();
    let section = readme
        .split("\n## Run it as a vault\n")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("a ## Run it as a vault section in server/README.md");
    let command = cert_download_server::Options::command();
    let flags: Vec<&clap::Arg> = command
        .get_arguments()
        .filter(|a| a.get_help_heading().is_some_and(|h| h.starts_with("Vault")))
        .collect();
    assert_eq!(flags.len(), 10, "the vault's flags");
    for arg in flags {
        let flag = format!("--{}", arg.get_long().unwrap());
        assert!(
            section.contains(&format!("`{flag}")),
            "server/README.md does not name {flag}"
        );
        if let [default] = arg.get_default_values() {
            let value = arg.get_value_names().unwrap()[0].as_str();
            let stated = format!("`{flag} {value}` (default {})", default.to_string_lossy());
            assert!(
                section.contains(&stated),
                "server/README.md does not say {stated}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Start-up refusals
// ---------------------------------------------------------------------------------------

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn an_unreachable_or_wrong_vault_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let kek = dir.path().join("kek");
    cert_download_vault::Keyring::create_file(&kek).unwrap();
    let kek = kek.to_str().unwrap();

    // PostgreSQL that does not answer: refused within the acquire timeout, saying so.
    let url = format!(
        "postgres://svc:hunter2-secret@127.0.0.1:{}/vault?password=hunter2-query",
        closed_port()
    );
    let start = Instant::now();
    let stderr = Server::refuses_to_start(&[
        "--insecure-http",
        "--database",
        &url,
        "--kek-file",
        kek,
        "--db-acquire-timeout",
        "1",
    ]);
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
    assert!(stderr.contains("cannot be reached"), "{stderr}");
    assert!(
        !stderr.contains("hunter2"),
        "the password is shown: {stderr}"
    );

    // A SQLite file that is not a vault.
    let missing = format!("sqlite://{}", dir.path().join("none.db").display());
    let stderr =
        Server::refuses_to_start(&["--insecure-http", "--database", &missing, "--kek-file", kek]);
    assert!(stderr.contains("vault database"), "{stderr}");

    // The flags that go together, and those that do not.
    let stderr = Server::refuses_to_start(&["--insecure-http", "--database", &missing]);
    assert!(stderr.contains("--kek-file"), "{stderr}");
    let stderr = Server::refuses_to_start(&["--kek-file", kek]);
    assert!(stderr.contains("--database"), "{stderr}");
    let stderr = Server::refuses_to_start(&[
        "--database",
        &missing,
        "--kek-file",
        kek,
        "--store",
        dir.path().to_str().unwrap(),
    ]);
    assert!(stderr.contains("--store"), "{stderr}");
    let stderr = Server::refuses_to_start(&["--db-timeout", "0"]);
    assert!(stderr.contains("--db-timeout"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_kek_file_that_is_not_the_vaults_is_refused_at_start() {
    let d = deployment(Backend::Sqlite).await;
    let other = d.db.dir.path().join("other-kek");
    cert_download_vault::Keyring::create_file(&other).unwrap();
    let stderr = Server::refuses_to_start(&[
        "--listen",
        "127.0.0.1:0",
        "--insecure-http",
        "--database",
        &d.db.url,
        "--kek-file",
        other.to_str().unwrap(),
    ]);
    assert!(stderr.contains("KEK"), "{stderr}");
}

// ---------------------------------------------------------------------------------------
// Database loss and recovery (PostgreSQL, through a TCP relay the test cuts)
// ---------------------------------------------------------------------------------------

/// What the relay between the server and PostgreSQL does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    /// Passes bytes both ways.
    Up,
    /// Closes every connection and refuses new ones (the database is gone).
    Down,
    /// Accepts connections and never answers (a host that vanished from the network).
    Silent,
    /// Keeps every connection open, the pool's established ones included, and stops
    /// passing bytes (a database that hangs in the middle of a query).
    Frozen,
}

/// A loopback TCP relay to PostgreSQL on a fixed port.
struct Relay {
    port: u16,
    target: SocketAddr,
    task: Option<tokio::task::JoinHandle<()>>,
    frozen: tokio::sync::watch::Sender<bool>,
}

/// Copies bytes from `from` to `to`, holding each piece while the relay is frozen.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut frozen: tokio::sync::watch::Receiver<bool>,
) {
    use tokio::io::AsyncReadExt;
    let mut piece = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut piece).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if frozen.wait_for(|f| !*f).await.is_err() || to.write_all(&piece[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

impl Relay {
    async fn new(target: SocketAddr) -> Relay {
        let mut relay = Relay {
            port: closed_port(),
            target,
            task: None,
            frozen: tokio::sync::watch::channel(false).0,
        };
        relay.set(Link::Up).await;
        relay
    }

    async fn set(&mut self, link: Link) {
        if link == Link::Frozen {
            self.frozen.send_replace(true);
            return;
        }
        if let Some(task) = self.task.take() {
            // Aborting the task drops its listener and every connection it holds.
            task.abort();
            let _ = task.await;
        }
        self.frozen.send_replace(false);
        if link == Link::Down {
            return;
        }
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .unwrap();
        let (target, frozen) = (self.target, self.frozen.subscribe());
        self.task = Some(tokio::spawn(async move {
            let mut held = tokio::task::JoinSet::new();
            loop {
                let Ok((inbound, _)) = listener.accept().await else {
                    continue;
                };
                let frozen = frozen.clone();
                held.spawn(async move {
                    if link == Link::Silent {
                        let _keep = inbound;
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                        return;
                    }
                    let Ok(outbound) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    let (in_read, in_write) = inbound.into_split();
                    let (out_read, out_write) = outbound.into_split();
                    tokio::join!(
                        pump(in_read, out_write, frozen.clone()),
                        pump(out_read, in_write, frozen),
                    );
                });
            }
        }));
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// `url` with its host and port replaced by `127.0.0.1:<port>`, and the address it named.
fn through(url: &str, port: u16) -> (String, SocketAddr) {
    let start = url
        .find('@')
        .or_else(|| url.find("://").map(|i| i + 2))
        .unwrap()
        + 1;
    let end = start + url[start..].find('/').unwrap();
    let target = url[start..end]
        .parse()
        .unwrap_or_else(|_| panic!("the test needs a numeric host:port in {url}"));
    (
        format!("{}127.0.0.1:{port}{}", &url[..start], &url[end..]),
        target,
    )
}

/// Sends `n` requests at once; each must be answered 503 `database_unavailable` (with
/// `Retry-After`, without backend text) within `limit`.
async fn all_unavailable(http: &reqwest::Client, server: &Server, token: &str, n: usize) {
    let limit = Duration::from_secs(8);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for k in 0..n {
        let (http, url, token) = (http.clone(), server.url.clone(), token.to_owned());
        let request = if k % 2 == 0 {
            body(12345, "crt", false)
        } else {
            body(12345, "pfx", true)
        };
        tasks.spawn(async move {
            post(&http, &url, Some(&token), Some("application/json"), request).await
        });
    }
    while let Some(reply) = tasks.join_next().await {
        let reply = reply.unwrap();
        reply.expect_error(503, &["database_unavailable"]);
        retry_after(&reply);
        no_backend_text(&reply);
    }
    let took = started.elapsed();
    assert!(took < limit, "{n} requests took {took:?} to be refused");
}

#[cfg_attr(
    not(postgres_cluster),
    ignore = "needs PostgreSQL: set CERT_DOWNLOAD_POSTGRES_URL (scripts/test-all starts a throwaway cluster)"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn database_loss_and_recovery() {
    let d = deployment(Backend::Postgres).await;
    let (_, target) = through(&d.db.service_url(), 0);
    let mut relay = Relay::new(target).await;
    let (url, _) = through(&d.db.service_url(), relay.port);
    // Two connections for up to twelve requests at once: waits are bounded all the same.
    let server = start_on(&d.db, Some(&url), "a", &["--db-max-connections", "2"]);
    let http = client(&server);
    let pid = server.pid();
    post_json(&http, &server, Some(&d.admin), &body(12345, "crt", false))
        .await
        .expect_ok("crt");

    for link in [Link::Down, Link::Silent, Link::Frozen] {
        relay.set(link).await;
        all_unavailable(&http, &server, &d.admin, 12).await;
        relay.set(Link::Up).await;
        // Back without a restart: the pool opens new connections.
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let reply = post_json(&http, &server, Some(&d.admin), &body(12345, "pfx", true)).await;
            if reply.status == 200 {
                reply.expect_ok("pfx");
                break;
            }
            reply.expect_error(503, &["database_unavailable"]);
            assert!(Instant::now() < deadline, "no recovery after {link:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(server.pid(), pid);
    }
    assert!(
        server
            .wait_for_log("the database is unavailable", 1, Duration::from_secs(1))
            .await
            || server.log_so_far().contains("database_unavailable"),
        "the log says why:\n{}",
        server.log_so_far()
    );
    // Every 200 has its row; the 503s that reached the store have theirs only if the
    // database took them (it did not).
    let rows = audit_rows(&d.vault).await;
    let ok: Vec<_> = rows.iter().filter(|r| r.entry.status == 200).collect();
    assert_eq!(ok.len(), 4, "{rows:?}");
    drop(server);
}

// ---------------------------------------------------------------------------------------
// Two instances on one PostgreSQL, set up with the admin command; one SIGKILLed mid-flood
// ---------------------------------------------------------------------------------------

/// The admin command, built beside the server (`cargo test --workspace` and
/// scripts/test-all build it; alone: `cargo build -p cert-download-vault`).
fn admin_binary() -> PathBuf {
    let bin = server_binary()
        .parent()
        .unwrap()
        .join("cert-download-vault");
    assert!(
        bin.is_file(),
        "{} is missing: build it with `cargo build -p cert-download-vault` (scripts/test-all \
         builds the whole workspace)",
        bin.display()
    );
    bin
}

/// Runs the admin command on `db`; its one JSON object, after it exited 0.
fn admin(db: &TestDb, args: &[&str], stdin: Option<&str>) -> serde_json::Value {
    let mut command = Command::new(admin_binary());
    command.arg(args[0]);
    let rest = if args[0] == "token" {
        command.arg(args[1]);
        &args[2..]
    } else {
        &args[1..]
    };
    command
        .args(["--database", &db.url, "--kek-file"])
        .arg(&db.kek_file)
        .args(rest)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    if let Some(text) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "admin {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// One request on a connection of its own (so that the client address in the audit row
/// names it): the address it came from and the status, or why none came.
async fn one_request(
    server_addr: SocketAddr,
    token: &str,
    body: &str,
) -> (SocketAddr, Result<u16, String>) {
    let connect = async {
        let tcp = tokio::net::TcpStream::connect(server_addr)
            .await
            .map_err(|e| e.to_string())?;
        let local = tcp.local_addr().map_err(|e| e.to_string())?;
        Ok::<_, String>((tcp, local))
    };
    let (tcp, local) = match connect.await {
        Ok(pair) => pair,
        Err(e) => return ("0.0.0.0:0".parse().unwrap(), Err(e)),
    };
    let result = async {
        let mut tls = raw::tls_over(tcp).await?;
        let length = body.len().to_string();
        let auth = format!("Bearer {token}");
        let head = raw::head(&[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
            ("Content-Length", &length),
            ("Connection", "close"),
        ]);
        tls.write_all(format!("{head}{body}").as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        tls.flush().await.map_err(|e| e.to_string())?;
        let reply = raw::read_reply(&mut tls, Duration::from_secs(60)).await?;
        Ok(reply.status)
    }
    .await;
    (local, result)
}

/// A request of the flood: the instance (`a`, `b`), whether it asked for a key, the
/// client address, the status or why none came, whether it was sent after the SIGKILL.
type Sent = (char, bool, SocketAddr, Result<u16, String>, bool);

#[cfg_attr(
    not(postgres_cluster),
    ignore = "needs PostgreSQL: set CERT_DOWNLOAD_POSTGRES_URL (scripts/test-all starts a throwaway cluster)"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_one_postgres_and_one_killed_mid_flood() {
    let db = TestDb::new(Backend::Postgres).await;
    let demo_dir = repo_dir().join("examples/demo-store");
    admin(&db, &["init"], None);
    db.grant_service_role().await;
    admin(&db, &["import", demo_dir.to_str().unwrap()], None);
    admin(
        &db,
        &["grant", "flood", "--read", "--export", "--all"],
        None,
    );
    admin(&db, &["grant", "victim", "--read", "--all"], None);
    let token = admin(&db, &["token", "create", "flood"], None)["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let victim = admin(&db, &["token", "create", "victim"], None)["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let vault = db.connect().await;

    let (a, b) = (start(&db, "a"), start(&db, "b"));
    // Downloads through both.
    for server in [&a, &b] {
        let http = client(server);
        post_json(&http, server, Some(&token), &body(12345, "pfx", true))
            .await
            .expect_ok("pfx");
        post_json(&http, server, Some(&victim), &body(12345, "crt", false))
            .await
            .expect_ok("crt");
    }
    // Revoked through the admin command (the token on standard input): both refuse.
    let out = admin(&db, &["token", "revoke", "-"], Some(&victim));
    assert_eq!(out["revoked"], true, "{out}");
    for server in [&a, &b] {
        post_json(
            &client(server),
            server,
            Some(&victim),
            &body(12345, "crt", false),
        )
        .await
        .expect_error(401, &["unauthenticated"]);
    }

    // The flood: eight workers, each request on its own connection, alternating between
    // the instances, one in ten with a key; bounded in count and time. Instance a is
    // SIGKILLed once 40 requests have been answered.
    const WORKERS: usize = 8;
    const MAX_REQUESTS: usize = 400;
    const MAX_TIME: Duration = Duration::from_secs(60);
    let results: Arc<Mutex<Vec<Sent>>> = Arc::new(Mutex::new(Vec::new()));
    let killed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sent = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..WORKERS {
        let (results, killed, sent, token) = (
            Arc::clone(&results),
            Arc::clone(&killed),
            Arc::clone(&sent),
            token.clone(),
        );
        let (addr_a, addr_b) = (a.addr, b.addr);
        workers.spawn(async move {
            loop {
                let k = sent.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let b_answered_since_kill = {
                    let r = results.lock().unwrap();
                    r.iter().filter(|x| x.0 == 'b' && x.4).count()
                };
                if k >= MAX_REQUESTS || started.elapsed() > MAX_TIME || b_answered_since_kill >= 60
                {
                    break;
                }
                let (name, addr) = if (k + w) % 2 == 0 {
                    ('a', addr_a)
                } else {
                    ('b', addr_b)
                };
                let keyed = k % 10 == 0;
                let after_kill = killed.load(std::sync::atomic::Ordering::SeqCst);
                let (local, status) = one_request(addr, &token, &body(12345, "crt", keyed)).await;
                results
                    .lock()
                    .unwrap()
                    .push((name, keyed, local, status, after_kill));
            }
        });
    }
    // The killer: once 40 requests are answered, SIGKILL instance a.
    let a_pid = a.pid();
    loop {
        let answered = results.lock().unwrap().len();
        if answered >= 40 || started.elapsed() > MAX_TIME {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let status = Command::new("kill")
        .args(["-KILL", &a_pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    killed.store(true, std::sync::atomic::Ordering::SeqCst);
    while let Some(joined) = workers.join_next().await {
        joined.unwrap();
    }
    let results = results.lock().unwrap().clone();
    assert!(started.elapsed() < MAX_TIME + Duration::from_secs(70));

    let count = |name: char, after: bool, ok: bool| {
        results
            .iter()
            .filter(|r| r.0 == name && r.4 == after && (r.3 == Ok(200)) == ok)
            .count()
    };
    eprintln!(
        "flood: {} requests in {:?}; a: {} ok before the kill, {} failed after; b: {} ok \
         before, {} after, {} failed",
        results.len(),
        started.elapsed(),
        count('a', false, true),
        count('a', true, false),
        count('b', false, true),
        count('b', true, true),
        count('b', false, false) + count('b', true, false),
    );
    // Instance b answered every request it was sent, before and after the kill.
    let b_results: Vec<_> = results.iter().filter(|r| r.0 == 'b').collect();
    let b_after: Vec<_> = b_results.iter().filter(|r| r.4).collect();
    assert!(
        b_after.len() >= 20,
        "b answered {} after the kill",
        b_after.len()
    );
    for r in &b_results {
        assert_eq!(r.3, Ok(200), "instance b: {r:?}");
    }
    // Instance a: its requests after the kill failed (it is gone), none hung.
    let a_after_failed = results
        .iter()
        .filter(|r| r.0 == 'a' && r.4 && r.3.is_err())
        .count();
    assert!(a_after_failed > 0, "nothing was sent to a after the kill?");

    // Every 200 the client got has its audit row: same instance, same client address,
    // key_out as asked. No row is half written: every row is whole and consistent.
    let rows = audit_rows(&vault).await;
    let by_client: std::collections::HashMap<String, &AuditRow> = rows
        .iter()
        .filter_map(|r| r.entry.client.clone().map(|c| (c, r)))
        .collect();
    let mut checked = 0;
    for (name, keyed, local, status, _) in &results {
        if *status != Ok(200) {
            continue;
        }
        let row = by_client
            .get(&local.to_string())
            .unwrap_or_else(|| panic!("no audit row for the 200 to {local} from {name}"));
        let e = &row.entry;
        assert_eq!(
            e.instance.as_deref(),
            Some(name.to_string().as_str()),
            "{row:?}"
        );
        assert_eq!((e.status, e.key_out), (200, *keyed), "{row:?}");
        checked += 1;
    }
    assert!(checked >= 60, "only {checked} 200s");
    for row in &rows {
        let e = &row.entry;
        assert!(matches!(e.instance.as_deref(), Some("a" | "b")), "{row:?}");
        assert!(matches!(e.status, 200 | 401), "{row:?}");
        assert!(
            e.principal.is_some() && e.format.is_some() && e.certificate_id == Some(12345),
            "{row:?}"
        );
        assert!(
            e.client
                .as_deref()
                .unwrap_or("")
                .parse::<SocketAddr>()
                .is_ok(),
            "{row:?}"
        );
        assert_eq!(e.error.is_some(), e.status != 200, "{row:?}");
        assert!(!e.key_out || e.status == 200, "{row:?}");
    }
    // Rows of a may exceed the 200s it sent: a download committed whose answer the kill
    // cut off. Never the reverse (checked above).
    let a_rows = rows
        .iter()
        .filter(|r| r.entry.instance.as_deref() == Some("a"))
        .count();
    let a_ok = results
        .iter()
        .filter(|r| r.0 == 'a' && r.3 == Ok(200))
        .count();
    assert!(a_rows >= a_ok);

    // The audit chains are whole: a's ends at its last committed row (the SIGKILL cut off
    // nothing it had committed), a restarted a continues it, and the checkpoints signed
    // at shutdown vouch for both. Verified with the database and the public key only.
    drop(a);
    let file = db.dir.path().join("checkpoints.jsonl");
    let a = start_on(
        &db,
        None,
        "a",
        &["--audit-checkpoint-file", file.to_str().unwrap()],
    );
    post_json(&client(&a), &a, Some(&token), &body(12345, "crt", false))
        .await
        .expect_ok("crt");
    assert!(a.stop().status.success());
    assert!(b.stop().status.success());
    let key = audit_command(&["public-key", "--database", &db.url], None).1["public_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let (code, report) = audit_command(
        &["verify", "--database", &db.url, "--public-key", &key],
        Some(&file),
    );
    assert_eq!(code, 0, "{report}");
    assert_eq!(
        report["rows"].as_u64(),
        Some(rows.len() as u64 + 1),
        "{report}"
    );
    assert_eq!(report["checkpoints_file"], 1, "{report}");
    let a_chain = report["writers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["writer"] == "a")
        .unwrap();
    assert_eq!(
        a_chain["last_seq"].as_u64(),
        Some(a_rows as u64 + 1),
        "{report}"
    );
    assert_eq!(a_chain["vouched_seq"], a_chain["last_seq"], "{report}");
    vault.close().await;
}

/// `cert-download-vault audit ARGS` (no KEK file), with `--checkpoints FILE` if given: its
/// exit code and JSON.
fn audit_command(args: &[&str], checkpoints: Option<&std::path::Path>) -> (i32, serde_json::Value) {
    let mut command = Command::new(admin_binary());
    command.arg("audit").args(args);
    if let Some(file) = checkpoints {
        command.arg("--checkpoints").arg(file);
    }
    let out = command.output().unwrap();
    let value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    (out.status.code().unwrap(), value)
}
