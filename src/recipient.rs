//! The recipient of a key delivered without a password: an X.509 certificate whose public
//! key the private key is encrypted to.
//!
//! A password travels beside the file it protects, over the same channel, and then guards
//! the file with whatever a person typed. A recipient's certificate holds no secret: the
//! key leaves encrypted to a private key that never came near this crate (a person's
//! smart card, an HSM's or cloud KMS's import key). The certificate is read here, once,
//! when the request is parsed, so that a request that exists can be served: its public key
//! is RSA (2048 to 8192 bits) or EC on P-256, P-384 or P-521, and it names the recipient
//! (issuer and serial number) as CMS does.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use const_oid::db::rfc5912;
use der::asn1::UintRef;
use der::{Decode, Encode};
use pkcs12::cms::cert::IssuerAndSerialNumber;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use sha2::{Digest, Sha256};
use x509_cert::Certificate;

use crate::error::{Error, ErrorKind};

/// The largest recipient certificate accepted, in bytes of DER (16 KiB; an 8192-bit RSA
/// certificate is about 1.5 KiB).
pub const MAX_KEY_RECIPIENT_BYTES: usize = 16 * 1024;

/// The smallest RSA recipient key, in bits (NIST SP 800-131A's floor).
pub const MIN_RECIPIENT_RSA_BITS: u32 = 2048;

/// The largest RSA recipient key, in bits.
pub const MAX_RECIPIENT_RSA_BITS: u32 = 8192;

/// The type of a recipient's public key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RecipientKeyType {
    /// RSA, with its modulus size in bits.
    Rsa {
        /// The modulus size in bits.
        bits: u32,
    },
    /// EC on NIST P-256.
    P256,
    /// EC on NIST P-384.
    P384,
    /// EC on NIST P-521.
    P521,
}

impl fmt::Display for RecipientKeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecipientKeyType::Rsa { bits } => write!(f, "RSA {bits}"),
            RecipientKeyType::P256 => f.write_str("EC P-256"),
            RecipientKeyType::P384 => f.write_str("EC P-384"),
            RecipientKeyType::P521 => f.write_str("EC P-521"),
        }
    }
}

/// The public key of a recipient, ready to encrypt to.
#[derive(Clone)]
pub(crate) enum RecipientKey {
    Rsa(rsa::PublicKey),
    P256(p256::PublicKey),
    P384(p384::PublicKey),
    P521(p521::PublicKey),
}

/// The certificate of the recipient a key is encrypted to (`key_recipient`), read and
/// checked: RSA from 2048 to 8192 bits, or EC on P-256, P-384 or P-521.
///
/// Built from the request's `key_recipient` field by the JSON parser, or by a host with
/// [`from_der`](Self::from_der) or [`from_pem_or_base64`](Self::from_pem_or_base64):
///
/// ```
/// use cert_download::KeyRecipient;
///
/// let refused = KeyRecipient::from_pem_or_base64("not a certificate").unwrap_err();
/// assert_eq!(refused.code(), "invalid_key_recipient");
/// ```
#[derive(Clone)]
pub struct KeyRecipient {
    der: Vec<u8>,
    issuer_and_serial: IssuerAndSerialNumber,
    key: RecipientKey,
    key_type: RecipientKeyType,
    fingerprint: [u8; 32],
}

fn unreadable(why: &str) -> Error {
    Error::new(
        ErrorKind::InvalidKeyRecipient,
        format!("key_recipient must be an X.509 certificate in PEM or Base64 DER: {why}"),
    )
}

fn unsupported(what: &str) -> Error {
    Error::new(
        ErrorKind::UnsupportedKeyRecipient,
        format!(
            "the key_recipient certificate's public key is {what}; supported are RSA from \
             {MIN_RECIPIENT_RSA_BITS} to {MAX_RECIPIENT_RSA_BITS} bits and EC P-256, P-384, P-521"
        ),
    )
}

fn too_large() -> Error {
    Error::new(
        ErrorKind::KeyRecipientTooLarge,
        format!("the key_recipient certificate is larger than {MAX_KEY_RECIPIENT_BYTES} bytes"),
    )
}

impl KeyRecipient {
    /// Reads a recipient certificate given as text: one PEM `CERTIFICATE` block, or the
    /// Base64 (standard alphabet, padded; whitespace ignored) of its DER.
    pub fn from_pem_or_base64(text: &str) -> Result<Self, Error> {
        let text = text.trim();
        // Base64 of the largest DER, with room for line breaks and PEM armour.
        if text.len() > MAX_KEY_RECIPIENT_BYTES / 3 * 4 * 2 {
            return Err(too_large());
        }
        if text.starts_with("-----BEGIN") {
            let der = CertificateDer::from_pem_slice(text.as_bytes())
                .map_err(|_| unreadable("no readable CERTIFICATE block"))?;
            return Self::from_der(&der);
        }
        let compact: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        let der = STANDARD
            .decode(&compact)
            .map_err(|_| unreadable("neither a PEM block nor Base64"))?;
        Self::from_der(&der)
    }

    /// Reads a recipient certificate from its DER.
    pub fn from_der(der: &[u8]) -> Result<Self, Error> {
        if der.len() > MAX_KEY_RECIPIENT_BYTES {
            return Err(too_large());
        }
        let cert = Certificate::from_der(der).map_err(|_| unreadable("it does not parse"))?;
        let tbs = cert.tbs_certificate();
        let spki = tbs.subject_public_key_info();
        let point = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| unreadable("its public key is not a whole number of bytes"))?;
        let oid = spki.algorithm.oid;
        let (key, key_type) = if oid == rfc5912::RSA_ENCRYPTION {
            rsa_key(point)?
        } else if oid == rfc5912::ID_EC_PUBLIC_KEY {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as::<const_oid::ObjectIdentifier>().ok())
                .ok_or_else(|| unsupported("EC without a named curve"))?;
            let bad_point = || unreadable("its EC public key is not a point on its curve");
            match curve {
                c if c == rfc5912::SECP_256_R_1 => (
                    RecipientKey::P256(
                        p256::PublicKey::from_sec1_bytes(point).map_err(|_| bad_point())?,
                    ),
                    RecipientKeyType::P256,
                ),
                c if c == rfc5912::SECP_384_R_1 => (
                    RecipientKey::P384(
                        p384::PublicKey::from_sec1_bytes(point).map_err(|_| bad_point())?,
                    ),
                    RecipientKeyType::P384,
                ),
                c if c == rfc5912::SECP_521_R_1 => (
                    RecipientKey::P521(
                        p521::PublicKey::from_sec1_bytes(point).map_err(|_| bad_point())?,
                    ),
                    RecipientKeyType::P521,
                ),
                _ => return Err(unsupported("EC on a curve other than P-256, P-384, P-521")),
            }
        } else if oid == rfc5912::ID_RSASSA_PSS {
            return Err(unsupported(
                "RSASSA-PSS, a signing-only key that must not decrypt",
            ));
        } else if oid == const_oid::db::rfc8410::ID_ED_25519
            || oid == const_oid::db::rfc8410::ID_ED_448
        {
            return Err(unsupported("Ed25519 or Ed448, a signing-only key"));
        } else {
            return Err(unsupported("of an unsupported algorithm"));
        };
        let issuer_and_serial = IssuerAndSerialNumber {
            issuer: tbs.issuer().clone(),
            serial_number: tbs.serial_number().clone(),
        };
        // The recipient identifier must encode (it goes into every CMS file).
        issuer_and_serial
            .to_der()
            .map_err(|_| unreadable("its issuer and serial number cannot be encoded"))?;
        Ok(Self {
            der: der.to_vec(),
            issuer_and_serial,
            key,
            key_type,
            fingerprint: Sha256::digest(der).into(),
        })
    }

    /// The certificate's DER.
    pub fn certificate_der(&self) -> &[u8] {
        &self.der
    }

    /// The SHA-256 of the certificate's DER: what an audit row records (as
    /// `openssl x509 -fingerprint -sha256` prints it, in hex).
    pub fn sha256_fingerprint(&self) -> [u8; 32] {
        self.fingerprint
    }

    /// The type (and for RSA the size) of the recipient's public key.
    pub fn key_type(&self) -> RecipientKeyType {
        self.key_type
    }

    pub(crate) fn key(&self) -> &RecipientKey {
        &self.key
    }

    pub(crate) fn issuer_and_serial(&self) -> &IssuerAndSerialNumber {
        &self.issuer_and_serial
    }
}

/// An RSA public key of a supported size.
fn rsa_key(pkcs1: &[u8]) -> Result<(RecipientKey, RecipientKeyType), Error> {
    let parts = pkcs1::RsaPublicKey::<UintRef<'_>>::from_der(pkcs1)
        .map_err(|_| unreadable("its RSA public key does not parse"))?;
    let modulus = parts.modulus.as_bytes();
    let bits = modulus.first().map_or(0, |top| {
        (modulus.len() as u32 - 1) * 8 + (8 - top.leading_zeros())
    });
    if bits < MIN_RECIPIENT_RSA_BITS {
        return Err(Error::new(
            ErrorKind::KeyRecipientTooSmall,
            format!(
                "the key_recipient certificate's RSA key has {bits} bits; at least \
                 {MIN_RECIPIENT_RSA_BITS} are required"
            ),
        ));
    }
    if bits > MAX_RECIPIENT_RSA_BITS {
        return Err(unsupported(&format!("RSA of {bits} bits")));
    }
    let key = rsa::PublicKey::try_from(parts)
        .map_err(|_| unreadable("its RSA public key is not a valid key"))?;
    Ok((RecipientKey::Rsa(key), RecipientKeyType::Rsa { bits }))
}

impl fmt::Debug for KeyRecipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex: String = self
            .fingerprint
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        f.debug_struct("KeyRecipient")
            .field("key_type", &self.key_type)
            .field("sha256_fingerprint", &hex)
            .finish()
    }
}
