//! TLVs as the certificate reader sees them: one header parser for both rules it needs
//! (DER for the certificate's own structure, BER as OpenSSL reads the content of a
//! constructed string), the universal tag numbers by name, and OpenSSL's collector of a
//! BER constructed string's content.

use der::{ErrorKind, Length, Reader, SliceReader};

/// The universal class (the two high bits of the identifier octet).
pub(super) const UNIVERSAL: u8 = 0;

/// Universal tag numbers (X.680, section 8.6).
pub(super) mod tag {
    pub(in crate::certificate) const END_OF_CONTENTS: u32 = 0;
    pub(in crate::certificate) const BOOLEAN: u32 = 1;
    pub(in crate::certificate) const INTEGER: u32 = 2;
    pub(in crate::certificate) const BIT_STRING: u32 = 3;
    pub(in crate::certificate) const OCTET_STRING: u32 = 4;
    pub(in crate::certificate) const NULL: u32 = 5;
    pub(in crate::certificate) const OBJECT_IDENTIFIER: u32 = 6;
    pub(in crate::certificate) const OBJECT_DESCRIPTOR: u32 = 7;
    pub(in crate::certificate) const EXTERNAL: u32 = 8;
    pub(in crate::certificate) const REAL: u32 = 9;
    pub(in crate::certificate) const ENUMERATED: u32 = 10;
    pub(in crate::certificate) const EMBEDDED_PDV: u32 = 11;
    pub(in crate::certificate) const UTF8_STRING: u32 = 12;
    pub(in crate::certificate) const RELATIVE_OID: u32 = 13;
    pub(in crate::certificate) const TIME: u32 = 14;
    /// Reserved for future editions of X.680.
    pub(in crate::certificate) const RESERVED_15: u32 = 15;
    pub(in crate::certificate) const SEQUENCE: u32 = 16;
    pub(in crate::certificate) const SET: u32 = 17;
    pub(in crate::certificate) const NUMERIC_STRING: u32 = 18;
    pub(in crate::certificate) const PRINTABLE_STRING: u32 = 19;
    pub(in crate::certificate) const TELETEX_STRING: u32 = 20;
    pub(in crate::certificate) const IA5_STRING: u32 = 22;
    pub(in crate::certificate) const VISIBLE_STRING: u32 = 26;
    pub(in crate::certificate) const UNIVERSAL_STRING: u32 = 28;
    pub(in crate::certificate) const CHARACTER_STRING: u32 = 29;
    pub(in crate::certificate) const BMP_STRING: u32 = 30;
}

/// The encoding rules a header is read by.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Rules {
    /// DER: the tag number and the length in their shortest forms, the length definite.
    Der,
    /// BER as OpenSSL's `ASN1_get_object` reads it: a tag number and a length in any form,
    /// an indefinite length on a constructed value.
    Ber,
}

/// A TLV's header: its tag and its length (`None`: indefinite).
pub(super) struct Header {
    pub(super) class: u8,
    pub(super) constructed: bool,
    pub(super) number: u32,
    pub(super) length: Option<usize>,
}

/// Reads a header from `bytes` by `rules`; `None` when it breaks them or `bytes` ends.
/// Tag numbers are at most `INT_MAX`, as OpenSSL reads them.
pub(super) fn header(bytes: &mut impl Iterator<Item = u8>, rules: Rules) -> Option<Header> {
    let first = bytes.next()?;
    let constructed = first & 0x20 != 0;
    let mut number = u32::from(first & 0x1F);
    if number == 0x1F {
        number = 0;
        loop {
            let byte = bytes.next()?;
            let padded = number == 0 && byte == 0x80;
            if number > i32::MAX as u32 >> 7 || (rules == Rules::Der && padded) {
                return None;
            }
            number = (number << 7) | u32::from(byte & 0x7F);
            if byte < 0x80 {
                break;
            }
        }
        if rules == Rules::Der && number < 0x1F {
            return None;
        }
    }
    let length = match bytes.next()? {
        0x80 => (rules == Rules::Ber && constructed).then_some(None)?,
        short @ 0..=0x7F => Some(usize::from(short)),
        long => Some(long_length(bytes, usize::from(long & 0x7F), rules)?),
    };
    Some(Header {
        class: first >> 6,
        constructed,
        number,
        length,
    })
}

/// A long-form length of `count` octets. DER: no leading zero octet, at least 128, within
/// what `der` can represent. BER: any leading zero octets, at most `i64::MAX`.
fn long_length(bytes: &mut impl Iterator<Item = u8>, count: usize, rules: Rules) -> Option<usize> {
    let mut length = 0u64;
    let mut significant = 0;
    for _ in 0..count {
        let byte = bytes.next()?;
        if significant == 0 && byte == 0 {
            if rules == Rules::Der {
                return None;
            }
            continue;
        }
        significant += 1;
        if significant > 8 {
            return None;
        }
        length = (length << 8) | u64::from(byte);
    }
    let length = usize::try_from(length)
        .ok()
        .filter(|l| *l <= i64::MAX as usize)?;
    match rules {
        Rules::Der => (length >= 0x80 && Length::try_from(length).is_ok()).then_some(length),
        Rules::Ber => Some(length),
    }
}

/// A TLV of any tag. `der`'s [`Tag`](der::Tag) knows only some universal tags, and name
/// values and parameters may carry others (UniversalString among them).
pub(super) struct Tlv<'a> {
    pub(super) class: u8,
    pub(super) constructed: bool,
    pub(super) number: u32,
    pub(super) value: &'a [u8],
}

/// Where `r` is in what it reads.
pub(super) fn pos(r: &SliceReader<'_>) -> usize {
    usize::try_from(r.position()).unwrap_or(usize::MAX)
}

/// The next TLV of `r`, its header in DER.
pub(super) fn tlv<'a>(r: &mut SliceReader<'a>) -> der::Result<Tlv<'a>> {
    let header = header(&mut std::iter::from_fn(|| r.read_byte().ok()), Rules::Der);
    let Some(Header {
        class,
        constructed,
        number,
        length: Some(length),
    }) = header
    else {
        return Err(r.error(ErrorKind::TagNumberInvalid));
    };
    let length = Length::try_from(length)?;
    Ok(Tlv {
        class,
        constructed,
        number,
        value: r.read_slice(length)?,
    })
}

/// The content of a BER constructed string as OpenSSL's `asn1_collect` gathers it into
/// `out`: nested TLVs of any tag, with any length form, down to 5 levels; the primitive
/// ones' contents concatenated. Returns what follows the end-of-contents marker when
/// `indefinite`, else the empty rest; `None` when the TLVs do not parse.
pub(super) fn collect<'a>(
    mut bytes: &'a [u8],
    indefinite: bool,
    depth: u8,
    out: &mut Vec<u8>,
) -> Option<&'a [u8]> {
    /// OpenSSL's `ASN1_MAX_STRING_NEST`.
    const MAX_DEPTH: u8 = 5;
    loop {
        if let [0, 0, rest @ ..] = bytes {
            return indefinite.then_some(rest);
        }
        if bytes.is_empty() {
            return (!indefinite).then_some(bytes);
        }
        let mut rest = bytes.iter().copied();
        let header = header(&mut rest, Rules::Ber)?;
        bytes = &bytes[bytes.len() - rest.len()..];
        if header.constructed && depth >= MAX_DEPTH {
            return None;
        }
        match header.length {
            None => bytes = collect(bytes, true, depth + 1, out)?,
            Some(length) => {
                let (content, rest) = bytes.split_at_checked(length)?;
                if header.constructed {
                    collect(content, false, depth + 1, out)?;
                } else {
                    out.extend_from_slice(content);
                }
                bytes = rest;
            }
        }
    }
}
