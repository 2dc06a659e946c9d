//! A key encrypted to a recipient's public key instead of a password: CMS `EnvelopedData`
//! (pem, crt) and PKCS#11's `CKM_RSA_AES_KEY_WRAP` layout (kwp).
//!
//! `EnvelopedData` (RFC 5652 section 6) with the PKCS#8 `PrivateKeyInfo` as its `id-data`
//! content, encrypted with a fresh AES-256 key under AES-256-CBC (`id-aes256-CBC`, a fresh
//! 16-byte IV, PKCS#7 padding); that content key goes to the recipient
//! - RSA: as a `KeyTransRecipientInfo` (version 0, issuer and serial number) under
//!   RSAES-OAEP with SHA-256 and MGF1-SHA-256 (RFC 8017, identified as RFC 4055 does);
//! - EC: as a `KeyAgreeRecipientInfo` (version 3) of RFC 5753's
//!   `dhSinglePass-stdDH-sha*kdf-scheme`: an ephemeral key on the recipient's curve, ECDH,
//!   the ANSI X9.63 KDF over `ECC-CMS-SharedInfo` (the hash by curve as RFC 5008 pairs
//!   them: SHA-256 for P-256, SHA-384 for P-384, SHA-512 for P-521), and the content key
//!   under AES-256 key wrap (RFC 3394), the ephemeral public key as `originatorKey`.
//!
//! Why CBC `EnvelopedData` and not GCM `AuthEnvelopedData` (RFC 5083/5084): OpenSSL 3.0 and
//! BouncyCastle open both, but `AuthEnvelopedData` is unknown to OpenSSL 1.1.1, to .NET's
//! `EnvelopedCms` and to Windows' CryptoAPI, which a person's machine may still have; and
//! its tag buys no authenticity here: an unsigned message to a public key can be made by
//! anyone who has the recipient's certificate, so the sender is authenticated by the TLS
//! channel that carries the file, not by the file. The key inside is checked by whoever
//! imports it (a tampered PKCS#8 does not parse, or does not match its certificate).
//!
//! kwp: RSA-OAEP (SHA-256, MGF1-SHA-256, empty label) of a fresh AES-256 key, followed by
//! the PKCS#8 under that key with AES key wrap with padding (RFC 5649): the input of
//! `C_UnwrapKey` with `CKM_RSA_AES_KEY_WRAP`, and of Google Cloud KMS import jobs
//! (`RSA_OAEP_3072_SHA256_AES_256`, `RSA_OAEP_4096_SHA256_AES_256`), Azure Managed HSM's
//! and AWS CloudHSM's key import.

use aes::Aes256;
use aes_kw::{KwAes256, KwpAes256};
use cbc::cipher::{BlockModeEncrypt, KeyInit, KeyIvInit, block_padding::Pkcs7};
use const_oid::ObjectIdentifier;
use const_oid::db::{rfc5753, rfc5911, rfc5912};
use der::asn1::{AnyRef, BitString, OctetString, OctetStringRef, SetOfVec};
use der::{Any, Encode, Sequence};
use pkcs1::RsaOaepParams;
use pkcs12::cms::content_info::{CmsVersion, ContentInfo};
use pkcs12::cms::enveloped_data::{
    EncryptedContentInfo, EnvelopedData, KeyAgreeRecipientIdentifier, KeyAgreeRecipientInfo,
    KeyTransRecipientInfo, OriginatorIdentifierOrKey, OriginatorPublicKey, RecipientEncryptedKey,
    RecipientIdentifier, RecipientInfo, RecipientInfos,
};
use spki::{AlgorithmIdentifier, AlgorithmIdentifierOwned, AlgorithmIdentifierRef};
use zeroize::Zeroizing;

use super::{der_error, draw, internal};
use crate::error::Error;
use crate::random::{RandomError, RandomSource};
use crate::recipient::{KeyRecipient, RecipientKey};

/// The AES-256 content key, key-encryption key and kwp wrapping key length.
const AES_256_KEY: usize = 32;

/// The DER `ContentInfo` of the `EnvelopedData` that carries `pkcs8` to `recipient`.
pub(crate) fn enveloped_data(
    recipient: &KeyRecipient,
    pkcs8: &[u8],
    rng: &mut dyn RandomSource,
) -> Result<Vec<u8>, Error> {
    let mut cek = Zeroizing::new([0u8; AES_256_KEY]);
    fill(rng, cek.as_mut())?;
    let iv = draw(rng, 16)?;
    let iv_array: [u8; 16] = iv
        .as_slice()
        .try_into()
        .map_err(|_| internal("an IV of the wrong size"))?;
    let ciphertext = cbc::Encryptor::<Aes256>::new((&*cek).into(), &iv_array.into())
        .encrypt_padded_vec::<Pkcs7>(pkcs8);
    let (version, recipient_info) = match recipient.key() {
        RecipientKey::Rsa(key) => (CmsVersion::V0, key_transport(recipient, key, &cek, rng)?),
        RecipientKey::P256(key) => (
            CmsVersion::V2,
            key_agreement::<p256::NistP256, sha2::Sha256>(
                recipient,
                key,
                rfc5753::DH_SINGLE_PASS_STD_DH_SHA_256_KDF_SCHEME,
                0xFF,
                &cek,
                rng,
            )?,
        ),
        RecipientKey::P384(key) => (
            CmsVersion::V2,
            key_agreement::<p384::NistP384, sha2::Sha384>(
                recipient,
                key,
                rfc5753::DH_SINGLE_PASS_STD_DH_SHA_384_KDF_SCHEME,
                0xFF,
                &cek,
                rng,
            )?,
        ),
        RecipientKey::P521(key) => (
            CmsVersion::V2,
            key_agreement::<p521::NistP521, sha2::Sha512>(
                recipient,
                key,
                rfc5753::DH_SINGLE_PASS_STD_DH_SHA_512_KDF_SCHEME,
                0x01,
                &cek,
                rng,
            )?,
        ),
    };
    let mut recip_infos = SetOfVec::new();
    recip_infos
        .insert(recipient_info)
        .map_err(|_| internal("the recipient info cannot be encoded"))?;
    let enveloped = EnvelopedData {
        version,
        originator_info: None,
        recip_infos: RecipientInfos(recip_infos),
        encrypted_content: EncryptedContentInfo {
            content_type: rfc5911::ID_DATA,
            content_enc_alg: AlgorithmIdentifierOwned {
                oid: rfc5911::ID_AES_256_CBC,
                parameters: Some(Any::from(OctetStringRef::new(&iv).map_err(der_error)?)),
            },
            encrypted_content: Some(OctetString::new(ciphertext).map_err(der_error)?),
        },
        unprotected_attrs: None,
    };
    let content_info = ContentInfo {
        content_type: rfc5911::ID_ENVELOPED_DATA,
        content: Any::encode_from(&enveloped).map_err(der_error)?,
    };
    content_info.to_der().map_err(der_error)
}

/// kwp: RSA-OAEP-SHA-256 of a fresh AES-256 key, then `pkcs8` under it with RFC 5649.
pub(crate) fn rsa_aes_key_wrap(
    key: &rsa::PublicKey,
    pkcs8: &[u8],
    rng: &mut dyn RandomSource,
) -> Result<Vec<u8>, Error> {
    let mut kek = Zeroizing::new([0u8; AES_256_KEY]);
    fill(rng, kek.as_mut())?;
    let mut out = oaep_sha256(key, kek.as_ref(), rng)?;
    let at = out.len();
    out.resize(at + pkcs8.len().div_ceil(8) * 8 + 8, 0);
    let wrapped = KwpAes256::new((&*kek).into())
        .wrap_key(pkcs8, &mut out[at..])
        .map_err(|_| internal("the key cannot be wrapped"))?
        .len();
    out.truncate(at + wrapped);
    Ok(out)
}

/// `KeyTransRecipientInfo` for an RSA recipient: RSAES-OAEP, SHA-256 and MGF1-SHA-256.
fn key_transport(
    recipient: &KeyRecipient,
    key: &rsa::PublicKey,
    cek: &[u8; AES_256_KEY],
    rng: &mut dyn RandomSource,
) -> Result<RecipientInfo, Error> {
    let sha256 = AlgorithmIdentifierRef {
        oid: rfc5912::ID_SHA_256,
        parameters: Some(AnyRef::NULL),
    };
    let params = RsaOaepParams::<AnyRef<'_>> {
        hash: sha256,
        mask_gen: AlgorithmIdentifier {
            oid: rfc5912::ID_MGF_1,
            parameters: Some(sha256),
        },
        ..Default::default()
    };
    let encrypted = oaep_sha256(key, cek, rng)?;
    Ok(RecipientInfo::Ktri(KeyTransRecipientInfo {
        version: CmsVersion::V0,
        rid: RecipientIdentifier::IssuerAndSerialNumber(recipient.issuer_and_serial().clone()),
        key_enc_alg: AlgorithmIdentifierOwned {
            oid: rfc5912::ID_RSAES_OAEP,
            parameters: Some(Any::encode_from(&params).map_err(der_error)?),
        },
        enc_key: OctetString::new(encrypted).map_err(der_error)?,
    }))
}

/// RFC 5753 section 7.2:
///
/// ```text
/// ECC-CMS-SharedInfo ::= SEQUENCE {
///     keyInfo         AlgorithmIdentifier,
///     entityUInfo [0] EXPLICIT OCTET STRING OPTIONAL,
///     suppPubInfo [2] EXPLICIT OCTET STRING }
/// ```
///
/// `suppPubInfo` is the length of the key-encryption key in bits, 32 bits big-endian.
#[derive(Sequence)]
struct EccCmsSharedInfo<'a> {
    key_info: AlgorithmIdentifierRef<'a>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    entity_u_info: Option<&'a OctetStringRef>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT")]
    supp_pub_info: &'a OctetStringRef,
}

/// `KeyAgreeRecipientInfo` for an EC recipient on curve `C`, the X9.63 KDF over `D`.
fn key_agreement<C, D>(
    recipient: &KeyRecipient,
    key: &elliptic_curve::PublicKey<C>,
    scheme: ObjectIdentifier,
    top_mask: u8,
    cek: &[u8; AES_256_KEY],
    rng: &mut dyn RandomSource,
) -> Result<RecipientInfo, Error>
where
    C: elliptic_curve::CurveArithmetic,
    elliptic_curve::FieldBytesSize<C>: elliptic_curve::sec1::ModulusSize,
    elliptic_curve::AffinePoint<C>:
        elliptic_curve::sec1::FromSec1Point<C> + elliptic_curve::sec1::ToSec1Point<C>,
    D: digest::Digest + digest::FixedOutputReset,
{
    let ephemeral = ephemeral_secret::<C>(top_mask, rng)?;
    let shared =
        elliptic_curve::ecdh::diffie_hellman(ephemeral.to_nonzero_scalar(), key.as_affine());
    // Without parameters, as OpenSSL writes it; the readers take them from the message.
    let wrap = AlgorithmIdentifierRef {
        oid: rfc5911::ID_AES_256_WRAP,
        parameters: None,
    };
    let kek_bits = ((AES_256_KEY * 8) as u32).to_be_bytes();
    let shared_info = EccCmsSharedInfo {
        key_info: wrap,
        entity_u_info: None,
        supp_pub_info: OctetStringRef::new(&kek_bits).map_err(der_error)?,
    }
    .to_der()
    .map_err(der_error)?;
    let mut kek = Zeroizing::new([0u8; AES_256_KEY]);
    ansi_x963_kdf::derive_key_into::<D>(
        shared.raw_secret_bytes().as_slice(),
        &shared_info,
        kek.as_mut(),
    )
    .map_err(|_| internal("the key agreement's KDF failed"))?;
    let mut wrapped = vec![0u8; AES_256_KEY + 8];
    KwAes256::new((&*kek).into())
        .wrap_key(cek, &mut wrapped)
        .map_err(|_| internal("the content key cannot be wrapped"))?;
    let originator_point =
        elliptic_curve::sec1::ToSec1Point::to_sec1_point(ephemeral.public_key().as_affine(), false);
    Ok(RecipientInfo::Kari(KeyAgreeRecipientInfo {
        version: CmsVersion::V3,
        originator: OriginatorIdentifierOrKey::OriginatorKey(OriginatorPublicKey {
            // RFC 5753 section 3.1.1: id-ecPublicKey, parameters absent (the curve is the
            // recipient's).
            algorithm: AlgorithmIdentifierOwned {
                oid: rfc5912::ID_EC_PUBLIC_KEY,
                parameters: None,
            },
            public_key: BitString::from_bytes(originator_point.as_bytes()).map_err(der_error)?,
        }),
        ukm: None,
        key_enc_alg: AlgorithmIdentifierOwned {
            oid: scheme,
            parameters: Some(Any::encode_from(&wrap).map_err(der_error)?),
        },
        recipient_enc_keys: vec![RecipientEncryptedKey {
            rid: KeyAgreeRecipientIdentifier::IssuerAndSerialNumber(
                recipient.issuer_and_serial().clone(),
            ),
            enc_key: OctetString::new(wrapped).map_err(der_error)?,
        }],
    }))
}

/// A fresh ephemeral private key on `C`, drawn from `rng`: the first byte masked with
/// `top_mask` (P-521's scalar has 521 bits in 66 bytes), a draw that is no valid scalar
/// (zero, or beyond the order) drawn again.
fn ephemeral_secret<C>(
    top_mask: u8,
    rng: &mut dyn RandomSource,
) -> Result<elliptic_curve::SecretKey<C>, Error>
where
    C: elliptic_curve::CurveArithmetic,
{
    let len = elliptic_curve::FieldBytes::<C>::default().len();
    for _ in 0..64 {
        let mut bytes = Zeroizing::new(vec![0u8; len]);
        fill(rng, &mut bytes)?;
        bytes[0] &= top_mask;
        if let Ok(secret) = elliptic_curve::SecretKey::<C>::from_slice(&bytes) {
            return Ok(secret);
        }
    }
    Err(internal("the random source gave no valid ephemeral key"))
}

/// RSAES-OAEP with SHA-256, MGF1-SHA-256 and the empty label; its seed from `rng`.
fn oaep_sha256(
    key: &rsa::PublicKey,
    message: &[u8],
    rng: &mut dyn RandomSource,
) -> Result<Vec<u8>, Error> {
    let mut rng = RsaRng(rng);
    key.encrypt(&mut rng, rsa::Oaep::<sha2::Sha256>::new(), message)
        .map_err(|_| internal("the RSA-OAEP encryption failed"))
}

fn fill(rng: &mut dyn RandomSource, dest: &mut [u8]) -> Result<(), Error> {
    rng.fill(dest)
        .map_err(|e| internal("the random source failed").with_source(Box::new(e)))
}

/// The crate's random source as the `rsa` crate takes one (its OAEP seed).
struct RsaRng<'a>(&'a mut dyn RandomSource);

impl rsa::rand_core::TryRng for RsaRng<'_> {
    type Error = RandomError;

    fn try_next_u32(&mut self) -> Result<u32, RandomError> {
        let mut bytes = [0u8; 4];
        self.0.fill(&mut bytes)?;
        Ok(u32::from_le_bytes(bytes))
    }

    fn try_next_u64(&mut self) -> Result<u64, RandomError> {
        let mut bytes = [0u8; 8];
        self.0.fill(&mut bytes)?;
        Ok(u64::from_le_bytes(bytes))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), RandomError> {
        self.0.fill(dst)
    }
}

/// Every implementation of [`RandomSource`] must be cryptographically secure.
impl rsa::rand_core::TryCryptoRng for RsaRng<'_> {}
