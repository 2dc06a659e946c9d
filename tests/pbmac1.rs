//! The `aes256_sha256_pbmac1` profile (RFC 9879, which obsoletes RFC 9579 and keeps its
//! encoding): with pinned salts and IVs the file is
//! byte for byte `tests/fixtures/golden/pfx-aes256-sha256-pbmac1-4.der`; its
//! AuthenticatedSafe is byte for byte the `aes256_sha256` file's; its MacData is the one
//! RFC 9879 describes, written out here from RFC 8018 (appendix A.5) rather than taken from
//! the crate's types; and its MAC is recomputed with the `pbkdf2` and `hmac` crates.
//!
//! Set `KAT_WRITE=1` to rewrite the golden file after a deliberate change of encoding (that
//! run writes it and fails; run again without `KAT_WRITE` to compare).

mod common;

use cert_download::{
    CertificateId, DownloadRequest, ExportPolicy, Password, PasswordPolicy, PfxEncryption,
    download_with,
};
use common::{Counter, fixture_store, fixtures, read_pfx};
use der::asn1::OctetString;
use der::{Decode, Encode};
use hmac::{KeyInit, Mac};
use sha2::Sha256;

const PASSWORD: &str = "kat-password-ü-😀";

/// The OIDs' DER (tag, length, value).
const ID_PBMAC1: &str = "06092a864886f70d01050e";
const ID_PBKDF2: &str = "06092a864886f70d01050c";
const HMAC_SHA256_NULL: &str = "300c06082a864886f70d02090500";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A DER TLV with a short-form length (every structure here is under 128 bytes).
fn tlv(tag: &str, value: &str) -> String {
    assert!(value.len() / 2 < 128);
    format!("{tag}{:02x}{value}", value.len() / 2)
}

/// A non-negative INTEGER's DER.
fn integer(n: u32) -> String {
    let mut bytes = n.to_be_bytes().to_vec();
    while bytes.len() > 1 && bytes[0] == 0 && bytes[1] < 0x80 {
        bytes.remove(0);
    }
    if bytes[0] >= 0x80 {
        bytes.insert(0, 0);
    }
    tlv("02", &hex(&bytes))
}

/// The MAC AlgorithmIdentifier RFC 9879 asks for: id-PBMAC1 with PBMAC1-params {
/// PBKDF2 { salt, iterations, keyLength 32, hmacWithSHA256 }, hmacWithSHA256 }.
fn expected_mac_algorithm(salt: &[u8], iterations: u32) -> String {
    let pbkdf2_params = tlv(
        "30",
        &format!(
            "{}{}{}{HMAC_SHA256_NULL}",
            tlv("04", &hex(salt)),
            integer(iterations),
            integer(32)
        ),
    );
    let kdf = tlv("30", &format!("{ID_PBKDF2}{pbkdf2_params}"));
    let params = tlv("30", &format!("{kdf}{HMAC_SHA256_NULL}"));
    tlv("30", &format!("{ID_PBMAC1}{params}"))
}

fn id(n: u64) -> CertificateId {
    CertificateId::new(n).unwrap()
}

fn download(record: u64, profile: PfxEncryption, policy: &ExportPolicy, password: &str) -> Vec<u8> {
    let password = Password::new(password, &PasswordPolicy::default()).unwrap();
    let request = DownloadRequest::pfx(id(record), password).with_pfx_encryption(profile);
    download_with(request, &fixture_store(), policy, &mut Counter(0))
        .unwrap()
        .certificate()
        .to_vec()
}

/// The AuthenticatedSafe's DER and the MacData of a PFX, read with the `pkcs12` types.
fn parts(pfx: &[u8]) -> (Vec<u8>, pkcs12::MacData) {
    let pfx = pkcs12::pfx::Pfx::from_der(pfx).unwrap();
    assert_eq!(
        pfx.auth_safe.content_type.to_string(),
        "1.2.840.113549.1.7.1"
    );
    let auth_safe = pfx
        .auth_safe
        .content
        .decode_as::<OctetString>()
        .unwrap()
        .as_bytes()
        .to_vec();
    (auth_safe, pfx.mac_data.expect("a MAC"))
}

/// Checks one PBMAC1 file against RFC 9879 and recomputes its MAC; returns the PBKDF2
/// salt.
fn check_pbmac1(pfx: &[u8], password: &str, iterations: u32, salt_len: usize) -> Vec<u8> {
    let (auth_safe, mac) = parts(pfx);
    let algorithm = mac.mac.algorithm.to_der().unwrap();
    // The salt is the only value not fixed by the policy: read it, then compare the whole.
    let salt_at = algorithm
        .windows(2)
        .position(|w| w == [0x04, salt_len as u8])
        .expect("the PBKDF2 salt")
        + 2;
    let salt = algorithm[salt_at..salt_at + salt_len].to_vec();
    assert_eq!(
        hex(&algorithm),
        expected_mac_algorithm(&salt, iterations),
        "the MAC AlgorithmIdentifier"
    );
    // RFC 9879: macSalt and iterations are ignored; "NOT USED" and 1 (left out: DEFAULT).
    assert_eq!(mac.mac_salt.as_bytes(), b"NOT USED");
    assert_eq!(mac.iterations, 1);
    let tail = tlv("04", &hex(b"NOT USED"));
    assert!(hex(pfx).ends_with(&tail), "MacData ends with macSalt");

    // PBKDF2 over the password's UTF-8 bytes, then HMAC-SHA256 over the AuthenticatedSafe.
    let mut key = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), &salt, iterations, &mut key);
    let mut hmac = hmac::Hmac::<Sha256>::new_from_slice(&key).unwrap();
    hmac.update(&auth_safe);
    assert_eq!(
        mac.mac.digest.as_bytes(),
        hmac.finalize().into_bytes().as_slice(),
        "the MAC recomputed with the pbkdf2 and hmac crates"
    );
    salt
}

#[test]
fn pbmac1_known_answer() {
    let policy = ExportPolicy::with_iterations(2048).unwrap();
    let der = download(4, PfxEncryption::Aes256Sha256Pbmac1, &policy, PASSWORD);

    let path = fixtures().join("golden/pfx-aes256-sha256-pbmac1-4.der");
    // Write mode writes and fails: a run never passes on a file it has just written.
    if std::env::var_os("KAT_WRITE").is_some() {
        std::fs::write(&path, &der).unwrap();
        panic!(
            "KAT_WRITE: wrote {}; run again without KAT_WRITE to compare",
            path.display()
        );
    }
    let expected = std::fs::read(&path).expect("the golden file; KAT_WRITE=1 creates it");
    assert!(expected == der, "differs from {}", path.display());

    // Draw order: key salt 0..16 and IV 16..32, certificates' salt 32..48 and IV 48..64,
    // then the PBMAC1 salt 64..80 (the PBKDF2 salt length of the policy).
    let salt = check_pbmac1(&der, PASSWORD, 2048, 16);
    assert_eq!(salt, (64u8..80).collect::<Vec<u8>>());
    // The shared reader (also the fuzz targets') verifies a PBMAC1 MAC too.
    assert!(read_pfx(&der, PASSWORD).mac_ok);

    // The bags are aes256_sha256's, byte for byte: only the MacData differs.
    let modern = download(4, PfxEncryption::Aes256Sha256, &policy, PASSWORD);
    assert_eq!(parts(&der).0, parts(&modern).0);
    let read = read_pfx(&modern, PASSWORD);
    assert!(read.mac_ok);
    assert_eq!(read.key_algorithm, "1.2.840.113549.1.5.13");
}

#[test]
fn pbmac1_follows_the_policy() {
    for (policy, iterations, salt_len) in [
        // The fewest MAC iterations PBMAC1 is made with.
        (ExportPolicy::with_iterations(1_000).unwrap(), 1_000, 16),
        (
            ExportPolicy::builder()
                .pbkdf2_iterations(7)
                .mac_iterations(1_031)
                .pbkdf2_salt_len(32)
                .mac_salt_len(20)
                .build()
                .unwrap(),
            1_031,
            32,
        ),
        (
            ExportPolicy::builder()
                .all_iterations(300)
                .mac_iterations(1_300)
                .pbkdf2_salt_len(8)
                .build()
                .unwrap(),
            1_300,
            8,
        ),
    ] {
        for password in ["ascii-password", PASSWORD, "密码测试中文口令"] {
            for record in [1, 9] {
                let der = download(record, PfxEncryption::Aes256Sha256Pbmac1, &policy, password);
                check_pbmac1(&der, password, iterations, salt_len);
            }
        }
    }
}

#[test]
fn pbmac1_is_the_policy_default_when_asked() {
    let policy = ExportPolicy::builder()
        .all_iterations(5)
        .mac_iterations(1_000)
        .pfx_encryption(PfxEncryption::Aes256Sha256Pbmac1)
        .build()
        .unwrap();
    let password = Password::new(PASSWORD, &PasswordPolicy::default()).unwrap();
    let request = DownloadRequest::pfx(id(4), password);
    assert_eq!(request.pfx_encryption(), None);
    let response = download_with(request, &fixture_store(), &policy, &mut Counter(0)).unwrap();
    assert_eq!(
        response.certificate(),
        download(4, PfxEncryption::Aes256Sha256Pbmac1, &policy, PASSWORD)
    );
    check_pbmac1(response.certificate(), PASSWORD, 1_000, 16);
}

/// NIST SP 800-132's least: a policy with fewer MAC iterations cannot name PBMAC1 as its
/// default, and a request that names PBMAC1 under it is a 500 that says what to do. The
/// request is valid (another host makes the file); the host's configuration is at fault.
#[test]
fn pbmac1_is_never_made_under_1000_mac_iterations() {
    let refused = ExportPolicy::builder()
        .mac_iterations(999)
        .pfx_encryption(PfxEncryption::Aes256Sha256Pbmac1)
        .build()
        .unwrap_err();
    assert!(
        refused.to_string().contains("1,000 MAC iterations"),
        "{refused}"
    );
    for policy in [
        ExportPolicy::with_iterations(1).unwrap(),
        ExportPolicy::builder().mac_iterations(999).build().unwrap(),
    ] {
        let body = format!(
            r#"{{"id": 4, "format": "pfx", "password": "{PASSWORD}",
                "pfx_encryption": "aes256_sha256_pbmac1"}}"#
        );
        let error = cert_download::download_json(
            body.as_bytes(),
            &fixture_store(),
            &policy,
            &mut Counter(0),
        )
        .unwrap_err();
        assert_eq!(
            (error.status(), error.code()),
            (500, "pfx_encryption_unavailable")
        );
        let json = error.to_json();
        assert!(json.contains("1,000 MAC iterations"), "{json}");
        assert!(json.contains("aes256_sha256 instead"), "{json}");
        assert!(!json.contains(PASSWORD), "{json}");
        // The other profiles are made under the same policy.
        for profile in [PfxEncryption::Aes256Sha256, PfxEncryption::TripleDesSha1] {
            assert!(!download(4, profile, &policy, PASSWORD).is_empty());
        }
    }
}
