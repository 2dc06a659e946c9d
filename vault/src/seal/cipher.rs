//! AES-256-GCM as the keyring uses it: the associated data that binds each ciphertext to
//! its place (the layout is in the [parent module](super)'s documentation), encryption and
//! decryption under a key held in memory (a file KEK, a data key), and the random source
//! of keys and nonces.

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use cert_download::CertificateId;
use zeroize::{Zeroize, Zeroizing};

use super::{KEY_LEN, KeyFormat, NONCE_LEN, SealError, TAG_LEN};

const WRAP_LABEL: &[u8] = b"cert-download-vault/v1 wrap\0";
const KEY_LABEL: &[u8] = b"cert-download-vault/v1 key\0";
const CHECK_LABEL: &[u8] = b"cert-download-vault/v1 check\0";

pub(super) fn random(buf: &mut [u8]) -> Result<(), SealError> {
    getrandom::fill(buf).map_err(|_| SealError::Random)
}

pub(super) fn cipher(key: &[u8; KEY_LEN]) -> Aes256Gcm {
    Aes256Gcm::new(key.into())
}

pub(super) fn wrap_aad(id: CertificateId, kek_id: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(WRAP_LABEL.len() + 9 + kek_id.len());
    aad.extend_from_slice(WRAP_LABEL);
    aad.extend_from_slice(&id.get().to_be_bytes());
    // Ids are at most 64 bytes (`kek_file::valid_id`), so the length fits in one byte.
    aad.push(kek_id.len() as u8);
    aad.extend_from_slice(kek_id.as_bytes());
    aad
}

pub(super) fn key_aad(id: CertificateId, format: KeyFormat) -> Vec<u8> {
    let mut aad = Vec::with_capacity(KEY_LABEL.len() + 9);
    aad.extend_from_slice(KEY_LABEL);
    aad.extend_from_slice(&id.get().to_be_bytes());
    aad.push(format.byte());
    aad
}

pub(super) fn check_aad(kek_id: &str) -> Vec<u8> {
    let mut aad = CHECK_LABEL.to_vec();
    aad.extend_from_slice(kek_id.as_bytes());
    aad
}

/// AES-256-GCM of `plaintext`: the ciphertext followed by the tag.
pub(super) fn encrypt(
    key: &[u8; KEY_LEN],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(plaintext.len() + TAG_LEN);
    out.extend_from_slice(plaintext);
    // Encryption fails only for inputs of gigabytes; keys are capped far below.
    match cipher(key).encrypt_inout_detached(&Nonce::from(*nonce), aad, out.as_mut_slice().into()) {
        Ok(tag) => out.extend_from_slice(&tag),
        // The buffer still holds the plaintext: wipe it.
        Err(_) => out.zeroize(),
    }
    out
}

/// Opens `sealed` (ciphertext and tag) into a zeroizing buffer; `None` when it does not
/// authenticate.
pub(super) fn decrypt(
    key: &[u8; KEY_LEN],
    nonce: &[u8],
    aad: &[u8],
    sealed: &[u8],
) -> Option<Zeroizing<Vec<u8>>> {
    let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
    let split = sealed.len().checked_sub(TAG_LEN)?;
    let (ciphertext, tag) = sealed.split_at(split);
    let tag = Tag::try_from(tag).ok()?;
    let mut buf = Zeroizing::new(ciphertext.to_vec());
    cipher(key)
        .decrypt_inout_detached(&Nonce::from(nonce), aad, buf.as_mut_slice().into(), &tag)
        .ok()?;
    Some(buf)
}
