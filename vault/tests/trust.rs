//! What the vault checks before it trusts: the database link (verified off loopback, every
//! commit synchronous), the service's role (no power over the audit rows), the form of a
//! token before any query, a bounded share of the pool for token look-ups, grants inside
//! the look-up's joins, and tokens listed and revoked without their plaintext.

use cert_download_test_support::on_both;
use cert_download_test_support::vault_db as common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use cert_download::{AsyncCertificateStore, StoreError, Zeroizing};
use cert_download_vault::{
    AuditEntry, AuditFilter, Permission, QUERY_SQLITE, Scope, Vault, VaultError, VaultOptions,
};
use common::{Backend, DEMO_IDS, TestDb, id, import_dir};
use serde_json::Value;

async fn demo_vault(db: &TestDb) -> Vault {
    let vault = db.init().await;
    let (stored, _) = import_dir(&vault, &common::demo_store(), &DEMO_IDS).await;
    assert_eq!(stored, DEMO_IDS);
    vault
}

// ---------------------------------------------------------------------------------------
// Tokens: the issued form, the permits, list and revoke by id or principal
// ---------------------------------------------------------------------------------------

async fn a_token_not_of_the_issued_form_costs_no_query(backend: Backend) {
    let db = TestDb::new(backend).await;
    let vault = demo_vault(&db).await;
    let issued = common::full_access_token(&vault, "alice").await;
    assert!(vault.caller(&issued).await.unwrap().principal().is_some());
    // With the pool closed, any query fails: only an answer given without one succeeds.
    vault.close().await;
    let made_up = [
        "",
        "secret",
        "cdv_",
        "cdv_too-short",
        &format!("{issued}A"),
        &issued.replace("cdv_", "cdx_"),
        &format!("cdv_{}", "é".repeat(21) + "A"),
        &format!("cdv_{}", "+".repeat(43)),
    ];
    for token in made_up {
        let store = vault
            .caller(token)
            .await
            .unwrap_or_else(|e| panic!("{token:?} was looked up: {e}"));
        assert_eq!(store.principal(), None);
        assert!(matches!(
            store.certificate(id(1001)).await,
            Err(StoreError::Unauthenticated)
        ));
    }
    // A token of the issued form is looked up (and fails on the closed pool).
    let unknown = format!("cdv_{}", "A".repeat(43));
    assert!(vault.caller(&unknown).await.is_err());
}

async fn tokens_are_listed_and_revoked_without_their_plaintext(backend: Backend) {
    let db = TestDb::new(backend).await;
    let vault = demo_vault(&db).await;
    vault
        .grant("bob", Permission::Read, &Scope::All)
        .await
        .unwrap();
    let first = vault.create_token("bob", None).await.unwrap();
    let second = vault
        .create_token("bob", Some(Duration::from_secs(3600)))
        .await
        .unwrap();
    let other = vault.create_token("carol", None).await.unwrap();
    // The token itself sits in a buffer wiped on drop.
    let _: &Zeroizing<String> = &first.token;
    assert_ne!(first.id, second.id);
    assert!(!first.token.contains(&first.id));

    // Used once: its last use is recorded.
    assert!(
        vault
            .caller(&first.token)
            .await
            .unwrap()
            .principal()
            .is_some()
    );
    let mut listed = vault.tokens("bob").await.unwrap();
    // Created within the same second, they are in no particular order.
    listed.sort_by_key(|t| t.id != first.id);
    let ids: Vec<&str> = listed.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, [first.id.as_str(), second.id.as_str()]);
    assert!(listed[0].last_used_at.is_some());
    assert_eq!(listed[1].last_used_at, None);
    assert_eq!(listed[1].expires_at, second.expires_at);
    assert!(listed.iter().all(|t| t.revoked_at.is_none()));
    let shown = serde_json::to_string(&listed).unwrap();
    for secret in [first.token.as_str(), second.token.as_str()] {
        assert!(!shown.contains(secret));
        assert!(!shown.contains(&secret[4..20]));
    }
    let hash_hex: String = sha2::Sha256::digest(first.token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(!shown.contains(&hash_hex[..16]), "{shown}");

    // By id: that token only.
    assert!(vault.revoke_token_id(&first.id).await.unwrap());
    assert!(!vault.revoke_token_id(&first.id).await.unwrap());
    assert!(matches!(
        vault.revoke_token_id("0000000000000000").await,
        Err(VaultError::UnknownToken)
    ));
    assert_eq!(vault.caller(&first.token).await.unwrap().principal(), None);
    assert!(
        vault
            .caller(&second.token)
            .await
            .unwrap()
            .principal()
            .is_some()
    );

    // By principal: every token of it, no other.
    assert_eq!(vault.revoke_principal_tokens("bob").await.unwrap(), 1);
    assert_eq!(vault.caller(&second.token).await.unwrap().principal(), None);
    assert!(
        vault
            .caller(&other.token)
            .await
            .unwrap()
            .principal()
            .is_some()
    );
    assert!(
        vault
            .tokens("bob")
            .await
            .unwrap()
            .iter()
            .all(|t| t.revoked_at.is_some())
    );
}

/// A flood of made-up tokens of the issued form takes only the look-ups' permits (half the
/// pool): the other connections stay free for the rest of the vault's work.
#[cfg_attr(
    not(postgres_cluster),
    ignore = "needs PostgreSQL: set CERT_DOWNLOAD_POSTGRES_URL (scripts/test-all starts a throwaway cluster)"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_look_ups_leave_connections_to_the_rest() {
    let db = TestDb::new(Backend::Postgres).await;
    demo_vault(&db).await.close().await;
    let vault = Vault::connect(
        &db.url,
        db.keyring(),
        VaultOptions::default()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(3)),
    )
    .await
    .unwrap();
    // Every token look-up hangs while the test holds the tokens table.
    let mut holder = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut holder).await.unwrap();
    sqlx::query("LOCK TABLE tokens IN ACCESS EXCLUSIVE MODE")
        .execute(&mut holder)
        .await
        .unwrap();
    let mut flood = tokio::task::JoinSet::new();
    for n in 0..12 {
        let vault = vault.clone();
        flood.spawn(async move {
            let token = format!("cdv_{:0>43}", n);
            vault.caller(&token).await.map(|s| s.principal().is_none())
        });
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = std::time::Instant::now();
    let ids = vault.certificate_ids().await.unwrap();
    assert_eq!(ids.len(), DEMO_IDS.len());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
    while let Some(answer) = flood.join_next().await {
        assert!(answer.unwrap().unwrap());
    }
}

use sha2::Digest;
use sqlx::Connection;

/// The admin command: `token list` and `token revoke --id/--principal`.
fn admin(db: &TestDb, args: &[&str]) -> (i32, Vec<Value>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_cert-download-vault"))
        .args(args)
        .args(["--database", &db.url, "--kek-file"])
        .arg(&db.kek_file)
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let values = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (output.status.code().unwrap(), values, stdout)
}

async fn the_admin_command_lists_and_revokes_tokens(backend: Backend) {
    let db = TestDb::new(backend).await;
    let vault = demo_vault(&db).await;
    let (code, created, _) = admin(&db, &["token", "create", "dave"]);
    assert_eq!(code, 0);
    let token = created[0]["token"].as_str().unwrap().to_owned();
    let token_id = created[0]["id"].as_str().unwrap().to_owned();
    let (code, _, _) = admin(&db, &["token", "create", "dave"]);
    assert_eq!(code, 0);

    let (code, listed, stdout) = admin(&db, &["token", "list", "dave"]);
    assert_eq!((code, listed.len()), (0, 2), "{stdout}");
    assert!(!stdout.contains(&token));
    for row in &listed {
        let mut keys: Vec<&str> = row
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "created_at",
                "expires_at",
                "id",
                "last_used_at",
                "principal",
                "revoked_at"
            ]
        );
    }
    assert!(listed.iter().any(|row| row["id"] == token_id.as_str()));

    let (code, out, _) = admin(&db, &["token", "revoke", "--id", &token_id]);
    assert_eq!((code, &out[0]["already_revoked"]), (0, &Value::Bool(false)));
    assert_eq!(vault.caller(&token).await.unwrap().principal(), None);
    let (code, out, _) = admin(&db, &["token", "revoke", "--principal", "dave"]);
    assert_eq!((code, &out[0]["revoked"]), (0, &Value::from(1)));
    let (code, out, _) = admin(&db, &["token", "revoke", "--id", "nope"]);
    assert_eq!((code, &out[0]["error"]), (1, &Value::from("unknown_token")));
    // One of the three ways, exactly.
    let (code, _, _) = admin(&db, &["token", "revoke"]);
    assert_ne!(code, 0);
    let (code, _, _) = admin(
        &db,
        &["token", "revoke", "--id", "x", "--principal", "dave"],
    );
    assert_ne!(code, 0);
}

// ---------------------------------------------------------------------------------------
// The look-up: grants inside the joins
// ---------------------------------------------------------------------------------------

/// May read, may export, the leaf, the issuers, the sealed key's KEK id.
type Fetched = (i32, i32, Option<Vec<u8>>, Option<Vec<u8>>, Option<String>);

#[tokio::test]
async fn an_id_the_caller_may_not_read_reads_no_bytes() {
    let db = TestDb::new(Backend::Sqlite).await;
    let vault = demo_vault(&db).await;
    vault
        .grant("reader", Permission::Read, &Scope::All)
        .await
        .unwrap();
    let outsider = vault.create_token("outsider", None).await.unwrap();
    let reader = vault.create_token("reader", None).await.unwrap();
    let full = common::full_access_token(&vault, "admin").await;
    let raw = sqlx::SqlitePool::connect(&db.url).await.unwrap();
    // The columns the look-up fetches: the leaf, the issuers, the sealed key's ciphertext.
    let fetch =
        |token: String, n: i64| {
            let raw = raw.clone();
            async move {
                let hash = sha2::Sha256::digest(token.as_bytes()).to_vec();
                let row: Fetched =
                sqlx::query_as(QUERY_SQLITE.replace(
                    ", s.wrap_nonce, s.wrapped_key, s.key_format, s.key_nonce, s.ciphertext",
                    "",
                ).leak() as &'static str)
                .bind(hash)
                .bind(n)
                .bind(0_i64)
                .fetch_one(&raw)
                .await
                .unwrap();
                row
            }
        };
    let absent = fetch(outsider.token.to_string(), 999_999).await;
    assert_eq!(absent, (0, 0, None, None, None));
    // No read grant: as absent (the row's bytes were not joined).
    assert_eq!(fetch(outsider.token.to_string(), 1001).await, absent);
    // Read, no export: the certificate, not the sealed key.
    let (read, export, leaf, issuers, kek) = fetch(reader.token.to_string(), 1001).await;
    assert_eq!((read, export, kek), (1, 0, None));
    assert!(leaf.is_some() && issuers.is_some());
    // Both: everything.
    let (_, export, _, _, kek) = fetch(full, 1001).await;
    assert_eq!(export, 1);
    assert!(kek.is_some());
}

// ---------------------------------------------------------------------------------------
// The audit row's new columns
// ---------------------------------------------------------------------------------------

async fn the_audit_row_keeps_the_peer_and_the_pfx_profile(backend: Backend) {
    let db = TestDb::new(backend).await;
    let vault = db.init().await;
    let entry = AuditEntry {
        principal: Some("alice".into()),
        certificate_id: Some(1001),
        format: Some("pfx".into()),
        key_out: true,
        status: 200,
        client: Some("203.0.113.7".into()),
        peer: Some("10.0.0.2:41000".into()),
        pfx_encryption: Some("tripledes_sha1".into()),
        ..AuditEntry::default()
    };
    vault.record_audit(&entry).await.unwrap();
    let rows = vault.audit(&AuditFilter::default()).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].entry.peer.as_deref(), Some("10.0.0.2:41000"));
    assert_eq!(
        rows[0].entry.pfx_encryption.as_deref(),
        Some("tripledes_sha1")
    );
    assert_eq!(rows[0].entry.client.as_deref(), Some("203.0.113.7"));
}

on_both!(
    a_token_not_of_the_issued_form_costs_no_query,
    tokens_are_listed_and_revoked_without_their_plaintext,
    the_admin_command_lists_and_revokes_tokens,
    the_audit_row_keeps_the_peer_and_the_pfx_profile,
);

// ---------------------------------------------------------------------------------------
// The database link
// ---------------------------------------------------------------------------------------

/// A URL off loopback without `sslmode=verify-full` is refused before any connection is
/// tried (the host does not exist: a connection attempt would fail otherwise).
#[tokio::test]
async fn an_unverified_link_off_loopback_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let kek = dir.path().join("kek");
    cert_download_vault::Keyring::create_file(&kek).unwrap();
    let keyring = || cert_download_vault::Keyring::load(&kek).unwrap();
    for url in [
        "postgres://svc@db.invalid:5432/vault",
        "postgres://svc@db.invalid/vault?sslmode=require",
        "postgres://svc@192.0.2.1/vault?sslmode=verify-ca",
    ] {
        let error = Vault::connect(url, keyring(), VaultOptions::default())
            .await
            .unwrap_err();
        assert!(
            matches!(error, VaultError::InsecureTransport { .. }),
            "{url}: {error}"
        );
        assert!(error.to_string().contains("sslmode=verify-full"), "{error}");
        // The flag lets it through to the network (where this host does not answer).
        let error = Vault::connect(
            url,
            keyring(),
            VaultOptions::default()
                .insecure_database_transport(true)
                .acquire_timeout(Duration::from_millis(300)),
        )
        .await
        .unwrap_err();
        assert!(
            !matches!(error, VaultError::InsecureTransport { .. }),
            "{error}"
        );
    }
    // The admin command: exit 1, one line naming the setting.
    for args in [&["init"][..], &["token", "list", "alice"][..]] {
        let output = Command::new(env!("CARGO_BIN_EXE_cert-download-vault"))
            .args(args)
            .args([
                "--database",
                "postgres://svc:pw@db.invalid/vault",
                "--kek-file",
            ])
            .arg(&kek)
            .output()
            .unwrap();
        let stdout = String::from_utf8(output.stdout).unwrap();
        assert_eq!(output.status.code(), Some(1), "{stdout}");
        assert_eq!(stdout.lines().count(), 1, "{stdout}");
        assert!(stdout.contains("sslmode=verify-full"), "{stdout}");
        assert!(stdout.contains("insecure_database_transport"), "{stdout}");
    }
}

#[cfg_attr(
    not(postgres_cluster),
    ignore = "needs PostgreSQL: set CERT_DOWNLOAD_POSTGRES_URL (scripts/test-all starts a throwaway cluster)"
)]
#[tokio::test]
async fn every_connection_commits_synchronously() {
    let db = TestDb::new(Backend::Postgres).await;
    db.init().await.close().await;
    // The database's default says otherwise; the vault's connections do not follow it.
    let name = db.url.rsplit('/').next().unwrap().to_owned();
    let raw = db.raw().await;
    let sql = format!("ALTER DATABASE {name} SET synchronous_commit = off");
    match &raw {
        common::Raw::Postgres(pool) => {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(pool)
                .await
                .unwrap();
        }
        common::Raw::Sqlite(_) => unreachable!(),
    }
    raw.close().await;
    let plain = sqlx::PgPool::connect(&db.url).await.unwrap();
    let default: String = sqlx::query_scalar("SHOW synchronous_commit")
        .fetch_one(&plain)
        .await
        .unwrap();
    assert_eq!(default, "off");
    let vault = db.connect().await;
    for _ in 0..3 {
        assert_eq!(
            vault
                .postgres_setting("synchronous_commit")
                .await
                .unwrap()
                .as_deref(),
            Some("on")
        );
    }
}

// ---------------------------------------------------------------------------------------
// The service role
// ---------------------------------------------------------------------------------------

#[cfg_attr(
    not(postgres_cluster),
    ignore = "needs PostgreSQL: set CERT_DOWNLOAD_POSTGRES_URL (scripts/test-all starts a throwaway cluster)"
)]
#[tokio::test]
async fn a_service_role_with_power_over_the_audit_rows_is_refused() {
    let db = TestDb::new(Backend::Postgres).await;
    let owner = db.init().await;
    // The owner (a superuser here) is refused, naming the role and the privilege.
    let error = owner.check_service_role().await.unwrap_err();
    assert!(
        matches!(error, VaultError::AuditNotProtected { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("\"postgres\""), "{error}");

    // The grants used here are those the crate documents.
    let docs: String = include_str!("../src/lib.rs")
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .collect::<Vec<_>>()
        .join(" ");
    let docs = docs.split_whitespace().collect::<Vec<_>>().join(" ");
    for grant in common::SERVICE_GRANTS {
        assert!(docs.contains(grant), "the crate docs lack: {grant}");
    }
    let role = format!("svc_{}", db.url.rsplit('_').next().unwrap());
    let raw = db.raw().await;
    let common::Raw::Postgres(pool) = &raw else {
        unreachable!()
    };
    let run = |sql: String| async move {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(pool)
            .await
            .unwrap();
    };
    run(format!("CREATE ROLE {role} LOGIN")).await;
    // The grants the crate documents.
    for sql in common::SERVICE_GRANTS {
        run(sql.replace("vault_service", &role)).await;
    }
    let url = db.url.replacen("postgres@", &format!("{role}@"), 1);
    let service = Vault::connect(&url, db.keyring(), VaultOptions::default())
        .await
        .unwrap();
    service.check_service_role().await.unwrap();
    for privilege in ["UPDATE", "DELETE", "TRUNCATE"] {
        run(format!("GRANT {privilege} ON audit TO {role}")).await;
        let error = service.check_service_role().await.unwrap_err();
        let text = error.to_string();
        assert!(text.contains(&role) && text.contains(privilege), "{text}");
        run(format!("REVOKE {privilege} ON audit FROM {role}")).await;
    }
    service.check_service_role().await.unwrap();
    run(format!("ALTER TABLE audit OWNER TO {role}")).await;
    let text = service.check_service_role().await.unwrap_err().to_string();
    assert!(text.contains("ownership"), "{text}");
    run("ALTER TABLE audit OWNER TO postgres".to_owned()).await;
    service.close().await;
    owner.close().await;
    run(format!("REASSIGN OWNED BY {role} TO postgres")).await;
    run(format!("DROP OWNED BY {role}")).await;
    raw.close().await;
}

// ---------------------------------------------------------------------------------------
// A cluster of the test's own, serving TLS with a CA made here
// ---------------------------------------------------------------------------------------

fn pg_bin() -> PathBuf {
    if let Some(dir) = std::env::var_os("CERT_DOWNLOAD_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").is_file())
        .collect();
    found.sort();
    found
        .pop()
        .expect("PostgreSQL's binaries (CERT_DOWNLOAD_PG_BIN)")
}

fn run(program: &str, args: &[&str]) {
    let output = Command::new(program).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A CA (`NAME-ca.pem`) and, when `server` names a host, a certificate for it signed by
/// that CA (`server.pem`, `server.key`), made with the openssl command.
fn make_ca(dir: &Path, name: &str) -> PathBuf {
    let key = dir.join(format!("{name}-ca.key"));
    let cert = dir.join(format!("{name}-ca.pem"));
    run(
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={name} test CA"),
            "-keyout",
            key.to_str().unwrap(),
            "-out",
            cert.to_str().unwrap(),
        ],
    );
    cert
}

fn make_server_cert(dir: &Path, ca: &str, host: &str) {
    let (key, csr, cert) = (
        dir.join("server.key"),
        dir.join("server.csr"),
        dir.join("server.pem"),
    );
    run(
        "openssl",
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            &format!("/CN={host}"),
            "-keyout",
            key.to_str().unwrap(),
            "-out",
            csr.to_str().unwrap(),
        ],
    );
    let ext = dir.join("san.ext");
    std::fs::write(&ext, format!("subjectAltName=DNS:{host}\n")).unwrap();
    run(
        "openssl",
        &[
            "x509",
            "-req",
            "-in",
            csr.to_str().unwrap(),
            "-CA",
            dir.join(format!("{ca}-ca.pem")).to_str().unwrap(),
            "-CAkey",
            dir.join(format!("{ca}-ca.key")).to_str().unwrap(),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            ext.to_str().unwrap(),
            "-out",
            cert.to_str().unwrap(),
        ],
    );
}

/// A PostgreSQL cluster of this test alone, on 127.0.0.1, stopped when dropped.
struct OwnCluster {
    dir: tempfile::TempDir,
    port: u16,
    as_postgres: bool,
}

impl OwnCluster {
    fn command(&self, program: &str) -> Command {
        let path = pg_bin().join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    /// Starts with `ssl = on` and the certificate and key in `tls` (copied in).
    fn start(tls: &Path) -> OwnCluster {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let as_postgres = rustix_is_root();
        let data = dir.path().join("data");
        for file in ["server.pem", "server.key"] {
            std::fs::copy(tls.join(file), dir.path().join(file)).unwrap();
        }
        std::fs::set_permissions(
            dir.path().join("server.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        if as_postgres {
            run("chown", &["-R", "postgres:", dir.path().to_str().unwrap()]);
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cluster = OwnCluster {
            dir,
            port,
            as_postgres,
        };
        let status = cluster
            .command("initdb")
            .args(["-A", "trust", "-U", "postgres", "-D"])
            .arg(&data)
            .output()
            .unwrap();
        assert!(
            status.status.success(),
            "{}",
            String::from_utf8_lossy(&status.stderr)
        );
        let root = cluster.dir.path().display().to_string();
        let options = format!(
            "-k {root} -c listen_addresses=127.0.0.1 -p {port} -c fsync=off -c ssl=on \
             -c ssl_cert_file={root}/server.pem -c ssl_key_file={root}/server.key"
        );
        let status = cluster
            .command("pg_ctl")
            .args(["-w", "-D"])
            .arg(&data)
            .arg("-l")
            .arg(cluster.dir.path().join("log"))
            .args(["-o", &options, "start"])
            .output()
            .unwrap();
        assert!(
            status.status.success(),
            "{}",
            std::fs::read_to_string(cluster.dir.path().join("log")).unwrap_or_default()
        );
        cluster
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .args(["-m", "immediate", "-D"])
            .arg(self.dir.path().join("data"))
            .arg("stop")
            .output();
    }
}

fn rustix_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// `sslmode=verify-full` with the CA that signed the server's certificate connects to a
/// host off loopback (a name that is not `localhost`, reached through `hostaddr`); with
/// another CA, or for another name, it is refused.
#[cfg_attr(
    not(postgres_cluster),
    ignore = "needs PostgreSQL: set CERT_DOWNLOAD_POSTGRES_URL (scripts/test-all starts a throwaway cluster)"
)]
#[tokio::test]
async fn verify_full_accepts_the_right_ca_and_refuses_another() {
    let tls = tempfile::tempdir().unwrap();
    let ca = make_ca(tls.path(), "right");
    let wrong = make_ca(tls.path(), "wrong");
    make_server_cert(tls.path(), "right", "vault-db.test");
    let cluster = OwnCluster::start(tls.path());
    let kek = tls.path().join("kek");
    cert_download_vault::Keyring::create_file(&kek).unwrap();
    let keyring = || cert_download_vault::Keyring::load(&kek).unwrap();
    let url = |host: &str, ca: &Path| {
        format!(
            "postgres://postgres@{host}:{}/postgres?hostaddr=127.0.0.1&sslmode=verify-full&sslrootcert={}",
            cluster.port,
            ca.display()
        )
    };
    let options = || VaultOptions::default().acquire_timeout(Duration::from_secs(5));

    let vault = Vault::init(&url("vault-db.test", &ca), keyring(), options())
        .await
        .unwrap_or_else(|e| panic!("verify-full with the right CA: {e}"));
    vault.close().await;

    let error = Vault::connect(&url("vault-db.test", &wrong), keyring(), options())
        .await
        .unwrap_err();
    assert!(matches!(error, VaultError::Database(_)), "{error}");
    // The right CA, the wrong name.
    let error = Vault::connect(&url("other-db.test", &ca), keyring(), options())
        .await
        .unwrap_err();
    assert!(matches!(error, VaultError::Database(_)), "{error}");
    // Without verify-full, the same host is not tried at all.
    let plain = format!(
        "postgres://postgres@vault-db.test:{}/postgres?hostaddr=127.0.0.1&sslmode=require",
        cluster.port
    );
    let error = Vault::connect(&plain, keyring(), options())
        .await
        .unwrap_err();
    assert!(
        matches!(error, VaultError::InsecureTransport { .. }),
        "{error}"
    );
}
