//! pem: the leaf, its issuers in the order asked for, then one `ENCRYPTED PRIVATE KEY`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::credential::Credential;
use crate::error::Error;
use crate::key::CheckedKey;
use crate::policy::ExportPolicy;
use crate::random::RandomSource;
use crate::request::{DownloadRequest, Format, Password};
use crate::response::DownloadResponse;

/// The length of a PEM line (RFC 7468).
const LINE: usize = 64;

/// The exact length of a PEM block of `der_len` bytes under `label`.
fn block_len(label: &str, der_len: usize) -> usize {
    let b64 = der_len.div_ceil(3) * 4;
    let lines = b64.div_ceil(LINE);
    // "-----BEGIN " + label + "-----\n", the lines, "-----END " + label + "-----\n"
    (11 + label.len() + 6) + b64 + lines + (9 + label.len() + 6)
}

/// Appends one PEM block: LF line ends, 64-character lines.
fn push_block(out: &mut Vec<u8>, label: &str, der: &[u8]) {
    out.extend_from_slice(b"-----BEGIN ");
    out.extend_from_slice(label.as_bytes());
    out.extend_from_slice(b"-----\n");
    // 48 input bytes make one 64-character line.
    for chunk in der.chunks(LINE / 4 * 3) {
        let start = out.len();
        out.resize(start + chunk.len().div_ceil(3) * 4, 0);
        // The slice was sized for this chunk exactly, so encoding cannot run out of room.
        let written = STANDARD.encode_slice(chunk, &mut out[start..]).unwrap_or(0);
        out.truncate(start + written);
        out.push(b'\n');
    }
    out.extend_from_slice(b"-----END ");
    out.extend_from_slice(label.as_bytes());
    out.extend_from_slice(b"-----\n");
}

pub(super) fn encode(
    request: &DownloadRequest,
    credential: &Credential,
    key: Option<(&Password, &CheckedKey)>,
    policy: &ExportPolicy,
    rng: &mut dyn RandomSource,
) -> Result<DownloadResponse, Error> {
    let chain = credential.chain(request.chain_order());
    let encrypted_key = key
        .map(|(password, key)| {
            super::encrypt_private_key(key.secret_pkcs8_der(), password, policy, rng)
        })
        .transpose()?;
    let len = chain
        .iter()
        .map(|c| block_len("CERTIFICATE", c.der.len()))
        .sum::<usize>()
        + encrypted_key
            .as_ref()
            .map_or(0, |k| block_len("ENCRYPTED PRIVATE KEY", k.len()));
    let mut out = Vec::with_capacity(len);
    for cert in chain {
        push_block(&mut out, "CERTIFICATE", &cert.der);
    }
    if let Some(k) = &encrypted_key {
        push_block(&mut out, "ENCRYPTED PRIVATE KEY", k);
    }
    Ok(DownloadResponse::new(
        Format::Pem,
        out,
        None,
        encrypted_key.is_some(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_len_is_exact() {
        for n in [0usize, 1, 2, 3, 47, 48, 49, 95, 96, 97, 1000, 1234] {
            let der: Vec<u8> = (0..n).map(|i| i as u8).collect();
            let mut out = Vec::new();
            push_block(&mut out, "CERTIFICATE", &der);
            assert_eq!(out.len(), block_len("CERTIFICATE", n), "length {n}");
            let text = String::from_utf8(out).unwrap();
            assert!(text.lines().all(|l| l.len() <= 64));
            assert!(!text.contains('\r'));
        }
    }
}
