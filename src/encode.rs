//! Encoding a checked credential into the file asked for, and the PBES2 encryption the
//! formats share.
//!
//! The DER is written directly into one buffer of the exact final size: every length is
//! known before the first byte is written (a CBC ciphertext's length follows from its
//! plaintext's), the plaintext of the certificates is written where its ciphertext goes and
//! encrypted in place, the key is encrypted from the checked key's buffer straight into the
//! output. The tests compare every byte with the encoders built on the `der`, `pkcs5`,
//! `pkcs8` and `pkcs12` types that this replaced (`reference.rs`).

use aes::cipher::{BlockModeEncrypt, KeyIvInit, block_padding::Pkcs7};
use zeroize::Zeroizing;

use crate::credential::Credential;
use crate::error::{Error, ErrorKind};
use crate::kdf::{self, Kdf};
use crate::policy::ExportPolicy;
use crate::random::RandomSource;
use crate::request::{DownloadRequest, Format, Password};
use crate::response::DownloadResponse;

mod crt;
mod p7b;
mod pem;
pub(crate) mod pfx;
#[cfg(test)]
mod reference;

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
        Format::P7b => match key {
            None => p7b::encode(&credential.chain_for(request)),
            Some(_) => Err(Error::new(
                ErrorKind::KeyNotSupported,
                "the p7b format cannot carry a private key",
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

/// DER writing into a buffer sized in advance.
pub(crate) mod der_out {
    /// Bytes of the DER length of a value of `len` bytes.
    pub(crate) const fn len_len(len: usize) -> usize {
        if len < 0x80 {
            1
        } else if len < 0x100 {
            2
        } else if len < 0x1_0000 {
            3
        } else if len < 0x100_0000 {
            4
        } else {
            5
        }
    }

    /// Bytes of a TLV with a one-byte tag and a value of `len` bytes.
    pub(crate) const fn tlv(len: usize) -> usize {
        1 + len_len(len) + len
    }

    /// Writes a one-byte tag and the DER length `len`.
    pub(crate) fn header(out: &mut Vec<u8>, tag: u8, len: usize) {
        out.push(tag);
        match len_len(len) {
            1 => out.push(len as u8),
            n => {
                out.push(0x80 | (n - 1) as u8);
                out.extend_from_slice(&(len as u64).to_be_bytes()[8 - (n - 1)..]);
            }
        }
    }

    /// The content octets of a non-negative INTEGER: big-endian, minimal, with a leading
    /// zero when the top bit is set.
    pub(crate) fn uint_bytes(value: u32) -> ([u8; 5], usize) {
        let be = value.to_be_bytes();
        let skip = be.iter().take(3).take_while(|b| **b == 0).count();
        let mut out = [0u8; 5];
        let mut n = 0;
        if be[skip] & 0x80 != 0 {
            n = 1;
        }
        out[n..n + 4 - skip].copy_from_slice(&be[skip..]);
        (out, n + 4 - skip)
    }

    /// Bytes of the INTEGER TLV of `value`.
    pub(crate) fn uint_tlv(value: u32) -> usize {
        tlv(uint_bytes(value).1)
    }

    /// Writes the INTEGER TLV of `value`.
    pub(crate) fn uint(out: &mut Vec<u8>, value: u32) {
        let (bytes, n) = uint_bytes(value);
        header(out, 0x02, n);
        out.extend_from_slice(&bytes[..n]);
    }

    /// The length of a CBC ciphertext with PKCS#7 padding.
    pub(crate) const fn padded(len: usize, block: usize) -> usize {
        (len / block + 1) * block
    }
}

use der_out::{header, tlv, uint, uint_tlv};

/// `id-PBES2` (1.2.840.113549.1.5.13).
const OID_PBES2: [u8; 11] = [
    0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x05, 0x0D,
];
/// `id-PBKDF2` (1.2.840.113549.1.5.12).
const OID_PBKDF2: [u8; 11] = [
    0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x05, 0x0C,
];
/// The PRF AlgorithmIdentifier: `hmacWithSHA256` (1.2.840.113549.2.9) with NULL parameters.
const PRF_HMAC_SHA256: [u8; 14] = [
    0x30, 0x0C, 0x06, 0x08, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x02, 0x09, 0x05, 0x00,
];
/// `aes256-CBC` (2.16.840.1.101.3.4.1.42).
const OID_AES256_CBC: [u8; 11] = [
    0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2A,
];

/// The PBES2 parameters of one encryption: salt, IV, iteration count.
pub(crate) struct Pbes2Params<'a> {
    pub(crate) salt: &'a [u8],
    pub(crate) iv: &'a [u8; AES_IV_LEN],
    pub(crate) iterations: u32,
}

impl Pbes2Params<'_> {
    fn pbkdf2_params_len(&self) -> usize {
        tlv(self.salt.len()) + uint_tlv(self.iterations) + PRF_HMAC_SHA256.len()
    }

    fn kdf_len(&self) -> usize {
        OID_PBKDF2.len() + tlv(self.pbkdf2_params_len())
    }

    fn scheme_len(&self) -> usize {
        OID_AES256_CBC.len() + tlv(AES_IV_LEN)
    }

    fn params_len(&self) -> usize {
        tlv(self.kdf_len()) + tlv(self.scheme_len())
    }

    /// Bytes of the AlgorithmIdentifier, as `pkcs5`'s
    /// `generate_pbkdf2_sha256_aes256cbc` writes it (PRF explicit, no keyLength).
    pub(crate) fn algorithm_len(&self) -> usize {
        tlv(OID_PBES2.len() + tlv(self.params_len()))
    }

    /// Writes the AlgorithmIdentifier.
    pub(crate) fn write_algorithm(&self, out: &mut Vec<u8>) {
        header(out, 0x30, OID_PBES2.len() + tlv(self.params_len()));
        out.extend_from_slice(&OID_PBES2);
        header(out, 0x30, self.params_len());
        header(out, 0x30, self.kdf_len());
        out.extend_from_slice(&OID_PBKDF2);
        header(out, 0x30, self.pbkdf2_params_len());
        header(out, 0x04, self.salt.len());
        out.extend_from_slice(self.salt);
        uint(out, self.iterations);
        out.extend_from_slice(&PRF_HMAC_SHA256);
        header(out, 0x30, self.scheme_len());
        out.extend_from_slice(&OID_AES256_CBC);
        header(out, 0x04, AES_IV_LEN);
        out.extend_from_slice(self.iv);
    }
}

/// Draws a salt of `len` bytes (at most 32) from `rng`.
pub(crate) fn draw_salt(
    rng: &mut dyn RandomSource,
    len: usize,
) -> Result<([u8; 32], usize), Error> {
    let mut salt = [0u8; 32];
    let s = salt
        .get_mut(..len)
        .ok_or_else(|| internal("the salt is longer than 32 bytes"))?;
    rng.fill(s).map_err(|_| random_error())?;
    Ok((salt, len))
}

/// Draws a PBES2 IV from `rng`.
pub(crate) fn draw_iv(rng: &mut dyn RandomSource) -> Result<[u8; AES_IV_LEN], Error> {
    let mut iv = [0u8; AES_IV_LEN];
    rng.fill(&mut iv).map_err(|_| random_error())?;
    Ok(iv)
}

/// Bytes of the DER `EncryptedPrivateKeyInfo` of a `key_len`-byte key under `params`.
pub(crate) fn epki_len(params: &Pbes2Params<'_>, key_len: usize) -> usize {
    tlv(epki_value_len(params, key_len))
}

fn epki_value_len(params: &Pbes2Params<'_>, key_len: usize) -> usize {
    params.algorithm_len() + tlv(der_out::padded(key_len, AES_IV_LEN))
}

/// Writes the DER `EncryptedPrivateKeyInfo` of `pkcs8`, AES-256-CBC-encrypted with `key`
/// straight from the key's buffer into `out`.
pub(crate) fn write_epki(
    out: &mut Vec<u8>,
    params: &Pbes2Params<'_>,
    key: &[u8; 32],
    pkcs8: &[u8],
) -> Result<(), Error> {
    let clen = der_out::padded(pkcs8.len(), AES_IV_LEN);
    header(out, 0x30, epki_value_len(params, pkcs8.len()));
    params.write_algorithm(out);
    header(out, 0x04, clen);
    let start = out.len();
    out.resize(start + clen, 0);
    cbc::Encryptor::<aes::Aes256>::new(key.into(), params.iv.into())
        .encrypt_padded_b2b::<Pkcs7>(pkcs8, &mut out[start..])
        .map_err(|_| internal("the key cannot be encrypted"))?;
    Ok(())
}

/// AES-256-CBC in place: `buf[..msg_len]` is the plaintext, `buf` exactly its padded size.
pub(crate) fn aes_cbc_in_place(
    key: &[u8; 32],
    iv: &[u8; AES_IV_LEN],
    buf: &mut [u8],
    msg_len: usize,
) -> Result<(), Error> {
    cbc::Encryptor::<aes::Aes256>::new(key.into(), iv.into())
        .encrypt_padded::<Pkcs7>(buf, msg_len)
        .map_err(|_| internal("the content cannot be encrypted"))?;
    Ok(())
}

/// The DER `EncryptedPrivateKeyInfo` of a PKCS#8 key, PBES2-encrypted: draws the salt and
/// the IV (in that order), derives the key, encrypts into a buffer of the exact size.
pub(crate) fn encrypt_private_key(
    pkcs8: &[u8],
    password: &Password,
    policy: &ExportPolicy,
    rng: &mut dyn RandomSource,
) -> Result<Vec<u8>, Error> {
    let (salt, salt_len) = draw_salt(rng, policy.pbkdf2_salt_len())?;
    let iv = draw_iv(rng)?;
    let params = Pbes2Params {
        salt: &salt[..salt_len],
        iv: &iv,
        iterations: policy.pbkdf2_iterations(),
    };
    let mut key = Zeroizing::new([0u8; 32]);
    derive(&mut [(
        Kdf::Pbkdf2Sha256 {
            password: password.secret_utf8(),
            salt: params.salt,
            iterations: params.iterations,
        },
        &mut key[..],
    )]);
    let mut out = Vec::with_capacity(epki_len(&params, pkcs8.len()));
    write_epki(&mut out, &params, &key, pkcs8)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::der_out::*;

    #[test]
    fn der_lengths_and_integers() {
        for (len, bytes) in [
            (0usize, vec![0x04, 0x00]),
            (0x7F, vec![0x04, 0x7F]),
            (0x80, vec![0x04, 0x81, 0x80]),
            (0xFF, vec![0x04, 0x81, 0xFF]),
            (0x100, vec![0x04, 0x82, 0x01, 0x00]),
            (0x1_0000, vec![0x04, 0x83, 0x01, 0x00, 0x00]),
        ] {
            let mut out = Vec::new();
            header(&mut out, 0x04, len);
            assert_eq!(out, bytes);
            assert_eq!(tlv(len), out.len() + len);
        }
        for (value, bytes) in [
            (0u32, vec![0x02, 0x01, 0x00]),
            (1, vec![0x02, 0x01, 0x01]),
            (0x7F, vec![0x02, 0x01, 0x7F]),
            (0x80, vec![0x02, 0x02, 0x00, 0x80]),
            (2048, vec![0x02, 0x02, 0x08, 0x00]),
            (10_000, vec![0x02, 0x02, 0x27, 0x10]),
            (300_000, vec![0x02, 0x03, 0x04, 0x93, 0xE0]),
            (u32::MAX, vec![0x02, 0x05, 0x00, 0xFF, 0xFF, 0xFF, 0xFF]),
        ] {
            let mut out = Vec::new();
            uint(&mut out, value);
            assert_eq!(out, bytes, "{value}");
            assert_eq!(uint_tlv(value), out.len());
        }
    }
}
