//! An independent PKCS#12 reader: it reads back what the library writes without sharing
//! a line of code with its encoder. A PFX is decrypted with the `pkcs5` crate (PBES2) or the
//! `pkcs12` crate's KDF with `des` and `cbc` (the legacy profile), and its MAC is recomputed
//! from the KDF and HMAC primitives (PKCS#12 KDF, or PBMAC1 with `pbkdf2`). The library's
//! tests (through `tests/common`) and the `stored_material` fuzz target read files with it.
//!
//! Test code: every function panics on input it cannot read.

use der::asn1::{BmpString, OctetString};
use der::{Decode, Encode};
use hmac::{KeyInit, Mac};
use pkcs12::kdf::{Pkcs12KeyType, derive_key};

/// UTF-16BE with surrogate pairs, then two zero bytes: written here from the RFC, not
/// taken from the crate.
pub fn bmp_password(password: &str) -> Vec<u8> {
    let mut out: Vec<u8> = password
        .encode_utf16()
        .flat_map(|u| u.to_be_bytes())
        .collect();
    out.extend([0, 0]);
    out
}

const PBE_SHA1_3DES: &str = "1.2.840.113549.1.12.1.3";
const PBES2: &str = "1.2.840.113549.1.5.13";

/// What a PFX holds, as read back.
#[derive(Debug)]
pub struct DecodedPfx {
    /// The OID of the MAC's digest (or of PBMAC1).
    pub mac_algorithm: String,
    /// The MAC's iteration count.
    pub mac_iterations: i32,
    /// The MAC salt's length in bytes.
    pub mac_salt_len: usize,
    /// The MAC salt.
    pub mac_salt: Vec<u8>,
    /// Whether the MAC, recomputed here, equals the file's.
    pub mac_ok: bool,
    /// The encryption algorithm OID of the key bag.
    pub key_algorithm: String,
    /// The key bag's PKCS#8, decrypted.
    pub key_pkcs8: Vec<u8>,
    /// The key bag's attributes, DER.
    pub key_attributes: Option<Vec<u8>>,
    /// The encryption algorithm OID of the certificates' SafeContents.
    pub certs_algorithm: String,
    /// The certificates: (certificate DER, attributes DER).
    pub certs: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    /// The raw DER of the key bag's encryption AlgorithmIdentifier, for parameter checks.
    pub key_algorithm_der: Vec<u8>,
    /// The raw DER of the certificates' encryption AlgorithmIdentifier.
    pub certs_algorithm_der: Vec<u8>,
}

fn decrypt(
    algorithm: &spki::AlgorithmIdentifierOwned,
    password: &str,
    ciphertext: &[u8],
) -> Vec<u8> {
    match algorithm.oid.to_string().as_str() {
        PBES2 => {
            let der = algorithm.to_der().unwrap();
            let scheme = pkcs5::EncryptionScheme::from_der(&der).unwrap();
            scheme.decrypt(password.as_bytes(), ciphertext).unwrap()
        }
        PBE_SHA1_3DES => {
            use des::cipher::{BlockModeDecrypt, KeyIvInit, block_padding::Pkcs7};
            let params: pkcs12::pbe_params::Pkcs12PbeParams =
                algorithm.parameters.as_ref().unwrap().decode_as().unwrap();
            let pass = bmp_password(password);
            let salt = params.salt.as_bytes();
            let key = derive_key::<sha1::Sha1>(
                &pass,
                salt,
                Pkcs12KeyType::EncryptionKey,
                params.iterations,
                24,
            );
            let iv = derive_key::<sha1::Sha1>(&pass, salt, Pkcs12KeyType::Iv, params.iterations, 8);
            cbc::Decryptor::<des::TdesEde3>::new_from_slices(&key, &iv)
                .unwrap()
                .decrypt_padded_vec::<Pkcs7>(ciphertext)
                .unwrap()
        }
        other => panic!("unexpected encryption algorithm {other}"),
    }
}

fn octets(any: &der::asn1::Any) -> Vec<u8> {
    any.decode_as::<OctetString>().unwrap().as_bytes().to_vec()
}

/// Reads a PFX with `password`; panics on anything malformed.
pub fn read_pfx(der: &[u8], password: &str) -> DecodedPfx {
    let pfx = pkcs12::pfx::Pfx::from_der(der).expect("the PFX parses");
    assert_eq!(
        pfx.auth_safe.content_type.to_string(),
        "1.2.840.113549.1.7.1"
    );
    let auth_safe_der = octets(&pfx.auth_safe.content);

    // The MAC, recomputed from the KDF and HMAC primitives.
    let mac = pfx.mac_data.expect("a MAC");
    let pass = bmp_password(password);
    let salt = mac.mac_salt.as_bytes();
    let mac_algorithm = mac.mac.algorithm.oid.to_string();
    let expected = match mac_algorithm.as_str() {
        "2.16.840.1.101.3.4.2.1" => {
            let k = derive_key::<sha2::Sha256>(&pass, salt, Pkcs12KeyType::Mac, mac.iterations, 32);
            let mut h = hmac::Hmac::<sha2::Sha256>::new_from_slice(&k).unwrap();
            h.update(&auth_safe_der);
            h.finalize().into_bytes().to_vec()
        }
        "1.3.14.3.2.26" => {
            let k = derive_key::<sha1::Sha1>(&pass, salt, Pkcs12KeyType::Mac, mac.iterations, 20);
            let mut h = hmac::Hmac::<sha1::Sha1>::new_from_slice(&k).unwrap();
            h.update(&auth_safe_der);
            h.finalize().into_bytes().to_vec()
        }
        // PBMAC1 (RFC 9579): PBKDF2-HMAC-SHA256 over the password's UTF-8 bytes with the
        // parameters of the MAC's AlgorithmIdentifier, then HMAC-SHA256.
        "1.2.840.113549.1.5.14" => {
            let params: Vec<spki::AlgorithmIdentifierOwned> = mac
                .mac
                .algorithm
                .parameters
                .as_ref()
                .unwrap()
                .decode_as()
                .unwrap();
            assert_eq!(params.len(), 2, "PBMAC1-params");
            assert_eq!(params[0].oid.to_string(), "1.2.840.113549.1.5.12", "PBKDF2");
            assert_eq!(
                params[1].oid.to_string(),
                "1.2.840.113549.2.9",
                "hmacWithSHA256"
            );
            let kdf: pkcs5::pbes2::Pbkdf2Params =
                params[0].parameters.as_ref().unwrap().decode_as().unwrap();
            assert_eq!(
                kdf.prf,
                pkcs5::pbes2::Pbkdf2Prf::HmacWithSha256,
                "PBKDF2's PRF"
            );
            let mut k = vec![0u8; usize::from(kdf.key_length.expect("a keyLength"))];
            pbkdf2::pbkdf2_hmac::<sha2::Sha256>(
                password.as_bytes(),
                kdf.salt.as_ref(),
                kdf.iteration_count,
                &mut k,
            );
            let mut h = hmac::Hmac::<sha2::Sha256>::new_from_slice(&k).unwrap();
            h.update(&auth_safe_der);
            h.finalize().into_bytes().to_vec()
        }
        other => panic!("unexpected MAC digest {other}"),
    };
    let mac_ok = expected == mac.mac.digest.as_bytes();

    let infos = Vec::<pkcs12::cms::content_info::ContentInfo>::from_der(&auth_safe_der).unwrap();
    let mut out = DecodedPfx {
        mac_algorithm,
        mac_iterations: mac.iterations,
        mac_salt_len: salt.len(),
        mac_salt: salt.to_vec(),
        mac_ok,
        key_algorithm: String::new(),
        key_pkcs8: Vec::new(),
        key_attributes: None,
        certs_algorithm: String::new(),
        certs: Vec::new(),
        key_algorithm_der: Vec::new(),
        certs_algorithm_der: Vec::new(),
    };
    for info in infos {
        let (contents_der, encrypted_with) = match info.content_type.to_string().as_str() {
            "1.2.840.113549.1.7.1" => (octets(&info.content), None),
            "1.2.840.113549.1.7.6" => {
                let ed: pkcs12::cms::encrypted_data::EncryptedData =
                    info.content.decode_as().unwrap();
                let eci = ed.enc_content_info;
                let ct = eci.encrypted_content.unwrap();
                let plain = decrypt(&eci.content_enc_alg, password, ct.as_bytes());
                (plain, Some(eci.content_enc_alg))
            }
            other => panic!("unexpected content type {other}"),
        };
        let bags = Vec::<pkcs12::SafeBag>::from_der(&contents_der).unwrap();
        for bag in bags {
            // Decoding keeps the [0] wrapper in bag_value: peel it.
            let inner = der::asn1::ContextSpecific::<der::asn1::Any>::from_der(&bag.bag_value)
                .unwrap()
                .value;
            let attrs = bag.bag_attributes.as_ref().map(|a| a.to_der().unwrap());
            match bag.bag_id.to_string().as_str() {
                "1.2.840.113549.1.12.10.1.2" => {
                    assert!(
                        encrypted_with.is_none(),
                        "the key bag is in a data SafeContents"
                    );
                    let epki: pkcs12::pbe_params::EncryptedPrivateKeyInfo =
                        inner.decode_as().unwrap();
                    out.key_algorithm = epki.encryption_algorithm.oid.to_string();
                    out.key_algorithm_der = epki.encryption_algorithm.to_der().unwrap();
                    out.key_pkcs8 = decrypt(
                        &epki.encryption_algorithm,
                        password,
                        epki.encrypted_data.as_bytes(),
                    );
                    out.key_attributes = attrs;
                }
                "1.2.840.113549.1.12.10.1.3" => {
                    let alg = encrypted_with.as_ref().expect("certs are encrypted");
                    out.certs_algorithm = alg.oid.to_string();
                    out.certs_algorithm_der = alg.to_der().unwrap();
                    let cert_bag: pkcs12::CertBag = inner.decode_as().unwrap();
                    assert_eq!(cert_bag.cert_id.to_string(), "1.2.840.113549.1.9.22.1");
                    out.certs
                        .push((cert_bag.cert_value.as_bytes().to_vec(), attrs));
                }
                other => panic!("unexpected bag {other}"),
            }
        }
    }
    out
}

/// The attributes DER a leaf's bags must carry: friendlyName (BMPString) and localKeyId.
pub fn expected_attributes(friendly_name: &str, leaf_der: &[u8]) -> Vec<u8> {
    use sha1::Digest;
    use x509_cert::attr::Attribute;
    let name = der::asn1::Any::encode_from(&BmpString::from_utf8(friendly_name).unwrap()).unwrap();
    let id = der::asn1::Any::encode_from(
        &OctetString::new(sha1::Sha1::digest(leaf_der).to_vec()).unwrap(),
    )
    .unwrap();
    let attr = |oid: &str, v| Attribute {
        oid: oid.parse().unwrap(),
        values: der::asn1::SetOfVec::try_from(vec![v]).unwrap(),
    };
    der::asn1::SetOfVec::try_from(vec![
        attr("1.2.840.113549.1.9.20", name),
        attr("1.2.840.113549.1.9.21", id),
    ])
    .unwrap()
    .to_der()
    .unwrap()
}

/// The salt and IV of a PBES2 AlgorithmIdentifier (DER).
pub fn pbes2_salt_iv(algorithm_der: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let scheme = pkcs5::EncryptionScheme::from_der(algorithm_der).unwrap();
    let pkcs5::EncryptionScheme::Pbes2(params) = scheme else {
        panic!("not PBES2")
    };
    let salt = params.kdf.pbkdf2().expect("PBKDF2").salt.as_ref().to_vec();
    let iv = match params.encryption {
        pkcs5::pbes2::EncryptionScheme::Aes256Cbc { iv } => iv.to_vec(),
        other => panic!("not AES-256-CBC: {other:?}"),
    };
    (salt, iv)
}

/// Decrypts a DER EncryptedPrivateKeyInfo with the `pkcs8` crate; returns the PKCS#8 and
/// the encryption AlgorithmIdentifier DER.
pub fn decrypt_epki(der: &[u8], password: &str) -> (Vec<u8>, Vec<u8>) {
    let info = pkcs8::EncryptedPrivateKeyInfoRef::try_from(der).unwrap();
    let plain = info.decrypt(password.as_bytes()).unwrap();
    (
        plain.as_bytes().to_vec(),
        info.encryption_algorithm.to_der().unwrap(),
    )
}

/// The salt of a PKCS#12 PBE AlgorithmIdentifier (DER).
pub fn pkcs12_pbe_salt(algorithm_der: &[u8]) -> Vec<u8> {
    let alg = spki::AlgorithmIdentifierOwned::from_der(algorithm_der).unwrap();
    let params: pkcs12::pbe_params::Pkcs12PbeParams =
        alg.parameters.as_ref().unwrap().decode_as().unwrap();
    params.salt.as_bytes().to_vec()
}
