//! Certificates for the tests of TLS (`client_cert.rs` with the directory store,
//! `client_cert_vault.rs` with the vault, `tls_reload.rs`), made with the openssl CLI: CAs,
//! keys and requests, certificates they sign (client certificates dated as asked), their
//! SHA-256 fingerprints, and an HTTPS client that presents one.

use std::path::Path;
use std::process::Command;

use crate::process::{Process, demo};

/// `openssl ARGS` in `dir`; fails the test with openssl's message when it fails.
pub(crate) fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A self-signed P-256 CA `name` (`name.key`, `name.pem`, subject `/CN=name`), for two days.
pub(crate) fn new_ca(dir: &Path, name: &str) {
    req(dir, true, name, &format!("/CN={name}"));
}

/// A new P-256 key `name.key` and its request `name.csr` for `subject`.
pub(crate) fn new_key(dir: &Path, name: &str, subject: &str) {
    req(dir, false, name, subject);
}

/// `openssl req` with a new, unencrypted P-256 key: a request, or a self-signed
/// certificate for two days.
fn req(dir: &Path, self_signed: bool, name: &str, subject: &str) {
    let key = format!("{name}.key");
    let out = format!("{name}.{}", if self_signed { "pem" } else { "csr" });
    let mut args = vec![
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        &key,
        "-out",
        &out,
        "-subj",
        subject,
    ];
    if self_signed {
        args.extend(["-x509", "-days", "2"]);
    }
    openssl(dir, &args);
}

/// `name.pem`: the request `name.csr` signed by CA `ca` for two days, with the extensions
/// of the file `extfile`.
pub(crate) fn sign(dir: &Path, ca: &str, name: &str, extfile: &str) {
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            extfile,
            "-out",
            &format!("{name}.pem"),
        ],
    );
}

/// A client certificate `name` issued by `ca`, valid from `start` to `end` (openssl ca
/// dates, `YYYYMMDDHHMMSSZ`) or for two days from now.
pub(crate) fn new_client(dir: &Path, ca: &str, name: &str, dates: Option<(&str, &str)>) {
    new_key(dir, name, &format!("/CN={name}"));
    std::fs::write(
        dir.join("client.ext"),
        "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    match dates {
        None => sign(dir, ca, name, "client.ext"),
        Some((start, end)) => {
            // `openssl x509` of OpenSSL 3.0 cannot date a certificate in the past; `ca` can.
            std::fs::write(dir.join("index.txt"), "").unwrap();
            std::fs::write(dir.join("serial"), "1000\n").unwrap();
            std::fs::write(
                dir.join("ca.cnf"),
                "[ca]\ndefault_ca = test\n[test]\ndatabase = index.txt\nnew_certs_dir = .\n\
                 serial = serial\ndefault_md = sha256\npolicy = any\n[any]\ncommonName = supplied\n",
            )
            .unwrap();
            openssl(
                dir,
                &[
                    "ca",
                    "-batch",
                    "-config",
                    "ca.cnf",
                    "-cert",
                    &format!("{ca}.pem"),
                    "-keyfile",
                    &format!("{ca}.key"),
                    "-in",
                    &format!("{name}.csr"),
                    "-startdate",
                    start,
                    "-enddate",
                    end,
                    "-notext",
                    "-extfile",
                    "client.ext",
                    "-out",
                    &format!("{name}.pem"),
                ],
            );
        }
    }
}

pub(crate) fn fingerprint(dir: &Path, name: &str) -> String {
    let out = Command::new("openssl")
        .args([
            "x509",
            "-noout",
            "-fingerprint",
            "-sha256",
            "-in",
            &format!("{name}.pem"),
        ])
        .current_dir(dir)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let hex = text.trim().rsplit('=').next().unwrap().to_owned();
    format!("sha256:{hex}")
}

/// An HTTPS client trusting the demo CA, presenting `name`'s certificate if given, with a
/// new connection (and handshake) for every request.
pub(crate) fn client(dir: &Path, name: Option<&str>) -> reqwest::Client {
    builder(dir, name)
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

/// Like [`client`], keeping its connection open between requests: the next request goes on
/// the connection whose handshake verified the certificate before.
pub(crate) fn client_keeping_alive(dir: &Path, name: &str) -> reqwest::Client {
    builder(dir, Some(name))
        .pool_max_idle_per_host(1)
        .build()
        .unwrap()
}

fn builder(dir: &Path, name: Option<&str>) -> reqwest::ClientBuilder {
    let ca = std::fs::read(demo("tls/ca.pem")).unwrap();
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap());
    if let Some(name) = name {
        let mut pem = std::fs::read(dir.join(format!("{name}.pem"))).unwrap();
        pem.extend(std::fs::read(dir.join(format!("{name}.key"))).unwrap());
        builder = builder.identity(reqwest::Identity::from_pem(&pem).unwrap());
    }
    builder
}

/// A crt download of `id` with `http` (its certificate, if any) and `token`, if given: the
/// status, or `None` when no answer came (a refused handshake).
pub(crate) async fn download(
    server: &Process,
    http: &reqwest::Client,
    id: u64,
    token: Option<&str>,
) -> Option<u16> {
    let mut request = http
        .post(&server.url)
        .header("content-type", "application/json")
        .body(format!(r#"{{"id": {id}, "format": "crt"}}"#));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.ok().map(|r| r.status().as_u16())
}
