//! crt: the DER leaf, and on request the DER `EncryptedPrivateKeyInfo` beside it.

use super::pbes2::encrypt_private_key;
use crate::credential::Credential;
use crate::error::Error;
use crate::policy::ExportPolicy;
use crate::random::RandomSource;
use crate::request::{Format, Password};
use crate::response::DownloadResponse;

pub(super) fn encode(
    credential: &Credential,
    key: Option<(&Password, &[u8])>,
    policy: &ExportPolicy,
    rng: &mut dyn RandomSource,
) -> Result<DownloadResponse, Error> {
    let certificate = credential.leaf.der.to_vec();
    let key = key
        .map(|(password, pkcs8)| encrypt_private_key(pkcs8, password, policy, rng))
        .transpose()?;
    let includes_key = key.is_some();
    Ok(DownloadResponse::new(
        Format::Crt,
        certificate,
        key,
        includes_key,
    ))
}
