//! Interoperability: files made through the library API, opened by the tools people use.
//!
//! Every good key-bearing fixture record is downloaded as crt and pem with its encrypted key
//! and as pfx in both profiles, written to a temporary directory and opened by:
//!
//! - the `openssl` 3 CLI (`pkcs12 -info` without `-legacy`, `pkey`, `asn1parse`, `pkcs7`),
//! - Python `cryptography` (tests/interop/inspect.py),
//! - Java 17 (`keytool -list -v`, and tests/interop/DecryptKey.java for PKCS#8 keys),
//! - GnuTLS `certtool` (`--p12-info`, `--pubkey-info --load-privkey`),
//! - NSS `pk12util` (`-l`, and `-i` into a fresh database checked with `certutil`).
//!
//! Each must give back the stored key and certificates, in the order the contract says, with
//! the algorithms and attributes it says, and must refuse a wrong password. A test whose
//! tools are missing is ignored with the reason and one build warning per tool
//! (test-support's `judges`); `scripts/test-all` installs them and lets nothing be ignored.
//!
//! Tool behaviour worth knowing (each pinned by comparing with the file OpenSSL writes):
//! - Java 17 refuses every non-ASCII password, in both PFX profiles, also on files written
//!   by OpenSSL itself (the JDK's `PBEKey` takes ASCII only); Java's full checks run with
//!   ASCII passwords, and once per profile keytool must fail on our non-ASCII file exactly
//!   when it fails on OpenSSL's.
//! - NSS 3.87 (Debian 12) lists an Ed25519 certificate ("Unsupported or unknown key
//!   algorithm") but cannot import any Ed25519 PKCS#12 key, OpenSSL's own included
//!   (`SEC_ERROR_PKCS12_UNABLE_TO_IMPORT_KEY`); for record 9 the import is checked to fail
//!   exactly as it does for a file from `openssl pkcs12 -export`.
//! - keytool lowercases aliases and builds the chain from the leaf by issuer links, so an
//!   unrelated CA in the file is not part of its chain.
//! - GnuTLS 3.7 cannot load an EC private key without the optional public key (record 14),
//!   nor a 3DES-profile key bag under some long non-ASCII passwords (e.g. 64 emoji), whoever
//!   wrote the file; such a failure is accepted only when GnuTLS fails the same way on the
//!   file OpenSSL writes from the same fixture (`checks::Reference`).
//! - `openssl pkcs12 -info` of OpenSSL 3.0 prints a non-ASCII friendlyName as the low byte
//!   of each UTF-16 unit; that rendering is accepted besides the name itself.

#[path = "interop/checks.rs"]
mod checks;
#[path = "interop/fixtures.rs"]
mod fixtures;
#[path = "interop/pbmac1.rs"]
mod pbmac1;
#[path = "interop/tools.rs"]
mod tools;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use cert_download::{DownloadRequest, ExportPolicy, PfxEncryption};
use serde_json::{Value, json};

use checks::{
    PfxCase, Reference, certtool_key, check_pfx_cases, java_keys, openssl_key,
    openssl_key_algorithm, pem_certs, wrong,
};
use fixtures::{
    ASCII, CJK, EMOJI, Fixture, LATIN1, PyBatch, download, fast_policy, pem_blocks, py_job, py_ok,
    tempdir,
};
use tools::OPENSSL;

const MODERN: PfxEncryption = PfxEncryption::Aes256Sha256;
const LEGACY: PfxEncryption = PfxEncryption::TripleDesSha1;

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write a downloaded file");
    path
}

// ---------------------------------------------------------------------------------------
// crt and pem with the encrypted key
// ---------------------------------------------------------------------------------------

/// Downloads record `id` as crt and as pem with its key under every password, and checks
/// the leaf, the chain and the key with openssl, Python, GnuTLS and (ASCII) Java.
fn key_downloads(id: u64, policy: &ExportPolicy, passwords: &[&str]) {
    let fx = Fixture::get(id);
    let dir = tempdir();
    let scratch = dir.path();
    let mut py = PyBatch::default();
    let mut java_files: Vec<(&str, Vec<PathBuf>)> = Vec::new();
    let expected = fx.expected(true, false);
    let linked = fx.linked_chain(true).len();

    for (n, &password) in passwords.iter().enumerate() {
        for format in ["crt", "pem"] {
            let what = format!("record {id} {format} with key, password #{n}");
            let body =
                json!({"id": id, "format": format, "download_key": true, "password": password});
            let response = download(&body, policy);
            assert!(response.includes_key(), "{what}: no key");
            let key_der = if format == "crt" {
                assert!(response.certificate() == fx.leaf().der, "{what}: leaf");
                let crt = write(scratch, &format!("{id}-{n}.crt"), response.certificate());
                let subject = OPENSSL
                    .cmd()
                    .args(["x509", "-inform", "DER", "-noout", "-subject", "-in"])
                    .arg(&crt)
                    .ok()
                    .text();
                assert_eq!(
                    subject.trim(),
                    format!("subject={}", fx.record.leaf),
                    "{what}"
                );
                response.key().expect("crt key").to_vec()
            } else {
                assert!(
                    response.key().is_none(),
                    "{what}: a pem has no separate key"
                );
                let pem = write(scratch, &format!("{id}-{n}.pem"), response.certificate());
                pem_certs(&pem, &expected, linked, false, true, &what, &mut py);
                let whole = format!("{what} (whole pem)");
                openssl_key(&pem, false, password, fx, &whole);
                py.add(py_job("pem_key", &pem, Some(password)), move |r| {
                    check_py_key(r, fx, &whole)
                });
                let text = String::from_utf8(response.certificate().to_vec()).expect("pem text");
                pem_blocks(&text).pop().expect("a key block").1
            };
            let key_file = write(scratch, &format!("{id}-{n}-{format}.key.der"), &key_der);
            openssl_key_algorithm(&key_file, policy.pbkdf2_iterations(), &what);
            openssl_key(&key_file, true, password, fx, &what);
            certtool_key(&key_file, password, fx, Reference::Pkcs8, scratch, &what);
            let wrong_what = format!("{what}, wrong password");
            py.add(py_job("der_key", &key_file, Some(password)), {
                let what = what.clone();
                move |r| check_py_key(r, fx, &what)
            });
            py.add(
                py_job("der_key", &key_file, Some(&wrong(password))),
                move |r| {
                    assert_eq!(
                        r["ok"],
                        Value::Bool(false),
                        "{wrong_what}: Python decrypted it"
                    );
                    // A wrong key that happens to leave a valid padding (about 1 in 300)
                    // gives plaintext that does not parse: "Could not deserialize".
                    let error = r["error"].as_str().unwrap_or_default();
                    assert!(
                        error.contains("Incorrect password, could not decrypt key")
                            || error.contains("Could not deserialize key data"),
                        "{wrong_what}: Python refused it for another reason: {error}"
                    );
                },
            );
            if password.is_ascii() {
                match java_files.iter_mut().find(|(p, _)| *p == password) {
                    Some((_, files)) => files.push(key_file),
                    None => java_files.push((password, vec![key_file])),
                }
            }
        }
    }
    py.run();
    for (password, files) in &java_files {
        java_keys(files, password, fx, &format!("record {id} keys"));
    }
}

/// A key Python decrypted is the stored key.
fn check_py_key(result: &Value, fx: &Fixture, what: &str) {
    let key = &py_ok(result, what)["key"];
    assert_eq!(key["type"], fx.py_key["type"], "{what}: key type (Python)");
    assert_eq!(
        key["secret"], fx.py_key["secret"],
        "{what}: key numbers (Python)"
    );
    assert_eq!(
        key["spki"], fx.py_key["spki"],
        "{what}: public key (Python)"
    );
}

macro_rules! key_tests {
    ($($name:ident: $id:expr;)*) => {$(
        #[test]
        #[cfg_attr(
            not(all(judge_openssl, judge_cryptography, judge_java, judge_gnutls, judge_nss)),
            ignore = "needs openssl, Python cryptography 48, Java 17, GnuTLS and NSS tools: scripts/test-all installs them"
        )]
        fn $name() {
            key_downloads($id, &fast_policy(), &[ASCII, LATIN1, CJK, EMOJI]);
        }
    )*};
}

key_tests! {
    key_rsa2048_pkcs8_root_first_chain: 1;
    key_rsa2048_pkcs1: 2;
    key_rsa4096: 3;
    key_p256_pkcs8: 4;
    key_p256_sec1: 5;
    key_p384_pkcs8: 6;
    key_p384_sec1: 7;
    key_p521_pkcs8: 8;
    key_ed25519: 9;
    key_p256_pkcs8_without_public_key: 14;
    key_rsa2048_no_cn_no_chain: 15;
    key_p521_sec1: 19;
    key_unrelated_extra_ca: 20;
    key_duplicate_intermediate: 21;
}

#[test]
#[cfg_attr(
    not(all(judge_openssl, judge_cryptography, judge_java, judge_gnutls, judge_nss)),
    ignore = "needs openssl, Python cryptography 48, Java 17, GnuTLS and NSS tools: scripts/test-all installs them"
)]
fn key_with_the_default_policy() {
    key_downloads(1, &ExportPolicy::default(), &[ASCII, EMOJI]);
    key_downloads(4, &ExportPolicy::default(), &[ASCII]);
}

/// pem and crt options: without the key, root first, without the chain.
#[test]
#[cfg_attr(
    not(all(judge_openssl, judge_cryptography, judge_java, judge_gnutls, judge_nss)),
    ignore = "needs openssl, Python cryptography 48, Java 17, GnuTLS and NSS tools: scripts/test-all installs them"
)]
fn pem_and_crt_chain_options() {
    let dir = tempdir();
    let policy = fast_policy();
    let fixtures = [1, 5, 9, 15, 20, 21].map(Fixture::get);
    let mut py = PyBatch::default();
    for fx in fixtures {
        let id = fx.record.id;
        let cases = [
            // (download_key, include_chain, chain_order)
            (false, true, "leaf_first"),
            (false, true, "root_first"),
            (true, true, "root_first"),
            (false, false, "leaf_first"),
            (true, false, "root_first"),
        ];
        for (n, (key, chain, order)) in cases.into_iter().enumerate() {
            let what = format!("record {id} pem key={key} include_chain={chain} {order}");
            let mut body = json!({"id": id, "format": "pem", "download_key": key,
                                  "include_chain": chain, "chain_order": order});
            if key {
                body["password"] = Value::from(EMOJI);
            }
            let response = download(&body, &policy);
            assert_eq!(response.includes_key(), key, "{what}");
            let pem = write(dir.path(), &format!("{id}-{n}.pem"), response.certificate());
            let root_first = order == "root_first";
            let expected = fx.expected(chain, root_first);
            let linked = fx.linked_chain(chain).len();
            pem_certs(&pem, &expected, linked, root_first, key, &what, &mut py);
            if key {
                openssl_key(&pem, false, EMOJI, fx, &what);
            }
        }
        // crt: always the single leaf, whatever the chain options say.
        for body in [
            json!({"id": id, "format": "crt"}),
            json!({"id": id, "format": "crt", "include_chain": true, "chain_order": "root_first"}),
        ] {
            let response = download(&body, &policy);
            assert!(response.certificate() == fx.leaf().der, "record {id} crt");
            assert!(
                response.key().is_none() && !response.includes_key(),
                "record {id} crt"
            );
        }
    }
    py.run();
}

// ---------------------------------------------------------------------------------------
// pfx
// ---------------------------------------------------------------------------------------

/// What a pfx download asks for besides the record, profile and password.
#[derive(Clone, Copy)]
struct PfxOptions {
    include_chain: bool,
    root_first: bool,
    friendly_name: Option<&'static str>,
}

const DEFAULTS: PfxOptions = PfxOptions {
    include_chain: true,
    root_first: false,
    friendly_name: None,
};

/// Downloads a pfx and describes what it must hold.
fn pfx<'a>(
    fx: &'a Fixture,
    dir: &Path,
    profile: PfxEncryption,
    password: &str,
    policy: &ExportPolicy,
    options: PfxOptions,
) -> PfxCase<'a> {
    let id = fx.record.id;
    let mut body = json!({
        "id": id,
        "format": "pfx",
        "password": password,
        "pfx_encryption": profile.as_str(),
        "include_chain": options.include_chain,
        "chain_order": if options.root_first { "root_first" } else { "leaf_first" },
    });
    if let Some(name) = options.friendly_name {
        body["friendly_name"] = Value::from(name);
    }
    let response = download(&body, policy);
    assert!(response.includes_key(), "record {id} pfx: includes_key");
    static FILES: AtomicUsize = AtomicUsize::new(0);
    let n = FILES.fetch_add(1, Ordering::Relaxed);
    let name = format!("{id}-{}-{n}.p12", profile.as_str());
    let friendly_name = match options.friendly_name {
        Some(name) => name.to_owned(),
        None => match fx.record.leaf.strip_prefix("CN = ") {
            Some(cn) => cn.to_owned(),
            None => format!("certificate-{id}"),
        },
    };
    PfxCase {
        fixture: fx,
        path: write(dir, &name, response.certificate()),
        password: password.to_owned(),
        profile,
        policy: policy.clone(),
        certs: fx.expected(options.include_chain, options.root_first),
        linked: fx.linked_chain(options.include_chain),
        friendly_name,
    }
}

/// Record `id` as a pfx in `profile` with an ASCII and an emoji password, through every tool.
fn pfx_all_tools(id: u64, profile: PfxEncryption, policy: &ExportPolicy, options: PfxOptions) {
    let fx = Fixture::get(id);
    let dir = tempdir();
    let cases: Vec<PfxCase<'_>> = [ASCII, EMOJI]
        .into_iter()
        .map(|password| pfx(fx, dir.path(), profile, password, policy, options))
        .collect();
    check_pfx_cases(&cases, dir.path());
}

macro_rules! pfx_tests {
    ($($name:ident: $id:expr, $profile:expr;)*) => {$(
        #[test]
        #[cfg_attr(
            not(all(judge_openssl, judge_cryptography, judge_java, judge_gnutls, judge_nss)),
            ignore = "needs openssl, Python cryptography 48, Java 17, GnuTLS and NSS tools: scripts/test-all installs them"
        )]
        fn $name() {
            pfx_all_tools($id, $profile, &fast_policy(), DEFAULTS);
        }
    )*};
}

pfx_tests! {
    pfx_aes_rsa2048_root_first_chain: 1, MODERN;
    pfx_3des_rsa2048_root_first_chain: 1, LEGACY;
    pfx_aes_rsa2048_pkcs1: 2, MODERN;
    pfx_3des_rsa2048_pkcs1: 2, LEGACY;
    pfx_aes_rsa4096: 3, MODERN;
    pfx_3des_rsa4096: 3, LEGACY;
    pfx_aes_p256: 4, MODERN;
    pfx_3des_p256: 4, LEGACY;
    pfx_aes_p256_sec1: 5, MODERN;
    pfx_3des_p256_sec1: 5, LEGACY;
    pfx_aes_p384: 6, MODERN;
    pfx_3des_p384: 6, LEGACY;
    pfx_aes_p384_sec1: 7, MODERN;
    pfx_3des_p384_sec1: 7, LEGACY;
    pfx_aes_p521: 8, MODERN;
    pfx_3des_p521: 8, LEGACY;
    pfx_aes_ed25519: 9, MODERN;
    pfx_3des_ed25519: 9, LEGACY;
    pfx_aes_p256_without_public_key: 14, MODERN;
    pfx_3des_p256_without_public_key: 14, LEGACY;
    pfx_aes_p521_sec1: 19, MODERN;
    pfx_3des_p521_sec1: 19, LEGACY;
    pfx_aes_unrelated_extra_ca: 20, MODERN;
    pfx_3des_unrelated_extra_ca: 20, LEGACY;
    pfx_aes_duplicate_intermediate: 21, MODERN;
    pfx_3des_duplicate_intermediate: 21, LEGACY;
}

#[test]
#[cfg_attr(
    not(all(judge_openssl, judge_cryptography, judge_java, judge_gnutls, judge_nss)),
    ignore = "needs openssl, Python cryptography 48, Java 17, GnuTLS and NSS tools: scripts/test-all installs them"
)]
fn pfx_aes_with_the_default_policy() {
    pfx_all_tools(4, MODERN, &ExportPolicy::default(), DEFAULTS);
    pfx_all_tools(1, MODERN, &ExportPolicy::default(), DEFAULTS);
}

#[test]
#[cfg_attr(
    not(all(judge_openssl, judge_cryptography, judge_java, judge_gnutls, judge_nss)),
    ignore = "needs openssl, Python cryptography 48, Java 17, GnuTLS and NSS tools: scripts/test-all installs them"
)]
fn pfx_3des_with_the_default_policy() {
    pfx_all_tools(4, LEGACY, &ExportPolicy::default(), DEFAULTS);
}

#[test]
#[cfg_attr(
    not(all(judge_openssl, judge_cryptography, judge_java, judge_gnutls, judge_nss)),
    ignore = "needs openssl, Python cryptography 48, Java 17, GnuTLS and NSS tools: scripts/test-all installs them"
)]
fn pfx_friendly_name_without_cn_is_certificate_id() {
    for profile in [MODERN, LEGACY] {
        pfx_all_tools(15, profile, &fast_policy(), DEFAULTS);
    }
}

#[test]
#[cfg_attr(
    not(all(judge_openssl, judge_cryptography, judge_java, judge_gnutls, judge_nss)),
    ignore = "needs openssl, Python cryptography 48, Java 17, GnuTLS and NSS tools: scripts/test-all installs them"
)]
fn pfx_friendly_name_from_the_request() {
    for name in ["My Server Cert (2025)", "Zertifikat für Müller – 中文"] {
        let options = PfxOptions {
            friendly_name: Some(name),
            ..DEFAULTS
        };
        for profile in [MODERN, LEGACY] {
            pfx_all_tools(4, profile, &fast_policy(), options);
        }
    }
}

#[test]
#[cfg_attr(
    not(all(judge_openssl, judge_cryptography, judge_java, judge_gnutls, judge_nss)),
    ignore = "needs openssl, Python cryptography 48, Java 17, GnuTLS and NSS tools: scripts/test-all installs them"
)]
fn pfx_without_the_chain() {
    let options = PfxOptions {
        include_chain: false,
        ..DEFAULTS
    };
    for (id, profile) in [(1, MODERN), (4, LEGACY), (9, MODERN), (20, LEGACY)] {
        pfx_all_tools(id, profile, &fast_policy(), options);
    }
}

#[test]
#[cfg_attr(
    not(all(judge_openssl, judge_cryptography, judge_java, judge_gnutls, judge_nss)),
    ignore = "needs openssl, Python cryptography 48, Java 17, GnuTLS and NSS tools: scripts/test-all installs them"
)]
fn pfx_root_first() {
    let options = PfxOptions {
        root_first: true,
        ..DEFAULTS
    };
    for (id, profile) in [(1, MODERN), (5, LEGACY), (20, MODERN), (21, LEGACY)] {
        pfx_all_tools(id, profile, &fast_policy(), options);
    }
}

/// The policy's shortest passwords (8 characters: ASCII, and mostly beyond ASCII and the
/// BMP), a long ASCII one and the longest (1024 bytes, all beyond U+FFFF).
fn edge_passwords() -> [String; 4] {
    let passwords = [
        "Ab3$efgh".to_owned(),
        "ü😀中文äöß!".to_owned(),
        "Long-Pass".chars().cycle().take(1000).collect(),
        "😀".repeat(256),
    ];
    let policy = fast_policy();
    let policy = policy.password_policy();
    assert_eq!(passwords[0].chars().count(), policy.min_chars());
    assert_eq!(passwords[1].chars().count(), policy.min_chars());
    assert_eq!(passwords[3].len(), policy.max_bytes());
    // They are the edges: one character less, or one byte more, is refused.
    for (password, code) in [
        ("Ab3$efg".to_owned(), "password_too_short"),
        (format!("{}x", passwords[3]), "password_too_long"),
    ] {
        let body = json!({"id": 4, "format": "pfx", "password": password});
        let refused = DownloadRequest::from_json(body.to_string().as_bytes());
        assert_eq!(refused.err().map(|e| e.code()), Some(code));
    }
    passwords
}

#[test]
#[cfg_attr(
    not(all(judge_openssl, judge_cryptography, judge_java, judge_gnutls, judge_nss)),
    ignore = "needs openssl, Python cryptography 48, Java 17, GnuTLS and NSS tools: scripts/test-all installs them"
)]
fn pfx_passwords_at_the_policy_edges() {
    let passwords = edge_passwords();
    let fx = Fixture::get(4);
    let dir = tempdir();
    let mut cases = Vec::new();
    for profile in [MODERN, LEGACY] {
        for password in &passwords {
            let policy = fast_policy();
            cases.push(pfx(fx, dir.path(), profile, password, &policy, DEFAULTS));
        }
    }
    check_pfx_cases(&cases, dir.path());
}

#[test]
#[cfg_attr(
    not(all(judge_openssl, judge_cryptography, judge_java, judge_gnutls, judge_nss)),
    ignore = "needs openssl, Python cryptography 48, Java 17, GnuTLS and NSS tools: scripts/test-all installs them"
)]
fn key_passwords_at_the_policy_edges() {
    let passwords = edge_passwords();
    let passwords: Vec<&str> = passwords.iter().map(String::as_str).collect();
    key_downloads(6, &fast_policy(), &passwords);
}

/// The control of the Python judge's strictness: our PFX re-wrapped in BER (its outer
/// SEQUENCE with an indefinite length, the content unchanged) is refused, because
/// `cryptography` reads it only through its "could not be parsed as DER" fallback and
/// tests/interop/inspect.py turns that warning into an error; the DER file itself opens.
#[test]
#[cfg_attr(
    not(judge_cryptography),
    ignore = "needs Python cryptography 48: scripts/test-all installs it"
)]
fn python_judge_refuses_a_pfx_that_is_only_ber() {
    let dir = tempdir();
    let body = json!({"id": 4, "format": "pfx", "password": ASCII});
    let der = download(&body, &fast_policy()).certificate().to_vec();
    // 30 82 LL LL: a two-byte length; the BER form is 30 80 <content> 00 00.
    assert_eq!(&der[..2], [0x30, 0x82], "a PFX longer than 255 bytes");
    let mut ber = vec![0x30, 0x80];
    ber.extend_from_slice(&der[4..]);
    ber.extend_from_slice(&[0, 0]);
    let der_path = write(dir.path(), "der.pfx", &der);
    let ber_path = write(dir.path(), "ber.pfx", &ber);
    let results = fixtures::python(&[
        py_job("pfx", &der_path, Some(ASCII)),
        py_job("pfx", &ber_path, Some(ASCII)),
    ]);
    py_ok(&results[0], "the DER PFX");
    assert_eq!(results[1]["ok"], Value::Bool(false), "the BER PFX opened");
    let error = results[1]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("could not be parsed as DER"),
        "the BER PFX was refused for another reason: {error}"
    );
}
