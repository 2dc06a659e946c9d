//! pem: the leaf, its issuers in the order asked for, then one `ENCRYPTED PRIVATE KEY`
//! (RFC 7468: LF line ends, 64-character lines).

use der::pem::{self, LineEnding, PemLabel};

use super::{encrypt_private_key, internal};
use crate::credential::Credential;
use crate::error::Error;
use crate::policy::ExportPolicy;
use crate::random::RandomSource;
use crate::request::{DownloadRequest, Format, Password};
use crate::response::DownloadResponse;

/// The label of a PKCS#8 `EncryptedPrivateKeyInfo` (RFC 7468, section 11).
const ENCRYPTED_PRIVATE_KEY: &str = "ENCRYPTED PRIVATE KEY";

pub(super) fn encode(
    request: &DownloadRequest,
    credential: &Credential,
    key: Option<(&Password, &[u8])>,
    policy: &ExportPolicy,
    rng: &mut dyn RandomSource,
) -> Result<DownloadResponse, Error> {
    let chain = credential.chain(request.chain_order());
    let encrypted_key = key
        .map(|(password, pkcs8)| encrypt_private_key(pkcs8, password, policy, rng))
        .transpose()?;
    let blocks: Vec<(&str, &[u8])> = chain
        .iter()
        .map(|c| (x509_cert::Certificate::PEM_LABEL, c.der.as_ref()))
        .chain(encrypted_key.as_deref().map(|k| (ENCRYPTED_PRIVATE_KEY, k)))
        .collect();
    let lens = blocks
        .iter()
        .map(|(label, der)| pem::encoded_len(label, LineEnding::LF, der))
        .collect::<Result<Vec<usize>, _>>()
        .map_err(|_| internal("the PEM block cannot be encoded"))?;
    let mut out = vec![0u8; lens.iter().sum()];
    let mut at = 0;
    for ((label, der), len) in blocks.iter().zip(lens) {
        pem::encode(label, LineEnding::LF, der, &mut out[at..at + len])
            .map_err(|_| internal("the PEM block cannot be encoded"))?;
        at += len;
    }
    Ok(DownloadResponse::new(
        Format::Pem,
        out,
        None,
        encrypted_key.is_some(),
    ))
}
