//! crt: the DER leaf, and on request the encrypted key beside it: a DER
//! `EncryptedPrivateKeyInfo` (under a password) or CMS `EnvelopedData` (to a recipient).

use crate::error::Error;
use crate::material::CheckedMaterial;
use crate::request::Format;
use crate::response::{DownloadResponse, KeyFormat};

pub(super) fn encode(
    material: &CheckedMaterial,
    key: Option<(Vec<u8>, KeyFormat)>,
) -> Result<DownloadResponse, Error> {
    let certificate = material.leaf.der.to_vec();
    let includes_key = key.is_some();
    Ok(DownloadResponse::new(
        Format::Crt,
        certificate,
        key,
        includes_key,
    ))
}
