//! BouncyCastle (Debian's bcprov and bcpkix 1.72), the Java and Android provider, as a
//! judge of its own: not the JDK's PKCS#12 code (keytool, in tests/interop.rs) but BC's
//! `KeyStore.getInstance("PKCS12", "BC")` and its `CMSSignedData`, through
//! tests/interop/BcCheck.java, compiled once per test run.
//!
//! - Every key type in both PFX profiles opens with BC's key store: one key entry under the
//!   friendly name whose key is the stored key (its numbers, and a signature that the leaf's
//!   public key verifies) with the chain built by issuer links; a wrong password is refused
//!   ("mac invalid"). BC lists no other entry: record 20's unrelated CA, which is in the
//!   file, is not in its chain and not listed (keytool does the same).
//! - Unlike the JDK, BC opens both profiles with non-ASCII passwords, emoji included.
//! - p7b: BC's `CMSSignedData` reads the certificates, in the file's (DER) order, with no
//!   signers and `id-data` content.

#[allow(dead_code)]
#[path = "interop/mod.rs"]
mod interop;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use cert_download::PfxEncryption;
use serde_json::Value;

use beyond::{DEFAULTS, NO_ROOT, Options, hex_ders, json_lines, strings};
use checks::{PfxCase, wrong};
use fixtures::{ASCII, CJK, EMOJI, Fixture, KeyKind, LATIN1, RECORDS, fast_policy, tempdir};
use interop::{beyond, checks, fixtures, tools};
use tools::{JAVA, JAVAC};

const BC_CLASSPATH: &str = "/usr/share/java/bcprov.jar:/usr/share/java/bcpkix.jar";

/// The class directory of BcCheck.java, compiled once per test run.
fn classes() -> &'static Path {
    static CLASSES: OnceLock<PathBuf> = OnceLock::new();
    CLASSES.get_or_init(|| {
        let dir = beyond::build_dir("interop-bouncycastle");
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/BcCheck.java");
        JAVAC
            .cmd()
            .args(["-cp", BC_CLASSPATH, "-d"])
            .arg(&dir)
            .arg(source)
            .ok();
        dir
    })
}

/// Runs BcCheck in `mode` over `files` (one JVM), one JSON result per file.
fn bc(mode: &str, files: &[&Path], password: &str) -> Vec<Value> {
    let classpath = format!("{}:{BC_CLASSPATH}", classes().display());
    let out = JAVA
        .cmd()
        .args(["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-cp"])
        .arg(classpath)
        .arg("BcCheck")
        .arg(mode)
        .args(files)
        .env("KEY_PASS", password)
        .env("WRONG_PASS", wrong(password))
        .env("LC_ALL", "C.UTF-8")
        .ok();
    json_lines(&out.text(), files.len(), "BcCheck")
}

fn bc_kind(key: KeyKind) -> &'static str {
    match key {
        KeyKind::Rsa => "rsa",
        KeyKind::P256 | KeyKind::P384 | KeyKind::P521 => "ec",
        KeyKind::Ed25519 => "ed25519",
    }
}

/// What BC's PKCS12 key store must give for a downloaded pfx.
fn check_pfx(case: &PfxCase<'_>, result: &Value) {
    let fx = case.fixture;
    let what = format!(
        "record {} pfx {} ({})",
        fx.record.id,
        case.profile.as_str(),
        case.path.display()
    );
    assert_eq!(
        result["ok"],
        Value::Bool(true),
        "{what}: BouncyCastle cannot open it: {}",
        result["error"]
    );
    let entries = result["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 1, "{what}: BC's entries: {entries:?}");
    let entry = &entries[0];
    assert_eq!(
        entry["alias"],
        Value::from(case.friendly_name.as_str()),
        "{what}: alias"
    );
    let key = &entry["key"];
    assert_eq!(key["kind"], bc_kind(fx.record.key), "{what}: key type");
    assert_eq!(key["secret"], fx.py_key["secret"], "{what}: key numbers");
    assert_eq!(
        key["signs_for_leaf"],
        Value::Bool(true),
        "{what}: the key does not sign for the leaf"
    );
    assert_eq!(
        strings(&entry["chain"]),
        hex_ders(&case.linked),
        "{what}: BC's chain"
    );
    assert_eq!(
        result["wrong"]["ok"],
        Value::Bool(false),
        "{what}: BC opened it with a wrong password"
    );
    let refusal = result["wrong"]["error"].as_str().unwrap_or_default();
    assert!(refusal.contains("mac invalid"), "{what}: BC: {refusal}");
}

/// Downloads every case (record, profile, options) under `password` and opens them all in
/// one BC run.
fn pfx_cases(cases: &[(u64, PfxEncryption, Options)], password: &str) {
    let dir = tempdir();
    let policy = fast_policy();
    let cases: Vec<PfxCase<'_>> = cases
        .iter()
        .map(|&(id, profile, o)| {
            beyond::pfx(Fixture::get(id), dir.path(), profile, password, &policy, o)
        })
        .collect();
    let files: Vec<&Path> = cases.iter().map(|c| c.path.as_path()).collect();
    for (case, result) in cases.iter().zip(bc("pfx", &files, password)) {
        check_pfx(case, &result);
    }
}

const PROFILES: [PfxEncryption; 2] = [PfxEncryption::Aes256Sha256, PfxEncryption::TripleDesSha1];

#[test]
#[cfg_attr(
    not(all(judge_bouncycastle, judge_java, judge_openssl, judge_cryptography)),
    ignore = "needs BouncyCastle (bcprov, bcpkix), Java 17, openssl and Python cryptography 48: scripts/test-all installs them"
)]
fn bc_opens_every_key_type_in_both_profiles() {
    let mut cases = Vec::new();
    for record in RECORDS {
        for profile in PROFILES {
            cases.push((record.id, profile, DEFAULTS));
        }
    }
    let without_chain = Options {
        include_chain: false,
        ..DEFAULTS
    };
    let root_first = Options {
        root_first: true,
        ..DEFAULTS
    };
    for profile in PROFILES {
        cases.push((1, profile, NO_ROOT));
        cases.push((20, profile, NO_ROOT));
        cases.push((9, profile, without_chain));
        cases.push((5, profile, root_first));
    }
    pfx_cases(&cases, ASCII);
}

#[test]
#[cfg_attr(
    not(all(judge_bouncycastle, judge_java, judge_openssl, judge_cryptography)),
    ignore = "needs BouncyCastle (bcprov, bcpkix), Java 17, openssl and Python cryptography 48: scripts/test-all installs them"
)]
fn bc_opens_non_ascii_passwords_unlike_the_jdk() {
    for password in [LATIN1, CJK, EMOJI] {
        let mut cases = Vec::new();
        for id in [2, 4, 9] {
            for profile in PROFILES {
                cases.push((id, profile, DEFAULTS));
            }
        }
        pfx_cases(&cases, password);
    }
}

#[test]
#[cfg_attr(
    not(all(judge_bouncycastle, judge_java, judge_openssl, judge_cryptography)),
    ignore = "needs BouncyCastle (bcprov, bcpkix), Java 17, openssl and Python cryptography 48: scripts/test-all installs them"
)]
fn bc_reads_p7b() {
    let dir = tempdir();
    let mut files = Vec::new();
    for record in RECORDS {
        let fx = Fixture::get(record.id);
        for o in [
            DEFAULTS,
            NO_ROOT,
            Options {
                include_chain: false,
                ..DEFAULTS
            },
        ] {
            let (path, certs) = beyond::p7b(fx, dir.path(), o);
            files.push((record.id, o, path, certs));
        }
    }
    let paths: Vec<&Path> = files.iter().map(|(_, _, p, _)| p.as_path()).collect();
    for ((id, o, path, certs), result) in files.iter().zip(bc("p7b", &paths, ASCII)) {
        let what = format!("record {id} p7b {o:?} ({})", path.display());
        assert_eq!(
            result["ok"],
            Value::Bool(true),
            "{what}: BC: {}",
            result["error"]
        );
        assert_eq!(result["signers"], Value::from(0), "{what}: signers");
        assert_eq!(
            result["content_type"],
            Value::from("1.2.840.113549.1.7.1"),
            "{what}: content type"
        );
        assert_eq!(
            strings(&result["certs"]),
            hex_ders(certs),
            "{what}: BC's certificates"
        );
    }
}
