//! Stored private keys: converted to PKCS#8 and checked against the leaf's public key.

use const_oid::ObjectIdentifier;
use const_oid::db::{rfc5912, rfc8410};
use der::asn1::{AnyRef, OctetStringRef};
use der::{Decode, Encode};
use pkcs8::PrivateKeyInfoRef;
use rustls_pki_types::PrivateKeyDer;
use spki::{AlgorithmIdentifierRef, SubjectPublicKeyInfoRef};
use zeroize::Zeroizing;

use crate::error::{Error, ErrorKind};

/// A stored key that belongs to the leaf, as PKCS#8 DER in a zeroizing buffer: the
/// store's own buffer when it is stored as PKCS#8 (no copy), else the converted key.
pub(crate) struct CheckedKey {
    pkcs8: KeyBytes,
}

enum KeyBytes {
    Stored(Zeroizing<PrivateKeyDer<'static>>),
    Converted(Zeroizing<Vec<u8>>),
}

impl CheckedKey {
    /// The PKCS#8 `PrivateKeyInfo` DER: the stored bytes exactly when stored as PKCS#8.
    pub(crate) fn secret_pkcs8_der(&self) -> &[u8] {
        match &self.pkcs8 {
            KeyBytes::Stored(k) => k.secret_der(),
            KeyBytes::Converted(k) => k,
        }
    }

    /// Converts `key` to PKCS#8 and checks that it belongs to the public key `leaf_spki`.
    pub(crate) fn check(
        key: Zeroizing<PrivateKeyDer<'static>>,
        leaf_spki: &[u8],
    ) -> Result<Self, Error> {
        let pkcs8 = match &*key {
            PrivateKeyDer::Pkcs8(_) => KeyBytes::Stored(key),
            PrivateKeyDer::Pkcs1(k) => KeyBytes::Converted(pkcs1_to_pkcs8(k.secret_pkcs1_der())?),
            PrivateKeyDer::Sec1(k) => KeyBytes::Converted(sec1_to_pkcs8(k.secret_sec1_der())?),
            _ => return Err(unsupported("a key of an unknown container")),
        };
        let this = Self { pkcs8 };
        let spki = SubjectPublicKeyInfoRef::from_der(leaf_spki).map_err(|_| {
            Error::new(
                ErrorKind::InvalidCertificate,
                "the stored certificate's public key cannot be read",
            )
        })?;
        check_pair(this.secret_pkcs8_der(), &spki)?;
        Ok(this)
    }
}

fn invalid() -> Error {
    Error::new(
        ErrorKind::InvalidKey,
        "the stored private key cannot be read",
    )
}

fn unsupported(what: &str) -> Error {
    Error::new(
        ErrorKind::UnsupportedKey,
        format!(
            "the stored private key is {what}; supported keys are RSA, EC P-256/P-384/P-521 \
             and Ed25519"
        ),
    )
}

fn mismatch() -> Error {
    Error::new(
        ErrorKind::KeyMismatch,
        "the stored private key does not belong to the stored certificate",
    )
}

/// Encodes `value` into a zeroizing buffer of its exact size, so no copy is left behind.
fn to_der_zeroizing(value: &impl Encode) -> Result<Zeroizing<Vec<u8>>, Error> {
    let len = value
        .encoded_len()
        .and_then(usize::try_from)
        .map_err(|_| invalid())?;
    let mut buf = Zeroizing::new(vec![0u8; len]);
    value.encode_to_slice(&mut buf).map_err(|_| invalid())?;
    Ok(buf)
}

fn pkcs1_to_pkcs8(pkcs1: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
    let info = PrivateKeyInfoRef::new(
        AlgorithmIdentifierRef {
            oid: rfc5912::RSA_ENCRYPTION,
            parameters: Some(AnyRef::NULL),
        },
        OctetStringRef::new(pkcs1).map_err(|_| invalid())?,
    );
    to_der_zeroizing(&info)
}

/// As OpenSSL does: the curve moves to the PKCS#8 algorithm, the inner key keeps its
/// private scalar and public point.
fn sec1_to_pkcs8(sec1_der: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
    let ec = sec1::EcPrivateKey::from_der(sec1_der).map_err(|_| invalid())?;
    let curve = ec
        .parameters
        .and_then(|p| p.named_curve())
        .ok_or_else(|| unsupported("an EC key without a named curve"))?;
    let inner = sec1::EcPrivateKey {
        private_key: ec.private_key,
        parameters: None,
        public_key: ec.public_key,
    };
    let inner = to_der_zeroizing(&inner)?;
    let info = PrivateKeyInfoRef::new(
        AlgorithmIdentifierRef {
            oid: rfc5912::ID_EC_PUBLIC_KEY,
            parameters: Some(AnyRef::from(&curve)),
        },
        OctetStringRef::new(&inner).map_err(|_| invalid())?,
    );
    to_der_zeroizing(&info)
}

fn is_rsa(oid: ObjectIdentifier) -> bool {
    oid == rfc5912::RSA_ENCRYPTION || oid == rfc5912::ID_RSASSA_PSS
}

/// Whether the PKCS#8 key `pkcs8` is the private half of the leaf's `spki`: a key that
/// does not decode is invalid, one of another algorithm or value a mismatch.
fn check_pair(pkcs8: &[u8], spki: &SubjectPublicKeyInfoRef<'_>) -> Result<(), Error> {
    let info = PrivateKeyInfoRef::from_der(pkcs8).map_err(|_| invalid())?;
    let key_oid = info.algorithm.oid;
    let leaf_oid = spki.algorithm.oid;
    let leaf_point = spki.subject_public_key.as_bytes().ok_or_else(mismatch)?;
    if is_rsa(key_oid) {
        if !is_rsa(leaf_oid) {
            return Err(mismatch());
        }
        rsa_pair(&info, leaf_point)
    } else if key_oid == rfc5912::ID_EC_PUBLIC_KEY {
        if leaf_oid != rfc5912::ID_EC_PUBLIC_KEY {
            return Err(mismatch());
        }
        ec_pair(&info, spki, leaf_point)
    } else if key_oid == rfc8410::ID_ED_25519 {
        if leaf_oid != rfc8410::ID_ED_25519 {
            return Err(mismatch());
        }
        ed25519_pair(&info, leaf_point)
    } else if key_oid == rfc8410::ID_ED_448 {
        Err(unsupported("an Ed448 key"))
    } else if key_oid == rfc8410::ID_X_25519 || key_oid == rfc8410::ID_X_448 {
        Err(unsupported("an X25519 or X448 key"))
    } else {
        Err(unsupported("of an unsupported algorithm"))
    }
}

/// An RSA key: its modulus and public exponent are the leaf's.
fn rsa_pair(info: &PrivateKeyInfoRef<'_>, leaf_point: &[u8]) -> Result<(), Error> {
    let private =
        pkcs1::RsaPrivateKey::<der::asn1::UintRef<'_>>::from_der(info.private_key.as_bytes())
            .map_err(|_| invalid())?;
    let public = pkcs1::RsaPublicKey::<der::asn1::UintRef<'_>>::from_der(leaf_point)
        .map_err(|_| mismatch())?;
    let derived = private.public_key();
    if derived.modulus.as_bytes() != public.modulus.as_bytes()
        || derived.public_exponent.as_bytes() != public.public_exponent.as_bytes()
    {
        return Err(mismatch());
    }
    Ok(())
}

/// An EC key: on the leaf's curve (named in the PKCS#8 algorithm or the SEC 1 key), its
/// public point the leaf's (and the one it embeds, if any).
fn ec_pair(
    info: &PrivateKeyInfoRef<'_>,
    spki: &SubjectPublicKeyInfoRef<'_>,
    leaf_point: &[u8],
) -> Result<(), Error> {
    let ec = sec1::EcPrivateKey::from_der(info.private_key.as_bytes()).map_err(|_| invalid())?;
    let key_curve = match info.algorithm.parameters {
        Some(p) => Some(p.decode_as::<ObjectIdentifier>().map_err(|_| invalid())?),
        None => None,
    }
    .or_else(|| ec.parameters.and_then(|p| p.named_curve()))
    .ok_or_else(|| unsupported("an EC key without a named curve"))?;
    let leaf_curve = spki
        .algorithm
        .parameters
        .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
        .ok_or_else(mismatch)?;
    if key_curve != leaf_curve {
        return Err(mismatch());
    }
    let embedded = ec.public_key.or(info.public_key.and_then(|b| b.as_bytes()));
    match key_curve {
        c if c == rfc5912::SECP_256_R_1 => {
            ec_matches::<p256::NistP256>(ec.private_key, embedded, leaf_point)
        }
        c if c == rfc5912::SECP_384_R_1 => {
            ec_matches::<p384::NistP384>(ec.private_key, embedded, leaf_point)
        }
        c if c == rfc5912::SECP_521_R_1 => {
            ec_matches::<p521::NistP521>(ec.private_key, embedded, leaf_point)
        }
        _ => Err(unsupported(
            "an EC key on a curve other than P-256, P-384, P-521",
        )),
    }
}

/// An Ed25519 key: the public key its seed gives is the leaf's (and the one it embeds, if
/// any).
fn ed25519_pair(info: &PrivateKeyInfoRef<'_>, leaf_point: &[u8]) -> Result<(), Error> {
    let seed = <&OctetStringRef>::from_der(info.private_key.as_bytes()).map_err(|_| invalid())?;
    let seed: &[u8; 32] = seed.as_bytes().try_into().map_err(|_| invalid())?;
    let mut seed = Zeroizing::new(*seed);
    let signing = ed25519_dalek::SigningKey::from_bytes(&seed);
    seed.iter_mut().for_each(|b| *b = 0);
    let derived = signing.verifying_key().to_bytes();
    if let Some(embedded) = info.public_key.and_then(|b| b.as_bytes())
        && embedded != derived
    {
        return Err(invalid());
    }
    if leaf_point != derived {
        return Err(mismatch());
    }
    Ok(())
}

fn ec_matches<C>(scalar: &[u8], embedded: Option<&[u8]>, leaf_point: &[u8]) -> Result<(), Error>
where
    C: elliptic_curve::CurveArithmetic,
    elliptic_curve::FieldBytesSize<C>: elliptic_curve::sec1::ModulusSize,
    elliptic_curve::AffinePoint<C>:
        elliptic_curve::sec1::FromSec1Point<C> + elliptic_curve::sec1::ToSec1Point<C>,
{
    let secret = elliptic_curve::SecretKey::<C>::from_slice(scalar).map_err(|_| invalid())?;
    let derived = secret.public_key();
    if let Some(embedded) = embedded {
        let embedded =
            elliptic_curve::PublicKey::<C>::from_sec1_bytes(embedded).map_err(|_| invalid())?;
        if embedded != derived {
            return Err(invalid());
        }
    }
    let leaf =
        elliptic_curve::PublicKey::<C>::from_sec1_bytes(leaf_point).map_err(|_| mismatch())?;
    if leaf != derived {
        return Err(mismatch());
    }
    Ok(())
}
