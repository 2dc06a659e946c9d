//! Go's `golang.org/x/crypto/pkcs12` (Debian's golang-golang-x-crypto-dev, built offline
//! from /usr/share/gocode with GO111MODULE=off and no module proxy) as a judge, through
//! tests/interop/go_pkcs12.go, built once per test run.
//!
//! What it opens, each limit checked on our files and, where the limit could be ours, on
//! the file OpenSSL writes from the same fixture:
//! - The legacy profile (`tripledes_sha1`) only: the modern profile's SHA-256 MAC is
//!   "unknown digest algorithm", on OpenSSL's files too.
//! - `Decode` takes exactly one certificate and one key: download with `include_chain:
//!   false`; with a chain it answers "expected exactly two safe bags". `ToPEM` reads the
//!   chain, in file order.
//! - Passwords within the Basic Multilingual Plane only: with an emoji, `Decode` answers
//!   "cannot be encoded in UCS-2" and `ToPEM` "decryption password incorrect", on OpenSSL's
//!   files too.
//! - Ed25519: `Decode` returns the key; `ToPEM` cannot ("found unknown private key type in
//!   PKCS#8 wrapping"), on OpenSSL's files too.
//! - A wrong password is refused.

#[allow(dead_code)]
#[path = "interop/mod.rs"]
mod interop;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use cert_download::PfxEncryption;
use serde_json::Value;

use beyond::{DEFAULTS, NO_ROOT, Options, hex_ders, json_lines};
use checks::{PfxCase, wrong};
use fixtures::{
    ASCII, CJK, EMOJI, Fixture, KeyKind, LATIN1, RECORDS, fast_policy, fixtures_dir, hex, tempdir,
};
use interop::{beyond, checks, fixtures, tools};
use tools::{OPENSSL, Tool};

const INSTALL: &str =
    "install Go and its x/crypto (apt-get install golang-go golang-golang-x-crypto-dev)";
const GO: Tool = Tool {
    program: "go",
    install: INSTALL,
};

const LEGACY: PfxEncryption = PfxEncryption::TripleDesSha1;
const MODERN: PfxEncryption = PfxEncryption::Aes256Sha256;

const LEAF_ONLY: Options = Options {
    include_chain: false,
    ..DEFAULTS
};

/// tests/interop/go_pkcs12.go, built once per test run without the network: the Debian
/// package's source tree as GOPATH, modules off, no proxy.
fn judge() -> Tool {
    static BINARY: OnceLock<Tool> = OnceLock::new();
    *BINARY.get_or_init(|| {
        let dir = beyond::build_dir("interop-go");
        let binary = dir.join("go_pkcs12");
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/go_pkcs12.go");
        GO.cmd()
            .args(["build", "-o"])
            .arg(&binary)
            .arg(source)
            .env("GOPATH", "/usr/share/gocode")
            .env("GO111MODULE", "off")
            .env("GOPROXY", "off")
            .env("GOFLAGS", "")
            .env("GOCACHE", dir.join("cache"))
            .ok();
        let program: &'static str = Box::leak(binary.display().to_string().into_boxed_str());
        Tool {
            program,
            install: INSTALL,
        }
    })
}

/// Runs the Go judge over `files` with `password`, one JSON result per file.
fn go(files: &[&Path], password: &str) -> Vec<Value> {
    let out = judge()
        .cmd()
        .args(files)
        .env("KEY_PASS", password)
        .env("WRONG_PASS", wrong(password))
        .ok();
    json_lines(&out.text(), files.len(), "go_pkcs12")
}

fn error(result: &Value) -> &str {
    assert_eq!(result["ok"], Value::Bool(false), "Go opened it: {result}");
    result["error"].as_str().unwrap_or_default()
}

/// A Go key description is the stored key, as Python describes it.
fn check_key(key: &Value, fx: &Fixture, what: &str) {
    for field in ["type", "secret", "spki"] {
        assert_eq!(key[field], fx.py_key[field], "{what}: Go's key {field}");
    }
}

/// Downloads record `id` as a pfx in `profile`.
fn pfx<'a>(id: u64, dir: &Path, profile: PfxEncryption, password: &str, o: Options) -> PfxCase<'a> {
    beyond::pfx(Fixture::get(id), dir, profile, password, &fast_policy(), o)
}

/// `openssl pkcs12 -export` of a record's leaf (and, with `chain`, its stored chain) and
/// key, in `profile`: what Go does with OpenSSL's file.
fn openssl_reference(
    id: u64,
    profile: PfxEncryption,
    password: &str,
    chain: bool,
    dir: &Path,
) -> PathBuf {
    let record = fixtures_dir().join("store").join(id.to_string());
    let out = dir.join(format!("openssl-{id}-{}-{chain}.p12", profile.as_str()));
    let mut cmd = OPENSSL
        .cmd()
        .args(["pkcs12", "-export", "-passout", "env:REF_PASS", "-in"])
        .arg(record.join("cert.pem"))
        .arg("-inkey")
        .arg(record.join("key.pem"));
    if chain {
        cmd = cmd.arg("-certfile").arg(record.join("chain.pem"));
    }
    if profile == LEGACY {
        cmd = cmd.args([
            "-certpbe",
            "PBE-SHA1-3DES",
            "-keypbe",
            "PBE-SHA1-3DES",
            "-macalg",
            "sha1",
        ]);
    }
    cmd.arg("-out").arg(&out).env("REF_PASS", password).ok();
    out
}

#[test]
#[cfg_attr(
    not(all(judge_go, judge_openssl, judge_cryptography)),
    ignore = "needs Go with golang.org/x/crypto, openssl and Python cryptography 48: scripts/test-all installs them"
)]
fn go_decode_opens_the_legacy_profile_with_the_leaf_alone() {
    let dir = tempdir();
    for password in [ASCII, LATIN1, CJK] {
        let cases: Vec<PfxCase<'_>> = RECORDS
            .iter()
            .map(|r| pfx(r.id, dir.path(), LEGACY, password, LEAF_ONLY))
            .collect();
        let files: Vec<&Path> = cases.iter().map(|c| c.path.as_path()).collect();
        for (case, result) in cases.iter().zip(go(&files, password)) {
            let fx = case.fixture;
            let what = format!("record {} legacy pfx, leaf only", fx.record.id);
            let decoded = &result["decode"];
            assert_eq!(
                decoded["ok"],
                Value::Bool(true),
                "{what}: Go's Decode: {}",
                decoded["error"]
            );
            check_key(&decoded["key"], fx, &what);
            assert_eq!(
                decoded["cert"],
                Value::from(hex(&fx.leaf().der, "").to_lowercase()),
                "{what}: Go's certificate"
            );
            let refused = error(&result["wrong_decode"]);
            assert!(
                refused.contains("decryption password incorrect"),
                "{what}: {refused}"
            );
            assert!(
                error(&result["wrong_to_pem"]).contains("decryption password incorrect"),
                "{what}"
            );
            let pem = &result["to_pem"];
            if fx.record.key == KeyKind::Ed25519 {
                assert!(
                    error(pem).contains("found unknown private key type"),
                    "{what}: Go's ToPEM: {pem}"
                );
                continue;
            }
            assert_eq!(pem["ok"], Value::Bool(true), "{what}: Go's ToPEM: {pem}");
            let blocks = pem["blocks"].as_array().expect("blocks");
            let types: Vec<&str> = blocks.iter().map(|b| b["type"].as_str().unwrap()).collect();
            assert_eq!(types, ["CERTIFICATE", "PRIVATE KEY"], "{what}: ToPEM");
            assert_eq!(blocks[0]["der"], decoded["cert"], "{what}: ToPEM's leaf");
            check_key(&blocks[1]["key"], fx, &format!("{what} (ToPEM)"));
        }
    }
    // Ed25519's ToPEM fails on OpenSSL's legacy file the same way.
    let reference = openssl_reference(9, LEGACY, ASCII, false, dir.path());
    let result = &go(&[&reference], ASCII)[0];
    assert_eq!(result["decode"]["ok"], Value::Bool(true), "{result}");
    assert!(
        error(&result["to_pem"]).contains("found unknown private key type"),
        "OpenSSL's Ed25519 file: {result}"
    );
}

#[test]
#[cfg_attr(
    not(all(judge_go, judge_openssl, judge_cryptography)),
    ignore = "needs Go with golang.org/x/crypto, openssl and Python cryptography 48: scripts/test-all installs them"
)]
fn go_to_pem_reads_legacy_chains_that_decode_refuses() {
    let dir = tempdir();
    let root_first = Options {
        root_first: true,
        ..DEFAULTS
    };
    let mut cases = Vec::new();
    for record in RECORDS.iter().filter(|r| !r.issuers.is_empty()) {
        cases.push(pfx(record.id, dir.path(), LEGACY, ASCII, DEFAULTS));
    }
    for (id, o) in [(1, NO_ROOT), (20, NO_ROOT), (4, root_first)] {
        cases.push(pfx(id, dir.path(), LEGACY, ASCII, o));
    }
    let files: Vec<&Path> = cases.iter().map(|c| c.path.as_path()).collect();
    for (case, result) in cases.iter().zip(go(&files, ASCII)) {
        let fx = case.fixture;
        let what = format!(
            "record {} legacy pfx with {} certificates",
            fx.record.id,
            case.certs.len()
        );
        let refused = error(&result["decode"]);
        assert!(
            refused.contains("expected exactly two safe bags"),
            "{what}: Go's Decode: {refused}"
        );
        let pem = &result["to_pem"];
        if fx.record.key == KeyKind::Ed25519 {
            assert!(
                error(pem).contains("found unknown private key type"),
                "{what}"
            );
            continue;
        }
        assert_eq!(pem["ok"], Value::Bool(true), "{what}: Go's ToPEM: {pem}");
        let blocks = pem["blocks"].as_array().expect("blocks");
        let certs: Vec<String> = blocks
            .iter()
            .filter(|b| b["type"] == "CERTIFICATE")
            .map(|b| b["der"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(certs, hex_ders(&case.certs), "{what}: ToPEM's certificates");
        let keys: Vec<&Value> = blocks
            .iter()
            .filter(|b| b["type"] == "PRIVATE KEY")
            .collect();
        assert_eq!(keys.len(), 1, "{what}: ToPEM's keys");
        check_key(&keys[0]["key"], fx, &what);
    }
    // Decode refuses OpenSSL's legacy file with a chain the same way.
    let reference = openssl_reference(1, LEGACY, ASCII, true, dir.path());
    let result = &go(&[&reference], ASCII)[0];
    assert!(
        error(&result["decode"]).contains("expected exactly two safe bags"),
        "OpenSSL's file with a chain: {result}"
    );
    assert_eq!(result["to_pem"]["ok"], Value::Bool(true), "{result}");
}

#[test]
#[cfg_attr(
    not(all(judge_go, judge_openssl, judge_cryptography)),
    ignore = "needs Go with golang.org/x/crypto, openssl and Python cryptography 48: scripts/test-all installs them"
)]
fn go_limits_are_the_same_on_openssl_files() {
    let dir = tempdir();
    // The modern profile: its SHA-256 MAC is unknown to Go.
    for id in [1, 4] {
        let ours = pfx(id, dir.path(), MODERN, ASCII, LEAF_ONLY);
        let theirs = openssl_reference(id, MODERN, ASCII, false, dir.path());
        for (who, result) in ["ours", "OpenSSL's"]
            .into_iter()
            .zip(go(&[&ours.path, &theirs], ASCII))
        {
            for op in ["decode", "to_pem"] {
                let e = error(&result[op]);
                assert!(
                    e.contains("unknown digest algorithm: 2.16.840.1.101.3.4.2.1"),
                    "record {id} modern pfx ({who}), {op}: {e}"
                );
            }
        }
    }
    // A password beyond the Basic Multilingual Plane, legacy profile.
    for id in [1, 4] {
        let ours = pfx(id, dir.path(), LEGACY, EMOJI, LEAF_ONLY);
        let theirs = openssl_reference(id, LEGACY, EMOJI, false, dir.path());
        for (who, result) in ["ours", "OpenSSL's"]
            .into_iter()
            .zip(go(&[&ours.path, &theirs], EMOJI))
        {
            let what = format!("record {id} legacy pfx ({who}), emoji password");
            let e = error(&result["decode"]);
            assert!(
                e.contains("cannot be encoded in UCS-2"),
                "{what}: Decode: {e}"
            );
            let e = error(&result["to_pem"]);
            assert!(
                e.contains("decryption password incorrect"),
                "{what}: ToPEM: {e}"
            );
        }
    }
}
