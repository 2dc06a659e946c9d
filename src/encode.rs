//! Encoding the checked material (leaf, issuers, key) into the file asked for: one module
//! a format, the PBES2 encryption they share in [`pbes2`], and here the dispatch and what
//! every encoder uses (errors, random salts, the derivations).
//!
//! Every ASN.1 structure is a value of its type from `der`, `spki`, `pkcs5`, `pkcs12` and
//! the `cms` types `pkcs12` re-exports; writing a file is building those values and calling
//! `to_der()`. The password-based key derivations, where nearly all the time goes, are
//! `crate::kdf`'s: the parameters a file carries are drawn first, then every derivation the
//! file needs runs at once, fed from those parameters, and the derived keys encrypt.

use crate::error::{Error, ErrorKind};
use crate::kdf::{self, Kdf};
use crate::material::CheckedMaterial;
use crate::policy::ExportPolicy;
use crate::random::RandomSource;
use crate::recipient::RecipientKey;
use crate::request::{DownloadRequest, Format};
use crate::response::{DownloadResponse, KeyFormat};
use pbes2::encrypt_private_key;

mod crt;
mod p7b;
mod pbes2;
mod pem;
mod pfx;
mod recipient;

pub(crate) fn internal(what: &'static str) -> Error {
    Error::new(ErrorKind::Internal, what)
}

/// A value that `der` cannot encode (a length beyond its limits): nothing a caller can fix.
pub(crate) fn der_error(_: der::Error) -> Error {
    internal("the file cannot be encoded")
}

/// Encodes `material` as `request` asks, with `policy`'s parameters and salts and IVs
/// from `rng`.
///
/// The password is checked against `policy`'s password rules here, whatever policy its
/// request was built under: the policy a host passes is the one every file obeys.
pub(crate) fn encode(
    request: &DownloadRequest,
    material: &CheckedMaterial,
    policy: &ExportPolicy,
    rng: &mut dyn RandomSource,
) -> Result<DownloadResponse, Error> {
    if let Some(password) = request.password() {
        password.check(policy.password_policy())?;
    }
    policy.check_request(request)?;
    let pkcs8 = match (request.includes_key(), material.key.as_ref()) {
        (true, Some(key)) => Some(key.secret_pkcs8_der()),
        (false, _) => None,
        (true, None) => return Err(internal("the key was not loaded")),
    };
    // The key of a pem or crt file: under the password, or to the recipient.
    let key_for_file = |rng: &mut dyn RandomSource| -> Result<_, Error> {
        let Some(pkcs8) = pkcs8 else { return Ok(None) };
        if let Some(password) = request.password() {
            let der = encrypt_private_key(pkcs8, password, policy, rng)?;
            Ok(Some((der, KeyFormat::EncryptedPrivateKeyInfo)))
        } else if let Some(recipient) = request.key_recipient() {
            let der = recipient::enveloped_data(recipient, pkcs8, rng)?;
            Ok(Some((der, KeyFormat::EnvelopedData)))
        } else {
            Err(internal("a key without a password or recipient"))
        }
    };
    match request.format() {
        Format::Crt => crt::encode(material, key_for_file(rng)?),
        Format::Pem => pem::encode(request, material, key_for_file(rng)?),
        Format::Pfx => {
            let password = request
                .password()
                .ok_or_else(crate::request::pfx_recipient_refused)?;
            let pkcs8 = pkcs8.ok_or_else(|| internal("a pfx needs the key"))?;
            pfx::encode(request, material, password, pkcs8, policy, rng)
        }
        Format::P7b => match pkcs8 {
            None => p7b::encode(&material.chain_for(request)),
            Some(_) => Err(crate::request::p7b_key_refused()),
        },
        Format::Kwp => {
            let (Some(recipient), Some(pkcs8)) = (request.key_recipient(), pkcs8) else {
                return Err(crate::request::kwp_recipient_required());
            };
            let RecipientKey::Rsa(key) = recipient.key() else {
                return Err(crate::request::kwp_requires_rsa(recipient.key_type()));
            };
            let wrapped = recipient::rsa_aes_key_wrap(key, pkcs8, rng)?;
            let chain = pem::text(request, material, None);
            Ok(DownloadResponse::new(
                Format::Kwp,
                chain,
                Some((wrapped, KeyFormat::RsaAesKeyWrap)),
                true,
            ))
        }
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
        .map_err(|e| internal("the random source failed").with_source(Box::new(e)))?;
    Ok(bytes)
}
