//! Client certificates (mTLS) with the directory store, against certificates this test
//! makes with openssl: one registered in the tokens file (its principal, the audit line
//! saying `certificate`), one from another CA and an expired one (the handshake fails),
//! one of the right CA that is not registered (401), a token beside the certificate (the
//! token decides), `--require-client-cert`, and the client CA file reloaded.

use std::path::Path;
use std::time::Duration;

use crate::certificates::{client, download, fingerprint, new_ca, new_client};
use crate::process::{Process, demo};

/// The client CAs, clients and tokens file of these tests, in `dir`.
fn setup(dir: &Path) -> std::path::PathBuf {
    new_ca(dir, "client-ca");
    new_ca(dir, "other-ca");
    new_client(dir, "client-ca", "good", None);
    new_client(dir, "client-ca", "unregistered", None);
    new_client(dir, "other-ca", "stranger", None);
    new_client(
        dir,
        "client-ca",
        "expired",
        Some(("20200101000000Z", "20200102000000Z")),
    );
    let mut tokens: serde_json::Value =
        serde_json::from_slice(&std::fs::read(demo("tokens.json")).unwrap()).unwrap();
    for name in ["good", "stranger", "expired"] {
        tokens[fingerprint(dir, name)] =
            serde_json::json!({"principal": format!("svc-{name}"), "export_keys": false});
    }
    let file = dir.join("tokens.json");
    std::fs::write(&file, tokens.to_string()).unwrap();
    file
}

fn start(dir: &Path, tokens: &Path, extra: &[&str]) -> Process {
    let ca = dir.join("client-ca.pem");
    let mut args: Vec<String> = [
        "--store",
        demo("").to_str().unwrap(),
        "--tokens",
        tokens.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--client-ca",
        ca.to_str().unwrap(),
        "--tls-reload-interval",
        "0.2",
    ]
    .map(str::to_owned)
    .to_vec();
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Process::start(&args)
}

#[cfg_attr(
    not(judge_openssl),
    ignore = "needs the openssl CLI: scripts/test-all installs it"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_certificate_names_its_principal_and_others_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let tokens = setup(dir);
    let server = start(dir, &tokens, &[]);

    let good = client(dir, Some("good"));
    assert_eq!(download(&server, &good, 12345, None).await, Some(200));
    assert!(
        server
            .wait_for(
                "principal=\"svc-good\" credential=\"certificate\"",
                1,
                Duration::from_secs(5)
            )
            .await,
        "{}",
        server.log()
    );
    // A token beside the certificate decides alone: right, its principal; wrong, 401.
    assert_eq!(
        download(&server, &good, 12345, Some("demo-reader-token")).await,
        Some(200)
    );
    assert!(
        server
            .wait_for(
                "principal=\"reader\" credential=\"token\"",
                1,
                Duration::from_secs(5)
            )
            .await,
        "{}",
        server.log()
    );
    assert_eq!(
        download(&server, &good, 12345, Some("a-wrong-token")).await,
        Some(401)
    );

    // Of the right CA but not registered (or no longer): 401, like no credential at all.
    let unregistered = client(dir, Some("unregistered"));
    assert_eq!(
        download(&server, &unregistered, 12345, None).await,
        Some(401)
    );
    // Another CA's, or expired (both registered): the handshake fails.
    let stranger = client(dir, Some("stranger"));
    assert_eq!(download(&server, &stranger, 12345, None).await, None);
    let expired = client(dir, Some("expired"));
    assert_eq!(download(&server, &expired, 12345, None).await, None);
    // Without a certificate (optional by default): tokens as ever.
    let bare = client(dir, None);
    assert_eq!(download(&server, &bare, 12345, None).await, Some(401));
    assert_eq!(
        download(&server, &bare, 12345, Some("demo-reader-token")).await,
        Some(200)
    );

    // The client CA file replaced by the other CA: new handshakes verify against it.
    std::fs::copy(dir.join("other-ca.pem"), dir.join("client-ca.pem.new")).unwrap();
    std::fs::rename(dir.join("client-ca.pem.new"), dir.join("client-ca.pem")).unwrap();
    assert!(
        server
            .wait_for("client CA reloaded", 1, Duration::from_secs(10))
            .await,
        "{}",
        server.log()
    );
    assert_eq!(download(&server, &stranger, 12345, None).await, Some(200));
    assert_eq!(download(&server, &good, 12345, None).await, None);
    server.stop();
}

#[cfg_attr(
    not(judge_openssl),
    ignore = "needs the openssl CLI: scripts/test-all installs it"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_client_cert_refuses_a_handshake_without_one() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let tokens = setup(dir);
    let server = start(dir, &tokens, &["--require-client-cert"]);
    let bare = client(dir, None);
    assert_eq!(
        download(&server, &bare, 12345, Some("demo-reader-token")).await,
        None
    );
    let good = client(dir, Some("good"));
    assert_eq!(download(&server, &good, 12345, None).await, Some(200));
    server.stop();
}
