//! Name comparison as OpenSSL's `X509_NAME_cmp` does it (RFC 5280 section 7.1): each name
//! is brought to a canonical form and the forms are compared.
//!
//! The canonical form of OpenSSL's `x509_name_canon`: the RDNs in order, an empty RDN
//! dropped; in each RDN its attributes as a set; a value of a string type (UTF8String,
//! BMPString, UniversalString, PrintableString, TeletexString, IA5String, VisibleString)
//! converted to UTF-8, leading and trailing whitespace removed, each inner run of
//! whitespace one space, ASCII letters lower case, and then compared as a UTF8String
//! whatever its type was; any other value (a NumericString, a BIT STRING) compared as it
//! is. So `CN=Root CA` as a PrintableString and `cn=root  ca` as a UTF8String are one name.

use std::borrow::Cow;

use der::{Decode, Header, Reader, SliceReader, Tag};

use super::{
    BMP_STRING, IA5_STRING, PRINTABLE_STRING, TELETEX_STRING, UNIVERSAL_STRING, UTF8_STRING,
    collect, object_identifier, tlv,
};

const VISIBLE_STRING: u32 = 26;

/// One attribute of a canonical name: its type's OID, the value's tag number, the value.
type Attribute<'a> = (&'a [u8], u32, Cow<'a, [u8]>);

/// Whether the DER names `a` and `b` are the same name. Equal bytes are; names that do
/// not parse are equal to nothing else.
pub(super) fn same(a: &[u8], b: &[u8]) -> bool {
    a == b
        || match (canonical(a), canonical(b)) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        }
}

/// The RDNs of the DER name `der`, each its attributes sorted, the values canonical.
fn canonical(der: &[u8]) -> Option<Vec<Vec<Attribute<'_>>>> {
    let mut reader = SliceReader::new(der).ok()?;
    let rdns = reader
        .sequence(|rdns| {
            let mut out = Vec::new();
            while !rdns.is_finished() {
                let header = Header::decode(rdns)?;
                header.tag().assert_eq(Tag::Set)?;
                let rdn = rdns.read_nested(header.length(), relative_name)?;
                if !rdn.is_empty() {
                    out.push(rdn);
                }
            }
            der::Result::Ok(out)
        })
        .ok()?;
    reader.is_finished().then_some(rdns)
}

/// The attributes of one RDN (a SET OF AttributeTypeAndValue), sorted.
fn relative_name<'a>(set: &mut SliceReader<'a>) -> der::Result<Vec<Attribute<'a>>> {
    let mut attributes = Vec::new();
    while !set.is_finished() {
        let attribute = set.sequence(|atv| {
            let oid = object_identifier(atv)?;
            let value = tlv(atv)?;
            let (number, bytes) = match (value.constructed, value.number) {
                (false, _) => (value.number, Cow::Borrowed(value.value)),
                (true, number) => {
                    let mut content = Vec::new();
                    collect(value.value, false, 0, &mut content)
                        .ok_or_else(|| atv.error(Tag::Set.value_error()))?;
                    (number, Cow::Owned(content))
                }
            };
            let folded = to_utf8(number, &bytes).map(|text| fold(&text));
            der::Result::Ok(match folded {
                Some(text) => (oid, UTF8_STRING, Cow::Owned(text)),
                None => (oid, number, bytes),
            })
        })?;
        attributes.push(attribute);
    }
    attributes.sort();
    Ok(attributes)
}

/// The UTF-8 of a value of a string type OpenSSL canonicalizes (`ASN1_MASK_CANON`), as
/// `ASN1_STRING_to_UTF8` converts it: one-byte types as Latin-1. `None` for other types.
fn to_utf8(number: u32, bytes: &[u8]) -> Option<Cow<'_, [u8]>> {
    let text: String = match number {
        UTF8_STRING => return Some(Cow::Borrowed(bytes)),
        PRINTABLE_STRING | TELETEX_STRING | IA5_STRING | VISIBLE_STRING => {
            bytes.iter().map(|&b| char::from(b)).collect()
        }
        BMP_STRING => char::decode_utf16(
            bytes
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]])),
        )
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect(),
        UNIVERSAL_STRING => bytes
            .chunks_exact(4)
            .map(|c| {
                char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                    .unwrap_or(char::REPLACEMENT_CHARACTER)
            })
            .collect(),
        _ => return None,
    };
    Some(Cow::Owned(text.into_bytes()))
}

/// OpenSSL's `asn1_string_canon` on UTF-8 bytes: whitespace (space, `\t`, `\n`, `\v`,
/// `\f`, `\r`) trimmed and each inner run made one space, ASCII upper case lowered, bytes
/// of multi-byte characters kept.
fn fold(text: &[u8]) -> Vec<u8> {
    let space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r');
    let start = text.iter().position(|b| !space(b)).unwrap_or(text.len());
    let end = text
        .iter()
        .rposition(|b| !space(b))
        .map_or(start, |i| i + 1);
    let mut out = Vec::with_capacity(end - start);
    for &b in &text[start..end] {
        if space(&b) {
            if out.last() != Some(&b' ') {
                out.push(b' ');
            }
        } else {
            out.push(b.to_ascii_lowercase());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag, u8::try_from(content.len()).unwrap()];
        out.extend_from_slice(content);
        out
    }

    /// A name of RDNs, each of (OID, value TLV) attributes.
    fn name(rdns: &[&[(&[u8], Vec<u8>)]]) -> Vec<u8> {
        let rdns: Vec<u8> = rdns
            .iter()
            .flat_map(|rdn| {
                let atvs: Vec<u8> = rdn
                    .iter()
                    .flat_map(|(oid, value)| tlv(0x30, &[&tlv(0x06, oid)[..], value].concat()))
                    .collect();
                tlv(0x31, &atvs)
            })
            .collect();
        tlv(0x30, &rdns)
    }

    const CN: &[u8] = &[0x55, 0x04, 0x03];
    const O: &[u8] = &[0x55, 0x04, 0x0A];

    fn cn(value: Vec<u8>) -> Vec<u8> {
        name(&[&[(CN, value)]])
    }

    #[test]
    fn names_are_compared_as_openssl_canonicalizes_them() {
        let printable = cn(tlv(0x13, b"Test Root CA"));
        for same_name in [
            cn(tlv(0x0C, b"Test Root CA")),
            cn(tlv(0x0C, b"test root ca")),
            cn(tlv(0x0C, b"  TEST \t\n Root   ca ")),
            cn(tlv(0x16, b"test root CA")),
            cn(tlv(
                0x1E,
                &"Test Root CA"
                    .encode_utf16()
                    .flat_map(u16::to_be_bytes)
                    .collect::<Vec<_>>(),
            )),
            cn(tlv(0x2C, &tlv(0x04, b"Test Root CA"))),
        ] {
            assert!(same(&printable, &same_name), "{same_name:02x?}");
            assert!(same(&same_name, &printable), "{same_name:02x?}");
        }
        for other in [
            cn(tlv(0x13, b"Test RootCA")),
            cn(tlv(0x13, b"Test Root CA2")),
            name(&[&[(O, tlv(0x13, b"Test Root CA"))]]),
            name(&[&[(CN, tlv(0x13, b"Test Root CA"))], &[(O, tlv(0x13, b"x"))]]),
            // A NumericString is not canonicalized: its bytes and tag count.
            cn(tlv(0x12, b"Test Root CA")),
            name(&[]),
        ] {
            assert!(!same(&printable, &other), "{other:02x?}");
        }
        // Non-ASCII letters are not case folded (OpenSSL folds ASCII only); Latin-1
        // TeletexString is its UTF-8 text.
        assert!(!same(
            &cn(tlv(0x0C, "É".as_bytes())),
            &cn(tlv(0x0C, "é".as_bytes()))
        ));
        assert!(same(
            &cn(tlv(0x14, b"\xE9")),
            &cn(tlv(0x0C, "é".as_bytes()))
        ));
    }

    #[test]
    fn rdns_keep_their_order_and_attributes_within_one_do_not() {
        let a = (CN, tlv(0x13, b"a"));
        let b = (O, tlv(0x13, b"b"));
        let one = name(&[&[a.clone(), b.clone()]]);
        let swapped = name(&[&[b.clone(), a.clone()]]);
        assert!(same(&one, &swapped));
        let (a, b) = (std::slice::from_ref(&a), std::slice::from_ref(&b));
        let two = name(&[a, b]);
        let reversed = name(&[b, a]);
        assert!(!same(&two, &reversed));
        assert!(!same(&one, &two));
        // An empty RDN is dropped, as OpenSSL's canonical form drops it.
        assert!(same(&name(&[a, &[]]), &name(&[a])));
    }

    #[test]
    fn names_that_do_not_parse_are_equal_to_nothing_else() {
        let good = cn(tlv(0x13, b"x"));
        assert!(!same(&good, &[0x30, 0x01]));
        assert!(!same(&[0x30, 0x01], &[0x30, 0x02]));
        assert!(same(&[0x30, 0x01], &[0x30, 0x01]));
    }
}
