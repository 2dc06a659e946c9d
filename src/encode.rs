//! Encoding a checked credential into the file asked for, and the PBES2 encryption the
//! formats share.
//!
//! Every ASN.1 structure is a value of its type from `der`, `spki`, `pkcs5`, `pkcs12` and
//! the `cms` types `pkcs12` re-exports; writing a file is building those values and calling
//! `to_der()`. The password-based key derivations, where nearly all the time goes, are
//! `crate::kdf`'s: the parameters a file carries are drawn first, then every derivation the
//! file needs runs at once, fed from those parameters, and the derived keys encrypt.

use aes::cipher::{BlockModeEncrypt, KeyIvInit, block_padding::Pkcs7};
use der::Encode;
use der::asn1::{Any, OctetString};
use pkcs5::pbes2;
use pkcs12::pbe_params::EncryptedPrivateKeyInfo;
use spki::AlgorithmIdentifierOwned;
use zeroize::Zeroizing;

use crate::credential::Credential;
use crate::error::{Error, ErrorKind};
use crate::kdf::{self, Kdf, Params};
use crate::policy::ExportPolicy;
use crate::random::RandomSource;
use crate::request::{DownloadRequest, Format, Password};
use crate::response::DownloadResponse;

mod crt;
mod p7b;
mod pem;
mod pfx;

pub(crate) fn internal(what: &'static str) -> Error {
    Error::new(ErrorKind::Internal, what)
}

/// A value that `der` cannot encode (a length beyond its limits): nothing a caller can fix.
pub(crate) fn der_error(_: der::Error) -> Error {
    internal("the file cannot be encoded")
}

/// Encodes `credential` as `request` asks, with `policy`'s parameters and salts and IVs
/// from `rng`.
pub(crate) fn encode(
    request: &DownloadRequest,
    credential: &Credential,
    policy: &ExportPolicy,
    rng: &mut dyn RandomSource,
) -> Result<DownloadResponse, Error> {
    let key = match (request.password(), credential.key.as_ref()) {
        (Some(password), Some(key)) => Some((password, key.secret_pkcs8_der())),
        (None, _) => None,
        (Some(_), None) => return Err(internal("the key was not loaded")),
    };
    match request.format() {
        Format::Crt => crt::encode(credential, key, policy, rng),
        Format::Pem => pem::encode(request, credential, key, policy, rng),
        Format::Pfx => {
            let (password, pkcs8) = key.ok_or_else(|| internal("a pfx needs the key"))?;
            pfx::encode(request, credential, password, pkcs8, policy, rng)
        }
        Format::P7b => match key {
            None => p7b::encode(&credential.chain_for(request)),
            Some(_) => Err(Error::new(
                ErrorKind::KeyNotSupported,
                crate::request::P7B_CANNOT_CARRY_A_KEY,
            )),
        },
    }
}

/// Runs the derivations a file needs: interleaved on this thread, or with the
/// `parallel-kdf` feature split over two threads when that pays.
pub(crate) fn derive(jobs: &mut [(Kdf<'_>, &mut [u8])]) {
    #[cfg(feature = "parallel-kdf")]
    kdf::derive_parallel(jobs);
    #[cfg(not(feature = "parallel-kdf"))]
    kdf::derive(jobs);
}

/// `len` bytes from `rng`: a salt.
pub(crate) fn draw(rng: &mut dyn RandomSource, len: usize) -> Result<Vec<u8>, Error> {
    let mut bytes = vec![0u8; len];
    rng.fill(&mut bytes)
        .map_err(|_| internal("the random source failed"))?;
    Ok(bytes)
}

/// The PBES2 parameters of one encryption (PBKDF2-HMAC-SHA256 with the PRF written out,
/// no keyLength, AES-256-CBC), with a salt and then an IV drawn from `rng`.
pub(crate) fn draw_pbes2(
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
pub(crate) fn pbes2_kdf<'a>(
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
pub(crate) fn pbes2_encrypt(
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
pub(crate) fn pbes2_algorithm(
    params: &pbes2::Parameters,
) -> Result<AlgorithmIdentifierOwned, Error> {
    Ok(AlgorithmIdentifierOwned {
        oid: pbes2::PBES2_OID,
        parameters: Some(Any::encode_from(params).map_err(der_error)?),
    })
}

/// The DER `EncryptedPrivateKeyInfo` (RFC 5208) of a key encrypted under `algorithm`.
pub(crate) fn encrypted_private_key_info(
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
pub(crate) fn encrypt_private_key(
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
