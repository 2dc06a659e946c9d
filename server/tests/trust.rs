//! What the service on the vault checks before it trusts: its own TLS key (never the
//! demo's, never readable by others), the database link and role, the forwarded client
//! address (only the configured header, split on raw bytes), and the PFX profiles a
//! request may ask for (recorded in the audit row).

use cert_download_test_support::vault_db as common;

use std::os::unix::fs::PermissionsExt;

use cert_download_test_support::server_harness::*;
use cert_download_vault::{AuditFilter, AuditRow, Vault};
use common::{Backend, DEMO_IDS, TestDb, import_dir};

/// The server executable cargo built for this test binary.
const SERVER: ServerBinary = ServerBinary::new(env!("CARGO_BIN_EXE_cert-download-server"));

const PASSWORD: &str = "securepassword123";

/// A SQLite vault with the demo store and a token of full access.
async fn vault_with_demo(backend: Backend) -> (TestDb, Vault, String) {
    let db = TestDb::new(backend).await;
    let vault = db.init().await;
    db.grant_service_role().await;
    let (stored, _) = import_dir(&vault, &repo_dir().join("examples/demo-store"), &DEMO_IDS).await;
    assert_eq!(stored, DEMO_IDS);
    let token = common::full_access_token(&vault, "admin").await;
    (db, vault, token)
}

/// A copy of the demo key with `mode`, in the test's directory.
fn demo_key_copy(db: &TestDb, mode: u32) -> String {
    let key = demo_tls_key_copy(db.dir.path(), &format!("server-{mode:o}.key"), mode);
    key.to_str().unwrap().to_owned()
}

fn base_args<'a>(db: &'a TestDb, cert: &'a str, key: &'a str, url: &'a str) -> Vec<&'a str> {
    vec![
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        cert,
        "--tls-key",
        key,
        "--database",
        url,
        "--kek-file",
        db.kek_file.to_str().unwrap(),
    ]
}

async fn audit_rows(vault: &Vault) -> Vec<AuditRow> {
    vault.audit(&AuditFilter::default()).await.unwrap()
}

// ---------------------------------------------------------------------------------------
// The service's own TLS key
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vault_never_serves_the_demo_key_or_a_key_others_can_read() {
    let (db, _vault, _) = vault_with_demo(Backend::Sqlite).await;
    let kek = db.kek_file.to_str().unwrap().to_owned();
    let cert = demo("tls/server.pem").to_str().unwrap().to_owned();

    // No TLS flags: refused, where it used to serve the demo store's key.
    let stderr = SERVER.refuses_to_start(&[
        "--listen",
        "127.0.0.1:0",
        "--database",
        &db.url,
        "--kek-file",
        &kek,
    ]);
    assert!(stderr.contains("--tls-cert and --tls-key"), "{stderr}");
    // The demo key named outright: refused.
    let demo_key = demo("tls/server.key").to_str().unwrap().to_owned();
    let stderr = SERVER.refuses_to_start(&base_args(&db, &cert, &demo_key, &db.url));
    assert!(stderr.contains("demo store"), "{stderr}");
    // A key readable by group or others: refused, saying so.
    for mode in [0o644, 0o640, 0o604] {
        let key = demo_key_copy(&db, mode);
        let stderr = SERVER.refuses_to_start(&base_args(&db, &cert, &key, &db.url));
        assert!(stderr.contains("readable by group or others"), "{stderr}");
    }
    // Its owner's alone: served.
    let key = demo_key_copy(&db, 0o600);
    let server = SERVER.start(&base_args(&db, &cert, &key, &db.url));
    assert!(server.url.starts_with("https://"), "{}", server.url);
    drop(server);
    // Plain HTTP on loopback, asked for: served.
    let server = SERVER.start(&[
        "--listen",
        "127.0.0.1:0",
        "--insecure-http",
        "--database",
        &db.url,
        "--kek-file",
        &kek,
    ]);
    assert!(server.url.starts_with("http://"), "{}", server.url);
}

#[test]
fn a_directory_store_key_readable_by_others_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    std::fs::create_dir_all(store.join("tls")).unwrap();
    std::fs::copy(demo("tls/server.pem"), store.join("tls/server.pem")).unwrap();
    std::fs::copy(demo("tls/server.key"), store.join("tls/server.key")).unwrap();
    std::fs::set_permissions(
        store.join("tls/server.key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    std::fs::write(store.join("tokens.json"), "{}").unwrap();
    let stderr = SERVER.refuses_to_start(&[
        "--listen",
        "127.0.0.1:0",
        "--store",
        store.to_str().unwrap(),
    ]);
    assert!(stderr.contains("readable by group or others"), "{stderr}");
}

// ---------------------------------------------------------------------------------------
// The database link and role
// ---------------------------------------------------------------------------------------

#[test]
fn an_unverified_database_link_off_loopback_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let kek = dir.path().join("kek");
    cert_download_vault::Keyring::create_file(&kek).unwrap();
    for url in [
        "postgres://svc@db.invalid/vault?password=hunter2",
        "postgres://svc:hunter2@192.0.2.1:5432/vault?sslmode=require",
    ] {
        let stderr = SERVER.refuses_to_start(&[
            "--listen",
            "127.0.0.1:0",
            "--insecure-http",
            "--database",
            url,
            "--kek-file",
            kek.to_str().unwrap(),
        ]);
        let why: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("cert-download-server: "))
            .collect();
        assert_eq!(why.len(), 1, "{stderr}");
        assert!(why[0].contains("sslmode=verify-full"), "{stderr}");
        assert!(
            !stderr.contains("hunter2"),
            "the password is shown: {stderr}"
        );
    }
}

#[cfg_attr(
    not(postgres_cluster),
    ignore = "needs PostgreSQL: set CERT_DOWNLOAD_POSTGRES_URL (scripts/test-all starts a throwaway cluster)"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_role_that_could_change_audit_rows_is_refused_at_start() {
    let (db, _vault, _) = vault_with_demo(Backend::Postgres).await;
    let key = demo_key_copy(&db, 0o600);
    let cert = demo("tls/server.pem").to_str().unwrap().to_owned();
    // The owner (here a superuser): refused, naming the role and the privilege.
    let stderr = SERVER.refuses_to_start(&base_args(&db, &cert, &key, &db.url));
    assert!(
        stderr.contains("\"postgres\"") && stderr.contains("ownership"),
        "{stderr}"
    );
    // The service role of the documented grants: served.
    let service = db.service_url();
    let server = SERVER.start(&base_args(&db, &cert, &key, &service));
    drop(server);
    // The same role with DELETE on audit: refused.
    let raw = db.raw().await;
    let common::Raw::Postgres(pool) = &raw else {
        unreachable!()
    };
    let role = db.service_role();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "GRANT DELETE ON audit TO {role}"
    )))
    .execute(pool)
    .await
    .unwrap();
    let stderr = SERVER.refuses_to_start(&base_args(&db, &cert, &key, &service));
    assert!(
        stderr.contains(&role) && stderr.contains("DELETE"),
        "{stderr}"
    );
    raw.close().await;
}

// ---------------------------------------------------------------------------------------
// The client's address behind a trusted proxy, and the PFX profiles
// ---------------------------------------------------------------------------------------

fn pfx(profile: Option<&str>) -> String {
    match profile {
        Some(p) => format!(
            r#"{{"id": 12345, "format": "pfx", "password": "{PASSWORD}", "pfx_encryption": "{p}"}}"#
        ),
        None => format!(r#"{{"id": 12345, "format": "pfx", "password": "{PASSWORD}"}}"#),
    }
}

/// A header field: its name and raw value.
type Field<'a> = (&'a str, &'a [u8]);

/// POSTs a crt download with extra header fields (raw bytes allowed).
async fn post_with(
    http: &reqwest::Client,
    server: &Server,
    token: &str,
    fields: &[Field<'_>],
    body: String,
) -> Reply {
    let mut request = http
        .post(&server.url)
        .bearer_auth(token)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body);
    for (name, value) in fields {
        request = request.header(
            *name,
            reqwest::header::HeaderValue::from_bytes(value).unwrap(),
        );
    }
    Reply::read(request.send().await.unwrap()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_row_keeps_the_configured_headers_client_the_peer_and_the_profile() {
    let (db, vault, token) = vault_with_demo(Backend::Sqlite).await;
    let key = demo_key_copy(&db, 0o600);
    let cert = demo("tls/server.pem").to_str().unwrap().to_owned();
    let mut args = base_args(&db, &cert, &key, &db.url);
    args.extend([
        "--trusted-proxy",
        "127.0.0.1",
        "--pfx-encryption-allowed",
        "aes256_sha256,aes256_sha256_pbmac1",
    ]);
    let server = SERVER.start(&args);
    let http = client(&server);
    let crt = r#"{"id": 12345, "format": "crt"}"#.to_owned();
    let cases: &[(&[Field<'_>], &str)] = &[
        // The client's own Forwarded does not win over the proxy's X-Forwarded-For.
        (
            &[
                ("forwarded", b"for=6.6.6.6"),
                ("x-forwarded-for", b"203.0.113.7"),
            ],
            "203.0.113.7",
        ),
        // One byte that is not UTF-8 in a hop the client wrote spoils that hop only.
        (
            &[("x-forwarded-for", b"\xff\xfe, 203.0.113.9")],
            "203.0.113.9",
        ),
        // A hop that is not an address where the proxy's should be: the proxy's peer.
        (&[("x-forwarded-for", b"203.0.113.10, \xff")], "127.0.0.1"),
    ];
    for (fields, _) in cases {
        post_with(&http, &server, &token, fields, crt.clone())
            .await
            .expect_ok("crt");
    }
    let rows = audit_rows(&vault).await;
    assert_eq!(rows.len(), cases.len());
    for (row, (fields, client)) in rows.iter().zip(cases) {
        let shown = row.entry.client.as_deref().unwrap();
        assert!(shown.starts_with(client), "{fields:?}: client {shown}");
        let peer = row.entry.peer.as_deref().unwrap();
        assert!(peer.starts_with("127.0.0.1:"), "{peer}");
        assert_eq!(row.entry.pfx_encryption, None);
    }
    assert!(
        server
            .wait_for_log(
                "a forwarded hop is not an address",
                1,
                std::time::Duration::from_secs(5)
            )
            .await,
        "{}",
        server.log_so_far()
    );

    // A profile outside --pfx-encryption-allowed: 400 naming the allowed ones; its audit
    // row says which profile was asked for. The allowed ones and the default go through.
    let reply = post_with(&http, &server, &token, &[], pfx(Some("tripledes_sha1"))).await;
    let message = reply.expect_error(400, &["pfx_encryption_not_allowed"]);
    assert!(
        message.contains("aes256_sha256, aes256_sha256_pbmac1"),
        "{message}"
    );
    for profile in [None, Some("aes256_sha256_pbmac1")] {
        post_with(&http, &server, &token, &[], pfx(profile))
            .await
            .expect_ok("pfx");
    }
    let rows = audit_rows(&vault).await;
    let profiles: Vec<(u16, Option<&str>)> = rows[cases.len()..]
        .iter()
        .map(|r| (r.entry.status, r.entry.pfx_encryption.as_deref()))
        .collect();
    assert_eq!(
        profiles,
        [
            (400, Some("tripledes_sha1")),
            (200, Some("aes256_sha256")),
            (200, Some("aes256_sha256_pbmac1")),
        ]
    );
    assert!(
        server
            .wait_for_log(
                "pfx_encryption=\"tripledes_sha1\"",
                1,
                std::time::Duration::from_secs(5)
            )
            .await
            || server
                .log_so_far()
                .contains("pfx_encryption=tripledes_sha1"),
        "{}",
        server.log_so_far()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_forwarded_header_is_read_only_when_configured() {
    let (db, vault, token) = vault_with_demo(Backend::Sqlite).await;
    let key = demo_key_copy(&db, 0o600);
    let cert = demo("tls/server.pem").to_str().unwrap().to_owned();
    let mut args = base_args(&db, &cert, &key, &db.url);
    args.extend([
        "--trusted-proxy",
        "127.0.0.1",
        "--forwarded-header",
        "forwarded",
    ]);
    let server = SERVER.start(&args);
    let http = client(&server);
    let crt = r#"{"id": 12345, "format": "crt"}"#.to_owned();
    let fields: &[Field<'_>] = &[
        ("forwarded", b"for=192.0.2.60;proto=https"),
        ("x-forwarded-for", b"6.6.6.6"),
    ];
    post_with(&http, &server, &token, fields, crt)
        .await
        .expect_ok("crt");
    let rows = audit_rows(&vault).await;
    assert_eq!(rows[0].entry.client.as_deref(), Some("192.0.2.60"));
    let stderr = SERVER.refuses_to_start(&["--forwarded-header", "x-real-ip"]);
    assert!(stderr.contains("--forwarded-header"), "{stderr}");
}
