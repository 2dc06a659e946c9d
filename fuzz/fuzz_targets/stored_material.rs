//! Arbitrary certificate, chain and key bytes from a store, through every format (with and
//! without the root): never a panic, and each request gets the one answer its material
//! calls for:
//!
//! - a request with the key when none is stored: 404 `key_not_found`, before anything else;
//! - otherwise, if the crt without key fails (the leaf, or the record's sizes), every
//!   request fails the same way (`invalid_certificate` or `invalid_chain`);
//! - otherwise a request with the chain fails as the pem with the chain does (an issuer
//!   that does not parse: `invalid_chain`), and one with the key as the crt with the key
//!   does (`invalid_key`, `unsupported_key`, `key_mismatch`, or `invalid_certificate` for a
//!   leaf whose public key cannot be read).
//!
//! Whatever succeeds is read back: the crt is the stored leaf; the pem is exactly the PEM
//! blocks of the leaf (and issuers) and the encrypted key, which decrypts to the stored
//! key; the p7b is DER holding the leaf; a PFX's MAC verifies (PKCS#12 KDF or PBMAC1) and
//! its key, decrypted, is the stored key and belongs to the leaf (its public key is
//! computed from the private key and compared with the leaf's).
#![no_main]

use cert_download::{CertificateDer, CertificateId, DownloadRequest, DownloadResponse, Error, ExportPolicy, Format, MemoryStore, OsRandom, Password, PasswordPolicy, PfxEncryption, PrivateKeyDer, download_with};
use cert_download::request::{ChainOrder};
use cert_download_test_support::pfx_reader;
use der::Decode;
use libfuzzer_sys::fuzz_target;
use rustls_pki_types::{PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer};

const PASSWORD: &str = "fuzz-password";

/// Splits the input into a leaf, issuers and a key at 0xFF 0x00 0xFF markers.
fn split(data: &[u8]) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let mut rest = data;
    while let Some(pos) = rest.windows(3).position(|w| w == [0xFF, 0x00, 0xFF]) {
        parts.push(&rest[..pos]);
        rest = &rest[pos + 3..];
    }
    parts.push(rest);
    parts
}

fn key(kind: u8, der: Vec<u8>) -> Option<PrivateKeyDer<'static>> {
    match kind % 4 {
        0 => None,
        1 => Some(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der))),
        2 => Some(PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(der))),
        _ => Some(PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(der))),
    }
}

/// An outcome reduced to what the oracle compares: success, or the error's code.
fn verdict(result: &Result<DownloadResponse, Error>) -> Result<(), &'static str> {
    match result {
        Ok(_) => Ok(()),
        Err(error) => Err(error.code()),
    }
}

/// The public key a PKCS#8 private key implies, in the form the leaf's SPKI carries it:
/// (algorithm OID, subjectPublicKey bits) for EC and Ed25519, and for RSA the DER of the
/// RSAPublicKey (modulus, exponent). `None` for a key type the crate does not export.
fn public_of(pkcs8: &[u8]) -> Option<(String, Vec<u8>)> {
    use der::Encode;
    let info = pkcs8::PrivateKeyInfoRef::from_der(pkcs8).ok()?;
    let oid = info.algorithm.oid.to_string();
    let secret = info.private_key.as_bytes();
    let public = match oid.as_str() {
        "1.2.840.113549.1.1.1" => {
            let rsa = pkcs1::RsaPrivateKeyRef::from_der(secret).ok()?;
            pkcs1::RsaPublicKey {
                modulus: rsa.modulus,
                public_exponent: rsa.public_exponent,
            }
            .to_der()
            .ok()?
        }
        "1.2.840.10045.2.1" => {
            let curve: der::asn1::ObjectIdentifier = info.algorithm.parameters?.decode_as().ok()?;
            let ec = sec1::EcPrivateKey::from_der(secret).ok()?;
            let scalar = ec.private_key;
            match curve.to_string().as_str() {
                "1.2.840.10045.3.1.7" => p256::SecretKey::from_slice(scalar)
                    .ok()?
                    .public_key()
                    .to_sec1_bytes()
                    .to_vec(),
                "1.3.132.0.34" => p384::SecretKey::from_slice(scalar)
                    .ok()?
                    .public_key()
                    .to_sec1_bytes()
                    .to_vec(),
                "1.3.132.0.35" => p521::SecretKey::from_slice(scalar)
                    .ok()?
                    .public_key()
                    .to_sec1_bytes()
                    .to_vec(),
                _ => return None,
            }
        }
        "1.3.101.112" => {
            let seed: der::asn1::OctetString = der::asn1::OctetString::from_der(secret).ok()?;
            let seed: [u8; 32] = seed.as_bytes().try_into().ok()?;
            ed25519_dalek::SigningKey::from_bytes(&seed)
                .verifying_key()
                .to_bytes()
                .to_vec()
        }
        _ => return None,
    };
    Some((oid, public))
}

/// Asserts that a PKCS#8 key belongs to the leaf: the public key computed from it is the
/// leaf's (an EC point compared uncompressed, whatever form the leaf uses).
fn assert_key_matches_leaf(pkcs8: &[u8], leaf: &[u8]) {
    let spki = leaf_spki(leaf).expect("a leaf the crate accepted has a SubjectPublicKeyInfo");
    let leaf_bits = spki.subject_public_key.raw_bytes().to_vec();
    let (oid, public) = public_of(pkcs8).expect("a key the crate exported is one it supports");
    assert_eq!(spki.algorithm.oid.to_string(), oid, "the key's algorithm");
    let leaf_bits = if oid == "1.2.840.10045.2.1" {
        uncompressed(&leaf_bits).expect("the leaf's EC point decodes")
    } else {
        leaf_bits
    };
    assert!(
        public == leaf_bits,
        "the exported key does not belong to the leaf"
    );
}

/// The leaf's SubjectPublicKeyInfo, found by stepping over the TBSCertificate's fields as
/// plain TLVs: the crate reads certificates that x509-cert cannot decode (OID arcs and
/// times that OpenSSL reads, e.g. a signature algorithm OID x509-cert calls malformed), so
/// this oracle must not need x509-cert to decode the whole leaf.
fn leaf_spki(leaf: &[u8]) -> der::Result<spki::SubjectPublicKeyInfoRef<'_>> {
    use der::asn1::AnyRef;
    use der::{Reader, SliceReader, Tag, TagNumber};
    let certificate = AnyRef::from_der(leaf)?;
    let mut fields = SliceReader::new(certificate.value())?;
    let tbs = fields.decode::<AnyRef<'_>>()?;
    let mut tbs = SliceReader::new(tbs.value())?;
    let version = Tag::ContextSpecific {
        constructed: true,
        number: TagNumber(0),
    };
    if der::Tag::peek(&tbs)? == version {
        tbs.decode::<AnyRef<'_>>()?;
    }
    // serialNumber, signature, issuer, validity, subject.
    for _ in 0..5 {
        tbs.decode::<AnyRef<'_>>()?;
    }
    tbs.decode()
}

/// An EC point in uncompressed form (the curve told by its length).
fn uncompressed(point: &[u8]) -> Option<Vec<u8>> {
    use elliptic_curve::sec1::ToSec1Point;
    Some(match point.len() {
        33 | 65 => p256::PublicKey::from_sec1_bytes(point)
            .ok()?
            .to_sec1_point(false)
            .as_bytes()
            .to_vec(),
        49 | 97 => p384::PublicKey::from_sec1_bytes(point)
            .ok()?
            .to_sec1_point(false)
            .as_bytes()
            .to_vec(),
        67 | 133 => p521::PublicKey::from_sec1_bytes(point)
            .ok()?
            .to_sec1_point(false)
            .as_bytes()
            .to_vec(),
        _ => return None,
    })
}

/// The PKCS#8 the crate must export for the stored key: a PKCS#8 key as it is; a PKCS#1 or
/// SEC1 key compared by its key material only (the private scalar or the RSA numbers), in
/// `assert_same_key`.
fn assert_same_key(pkcs8: &[u8], stored: &PrivateKeyDer<'_>) {
    match stored {
        PrivateKeyDer::Pkcs8(k) => assert!(pkcs8 == k.secret_pkcs8_der(), "not the stored key"),
        PrivateKeyDer::Pkcs1(k) => {
            let info = pkcs8::PrivateKeyInfoRef::from_der(pkcs8).unwrap();
            assert!(
                info.private_key.as_bytes() == k.secret_pkcs1_der(),
                "not the stored key"
            );
        }
        PrivateKeyDer::Sec1(k) => {
            let info = pkcs8::PrivateKeyInfoRef::from_der(pkcs8).unwrap();
            let ours = sec1::EcPrivateKey::from_der(info.private_key.as_bytes()).unwrap();
            let stored = sec1::EcPrivateKey::from_der(k.secret_sec1_der()).unwrap();
            assert!(ours.private_key == stored.private_key, "not the stored key");
        }
        _ => panic!("a key of an unknown container was exported"),
    }
}

/// Checks one successful download against the stored material.
fn check_success(
    format: Format,
    response: &DownloadResponse,
    leaf: &[u8],
    stored_key: Option<&PrivateKeyDer<'_>>,
) {
    match format {
        Format::Crt => {
            assert_eq!(response.certificate(), leaf);
            if let Some(epki) = response.key() {
                let (pkcs8, _) = pfx_reader::decrypt_epki(epki, PASSWORD);
                assert_same_key(&pkcs8, stored_key.expect("a key was stored"));
                assert_key_matches_leaf(&pkcs8, leaf);
            }
        }
        Format::Pem => {
            let text = std::str::from_utf8(response.certificate()).expect("PEM is text");
            // Nothing but well-formed blocks: certificates, then at most one encrypted key.
            let blocks = pem_blocks(text);
            let rebuilt: String = blocks.iter().map(|(label, der)| pem(label, der)).collect();
            assert_eq!(
                text, rebuilt,
                "the PEM is exactly its blocks, 64 characters a line"
            );
            let certs: Vec<&Vec<u8>> = blocks
                .iter()
                .take_while(|(label, _)| label == "CERTIFICATE")
                .map(|(_, der)| der)
                .collect();
            let keys: Vec<&Vec<u8>> = blocks[certs.len()..]
                .iter()
                .map(|(label, der)| {
                    assert_eq!(label, "ENCRYPTED PRIVATE KEY", "a block after the key");
                    der
                })
                .collect();
            assert!(
                certs.iter().any(|c| c.as_slice() == leaf),
                "the leaf is in the PEM"
            );
            assert!(keys.len() <= 1);
            if let Some(epki) = keys.first() {
                let (pkcs8, _) = pfx_reader::decrypt_epki(epki, PASSWORD);
                assert_same_key(&pkcs8, stored_key.expect("a key was stored"));
                assert_key_matches_leaf(&pkcs8, leaf);
            }
        }
        Format::P7b => {
            // A DER ContentInfo of type signedData holding the stored leaf's bytes as they
            // are (a p7b does not re-encode certificates, so x509-cert need not be able to
            // decode them).
            use der::Encode;
            use pkcs12::cms::content_info::ContentInfo;
            let p7b = response.certificate();
            let info = ContentInfo::from_der(p7b).unwrap();
            assert_eq!(info.to_der().unwrap(), p7b);
            assert_eq!(info.content_type, const_oid::db::rfc5911::ID_SIGNED_DATA);
            assert!(p7b.windows(leaf.len()).any(|w| w == leaf));
        }
        _ => {
            let pfx = pfx_reader::read_pfx(response.certificate(), PASSWORD);
            assert!(pfx.mac_ok, "the PFX's MAC does not verify");
            assert!(
                pfx.certs.iter().any(|(c, _)| c == leaf),
                "the leaf is in the PFX"
            );
            assert_same_key(&pfx.key_pkcs8, stored_key.expect("a key was stored"));
            assert_key_matches_leaf(&pfx.key_pkcs8, leaf);
        }
    }
}

/// The blocks of a PEM text that must hold nothing else: (label, DER) in order.
fn pem_blocks(text: &str) -> Vec<(String, Vec<u8>)> {
    use base64::Engine;
    let mut out = Vec::new();
    let mut lines = text.split_inclusive('\n');
    while let Some(begin) = lines.next() {
        let label = begin
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----\n"))
            .unwrap_or_else(|| panic!("not a BEGIN line: {begin:?}"));
        let end = format!("-----END {label}-----\n");
        let mut b64 = String::new();
        loop {
            let line = lines.next().expect("an END line");
            if line == end {
                break;
            }
            b64.push_str(line.strip_suffix('\n').expect("LF line endings"));
        }
        let der = base64::engine::general_purpose::STANDARD
            .decode(&b64)
            .expect("base64");
        out.push((label.to_owned(), der));
    }
    out
}

/// A PEM block as the crate writes it: 64 characters a line, LF endings.
fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, data)) = data.split_first() else {
        return;
    };
    let parts = split(data);
    let leaf_der = parts[0].to_vec();
    let leaf = CertificateDer::from(leaf_der.clone());
    let (key_der, issuers) = match parts.len() {
        1 => (Vec::new(), &parts[1..]),
        n => (parts[n - 1].to_vec(), &parts[1..n - 1]),
    };
    let issuers: Vec<_> = issuers
        .iter()
        .map(|c| CertificateDer::from(c.to_vec()))
        .collect();
    let id = CertificateId::new(7).unwrap();
    let stored_key = key(selector, key_der);
    let mut store = MemoryStore::new();
    store.insert(id, cert_download::store::MemoryEntry::new(leaf).with_issuers(issuers).with_key(stored_key.as_ref().map(|k| k.clone_key())));

    // One iteration, but PBMAC1's MAC at NIST SP 800-132's floor of 1,000.
    let policy = ExportPolicy::builder()
        .pbkdf2_iterations(1)
        .legacy_iterations(1)
        .mac_iterations(1000)
        .build()
        .unwrap();
    let password = || Password::new(PASSWORD, &PasswordPolicy::default()).unwrap();
    let run = |request: DownloadRequest| {
        let format = request.format();
        let result = download_with(request, &store, &policy, &mut OsRandom);
        if let Ok(response) = &result {
            check_success(format, response, &leaf_der, stored_key.as_ref());
        }
        result
    };

    // The three outcomes every other request's follows from.
    let leaf_only = verdict(&run(DownloadRequest::crt(id)));
    assert!(
        matches!(
            leaf_only,
            Ok(()) | Err("invalid_certificate" | "invalid_chain")
        ),
        "crt: {leaf_only:?}"
    );
    let chain = verdict(&run(DownloadRequest::pem(id)));
    let with_key = verdict(&run(DownloadRequest::crt(id).with_key(password())));
    if stored_key.is_none() {
        assert_eq!(
            with_key,
            Err("key_not_found"),
            "crt with a key none is stored"
        );
    } else if leaf_only.is_err() {
        assert_eq!(with_key, leaf_only, "crt with key, after the crt failed");
    } else {
        assert!(
            matches!(
                with_key,
                Ok(())
                    | Err("invalid_key"
                        | "unsupported_key"
                        | "key_mismatch"
                        | "invalid_certificate")
            ),
            "crt with key: {with_key:?}"
        );
    }
    if leaf_only.is_err() {
        assert_eq!(chain, leaf_only, "pem, after the crt failed");
    } else {
        assert!(
            matches!(chain, Ok(()) | Err("invalid_chain")),
            "pem: {chain:?}"
        );
    }

    // (request, it carries the chain, it carries the key)
    let requests = [
        (DownloadRequest::pem(id).with_key(password()), true, true),
        (DownloadRequest::pfx(id, password()), true, true),
        (
            DownloadRequest::pfx(id, password()).with_pfx_encryption(PfxEncryption::TripleDesSha1),
            true,
            true,
        ),
        (
            DownloadRequest::pfx(id, password())
                .with_pfx_encryption(PfxEncryption::Aes256Sha256Pbmac1),
            true,
            true,
        ),
        (
            DownloadRequest::pem(id)
                .with_root(false)
                .with_chain_order(ChainOrder::RootFirst),
            true,
            false,
        ),
        (
            DownloadRequest::pfx(id, password()).with_root(false),
            true,
            true,
        ),
        (
            DownloadRequest::pfx(id, password()).with_chain(false),
            false,
            true,
        ),
        (DownloadRequest::p7b(id), true, false),
        (DownloadRequest::p7b(id).with_root(false), true, false),
    ];
    for (request, with_chain, with_the_key) in requests {
        let what = format!("{request:?}");
        let got = verdict(&run(request));
        let expected = if with_the_key && stored_key.is_none() {
            Err("key_not_found")
        } else if leaf_only.is_err() {
            leaf_only
        } else if with_chain && chain.is_err() {
            chain
        } else if with_the_key {
            with_key
        } else {
            Ok(())
        };
        assert_eq!(got, expected, "{what}");
    }
});
