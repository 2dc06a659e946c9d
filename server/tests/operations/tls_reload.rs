//! TLS reload, watched from outside: `openssl s_client` sees the certificate new
//! handshakes get, before and after; a keep-alive connection opened before the reload
//! still answers, on its old certificate; a pair whose key is not the certificate's is
//! refused with one log line and the old pair stays; SIGHUP reloads at once.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::certificates::{new_ca, new_key, sign};
use crate::process::{Process, demo};

/// A CA and two server pairs (`a`, `b`) for localhost and 127.0.0.1, made by openssl.
fn make_pairs(dir: &Path) {
    new_ca(dir, "ca");
    std::fs::write(
        dir.join("ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    for name in ["a", "b"] {
        new_key(dir, name, &format!("/CN=server {name}"));
        sign(dir, "ca", name, "ext");
    }
}

/// The SHA-256 fingerprint of a PEM certificate, as openssl prints it.
fn fingerprint_pem(pem: &[u8]) -> String {
    let mut x509 = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut x509.stdin.take().unwrap(), pem).unwrap();
    let out = x509.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "no certificate in: {}",
        String::from_utf8_lossy(pem)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn fingerprint_file(path: &Path) -> String {
    fingerprint_pem(&std::fs::read(path).unwrap())
}

/// The certificate a new handshake gets, by `openssl s_client`.
fn served(port: u16) -> String {
    let out = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-servername",
            "localhost",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("openssl s_client runs");
    fingerprint_pem(&out.stdout)
}

/// Puts `pem`/`key` in place of the served files, each by a rename (as tools do).
fn install(dir: &Path, pem: &str, key: &str) {
    for (from, to) in [(pem, "server.pem"), (key, "server.key")] {
        let staged = dir.join(format!("{to}.new"));
        std::fs::copy(dir.join(from), &staged).unwrap();
        std::fs::rename(&staged, dir.join(to)).unwrap();
    }
}

/// A keep-alive TLS connection trusting only the test's CA.
async fn keep_alive(dir: &Path, port: u16) -> TlsStream<TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(dir.join("ca.pem")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap()
}

/// `GET /healthz` on the connection, which stays open: the status.
async fn healthz(stream: &mut TlsStream<TcpStream>) -> u16 {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("an answer within 10 s")
            .unwrap();
        assert!(
            n > 0,
            "the connection closed: {}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .expect("content-length");
            if body.len() >= length {
                return head[9..12].parse().unwrap();
            }
        }
    }
}

/// The leaf the connection was made with.
fn peer_fingerprint(stream: &TlsStream<TcpStream>) -> String {
    let der = &stream.get_ref().1.peer_certificates().unwrap()[0];
    let pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, der.as_ref())
    );
    fingerprint_pem(pem.as_bytes())
}

fn start(dir: &Path, interval: &str) -> Process {
    let (cert, key): (PathBuf, PathBuf) = (dir.join("server.pem"), dir.join("server.key"));
    Process::start(&[
        "--store",
        demo("").to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
        "--tls-reload-interval",
        interval,
    ])
}

#[cfg_attr(
    not(judge_openssl),
    ignore = "needs the openssl CLI: scripts/test-all installs it"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_pair_serves_new_handshakes_and_a_broken_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    make_pairs(dir);
    let (a, b) = (
        fingerprint_file(&dir.join("a.pem")),
        fingerprint_file(&dir.join("b.pem")),
    );
    install(dir, "a.pem", "a.key");
    let server = start(dir, "0.2");
    let port = server.port();
    assert_eq!(served(port), a);
    let mut open = keep_alive(dir, port).await;
    assert_eq!(healthz(&mut open).await, 200);

    install(dir, "b.pem", "b.key");
    assert!(
        server
            .wait_for("TLS certificate reloaded", 1, Duration::from_secs(10))
            .await,
        "{}",
        server.log()
    );
    assert_eq!(served(port), b, "a new handshake gets the new pair");
    assert_eq!(
        healthz(&mut open).await,
        200,
        "the open connection still answers"
    );
    assert_eq!(peer_fingerprint(&open), a, "on the pair it was made with");

    // B's certificate with A's key: refused, once, and B stays.
    install(dir, "b.pem", "a.key");
    assert!(
        server
            .wait_for("reload refused", 1, Duration::from_secs(10))
            .await,
        "{}",
        server.log()
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(server.count("reload refused"), 1, "{}", server.log());
    assert_eq!(server.count("TLS certificate reloaded"), 1);
    assert_eq!(served(port), b);
    assert_eq!(healthz(&mut open).await, 200);
    let refused = server
        .log()
        .lines()
        .find(|l| l.contains("reload refused"))
        .unwrap()
        .to_owned();
    assert!(refused.contains("do not fit"), "{refused}");
    assert!(!refused.contains("PRIVATE KEY"), "{refused}");
    server.stop();
}

#[cfg_attr(
    not(judge_openssl),
    ignore = "needs the openssl CLI: scripts/test-all installs it"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    make_pairs(dir);
    let (a, b) = (
        fingerprint_file(&dir.join("a.pem")),
        fingerprint_file(&dir.join("b.pem")),
    );
    install(dir, "a.pem", "a.key");
    // Polling once a day: only the signal can reload within the test.
    let server = start(dir, "86400");
    let port = server.port();
    install(dir, "b.pem", "b.key");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(served(port), a, "no reload without the signal");
    server.signal("HUP");
    assert!(
        server
            .wait_for("TLS certificate reloaded", 1, Duration::from_secs(10))
            .await,
        "{}",
        server.log()
    );
    assert_eq!(served(port), b);
    assert!(
        server.log().contains("trigger=\"SIGHUP\""),
        "{}",
        server.log()
    );
    server.stop();
}
