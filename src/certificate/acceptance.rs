//! OpenSSL's acceptance rules for the values a certificate holds: what OpenSSL 3.0 accepts
//! in the values it reads (found by experiment, see the module above): a name's values, an
//! AlgorithmIdentifier's parameters, and the content checks of its primitive types.
//!
//! The crate links no OpenSSL: these are OpenSSL's rules written down in Rust, so that a
//! stored certificate OpenSSL would refuse is refused here before it goes out.

use super::ber::tag::*;
use super::ber::{Tlv, UNIVERSAL, collect};

/// An AttributeTypeAndValue's value as OpenSSL reads one (`ASN1_PRINTABLE`): a universal
/// BIT STRING, UTF8String, NumericString, PrintableString, TeletexString, IA5String,
/// UniversalString, BMPString, SEQUENCE, or one of the tags OpenSSL has no type for (7, 8,
/// 9, 11, 13, 14, 15, 29); not an OCTET STRING, VisibleString or any other. Then its text
/// converts: UTF8String valid, BMPString and UniversalString whole characters, none a
/// surrogate.
pub(super) fn name_value(value: &Tlv<'_>) -> bool {
    value.class == UNIVERSAL
        && matches!(
            value.number,
            BIT_STRING
                | OBJECT_DESCRIPTOR
                | EXTERNAL
                | REAL
                | EMBEDDED_PDV
                | UTF8_STRING
                | RELATIVE_OID
                | TIME
                | RESERVED_15
                | SEQUENCE
                | NUMERIC_STRING
                | PRINTABLE_STRING
                | TELETEX_STRING
                | IA5_STRING
                | UNIVERSAL_STRING
                | CHARACTER_STRING
                | BMP_STRING
        )
        && universal_value(value, true)
}

/// A parameters field (ANY) as OpenSSL reads one: see [`universal_value`]; a value of
/// another class is not looked into.
pub(super) fn any_value(value: &Tlv<'_>) -> bool {
    value.class != UNIVERSAL || universal_value(value, false)
}

/// A universal value as OpenSSL's `asn1_d2i_ex_primitive` reads it: a SEQUENCE or SET
/// constructed (and not looked into); NULL, BOOLEAN, OID, INTEGER and ENUMERATED primitive;
/// other types primitive or, in BER, constructed, with the content as OpenSSL collects it.
/// `text`: also check that a string's characters convert as a name's do.
pub(super) fn universal_value(value: &Tlv<'_>, text: bool) -> bool {
    match (value.number, value.constructed) {
        (SEQUENCE | SET, constructed) => constructed,
        (BOOLEAN | INTEGER | NULL | OBJECT_IDENTIFIER | ENUMERATED, true) => false,
        // An end-of-contents marker where a value should be.
        (END_OF_CONTENTS, false) if value.value.is_empty() => false,
        (number, false) => content_is_valid(number, value.value, text),
        (number, true) => {
            let mut content = Vec::new();
            collect(value.value, false, 0, &mut content).is_some()
                && content_is_valid(number, &content, text)
        }
    }
}

/// The content checks of OpenSSL's `asn1_ex_c2i`, and with `text` those of its name
/// canonicalization (`ASN1_STRING_to_UTF8`).
pub(super) fn content_is_valid(number: u32, bytes: &[u8], text: bool) -> bool {
    match number {
        BOOLEAN => bytes.len() == 1,
        INTEGER | ENUMERATED => match bytes {
            [] => false,
            [0x00, next, ..] => *next >= 0x80,
            [0xFF, next, ..] => *next < 0x80,
            _ => true,
        },
        BIT_STRING => matches!(bytes, [unused, ..] if *unused <= 7),
        NULL => bytes.is_empty(),
        OBJECT_IDENTIFIER => oid_is_well_formed(bytes),
        UTF8_STRING => !text || std::str::from_utf8(bytes).is_ok(),
        UNIVERSAL_STRING => {
            bytes.len().is_multiple_of(4)
                && (!text
                    || bytes.chunks_exact(4).all(|c| {
                        char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])).is_some()
                    }))
        }
        BMP_STRING => {
            bytes.len().is_multiple_of(2)
                && (!text
                    || bytes
                        .chunks_exact(2)
                        .all(|c| !(0xD8..=0xDF).contains(&c[0])))
        }
        _ => true,
    }
}

/// An OBJECT IDENTIFIER's content as OpenSSL reads one: not empty, every arc in minimal
/// base 128 (no leading `0x80`), the last octet ending an arc.
pub(super) fn oid_is_well_formed(bytes: &[u8]) -> bool {
    let mut arc_starts = true;
    for &b in bytes {
        if arc_starts && b == 0x80 {
            return false;
        }
        arc_starts = b < 0x80;
    }
    !bytes.is_empty() && arc_starts
}
