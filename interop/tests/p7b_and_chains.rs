//! The p7b format and chains without the root, opened by the consumers' own readers.
//!
//! - p7b: `openssl pkcs7 -inform DER -print_certs`, `keytool -printcert -file`, `certtool
//!   --p7-info --inder` and Python `cryptography`'s `pkcs7.load_der_pkcs7_certificates` with
//!   every warning an error (tests/interop/p7b.py), so that a file that is not DER fails
//!   instead of being read through `cryptography`'s BER fallback; a control proves that
//!   the same reader fails on the unsorted file `openssl crl2pkcs7` writes. Each must give
//!   the leaf and its issuers, byte for byte, in DER `SET OF` order. (BouncyCastle reads
//!   them in tests/bouncycastle.rs.)
//! - `include_root: false` in pem and pfx: the root is absent and the intermediates are
//!   there, in the order asked for, for openssl, Python, Java, GnuTLS and NSS; and the pem
//!   chain verifies with `openssl verify` when the root is given as the trust anchor
//!   (and does not without it).

#[allow(dead_code)]
#[path = "interop/mod.rs"]
mod interop;

use std::path::{Path, PathBuf};

use cert_download::PfxEncryption;
use serde_json::{Value, json};

use beyond::{DEFAULTS, NO_ROOT, Options, der_order, expected, json_lines, linked, write};
use checks::{check_pfx_cases, openssl_key, pem_certs};
use fixtures::{
    ASCII, Cert, EMOJI, Fixture, PyBatch, RECORDS, ROOT, download, fast_policy, fixtures_dir, hex,
    openssl_entries, pem_blocks, py_certs, tempdir,
};
use interop::{beyond, checks, fixtures, tools};
use tools::{CERTTOOL, KEYTOOL, OPENSSL, PYTHON};

/// The chain options a p7b is downloaded with (its order is always DER order).
const P7B_OPTIONS: [Options; 4] = [
    DEFAULTS,
    NO_ROOT,
    Options {
        include_chain: false,
        ..DEFAULTS
    },
    Options {
        include_chain: false,
        include_root: false,
        root_first: false,
    },
];

fn subjects(certs: &[Cert]) -> Vec<String> {
    certs.iter().map(|c| c.subject.clone()).collect()
}

fn rfc4514(certs: &[Cert]) -> Vec<String> {
    certs
        .iter()
        .map(|c| c.subject.replace(" = ", "="))
        .collect()
}

fn sha1_fingerprint(der: &[u8]) -> String {
    use sha1::{Digest, Sha1};
    hex(&Sha1::digest(der), ":")
}

/// Python `cryptography` over p7b files, warnings as errors: one result per file.
fn python_p7b(files: &[&Path]) -> Vec<Value> {
    let out = PYTHON
        .cmd()
        .arg("-c")
        .arg_shown_as(include_str!("interop/p7b.py"), "<tests/interop/p7b.py>")
        .args(files)
        .env("PYTHONUTF8", "1")
        .ok();
    json_lines(&out.text(), files.len(), "Python p7b")
}

/// The certificates of a Python p7b result, or its error.
fn python_certs(result: &Value) -> Result<Vec<Cert>, String> {
    if result["ok"] != Value::Bool(true) {
        return Err(result["error"].to_string());
    }
    Ok(py_certs(result))
}

/// `openssl pkcs7 -inform DER -print_certs`: the certificates in file order.
fn openssl_p7b(path: &Path) -> Vec<Cert> {
    let out = OPENSSL
        .cmd()
        .args(["pkcs7", "-inform", "DER", "-print_certs", "-in"])
        .arg(path)
        .ok();
    openssl_entries(&out.text())
        .iter()
        .map(fixtures::Entry::cert)
        .collect()
}

/// `certtool --p7-info --inder`: no signers, the number of certificates, and the
/// certificates it prints.
fn certtool_p7b(path: &Path, expected: &[Cert], what: &str) {
    let out = CERTTOOL
        .cmd()
        .args(["--p7-info", "--inder", "--infile"])
        .arg(path)
        .ok();
    let text = out.text();
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let count = format!("Number of certificates: {}", expected.len());
    assert!(lines.contains(&count.as_str()), "{what}: certtool:\n{text}");
    // "Signers:" is followed by the next heading at once: there are none.
    let signers = lines.iter().position(|l| *l == "Signers:");
    assert!(
        signers.is_some_and(|i| lines.get(i + 1) == Some(&count.as_str())),
        "{what}: certtool lists signers:\n{text}"
    );
    let certs: Vec<Vec<u8>> = pem_blocks(&text)
        .into_iter()
        .filter(|(label, _)| label == "CERTIFICATE")
        .map(|(_, der)| der)
        .collect();
    let want: Vec<Vec<u8>> = expected.iter().map(|c| c.der.clone()).collect();
    assert!(certs == want, "{what}: certtool's certificates differ");
}

/// `keytool -printcert -file`: the owners and SHA-1 fingerprints, in file order.
fn keytool_p7b(path: &Path, expected: &[Cert], what: &str) {
    let out = KEYTOOL
        .cmd()
        .args(["-J-XX:TieredStopAtLevel=1", "-J-XX:+UseSerialGC"])
        .args(["-printcert", "-file"])
        .arg(path)
        .env("LC_ALL", "C.UTF-8")
        .ok();
    let text = out.all_text();
    let owners: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("Owner: "))
        .map(str::to_owned)
        .collect();
    assert_eq!(owners, rfc4514(expected), "{what}: keytool's certificates");
    let fingerprints: Vec<String> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("SHA1: "))
        .map(str::to_owned)
        .collect();
    let want: Vec<String> = expected.iter().map(|c| sha1_fingerprint(&c.der)).collect();
    assert_eq!(fingerprints, want, "{what}: keytool's fingerprints");
}

#[test]
#[cfg_attr(
    not(all(judge_openssl, judge_cryptography, judge_java, judge_gnutls)),
    ignore = "needs openssl, Python cryptography 48, Java 17 and GnuTLS certtool: scripts/test-all installs them"
)]
fn p7b_opens_in_openssl_keytool_certtool_and_python() {
    let dir = tempdir();
    let mut files: Vec<(u64, PathBuf, Vec<Cert>, String)> = Vec::new();
    for record in RECORDS {
        let fx = Fixture::get(record.id);
        for o in P7B_OPTIONS {
            let (path, certs) = beyond::p7b(fx, dir.path(), o);
            let what = format!(
                "record {} p7b include_chain {} include_root {}",
                record.id, o.include_chain, o.include_root
            );
            assert_eq!(
                certs.iter().any(|c| c.subject == ROOT),
                o.include_chain && o.include_root && !record.issuers.is_empty(),
                "{what}: the root"
            );
            files.push((record.id, path, certs, what));
        }
    }
    let paths: Vec<&Path> = files.iter().map(|(_, p, _, _)| p.as_path()).collect();
    let python = python_p7b(&paths);
    // keytool starts a JVM per file: the records whose chains differ in shape.
    let keytool_records = [1, 4, 9, 15, 20, 21];
    for ((id, path, expected, what), py) in files.iter().zip(&python) {
        let got = openssl_p7b(path);
        assert_eq!(subjects(&got), subjects(expected), "{what}: openssl");
        assert!(got == *expected, "{what}: openssl's certificates differ");
        certtool_p7b(path, expected, what);
        let py = python_certs(py).unwrap_or_else(|e| panic!("{what}: Python: {e}"));
        assert_eq!(rfc4514(&py), rfc4514(expected), "{what}: Python");
        assert!(
            py.iter()
                .map(|c| &c.der)
                .eq(expected.iter().map(|c| &c.der)),
            "{what}: Python's certificates differ"
        );
        if keytool_records.contains(id) {
            keytool_p7b(path, expected, what);
        }
    }
}

/// The control: `openssl crl2pkcs7` writes the certificates in the order given, which is
/// not DER order here, and the Python reader of these tests refuses that file (the "not
/// DER" warning is an error), while it reads ours of the same certificates.
#[test]
#[cfg_attr(
    not(all(judge_openssl, judge_cryptography)),
    ignore = "needs openssl and Python cryptography 48: scripts/test-all installs them"
)]
fn p7b_python_refuses_the_unsorted_file_openssl_writes() {
    let dir = tempdir();
    let fx = Fixture::get(1);
    let (ours, certs) = beyond::p7b(fx, dir.path(), DEFAULTS);
    let link_order = expected(fx, DEFAULTS);
    assert!(
        certs != link_order,
        "record 1's chain is already in DER order: pick another"
    );
    let mut cmd = OPENSSL
        .cmd()
        .args(["crl2pkcs7", "-nocrl", "-outform", "DER"]);
    for (i, c) in link_order.iter().enumerate() {
        let pem = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            base64_lines(&c.der)
        );
        cmd = cmd
            .arg("-certfile")
            .arg(write(dir.path(), &format!("c{i}.pem"), pem.as_bytes()));
    }
    let theirs = write(dir.path(), "openssl.p7b", &cmd.ok().stdout);
    assert_eq!(
        openssl_p7b(&theirs),
        link_order,
        "openssl keeps the order given"
    );
    let results = python_p7b(&[&ours, &theirs]);
    assert!(
        python_certs(&results[0]).is_ok_and(|c| c.len() == 3),
        "ours"
    );
    let error = python_certs(&results[1]).expect_err("OpenSSL's unsorted file");
    assert!(
        error.contains("could not be parsed as DER"),
        "Python's complaint: {error}"
    );
    // The same certificates, sorted, make the same file as ours, byte for byte.
    let mut cmd = OPENSSL
        .cmd()
        .args(["crl2pkcs7", "-nocrl", "-outform", "DER"]);
    for (i, c) in der_order(link_order).iter().enumerate() {
        let pem = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            base64_lines(&c.der)
        );
        cmd = cmd
            .arg("-certfile")
            .arg(write(dir.path(), &format!("s{i}.pem"), pem.as_bytes()));
    }
    assert!(
        cmd.ok().stdout == std::fs::read(&ours).expect("our p7b"),
        "ours differs from openssl crl2pkcs7 of the sorted certificates"
    );
}

fn base64_lines(der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    b64.as_bytes()
        .chunks(64)
        .map(|l| std::str::from_utf8(l).expect("ASCII"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `openssl verify` of the stored leaf with the root as the only trust anchor and the file
/// as the untrusted certificates: `Ok` when it verifies, else the error line it prints
/// (`error 20 at 0 depth lookup: ...`). Anything but a verification failure (exit status
/// 2 with such a line), a usage error for one, fails the test.
fn openssl_verify(id: u64, pem: &Path, root: Option<&Path>) -> Result<(), String> {
    let leaf = fixtures_dir().join(format!("store/{id}/cert.pem"));
    let mut cmd = OPENSSL.cmd().arg("verify");
    if let Some(root) = root {
        cmd = cmd.arg("-CAfile").arg(root);
    } else {
        // No trust anchor but an empty file: the system's store must not decide.
        cmd = cmd.arg("-no-CAfile").arg("-no-CApath").arg("-no-CAstore");
    }
    let out = cmd.arg("-untrusted").arg(pem).arg(leaf).run();
    if out.status.success() {
        return Ok(());
    }
    let text = out.all_text();
    let error = text
        .lines()
        .find(|l| l.starts_with("error ") && l.contains(" depth lookup: "));
    match (out.status.code(), error) {
        (Some(2), Some(line)) => Err(line.trim().to_owned()),
        _ => panic!(
            "`{}` did not verify nor fail verification ({}):\n{text}",
            out.shown, out.status
        ),
    }
}

#[test]
#[cfg_attr(
    not(all(judge_openssl, judge_cryptography)),
    ignore = "needs openssl and Python cryptography 48: scripts/test-all installs them"
)]
fn pem_without_the_root() {
    let dir = tempdir();
    let root = fixtures_dir().join("ca/root.pem");
    let policy = fast_policy();
    let mut py = PyBatch::default();
    for id in [1, 5, 9, 15, 20, 21] {
        let fx = Fixture::get(id);
        for (key, root_first) in [(false, false), (false, true), (true, false), (true, true)] {
            let o = Options {
                root_first,
                ..NO_ROOT
            };
            let what =
                format!("record {id} pem without the root, key {key}, root_first {root_first}");
            let mut body = json!({"id": id, "format": "pem", "include_root": false,
                                  "chain_order": if root_first { "root_first" } else { "leaf_first" }});
            if key {
                body["download_key"] = Value::from(true);
                body["password"] = Value::from(EMOJI);
            }
            let response = download(&body, &policy);
            let pem = write(
                dir.path(),
                &format!("{id}-{key}-{root_first}.pem"),
                response.certificate(),
            );
            let want = expected(fx, o);
            assert!(want.iter().all(|c| c.subject != ROOT), "{what}");
            pem_certs(
                &pem,
                &want,
                linked(fx, o).len(),
                root_first,
                key,
                &what,
                &mut py,
            );
            if key {
                openssl_key(&pem, false, EMOJI, fx, &what);
            }
            // Without the intermediate the leaf's issuer is missing (depth 0); without a
            // trust anchor, the intermediate's (depth 1).
            let has_intermediate = want.len() > 1;
            let missing = |depth: u8| {
                Err(format!(
                    "error 20 at {depth} depth lookup: unable to get local issuer certificate"
                ))
            };
            assert_eq!(
                openssl_verify(id, &pem, Some(&root)),
                if has_intermediate { Ok(()) } else { missing(0) },
                "{what}: openssl verify with the root as trust anchor"
            );
            assert_eq!(
                openssl_verify(id, &pem, None),
                missing(u8::from(has_intermediate)),
                "{what}: openssl verify without a trust anchor"
            );
        }
    }
    py.run();
}

#[test]
#[cfg_attr(
    not(all(judge_openssl, judge_cryptography, judge_java, judge_gnutls, judge_nss)),
    ignore = "needs openssl, Python cryptography 48, Java 17, GnuTLS and NSS tools: scripts/test-all installs them"
)]
fn pfx_without_the_root() {
    let dir = tempdir();
    let policy = fast_policy();
    let mut cases = Vec::new();
    for (id, profile, root_first) in [
        (1, PfxEncryption::Aes256Sha256, false),
        (1, PfxEncryption::TripleDesSha1, true),
        (4, PfxEncryption::TripleDesSha1, false),
        (9, PfxEncryption::Aes256Sha256, true),
        (20, PfxEncryption::Aes256Sha256, false),
        (20, PfxEncryption::TripleDesSha1, true),
        (21, PfxEncryption::Aes256Sha256, false),
    ] {
        let fx = Fixture::get(id);
        let o = Options {
            root_first,
            ..NO_ROOT
        };
        for password in [ASCII, EMOJI] {
            let case = beyond::pfx(fx, dir.path(), profile, password, &policy, o);
            assert!(
                case.certs.iter().all(|c| c.subject != ROOT) && case.certs.len() >= 2,
                "record {id}: the root is out, an intermediate in"
            );
            cases.push(case);
        }
    }
    check_pfx_cases(&cases, dir.path());
}
