//! The RFC 5280 walk of a certificate in DER: its structure, with OpenSSL's judgement of
//! the values it reads (see [`super::acceptance`]), and where the ranges the crate uses are.

use std::ops::Range;

use der::asn1::{BitStringRef, ContextSpecific, IntRef, OctetStringRef};
use der::{Decode, ErrorKind, Header, Reader, SliceReader, Tag, TagNumber};

use super::Ranges;
use super::acceptance::{any_value, name_value, oid_is_well_formed};
use super::ber::{pos, tlv};
use super::key_id::KeyIds;

fn invalid(r: &mut SliceReader<'_>, tag: Tag) -> der::Error {
    r.error(tag.value_error())
}

/// ```text
/// Certificate ::= SEQUENCE {
///      tbsCertificate       TBSCertificate,
///      signatureAlgorithm   AlgorithmIdentifier,
///      signatureValue       BIT STRING }
/// ```
/// [RFC 5280 §4.1](https://www.rfc-editor.org/rfc/rfc5280#section-4.1), nothing after it.
pub(super) fn certificate(der: &[u8]) -> der::Result<Ranges> {
    let mut reader = SliceReader::new(der)?;
    let ranges = reader.sequence(|cert| {
        let ranges = cert.sequence(tbs_certificate)?;
        algorithm_identifier(cert)?;
        bit_string(cert)?;
        der::Result::Ok(ranges)
    })?;
    reader.finish()?;
    Ok(ranges)
}

/// ```text
/// TBSCertificate ::= SEQUENCE {
///      version         [0]  EXPLICIT Version DEFAULT v1,
///      serialNumber         CertificateSerialNumber,
///      signature            AlgorithmIdentifier,
///      issuer               Name,
///      validity             Validity,
///      subject              Name,
///      subjectPublicKeyInfo SubjectPublicKeyInfo,
///      issuerUniqueID  [1]  IMPLICIT UniqueIdentifier OPTIONAL,
///      subjectUniqueID [2]  IMPLICIT UniqueIdentifier OPTIONAL,
///      extensions      [3]  EXPLICIT Extensions OPTIONAL }
/// ```
/// Like OpenSSL, and unlike RFC 5280's prose, any version may carry unique identifiers and
/// extensions; any serial number is read (zero, negative, longer than 20 octets).
fn tbs_certificate(tbs: &mut SliceReader<'_>) -> der::Result<Ranges> {
    // v2 is 1 and v3 is 2; v1 is written by leaving the field out (DER omits a DEFAULT).
    if let Some(version) = ContextSpecific::<u8>::decode_explicit(tbs, TagNumber(0))?
        && !matches!(version.value, 1 | 2)
    {
        return Err(invalid(tbs, Tag::Integer));
    }
    let serial_len = tbs.decode::<IntRef<'_>>()?.as_bytes().len();
    let serial = pos(tbs) - serial_len..pos(tbs);
    algorithm_identifier(tbs)?;
    let (issuer, _) = name(tbs)?;
    tbs.sequence(|validity| {
        time(validity)?;
        time(validity)
    })?;
    let (subject, common_name) = name(tbs)?;
    let start = pos(tbs);
    tbs.sequence(|spki| {
        algorithm_identifier(spki)?;
        bit_string(spki)
    })?;
    let spki = start..pos(tbs);
    for number in [1, 2] {
        if let Some(id) =
            ContextSpecific::<BitStringRef<'_>>::decode_implicit(tbs, TagNumber(number))?
        {
            padding_is_zero(tbs, id.value)?;
        }
    }
    let mut ranges = Ranges {
        serial,
        issuer,
        subject,
        common_name,
        spki,
        key_ids: KeyIds::default(),
    };
    if !tbs.is_finished() {
        let header = Header::decode(tbs)?;
        if header.tag()
            != (Tag::ContextSpecific {
                constructed: true,
                number: TagNumber(3),
            })
        {
            return Err(tbs.error(header.tag().unexpected_error(None)));
        }
        tbs.read_nested(header.length(), |explicit| {
            explicit.sequence(|extensions| {
                while !extensions.is_finished() {
                    let (oid, at, value) = extensions.sequence(extension)?;
                    ranges.key_ids.found(oid, at, value);
                }
                der::Result::Ok(())
            })
        })?;
    }
    Ok(ranges)
}

/// ```text
/// Extension ::= SEQUENCE {
///      extnID      OBJECT IDENTIFIER,
///      critical    BOOLEAN DEFAULT FALSE,
///      extnValue   OCTET STRING }
/// ```
/// The value is not looked into: neither OpenSSL nor `cryptography` does when parsing.
/// Returns the OID's content, and the value's octets and where they start.
fn extension<'a>(ext: &mut SliceReader<'a>) -> der::Result<(&'a [u8], usize, &'a [u8])> {
    let oid = object_identifier(ext)?;
    if ext.peek_byte() == Some(0x01) && !ext.decode::<bool>()? {
        // DER leaves out a DEFAULT value.
        return Err(ext.error(Tag::Boolean.non_canonical_error()));
    }
    let value = ext.decode::<&OctetStringRef>()?.as_bytes();
    Ok((oid, pos(ext) - value.len(), value))
}

/// A BIT STRING in DER: at most 7 unused bits, and those zero.
fn bit_string(r: &mut SliceReader<'_>) -> der::Result<()> {
    let bits = r.decode::<BitStringRef<'_>>()?;
    padding_is_zero(r, bits)
}

fn padding_is_zero(r: &mut SliceReader<'_>, bits: BitStringRef<'_>) -> der::Result<()> {
    let mask = (1u8 << bits.unused_bits()) - 1;
    match bits.raw_bytes().last() {
        Some(last) if last & mask != 0 => Err(r.error(Tag::BitString.non_canonical_error())),
        _ => Ok(()),
    }
}

/// ```text
/// AlgorithmIdentifier ::= SEQUENCE {
///      algorithm    OBJECT IDENTIFIER,
///      parameters   ANY DEFINED BY algorithm OPTIONAL }
/// ```
/// The parameters are judged as OpenSSL judges an ANY, whatever the algorithm.
fn algorithm_identifier(r: &mut SliceReader<'_>) -> der::Result<()> {
    r.sequence(|alg| {
        object_identifier(alg)?;
        if !alg.is_finished() {
            let parameters = tlv(alg)?;
            if !any_value(&parameters) {
                return Err(alg.error(ErrorKind::Value { tag: Tag::Sequence }));
            }
        }
        Ok(())
    })
}

/// An OBJECT IDENTIFIER as OpenSSL reads one: not empty, every arc in minimal base 128
/// (no leading `0x80`), the last octet ending an arc. Arcs of any size, any first arc.
pub(super) fn object_identifier<'a>(r: &mut SliceReader<'a>) -> der::Result<&'a [u8]> {
    let header = Header::decode(r)?;
    header.tag().assert_eq(Tag::ObjectIdentifier)?;
    let bytes = r.read_slice(header.length())?;
    if oid_is_well_formed(bytes) {
        Ok(bytes)
    } else {
        Err(invalid(r, Tag::ObjectIdentifier))
    }
}

/// ```text
/// Time ::= CHOICE { utcTime UTCTime, generalTime GeneralizedTime }
/// ```
/// In DER (`YYMMDDHHMMSSZ`, `YYYYMMDDHHMMSSZ`), every field in range, the day within its
/// month. UTCTime years are 1950-2049; GeneralizedTime may hold any year, 2049 or earlier
/// included (RFC 5280 asks for UTCTime there, yet OpenSSL and `cryptography` both read it).
fn time(r: &mut SliceReader<'_>) -> der::Result<()> {
    let header = Header::decode(r)?;
    let value = r.read_slice(header.length())?;
    let digits = |s: &[u8]| -> Option<u16> {
        s.iter().try_fold(0u16, |a, d| {
            d.is_ascii_digit().then(|| a * 10 + u16::from(d - b'0'))
        })
    };
    let fields = match (header.tag(), value.len()) {
        (Tag::UtcTime, 13) => digits(&value[..2]).map(|yy| {
            let year = if yy >= 50 { 1900 + yy } else { 2000 + yy };
            (year, &value[2..])
        }),
        (Tag::GeneralizedTime, 15) => digits(&value[..4]).map(|year| (year, &value[4..])),
        _ => None,
    };
    let valid = fields.is_some_and(|(year, rest)| {
        let field = |i: usize| digits(&rest[i..i + 2]);
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
        let days = match field(0) {
            Some(1 | 3 | 5 | 7 | 8 | 10 | 12) => 31,
            Some(4 | 6 | 9 | 11) => 30,
            Some(2) if leap => 29,
            Some(2) => 28,
            _ => 0,
        };
        rest[10] == b'Z'
            && field(2).is_some_and(|day| (1..=days).contains(&day))
            && field(4).is_some_and(|hour| hour <= 23)
            && field(6).is_some_and(|minute| minute <= 59)
            && field(8).is_some_and(|second| second <= 59)
    });
    if valid {
        Ok(())
    } else {
        Err(invalid(r, header.tag()))
    }
}

/// ```text
/// Name ::= SEQUENCE OF RelativeDistinguishedName
/// RelativeDistinguishedName ::= SET OF AttributeTypeAndValue
/// AttributeTypeAndValue ::= SEQUENCE { type OBJECT IDENTIFIER, value ANY }
/// ```
/// The SET OF in DER order; an empty name or RDN is read, as by OpenSSL. Returns where the
/// name is, and where the value of its first common name is.
fn name(r: &mut SliceReader<'_>) -> der::Result<(Range<usize>, Option<Range<usize>>)> {
    /// id-at-commonName (2.5.4.3).
    const COMMON_NAME: [u8; 3] = [0x55, 0x04, 0x03];
    let start = pos(r);
    let mut common_name = None;
    r.sequence(|rdns| {
        while !rdns.is_finished() {
            let header = Header::decode(rdns)?;
            header.tag().assert_eq(Tag::Set)?;
            rdns.read_nested(header.length(), |set| {
                let mut previous: &[u8] = &[];
                while !set.is_finished() {
                    let at = pos(set);
                    let element = set.tlv_bytes()?;
                    if element < previous {
                        return Err(set.error(Tag::Set.non_canonical_error()));
                    }
                    previous = element;
                    let cn = SliceReader::new(element)?.sequence(|atv| {
                        let is_cn = object_identifier(atv)? == COMMON_NAME;
                        let value_start = at + pos(atv);
                        if !name_value(&tlv(atv)?) {
                            return Err(atv.error(ErrorKind::Value {
                                tag: Tag::Utf8String,
                            }));
                        }
                        Ok(is_cn.then(|| value_start..at + pos(atv)))
                    })?;
                    common_name = common_name.take().or(cn);
                }
                Ok(())
            })?;
        }
        der::Result::Ok(())
    })?;
    Ok((start..pos(r), common_name))
}
