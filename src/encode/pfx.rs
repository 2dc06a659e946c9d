//! pfx: PKCS#12 assembly, encryption and MAC, in both profiles.
//!
//! ```text
//! PFX (version 3)
//!  authSafe: data ContentInfo holding the AuthenticatedSafe:
//!   1. encryptedData ContentInfo: SafeContents of certBags (leaf, then issuers as asked)
//!   2. data ContentInfo: SafeContents of one pkcs8ShroudedKeyBag
//!  macData: HMAC over the AuthenticatedSafe, keyed by the PKCS#12 KDF (ID 3)
//! ```
//!
//! Salts and IVs are drawn from the random source in this order: the key's salt (and IV),
//! the certificates' salt (and IV), the MAC salt. The legacy profile has no IVs to draw:
//! its IVs come from the PKCS#12 KDF.

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

use super::{internal, pbes2_encrypt, random_error};
use crate::credential::Credential;
use crate::error::Error;
use crate::key::CheckedKey;
use crate::policy::ExportPolicy;
use crate::random::RandomSource;
use crate::request::{DownloadRequest, Format, FriendlyName, Password, PfxEncryption};
use crate::response::DownloadResponse;

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

/// The friendlyName: the one asked for, else the leaf's subject CN (when it is a valid
/// friendly name), else `certificate-<id>`.
pub(crate) fn friendly_name(request: &DownloadRequest, credential: &Credential) -> FriendlyName {
    if let Some(name) = request.friendly_name() {
        return name.clone();
    }
    let cn = credential
        .leaf
        .cert
        .tbs_certificate()
        .subject()
        .common_name()
        .ok()
        .flatten()
        .and_then(|cn| FriendlyName::new(cn.value().into_owned()).ok());
    cn.unwrap_or_else(|| FriendlyName::for_id(credential.id))
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

pub(super) fn encode(
    request: &DownloadRequest,
    credential: &Credential,
    password: &Password,
    key: &CheckedKey,
    policy: &ExportPolicy,
    rng: &mut dyn RandomSource,
) -> Result<DownloadResponse, Error> {
    let profile = request.pfx_encryption();
    let bmp_password = password.secret_bmp();
    let name = friendly_name(request, credential);
    let local_key_id = Sha1::digest(credential.leaf.der.as_ref());
    let attributes = leaf_attributes(&name, &local_key_id)?;

    // The shrouded key bag.
    let epki_der = match profile {
        PfxEncryption::TripleDesSha1 => {
            let (algorithm, ciphertext) = pbe_3des_encrypt(
                key.secret_pkcs8_der(),
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
        _ => super::encrypt_private_key(key.secret_pkcs8_der(), password, policy, rng)?,
    };
    let key_bag = SafeBag {
        bag_id: PKCS8_SHROUDED_KEY_BAG,
        bag_value: epki_der,
        bag_attributes: Some(attributes.clone()),
    };
    let key_contents = vec![key_bag].to_der().map_err(der_err)?;

    // The certificate bags, encrypted together.
    let chain = if request.include_chain() {
        credential.chain(request.chain_order())
    } else {
        vec![&credential.leaf]
    };
    let mut cert_bags = Vec::with_capacity(chain.len());
    for cert in chain {
        let is_leaf = std::ptr::eq(cert, &credential.leaf);
        let bag = CertBag {
            cert_id: X509_CERTIFICATE,
            cert_value: OctetString::new(cert.der.as_ref()).map_err(der_err)?,
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
    Ok(DownloadResponse::new(Format::Pfx, der, None, true))
}
