//! The `openssl` and `curl` command-line tools, and PEM text read by hand.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Fails the test with a clear message when `tool` is not installed.
fn require(tool: &'static str, cell: &'static OnceLock<Result<String, String>>) -> &'static str {
    let found = cell.get_or_init(|| {
        match Command::new(tool)
            .arg(if tool == "curl" {
                "--version"
            } else {
                "version"
            })
            .stdin(Stdio::null())
            .output()
        {
            Ok(out) if out.status.success() => Ok(String::from_utf8_lossy(&out.stdout)
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned()),
            Ok(out) => Err(format!(
                "`{tool}` is on PATH but does not run: {}",
                out.status
            )),
            Err(e) => Err(format!("`{tool}` was not found on PATH: {e}")),
        }
    });
    match found {
        Ok(_) => tool,
        Err(why) => panic!(
            "this test needs the {tool} command-line tool and cannot run without it: {why}. \
             Install it (e.g. `apt-get install {tool}`) and run the test again."
        ),
    }
}

pub(crate) fn openssl_bin() -> &'static str {
    static CELL: OnceLock<Result<String, String>> = OnceLock::new();
    require("openssl", &CELL)
}

pub(crate) fn curl_bin() -> &'static str {
    static CELL: OnceLock<Result<String, String>> = OnceLock::new();
    require("curl", &CELL)
}

/// Runs `openssl args...`; returns the output whatever the status.
pub(crate) fn openssl_output(args: &[&str]) -> Output {
    Command::new(openssl_bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run openssl {args:?}: {e}"))
}

/// Runs `openssl args...`, fails the test unless it succeeds, and returns its stdout.
#[track_caller]
pub(crate) fn openssl(args: &[&str]) -> String {
    let out = openssl_output(args);
    assert!(
        out.status.success(),
        "`openssl {}` failed ({}):\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
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

/// The public key of an unencrypted PEM private key file.
pub(crate) fn key_public_key(key_pem: &Path) -> String {
    openssl(&["pkey", "-in", path(key_pem), "-pubout"])
}

pub(crate) fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

/// Writes `bytes` to `dir/name` and returns the path.
pub(crate) fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap_or_else(|e| panic!("cannot write {}: {e}", p.display()));
    p
}

/// The blocks of a PEM text: (label, DER).
pub(crate) fn pem_blocks(text: &str) -> Vec<(String, Vec<u8>)> {
    let mut blocks = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        {
            current = Some((label.to_owned(), String::new()));
        } else if let Some(label) = line
            .strip_prefix("-----END ")
            .and_then(|l| l.strip_suffix("-----"))
        {
            let (begun, b64) = current
                .take()
                .unwrap_or_else(|| panic!("END {label} without BEGIN in:\n{text}"));
            assert_eq!(begun, label, "mismatched PEM labels in:\n{text}");
            let der = STANDARD
                .decode(b64.as_bytes())
                .unwrap_or_else(|e| panic!("bad Base64 in the {label} block ({e}):\n{text}"));
            blocks.push((label.to_owned(), der));
        } else if let Some((_, b64)) = current.as_mut() {
            b64.push_str(line.trim());
        }
    }
    assert!(current.is_none(), "an unterminated PEM block in:\n{text}");
    blocks
}

/// The DER certificates of a PEM file.
pub(crate) fn pem_file_certs(file: &Path) -> Vec<Vec<u8>> {
    let text = std::fs::read_to_string(file)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
    pem_blocks(&text)
        .into_iter()
        .filter(|(label, _)| label == "CERTIFICATE")
        .map(|(_, der)| der)
        .collect()
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
