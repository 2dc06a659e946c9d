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
//!
//! All of them are drawn first; then the derivations (two PBKDF2 and one PKCS#12 KDF, or
//! the legacy profile's five PKCS#12 KDFs) run together, interleaved (see `crate::kdf`);
//! then the file is written into one buffer of its exact size: the certificates' plaintext
//! where their ciphertext goes (encrypted in place), the key encrypted from the checked
//! key's buffer straight into place, the MAC over the bytes already in place.

use hmac::{KeyInit, Mac};
use sha1::{Digest, Sha1};
use zeroize::Zeroizing;

use super::der_out::{header, padded, tlv, uint, uint_tlv};
use super::{
    AES_IV_LEN, Pbes2Params, aes_cbc_in_place, derive, draw_iv, draw_salt, epki_len, internal,
    random_error, write_epki,
};
use crate::credential::{Credential, ParsedCertificate};
use crate::error::Error;
use crate::kdf::Kdf;
use crate::key::CheckedKey;
use crate::policy::ExportPolicy;
use crate::random::RandomSource;
use crate::request::{DownloadRequest, Format, FriendlyName, Password, PfxEncryption};
use crate::response::DownloadResponse;

/// `id-data` (1.2.840.113549.1.7.1).
const OID_DATA: [u8; 11] = [
    0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x01,
];
/// `id-encryptedData` (1.2.840.113549.1.7.6).
const OID_ENCRYPTED_DATA: [u8; 11] = [
    0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x06,
];
/// `pkcs8ShroudedKeyBag` (1.2.840.113549.1.12.10.1.2).
const OID_SHROUDED_KEY_BAG: [u8; 13] = [
    0x06, 0x0B, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x0C, 0x0A, 0x01, 0x02,
];
/// `certBag` (1.2.840.113549.1.12.10.1.3).
const OID_CERT_BAG: [u8; 13] = [
    0x06, 0x0B, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x0C, 0x0A, 0x01, 0x03,
];
/// `x509Certificate` (1.2.840.113549.1.9.22.1).
const OID_X509_CERTIFICATE: [u8; 12] = [
    0x06, 0x0A, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x16, 0x01,
];
/// `friendlyName` (1.2.840.113549.1.9.20).
const OID_FRIENDLY_NAME: [u8; 11] = [
    0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x14,
];
/// `localKeyId` (1.2.840.113549.1.9.21).
const OID_LOCAL_KEY_ID: [u8; 11] = [
    0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x15,
];
/// `pbeWithSHAAnd3-KeyTripleDES-CBC` (1.2.840.113549.1.12.1.3).
const OID_PBE_SHA1_3DES: [u8; 12] = [
    0x06, 0x0A, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x0C, 0x01, 0x03,
];
/// The MAC's AlgorithmIdentifier: SHA-1 (1.3.14.3.2.26) with NULL parameters.
const MAC_SHA1: [u8; 11] = [
    0x30, 0x09, 0x06, 0x05, 0x2B, 0x0E, 0x03, 0x02, 0x1A, 0x05, 0x00,
];
/// The MAC's AlgorithmIdentifier: SHA-256 (2.16.840.1.101.3.4.2.1) with NULL parameters.
const MAC_SHA256: [u8; 15] = [
    0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00,
];
/// The 3DES block size, and the size of the legacy profile's IVs.
const DES_BLOCK: usize = 8;

fn to_i32(iterations: u32) -> Result<u32, Error> {
    i32::try_from(iterations)
        .map(|_| iterations)
        .map_err(|_| internal("the iteration count does not fit"))
}

/// The friendlyName: the one asked for, else the leaf's subject CN (when it is a valid
/// friendly name), else `certificate-<id>`.
pub(crate) fn friendly_name(request: &DownloadRequest, credential: &Credential) -> FriendlyName {
    if let Some(name) = request.friendly_name() {
        return name.clone();
    }
    credential
        .leaf
        .common_name()
        .and_then(|cn| FriendlyName::new(cn).ok())
        .unwrap_or_else(|| FriendlyName::for_id(credential.id))
}

/// friendlyName and localKeyId, on the key bag and the leaf's cert bag only, in the order
/// of DER `SET OF` as the `der` crate sorts it: the shorter attribute first, on equal
/// lengths friendlyName (its OID is smaller).
struct Attributes<'a> {
    name: &'a str,
    /// Bytes of the name as a BMPString (UTF-16BE; a `FriendlyName` is within the BMP).
    bmp_len: usize,
    local_key_id: [u8; 20],
}

impl Attributes<'_> {
    fn name_value_len(&self) -> usize {
        OID_FRIENDLY_NAME.len() + tlv(tlv(self.bmp_len))
    }

    const fn id_value_len() -> usize {
        OID_LOCAL_KEY_ID.len() + tlv(tlv(20))
    }

    fn set_value_len(&self) -> usize {
        tlv(self.name_value_len()) + tlv(Self::id_value_len())
    }

    /// Bytes of the `SET OF` TLV.
    fn len(&self) -> usize {
        tlv(self.set_value_len())
    }

    fn write(&self, out: &mut Vec<u8>) {
        header(out, 0x31, self.set_value_len());
        if self.name_value_len() <= Self::id_value_len() {
            self.write_name(out);
            self.write_id(out);
        } else {
            self.write_id(out);
            self.write_name(out);
        }
    }

    fn write_name(&self, out: &mut Vec<u8>) {
        header(out, 0x30, self.name_value_len());
        out.extend_from_slice(&OID_FRIENDLY_NAME);
        header(out, 0x31, tlv(self.bmp_len));
        header(out, 0x1E, self.bmp_len);
        for unit in self.name.encode_utf16() {
            out.extend_from_slice(&unit.to_be_bytes());
        }
    }

    fn write_id(&self, out: &mut Vec<u8>) {
        header(out, 0x30, Self::id_value_len());
        out.extend_from_slice(&OID_LOCAL_KEY_ID);
        header(out, 0x31, tlv(20));
        header(out, 0x04, 20);
        out.extend_from_slice(&self.local_key_id);
    }
}

/// The legacy PBE's AlgorithmIdentifier: `pbeWithSHAAnd3-KeyTripleDES-CBC` with
/// `Pkcs12PbeParams { salt, iterations }`.
struct LegacyParams<'a> {
    salt: &'a [u8],
    iterations: u32,
}

impl LegacyParams<'_> {
    fn params_len(&self) -> usize {
        tlv(self.salt.len()) + uint_tlv(self.iterations)
    }

    fn algorithm_len(&self) -> usize {
        tlv(OID_PBE_SHA1_3DES.len() + tlv(self.params_len()))
    }

    fn write_algorithm(&self, out: &mut Vec<u8>) {
        header(out, 0x30, OID_PBE_SHA1_3DES.len() + tlv(self.params_len()));
        out.extend_from_slice(&OID_PBE_SHA1_3DES);
        header(out, 0x30, self.params_len());
        header(out, 0x04, self.salt.len());
        out.extend_from_slice(self.salt);
        uint(out, self.iterations);
    }
}

/// The keys of one profile, derived, in zeroizing buffers.
enum Keys {
    Modern {
        key: Zeroizing<[u8; 32]>,
        certs: Zeroizing<[u8; 32]>,
        mac: Zeroizing<[u8; 32]>,
    },
    Legacy {
        key: Zeroizing<[u8; 24]>,
        key_iv: Zeroizing<[u8; 8]>,
        certs: Zeroizing<[u8; 24]>,
        certs_iv: Zeroizing<[u8; 8]>,
        mac: Zeroizing<[u8; 20]>,
    },
}

/// An encryption of the file: its AlgorithmIdentifier and its key.
enum Scheme<'a> {
    Aes(Pbes2Params<'a>, &'a [u8; 32]),
    Tdes(LegacyParams<'a>, &'a [u8; 24], &'a [u8; 8]),
}

impl Scheme<'_> {
    fn algorithm_len(&self) -> usize {
        match self {
            Scheme::Aes(p, _) => p.algorithm_len(),
            Scheme::Tdes(p, _, _) => p.algorithm_len(),
        }
    }

    fn write_algorithm(&self, out: &mut Vec<u8>) {
        match self {
            Scheme::Aes(p, _) => p.write_algorithm(out),
            Scheme::Tdes(p, _, _) => p.write_algorithm(out),
        }
    }

    fn ciphertext_len(&self, len: usize) -> usize {
        match self {
            Scheme::Aes(..) => padded(len, AES_IV_LEN),
            Scheme::Tdes(..) => padded(len, DES_BLOCK),
        }
    }

    /// Encrypts `buf[..msg_len]` in place; `buf` is exactly the ciphertext's size.
    fn encrypt_in_place(&self, buf: &mut [u8], msg_len: usize) -> Result<(), Error> {
        match self {
            Scheme::Aes(p, key) => aes_cbc_in_place(key, p.iv, buf, msg_len),
            Scheme::Tdes(_, key, iv) => {
                use des::cipher::{BlockModeEncrypt, KeyIvInit, block_padding::Pkcs7};
                cbc::Encryptor::<des::TdesEde3>::new((*key).into(), (*iv).into())
                    .encrypt_padded::<Pkcs7>(buf, msg_len)
                    .map_err(|_| internal("the content cannot be encrypted"))?;
                Ok(())
            }
        }
    }

    /// Bytes of the shrouded key's `EncryptedPrivateKeyInfo`.
    fn epki_len(&self, key_len: usize) -> usize {
        match self {
            Scheme::Aes(p, _) => epki_len(p, key_len),
            Scheme::Tdes(..) => tlv(self.algorithm_len() + tlv(self.ciphertext_len(key_len))),
        }
    }

    fn write_epki(&self, out: &mut Vec<u8>, pkcs8: &[u8]) -> Result<(), Error> {
        match self {
            Scheme::Aes(p, key) => write_epki(out, p, key, pkcs8),
            Scheme::Tdes(p, ..) => {
                // The output is a zeroizing buffer: the key's plaintext is encrypted in place.
                let clen = self.ciphertext_len(pkcs8.len());
                header(out, 0x30, self.algorithm_len() + tlv(clen));
                p.write_algorithm(out);
                header(out, 0x04, clen);
                let start = out.len();
                out.extend_from_slice(pkcs8);
                out.resize(start + clen, 0);
                self.encrypt_in_place(&mut out[start..], pkcs8.len())
            }
        }
    }
}

/// The value length of a cert bag's SafeBag.
fn cert_safe_bag_value_len(cert: &[u8], attributes: Option<&Attributes<'_>>) -> usize {
    let cert_bag_value = OID_X509_CERTIFICATE.len() + tlv(tlv(cert.len()));
    OID_CERT_BAG.len() + tlv(tlv(cert_bag_value)) + attributes.map_or(0, Attributes::len)
}

fn write_cert_safe_bag(out: &mut Vec<u8>, cert: &[u8], attributes: Option<&Attributes<'_>>) {
    let cert_bag_value = OID_X509_CERTIFICATE.len() + tlv(tlv(cert.len()));
    header(out, 0x30, cert_safe_bag_value_len(cert, attributes));
    out.extend_from_slice(&OID_CERT_BAG);
    header(out, 0xA0, tlv(cert_bag_value));
    header(out, 0x30, cert_bag_value);
    out.extend_from_slice(&OID_X509_CERTIFICATE);
    header(out, 0xA0, tlv(cert.len()));
    header(out, 0x04, cert.len());
    out.extend_from_slice(cert);
    if let Some(a) = attributes {
        a.write(out);
    }
}

/// AES-256-CBC of `buf[certs]` in place (its first `plain_len` bytes are the plaintext,
/// the rest the room for the PKCS#7 padding), and HMAC-SHA256 over `buf[auth]`, which
/// contains it: one MAC block after each four cipher blocks, as soon as its bytes are final,
/// so that the processor runs the AES and SHA-256 chains side by side.
fn encrypt_and_mac(
    buf: &mut [u8],
    auth: std::ops::Range<usize>,
    certs: std::ops::Range<usize>,
    plain_len: usize,
    key: &[u8; 32],
    iv: &[u8; AES_IV_LEN],
    mac_key: &[u8],
) -> Result<[u8; 32], Error> {
    use aes::cipher::{Array, BlockModeEncrypt, KeyIvInit};
    let region = buf
        .get_mut(certs.clone())
        .ok_or_else(|| internal("the ciphertext is out of place"))?;
    let pad = region.len() - plain_len;
    if pad == 0 || pad > AES_IV_LEN || !region.len().is_multiple_of(AES_IV_LEN) {
        return Err(internal("the ciphertext is miscounted"));
    }
    region[plain_len..].fill(pad as u8);
    let mut cipher = cbc::Encryptor::<aes::Aes256>::new(key.into(), iv.into());
    let mut mac = crate::kdf::HmacSha256::new(mac_key);
    let mut hashed = auth.start;
    let mut done = certs.start;
    while done < certs.end {
        let step = (certs.end - done).min(64);
        let (blocks, _) = buf[done..done + step].as_chunks_mut::<16>();
        cipher.encrypt_blocks(Array::cast_slice_from_core_mut(blocks));
        done += step;
        if hashed + 64 <= done
            && let Some(block) = buf
                .get(hashed..hashed + 64)
                .and_then(|b| <&[u8; 64]>::try_from(b).ok())
        {
            mac.block(block);
            hashed += 64;
        }
    }
    let rest = buf
        .get(hashed..auth.end)
        .ok_or_else(|| internal("the MAC range is out of place"))?;
    let (blocks, tail) = rest.as_chunks::<64>();
    for block in blocks {
        mac.block(block);
    }
    Ok(mac.finish(tail))
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
    let legacy = profile == PfxEncryption::TripleDesSha1;
    let (iterations, mac_iterations, salt_len, mac_salt_len) = if legacy {
        let n = to_i32(policy.legacy_iterations())?;
        let s = policy.legacy_salt_len();
        (n, n, s, s)
    } else {
        (
            to_i32(policy.pbkdf2_iterations())?,
            to_i32(policy.mac_iterations())?,
            policy.pbkdf2_salt_len(),
            policy.mac_salt_len(),
        )
    };

    // Every salt and IV first, in the documented order.
    let (key_salt, key_salt_len) = draw_salt(rng, salt_len)?;
    let key_iv = if legacy {
        [0; AES_IV_LEN]
    } else {
        draw_iv(rng)?
    };
    let (certs_salt, certs_salt_len) = draw_salt(rng, salt_len)?;
    let certs_iv = if legacy {
        [0; AES_IV_LEN]
    } else {
        draw_iv(rng)?
    };
    let mut mac_salt = [0u8; 32];
    let mac_salt = mac_salt
        .get_mut(..mac_salt_len)
        .ok_or_else(|| internal("the salt is longer than 32 bytes"))?;
    rng.fill(mac_salt).map_err(|_| random_error())?;
    let key_salt = &key_salt[..key_salt_len];
    let certs_salt = &certs_salt[..certs_salt_len];

    // Every derivation at once.
    let bmp = password.secret_bmp();
    let keys = if legacy {
        let mut key = Zeroizing::new([0u8; 24]);
        let mut key_iv = Zeroizing::new([0u8; 8]);
        let mut certs = Zeroizing::new([0u8; 24]);
        let mut certs_iv = Zeroizing::new([0u8; 8]);
        let mut mac = Zeroizing::new([0u8; 20]);
        let p12 = |salt, id| Kdf::Pkcs12Sha1 {
            password: &bmp,
            salt,
            id,
            iterations,
        };
        derive(&mut [
            (p12(key_salt, 1), &mut key[..]),
            (p12(key_salt, 2), &mut key_iv[..]),
            (p12(certs_salt, 1), &mut certs[..]),
            (p12(certs_salt, 2), &mut certs_iv[..]),
            (p12(mac_salt, 3), &mut mac[..]),
        ]);
        Keys::Legacy {
            key,
            key_iv,
            certs,
            certs_iv,
            mac,
        }
    } else {
        let mut key = Zeroizing::new([0u8; 32]);
        let mut certs = Zeroizing::new([0u8; 32]);
        let mut mac = Zeroizing::new([0u8; 32]);
        let pbkdf2 = |salt| Kdf::Pbkdf2Sha256 {
            password: password.secret_utf8(),
            salt,
            iterations,
        };
        derive(&mut [
            (pbkdf2(key_salt), &mut key[..]),
            (pbkdf2(certs_salt), &mut certs[..]),
            (
                Kdf::Pkcs12Sha256 {
                    password: &bmp,
                    salt: mac_salt,
                    id: 3,
                    iterations: mac_iterations,
                },
                &mut mac[..],
            ),
        ]);
        Keys::Modern { key, certs, mac }
    };
    let (key_scheme, certs_scheme, mac_key, mac_alg): (Scheme<'_>, Scheme<'_>, &[u8], &[u8]) =
        match &keys {
            Keys::Modern { key, certs, mac } => (
                Scheme::Aes(
                    Pbes2Params {
                        salt: key_salt,
                        iv: &key_iv,
                        iterations,
                    },
                    key,
                ),
                Scheme::Aes(
                    Pbes2Params {
                        salt: certs_salt,
                        iv: &certs_iv,
                        iterations,
                    },
                    certs,
                ),
                &mac[..],
                &MAC_SHA256,
            ),
            Keys::Legacy {
                key,
                key_iv,
                certs,
                certs_iv,
                mac,
            } => (
                Scheme::Tdes(
                    LegacyParams {
                        salt: key_salt,
                        iterations,
                    },
                    key,
                    key_iv,
                ),
                Scheme::Tdes(
                    LegacyParams {
                        salt: certs_salt,
                        iterations,
                    },
                    certs,
                    certs_iv,
                ),
                &mac[..],
                &MAC_SHA1,
            ),
        };
    let mac_len = if legacy { 20 } else { 32 };

    // Every length, inside out.
    let name = friendly_name(request, credential);
    let attributes = Attributes {
        name: name.as_str(),
        bmp_len: 2 * name.as_str().encode_utf16().count(),
        local_key_id: Sha1::digest(credential.leaf.der.as_ref()).into(),
    };
    let chain = credential.chain_for(request);
    let is_leaf = |c: &ParsedCertificate| std::ptr::eq(c, &credential.leaf);
    let pkcs8 = key.secret_pkcs8_der();

    let epki = key_scheme.epki_len(pkcs8.len());
    let key_bag_value = OID_SHROUDED_KEY_BAG.len() + tlv(epki) + attributes.len();
    let key_contents = tlv(tlv(key_bag_value));
    let key_info_value = OID_DATA.len() + tlv(tlv(key_contents));

    let certs_plain_value: usize = chain
        .iter()
        .map(|c| {
            tlv(cert_safe_bag_value_len(
                &c.der,
                is_leaf(c).then_some(&attributes),
            ))
        })
        .sum();
    let certs_plain = tlv(certs_plain_value);
    let certs_cipher = certs_scheme.ciphertext_len(certs_plain);
    let content_info_value = OID_DATA.len() + certs_scheme.algorithm_len() + tlv(certs_cipher);
    let encrypted_data_value = 3 + tlv(content_info_value);
    let certs_info_value = OID_ENCRYPTED_DATA.len() + tlv(tlv(encrypted_data_value));

    let auth_safe_value = tlv(certs_info_value) + tlv(key_info_value);
    let auth_safe = tlv(auth_safe_value);
    let outer_info_value = OID_DATA.len() + tlv(tlv(auth_safe));
    let digest_info_value = mac_alg.len() + tlv(mac_len);
    let mac_data_value = tlv(digest_info_value)
        + tlv(mac_salt.len())
        + if mac_iterations != 1 {
            uint_tlv(mac_iterations)
        } else {
            0
        };
    let pfx_value = 3 + tlv(outer_info_value) + tlv(mac_data_value);
    let total = tlv(pfx_value);

    // The file, front to back. Zeroizing until it is complete: the certificates'
    // plaintext passes through it.
    let mut out = Zeroizing::new(Vec::with_capacity(total));
    let o = &mut *out;
    header(o, 0x30, pfx_value);
    o.extend_from_slice(&[0x02, 0x01, 0x03]);
    header(o, 0x30, outer_info_value);
    o.extend_from_slice(&OID_DATA);
    header(o, 0xA0, tlv(auth_safe));
    header(o, 0x04, auth_safe);
    let auth_start = o.len();
    header(o, 0x30, auth_safe_value);

    // 1. The certificates, encrypted.
    header(o, 0x30, certs_info_value);
    o.extend_from_slice(&OID_ENCRYPTED_DATA);
    header(o, 0xA0, tlv(encrypted_data_value));
    header(o, 0x30, encrypted_data_value);
    o.extend_from_slice(&[0x02, 0x01, 0x00]);
    header(o, 0x30, content_info_value);
    o.extend_from_slice(&OID_DATA);
    certs_scheme.write_algorithm(o);
    header(o, 0x80, certs_cipher);
    let plain_start = o.len();
    header(o, 0x30, certs_plain_value);
    for cert in &chain {
        write_cert_safe_bag(o, &cert.der, is_leaf(cert).then_some(&attributes));
    }
    o.resize(plain_start + certs_cipher, 0);
    let certs_range = plain_start..plain_start + certs_cipher;
    // 2. The key.
    header(o, 0x30, key_info_value);
    o.extend_from_slice(&OID_DATA);
    header(o, 0xA0, tlv(key_contents));
    header(o, 0x04, key_contents);
    header(o, 0x30, tlv(key_bag_value));
    header(o, 0x30, key_bag_value);
    o.extend_from_slice(&OID_SHROUDED_KEY_BAG);
    header(o, 0xA0, epki);
    key_scheme.write_epki(o, pkcs8)?;
    attributes.write(o);
    let auth_end = o.len();

    // The certificates encrypted in place and the MAC over the AuthenticatedSafe's DER:
    // in the modern profile together (see `encrypt_and_mac`).
    let auth = auth_start..auth_end;
    let mac = if legacy {
        certs_scheme.encrypt_in_place(&mut o[certs_range.clone()], certs_plain)?;
        let mut mac = hmac::Hmac::<Sha1>::new_from_slice(mac_key)
            .map_err(|_| internal("the MAC key cannot be set"))?;
        mac.update(&o[auth]);
        mac.finalize().into_bytes().to_vec()
    } else {
        let Scheme::Aes(params, key) = &certs_scheme else {
            return Err(internal("the profile's schemes differ"));
        };
        encrypt_and_mac(o, auth, certs_range, certs_plain, key, params.iv, mac_key)?.to_vec()
    };
    header(o, 0x30, mac_data_value);
    header(o, 0x30, digest_info_value);
    o.extend_from_slice(mac_alg);
    header(o, 0x04, mac_len);
    o.extend_from_slice(&mac);
    header(o, 0x04, mac_salt.len());
    o.extend_from_slice(mac_salt);
    if mac_iterations != 1 {
        uint(o, mac_iterations);
    }
    if o.len() != total {
        return Err(internal("the PFX length was miscounted"));
    }
    let der = std::mem::take(o);
    Ok(DownloadResponse::new(Format::Pfx, der, None, true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::RandomError;
    use crate::request::{ChainOrder, DownloadRequest};
    use crate::store::{CertificateStore, DirectoryStore};
    use crate::{CertificateId, Prepared};

    struct Counter(u8);

    impl RandomSource for Counter {
        fn fill(&mut self, dest: &mut [u8]) -> Result<(), RandomError> {
            for b in dest {
                *b = self.0;
                self.0 = self.0.wrapping_add(1);
            }
            Ok(())
        }
    }

    fn store() -> DirectoryStore {
        DirectoryStore::new(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store"),
        )
    }

    /// The new encoder's bytes equal the `der`/`pkcs12`-typed encoder's it replaced, on
    /// every record with a key, both profiles, both chain orders, with and without the
    /// chain, several names (both attribute orders) and policies.
    #[test]
    fn pfx_bytes_equal_the_typed_reference_encoder() {
        let store = store();
        let names = [
            None,
            Some("a"),
            Some("123456789"),
            Some("1234567890"),
            Some("12345678901"),
            Some("ü€ name"),
            Some("ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKL"),
        ];
        let policies = [
            ExportPolicy::with_iterations(1).unwrap(),
            ExportPolicy::with_iterations(2).unwrap(),
            ExportPolicy::builder()
                .pbkdf2_iterations(200)
                .mac_iterations(129)
                .legacy_iterations(128)
                .pbkdf2_salt_len(32)
                .mac_salt_len(20)
                .legacy_salt_len(9)
                .build()
                .unwrap(),
        ];
        let password = "pässwörd-😀-reference";
        let mut checked = 0;
        for record in [1u64, 2, 4, 5, 6, 8, 9, 14, 15, 19, 20, 21] {
            let id = CertificateId::new(record).unwrap();
            let stored = store.certificate(id).unwrap();
            let key = store.private_key(id).unwrap();
            for profile in [PfxEncryption::Aes256Sha256, PfxEncryption::TripleDesSha1] {
                for order in [ChainOrder::LeafFirst, ChainOrder::RootFirst] {
                    for with_chain in [true, false] {
                        for name in names {
                            for policy in &policies {
                                let pw = || Password::new(password, &Default::default()).unwrap();
                                let mut request = DownloadRequest::pfx(id, pw())
                                    .with_pfx_encryption(profile)
                                    .with_chain_order(order)
                                    .with_chain(with_chain);
                                if let Some(n) = name {
                                    request =
                                        request.with_friendly_name(FriendlyName::new(n).unwrap());
                                }
                                let prepared = Prepared::from_record(
                                    request,
                                    stored.clone(),
                                    Some(Zeroizing::new(key.clone_key())),
                                )
                                .unwrap();
                                let ours = prepared.encode(policy, &mut Counter(7)).unwrap();
                                let credential = &prepared.credential;
                                let chain: Vec<&[u8]> = if with_chain {
                                    credential
                                        .chain(order)
                                        .iter()
                                        .map(|c| c.der.as_ref())
                                        .collect()
                                } else {
                                    vec![credential.leaf.der.as_ref()]
                                };
                                let fname = friendly_name(prepared.request(), credential);
                                let theirs = super::super::reference::encode(
                                    profile,
                                    &chain,
                                    credential.leaf.der.as_ref(),
                                    &fname,
                                    &pw(),
                                    credential.key.as_ref().unwrap().secret_pkcs8_der(),
                                    policy,
                                    &mut Counter(7),
                                )
                                .unwrap();
                                assert!(
                                    ours.certificate() == theirs.as_slice(),
                                    "record {record} {profile:?} {order:?} chain {with_chain} \
                                     name {name:?} policy {policy:?}"
                                );
                                checked += 1;
                            }
                        }
                    }
                }
            }
        }
        assert!(checked > 1000);
    }

    #[test]
    fn encrypted_keys_equal_the_typed_reference_encoder() {
        let store = store();
        for record in [1u64, 4, 9] {
            let id = CertificateId::new(record).unwrap();
            let key = store.private_key(id).unwrap();
            let pkcs8 = key.secret_der();
            for policy in [
                ExportPolicy::with_iterations(1).unwrap(),
                ExportPolicy::builder()
                    .pbkdf2_iterations(300)
                    .pbkdf2_salt_len(8)
                    .build()
                    .unwrap(),
            ] {
                let pw = Password::new("encrypted-key-pw", &Default::default()).unwrap();
                let ours = super::super::encrypt_private_key(pkcs8, &pw, &policy, &mut Counter(3))
                    .unwrap();
                let theirs = super::super::reference::encrypt_private_key(
                    pkcs8,
                    &pw,
                    &policy,
                    &mut Counter(3),
                )
                .unwrap();
                assert_eq!(ours, theirs);
            }
        }
    }
}
