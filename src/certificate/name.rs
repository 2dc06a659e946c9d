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

//!
//! The common case, RDNs of one attribute each with primitive values, is compared in step
//! without allocating, stopping at the first difference; an RDN of several attributes (or a
//! BER constructed value) is compared as sorted canonical attributes.

use std::borrow::Cow;

use der::{Reader, SliceReader};

use super::ber::tag::{
    BMP_STRING, IA5_STRING, PRINTABLE_STRING, SEQUENCE, SET, TELETEX_STRING, UNIVERSAL_STRING,
    UTF8_STRING, VISIBLE_STRING,
};
use super::ber::{Tlv, UNIVERSAL, collect, tlv};
use super::rfc5280::object_identifier;

/// Whether the DER names `a` and `b` are the same name. Equal bytes are; names that do
/// not parse are equal to nothing else.
pub(super) fn same(a: &[u8], b: &[u8]) -> bool {
    a == b || same_rdns(a, b).unwrap_or(false)
}

/// The RDNs compared in order; `None` when a name does not parse.
fn same_rdns(a: &[u8], b: &[u8]) -> Option<bool> {
    let (mut a, mut b) = (rdns(a)?, rdns(b)?);
    loop {
        match (a.next(), b.next()) {
            (None, None) => return Some(true),
            (Some(a), Some(b)) => {
                if !same_rdn(a?, b?)? {
                    return Some(false);
                }
            }
            _ => return Some(false),
        }
    }
}

/// The contents of the RDNs (SETs) of the DER name `der`, the empty ones left out; an item
/// is `None` where the name does not parse.
fn rdns(der: &[u8]) -> Option<impl Iterator<Item = Option<&[u8]>>> {
    let mut reader = SliceReader::new(der).ok()?;
    let name = tlv(&mut reader).ok()?;
    (reader.is_finished() && is_universal(&name, SEQUENCE, true)).then_some(())?;
    let rdns = tlvs(name.value).filter_map(|rdn| match rdn {
        Some(set) if is_universal(&set, SET, true) => {
            (!set.value.is_empty()).then_some(Some(set.value))
        }
        _ => Some(None),
    });
    Some(rdns)
}

fn is_universal(value: &Tlv<'_>, number: u32, constructed: bool) -> bool {
    value.class == UNIVERSAL && value.number == number && value.constructed == constructed
}

/// The TLVs of `content`, in order; `None` for one that does not parse, which ends them.
fn tlvs(content: &[u8]) -> impl Iterator<Item = Option<Tlv<'_>>> {
    let mut reader = SliceReader::new(content).ok();
    std::iter::from_fn(move || {
        let r = reader.as_mut()?;
        if r.is_finished() {
            return None;
        }
        let next = tlv(r).ok();
        if next.is_none() {
            reader = None;
        }
        Some(next)
    })
}

/// Two RDNs' contents compared: in step when each is one attribute with a primitive value,
/// else as sorted canonical attributes.
fn same_rdn(a: &[u8], b: &[u8]) -> Option<bool> {
    if a == b {
        return Some(true);
    }
    match (single(a), single(b)) {
        (Some((a_type, a)), Some((b_type, b))) => Some(
            a_type == b_type
                && match (canonical_value(&a), canonical_value(&b)) {
                    (Value::Text(a), Value::Text(b)) => Folded::new(a).eq(Folded::new(b)),
                    (Value::Other, Value::Other) => a.number == b.number && a.value == b.value,
                    _ => false,
                },
        ),
        _ => {
            let (a, b) = (relative_name(a)?, relative_name(b)?);
            Some(a == b)
        }
    }
}

/// The type and primitive value of an RDN of one attribute.
fn single(rdn: &[u8]) -> Option<(&[u8], Tlv<'_>)> {
    let mut attributes = tlvs(rdn);
    let attribute = attributes.next()??;
    if attributes.next().is_some() {
        return None;
    }
    let (oid, value) = attribute_type_and_value(&attribute)?;
    (!value.constructed).then_some((oid, value))
}

/// An AttributeTypeAndValue's type (the OID's content) and value.
fn attribute_type_and_value<'a>(attribute: &Tlv<'a>) -> Option<(&'a [u8], Tlv<'a>)> {
    if !is_universal(attribute, SEQUENCE, true) {
        return None;
    }
    let mut reader = SliceReader::new(attribute.value).ok()?;
    let oid = object_identifier(&mut reader).ok()?;
    let value = tlv(&mut reader).ok()?;
    reader.is_finished().then_some((oid, value))
}

/// One attribute of a canonical name: its type's OID, the value's tag number, the value.
type Attribute<'a> = (&'a [u8], u32, Cow<'a, [u8]>);

/// The attributes of one RDN's content, canonical and sorted.
fn relative_name(rdn: &[u8]) -> Option<Vec<Attribute<'_>>> {
    let mut attributes = Vec::new();
    for attribute in tlvs(rdn) {
        let (oid, value) = attribute_type_and_value(&attribute?)?;
        let bytes = if value.constructed {
            let mut content = Vec::new();
            collect(value.value, false, 0, &mut content)?;
            Cow::Owned(content)
        } else {
            Cow::Borrowed(value.value)
        };
        let primitive = Tlv {
            constructed: false,
            value: &bytes,
            ..value
        };
        let canonical = match canonical_value(&primitive) {
            Value::Text(chars) => (UTF8_STRING, Cow::Owned(fold(chars).into_bytes())),
            Value::Other => (value.number, Cow::Owned(bytes.to_vec())),
            Value::Invalid => return None,
        };
        attributes.push((oid, canonical.0, canonical.1));
    }
    attributes.sort();
    Some(attributes)
}

/// A primitive value as OpenSSL's canonical form sees it.
enum Value<'a> {
    /// A string type OpenSSL canonicalizes (`ASN1_MASK_CANON`), as characters.
    Text(Chars<'a>),
    /// Any other type: compared by tag and bytes.
    Other,
    /// A UTF8String that is not UTF-8: OpenSSL cannot canonicalize it.
    Invalid,
}

/// The characters of a string value as OpenSSL's `ASN1_STRING_to_UTF8` reads them:
/// one-byte types as Latin-1.
fn canonical_value<'a>(value: &Tlv<'a>) -> Value<'a> {
    let bytes = value.value;
    match value.number {
        _ if value.class != UNIVERSAL => Value::Other,
        UTF8_STRING => match std::str::from_utf8(bytes) {
            Ok(text) => Value::Text(Chars::Utf8(text.chars())),
            Err(_) => Value::Invalid,
        },
        PRINTABLE_STRING | TELETEX_STRING | IA5_STRING | VISIBLE_STRING => {
            Value::Text(Chars::Latin1(bytes.iter()))
        }
        BMP_STRING => Value::Text(Chars::Bmp(bytes.chunks_exact(2))),
        UNIVERSAL_STRING => Value::Text(Chars::Universal(bytes.chunks_exact(4))),
        _ => Value::Other,
    }
}

/// The characters of a string value.
enum Chars<'a> {
    Utf8(std::str::Chars<'a>),
    Latin1(std::slice::Iter<'a, u8>),
    Bmp(std::slice::ChunksExact<'a, u8>),
    Universal(std::slice::ChunksExact<'a, u8>),
}

impl Iterator for Chars<'_> {
    type Item = char;

    fn next(&mut self) -> Option<char> {
        let code = match self {
            Chars::Utf8(chars) => return chars.next(),
            Chars::Latin1(bytes) => return bytes.next().map(|&b| char::from(b)),
            Chars::Bmp(units) => units
                .next()
                .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]]))),
            Chars::Universal(units) => units
                .next()
                .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]])),
        };
        // A name's BMPString and UniversalString hold whole characters (checked when the
        // certificate is read); anything else compares as U+FFFD.
        code.map(|code| char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER))
    }
}

/// OpenSSL's `asn1_string_canon` over characters: whitespace (space, `\t`, `\n`, `\v`,
/// `\f`, `\r`) trimmed and each inner run made one space, ASCII upper case lowered, other
/// characters kept.
struct Folded<'a> {
    chars: std::iter::Peekable<Chars<'a>>,
}

fn is_space(c: &char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{0B}' | '\u{0C}' | '\r')
}

impl<'a> Folded<'a> {
    fn new(chars: Chars<'a>) -> Self {
        let mut chars = chars.peekable();
        while chars.next_if(is_space).is_some() {}
        Folded { chars }
    }
}

impl Iterator for Folded<'_> {
    type Item = char;

    fn next(&mut self) -> Option<char> {
        let c = self.chars.next()?;
        if !is_space(&c) {
            return Some(c.to_ascii_lowercase());
        }
        while self.chars.next_if(is_space).is_some() {}
        // A run at the end is trailing whitespace: dropped.
        self.chars.peek().map(|_| ' ')
    }
}

fn fold(chars: Chars<'_>) -> String {
    Folded::new(chars).collect()
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

    /// The comparison in step agrees with comparing every RDN as sorted canonical
    /// attributes (the form OpenSSL compares), on every pair of these names.
    #[test]
    fn the_comparison_in_step_is_the_canonical_forms_comparison() {
        fn forms(der: &[u8]) -> Option<Vec<Vec<Attribute<'_>>>> {
            rdns(der)?.map(|rdn| relative_name(rdn?)).collect()
        }
        let reference = |a: &[u8], b: &[u8]| -> bool {
            matches!((forms(a), forms(b)), (Some(a), Some(b)) if a == b)
        };
        let bmp = |s: &str| {
            s.encode_utf16()
                .flat_map(u16::to_be_bytes)
                .collect::<Vec<_>>()
        };
        let names = [
            cn(tlv(0x13, b"Root CA")),
            cn(tlv(0x0C, b" root  ca")),
            cn(tlv(0x1E, &bmp("ROOT CA "))),
            cn(tlv(0x0C, b"Root CA2")),
            cn(tlv(0x12, b"Root CA")),
            cn(tlv(0x0C, b"")),
            cn(tlv(0x0C, b"   ")),
            name(&[&[(CN, tlv(0x13, b"Root CA"))], &[(O, tlv(0x13, b"x"))]]),
            name(&[&[(CN, tlv(0x0C, b"root ca"))], &[(O, tlv(0x0C, b"X"))]]),
            name(&[&[(CN, tlv(0x13, b"Root CA")), (O, tlv(0x13, b"x"))]]),
            name(&[&[(O, tlv(0x0C, b"X")), (CN, tlv(0x0C, b"ROOT CA"))]]),
            name(&[&[(O, tlv(0x13, b"Root CA"))]]),
        ];
        for a in &names {
            for b in &names {
                assert_eq!(same(a, b), reference(a, b), "{a:02x?} {b:02x?}");
            }
        }
        assert!(same(&names[0], &names[2]) && same(&names[7], &names[8]));
        assert!(same(&names[9], &names[10]) && !same(&names[5], &names[0]));
        assert!(same(&names[5], &names[6]), "empty and blank fold alike");
    }

    #[test]
    fn names_that_do_not_parse_are_equal_to_nothing_else() {
        let good = cn(tlv(0x13, b"x"));
        assert!(!same(&good, &[0x30, 0x01]));
        assert!(!same(&[0x30, 0x01], &[0x30, 0x02]));
        assert!(same(&[0x30, 0x01], &[0x30, 0x01]));
    }
}
