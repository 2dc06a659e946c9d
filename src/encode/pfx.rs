//! pfx: PKCS#12 (RFC 7292) as OpenSSL 3 and Java 17 write it.
//!
//! ```text
//! PFX (version 3)
//!  authSafe: data ContentInfo holding the AuthenticatedSafe:
//!   1. encryptedData ContentInfo: SafeContents of certBags (leaf, then issuers as asked)
//!   2. data ContentInfo: SafeContents of one pkcs8ShroudedKeyBag
//!  macData: an HMAC over the AuthenticatedSafe's DER
//! ```
//!
//! Salts and IVs are drawn from the random source in this order: the key's salt (and IV),
//! the certificates' salt (and IV), the MAC salt. The legacy profile has no IVs to draw:
//! its IVs come from the PKCS#12 KDF. Then every derivation of the file runs at once (two
//! PBKDF2 and one PKCS#12 KDF, or the legacy profile's five PKCS#12 KDFs; see
//! `crate::kdf`), fed from the parameters drawn, and the derived keys encrypt and MAC.

use const_oid::ObjectIdentifier;
use const_oid::db::{rfc2985, rfc5911, rfc5912};
use der::asn1::{Any, BmpString, OctetString, SetOfVec};
use der::{Encode, Sequence};
use hmac::{KeyInit, Mac};
use pkcs5::pbes2;
use pkcs12::cms::content_info::{CmsVersion, ContentInfo};
use pkcs12::cms::encrypted_data::EncryptedData;
use pkcs12::cms::enveloped_data::EncryptedContentInfo;
use pkcs12::pbe_params::Pkcs12PbeParams;
use pkcs12::safe_bag::SafeContents;
use pkcs12::{AuthenticatedSafe, CertBag, DigestInfo, MacData, Pfx, SafeBag};
use sha1::{Digest, Sha1};
use sha2::Sha256;
use spki::AlgorithmIdentifierOwned;
use x509_cert::attr::{Attribute, Attributes};
use zeroize::Zeroizing;

use super::pbes2::{
    draw_pbes2, encrypted_private_key_info, pbes2_algorithm, pbes2_encrypt, pbes2_kdf,
};
use super::{der_error, derive, draw, internal};
use crate::error::{Error, ErrorKind};
use crate::kdf::{Diversifier, Kdf, Params};
use crate::material::CheckedMaterial;
use crate::policy::ExportPolicy;
use crate::policy::PfxEncryption;
use crate::random::RandomSource;
use crate::request::{DownloadRequest, Format, FriendlyName, Password};
use crate::response::DownloadResponse;

/// The password in the two forms the derivations take.
struct Passwords<'a> {
    /// UTF-8, for PBKDF2.
    utf8: &'a [u8],
    /// A BMPString with its two zero bytes, for the PKCS#12 KDF.
    bmp: &'a [u8],
}

/// What the derivations of one encryption or MAC write: a key (at most 32 bytes) and, for
/// 3DES, an IV.
#[derive(Default)]
struct Derived {
    key: Zeroizing<[u8; 32]>,
    iv: Zeroizing<[u8; 8]>,
}

fn to_i32(n: u32) -> Result<i32, Error> {
    i32::try_from(n).map_err(|_| internal("the iteration count does not fit"))
}

fn to_u32(n: i32) -> Result<u32, Error> {
    u32::try_from(n).map_err(|_| internal("the iteration count is negative"))
}

/// How the key bag or the certificates are encrypted, with the parameters drawn for it.
enum Encryption {
    /// PBES2: PBKDF2-HMAC-SHA256 over the password's UTF-8 bytes, AES-256-CBC.
    Pbes2(pbes2::Parameters),
    /// **Insecure legacy**: `pbeWithSHAAnd3-KeyTripleDES-CBC` (RFC 7292, appendix C): key
    /// and IV from the PKCS#12 KDF over SHA-1 (no crate implements this PBE).
    TripleDes(Pkcs12PbeParams),
}

impl Encryption {
    fn draw(
        profile: PfxEncryption,
        policy: &ExportPolicy,
        rng: &mut dyn RandomSource,
    ) -> Result<Self, Error> {
        Ok(match profile {
            PfxEncryption::TripleDesSha1 => Encryption::TripleDes(Pkcs12PbeParams {
                salt: OctetString::new(draw(rng, policy.legacy_salt_len())?).map_err(der_error)?,
                iterations: to_i32(policy.legacy_iterations())?,
            }),
            PfxEncryption::Aes256Sha256 | PfxEncryption::Aes256Sha256Pbmac1 => {
                Encryption::Pbes2(draw_pbes2(rng, policy)?)
            }
        })
    }

    /// The derivations of this encryption's key (and IV) into `out`.
    fn derivations<'a>(
        &'a self,
        password: &Passwords<'a>,
        out: &'a mut Derived,
    ) -> Result<Vec<(Kdf<'a>, &'a mut [u8])>, Error> {
        Ok(match self {
            Encryption::Pbes2(params) => {
                vec![(pbes2_kdf(params, password.utf8)?, &mut out.key[..])]
            }
            Encryption::TripleDes(params) => {
                let iterations = to_u32(params.iterations)?;
                let params = Params {
                    password: password.bmp,
                    salt: params.salt.as_bytes(),
                    iterations,
                };
                vec![
                    (
                        Kdf::Pkcs12Sha1(params, Diversifier::Key),
                        &mut out.key[..24],
                    ),
                    (Kdf::Pkcs12Sha1(params, Diversifier::Iv), &mut out.iv[..]),
                ]
            }
        })
    }

    fn algorithm(&self) -> Result<AlgorithmIdentifierOwned, Error> {
        match self {
            Encryption::Pbes2(params) => pbes2_algorithm(params),
            Encryption::TripleDes(params) => Ok(AlgorithmIdentifierOwned {
                oid: pkcs12::PKCS_12_PBE_WITH_SHAAND3_KEY_TRIPLE_DES_CBC,
                parameters: Some(Any::encode_from(params).map_err(der_error)?),
            }),
        }
    }

    fn encrypt(&self, derived: &Derived, plaintext: &[u8]) -> Result<Vec<u8>, Error> {
        match self {
            Encryption::Pbes2(params) => pbes2_encrypt(params, &derived.key, plaintext),
            Encryption::TripleDes(_) => {
                use des::cipher::{BlockModeEncrypt, KeyIvInit, block_padding::Pkcs7};
                let cipher = cbc::Encryptor::<des::TdesEde3>::new_from_slices(
                    &derived.key[..24],
                    &derived.iv[..],
                )
                .map_err(|_| internal("the 3DES key cannot be set"))?;
                Ok(cipher.encrypt_padded_vec::<Pkcs7>(plaintext))
            }
        }
    }
}

/// `id-PBMAC1` (RFC 8018, appendix A.5).
const ID_PBMAC1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.5.14");

/// The `macSalt` of a MacData whose MAC is PBMAC1: RFC 9879 (section 4) has readers ignore
/// `macSalt` and `iterations` and writers put this string and 1 there (1 is the DEFAULT,
/// so DER leaves it out).
const PBMAC1_MAC_SALT: &[u8] = b"NOT USED";

/// The PBMAC1 parameters (RFC 8018, appendix A.5), which no crate defines:
///
/// ```text
/// PBMAC1-params ::= SEQUENCE {
///     keyDerivationFunc AlgorithmIdentifier {{PBMAC1-KDFs}},
///     messageAuthScheme AlgorithmIdentifier {{PBMAC1-MACs}} }
/// ```
#[derive(Sequence)]
struct Pbmac1Params {
    key_derivation_func: pbes2::Kdf,
    message_auth_scheme: AlgorithmIdentifierOwned,
}

/// How the AuthenticatedSafe is authenticated, with the parameters drawn for it.
enum Authentication {
    /// HMAC keyed by the PKCS#12 KDF (ID 3) over the HMAC's hash (RFC 7292, appendix B).
    Pkcs12 {
        /// SHA-256 or (legacy) SHA-1.
        digest: ObjectIdentifier,
        salt: OctetString,
        iterations: i32,
    },
    /// PBMAC1 (RFC 9879): HMAC-SHA256 keyed by PBKDF2-HMAC-SHA256 over the password's
    /// UTF-8 bytes, with an explicit key length of 32.
    Pbmac1(pbes2::Pbkdf2Params),
}

impl Authentication {
    fn draw(
        profile: PfxEncryption,
        policy: &ExportPolicy,
        rng: &mut dyn RandomSource,
    ) -> Result<Self, Error> {
        let (digest, salt_len, iterations) = match profile {
            PfxEncryption::TripleDesSha1 => (
                rfc5912::ID_SHA_1,
                policy.legacy_salt_len(),
                policy.legacy_iterations(),
            ),
            PfxEncryption::Aes256Sha256Pbmac1 => {
                let salt = draw(rng, policy.pbkdf2_salt_len())?;
                return Ok(Authentication::Pbmac1(pbes2::Pbkdf2Params {
                    salt: pbes2::Salt::new(salt).map_err(|_| internal("the salt is too long"))?,
                    iteration_count: policy.mac_iterations(),
                    key_length: Some(32),
                    prf: pbes2::Pbkdf2Prf::HmacWithSha256,
                }));
            }
            PfxEncryption::Aes256Sha256 => (
                rfc5912::ID_SHA_256,
                policy.mac_salt_len(),
                policy.mac_iterations(),
            ),
        };
        Ok(Authentication::Pkcs12 {
            digest,
            salt: OctetString::new(draw(rng, salt_len)?).map_err(der_error)?,
            iterations: to_i32(iterations)?,
        })
    }

    /// The derivation of the MAC key into `out`.
    fn derivation<'a>(
        &'a self,
        password: &Passwords<'a>,
        out: &'a mut Derived,
    ) -> Result<(Kdf<'a>, &'a mut [u8]), Error> {
        let (digest, salt, iterations) = match self {
            Authentication::Pkcs12 {
                digest,
                salt,
                iterations,
            } => (digest, salt.as_bytes(), to_u32(*iterations)?),
            Authentication::Pbmac1(params) => {
                let kdf = Kdf::Pbkdf2Sha256(Params {
                    password: password.utf8,
                    salt: params.salt.as_bytes(),
                    iterations: params.iteration_count,
                });
                return Ok((kdf, &mut out.key[..]));
            }
        };
        let params = Params {
            password: password.bmp,
            salt,
            iterations,
        };
        Ok(if *digest == rfc5912::ID_SHA_1 {
            (
                Kdf::Pkcs12Sha1(params, Diversifier::Mac),
                &mut out.key[..20],
            )
        } else {
            (
                Kdf::Pkcs12Sha256(params, Diversifier::Mac),
                &mut out.key[..],
            )
        })
    }

    /// The MacData of `auth_safe` (the AuthenticatedSafe's DER), keyed by `derived`.
    fn mac_data(&self, derived: &Derived, auth_safe: &[u8]) -> Result<MacData, Error> {
        let (algorithm, mac, mac_salt, iterations) = match self {
            Authentication::Pkcs12 {
                digest,
                salt,
                iterations,
            } => {
                let mac = if *digest == rfc5912::ID_SHA_1 {
                    hmac::<Sha1>(&derived.key[..20], auth_safe)?
                } else {
                    hmac::<Sha256>(&derived.key[..], auth_safe)?
                };
                let algorithm = AlgorithmIdentifierOwned {
                    oid: *digest,
                    parameters: Some(Any::null()),
                };
                (algorithm, mac, salt.clone(), *iterations)
            }
            Authentication::Pbmac1(params) => {
                let params = Pbmac1Params {
                    key_derivation_func: pbes2::Kdf::Pbkdf2(*params),
                    message_auth_scheme: AlgorithmIdentifierOwned {
                        oid: pbes2::HMAC_WITH_SHA256_OID,
                        parameters: Some(Any::null()),
                    },
                };
                let algorithm = AlgorithmIdentifierOwned {
                    oid: ID_PBMAC1,
                    parameters: Some(Any::encode_from(&params).map_err(der_error)?),
                };
                let mac = hmac::<Sha256>(&derived.key[..], auth_safe)?;
                let salt = OctetString::new(PBMAC1_MAC_SALT).map_err(der_error)?;
                (algorithm, mac, salt, 1)
            }
        };
        Ok(MacData {
            mac: DigestInfo {
                algorithm,
                digest: OctetString::new(mac).map_err(der_error)?,
            },
            mac_salt,
            iterations,
        })
    }
}

fn hmac<D>(key: &[u8], message: &[u8]) -> Result<Vec<u8>, Error>
where
    hmac::Hmac<D>: KeyInit + Mac,
    D: hmac::digest::block_api::EagerHash,
{
    let mut mac = <hmac::Hmac<D> as KeyInit>::new_from_slice(key)
        .map_err(|_| internal("the MAC key cannot be set"))?;
    mac.update(message);
    Ok(mac.finalize().into_bytes().to_vec())
}

/// The friendlyName: the one asked for, else the leaf's subject CN (when it is a valid
/// name), else `certificate-<id>`.
fn friendly_name(request: &DownloadRequest, material: &CheckedMaterial) -> FriendlyName {
    if let Some(name) = request.friendly_name() {
        return name.clone();
    }
    material
        .leaf
        .common_name()
        .and_then(|cn| FriendlyName::new(cn).ok())
        .unwrap_or_else(|| FriendlyName::for_id(request.id()))
}

fn attribute(oid: ObjectIdentifier, value: Any) -> Result<Attribute, Error> {
    Ok(Attribute {
        oid,
        values: SetOfVec::try_from(vec![value]).map_err(der_error)?,
    })
}

/// friendlyName and localKeyId (the SHA-1 of the leaf's DER), for the key bag and the
/// leaf's cert bag.
fn leaf_attributes(name: &FriendlyName, leaf: &[u8]) -> Result<Attributes, Error> {
    // A FriendlyName has no character beyond U+FFFF, so it is a BMPString.
    let name = BmpString::from_utf8(name.as_str()).map_err(der_error)?;
    let local_key_id = OctetString::new(Sha1::digest(leaf).to_vec()).map_err(der_error)?;
    SetOfVec::try_from(vec![
        attribute(
            rfc2985::PKCS_9_AT_FRIENDLY_NAME,
            Any::encode_from(&name).map_err(der_error)?,
        )?,
        attribute(
            rfc2985::PKCS_9_AT_LOCAL_KEY_ID,
            Any::encode_from(&local_key_id).map_err(der_error)?,
        )?,
    ])
    .map_err(der_error)
}

/// A `data` ContentInfo: an OCTET STRING holding `der`.
fn data(der: Vec<u8>) -> Result<ContentInfo, Error> {
    Ok(ContentInfo {
        content_type: rfc5911::ID_DATA,
        content: Any::encode_from(&OctetString::new(der).map_err(der_error)?).map_err(der_error)?,
    })
}

/// The certificates' ContentInfo: an `encryptedData` holding their SafeContents.
fn certificates(
    request: &DownloadRequest,
    material: &CheckedMaterial,
    attributes: &Attributes,
    encryption: &Encryption,
    derived: &Derived,
) -> Result<ContentInfo, Error> {
    let bags = material
        .chain_for(request)
        .iter()
        .map(|cert| {
            let cert_bag = CertBag {
                cert_id: pkcs12::PKCS_12_X509_CERT_OID,
                cert_value: OctetString::new(cert.der.as_ref()).map_err(der_error)?,
            };
            Ok(SafeBag {
                bag_id: pkcs12::PKCS_12_CERT_BAG_OID,
                // The inner value's DER: SafeBag adds the [0] EXPLICIT wrapper itself.
                bag_value: cert_bag.to_der().map_err(der_error)?,
                bag_attributes: std::ptr::eq(*cert, &material.leaf).then(|| attributes.clone()),
            })
        })
        .collect::<Result<SafeContents, Error>>()?;
    let plaintext = bags.to_der().map_err(der_error)?;
    drop(bags);
    let ciphertext = encryption.encrypt(derived, &plaintext)?;
    drop(plaintext);
    let encrypted = EncryptedData {
        version: CmsVersion::V0,
        enc_content_info: EncryptedContentInfo {
            content_type: rfc5911::ID_DATA,
            content_enc_alg: encryption.algorithm()?,
            encrypted_content: Some(OctetString::new(ciphertext).map_err(der_error)?),
        },
        unprotected_attrs: None,
    };
    Ok(ContentInfo {
        content_type: rfc5911::ID_ENCRYPTED_DATA,
        content: Any::encode_from(&encrypted).map_err(der_error)?,
    })
}

/// The key's ContentInfo: a `data` SafeContents holding one pkcs8ShroudedKeyBag.
fn key(
    pkcs8: &[u8],
    attributes: Attributes,
    encryption: &Encryption,
    derived: &Derived,
) -> Result<ContentInfo, Error> {
    let bags: SafeContents = vec![SafeBag {
        bag_id: pkcs12::PKCS_12_PKCS8_KEY_BAG_OID,
        bag_value: encrypted_private_key_info(
            encryption.algorithm()?,
            encryption.encrypt(derived, pkcs8)?,
        )?,
        bag_attributes: Some(attributes),
    }];
    data(bags.to_der().map_err(der_error)?)
}

pub(super) fn encode(
    request: &DownloadRequest,
    material: &CheckedMaterial,
    password: &Password,
    pkcs8: &[u8],
    policy: &ExportPolicy,
    rng: &mut dyn RandomSource,
) -> Result<DownloadResponse, Error> {
    policy.check_request(request)?;
    let profile = request
        .pfx_encryption()
        .unwrap_or_else(|| policy.pfx_encryption());
    if !policy.can_make(profile) {
        return Err(Error::new(
            ErrorKind::PfxEncryptionUnavailable,
            "this server's export policy cannot make aes256_sha256_pbmac1 (PBMAC1 needs at \
             least 1,000 MAC iterations); ask for aes256_sha256 instead",
        ));
    }

    // Every parameter first, salts and IVs in the documented order.
    let key_encryption = Encryption::draw(profile, policy, rng)?;
    let certs_encryption = Encryption::draw(profile, policy, rng)?;
    let authentication = Authentication::draw(profile, policy, rng)?;

    // Every derivation at once.
    let bmp = password.secret_bmp();
    let passwords = Passwords {
        utf8: password.secret_utf8(),
        bmp: &bmp,
    };
    let (mut key_secret, mut certs_secret, mut mac_secret) = Default::default();
    let mut jobs = key_encryption.derivations(&passwords, &mut key_secret)?;
    jobs.extend(certs_encryption.derivations(&passwords, &mut certs_secret)?);
    jobs.push(authentication.derivation(&passwords, &mut mac_secret)?);
    derive(&mut jobs);
    drop(jobs);

    let attributes = leaf_attributes(&friendly_name(request, material), &material.leaf.der)?;
    // The AuthenticatedSafe's values go as soon as its DER is written.
    let auth_safe = {
        let certs = certificates(
            request,
            material,
            &attributes,
            &certs_encryption,
            &certs_secret,
        )?;
        let contents: AuthenticatedSafe<'_> =
            vec![certs, key(pkcs8, attributes, &key_encryption, &key_secret)?];
        contents.to_der().map_err(der_error)?
    };
    let mac_data = authentication.mac_data(&mac_secret, &auth_safe)?;
    let pfx = Pfx {
        version: pkcs12::pfx::Version::V3,
        auth_safe: data(auth_safe)?,
        mac_data: Some(mac_data),
    };
    let der = pfx.to_der().map_err(der_error)?;
    Ok(DownloadResponse::new(Format::Pfx, der, None, true))
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use der::Decode;

    use super::*;

    /// RFC 9879 appendix A.1 (RFC 9579's A.1, the same bytes): a PKCS#12 file with a
    /// PBMAC1 MAC over PBKDF2-HMAC-SHA256 and HMAC-SHA256, password "1234".
    fn rfc9879_a1() -> (Vec<u8>, MacData) {
        let text = include_str!("../../tests/fixtures/kat/rfc9879-a1.p12.b64");
        let b64: String = text.split_whitespace().collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        let pfx = Pfx::from_der(&der).expect("the RFC's file decodes");
        let auth_safe = pfx.auth_safe.content.decode_as::<OctetString>().unwrap();
        (auth_safe.as_bytes().to_vec(), pfx.mac_data.expect("a MAC"))
    }

    /// The crate's own PBMAC1 (its parameters, its PBKDF2 and its MacData) over the RFC's
    /// AuthenticatedSafe and the parameters the RFC's file carries.
    fn our_mac(auth_safe: &[u8], rfc: &MacData, password: &[u8]) -> MacData {
        let parameters = rfc.mac.algorithm.parameters.as_ref().unwrap();
        let params: Pbmac1Params = parameters.decode_as().unwrap();
        let pbes2::Kdf::Pbkdf2(kdf) = params.key_derivation_func else {
            panic!("PBKDF2")
        };
        let authentication = Authentication::Pbmac1(kdf);
        let passwords = Passwords {
            utf8: password,
            bmp: &[],
        };
        let mut derived = Derived::default();
        let mut jobs = [authentication.derivation(&passwords, &mut derived).unwrap()];
        derive(&mut jobs);
        authentication.mac_data(&derived, auth_safe).unwrap()
    }

    #[test]
    fn the_mac_of_rfc9879_a1_is_recomputed_and_encoded_as_the_rfc_encodes_it() {
        let (auth_safe, rfc) = rfc9879_a1();
        let ours = our_mac(&auth_safe, &rfc, b"1234");
        assert_eq!(
            hex(ours.mac.digest.as_bytes()),
            "7aa56d8539d702363f3bcd2eb83545c6dfa2b96970e714772d224e417f8906dd"
        );
        assert_eq!(ours.mac.digest, rfc.mac.digest);
        // The AlgorithmIdentifier as this crate writes it is the RFC's, byte for byte:
        // id-PBMAC1 { PBKDF2 { salt, 2048, keyLength 32, hmacWithSHA256 NULL },
        // hmacWithSHA256 NULL }.
        assert_eq!(
            ours.mac.algorithm.to_der().unwrap(),
            rfc.mac.algorithm.to_der().unwrap()
        );
        // macSalt "NOT USED" and iterations 1: the RFC writes the INTEGER 1 out, DER (and
        // this crate) leaves the DEFAULT out; both decode to 1.
        assert_eq!(ours.mac_salt.as_bytes(), b"NOT USED");
        assert_eq!(ours.mac_salt, rfc.mac_salt);
        assert_eq!((ours.iterations, rfc.iterations), (1, 1));
        assert!(!hex(&ours.to_der().unwrap()).ends_with("020101"));
        // Another password gives another MAC.
        let wrong = our_mac(&auth_safe, &rfc, b"12345");
        assert_ne!(wrong.mac.digest, rfc.mac.digest);
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
