//! pem: the leaf, its issuers in the order asked for, then one `ENCRYPTED PRIVATE KEY`
//! (under a password) or `CMS` (to a recipient, RFC 7468 section 9) block.
//!
//! The text is written here rather than with `der::pem` (`pem-rfc7468`): that encoder's
//! constant-time Base64 (`base64ct`) took 3.4 µs per 1.1 KB certificate against 1.15 µs
//! here (`base64`, one bulk encoding per block), which made a pem download of three
//! certificates 3.6-4.4 times slower. Nothing in a PEM file is secret before encryption.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::error::Error;
use crate::material::CheckedMaterial;
use crate::request::{DownloadRequest, Format};
use crate::response::{DownloadResponse, KeyFormat};

/// The length of a PEM line (RFC 7468).
const LINE: usize = 64;

/// The exact length of a PEM block of `der_len` bytes under `label`.
fn block_len(label: &str, der_len: usize) -> usize {
    let b64 = der_len.div_ceil(3) * 4;
    let lines = b64.div_ceil(LINE);
    // "-----BEGIN " + label + "-----\n", the lines, "-----END " + label + "-----\n"
    (11 + label.len() + 6) + b64 + lines + (9 + label.len() + 6)
}

/// Appends one PEM block: LF line ends, 64-character lines. The Base64 is written in one
/// pass into place, then the lines are moved apart (last first) to make room for the line
/// ends: one bulk encoding instead of one call per line.
fn push_block(out: &mut Vec<u8>, label: &str, der: &[u8]) {
    out.extend_from_slice(b"-----BEGIN ");
    out.extend_from_slice(label.as_bytes());
    out.extend_from_slice(b"-----\n");
    let b64 = der.len().div_ceil(3) * 4;
    let lines = b64.div_ceil(LINE);
    let at = out.len();
    out.resize(at + b64 + lines, b'\n');
    // The slice was sized for the encoding exactly, so it cannot run out of room.
    let _ = STANDARD.encode_slice(der, &mut out[at..at + b64]);
    for i in (1..lines).rev() {
        let from = at + i * LINE;
        let len = LINE.min(b64 - i * LINE);
        out.copy_within(from..from + len, from + i);
        out[from + i - 1] = b'\n';
    }
    out.extend_from_slice(b"-----END ");
    out.extend_from_slice(label.as_bytes());
    out.extend_from_slice(b"-----\n");
}

/// The leaf and the chain the request asks for, then `key` (a DER value and its PEM
/// label) when one goes out.
pub(super) fn text(
    request: &DownloadRequest,
    material: &CheckedMaterial,
    key: Option<(&str, &[u8])>,
) -> Vec<u8> {
    let chain = material.chain_for(request);
    let len = chain
        .iter()
        .map(|c| block_len("CERTIFICATE", c.der.len()))
        .sum::<usize>()
        + key.map_or(0, |(label, der)| block_len(label, der.len()));
    let mut out = Vec::with_capacity(len);
    for cert in chain {
        push_block(&mut out, "CERTIFICATE", &cert.der);
    }
    if let Some((label, der)) = key {
        push_block(&mut out, label, der);
    }
    out
}

/// The pem file: the certificates, then the key (PKCS#8 `EncryptedPrivateKeyInfo` or CMS
/// `EnvelopedData`) when one goes out.
pub(super) fn encode(
    request: &DownloadRequest,
    material: &CheckedMaterial,
    key: Option<(Vec<u8>, KeyFormat)>,
) -> Result<DownloadResponse, Error> {
    let block = key.as_ref().map(|(der, format)| {
        let label = match format {
            KeyFormat::EnvelopedData => "CMS",
            _ => "ENCRYPTED PRIVATE KEY",
        };
        (label, der.as_slice())
    });
    let out = text(request, material, block);
    Ok(DownloadResponse::new(Format::Pem, out, None, key.is_some()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The block as the line-by-line encoder wrote it before.
    fn line_by_line(label: &str, der: &[u8]) -> Vec<u8> {
        let mut out = format!("-----BEGIN {label}-----\n").into_bytes();
        for chunk in der.chunks(48) {
            out.extend_from_slice(STANDARD.encode(chunk).as_bytes());
            out.push(b'\n');
        }
        out.extend_from_slice(format!("-----END {label}-----\n").as_bytes());
        out
    }

    #[test]
    fn bulk_encoding_equals_line_by_line() {
        for n in 0..400usize {
            let der: Vec<u8> = (0..n).map(|i| (i * 37 + 11) as u8).collect();
            let mut out = b"prefix".to_vec();
            push_block(&mut out, "CERTIFICATE", &der);
            assert_eq!(
                &out[6..],
                line_by_line("CERTIFICATE", &der).as_slice(),
                "{n}"
            );
        }
    }

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
