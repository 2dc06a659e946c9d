//! crt: the DER leaf, and on request the DER `EncryptedPrivateKeyInfo` beside it.

use crate::credential::Credential;
use crate::error::Error;
use crate::key::CheckedKey;
use crate::policy::ExportPolicy;
use crate::random::RandomSource;
use crate::request::{Format, Password};
use crate::response::DownloadResponse;

pub(super) fn encode(
    credential: &Credential,
    key: Option<(&Password, &CheckedKey)>,
    policy: &ExportPolicy,
    rng: &mut dyn RandomSource,
) -> Result<DownloadResponse, Error> {
    let certificate = credential.leaf.der.to_vec();
    let key = key
        .map(|(password, key)| {
            super::encrypt_private_key(key.secret_pkcs8_der(), password, policy, rng)
        })
        .transpose()?;
    let includes_key = key.is_some();
    Ok(DownloadResponse::new(
        Format::Crt,
        certificate,
        key,
        includes_key,
    ))
}
