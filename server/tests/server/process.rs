//! The service as a process, where the socket is what is tested: TLS, bodies refused
//! while the client still sends them, the vendor's curl commands, a deployment of its own,
//! start-up refusals, plain HTTP, signals, and the log the binary writes.

use std::time::Duration;

use cert_download::MAX_BODY_BYTES;

use crate::harness::*;
use crate::tools::*;
use crate::{PEM_12345, PFX_12345, demo_leaf};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn https_is_verified_against_the_demo_ca() {
    let server = SERVER.start(&[]);
    assert!(
        server.url.starts_with("https://localhost:"),
        "the ready line must give an https://localhost URL (the demo certificate's name): {}",
        server.url
    );

    // Trusting the demo CA (and nothing else): the handshake verifies and the call works.
    let reply = post_json(&client(&server), &server, Some(ADMIN), PEM_12345).await;
    reply.expect_ok("pem");

    // No root at all: the handshake fails on the certificate.
    let untrusting = bare_builder(&server).build().unwrap();
    let error = untrusting
        .post(&server.url)
        .bearer_auth(ADMIN)
        .header("content-type", "application/json")
        .body(PEM_12345)
        .send()
        .await
        .expect_err("a client that does not trust the demo CA must fail the TLS handshake");
    assert!(error.is_connect(), "not a connection error: {error:?}");
    let chain = format!("{error:?}");
    assert!(
        chain.contains("UnknownIssuer") || chain.to_lowercase().contains("certificate"),
        "the failure should be the certificate: {chain}"
    );

    // The demo CA but a name the certificate does not carry: refused too.
    let ca = reqwest::Certificate::from_pem(&ca_pem()).unwrap();
    let wrong_name = bare_builder(&server)
        .add_root_certificate(ca)
        .resolve("not-in-the-cert.example", server.addr)
        .build()
        .unwrap();
    let url = server.url.replace("localhost", "not-in-the-cert.example");
    let error = wrong_name
        .post(&url)
        .bearer_auth(ADMIN)
        .header("content-type", "application/json")
        .body(PEM_12345)
        .send()
        .await
        .expect_err("a name outside the certificate must fail the handshake");
    assert!(error.is_connect(), "not a connection error: {error:?}");

    // Plain HTTP to the HTTPS port gets no answer.
    let plain = reqwest::Client::builder().no_proxy().build().unwrap();
    let http_url = format!("http://{}{PATH}", server.addr);
    let result = plain
        .post(&http_url)
        .bearer_auth(ADMIN)
        .header("content-type", "application/json")
        .body(PEM_12345)
        .send()
        .await;
    if let Ok(response) = result {
        assert_ne!(
            response.status().as_u16(),
            200,
            "plain HTTP must not be served on the HTTPS port"
        );
    }

    // The server survived the failed handshakes.
    post_json(&client(&server), &server, Some(ADMIN), PEM_12345)
        .await
        .expect_ok("pem");
}

/// A valid request padded with whitespace to `size` bytes.
fn padded_body(size: usize) -> String {
    let body = r#"{"id": "12345", "format": "pfx", "password": "Log-Leak-Canary-123"}"#;
    format!("{body}{}", " ".repeat(size - body.len()))
}

/// Checks a refusal of an oversized body: the contract's 400 `body_too_large`, as the
/// library answers it (never a 413).
#[track_caller]
fn expect_too_large(reply: &Reply) {
    reply.expect_error(400, &["body_too_large"]);
}

/// The 70 KiB body is sent many times, because losing the refusal is a race: a server
/// that answers before reading the body and then closes at once resets a connection on
/// which the client is still sending, and the client sees a reset or a broken pipe
/// instead of the 400 (RFC 9112 section 9.6, "the TCP reset problem").
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_body_over_64_kib_is_refused() {
    const TRIES: usize = 100;
    let server = SERVER.start(&[]);
    let client = client(&server);
    let big = padded_body(70 * 1024);
    let mut lost = Vec::new();

    // Exactly 64 KiB is still read.
    post_json(&client, &server, Some(ADMIN), &padded_body(MAX_BODY_BYTES))
        .await
        .expect_ok("pfx");

    // reqwest, with a Content-Length the server can check up front.
    for _ in 0..TRIES {
        let sent = client
            .post(&server.url)
            .bearer_auth(ADMIN)
            .header("content-type", "application/json")
            .body(big.clone())
            .send()
            .await;
        match sent {
            Ok(response) => expect_too_large(&Reply::read(response).await),
            Err(e) => lost.push(format!("reqwest: {e:?}")),
        }
    }
    assert!(
        lost.is_empty(),
        "{} of {TRIES} oversized requests got no 400 at all, the connection was reset under \
         the client while it was still sending (the server answers and closes without \
         draining the body):\n{}",
        lost.len(),
        lost.join("\n")
    );
}

/// [`a_body_over_64_kib_is_refused`] with curl, with a Content-Length and chunked
/// (refused while reading).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(judge_curl),
    ignore = "needs the curl CLI: scripts/test-all installs it"
)]
async fn a_body_over_64_kib_is_refused_to_curl() {
    const CURL_TRIES: usize = 10;
    let server = SERVER.start(&[]);
    let big = padded_body(70 * 1024);
    let mut lost = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "big.json", big.as_bytes());
    let at_file = format!("@{}", path(&file));
    for chunked in [false, true] {
        for _ in 0..CURL_TRIES {
            let mut args = admin_curl_args(&server, ["--data-binary", &at_file]);
            args.push("-sS".to_owned());
            if chunked {
                args.extend(["-H".to_owned(), "Transfer-Encoding: chunked".to_owned()]);
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            match curl_request(&args) {
                Ok(reply) => expect_too_large(&reply),
                Err(e) => lost.push(format!("curl (chunked: {chunked}): {e}")),
            }
        }
    }
    assert!(
        lost.is_empty(),
        "{} of {} oversized requests got no 400 at all (reset under the client):\n{}",
        lost.len(),
        2 * CURL_TRIES,
        lost.join("\n")
    );
}

/// The vendor's curl command adapted in URL, token and `--cacert` only, with its data
/// given as `[flag, value]` (`-d` and the body, or `--data-binary` and `@file`).
fn admin_curl_args(server: &Server, data: [&str; 2]) -> Vec<String> {
    let ca = demo("tls/ca.pem");
    [
        "-X",
        "POST",
        &server.url,
        "-H",
        "Authorization: Bearer demo-admin-token",
        "--cacert",
        path(&ca),
        "-H",
        "Content-Type: application/json",
        data[0],
        data[1],
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Runs the vendor's curl command (see [`admin_curl_args`]) with `extra` arguments.
fn vendor_curl(server: &Server, body: &str, extra: &[&str]) -> std::process::Output {
    let mut args = admin_curl_args(server, ["-d", body]);
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    curl(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

const VENDOR_PFX: &str = r#"{
"id": "12345",
"format": "pfx",
"password": "securepassword123"
}"#;

const VENDOR_CRT: &str = r#"{
"id": "12345",
"format": "crt",
"download_key": true,
"password": "keyprotectionpassword"
}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(all(judge_openssl, judge_curl)),
    ignore = "needs the openssl and curl CLIs: scripts/test-all installs them"
)]
async fn the_vendor_curl_examples_work() {
    curl_bin();
    openssl_bin();
    let server = SERVER.start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let reply_of = |out: std::process::Output, what: &str| {
        assert!(
            out.status.success(),
            "curl ({what}) failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        Reply {
            status: 200,
            headers: Default::default(),
            body: String::from_utf8(out.stdout).unwrap(),
        }
    };

    // Basic certificate download (PFX format), as on the page and in a single line.
    for body in [
        VENDOR_PFX,
        r#"{"id": "12345", "format": "pfx", "password": "securepassword123"}"#,
    ] {
        let pfx = reply_of(vendor_curl(&server, body, &[]), "pfx")
            .expect_ok_body("pfx", false)
            .certificate;
        let file = write(dir.path(), "vendor.pfx", &pfx);
        let out = openssl(&[
            "pkcs12",
            "-in",
            path(&file),
            "-passin",
            "pass:securepassword123",
            "-nodes",
        ]);
        assert!(out.contains("www.example.com"), "{out}");
        assert!(out.contains("BEGIN PRIVATE KEY"), "{out}");
    }

    // Certificate with private key (CRT format).
    let crt = reply_of(vendor_curl(&server, VENDOR_CRT, &[]), "crt").expect_ok_body("crt", false);
    assert_eq!(crt.certificate, demo_leaf("12345"));
    let plain_file = decrypt_pkcs8(
        dir.path(),
        "vendor",
        &crt.key.unwrap(),
        "keyprotectionpassword",
    );
    assert_eq!(
        key_public_key(&plain_file),
        cert_public_key(&demo("12345/cert.pem"))
    );

    // The same call, showing the status line and headers: 200 and no-store.
    let out = vendor_curl(&server, VENDOR_CRT, &["-sS", "-D", "-", "-o", "/dev/null"]);
    let head = String::from_utf8_lossy(&out.stdout).to_lowercase();
    assert!(out.status.success(), "{head}");
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("cache-control: no-store"), "{head}");

    // Without --cacert curl does not trust the server (exit 60: peer certificate).
    let out = curl(&[
        "-sS",
        "-X",
        "POST",
        &server.url,
        "-H",
        "Authorization: Bearer demo-admin-token",
        "-H",
        "Content-Type: application/json",
        "-d",
        VENDOR_PFX,
    ]);
    assert_eq!(
        out.status.code(),
        Some(60),
        "curl without --cacert must fail verification: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // An error through curl: the contract body, and curl's status code.
    curl_request(&[
        "-X",
        "POST",
        &server.url,
        "-H",
        "Authorization: Bearer demo-reader-token",
        "--cacert",
        path(&demo("tls/ca.pem")),
        "-H",
        "Content-Type: application/json",
        "-d",
        VENDOR_PFX,
    ])
    .unwrap_or_else(|e| panic!("{e}"))
    .expect_error(403, &["key_export_forbidden", "forbidden"]);
}

/// Lines of the log that are audit events, with every `key=value` in `fields` (the value
/// plain or quoted).
fn audit_lines<'a>(log: &'a str, fields: &[(&str, &str)]) -> Vec<&'a str> {
    log.lines()
        .filter(|line| line.contains(" audit: "))
        .filter(|line| {
            fields.iter().all(|(k, v)| {
                line.split_whitespace()
                    .any(|w| w == format!("{k}={v}") || w == format!("{k}=\"{v}\""))
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_log_audits_downloads_and_never_shows_secrets() {
    log_audits_and_hides_secrets("info").await;
}

/// Every level of every crate in the process (hyper, rustls, axum, tokio): still no secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_trace_level_log_never_shows_secrets() {
    log_audits_and_hides_secrets("trace").await;
}

async fn log_audits_and_hides_secrets(level: &str) {
    const CANARY: &str = "Log-Leak-Canary-123";
    const BODY_CANARY: &str = "Body-Leak-Canary-789";
    const TOKEN_CANARY: &str = "Unknown-Token-Canary-456";
    let server = SERVER.start_logging(&[], Vec::new(), level);
    let client = client(&server);
    let pfx = format!(
        r#"{{"id": "12345", "format": "pfx", "password": "{CANARY}", "friendly_name": "{BODY_CANARY}"}}"#
    );
    let pem_key = format!(
        r#"{{"id": "1001", "format": "pem", "download_key": true, "password": "{CANARY}"}}"#
    );
    let crt_key = format!(
        r#"{{"id": "1002", "format": "crt", "download_key": true, "password": "{CANARY}"}}"#
    );
    let missing = format!(r#"{{"id": "99999", "format": "pfx", "password": "{CANARY}"}}"#);
    let no_key = format!(r#"{{"id": "1003", "format": "pfx", "password": "{CANARY}"}}"#);
    let typo = format!(r#"{{"id": "12345", "format": "pfx", "passwd": "{CANARY}"}}"#);
    let broken = format!(r#"{{"id": "12345", "format": "pfx", "password": "{CANARY}""#);

    // Successes.
    post_json(&client, &server, Some(ADMIN), &pfx)
        .await
        .expect_ok("pfx");
    post_json(&client, &server, Some(ADMIN), &pem_key)
        .await
        .expect_ok("pem");
    post_json(&client, &server, Some(ADMIN), &crt_key)
        .await
        .expect_ok("crt");
    post_json(&client, &server, Some(READER), PEM_12345)
        .await
        .expect_ok("pem");
    // Failures, all carrying the canary password.
    post_json(&client, &server, Some(READER), &pfx)
        .await
        .expect_error(403, &["key_export_forbidden", "forbidden"]);
    post_json(&client, &server, Some(TOKEN_CANARY), &pfx)
        .await
        .expect_error(401, &["unauthenticated"]);
    post_json(&client, &server, None, &pfx)
        .await
        .expect_error(401, &["unauthenticated"]);
    post_json(&client, &server, Some(ADMIN), &missing)
        .await
        .expect_error(404, &["certificate_not_found"]);
    post_json(&client, &server, Some(ADMIN), &no_key)
        .await
        .expect_error(404, &["key_not_found"]);
    post_json(&client, &server, Some(ADMIN), &typo)
        .await
        .expect_error(400, &["unknown_field"]);
    post_json(&client, &server, Some(ADMIN), &broken)
        .await
        .expect_error(400, &["invalid_json"]);
    let reply = post(
        &client,
        &server.url,
        Some(ADMIN),
        Some("text/plain"),
        pfx.clone(),
    )
    .await;
    assert!(matches!(reply.status, 400 | 415), "{}", reply.body);

    let stopped = server.stop();
    let log = stopped.stderr;
    for secret in [CANARY, BODY_CANARY, TOKEN_CANARY, ADMIN, READER, "Bearer"] {
        assert!(!log.contains(secret), "the log shows {secret:?}:\n{log}");
    }
    // One audit event per download, with principal, id, format and status.
    for (principal, id, format, status) in [
        ("admin", "12345", "pfx", "200"),
        ("admin", "1001", "pem", "200"),
        ("admin", "1002", "crt", "200"),
        ("reader", "12345", "pem", "200"),
        ("reader", "12345", "pfx", "403"),
        ("admin", "99999", "pfx", "404"),
        ("admin", "1003", "pfx", "404"),
    ] {
        let fields = [
            ("principal", principal),
            ("id", id),
            ("format", format),
            ("status", status),
        ];
        let lines = audit_lines(&log, &fields);
        assert_eq!(
            lines.len(),
            1,
            "expected one audit line with {fields:?}, found {lines:?} in:\n{log}"
        );
    }
    // Keys are said to be included only when they were.
    let keyed = audit_lines(
        &log,
        &[("id", "12345"), ("format", "pfx"), ("status", "200")],
    );
    assert!(keyed[0].contains("key_included=true"), "{keyed:?}");
    let unkeyed = audit_lines(
        &log,
        &[
            ("principal", "reader"),
            ("format", "pem"),
            ("status", "200"),
        ],
    );
    assert!(unkeyed[0].contains("key_included=false"), "{unkeyed:?}");
    // The refusals before the store (401 without id known, 400) are audited too, with
    // their status.
    assert!(
        !audit_lines(&log, &[("status", "401")]).is_empty(),
        "no audit line for the 401s:\n{log}"
    );
    assert!(
        audit_lines(&log, &[("status", "400")]).len() >= 2,
        "no audit line for the 400s:\n{log}"
    );
}

#[test]
fn plain_http_is_refused_off_loopback() {
    for listen in ["0.0.0.0:0", "192.0.2.1:8080", "[::]:0", "10.1.2.3:8443"] {
        let stderr = SERVER.refuses_to_start(&["--insecure-http", "--listen", listen]);
        assert!(
            stderr.to_lowercase().contains("loopback"),
            "--insecure-http --listen {listen}: the message should mention loopback: {stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn plain_http_is_served_on_loopback() {
    let server = SERVER.start(&["--insecure-http", "--listen", "127.0.0.1:0"]);
    assert!(
        server.url.starts_with("http://127.0.0.1:") || server.url.starts_with("http://localhost:"),
        "{}",
        server.url
    );
    let client = reqwest::Client::builder()
        .no_proxy()
        .resolve("localhost", server.addr)
        .build()
        .unwrap();
    post_json(&client, &server, Some(ADMIN), PFX_12345)
        .await
        .expect_ok("pfx");
    post_json(&client, &server, None, PEM_12345)
        .await
        .expect_error(401, &["unauthenticated"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ctrl_c_shuts_down_cleanly_and_promptly() {
    let server = SERVER.start(&[]);
    let client = client(&server);
    // A served request leaves an idle keep-alive connection in the client's pool.
    post_json(&client, &server, Some(ADMIN), PEM_12345)
        .await
        .expect_ok("pem");
    let stopped = server.stop();
    assert!(
        stopped.status.success(),
        "the server must exit 0 on SIGINT, got {}; stderr:\n{}",
        stopped.status,
        stopped.stderr
    );
    // The grace period for open connections is 10 s: an idle connection must not use it.
    assert!(
        stopped.took < Duration::from_secs(9),
        "the server took {:?} to exit on SIGINT",
        stopped.took
    );
    assert_eq!(
        stopped.stdout.lines().count(),
        1,
        "stdout is the ready line only: {:?}",
        stopped.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ctrl_c_lets_downloads_in_flight_finish() {
    // SIGINT goes once the server has logged that it received every request: a request
    // still in the client's TCP connect or TLS handshake, or in the socket unread, is not
    // in flight, and stopping then rightly loses it. The grace period, the request timeout
    // and the wait for the exit are long, so that a slow machine does not cut the downloads
    // short either. The test once waited for the first PFX to come back and gave the
    // server its fixed 10 s of grace: on a loaded machine (a full parallel run; reproduced
    // with 30 busy loops on 2 cores) six debug-build PFX took longer than that, the server
    // dropped the connections still encoding, and the client saw "peer closed connection
    // without sending TLS close_notify".
    const IN_FLIGHT: usize = 6;
    const PATIENCE: Duration = Duration::from_secs(300);
    let server = SERVER.start_logging(
        &["--shutdown-grace", "300", "--request-timeout", "300"],
        Vec::new(),
        "info,cert_download_server=debug",
    );
    let client = client(&server);
    let mut tasks = Vec::new();
    for _ in 0..IN_FLIGHT {
        let client = client.clone();
        let url = server.url.clone();
        tasks.push(tokio::spawn(async move {
            post(
                &client,
                &url,
                Some(ADMIN),
                Some("application/json"),
                PFX_12345,
            )
            .await
            .expect_ok("pfx");
        }));
    }
    assert!(
        server
            .wait_for_log("request received", IN_FLIGHT, PATIENCE)
            .await,
        "the server did not receive {IN_FLIGHT} requests within {PATIENCE:?}:\n{}",
        server.log_so_far()
    );
    // Request lines (not audit lines) of answered downloads.
    let answered_before = server.log_so_far().matches(" status=200 micros=").count();
    let stopped = tokio::task::spawn_blocking(move || server.stop_within("INT", PATIENCE))
        .await
        .unwrap();
    for task in tasks {
        task.await.expect("a download in flight at SIGINT failed");
    }
    assert!(
        stopped.status.success(),
        "exit after SIGINT: {}; stderr:\n{}",
        stopped.status,
        stopped.stderr
    );
    eprintln!(
        "{} downloads were in flight at SIGINT; exit took {:?}",
        IN_FLIGHT.saturating_sub(answered_before),
        stopped.took
    );
}

/// A fresh PKI made with the openssl CLI in `dir`: an EC root, an EC intermediate, and an
/// RSA `localhost` server certificate. Returns (root.pem, chain.pem = leaf then
/// intermediate, leaf.key as PKCS#1 `RSA PRIVATE KEY`).
fn own_tls(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let f = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    std::fs::write(
        dir.join("ext.cnf"),
        "[ca]\n\
         basicConstraints = critical, CA:TRUE, pathlen:0\n\
         keyUsage = critical, keyCertSign, cRLSign\n\
         subjectKeyIdentifier = hash\n\
         authorityKeyIdentifier = keyid:always\n\
         [leaf]\n\
         basicConstraints = critical, CA:FALSE\n\
         keyUsage = critical, digitalSignature, keyEncipherment\n\
         extendedKeyUsage = serverAuth\n\
         subjectAltName = DNS:localhost, IP:127.0.0.1\n\
         subjectKeyIdentifier = hash\n\
         authorityKeyIdentifier = keyid:always\n",
    )
    .unwrap();
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];
    let mut root = vec!["req", "-x509", "-nodes", "-days", "2"];
    root.extend(ec);
    let (root_key, root_pem) = (f("root.key"), f("root.pem"));
    root.extend([
        "-keyout",
        &root_key,
        "-out",
        &root_pem,
        "-subj",
        "/CN=E2E Own Root",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(&root);
    let (int_key, int_csr, int_pem) = (f("int.key"), f("int.csr"), f("int.pem"));
    let mut int = vec!["req", "-new", "-nodes"];
    int.extend(ec);
    int.extend([
        "-keyout",
        &int_key,
        "-out",
        &int_csr,
        "-subj",
        "/CN=E2E Own Intermediate",
    ]);
    openssl(&int);
    let ext = f("ext.cnf");
    openssl(&[
        "x509",
        "-req",
        "-in",
        &int_csr,
        "-CA",
        &root_pem,
        "-CAkey",
        &root_key,
        "-set_serial",
        "2",
        "-days",
        "2",
        "-extfile",
        &ext,
        "-extensions",
        "ca",
        "-out",
        &int_pem,
    ]);
    let (leaf_key8, leaf_csr, leaf_pem) = (f("leaf.p8.key"), f("leaf.csr"), f("leaf.pem"));
    openssl(&[
        "req",
        "-new",
        "-nodes",
        "-newkey",
        "rsa:2048",
        "-keyout",
        &leaf_key8,
        "-out",
        &leaf_csr,
        "-subj",
        "/CN=localhost",
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        &leaf_csr,
        "-CA",
        &int_pem,
        "-CAkey",
        &int_key,
        "-set_serial",
        "3",
        "-days",
        "2",
        "-extfile",
        &ext,
        "-extensions",
        "leaf",
        "-out",
        &leaf_pem,
    ]);
    let leaf_key = f("leaf.key");
    openssl(&["rsa", "-in", &leaf_key8, "-traditional", "-out", &leaf_key]);
    let chain = format!(
        "{}{}",
        std::fs::read_to_string(&leaf_pem).unwrap(),
        std::fs::read_to_string(&int_pem).unwrap()
    );
    std::fs::write(dir.join("chain.pem"), chain).unwrap();
    (
        dir.join("root.pem"),
        dir.join("chain.pem"),
        dir.join("leaf.key"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(all(judge_openssl, judge_curl)),
    ignore = "needs the openssl and curl CLIs: scripts/test-all installs them"
)]
async fn its_own_store_tokens_and_tls_chain_work_with_curl() {
    openssl_bin();
    curl_bin();
    let work = tempfile::tempdir().unwrap();
    let (root, chain, key) = own_tls(work.path());
    let store = work.path().join("store");
    std::fs::create_dir(&store).unwrap();
    for id in ["1", "5", "9", "10"] {
        copy_record(&fixture_record(id), &store.join(id));
    }
    let tokens = work.path().join("tokens.json");
    std::fs::write(
        &tokens,
        r#"{"e2e-ops-0f3a9c": {"principal": "e2e-ops", "export_keys": true},
            "e2e-ro-77b1d2": {"principal": "e2e-ro", "export_keys": false}}"#,
    )
    .unwrap();
    let server = SERVER.start(&[
        "--store",
        path(&store),
        "--tokens",
        path(&tokens),
        "--tls-cert",
        path(&chain),
        "--tls-key",
        path(&key),
    ]);
    let call = |token: Option<&str>, body: &str| {
        let auth = token.map(|t| format!("Authorization: Bearer {t}"));
        let mut args = vec![
            "-X",
            "POST",
            server.url.as_str(),
            "--cacert",
            path(&root),
            "-H",
            "Content-Type: application/json",
            "-d",
            body,
        ];
        if let Some(auth) = &auth {
            args.extend(["-H", auth.as_str()]);
        }
        curl_request(&args).unwrap_or_else(|e| panic!("curl with its own CA failed: {e}"))
    };
    let ops = Some("e2e-ops-0f3a9c");
    let ro = Some("e2e-ro-77b1d2");

    let pfx = call(
        ops,
        r#"{"id": "1", "format": "pfx", "password": "Own-Deployment-Pw1"}"#,
    )
    .expect_ok("pfx");
    let file = write(work.path(), "1.pfx", &pfx.certificate);
    let out = openssl(&[
        "pkcs12",
        "-in",
        path(&file),
        "-passin",
        "pass:Own-Deployment-Pw1",
        "-nodes",
    ]);
    assert!(
        out.contains("leaf1.test") && out.contains("BEGIN PRIVATE KEY"),
        "{out}"
    );
    call(
        ops,
        r#"{"id": 5, "format": "pem", "download_key": true, "password": "Own-Deployment-Pw1"}"#,
    )
    .expect_ok("pem");
    call(
        ops,
        r#"{"id": 9, "format": "crt", "download_key": true, "password": "Own-Deployment-Pw1"}"#,
    )
    .expect_ok("crt");
    call(ro, r#"{"id": 9, "format": "crt"}"#).expect_ok("crt");
    call(
        ro,
        r#"{"id": "1", "format": "pfx", "password": "Own-Deployment-Pw1"}"#,
    )
    .expect_error(403, &["key_export_forbidden", "forbidden"]);
    call(None, r#"{"id": 9, "format": "crt"}"#).expect_error(401, &["unauthenticated"]);
    call(Some("demo-admin-token"), r#"{"id": 9, "format": "crt"}"#)
        .expect_error(401, &["unauthenticated"]);
    call(ops, r#"{"id": 12345, "format": "crt"}"#).expect_error(404, &["certificate_not_found"]);
    call(
        ops,
        r#"{"id": 10, "format": "pfx", "password": "Own-Deployment-Pw1"}"#,
    )
    .expect_error(404, &["key_not_found"]);

    // The demo CA does not vouch for this server.
    let out = curl(&[
        "-sS",
        "-X",
        "POST",
        &server.url,
        "--cacert",
        path(&demo("tls/ca.pem")),
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"id": 9, "format": "crt"}"#,
    ]);
    assert_eq!(out.status.code(), Some(60), "curl trusted a foreign CA");

    let log = server.stop().stderr;
    assert!(
        !audit_lines(
            &log,
            &[("principal", "e2e-ops"), ("id", "1"), ("status", "200")]
        )
        .is_empty(),
        "{log}"
    );
    for secret in ["Own-Deployment-Pw1", "e2e-ops-0f3a9c", "e2e-ro-77b1d2"] {
        assert!(!log.contains(secret), "the log shows {secret:?}:\n{log}");
    }
}

#[test]
fn bad_start_up_arguments_exit_non_zero() {
    let tokens = demo("tokens.json");
    let cert = demo("tls/server.pem");
    let key = demo("tls/server.key");
    for args in [
        vec![
            "--listen",
            "127.0.0.1:0",
            "--tokens",
            "/nonexistent/tokens.json",
        ],
        vec!["--listen", "127.0.0.1:0", "--tls-cert", path(&cert)],
        vec![
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            path(&key),
            "--tls-key",
            path(&key),
        ],
        vec![
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            path(&cert),
            "--tls-key",
            path(&tokens),
        ],
        vec!["--listen", "not-an-address"],
        vec!["--listen", "127.0.0.1:0", "--no-such-flag"],
    ] {
        SERVER.refuses_to_start(&args);
    }
    let stderr = SERVER.refuses_to_start(&["--pfx-encryption", "rc2_40"]);
    assert!(stderr.contains("--pfx-encryption"), "{stderr}");
}
