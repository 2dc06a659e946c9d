//! The `openssl` command-line tool, and PEM text read by hand.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// `tool`, once it has answered `version` (`--version` for curl) in `cell`; fails the test
/// with a clear message, naming what to install, when it is not installed.
pub fn require(
    tool: &'static str,
    cell: &'static OnceLock<Result<String, String>>,
) -> &'static str {
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

/// The `openssl` command, failing the test with a clear message when it is not installed.
pub fn openssl_bin() -> &'static str {
    static CELL: OnceLock<Result<String, String>> = OnceLock::new();
    require("openssl", &CELL)
}

/// Runs `openssl args...`; returns the output whatever the status.
pub fn openssl_output(args: &[&str]) -> Output {
    Command::new(openssl_bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run openssl {args:?}: {e}"))
}

/// Runs `openssl args...`, fails the test unless it succeeds, and returns its stdout.
#[track_caller]
pub fn openssl(args: &[&str]) -> String {
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

/// The public key of an unencrypted PEM private key file.
pub fn key_public_key(key_pem: &Path) -> String {
    openssl(&["pkey", "-in", path(key_pem), "-pubout"])
}

/// `p` as a `&str`, for a command line (the tests' paths are UTF-8).
pub fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

/// Writes `bytes` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap_or_else(|e| panic!("cannot write {}: {e}", p.display()));
    p
}

/// The blocks of a PEM text: (label, DER).
pub fn pem_blocks(text: &str) -> Vec<(String, Vec<u8>)> {
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
pub fn pem_file_certs(file: &Path) -> Vec<Vec<u8>> {
    let text = std::fs::read_to_string(file)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
    pem_blocks(&text)
        .into_iter()
        .filter(|(label, _)| label == "CERTIFICATE")
        .map(|(_, der)| der)
        .collect()
}
