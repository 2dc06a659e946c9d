//! The row codec: how values of the vault's types are written to and read from the
//! tables' columns (certificate ids, times in seconds, token hashes, the issuers column,
//! the sealed-key columns). Knows the columns, runs no query.

use std::time::{SystemTime, UNIX_EPOCH};

use cert_download::{CertificateDer, CertificateId};
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::seal::{KeyFormat, SealedKey};

pub(crate) fn id_i64(id: CertificateId) -> i64 {
    // CertificateId is at most 2^63-1.
    i64::try_from(id.get()).unwrap_or(i64::MAX)
}

pub(crate) fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The stored hash of a bearer token: SHA-256 of its UTF-8 bytes.
pub(crate) fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The issuers column: each DER certificate after the other.
pub(crate) fn join_issuers(issuers: &[CertificateDer<'_>]) -> Vec<u8> {
    issuers
        .iter()
        .flat_map(|c| c.as_ref().iter().copied())
        .collect()
}

/// Splits the issuers column back into certificates by their DER lengths; `None` if it
/// does not split into whole DER elements.
pub(crate) fn split_issuers(mut bytes: &[u8]) -> Option<Vec<CertificateDer<'static>>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let len = der_element_len(bytes)?;
        let (one, rest) = bytes.split_at_checked(len)?;
        out.push(CertificateDer::from(one.to_vec()));
        bytes = rest;
    }
    Some(out)
}

/// The length of the DER element (tag, length, content) at the start of `bytes`.
fn der_element_len(bytes: &[u8]) -> Option<usize> {
    let first = *bytes.get(1)?;
    let (header, content) = if first < 0x80 {
        (2, usize::from(first))
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let len = bytes
            .get(2..2 + n)?
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (2 + n, len)
    };
    header.checked_add(content)
}

/// The sealed key in columns `first..first+6` of a row (kek_id, wrap_nonce, wrapped_key,
/// key_format, key_nonce, ciphertext); `None` when the LEFT JOIN found none.
pub(crate) fn sealed_from_row<R>(row: &R, first: usize) -> Result<Option<SealedKey>, sqlx::Error>
where
    R: Row,
    usize: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Vec<u8>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let Some(kek_id) = row.try_get::<Option<String>, _>(first)? else {
        return Ok(None);
    };
    let format_name: String = row.try_get(first + 3)?;
    let format = KeyFormat::from_name(&format_name).ok_or_else(|| sqlx::Error::ColumnDecode {
        index: "key_format".into(),
        source: "an unknown key format".into(),
    })?;
    Ok(Some(SealedKey {
        kek_id,
        wrap_nonce: row.try_get(first + 1)?,
        wrapped_key: row.try_get(first + 2)?,
        format,
        key_nonce: row.try_get(first + 4)?,
        ciphertext: row.try_get(first + 5)?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers_column_round_trip() {
        let a = CertificateDer::from(vec![0x30, 0x03, 1, 2, 3]);
        let mut long = vec![0x30, 0x82, 0x01, 0x00];
        long.extend(std::iter::repeat_n(7u8, 256));
        let b = CertificateDer::from(long);
        let joined = join_issuers(&[a.clone(), b.clone()]);
        assert_eq!(split_issuers(&joined), Some(vec![a, b]));
        assert_eq!(split_issuers(&[]), Some(vec![]));
        assert_eq!(split_issuers(&joined[..joined.len() - 1]), None);
        assert_eq!(split_issuers(&[0x30]), None);
    }
}
