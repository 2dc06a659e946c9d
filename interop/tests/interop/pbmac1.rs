//! The `aes256_sha256_pbmac1` profile (RFC 9879) against its readers:
//!
//! - Python `cryptography` on OpenSSL 3.4 or later (48 bundles OpenSSL 4.0) opens every file
//!   with its MAC verified and gives back the stored key and certificates, with warnings
//!   turned into errors (so that a "could not be parsed as DER" fallback fails the test). It
//!   refuses a wrong password, a flipped bit in the MAC, and a flipped bit in what the MAC
//!   alone protects (the key bag's friendlyName, outside any encryption).
//! - The `openssl` CLI: 3.0 to 3.3 cannot compute PBMAC1 and must refuse the file with a
//!   MAC error (exit status 1, not a crash); 3.4 and later must open it.

use std::path::Path;

use cert_download::{ExportPolicy, PfxEncryption};
use serde_json::{Value, json};

use crate::checks::wrong;
use crate::fixtures::{ASCII, EMOJI, Fixture, download, fast_policy, hex, tempdir};
use crate::tools::{OPENSSL, PYTHON};

const PBMAC1: PfxEncryption = PfxEncryption::Aes256Sha256Pbmac1;

/// Reads a JSON list of `{path, password}` jobs on stdin; prints the OpenSSL version number
/// `cryptography` runs on and, per job, the key and certificates, or the error.
const PY_SCRIPT: &str = r#"
import json, sys, warnings
warnings.simplefilter("error")
from cryptography.hazmat.backends.openssl import backend
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

DER = serialization.Encoding.DER
SPKI = serialization.PublicFormat.SubjectPublicKeyInfo
results = []
for job in json.load(sys.stdin):
    try:
        with open(job["path"], "rb") as f:
            data = f.read()
        key, cert, additional = pkcs12.load_key_and_certificates(
            data, job["password"].encode("utf-8"))
        results.append({
            "ok": True,
            "spki": key.public_key().public_bytes(DER, SPKI).hex(),
            "cert": cert.public_bytes(DER).hex(),
            "additional": [c.public_bytes(DER).hex() for c in additional],
        })
    except Exception as e:
        results.append({"ok": False, "error": "%s: %s" % (type(e).__name__, e)})
print(json.dumps({"openssl": backend.openssl_version_number(), "results": results}))
"#;

/// OpenSSL 3.4.0 as `OPENSSL_VERSION_NUMBER`: the first to read PBMAC1.
const OPENSSL_3_4: u64 = 0x3040_0000;

fn python(jobs: &[Value]) -> Vec<Value> {
    let out = PYTHON
        .cmd()
        .args(["-W", "error", "-c"])
        .arg_shown_as(PY_SCRIPT, "<PBMAC1 script>")
        .env("PYTHONUTF8", "1")
        .stdin(Value::Array(jobs.to_vec()).to_string())
        .ok();
    let answer: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("the Python script wrote no JSON ({e}): {}", out.text()));
    let version = answer["openssl"].as_u64().expect("a version number");
    assert!(
        version >= OPENSSL_3_4,
        "Python `cryptography` runs on OpenSSL {version:#x}, which cannot verify PBMAC1: \
         pip install -U cryptography (48 bundles OpenSSL 4.0)"
    );
    let results = answer["results"].as_array().expect("results").clone();
    assert_eq!(results.len(), jobs.len());
    results
}

/// `bytes` with one bit of the byte at `at` flipped.
fn flipped(bytes: &[u8], at: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[at] ^= 0x01;
    out
}

/// Where the first copy of `needle` starts in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len())
        .position(|w| w == needle)
        .expect("the bytes are in the file")
}

/// The version of the `openssl` CLI as a number like 0x30000000 (3.0.0).
fn cli_version() -> u64 {
    let text = OPENSSL.cmd().arg("version").ok().text();
    let number = text
        .split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("openssl version printed {text:?}"));
    let mut parts = number
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u64>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major << 28) | (minor << 20)
}

fn openssl_reads(path: &Path, password: &str, fx: &Fixture, what: &str) {
    let cmd = OPENSSL
        .cmd()
        .args([
            "pkcs12",
            "-nodes",
            "-info",
            "-passin",
            "env:PBMAC1_PASS",
            "-in",
        ])
        .arg(path)
        .env("PBMAC1_PASS", password);
    if cli_version() >= OPENSSL_3_4 {
        let text = cmd.ok().all_text();
        assert!(text.contains("PBMAC1"), "{what}: {text}");
        assert!(text.contains("PRIVATE KEY"), "{what}: the key");
        let subject = format!("subject={}", fx.leaf().subject);
        assert!(text.contains(&subject), "{what}: the leaf");
    } else {
        // OpenSSL 3.0-3.3 cannot compute a PBMAC1 MAC: it says so ("Algorithm (PBMAC1")
        // and refuses the file with exit status 1, not a crash.
        let out = cmd.fails_with(1, "Mac verify error");
        assert!(
            out.stderr.contains("Algorithm (PBMAC1"),
            "{what}: `{}` refused the file for another reason:\n{}",
            out.shown,
            out.stderr
        );
        let text = out.all_text();
        assert!(text.contains("Mac verify error"), "{what}: {text}");
        assert!(text.contains("PBMAC1"), "{what}: {text}");
        assert!(
            !text.contains("BEGIN PRIVATE KEY"),
            "{what}: no key from an unverified file"
        );
    }
}

fn pbmac1_readers(id: u64, policy: &ExportPolicy, passwords: &[&str]) {
    let fx = Fixture::get(id);
    let dir = tempdir();
    let expected = fx.expected(true, false);
    let mut jobs = Vec::new();
    let mut expect_ok = Vec::new();
    for (n, &password) in passwords.iter().enumerate() {
        let body = json!({
            "id": id, "format": "pfx", "password": password, "pfx_encryption": "aes256_sha256_pbmac1"
        });
        let der = download(&body, policy).certificate().to_vec();
        let what = format!("record {id}, PBMAC1, password #{n}");
        let path = dir.path().join(format!("{id}-{n}.p12"));
        std::fs::write(&path, &der).expect("write the file");
        openssl_reads(&path, password, fx, &what);

        // The MAC is the 32 bytes before macSalt ("NOT USED", the last field: iterations
        // is left out); the friendlyName (the leaf's CN as a BMPString) is first in the
        // key bag's attributes, which no encryption covers.
        let mac_at = der.len() - 10 - 32;
        assert_eq!(&der[der.len() - 10..], b"\x04\x08NOT USED", "{what}");
        let name = match fx.leaf().subject.strip_prefix("CN = ") {
            Some(cn) => cn.to_owned(),
            None => format!("certificate-{id}"),
        };
        let bmp: Vec<u8> = name.encode_utf16().flat_map(u16::to_be_bytes).collect();
        let name_at = find(&der, &bmp);
        let variants = [
            ("the file", der.clone(), password.to_owned(), true),
            ("a wrong password", der.clone(), wrong(password), false),
            (
                "a flipped MAC bit",
                flipped(&der, mac_at + 7),
                password.to_owned(),
                false,
            ),
            (
                "a flipped friendlyName bit",
                flipped(&der, name_at + 1),
                password.to_owned(),
                false,
            ),
        ];
        for (v, (case, bytes, pw, ok)) in variants.into_iter().enumerate() {
            let path = dir.path().join(format!("{id}-{n}-{v}.p12"));
            std::fs::write(&path, bytes).expect("write the file");
            jobs.push(json!({"path": path, "password": pw}));
            expect_ok.push((format!("{what}: {case}"), ok));
        }
    }
    for (result, (what, ok)) in python(&jobs).iter().zip(expect_ok) {
        if !ok {
            assert_eq!(result["ok"], false, "{what}: opened");
            let error = result["error"].as_str().unwrap_or_default();
            assert!(
                error.contains("Invalid password or PKCS12 data"),
                "{what}: {error}"
            );
            continue;
        }
        assert_eq!(result["ok"], true, "{what}: {}", result["error"]);
        assert_eq!(
            result["spki"],
            hex(&fx.public_der, "").to_lowercase(),
            "{what}: key"
        );
        assert_eq!(
            result["cert"],
            hex(&expected[0].der, "").to_lowercase(),
            "{what}: leaf"
        );
        let mut issuers: Vec<String> = expected[1..]
            .iter()
            .map(|c| hex(&c.der, "").to_lowercase())
            .collect();
        let mut got: Vec<String> = result["additional"]
            .as_array()
            .expect("a list")
            .iter()
            .map(|c| c.as_str().expect("hex").to_owned())
            .collect();
        issuers.sort();
        got.sort();
        assert_eq!(got, issuers, "{what}: issuers");
    }
}

#[test]
#[cfg_attr(
    not(all(judge_openssl, judge_cryptography)),
    ignore = "needs openssl and Python cryptography 48: scripts/test-all installs them"
)]
fn pbmac1_with_the_default_policy() {
    pbmac1_readers(4, &ExportPolicy::default(), &[ASCII, EMOJI]);
}

#[test]
#[cfg_attr(
    not(all(judge_openssl, judge_cryptography)),
    ignore = "needs openssl and Python cryptography 48: scripts/test-all installs them"
)]
fn pbmac1_on_every_key_type() {
    for id in [1, 2, 5, 6, 8, 9, 15] {
        pbmac1_readers(id, &fast_policy(), &[EMOJI]);
    }
}

#[test]
#[cfg_attr(
    not(all(judge_openssl, judge_cryptography)),
    ignore = "needs openssl and Python cryptography 48: scripts/test-all installs them"
)]
fn pbmac1_as_the_policy_default() {
    let policy = ExportPolicy::builder()
        .all_iterations(fast_policy().mac_iterations())
        .pfx_encryption(PBMAC1)
        .build()
        .expect("a policy");
    let body = json!({"id": 1, "format": "pfx", "password": ASCII});
    let der = download(&body, &policy).certificate().to_vec();
    let dir = tempdir();
    let path = dir.path().join("default.p12");
    std::fs::write(&path, &der).expect("write the file");
    openssl_reads(
        &path,
        ASCII,
        Fixture::get(1),
        "record 1, PBMAC1 by the policy",
    );
    let result = &python(&[json!({"path": path, "password": ASCII})])[0];
    assert_eq!(result["ok"], true, "{}", result["error"]);
}
