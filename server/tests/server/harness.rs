//! The server binary's own part of the harness: the demo tokens, the fixtures store, curl
//! as a client, and the checks of answers and log lines the attack tests share. The rest
//! (the process, the reqwest client, [`Reply`]) is test-support's `server_harness`,
//! re-exported here.

use std::path::PathBuf;

pub(crate) use cert_download_test_support::server_harness::*;

/// The server executable cargo built for this test binary.
pub(crate) const SERVER: ServerBinary =
    ServerBinary::new(env!("CARGO_BIN_EXE_cert-download-server"));

/// The demo store's admin token.
pub(crate) const ADMIN: &str = "demo-admin-token";
/// The demo store's reader token.
pub(crate) const READER: &str = "demo-reader-token";

/// A record of the test fixtures store, `tests/fixtures/store/<id>`.
pub(crate) fn fixture_record(id: &str) -> PathBuf {
    repo_dir().join("tests/fixtures/store").join(id)
}

/// Runs curl with `args` plus `-sS -D <file> -w "\n%{http_code}"`: the reply with its
/// headers, or curl's failure as text.
pub(crate) fn curl_request(args: &[&str]) -> Result<Reply, String> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let head = dir.path().join("head.txt");
    let mut all: Vec<&str> = args.to_vec();
    all.extend([
        "-sS",
        "-D",
        head.to_str().expect("a UTF-8 path"),
        "-w",
        "\n%{http_code}",
    ]);
    let out = crate::tools::curl(&all);
    if !out.status.success() {
        return Err(format!(
            "curl exit {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let (body, code) = stdout
        .rsplit_once('\n')
        .ok_or_else(|| format!("no status code in {stdout:?}"))?;
    let dump = std::fs::read_to_string(&head).map_err(|e| format!("no header dump: {e}"))?;
    // The last response block (after any `100 Continue`).
    let block = dump
        .split("\r\n\r\n")
        .filter(|b| b.starts_with("HTTP/"))
        .last()
        .ok_or_else(|| format!("no response head in {dump:?}"))?;
    let mut headers = reqwest::header::HeaderMap::new();
    for line in block.lines().skip(1) {
        if let Some((name, value)) = line.split_once(':') {
            let name = reqwest::header::HeaderName::from_bytes(name.trim().as_bytes())
                .map_err(|e| format!("bad header {line:?}: {e}"))?;
            let value = reqwest::header::HeaderValue::from_str(value.trim())
                .map_err(|e| format!("bad header {line:?}: {e}"))?;
            headers.append(name, value);
        }
    }
    Ok(Reply {
        status: code
            .parse()
            .map_err(|_| format!("bad status code in {stdout:?}"))?,
        headers,
        body: body.to_owned(),
    })
}

// ---------------------------------------------------------------------------------------
// Checks of answers and log lines the attack tests share
// ---------------------------------------------------------------------------------------

/// The contract's error body, with `Cache-Control: no-store`.
#[track_caller]
pub(crate) fn expect_shaped(reply: &Reply, status: u16, codes: &[&str]) {
    reply.expect_error(status, codes);
    assert_eq!(
        reply.header("cache-control"),
        Some("no-store"),
        "a {status} must say Cache-Control: no-store: {:?}",
        reply.headers
    );
}

#[track_caller]
pub(crate) fn expect_closing(reply: &Reply) {
    assert_eq!(
        reply.header("connection"),
        Some("close"),
        "a {} to an unauthenticated request must close its connection: {:?}",
        reply.status,
        reply.headers
    );
}

/// `Retry-After` in whole seconds, asserted to be there and at least 1.
#[track_caller]
pub(crate) fn retry_after(reply: &Reply) -> u64 {
    let secs: u64 = reply
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "a {} must carry Retry-After in seconds: {:?}",
                reply.status, reply.headers
            )
        });
    assert!(secs >= 1, "Retry-After: {secs}");
    secs
}

/// Log lines that mention this client port.
pub(crate) fn lines_of_client(log: &str, port: u16) -> Vec<&str> {
    let needle = format!("client=127.0.0.1:{port} ");
    let end = format!("client=127.0.0.1:{port}");
    log.lines()
        .filter(|l| l.contains(&needle) || l.ends_with(&end))
        .collect()
}
