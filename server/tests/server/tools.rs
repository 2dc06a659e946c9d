//! The `curl` command-line tool, and the `openssl` checks only this binary makes; the rest
//! (running `openssl`, PEM read by hand) is test-support's `server_harness::tools`,
//! re-exported here.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

pub(crate) use cert_download_test_support::server_harness::tools::*;

pub(crate) fn curl_bin() -> &'static str {
    static CELL: OnceLock<Result<String, String>> = OnceLock::new();
    require("curl", &CELL)
}

/// Runs `openssl args...` and fails the test unless openssl refuses as asked: exit status
/// 1 and `message` in its standard error. A usage error or a crash is not the refusal a
/// wrong-password check looks for.
#[track_caller]
pub(crate) fn openssl_refuses(args: &[&str], message: &str) {
    let out = openssl_output(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code() == Some(1) && stderr.contains(message),
        "`openssl {}` was to fail with status 1 and {message:?}; got {}:\n{stderr}",
        args.join(" "),
        out.status,
    );
}

/// Decrypts a DER `EncryptedPrivateKeyInfo` with `openssl pkcs8` into
/// `dir/<name>.plain.pem` (failing the test unless it is an unencrypted PKCS#8 key then);
/// returns that path.
#[track_caller]
pub(crate) fn decrypt_pkcs8(dir: &Path, name: &str, der: &[u8], password: &str) -> PathBuf {
    let encrypted = write(dir, &format!("{name}.p8.der"), der);
    let pass = format!("pass:{password}");
    let plain = openssl(&[
        "pkcs8",
        "-inform",
        "DER",
        "-in",
        path(&encrypted),
        "-passin",
        &pass,
    ]);
    assert!(plain.contains("BEGIN PRIVATE KEY"), "{plain}");
    write(dir, &format!("{name}.plain.pem"), plain.as_bytes())
}

/// The public key of a PEM certificate file, as `openssl x509 -pubkey` prints it.
pub(crate) fn cert_public_key(cert_pem: &Path) -> String {
    openssl(&["x509", "-in", path(cert_pem), "-noout", "-pubkey"])
}

/// Runs `curl` with `args` (no shell), proxies disabled through the environment only.
pub(crate) fn curl(args: &[&str]) -> Output {
    Command::new(curl_bin())
        .args(args)
        .env("NO_PROXY", "*")
        .env("no_proxy", "*")
        .env_remove("CURL_CA_BUNDLE")
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run curl {args:?}: {e}"))
}
