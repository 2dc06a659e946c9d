//! Stored material, checked: the leaf parses, the chain is ordered, the key matches.
//!
//! A certificate is parsed once, without allocating: a walk over its DER with the `der`
//! crate's borrowed types checks every field that `x509_cert::Certificate` checks and keeps
//! the byte ranges of the issuer, the subject and the public key. The walk accepts only a
//! common, canonical shape (version 3, no unique identifiers, single-valued RDNs with
//! one-byte tags, no explicit `critical FALSE`); anything else is handed to
//! `x509_cert::Certificate::from_der`, whose verdict and values are then used. The unit
//! tests check on mutated certificates that whatever the walk accepts, `x509-cert` accepts
//! with the same names and key.

use std::ops::Range;

use der::asn1::PrintableStringRef;
use der::{Decode, Header, Reader, SliceReader, Tag};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use x509_cert::Certificate;
use x509_cert::name::Name;
use zeroize::Zeroizing;

use crate::error::{Error, ErrorKind};
use crate::key::CheckedKey;
use crate::request::ChainOrder;
use crate::store::CertificateRecord;

/// A certificate's DER and where its names and public key are in it.
pub(crate) struct ParsedCertificate {
    pub(crate) der: CertificateDer<'static>,
    issuer: Range<usize>,
    subject: Range<usize>,
    spki: Range<usize>,
    /// Set when the certificate is outside the walk's canonical shape: then names compare
    /// as `x509-cert` decodes them, not byte for byte.
    full: Option<Box<Certificate>>,
}

impl ParsedCertificate {
    fn parse(der: CertificateDer<'static>, kind: ErrorKind, what: &str) -> Result<Self, Error> {
        let fail = || Error::new(kind, format!("the stored {what} does not parse"));
        if let Some(r) = walk(&der) {
            return Ok(Self {
                der,
                issuer: r.issuer,
                subject: r.subject,
                spki: r.spki,
                full: None,
            });
        }
        let cert = Certificate::from_der(&der).map_err(|_| fail())?;
        let r = locate(&der).ok_or_else(fail)?;
        Ok(Self {
            der,
            issuer: r.issuer,
            subject: r.subject,
            spki: r.spki,
            full: Some(Box::new(cert)),
        })
    }

    fn bytes(&self, range: &Range<usize>) -> &[u8] {
        self.der.get(range.clone()).unwrap_or_default()
    }

    /// The DER `SubjectPublicKeyInfo`.
    pub(crate) fn spki_der(&self) -> &[u8] {
        self.bytes(&self.spki)
    }

    /// The subject's common name as `x509_cert`'s `Name::common_name` gives it: the first
    /// CN, if it is a DirectoryString.
    pub(crate) fn common_name(&self) -> Option<String> {
        if self.full.is_none()
            && let Some(cn) = fast_common_name(self.bytes(&self.subject))
        {
            return cn;
        }
        let name = match &self.full {
            Some(cert) => cert.tbs_certificate().subject().clone(),
            None => Name::from_der(self.bytes(&self.subject)).ok()?,
        };
        name.common_name()
            .ok()
            .flatten()
            .map(|cn| cn.value().into_owned())
    }

    fn name(&self, which: &Range<usize>) -> Option<Name> {
        Name::from_der(self.bytes(which)).ok()
    }

    fn self_issued(&self) -> bool {
        names_equal(self, &self.issuer, self, &self.subject)
    }

    /// Whether `self` is the issuer of `child`: its subject is the child's issuer.
    fn issued(&self, child: &ParsedCertificate) -> bool {
        names_equal(self, &self.subject, child, &child.issuer)
    }
}

/// Name equality as `x509_cert::name::Name`'s `PartialEq`: byte for byte when both
/// certificates are in the canonical shape (single-valued RDNs, one-byte tags, DER
/// lengths), else on the decoded names.
fn names_equal(
    a: &ParsedCertificate,
    ra: &Range<usize>,
    b: &ParsedCertificate,
    rb: &Range<usize>,
) -> bool {
    if a.full.is_none() && b.full.is_none() {
        return a.bytes(ra) == b.bytes(rb);
    }
    match (a.name(ra), b.name(rb)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

/// Where the names and the public key are.
struct Located {
    issuer: Range<usize>,
    subject: Range<usize>,
    spki: Range<usize>,
}

fn pos(r: &SliceReader<'_>) -> usize {
    usize::try_from(r.position()).unwrap_or(usize::MAX)
}

/// The range of the next TLV, read past it.
fn tlv_range(r: &mut SliceReader<'_>) -> der::Result<Range<usize>> {
    let start = pos(r);
    r.tlv_bytes()?;
    Ok(start..pos(r))
}

/// The ranges in a certificate that `x509-cert` has accepted: no checks, positions only.
fn locate(der: &[u8]) -> Option<Located> {
    let mut r = SliceReader::new(der).ok()?;
    let outer = Header::decode(&mut r).ok()?;
    if outer.tag() != Tag::Sequence {
        return None;
    }
    let tbs = Header::decode(&mut r).ok()?;
    if tbs.tag() != Tag::Sequence {
        return None;
    }
    if r.peek_byte() == Some(0xA0) {
        r.tlv_bytes().ok()?;
    }
    r.tlv_bytes().ok()?; // serial
    r.tlv_bytes().ok()?; // signature algorithm
    let issuer = tlv_range(&mut r).ok()?;
    r.tlv_bytes().ok()?; // validity
    let subject = tlv_range(&mut r).ok()?;
    let spki = tlv_range(&mut r).ok()?;
    Some(Located {
        issuer,
        subject,
        spki,
    })
}

/// The allocation-free walk: `Some` only for a certificate in the canonical shape that
/// `x509_cert::Certificate::from_der` accepts; `None` for anything else (which then goes
/// to `x509-cert` for the verdict). It applies the `der` crate's rules itself (minimal
/// definite lengths, canonical INTEGERs, OIDs as `const-oid` validates them, UTCTime and
/// GeneralizedTime as `der` validates them, BIT STRINGs without unused bits) and refuses
/// whatever it does not check.
fn walk(der: &[u8]) -> Option<Located> {
    let mut r = Der::new(der);
    let mut cert = r.expect(0x30)?;
    if !r.is_empty() {
        return None;
    }
    let mut tbs = cert.expect(0x30)?;
    // version [0] EXPLICIT INTEGER: exactly v3 here.
    if tbs.take(5)? != [0xA0, 0x03, 0x02, 0x01, 0x02] {
        return None;
    }
    let serial = tbs.expect(0x02)?;
    serial_ok(serial.bytes)?;
    algorithm_identifier(&mut tbs)?;
    let issuer = name(&mut tbs)?;
    let mut validity = tbs.expect(0x30)?;
    time(&mut validity)?;
    time(&mut validity)?;
    validity.end()?;
    let subject = name(&mut tbs)?;
    let spki_start = tbs.at();
    let mut spki = tbs.expect(0x30)?;
    algorithm_identifier(&mut spki)?;
    bit_string(&mut spki)?;
    spki.end()?;
    let spki = spki_start..tbs.at();
    // issuerUniqueID [1] and subjectUniqueID [2]: not in the canonical shape.
    if !tbs.is_empty() {
        let mut explicit = tbs.expect(0xA3)?;
        let mut extensions = explicit.expect(0x30)?;
        explicit.end()?;
        while !extensions.is_empty() {
            let mut ext = extensions.expect(0x30)?;
            oid(ext.expect(0x06)?.bytes)?;
            if ext.peek() == Some(0x01) {
                // critical: only an explicit TRUE here (DER omits FALSE).
                if ext.expect(0x01)?.bytes != [0xFF] {
                    return None;
                }
            }
            ext.expect(0x04)?;
            ext.end()?;
        }
    }
    tbs.end()?;
    algorithm_identifier(&mut cert)?;
    bit_string(&mut cert)?;
    cert.end()?;
    Some(Located {
        issuer,
        subject,
        spki,
    })
}

/// A DER reader over a slice: TLVs with one-byte tags and DER lengths.
pub(crate) struct Der<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// Where `bytes` starts in the outermost input.
    offset: usize,
}

impl<'a> Der<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            pos: 0,
            offset: 0,
        }
    }

    /// The absolute position in the outermost input.
    pub(crate) fn at(&self) -> usize {
        self.offset + self.pos
    }

    fn is_empty(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    pub(crate) fn end(&self) -> Option<()> {
        self.is_empty().then_some(())
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let out = self.bytes.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(out)
    }

    /// The next TLV: its tag and a reader over its value. Lengths as `der` decodes them:
    /// definite, minimal, at most 4 length octets.
    fn tlv(&mut self) -> Option<(u8, Der<'a>)> {
        let tag = *self.bytes.get(self.pos)?;
        let first = *self.bytes.get(self.pos + 1)?;
        let (len, n) = match first {
            0..=0x7F => (usize::from(first), 0),
            0x81..=0x84 => {
                let n = usize::from(first - 0x80);
                let octets = self.bytes.get(self.pos + 2..self.pos + 2 + n)?;
                let len = octets
                    .iter()
                    .fold(0usize, |a, b| (a << 8) | usize::from(*b));
                // Minimal: a long form only from 0x80, and no leading zero octet.
                if len < 0x80 || octets[0] == 0 {
                    return None;
                }
                (len, n)
            }
            _ => return None,
        };
        let start = self.pos + 2 + n;
        let value = self.bytes.get(start..start.checked_add(len)?)?;
        self.pos = start + len;
        Some((
            tag,
            Der {
                bytes: value,
                pos: 0,
                offset: self.offset + start,
            },
        ))
    }

    /// The next TLV, which must have tag `tag`.
    pub(crate) fn expect(&mut self, tag: u8) -> Option<Der<'a>> {
        match self.tlv()? {
            (t, value) if t == tag => Some(value),
            _ => None,
        }
    }
}

/// An INTEGER serial number as x509-cert's `SerialNumber` takes it: canonical, at most
/// 21 octets; only non-negative ones here.
fn serial_ok(bytes: &[u8]) -> Option<()> {
    match bytes {
        [] => None,
        [0x00, b, ..] if *b < 0x80 => None,
        [b, ..] if *b >= 0x80 => None,
        _ if bytes.len() > 21 => None,
        _ => Some(()),
    }
}

/// An OBJECT IDENTIFIER as `der` decodes `ObjectIdentifier` (at most 39 octets).
fn oid(bytes: &[u8]) -> Option<()> {
    if oid_common_form(bytes) {
        return Some(());
    }
    if bytes.len() > 39 {
        return None;
    }
    const_oid::ObjectIdentifierRef::from_bytes(bytes).ok()?;
    Some(())
}

/// The form of nearly every OID in a certificate, checked without `const-oid` (which the
/// rest goes to): under 1.2, 1.3, 2.5 or 2.16, at most 39 octets, every later arc in
/// minimal base 128 (no leading 0x80) of at most 4 octets, the last octet ending an arc.
/// Stricter than `const-oid` (a unit test checks that it accepts all of these).
fn oid_common_form(bytes: &[u8]) -> bool {
    let [first, rest @ ..] = bytes else {
        return false;
    };
    if !matches!(first, 0x2A | 0x2B | 0x55 | 0x60) || rest.is_empty() || bytes.len() > 39 {
        return false;
    }
    let mut arc = 0;
    for &b in rest {
        if arc == 0 && b == 0x80 {
            return false;
        }
        arc += 1;
        if arc > 4 {
            return false;
        }
        if b < 0x80 {
            arc = 0;
        }
    }
    arc == 0
}

/// AlgorithmIdentifier ::= SEQUENCE { OID, parameters }: parameters absent, NULL, or an
/// OID (a named curve) here.
fn algorithm_identifier(r: &mut Der<'_>) -> Option<()> {
    let mut alg = r.expect(0x30)?;
    oid(alg.expect(0x06)?.bytes)?;
    match alg.peek() {
        None => {}
        Some(0x05) => alg.expect(0x05)?.bytes.is_empty().then_some(())?,
        Some(0x06) => oid(alg.expect(0x06)?.bytes)?,
        Some(_) => return None,
    }
    alg.end()
}

/// A BIT STRING with no unused bits.
fn bit_string(r: &mut Der<'_>) -> Option<()> {
    match r.expect(0x03)?.bytes {
        [0, ..] => Some(()),
        _ => None,
    }
}

/// UTCTime or GeneralizedTime as `der` validates them: `YYMMDDHHMMSSZ` (years 1970-2049)
/// or `YYYYMMDDHHMMSSZ` (from 1970), every field in range, the day within its month.
fn time(r: &mut Der<'_>) -> Option<()> {
    let (tag, value) = r.tlv()?;
    let b = value.bytes;
    let digits = |s: &[u8]| -> Option<u16> {
        s.iter().try_fold(0u16, |a, d| {
            d.is_ascii_digit().then(|| a * 10 + u16::from(d - b'0'))
        })
    };
    let (year, rest) = match (tag, b.len()) {
        (0x17, 13) => {
            let yy = digits(&b[..2])?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &b[2..])
        }
        (0x18, 15) => (digits(&b[..4])?, &b[4..]),
        _ => return None,
    };
    if rest[10] != b'Z' {
        return None;
    }
    let month = digits(&rest[0..2])?;
    let day = digits(&rest[2..4])?;
    let hour = digits(&rest[4..6])?;
    let minute = digits(&rest[6..8])?;
    let second = digits(&rest[8..10])?;
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    (year >= 1970 && (1..=days).contains(&day) && hour <= 23 && minute <= 59 && second <= 59)
        .then_some(())
}

/// Name ::= SEQUENCE OF SET OF AttributeTypeAndValue, each SET of exactly one, each value
/// a string type: then two names are equal exactly when their bytes are.
fn name(r: &mut Der<'_>) -> Option<Range<usize>> {
    let start = r.at();
    let mut rdns = r.expect(0x30)?;
    while !rdns.is_empty() {
        let mut set = rdns.expect(0x31)?;
        let mut atv = set.expect(0x30)?;
        set.end()?;
        oid(atv.expect(0x06)?.bytes)?;
        // UTF8String, NumericString, PrintableString, TeletexString, IA5String,
        // VisibleString, BMPString: tags `der` decodes; their content is not checked
        // (x509-cert keeps the value as ANY).
        match atv.tlv()? {
            (0x0C | 0x12 | 0x13 | 0x14 | 0x16 | 0x1A | 0x1E, _) => {}
            _ => return None,
        }
        atv.end()?;
    }
    Some(start..r.at())
}

/// The first CN of a canonical name: `Some(Some(cn))` for a UTF8String or PrintableString
/// that decodes, `Some(None)` when there is no CN, `None` for anything the slow path must
/// judge (another string type, a value that does not decode).
fn fast_common_name(name: &[u8]) -> Option<Option<String>> {
    /// id-at-commonName (2.5.4.3).
    const CN: [u8; 3] = [0x55, 0x04, 0x03];
    let mut r = Der::new(name);
    let mut rdns = r.expect(0x30)?;
    while !rdns.is_empty() {
        let mut set = rdns.expect(0x31)?;
        let mut atv = set.expect(0x30)?;
        if atv.expect(0x06)?.bytes == CN {
            let (tag, value) = atv.tlv()?;
            return match tag {
                0x0C => std::str::from_utf8(value.bytes)
                    .ok()
                    .map(|s| Some(s.to_owned())),
                0x13 => PrintableStringRef::new(value.bytes)
                    .ok()
                    .map(|s| Some(s.as_str().to_owned())),
                _ => None,
            };
        }
    }
    Some(None)
}

/// What a download sends out, checked before anything is encoded.
pub(crate) struct Credential {
    pub(crate) leaf: ParsedCertificate,
    /// The issuers in leaf-first order: linked ones by issuer links, then the rest in
    /// stored order, each once. Empty when the chain does not go out.
    pub(crate) issuers: Vec<ParsedCertificate>,
    pub(crate) key: Option<CheckedKey>,
}

impl Credential {
    /// Parses the leaf, orders the issuers (when `with_chain`), checks the key against the
    /// leaf (when one is given).
    pub(crate) fn check(
        record: CertificateRecord,
        with_chain: bool,
        key: Option<Zeroizing<PrivateKeyDer<'static>>>,
    ) -> Result<Self, Error> {
        let leaf =
            ParsedCertificate::parse(record.leaf, ErrorKind::InvalidCertificate, "certificate")?;
        let issuers = if with_chain {
            let parsed = record
                .issuers
                .into_iter()
                .map(|der| {
                    ParsedCertificate::parse(der, ErrorKind::InvalidChain, "issuer certificate")
                })
                .collect::<Result<Vec<_>, _>>()?;
            order_issuers(&leaf, parsed)
        } else {
            Vec::new()
        };
        let key = match key {
            Some(key) => Some(CheckedKey::check(key, leaf.spki_der())?),
            None => None,
        };
        Ok(Self { leaf, issuers, key })
    }

    /// The leaf and its issuers in the order asked for.
    pub(crate) fn chain(&self, order: ChainOrder) -> Vec<&ParsedCertificate> {
        let mut all = Vec::with_capacity(1 + self.issuers.len());
        all.push(&self.leaf);
        all.extend(self.issuers.iter());
        if order == ChainOrder::RootFirst {
            all.reverse();
        }
        all
    }
}

/// Byte equality, the signatures' last bytes first: distinct certificates differ there, so
/// the deduplication of a long chain does not compare whole certificates pairwise.
fn same_der(a: &[u8], b: &[u8]) -> bool {
    fn tail(x: &[u8]) -> &[u8] {
        &x[x.len().saturating_sub(32)..]
    }
    a.len() == b.len() && tail(a) == tail(b) && a == b
}

/// Orders issuers by links from the leaf: each next certificate is one whose subject is
/// the current one's issuer. Stored order is not trusted; a duplicate (or a copy of the
/// leaf) goes out once; a loop ends the walk because each certificate is used once;
/// certificates that do not link follow in stored order.
fn order_issuers(
    leaf: &ParsedCertificate,
    issuers: Vec<ParsedCertificate>,
) -> Vec<ParsedCertificate> {
    let mut unique: Vec<ParsedCertificate> = Vec::with_capacity(issuers.len());
    for cert in issuers {
        if !same_der(&cert.der, &leaf.der) && !unique.iter().any(|u| same_der(&u.der, &cert.der)) {
            unique.push(cert);
        }
    }
    let mut slots: Vec<Option<ParsedCertificate>> = unique.into_iter().map(Some).collect();
    let mut ordered: Vec<ParsedCertificate> = Vec::with_capacity(slots.len());
    loop {
        let current = ordered.last().unwrap_or(leaf);
        if current.self_issued() {
            break;
        }
        let next = slots
            .iter()
            .position(|s| s.as_ref().is_some_and(|c| c.issued(current)));
        let Some(next) = next.and_then(|i| slots[i].take()) else {
            break;
        };
        ordered.push(next);
    }
    ordered.extend(slots.into_iter().flatten());
    ordered
}

#[cfg(test)]
mod tests {
    use super::*;
    use der::Encode;
    use proptest::prelude::*;
    use rustls_pki_types::pem::PemObject;

    fn fixture_certs() -> Vec<Vec<u8>> {
        static CERTS: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
        CERTS.get_or_init(load_fixture_certs).clone()
    }

    fn load_fixture_certs() -> Vec<Vec<u8>> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let mut out = Vec::new();
        for n in 1..=21 {
            for f in ["cert.pem", "chain.pem"] {
                let path = root.join(format!("store/{n}/{f}"));
                if let Ok(iter) = CertificateDer::pem_file_iter(&path) {
                    out.extend(iter.filter_map(Result::ok).map(|c| c.to_vec()));
                }
            }
        }
        for f in ["root.pem", "intermediate-rsa.pem", "intermediate-ec.pem"] {
            let path = root.join(format!("ca/{f}"));
            out.extend(
                CertificateDer::pem_file_iter(&path)
                    .unwrap()
                    .map(|c| c.unwrap().to_vec()),
            );
        }
        out
    }

    /// What the walk found, checked against x509-cert: it accepts too, with the same
    /// names, public key and common name.
    fn agrees(der: &[u8]) -> Result<bool, TestCaseError> {
        let Some(r) = walk(der) else {
            return Ok(false);
        };
        let cert = Certificate::from_der(der);
        prop_assert!(cert.is_ok(), "the walk accepted what x509-cert refuses");
        let cert = cert.unwrap();
        let tbs = cert.tbs_certificate();
        let issuer = tbs.issuer().to_der().unwrap();
        let subject = tbs.subject().to_der().unwrap();
        let spki = tbs.subject_public_key_info().to_der().unwrap();
        prop_assert_eq!(&der[r.issuer.clone()], issuer.as_slice());
        prop_assert_eq!(&der[r.subject.clone()], subject.as_slice());
        prop_assert_eq!(&der[r.spki.clone()], spki.as_slice());
        let parsed = ParsedCertificate::parse(
            CertificateDer::from(der.to_vec()),
            ErrorKind::InvalidCertificate,
            "certificate",
        )
        .unwrap();
        let expected = tbs
            .subject()
            .common_name()
            .ok()
            .flatten()
            .map(|cn| cn.value().into_owned());
        prop_assert_eq!(parsed.common_name(), expected);
        Ok(true)
    }

    #[test]
    fn every_fixture_certificate_takes_the_fast_walk() {
        let certs = fixture_certs();
        assert!(certs.len() > 20);
        for der in certs {
            let ok = Certificate::from_der(&der).is_ok();
            if ok {
                assert!(agrees(&der).unwrap(), "the walk refused a fixture");
            } else {
                // Record 13's corrupt certificate.
                assert!(walk(&der).is_none());
            }
        }
    }

    #[test]
    fn the_verdict_is_x509_certs_on_odd_shapes() {
        let der = fixture_certs().remove(0);
        for bad in [
            vec![],
            vec![0x30],
            vec![0x30, 0x00],
            vec![0x30, 0x03, 0x02, 0x01, 0x01],
            der[..der.len() - 1].to_vec(),
            [der.as_slice(), &[0]].concat(),
        ] {
            assert!(walk(&bad).is_none());
            let parsed =
                ParsedCertificate::parse(bad.clone().into(), ErrorKind::InvalidCertificate, "c");
            assert_eq!(parsed.is_ok(), Certificate::from_der(&bad).is_ok());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        /// The OID fast form accepts only what const-oid accepts.
        #[test]
        fn the_oid_fast_form_is_stricter_than_const_oid(
            first in prop_oneof![Just(0x2Au8), Just(0x2B), Just(0x55), Just(0x60), any::<u8>()],
            rest in proptest::collection::vec(
                prop_oneof![0u8..0x80, 0x80u8..=0xFF, Just(0x80)],
                0..45,
            ),
        ) {
            let bytes = [&[first][..], &rest].concat();
            if oid_common_form(&bytes) {
                prop_assert!(bytes.len() <= 39);
                prop_assert!(const_oid::ObjectIdentifierRef::from_bytes(&bytes).is_ok());
                prop_assert!(const_oid::ObjectIdentifier::from_bytes(&bytes).is_ok());
            }
        }
    }

    #[derive(Debug, Clone)]
    enum Mutation {
        Set(usize, u8),
        Xor(usize, u8),
        Insert(usize, u8),
        Remove(usize),
        Truncate(usize),
    }

    fn mutation() -> impl Strategy<Value = Mutation> {
        prop_oneof![
            (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
            (any::<usize>(), 0u8..8).prop_map(|(i, b)| Mutation::Xor(i, 1 << b)),
            (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
            any::<usize>().prop_map(Mutation::Remove),
            any::<usize>().prop_map(Mutation::Truncate),
        ]
    }

    fn apply(der: &mut Vec<u8>, m: &Mutation) {
        let n = der.len().max(1);
        match *m {
            Mutation::Set(i, b) => der[i % n] = b,
            Mutation::Xor(i, b) => der[i % n] ^= b,
            Mutation::Insert(i, b) => der.insert(i % n, b),
            Mutation::Remove(i) => {
                der.remove(i % n);
            }
            Mutation::Truncate(i) => der.truncate(i % n),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        /// Whatever the walk accepts, x509-cert accepts, with the same values; what it
        /// refuses goes to x509-cert, so the verdict is always x509-cert's.
        #[test]
        fn the_walk_never_accepts_what_x509_cert_refuses(
            which in any::<usize>(),
            mutations in proptest::collection::vec(mutation(), 1..4),
        ) {
            let certs = fixture_certs();
            let mut der = certs[which % certs.len()].clone();
            drop(certs);
            for m in &mutations {
                if der.is_empty() {
                    break;
                }
                apply(&mut der, m);
            }
            agrees(&der)?;
            let parsed =
                ParsedCertificate::parse(der.clone().into(), ErrorKind::InvalidCertificate, "c");
            prop_assert_eq!(parsed.is_ok(), Certificate::from_der(&der).is_ok());
        }
    }
}
