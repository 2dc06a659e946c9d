//! Encoding a checked credential into the file asked for, and the PBES2 encryption the
//! formats share.

use aes::cipher::{BlockModeEncrypt, KeyIvInit, block_padding::Pkcs7};
use der::Encode;
use der::asn1::OctetString;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::credential::Credential;
use crate::error::{Error, ErrorKind};
use crate::policy::ExportPolicy;
use crate::random::RandomSource;
use crate::request::{DownloadRequest, Format, Password};
use crate::response::DownloadResponse;

mod crt;
mod pem;
pub(crate) mod pfx;

/// The AES block size, and the size of every PBES2 IV written here.
const AES_IV_LEN: usize = 16;

pub(crate) fn internal(what: &'static str) -> Error {
    Error::new(ErrorKind::Internal, what)
}

pub(crate) fn random_error() -> Error {
    Error::new(ErrorKind::Internal, "the random source failed")
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
        (Some(password), Some(key)) => Some((password, key)),
        (None, _) => None,
        (Some(_), None) => return Err(internal("the key was not loaded")),
    };
    match request.format() {
        Format::Crt => crt::encode(credential, key, policy, rng),
        Format::Pem => pem::encode(request, credential, key, policy, rng),
        Format::Pfx => {
            let (password, key) = key.ok_or_else(|| internal("a pfx needs the key"))?;
            pfx::encode(request, credential, password, key, policy, rng)
        }
    }
}

/// PBES2 parameters (PBKDF2-HMAC-SHA256 with the PRF written out, AES-256-CBC) and the
/// ciphertext they describe.
pub(crate) struct Pbes2Ciphertext {
    pub(crate) scheme: pkcs5::EncryptionScheme,
    pub(crate) ciphertext: Vec<u8>,
}

/// Encrypts `plaintext` with PBES2: a fresh salt of the policy's length, then a fresh IV,
/// both drawn from `rng` in that order.
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
    let mut iv = [0u8; AES_IV_LEN];
    rng.fill(&mut iv).map_err(|_| random_error())?;

    let params = pkcs5::pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(iterations, salt, iv)
        .map_err(|_| internal("the PBES2 parameters cannot be built"))?;

    let mut key = Zeroizing::new([0u8; 32]);
    pbkdf2::pbkdf2_hmac::<Sha256>(password.secret_utf8(), salt, iterations, key.as_mut());
    let cipher = cbc::Encryptor::<aes::Aes256>::new_from_slices(key.as_ref(), &iv)
        .map_err(|_| internal("the AES key cannot be set"))?;
    let ciphertext = cipher.encrypt_padded_vec::<Pkcs7>(plaintext);
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
