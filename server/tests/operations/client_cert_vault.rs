//! Client certificates (mTLS) with the vault (`--database` and `--client-ca`), on SQLite and
//! PostgreSQL, the server run as its binary and the certificate registered with the admin
//! command as an operator would: the certificate alone names its principal with that
//! principal's grants, an unregistered one is 401 (counted and throttled as a failed
//! authentication), a token beside the certificate decides alone, `principal remove-cert`
//! while the server runs makes the next request 401, and the audit rows say which
//! credential each caller used (and still verify).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use cert_download_test_support::vault_db::{
    self as common, Backend, DEMO_IDS, TestDb, full_access_token, import_dir,
};
use cert_download_vault::{AuditFilter, Permission, Scope};
use serde_json::Value;

use crate::certificates::{
    client, client_keeping_alive, download, fingerprint, new_ca, new_client,
};
use crate::process::{Process, demo, free_port};

/// The admin command, built beside the server (`cargo test --workspace` and
/// scripts/test-all build it; alone: `cargo build -p cert-download-vault`).
fn admin_binary() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_cert-download-server"))
        .parent()
        .unwrap()
        .join("cert-download-vault");
    assert!(
        bin.is_file(),
        "{} is missing: build it with `cargo build -p cert-download-vault`",
        bin.display()
    );
    bin
}

/// Runs the admin command on `db` (as the database's owner, without the KEK: these
/// commands need none); its exit code and JSON.
fn admin(db: &TestDb, args: &[&str]) -> (i32, Value) {
    let output = Command::new(admin_binary())
        .args(args)
        .args(["--database", &db.url])
        .output()
        .unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    let value = serde_json::from_str(text.trim()).unwrap_or_else(|e| {
        panic!(
            "{args:?}: {e}: {text} {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code().unwrap(), value)
}

/// The demo TLS certificate and a copy of its key only its owner may read (the server
/// refuses a key file others may read when it serves the vault).
fn tls_files(dir: &Path) -> (String, String) {
    use std::os::unix::fs::PermissionsExt;
    let key = dir.join("tls-server.key");
    std::fs::copy(demo("tls/server.key"), &key).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    (
        demo("tls/server.pem").to_str().unwrap().to_owned(),
        key.to_str().unwrap().to_owned(),
    )
}

/// The value of an unlabelled counter in the metrics text.
async fn counter(metrics: &str, name: &str) -> f64 {
    let text = reqwest::get(format!("http://{metrics}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in the metrics:\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

async fn certificate_names_its_vault_principal(backend: Backend) {
    let db = TestDb::new(backend).await;
    let vault = db.init().await;
    import_dir(&vault, &common::demo_store(), &DEMO_IDS).await;
    // svc-good may read 12345 only; reader (a token) may read and export everything.
    vault
        .grant(
            "svc-good",
            Permission::Read,
            &Scope::Ids(vec![common::id(12345)]),
        )
        .await
        .unwrap();
    let reader = full_access_token(&vault, "reader").await;
    vault.close().await;
    db.grant_service_role().await;

    let dir = db.dir.path();
    new_ca(dir, "client-ca");
    new_client(dir, "client-ca", "good", None);
    new_client(dir, "client-ca", "unregistered", None);
    let good_pem = dir.join("good.pem");
    let (code, added) = admin(
        &db,
        &[
            "principal",
            "add-cert",
            "svc-good",
            good_pem.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{added}");
    // The fingerprint the vault lists is the one openssl prints.
    let printed = fingerprint(dir, "good");
    let hex = printed.strip_prefix("sha256:").unwrap().replace(':', "");
    assert_eq!(
        added["added"]["fingerprint"],
        format!("sha256:{}", hex.to_lowercase())
    );

    let (cert, key) = tls_files(dir);
    let ca = dir.join("client-ca.pem");
    let metrics = format!("127.0.0.1:{}", free_port());
    let kek = db.kek_file.to_str().unwrap().to_owned();
    let service_url = db.service_url();
    let server = Process::start(&[
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
        "--database",
        &service_url,
        "--kek-file",
        &kek,
        "--instance",
        "mtls",
        "--client-ca",
        ca.to_str().unwrap(),
        "--metrics-listen",
        &metrics,
        // Three failures pass, the fourth within the minute is 429.
        "--auth-failures-per-minute",
        "1",
        "--auth-failure-burst",
        "3",
    ]);
    let good = client(dir, Some("good"));
    let unregistered = client(dir, Some("unregistered"));

    // The certificate alone: svc-good, with svc-good's grant and nothing more.
    assert_eq!(download(&server, &good, 12345, None).await, Some(200));
    assert_eq!(download(&server, &good, 1001, None).await, Some(404));
    assert!(
        server
            .wait_for(
                "principal=\"svc-good\" credential=\"certificate\"",
                2,
                Duration::from_secs(5)
            )
            .await,
        "{}",
        server.log()
    );
    // Of the right CA but not registered: 401 (failure 1).
    assert_eq!(
        download(&server, &unregistered, 12345, None).await,
        Some(401)
    );
    // A token beside the certificate decides alone: reader's grants (1001), or a wrong
    // token 401 though the certificate is good (failure 2).
    assert_eq!(
        download(&server, &good, 1001, Some(&reader)).await,
        Some(200)
    );
    assert_eq!(
        download(&server, &good, 12345, Some("cdv_not-a-token")).await,
        Some(401)
    );

    // Removed while the server runs (named as openssl prints it): the next request is
    // 401 (failure 3), on the very connection whose handshake verified the certificate
    // and whose last request it authenticated (nothing is kept per connection).
    let kept = client_keeping_alive(dir, "good");
    assert_eq!(download(&server, &kept, 12345, None).await, Some(200));
    let (code, removed) = admin(&db, &["principal", "remove-cert", "svc-good", &printed]);
    assert_eq!(code, 0, "{removed}");
    assert_eq!(download(&server, &kept, 12345, None).await, Some(401));
    // The token still works; the fourth failure within the minute is throttled.
    assert_eq!(
        download(&server, &good, 12345, Some(&reader)).await,
        Some(200)
    );
    assert_eq!(
        download(&server, &unregistered, 12345, None).await,
        Some(429)
    );
    assert_eq!(
        counter(&metrics, "cert_download_auth_failures_total").await,
        4.0
    );
    server.stop();

    // The audit rows: each authenticated download with its credential.
    let vault = db.connect().await;
    let rows = vault.audit(&AuditFilter::default()).await.unwrap();
    let seen: Vec<(String, u64, u16, Option<String>)> = rows
        .iter()
        .map(|r| {
            (
                r.entry.principal.clone().unwrap_or_default(),
                r.entry.certificate_id.unwrap_or_default() as u64,
                r.entry.status,
                r.entry.credential.clone(),
            )
        })
        .collect();
    let certificate = Some("certificate".to_owned());
    let token = Some("token".to_owned());
    assert_eq!(
        seen,
        [
            ("svc-good".into(), 12345, 200, certificate.clone()),
            ("svc-good".into(), 1001, 404, certificate.clone()),
            ("reader".into(), 1001, 200, token.clone()),
            ("svc-good".into(), 12345, 200, certificate),
            ("reader".into(), 12345, 200, token),
        ]
    );
    let public_key = vault.audit_public_key().unwrap();
    vault.close().await;
    let (code, report) = admin(&db, &["audit", "verify", "--public-key", &public_key]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["rows"], 5, "{report}");
}

#[cfg_attr(
    not(judge_openssl),
    ignore = "needs the openssl CLI: scripts/test-all installs it"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite() {
    certificate_names_its_vault_principal(Backend::Sqlite).await;
}

#[cfg_attr(
    not(all(judge_openssl, postgres_cluster)),
    ignore = "needs the openssl CLI and PostgreSQL (CERT_DOWNLOAD_POSTGRES_URL): scripts/test-all \
              installs the one and starts a throwaway cluster for the other"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres() {
    certificate_names_its_vault_principal(Backend::Postgres).await;
}
