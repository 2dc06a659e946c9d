//! Known-answer tests: with pinned salts and IVs, the crate's files are byte for byte the
//! ones in `tests/fixtures/kat/`, those files open in OpenSSL, and their content is checked
//! by a reader that shares no code with the encoder (`common::read_pfx`).
//!
//! Set `KAT_WRITE=1` to rewrite the golden files after a deliberate change of encoding (that
//! run writes them and fails; run again without `KAT_WRITE` to compare).

mod common;

use std::path::PathBuf;
use std::process::Command;

use cert_download::{
    CertificateId, DownloadRequest, ExportPolicy, Password, PasswordPolicy, PfxEncryption,
    download_with,
};
use common::{Counter, expected_attributes, fixture_store, fixtures, read_pfx};
use der::Encode;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

const PASSWORD: &str = "kat-password-ü-😀";

fn id(n: u64) -> CertificateId {
    CertificateId::new(n).unwrap()
}

fn password() -> Password {
    Password::new(PASSWORD, &PasswordPolicy::default()).unwrap()
}

fn policy(iterations: u32) -> ExportPolicy {
    ExportPolicy::with_iterations(iterations).unwrap()
}

fn golden(name: &str, actual: &[u8]) {
    let path: PathBuf = fixtures().join("kat").join(name);
    // Write mode writes and fails: a run never passes on a file it has just written.
    if std::env::var_os("KAT_WRITE").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        panic!(
            "KAT_WRITE: wrote {}; run again without KAT_WRITE to compare",
            path.display()
        );
    }
    let expected = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run with KAT_WRITE=1 to create it", path.display()));
    assert!(
        expected == actual,
        "{name} differs from the golden file; if the change is deliberate, rerun with KAT_WRITE=1"
    );
}

fn stored_key(record: u64) -> Vec<u8> {
    let path = fixtures().join(format!("store/{record}/key.pem"));
    match PrivateKeyDer::from_pem_file(path).unwrap() {
        PrivateKeyDer::Pkcs8(k) => k.secret_pkcs8_der().to_vec(),
        _ => panic!("record {record} must hold a PKCS#8 key for this test"),
    }
}

fn pem_certs(path: &str) -> Vec<Vec<u8>> {
    CertificateDer::pem_file_iter(fixtures().join(path))
        .unwrap()
        .map(|c| c.unwrap().to_vec())
        .collect()
}

fn openssl(args: &[&str]) -> std::process::Output {
    Command::new("openssl")
        .args(args)
        .env("KAT_PASS", PASSWORD)
        .output()
        .unwrap_or_else(|e| panic!("the openssl CLI is needed (apt-get install openssl): {e}"))
}

#[test]
fn encrypted_key_matches_the_pkcs8_crate_with_the_same_salt_and_iv() {
    let request = DownloadRequest::crt(id(1)).with_key(password());
    let response =
        download_with(request, &fixture_store(), &policy(1000), &mut Counter(0)).unwrap();
    let epki = response.key().unwrap();

    // The pkcs8/pkcs5 crates' own encryption with the salt and IV the counter gave.
    let salt: Vec<u8> = (0u8..16).collect();
    let iv: [u8; 16] = core::array::from_fn(|i| 16 + i as u8);
    let params =
        pkcs5::pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(1000, &salt, iv).unwrap();
    let stored = stored_key(1);
    let expected = pkcs8::PrivateKeyInfoRef::from_der(&stored)
        .unwrap()
        .encrypt_with_params(params, PASSWORD.as_bytes())
        .unwrap();
    assert_eq!(epki, expected.as_bytes());
    golden("crt-key-1.der", epki);

    // The parameters are written out in full: PBES2, PBKDF2 with hmacWithSHA256, AES-256-CBC.
    let hex: String = epki.iter().map(|b| format!("{b:02x}")).collect();
    assert!(hex.contains("06092a864886f70d01050d"), "PBES2");
    assert!(hex.contains("06092a864886f70d01050c"), "PBKDF2");
    assert!(
        hex.contains("06082a864886f70d02090500"),
        "hmacWithSHA256 with NULL"
    );
    assert!(hex.contains("060960864801650304012a"), "aes256-CBC");
    assert!(!hex.contains("06092b06010401da470402"), "not scrypt");
}

#[test]
fn golden_encrypted_key_opens_in_openssl() {
    let path = fixtures().join("kat/crt-key-1.der");
    let path = path.to_str().unwrap();
    let out = openssl(&[
        "pkcs8",
        "-inform",
        "DER",
        "-in",
        path,
        "-passin",
        "env:KAT_PASS",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pem = String::from_utf8(out.stdout).unwrap();
    let key = PrivateKeyDer::from_pem_slice(pem.as_bytes()).unwrap();
    assert_eq!(key.secret_der(), stored_key(1));
}

fn pfx_known_answer(record: u64, profile: PfxEncryption, iterations: u32, name: &str) {
    let request = DownloadRequest::pfx(id(record), password()).with_pfx_encryption(profile);
    let response = download_with(
        request,
        &fixture_store(),
        &policy(iterations),
        &mut Counter(0),
    )
    .unwrap();
    let der = response.certificate();
    golden(name, der);

    let pfx = read_pfx(der, PASSWORD);
    assert!(pfx.mac_ok, "the MAC recomputed independently must match");
    assert_eq!(pfx.mac_iterations, iterations as i32);
    assert_eq!(pfx.mac_salt_len, 8);
    assert_eq!(pfx.key_pkcs8, stored_key(record));

    let leaf = pem_certs(&format!("store/{record}/cert.pem")).remove(0);
    let chain = pem_certs(&format!("store/{record}/chain.pem"));
    let certs: Vec<&[u8]> = pfx.certs.iter().map(|(c, _)| c.as_slice()).collect();
    assert_eq!(certs.len(), 1 + chain.len());
    assert_eq!(certs[0], leaf.as_slice());
    let attrs = expected_attributes(&format!("leaf{record}.test"), &leaf);
    assert_eq!(pfx.key_attributes.as_deref(), Some(attrs.as_slice()));
    assert_eq!(pfx.certs[0].1.as_deref(), Some(attrs.as_slice()));
    assert!(
        pfx.certs[1..].iter().all(|(_, a)| a.is_none()),
        "issuers carry no attributes"
    );

    match profile {
        PfxEncryption::Aes256Sha256 => {
            assert_eq!(pfx.mac_algorithm, "2.16.840.1.101.3.4.2.1");
            assert_eq!(pfx.key_algorithm, "1.2.840.113549.1.5.13");
            assert_eq!(pfx.certs_algorithm, "1.2.840.113549.1.5.13");
            // Salts and IVs in draw order: key salt 0..16, key IV 16..32, certificates' salt
            // 32..48 and IV 48..64, MAC salt 64..72.
            let contains =
                |hay: &[u8], needle: Vec<u8>| hay.windows(needle.len()).any(|w| w == needle);
            assert!(contains(&pfx.key_algorithm_der, (0u8..16).collect()));
            assert!(contains(&pfx.key_algorithm_der, (16u8..32).collect()));
            assert!(contains(&pfx.certs_algorithm_der, (32u8..48).collect()));
            assert!(contains(&pfx.certs_algorithm_der, (48u8..64).collect()));
        }
        _ => {
            assert_eq!(pfx.mac_algorithm, "1.3.14.3.2.26");
            assert_eq!(pfx.key_algorithm, "1.2.840.113549.1.12.1.3");
            assert_eq!(pfx.certs_algorithm, "1.2.840.113549.1.12.1.3");
        }
    }

    // The golden file opens in OpenSSL 3 without -legacy.
    let path = fixtures().join("kat").join(name);
    let out = openssl(&[
        "pkcs12",
        "-in",
        path.to_str().unwrap(),
        "-passin",
        "env:KAT_PASS",
        "-nodes",
        "-info",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn pfx_aes256_sha256_known_answer() {
    pfx_known_answer(
        4,
        PfxEncryption::Aes256Sha256,
        2048,
        "pfx-aes256-sha256-4.der",
    );
}

#[test]
fn pfx_tripledes_sha1_known_answer() {
    pfx_known_answer(
        1,
        PfxEncryption::TripleDesSha1,
        2048,
        "pfx-tripledes-sha1-1.der",
    );
}

#[test]
fn mac_iterations_of_one_are_not_encoded() {
    for profile in [PfxEncryption::Aes256Sha256, PfxEncryption::TripleDesSha1] {
        let request = DownloadRequest::pfx(id(4), password()).with_pfx_encryption(profile);
        let response =
            download_with(request, &fixture_store(), &policy(1), &mut Counter(0)).unwrap();
        let der = response.certificate();
        let pfx = pkcs12::pfx::Pfx::from_der(der).unwrap();
        let mac = pfx.mac_data.unwrap();
        assert_eq!(mac.iterations, 1);
        // MacData ends with the salt: no INTEGER 1 follows it, and the file ends there too.
        let salt = mac.mac_salt.to_der().unwrap();
        assert!(
            der.ends_with(&salt),
            "{profile:?}: MacData.iterations must be omitted"
        );
        assert!(read_pfx(der, PASSWORD).mac_ok);
    }
}

#[test]
fn mac_iterations_above_one_are_encoded() {
    let request = DownloadRequest::pfx(id(4), password());
    let response = download_with(request, &fixture_store(), &policy(2), &mut Counter(0)).unwrap();
    assert!(response.certificate().ends_with(&[0x02, 0x01, 0x02]));
}

use der::Decode;
