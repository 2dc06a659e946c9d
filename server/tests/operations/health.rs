//! `/healthz` and `/readyz` in-process: on the directory store, while shutdown begins, as
//! unauthenticated requests that cost no authentication budget, and on a SQLite vault
//! whose file goes away, whose audit trail refuses rows, and whose check value no longer
//! opens.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, header};
use cert_download_server::{Config, Options, VaultBackend, app};
use cert_download_vault::{Keyring, Vault, VaultOptions};
use clap::Parser;
use http_body_util::BodyExt;
use serde_json::Value;
use tokio::sync::watch;
use tower::ServiceExt;

use crate::process::demo;

/// More than the time a round of readiness checks answers the probes that follow it.
const PAST_FRESH: Duration = Duration::from_millis(1100);

fn options(args: &[&str]) -> Options {
    Options::try_parse_from(std::iter::once("cert-download-server").chain(args.iter().copied()))
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

/// `(status, JSON body)` of one request from 127.0.0.1.
async fn send(
    router: &axum::Router,
    method: Method,
    path: &str,
    token: Option<&str>,
) -> (u16, Value) {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        request = request
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json");
    }
    let mut request = request
        .body(Body::from(r#"{"id": 12345, "format": "crt"}"#))
        .unwrap();
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    (status, json)
}

async fn probe(router: &axum::Router, path: &str) -> (u16, Value) {
    send(router, Method::GET, path, None).await
}

fn failing(body: &Value) -> Vec<String> {
    body["failing"]
        .as_array()
        .unwrap_or_else(|| panic!("no failing list: {body}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn healthz_and_readyz_answer_200_on_the_demo_store() {
    let router = app(Config::from_options(&options(&[])).unwrap());
    let (status, body) = probe(&router, "/healthz").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    let (status, body) = probe(&router, "/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"]["store"], "ok");
    assert_eq!(body["checks"]["draining"], "ok");
    assert_eq!(failing(&body), Vec::<String>::new());
    // Other methods: the contract's 405, as on the endpoint.
    let (status, body) = send(&router, Method::POST, "/readyz", None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (405, Some("method_not_allowed"))
    );
}

#[tokio::test]
async fn readyz_is_503_naming_draining_as_soon_as_shutdown_begins() {
    let (begin, shutdown) = watch::channel(false);
    let mut config = Config::from_options(&options(&[])).unwrap();
    config.shutdown = shutdown;
    let router = app(config);
    assert_eq!(probe(&router, "/readyz").await.0, 200);
    begin.send_replace(true);
    let (status, body) = probe(&router, "/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "not_ready");
    assert_eq!(failing(&body), ["draining"]);
    assert_eq!(body["checks"]["draining"], "the instance is shutting down");
    // Still alive: it finishes what it has.
    assert_eq!(probe(&router, "/healthz").await.0, 200);
}

#[tokio::test]
async fn probes_cost_no_authentication_budget() {
    let router = app(Config::from_options(&options(&[
        "--auth-failure-burst",
        "1",
        "--auth-failures-per-minute",
        "1",
    ]))
    .unwrap());
    for _ in 0..20 {
        assert_eq!(probe(&router, "/healthz").await.0, 200);
        assert_eq!(probe(&router, "/readyz").await.0, 200);
    }
    // The budget of one failure is still whole: the first is 401, the next 429.
    let bad = Some("not-a-token");
    assert_eq!(
        send(&router, Method::POST, cert_download_server::PATH, bad)
            .await
            .0,
        401
    );
    assert_eq!(
        send(&router, Method::POST, cert_download_server::PATH, bad)
            .await
            .0,
        429
    );
    // And probes still answer, with no credential, once the address is over its budget.
    assert_eq!(probe(&router, "/readyz").await.0, 200);
}

#[tokio::test]
async fn readyz_is_503_when_the_store_root_is_gone() {
    let store = tempfile::tempdir().unwrap();
    let tokens = demo("tokens.json");
    let router = app(Config::from_options(&options(&[
        "--store",
        store.path().to_str().unwrap(),
        "--tokens",
        tokens.to_str().unwrap(),
    ]))
    .unwrap());
    assert_eq!(probe(&router, "/readyz").await.0, 200);
    let root = store.path().to_owned();
    drop(store);
    assert!(!root.exists());
    tokio::time::sleep(PAST_FRESH).await;
    let (status, body) = probe(&router, "/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(failing(&body), ["store"]);
}

/// A new SQLite vault in `dir`: its URL and KEK file.
async fn sqlite_vault(dir: &Path) -> (String, String) {
    let kek = dir.join("kek");
    Keyring::create_file(&kek).unwrap();
    let url = format!("sqlite://{}", dir.join("vault.db").display());
    let vault = Vault::init(&url, Keyring::load(&kek).unwrap(), VaultOptions::default())
        .await
        .unwrap();
    vault.close().await;
    (url, kek.to_str().unwrap().to_owned())
}

/// The router on the vault at `url`, as the binary builds it.
pub(crate) async fn vault_app(url: &str, kek: &str) -> axum::Router {
    let options = options(&[
        "--database",
        url,
        "--kek-file",
        kek,
        "--db-timeout",
        "2",
        "--db-acquire-timeout",
        "1",
    ]);
    let mut config = Config::from_options(&options).unwrap();
    config.vault = Some(VaultBackend::open(&options.vault).await.unwrap());
    app(config)
}

/// `/readyz` until it answers `status` (a round of checks at a time), at most `limit`.
pub(crate) async fn readyz_until(router: &axum::Router, status: u16, limit: Duration) -> Value {
    let start = std::time::Instant::now();
    loop {
        let (now, body) = probe(router, "/readyz").await;
        if now == status {
            return body;
        }
        assert!(
            start.elapsed() < limit,
            "/readyz still {now} after {limit:?}, not {status}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn raw_sqlite(url: &str, sql: &str) {
    use sqlx::Connection;
    let mut raw = sqlx::SqliteConnection::connect(url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut raw)
        .await
        .unwrap();
    raw.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_follows_the_sqlite_file_the_audit_trail_and_the_check_value() {
    let dir = tempfile::tempdir().unwrap();
    let (url, kek) = sqlite_vault(dir.path()).await;
    let router = vault_app(&url, &kek).await;
    let body = readyz_until(&router, 200, Duration::ZERO).await;
    for check in ["database", "keyring", "audit", "draining"] {
        assert_eq!(body["checks"][check], "ok", "{body}");
    }

    // The file made unreadable: moved away (a test run as root reads any file whatever
    // its mode, so a chmod would prove nothing there); the pool's open connections would
    // still answer from it.
    let file = dir.path().join("vault.db");
    let away = dir.path().join("vault.db.away");
    std::fs::rename(&file, &away).unwrap();
    tokio::time::sleep(PAST_FRESH).await;
    let body = readyz_until(&router, 503, Duration::ZERO).await;
    assert!(failing(&body).contains(&"database".to_owned()), "{body}");
    assert_eq!(
        body["checks"]["database"], "the database cannot be reached",
        "{body}"
    );
    std::fs::rename(&away, &file).unwrap();
    readyz_until(&router, 200, Duration::from_secs(5)).await;

    raw_sqlite(
        &url,
        "CREATE TRIGGER audit_refused_by_the_test BEFORE INSERT ON audit \
         BEGIN SELECT RAISE(ABORT, 'audit refused by the test'); END",
    )
    .await;
    tokio::time::sleep(PAST_FRESH).await;
    let body = readyz_until(&router, 503, Duration::ZERO).await;
    assert_eq!(failing(&body), ["audit"], "{body}");
    raw_sqlite(&url, "DROP TRIGGER audit_refused_by_the_test").await;
    readyz_until(&router, 200, Duration::from_secs(5)).await;

    // The check value no longer opens with the KEK in memory.
    raw_sqlite(
        &url,
        "UPDATE kek_checks SET sealed = zeroblob(length(sealed))",
    )
    .await;
    tokio::time::sleep(PAST_FRESH).await;
    let body = readyz_until(&router, 503, Duration::ZERO).await;
    assert_eq!(failing(&body), ["keyring"], "{body}");
    assert_eq!(
        body["checks"]["keyring"],
        "a KEK of the KEK file does not open its check value"
    );
}
