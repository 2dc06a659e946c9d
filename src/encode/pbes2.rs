//! PBES2 (RFC 8018) as every format with an encrypted key writes it: PBKDF2-HMAC-SHA256
//! with the PRF written out and no keyLength, then AES-256-CBC; and the PKCS#8
//! `EncryptedPrivateKeyInfo` that carries a key so encrypted (pem, crt, and the pfx key
//! bag).

use aes::cipher::{BlockModeEncrypt, KeyIvInit, block_padding::Pkcs7};
use der::Encode;
use der::asn1::{Any, OctetString};
use pkcs5::pbes2;
use pkcs12::pbe_params::EncryptedPrivateKeyInfo;
use spki::AlgorithmIdentifierOwned;
use zeroize::Zeroizing;

use super::{der_error, derive, draw, internal};
use crate::error::Error;
use crate::kdf::{Kdf, Params};
use crate::policy::ExportPolicy;
use crate::random::RandomSource;
use crate::request::Password;

/// The PBES2 parameters of one encryption (PBKDF2-HMAC-SHA256 with the PRF written out,
/// no keyLength, AES-256-CBC), with a salt and then an IV drawn from `rng`.
pub(super) fn draw_pbes2(
    rng: &mut dyn RandomSource,
    policy: &ExportPolicy,
) -> Result<pbes2::Parameters, Error> {
    let salt = draw(rng, policy.pbkdf2_salt_len())?;
    let iv = draw(rng, 16)?
        .try_into()
        .map_err(|_| internal("the IV was miscounted"))?;
    pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(policy.pbkdf2_iterations(), &salt, iv)
        .map_err(|_| internal("the PBES2 parameters cannot be built"))
}

/// The derivation of the key of a PBES2 encryption: PBKDF2 over the password's UTF-8
/// bytes, with the parameters' salt and iteration count.
pub(super) fn pbes2_kdf<'a>(
    params: &'a pbes2::Parameters,
    password_utf8: &'a [u8],
) -> Result<Kdf<'a>, Error> {
    let pbkdf2 = params
        .kdf
        .pbkdf2()
        .ok_or_else(|| internal("the PBES2 parameters are not PBKDF2"))?;
    Ok(Kdf::Pbkdf2Sha256(Params {
        password: password_utf8,
        salt: pbkdf2.salt.as_bytes(),
        iterations: pbkdf2.iteration_count,
    }))
}

/// AES-256-CBC with the parameters' IV and PKCS#7 padding.
pub(super) fn pbes2_encrypt(
    params: &pbes2::Parameters,
    key: &[u8; 32],
    plaintext: &[u8],
) -> Result<Vec<u8>, Error> {
    let pbes2::EncryptionScheme::Aes256Cbc { iv } = &params.encryption else {
        return Err(internal("the PBES2 parameters are not AES-256-CBC"));
    };
    Ok(cbc::Encryptor::<aes::Aes256>::new(key.into(), iv.into())
        .encrypt_padded_vec::<Pkcs7>(plaintext))
}

/// The AlgorithmIdentifier `id-PBES2` with these parameters.
pub(super) fn pbes2_algorithm(
    params: &pbes2::Parameters,
) -> Result<AlgorithmIdentifierOwned, Error> {
    Ok(AlgorithmIdentifierOwned {
        oid: pbes2::PBES2_OID,
        parameters: Some(Any::encode_from(params).map_err(der_error)?),
    })
}

/// The DER `EncryptedPrivateKeyInfo` (RFC 5208) of a key encrypted under `algorithm`.
pub(super) fn encrypted_private_key_info(
    algorithm: AlgorithmIdentifierOwned,
    ciphertext: Vec<u8>,
) -> Result<Vec<u8>, Error> {
    EncryptedPrivateKeyInfo {
        encryption_algorithm: algorithm,
        encrypted_data: OctetString::new(ciphertext).map_err(der_error)?,
    }
    .to_der()
    .map_err(der_error)
}

/// The DER `EncryptedPrivateKeyInfo` of a PKCS#8 key, PBES2-encrypted: draws the salt and
/// the IV (in that order), derives the key, encrypts.
pub(super) fn encrypt_private_key(
    pkcs8: &[u8],
    password: &Password,
    policy: &ExportPolicy,
    rng: &mut dyn RandomSource,
) -> Result<Vec<u8>, Error> {
    let params = draw_pbes2(rng, policy)?;
    let mut key = Zeroizing::new([0u8; 32]);
    derive(&mut [(pbes2_kdf(&params, password.secret_utf8())?, &mut key[..])]);
    let ciphertext = pbes2_encrypt(&params, &key, pkcs8)?;
    encrypted_private_key_info(pbes2_algorithm(&params)?, ciphertext)
}
