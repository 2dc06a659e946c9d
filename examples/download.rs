//! The command-line face of the crate: one request body on standard input, one JSON object
//! (the response or the error body) on standard output; exit 0 on success, 1 on any error.
//!
//! ```text
//! echo '{"id": "12345", "format": "pfx", "password": "securepassword123"}' \
//!   | cargo run --release --example download -- --store examples/demo-store
//! echo '{"id": "12345", "format": "p7b", "include_root": false}' \
//!   | cargo run --release --example download
//! ```
//!
//! It downloads as a fully authorized local operator: the store's records, all exportable.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use cert_download::{DirectoryStore, ExportPolicy, MAX_BODY_BYTES, OsRandom, download_json};

const USAGE: &str = "usage: download [--store DIR] [--iterations N] < request.json
  --store DIR       the DirectoryStore root (default: the demo store of the crate)
  --iterations N    every iteration count of the export policy (default: the policy's)
request.json: {\"id\": N, \"format\": \"pfx\" | \"pem\" | \"crt\" | \"p7b\", \"password\": \"...\",
  \"download_key\": bool, \"include_chain\": bool, \"include_root\": bool,
  \"chain_order\": \"leaf_first\" | \"root_first\", \"friendly_name\": \"...\",
  \"pfx_encryption\": \"aes256_sha256\" | \"aes256_sha256_pbmac1\" | \"tripledes_sha1\"}:
  the fields and their values are in docs/contract.md";

struct Args {
    store: PathBuf,
    policy: ExportPolicy,
}

fn parse_args() -> Result<Args, String> {
    let mut store = None;
    let mut policy = ExportPolicy::default();
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("--store") => {
                store = Some(PathBuf::from(
                    args.next().ok_or("--store needs a directory")?,
                ));
            }
            Some("--iterations") => {
                let n = args
                    .next()
                    .and_then(|n| n.to_str().and_then(|n| n.parse::<u32>().ok()))
                    .ok_or("--iterations needs a whole number")?;
                policy = ExportPolicy::with_iterations(n).map_err(|e| e.to_string())?;
            }
            Some("-h" | "--help") => return Err(String::new()),
            _ => return Err(format!("unknown argument {arg:?}")),
        }
    }
    let store = store
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/demo-store"));
    Ok(Args { store, policy })
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(why) => {
            if !why.is_empty() {
                eprintln!("download: {why}");
            }
            eprintln!("{USAGE}");
            return ExitCode::FAILURE;
        }
    };
    let store = match DirectoryStore::new(args.store) {
        Ok(store) => store,
        Err(why) => {
            eprintln!("download: {why}");
            return ExitCode::FAILURE;
        }
    };

    // One byte past the limit is enough for the parser to refuse an oversized body.
    let mut body = Vec::new();
    let read = std::io::stdin()
        .lock()
        .take(MAX_BODY_BYTES as u64 + 1)
        .read_to_end(&mut body);
    if let Err(e) = read {
        eprintln!("download: cannot read standard input: {e}");
        return ExitCode::FAILURE;
    }

    let (json, code) = match download_json(&body, &store, &args.policy, &mut OsRandom) {
        Ok(response) => (response.to_json(), ExitCode::SUCCESS),
        Err(error) => (error.to_json(), ExitCode::FAILURE),
    };
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{json}").and_then(|()| out.flush()).is_err() {
        return ExitCode::FAILURE;
    }
    code
}
