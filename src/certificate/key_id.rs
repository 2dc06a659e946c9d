//! The key identifier extensions (RFC 5280 sections 4.2.1.1 and 4.2.1.2), read where they
//! are in the certificate, without allocating, once when the certificate is read.
//!
//! ```text
//! SubjectKeyIdentifier ::= KeyIdentifier
//! AuthorityKeyIdentifier ::= SEQUENCE {
//!     keyIdentifier             [0] KeyIdentifier           OPTIONAL,
//!     authorityCertIssuer       [1] GeneralNames            OPTIONAL,
//!     authorityCertSerialNumber [2] CertificateSerialNumber OPTIONAL }
//! KeyIdentifier ::= OCTET STRING
//! ```
//! (IMPLICIT tags; a GeneralName's `directoryName` is `[4] Name`, EXPLICIT as Name is a
//! CHOICE.) Read with the certificate reader's TLVs: `der`'s decoders cost about 0.1 µs more per
//! certificate in a side-by-side run (about 2 % of a keyless pem download).

use std::ops::Range;

use const_oid::AssociatedOid;
use der::{ErrorKind, Reader, SliceReader, Tag};
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, SubjectKeyIdentifier};

use super::acceptance::content_is_valid;
use super::ber::tag::{INTEGER, OCTET_STRING, SEQUENCE};
use super::ber::{Tlv, UNIVERSAL, pos, tlv};

/// The context-specific class (the two high bits of the identifier octet).
const CONTEXT_SPECIFIC: u8 = 2;

/// Where a certificate's key identifiers are.
#[derive(Default)]
pub(super) struct KeyIds {
    /// The subjectKeyIdentifier's octets.
    pub(super) subject: Option<Range<usize>>,
    pub(super) authority: Option<AuthorityKeyId>,
    /// One of the two extensions appears twice or does not decode: OpenSSL then marks the
    /// certificate invalid (`EXFLAG_INVALID`) and links it to nothing.
    pub(super) invalid: bool,
}

/// Where the parts of an authorityKeyIdentifier are.
#[derive(Default)]
pub(super) struct AuthorityKeyId {
    /// The keyIdentifier's octets.
    pub(super) key_id: Option<Range<usize>>,
    /// The first directoryName of authorityCertIssuer: a Name's DER.
    pub(super) issuer: Option<Range<usize>>,
    /// The authorityCertSerialNumber's content octets.
    pub(super) serial: Option<Range<usize>>,
}

impl KeyIds {
    /// Reads the extension `oid` whose value (the extnValue's octets) is `value`, at `at` in
    /// the certificate, when it is a key identifier.
    pub(super) fn found(&mut self, oid: &[u8], at: usize, value: &[u8]) {
        if oid == SubjectKeyIdentifier::OID.as_bytes() {
            let read = subject_key_identifier(value);
            self.invalid |= self.subject.is_some() || read.is_err();
            self.subject = read.ok().map(|r| shift(r, at));
        } else if oid == AuthorityKeyIdentifier::OID.as_bytes() {
            let read = authority_key_identifier(value);
            self.invalid |= self.authority.is_some() || read.is_err();
            self.authority = read.ok().map(|aki| AuthorityKeyId {
                key_id: aki.key_id.map(|r| shift(r, at)),
                issuer: aki.issuer.map(|r| shift(r, at)),
                serial: aki.serial.map(|r| shift(r, at)),
            });
        }
    }
}

fn shift(range: Range<usize>, by: usize) -> Range<usize> {
    range.start + by..range.end + by
}

/// The one TLV `bytes` holds, and where its value starts (its header's length).
fn only(bytes: &[u8]) -> der::Result<(Tlv<'_>, usize)> {
    let mut r = SliceReader::new(bytes)?;
    let value = tlv(&mut r)?;
    let header = bytes.len() - value.value.len();
    r.finish()?;
    Ok((value, header))
}

/// The range of the value of the TLV `r` has just read, `value` octets long, when `r`
/// starts at `offset`.
fn last(r: &SliceReader<'_>, offset: usize, value: &[u8]) -> Range<usize> {
    offset + pos(r) - value.len()..offset + pos(r)
}

fn is(value: &Tlv<'_>, class: u8, constructed: bool, number: u32) -> bool {
    value.class == class && value.constructed == constructed && value.number == number
}

fn malformed() -> der::Error {
    der::Error::from(ErrorKind::Value {
        tag: Tag::OctetString,
    })
}

/// `KeyIdentifier ::= OCTET STRING`.
fn subject_key_identifier(value: &[u8]) -> der::Result<Range<usize>> {
    let (key_id, start) = only(value)?;
    if !is(&key_id, UNIVERSAL, false, OCTET_STRING) {
        return Err(malformed());
    }
    Ok(start..value.len())
}

/// The AuthorityKeyIdentifier SEQUENCE, its fields in order, each at most once.
fn authority_key_identifier(value: &[u8]) -> der::Result<AuthorityKeyId> {
    let (sequence, start) = only(value)?;
    if !is(&sequence, UNIVERSAL, true, SEQUENCE) {
        return Err(malformed());
    }
    let mut fields = SliceReader::new(sequence.value)?;
    let mut aki = AuthorityKeyId::default();
    let mut next = 0;
    while !fields.is_finished() {
        let field = tlv(&mut fields)?;
        let at = last(&fields, start, field.value);
        match (field.class, field.constructed, field.number) {
            (CONTEXT_SPECIFIC, false, 0) if next == 0 => aki.key_id = Some(at),
            (CONTEXT_SPECIFIC, true, 1) if next <= 1 => {
                aki.issuer = first_directory_name(field.value)?
                    .map(|name| at.start + name.start..at.start + name.end);
            }
            (CONTEXT_SPECIFIC, false, 2)
                if next <= 2 && content_is_valid(INTEGER, field.value, false) =>
            {
                aki.serial = Some(at);
            }
            _ => return Err(malformed()),
        }
        next = field.number + 1;
    }
    Ok(aki)
}

/// Where in a GeneralNames' content the first `directoryName` (`[4] Name`, explicit) has
/// its Name's DER. Every GeneralName is a well-formed TLV.
fn first_directory_name(names: &[u8]) -> der::Result<Option<Range<usize>>> {
    let mut r = SliceReader::new(names)?;
    let mut first = None;
    while !r.is_finished() {
        let name = tlv(&mut r)?;
        if first.is_none() && is(&name, CONTEXT_SPECIFIC, true, 4) {
            // One TLV, the Name (not looked into here: names are compared canonically).
            only(name.value)?;
            first = Some(last(&r, 0, name.value));
        }
    }
    Ok(first)
}
