//! The encoders as they were before the allocation-free rewrite, built on the `der`,
//! `pkcs5`, `pkcs8` and `pkcs12` types: the tests compare the new encoders' bytes with
//! these, byte for byte, on many inputs.

use aes::cipher::{BlockModeEncrypt as _, KeyIvInit as _, block_padding::Pkcs7 as AesPkcs7};
use const_oid::ObjectIdentifier;
use der::asn1::{Any, BmpString, OctetString, SetOfVec};
use der::{Decode, Encode};
use hmac::{KeyInit, Mac};
use pkcs12::cms::content_info::{CmsVersion, ContentInfo};
use pkcs12::cms::encrypted_data::EncryptedData;
use pkcs12::cms::enveloped_data::EncryptedContentInfo;
use pkcs12::kdf::{Pkcs12KeyType, derive_key};
use pkcs12::pbe_params::Pkcs12PbeParams;
use pkcs12::{CertBag, DigestInfo, MacData, Pfx, SafeBag};
use sha1::{Digest, Sha1};
use sha2::Sha256;
use spki::AlgorithmIdentifierOwned;
use x509_cert::attr::{Attribute, Attributes};
use zeroize::Zeroizing;

use super::{internal, random_error};
use crate::error::Error;
use crate::policy::ExportPolicy;
use crate::random::RandomSource;
use crate::request::{FriendlyName, Password, PfxEncryption};

/// PBES2 parameters (PBKDF2-HMAC-SHA256 with the PRF written out, AES-256-CBC) and the
/// ciphertext they describe.
pub(crate) struct Pbes2Ciphertext {
    pub(crate) scheme: pkcs5::EncryptionScheme,
    pub(crate) ciphertext: Vec<u8>,
}

pub(crate) fn pbes2_encrypt(
    plaintext: &[u8],
    password: &Password,
    iterations: u32,
    salt_len: usize,
    rng: &mut dyn RandomSource,
) -> Result<Pbes2Ciphertext, Error> {
    let mut salt = [0u8; 32];
    let salt = salt
        .get_mut(..salt_len)
        .ok_or_else(|| internal("the salt is longer than 32 bytes"))?;
    rng.fill(salt).map_err(|_| random_error())?;
    let mut iv = [0u8; 16];
    rng.fill(&mut iv).map_err(|_| random_error())?;
    let params = pkcs5::pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(iterations, salt, iv)
        .map_err(|_| internal("the PBES2 parameters cannot be built"))?;
    let mut key = Zeroizing::new([0u8; 32]);
    pbkdf2::pbkdf2_hmac::<Sha256>(password.secret_utf8(), salt, iterations, key.as_mut());
    let cipher = cbc::Encryptor::<aes::Aes256>::new_from_slices(key.as_ref(), &iv)
        .map_err(|_| internal("the AES key cannot be set"))?;
    let ciphertext = cipher.encrypt_padded_vec::<AesPkcs7>(plaintext);
    Ok(Pbes2Ciphertext {
        scheme: pkcs5::EncryptionScheme::Pbes2(params),
        ciphertext,
    })
}

/// The DER `EncryptedPrivateKeyInfo` of a PKCS#8 key, PBES2-encrypted.
pub(crate) fn encrypt_private_key(
    pkcs8: &[u8],
    password: &Password,
    policy: &ExportPolicy,
    rng: &mut dyn RandomSource,
) -> Result<Vec<u8>, Error> {
    let Pbes2Ciphertext { scheme, ciphertext } = pbes2_encrypt(
        pkcs8,
        password,
        policy.pbkdf2_iterations(),
        policy.pbkdf2_salt_len(),
        rng,
    )?;
    let info = pkcs8::EncryptedPrivateKeyInfo {
        encryption_algorithm: scheme,
        encrypted_data: OctetString::new(ciphertext)
            .map_err(|_| internal("the encrypted key is too large"))?,
    };
    info.to_der()
        .map_err(|_| internal("the encrypted key cannot be encoded"))
}

const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const ID_ENCRYPTED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.6");
const PKCS8_SHROUDED_KEY_BAG: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.10.1.2");
const CERT_BAG: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.10.1.3");
const X509_CERTIFICATE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.22.1");
const FRIENDLY_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.20");
const LOCAL_KEY_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.21");
const PBE_SHA1_3DES: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.1.3");
const ID_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");

fn der_err(_: der::Error) -> Error {
    internal("the PFX cannot be encoded")
}

fn to_i32(iterations: u32) -> Result<i32, Error> {
    i32::try_from(iterations).map_err(|_| internal("the iteration count does not fit"))
}

fn attribute(oid: ObjectIdentifier, value: Any) -> Result<Attribute, Error> {
    Ok(Attribute {
        oid,
        values: SetOfVec::try_from(vec![value]).map_err(der_err)?,
    })
}

/// friendlyName and localKeyId: on the key bag and the leaf's cert bag only.
fn leaf_attributes(name: &FriendlyName, local_key_id: &[u8]) -> Result<Attributes, Error> {
    let name = BmpString::from_utf8(name.as_str()).map_err(der_err)?;
    let id = OctetString::new(local_key_id).map_err(der_err)?;
    SetOfVec::try_from(vec![
        attribute(FRIENDLY_NAME, Any::encode_from(&name).map_err(der_err)?)?,
        attribute(LOCAL_KEY_ID, Any::encode_from(&id).map_err(der_err)?)?,
    ])
    .map_err(der_err)
}

/// The legacy PBE: key (24 bytes) and IV (8 bytes) from the PKCS#12 KDF over SHA-1, then
/// 3DES-EDE-CBC. Draws one salt.
fn pbe_3des_encrypt(
    plaintext: &[u8],
    bmp_password: &[u8],
    iterations: u32,
    salt_len: usize,
    rng: &mut dyn RandomSource,
) -> Result<(AlgorithmIdentifierOwned, Vec<u8>), Error> {
    use des::cipher::{BlockModeEncrypt, KeyIvInit, block_padding::Pkcs7};
    let mut salt = vec![0u8; salt_len];
    rng.fill(&mut salt).map_err(|_| random_error())?;
    let rounds = to_i32(iterations)?;
    let key = Zeroizing::new(derive_key::<Sha1>(
        bmp_password,
        &salt,
        Pkcs12KeyType::EncryptionKey,
        rounds,
        24,
    ));
    let iv = Zeroizing::new(derive_key::<Sha1>(
        bmp_password,
        &salt,
        Pkcs12KeyType::Iv,
        rounds,
        8,
    ));
    let cipher = cbc::Encryptor::<des::TdesEde3>::new_from_slices(&key, &iv)
        .map_err(|_| internal("the 3DES key cannot be set"))?;
    let ciphertext = cipher.encrypt_padded_vec::<Pkcs7>(plaintext);
    let params = Pkcs12PbeParams {
        salt: OctetString::new(salt).map_err(der_err)?,
        iterations: rounds,
    };
    let algorithm = AlgorithmIdentifierOwned {
        oid: PBE_SHA1_3DES,
        parameters: Some(Any::encode_from(&params).map_err(der_err)?),
    };
    Ok((algorithm, ciphertext))
}

/// Encrypts `plaintext` as the profile asks: returns the algorithm and the ciphertext.
fn encrypt(
    profile: PfxEncryption,
    plaintext: &[u8],
    password: &Password,
    bmp_password: &[u8],
    policy: &ExportPolicy,
    rng: &mut dyn RandomSource,
) -> Result<(AlgorithmIdentifierOwned, Vec<u8>), Error> {
    match profile {
        PfxEncryption::TripleDesSha1 => pbe_3des_encrypt(
            plaintext,
            bmp_password,
            policy.legacy_iterations(),
            policy.legacy_salt_len(),
            rng,
        ),
        _ => {
            let c = pbes2_encrypt(
                plaintext,
                password,
                policy.pbkdf2_iterations(),
                policy.pbkdf2_salt_len(),
                rng,
            )?;
            let algorithm =
                AlgorithmIdentifierOwned::from_der(&c.scheme.to_der().map_err(der_err)?)
                    .map_err(der_err)?;
            Ok((algorithm, c.ciphertext))
        }
    }
}

fn data_content_info(der: Vec<u8>) -> Result<ContentInfo, Error> {
    Ok(ContentInfo {
        content_type: ID_DATA,
        content: Any::encode_from(&OctetString::new(der).map_err(der_err)?).map_err(der_err)?,
    })
}

/// The MAC of the AuthenticatedSafe's DER, keyed by the PKCS#12 KDF.
fn mac_data(
    profile: PfxEncryption,
    auth_safe: &[u8],
    bmp_password: &[u8],
    policy: &ExportPolicy,
    rng: &mut dyn RandomSource,
) -> Result<MacData, Error> {
    let (iterations, salt_len) = match profile {
        PfxEncryption::TripleDesSha1 => (policy.legacy_iterations(), policy.legacy_salt_len()),
        _ => (policy.mac_iterations(), policy.mac_salt_len()),
    };
    let mut salt = vec![0u8; salt_len];
    rng.fill(&mut salt).map_err(|_| random_error())?;
    let rounds = to_i32(iterations)?;
    let (oid, digest) = match profile {
        PfxEncryption::TripleDesSha1 => {
            let key = Zeroizing::new(derive_key::<Sha1>(
                bmp_password,
                &salt,
                Pkcs12KeyType::Mac,
                rounds,
                20,
            ));
            let mut mac = hmac::Hmac::<Sha1>::new_from_slice(&key)
                .map_err(|_| internal("the MAC key cannot be set"))?;
            mac.update(auth_safe);
            (ID_SHA1, mac.finalize().into_bytes().to_vec())
        }
        _ => {
            let key = Zeroizing::new(derive_key::<Sha256>(
                bmp_password,
                &salt,
                Pkcs12KeyType::Mac,
                rounds,
                32,
            ));
            let mut mac = hmac::Hmac::<Sha256>::new_from_slice(&key)
                .map_err(|_| internal("the MAC key cannot be set"))?;
            mac.update(auth_safe);
            (ID_SHA256, mac.finalize().into_bytes().to_vec())
        }
    };
    Ok(MacData {
        mac: DigestInfo {
            algorithm: AlgorithmIdentifierOwned {
                oid,
                parameters: Some(Any::null()),
            },
            digest: OctetString::new(digest).map_err(der_err)?,
        },
        mac_salt: OctetString::new(salt).map_err(der_err)?,
        iterations: rounds,
    })
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn encode(
    profile: PfxEncryption,
    chain: &[&[u8]],
    leaf: &[u8],
    name: &FriendlyName,
    password: &Password,
    pkcs8: &[u8],
    policy: &ExportPolicy,
    rng: &mut dyn RandomSource,
) -> Result<Vec<u8>, Error> {
    let bmp_password = password.secret_bmp();
    let local_key_id = Sha1::digest(leaf);
    let attributes = leaf_attributes(name, &local_key_id)?;

    // The shrouded key bag.
    let epki_der = match profile {
        PfxEncryption::TripleDesSha1 => {
            let (algorithm, ciphertext) = pbe_3des_encrypt(
                pkcs8,
                &bmp_password,
                policy.legacy_iterations(),
                policy.legacy_salt_len(),
                rng,
            )?;
            pkcs12::pbe_params::EncryptedPrivateKeyInfo {
                encryption_algorithm: algorithm,
                encrypted_data: OctetString::new(ciphertext).map_err(der_err)?,
            }
            .to_der()
            .map_err(der_err)?
        }
        _ => encrypt_private_key(pkcs8, password, policy, rng)?,
    };
    let key_bag = SafeBag {
        bag_id: PKCS8_SHROUDED_KEY_BAG,
        bag_value: epki_der,
        bag_attributes: Some(attributes.clone()),
    };
    let key_contents = vec![key_bag].to_der().map_err(der_err)?;

    let mut cert_bags = Vec::with_capacity(chain.len());
    for cert in chain {
        let is_leaf = std::ptr::eq(*cert, leaf);
        let bag = CertBag {
            cert_id: X509_CERTIFICATE,
            cert_value: OctetString::new(*cert).map_err(der_err)?,
        };
        cert_bags.push(SafeBag {
            bag_id: CERT_BAG,
            bag_value: bag.to_der().map_err(der_err)?,
            bag_attributes: is_leaf.then(|| attributes.clone()),
        });
    }
    let cert_contents = cert_bags.to_der().map_err(der_err)?;
    let (algorithm, ciphertext) = encrypt(
        profile,
        &cert_contents,
        password,
        &bmp_password,
        policy,
        rng,
    )?;
    let encrypted = EncryptedData {
        version: CmsVersion::V0,
        enc_content_info: EncryptedContentInfo {
            content_type: ID_DATA,
            content_enc_alg: algorithm,
            encrypted_content: Some(OctetString::new(ciphertext).map_err(der_err)?),
        },
        unprotected_attrs: None,
    };
    let certs_info = ContentInfo {
        content_type: ID_ENCRYPTED_DATA,
        content: Any::encode_from(&encrypted).map_err(der_err)?,
    };

    let auth_safe = vec![certs_info, data_content_info(key_contents)?]
        .to_der()
        .map_err(der_err)?;
    let mac = mac_data(profile, &auth_safe, &bmp_password, policy, rng)?;
    let pfx = Pfx {
        version: pkcs12::pfx::Version::V3,
        auth_safe: data_content_info(auth_safe)?,
        mac_data: Some(mac),
    };
    let der = pfx.to_der().map_err(der_err)?;
    Ok(der)
}
