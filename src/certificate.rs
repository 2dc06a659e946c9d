//! Stored certificates, read once and judged as their consumers judge them.
//!
//! A certificate goes out byte for byte, so the question is whether the consumers can read
//! it. The rule is OpenSSL's `d2i_X509` in DER: a certificate is refused when OpenSSL
//! cannot parse it, and also when it is BER rather than DER (non-minimal or indefinite
//! lengths, constructed strings where a string type is expected, a BOOLEAN other than
//! `FF`, an encoded DEFAULT, an unsorted SET OF, non-zero padding bits), when a time is not
//! a valid `YYMMDDHHMMSSZ` UTCTime or `YYYYMMDDHHMMSSZ` GeneralizedTime, or when the version
//! is not v1, v2 or v3. Python `cryptography` refuses all of those too. Whatever else OpenSSL
//! reads is accepted, including what `const-oid` and `der` cannot represent: OID arcs of any
//! size, UTCTime years 1950-1969, GeneralizedTime from year 0, serial numbers of any length.
//! `tests/certificate_mutants.rs` checks the rule against both libraries on thousands of
//! mutated certificates.
//!
//! What OpenSSL checks was found by experiment (OpenSSL 3.0): every name value must be a
//! universal string type of its `DirectoryString`-like set (see [`acceptance::name_value`]), UTF8String
//! valid UTF-8, BMPString and UniversalString whole characters outside the surrogates
//! (PrintableString and IA5String contents are not checked); an AlgorithmIdentifier's
//! parameters may be any TLV, but NULL must be empty, BOOLEAN one octet, an OID, INTEGER or
//! BIT STRING well formed (see [`acceptance::any_value`]); extension values are not looked into.
//!
//! Only the byte ranges the crate uses are kept: the issuer, the subject and the
//! SubjectPublicKeyInfo. The common path allocates nothing. A range is looked up in the DER
//! it was read from; a lookup that failed would be an error or "not linked", never an empty
//! slice.
//!
//! The parts: [`rfc5280`] walks the certificate's structure; [`acceptance`] holds OpenSSL's
//! acceptance rules for the values; [`ber`] reads TLV headers (one parser, DER or BER
//! rules), names the universal tags and collects a BER constructed string; [`name`]
//! compares names and [`key_id`] reads the key identifier extensions, for issuer links.

use std::ops::Range;

use der::SliceReader;
use rustls_pki_types::CertificateDer;

use crate::error::{Error, ErrorKind as Kind};

mod acceptance;
mod ber;
mod key_id;
mod name;
mod rfc5280;

use ber::tag::{
    BMP_STRING, IA5_STRING, NUMERIC_STRING, PRINTABLE_STRING, TELETEX_STRING, UNIVERSAL_STRING,
    UTF8_STRING,
};
use ber::{UNIVERSAL, tlv};
use key_id::KeyIds;
use rfc5280::certificate;

/// A stored certificate that consumers can read: its DER and where its names and public
/// key are in it.
pub(crate) struct ParsedCertificate {
    pub(crate) der: CertificateDer<'static>,
    at: Ranges,
}

impl ParsedCertificate {
    /// Reads `der`; `kind` and `what` name the failure (the leaf or an issuer).
    pub(crate) fn parse(
        der: CertificateDer<'static>,
        kind: Kind,
        what: &str,
    ) -> Result<Self, Error> {
        match certificate(&der) {
            Ok(at) => Ok(Self { der, at }),
            Err(_) => Err(Error::new(
                kind,
                format!("the stored {what} does not parse"),
            )),
        }
    }

    /// The bytes at `range`, one of the ranges read from this DER; `None` (never an empty
    /// slice) if it were not in it, and every caller fails closed on that.
    fn bytes(&self, range: &Range<usize>) -> Option<&[u8]> {
        self.der.get(range.clone())
    }

    /// The DER `SubjectPublicKeyInfo`.
    pub(crate) fn spki_der(&self) -> Result<&[u8], Error> {
        self.bytes(&self.at.spki).ok_or_else(|| {
            Error::new(
                Kind::Internal,
                "the certificate's public key is not where it was read",
            )
        })
    }

    /// The subject's first common name, when it is text: a UTF8String, a BMPString or
    /// UniversalString, or a NumericString, PrintableString, TeletexString or IA5String of
    /// ASCII characters.
    pub(crate) fn common_name(&self) -> Option<String> {
        let value =
            tlv(&mut SliceReader::new(self.bytes(self.at.common_name.as_ref()?)?).ok()?).ok()?;
        if value.class != UNIVERSAL || value.constructed {
            return None;
        }
        let bytes = value.value;
        match value.number {
            UTF8_STRING => std::str::from_utf8(bytes).ok().map(str::to_owned),
            NUMERIC_STRING | PRINTABLE_STRING | TELETEX_STRING | IA5_STRING => bytes
                .is_ascii()
                .then(|| String::from_utf8_lossy(bytes).into_owned()),
            BMP_STRING => char::decode_utf16(
                bytes
                    .chunks_exact(2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]])),
            )
            .collect::<Result<String, _>>()
            .ok(),
            UNIVERSAL_STRING => bytes
                .chunks_exact(4)
                .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
            _ => None,
        }
    }

    /// Whether the certificate is self-signed as OpenSSL judges it: it issues itself (see
    /// [`issued`](Self::issued)). A self-issued certificate (subject = issuer) whose
    /// authority key identifier names another key, such as a link certificate of a CA key
    /// rollover, is not.
    pub(crate) fn is_self_signed(&self) -> bool {
        self.issued(self)
    }

    /// Whether `self` issued `child`, as OpenSSL's `X509_check_issued` judges a link by names
    /// and key identifiers: `self`'s subject is `child`'s issuer (compared as RFC 5280
    /// section 7.1 and OpenSSL do, see [`name`]), and where `child` has an
    /// authorityKeyIdentifier, its keyIdentifier is `self`'s subjectKeyIdentifier (when
    /// `self` has one), its serial number `self`'s and its first directory name `self`'s
    /// issuer. A certificate whose key identifier extensions cannot be read, or appear
    /// twice, links to nothing (OpenSSL's `EXFLAG_INVALID`). The signature is not checked.
    pub(crate) fn issued(&self, child: &ParsedCertificate) -> bool {
        self.links_to(child).unwrap_or(false)
    }

    /// [`issued`](Self::issued), `None` when a range is not in its DER.
    fn links_to(&self, child: &ParsedCertificate) -> Option<bool> {
        if self.at.key_ids.invalid
            || child.at.key_ids.invalid
            || !name::same(
                self.bytes(&self.at.subject)?,
                child.bytes(&child.at.issuer)?,
            )
        {
            return Some(false);
        }
        // What OpenSSL's `X509_check_akid` compares.
        let Some(aki) = &child.at.key_ids.authority else {
            return Some(true);
        };
        if let (Some(key_id), Some(ski)) = (&aki.key_id, &self.at.key_ids.subject)
            && child.bytes(key_id)? != self.bytes(ski)?
        {
            return Some(false);
        }
        if let Some(serial) = &aki.serial
            && child.bytes(serial)? != self.bytes(&self.at.serial)?
        {
            return Some(false);
        }
        if let Some(issuer) = &aki.issuer
            && !name::same(child.bytes(issuer)?, self.bytes(&self.at.issuer)?)
        {
            return Some(false);
        }
        Some(true)
    }
}

/// Where the serial number's content, the names, the subject's first common name (its
/// value's TLV), the public key and the key identifier extensions' values are.
struct Ranges {
    serial: Range<usize>,
    issuer: Range<usize>,
    subject: Range<usize>,
    common_name: Option<Range<usize>>,
    spki: Range<usize>,
    key_ids: KeyIds,
}

#[cfg(test)]
mod tests {
    use super::acceptance::oid_is_well_formed;
    use super::ber::collect;
    use super::*;
    use const_oid::AssociatedOid;
    use der::Decode;
    use proptest::prelude::*;
    use rustls_pki_types::pem::PemObject;
    use x509_cert::ext::pkix::name::GeneralName;
    use x509_cert::ext::pkix::{AuthorityKeyIdentifier, SubjectKeyIdentifier};

    fn fixture_certs() -> &'static [Vec<u8>] {
        static CERTS: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
        CERTS.get_or_init(|| {
            let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
            let mut dirs = Vec::new();
            for base in [
                "tests/fixtures/store",
                "tests/fixtures/ca",
                "examples/demo-store",
            ] {
                dirs.push(root.join(base));
                for entry in std::fs::read_dir(root.join(base)).unwrap() {
                    dirs.push(entry.unwrap().path());
                }
            }
            let mut out = Vec::new();
            for dir in dirs.iter().filter(|d| d.is_dir()) {
                for entry in std::fs::read_dir(dir).unwrap() {
                    let path = entry.unwrap().path();
                    if path.extension().is_some_and(|e| e == "pem")
                        && let Ok(iter) = CertificateDer::pem_file_iter(&path)
                    {
                        out.extend(iter.filter_map(Result::ok).map(|c| c.to_vec()));
                    }
                }
            }
            out
        })
    }

    fn read(der: &[u8]) -> Option<ParsedCertificate> {
        ParsedCertificate::parse(der.to_vec().into(), Kind::InvalidCertificate, "c").ok()
    }

    /// The key identifiers are where `x509-cert` finds them.
    fn assert_key_ids_as_x509_cert_reads_them(
        parsed: &ParsedCertificate,
        tbs: &x509_cert::TbsCertificate,
    ) {
        let extension = |oid| {
            tbs.extensions()
                .into_iter()
                .flatten()
                .find(|e| e.extn_id == oid)
                .map(|e| e.extn_value.as_bytes().to_vec())
        };
        let ski = extension(SubjectKeyIdentifier::OID).map(|v| {
            SubjectKeyIdentifier::from_der(&v)
                .unwrap()
                .0
                .as_bytes()
                .to_vec()
        });
        let at = |range: &Option<Range<usize>>| {
            range.as_ref().map(|r| parsed.bytes(r).unwrap().to_vec())
        };
        assert_eq!(at(&parsed.at.key_ids.subject), ski);
        let aki = extension(AuthorityKeyIdentifier::OID)
            .map(|v| AuthorityKeyIdentifier::from_der(&v).unwrap());
        let ours = parsed.at.key_ids.authority.as_ref();
        assert_eq!(aki.is_some(), ours.is_some());
        if let (Some(aki), Some(ours)) = (aki, ours) {
            let key_id = aki.key_identifier.map(|k| k.as_bytes().to_vec());
            assert_eq!(at(&ours.key_id), key_id);
            assert!(ours.issuer.is_none() && ours.serial.is_none());
        }
    }

    /// Every fixture but record 13's 64 random bytes is read, with the names and key that
    /// `x509-cert` finds.
    #[test]
    fn fixtures_are_read_with_their_names_and_key() {
        use der::Encode;
        let certs = fixture_certs();
        assert!(certs.len() > 30, "{} fixture certificates", certs.len());
        let mut read_count = 0;
        for der in certs {
            let Ok(cert) = x509_cert::Certificate::from_der(der) else {
                assert!(read(der).is_none());
                continue;
            };
            let parsed = read(der).expect("a fixture certificate is read");
            let tbs = cert.tbs_certificate();
            assert_eq!(
                parsed.spki_der().unwrap(),
                tbs.subject_public_key_info().to_der().unwrap()
            );
            assert_eq!(
                parsed.bytes(&parsed.at.issuer).unwrap(),
                tbs.issuer().to_der().unwrap()
            );
            assert_eq!(
                parsed.bytes(&parsed.at.subject).unwrap(),
                tbs.subject().to_der().unwrap()
            );
            let cn = tbs
                .subject()
                .common_name()
                .unwrap()
                .map(|cn| cn.value().into_owned());
            assert_eq!(parsed.common_name(), cn);
            // The fixture PKI has no link certificates: self-issued is self-signed there.
            assert_eq!(parsed.is_self_signed(), tbs.issuer() == tbs.subject());
            assert_key_ids_as_x509_cert_reads_them(&parsed, tbs);
            assert!(!parsed.at.key_ids.invalid);
            assert_eq!(
                parsed.bytes(&parsed.at.serial).unwrap(),
                tbs.serial_number().as_bytes()
            );
            read_count += 1;
        }
        assert!(read_count + 1 >= certs.len());
    }

    fn tlv_bytes(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        match content.len() {
            n @ 0..=0x7F => out.push(n as u8),
            n @ 0x80..=0xFF => out.extend([0x81, n as u8]),
            n => out.extend([0x82, (n >> 8) as u8, n as u8]),
        }
        out.extend_from_slice(content);
        out
    }

    fn seq(parts: &[&[u8]]) -> Vec<u8> {
        tlv_bytes(0x30, &parts.concat())
    }

    /// A certificate whose subject is a single CN of the given TLV, the fixture's key and a
    /// made-up signature.
    fn with_subject_cn(cn: &[u8]) -> Vec<u8> {
        let oid = |oid: der::asn1::ObjectIdentifier| der::Encode::to_der(&oid).unwrap();
        let alg = seq(&[
            &oid(const_oid::db::rfc5912::SHA_256_WITH_RSA_ENCRYPTION),
            &[0x05, 0x00],
        ]);
        let cn_type = oid(const_oid::db::rfc4519::CN);
        let issuer = seq(&[&tlv_bytes(0x31, &seq(&[&cn_type, &tlv_bytes(0x0C, b"CA")]))]);
        let subject = seq(&[&tlv_bytes(0x31, &seq(&[&cn_type, cn]))]);
        let validity = seq(&[
            &tlv_bytes(0x17, b"250101000000Z"),
            &tlv_bytes(0x17, b"350101000000Z"),
        ]);
        let fixture = read(&fixture_certs()[0]).unwrap();
        let tbs = seq(&[
            &[0xA0, 3, 2, 1, 2],
            &[2, 1, 1],
            &alg,
            &issuer,
            &validity,
            &subject,
            fixture.spki_der().unwrap(),
        ]);
        seq(&[&tbs, &alg, &[3, 3, 0, 0xAB, 0xCD]])
    }

    /// A certificate issued by `issuer` to `subject` (RFC 4514 names), with `serial` and the
    /// given extensions (OID, DER value), the fixture's key and a made-up signature.
    fn issued_cert(
        issuer: &str,
        subject: &str,
        serial: u8,
        extensions: &[(der::asn1::ObjectIdentifier, Vec<u8>)],
    ) -> ParsedCertificate {
        use der::Encode;
        use std::str::FromStr;
        let oid = |oid: der::asn1::ObjectIdentifier| oid.to_der().unwrap();
        let name = |rfc4514: &str| {
            x509_cert::name::Name::from_str(rfc4514)
                .unwrap()
                .to_der()
                .unwrap()
        };
        let alg = seq(&[
            &oid(const_oid::db::rfc5912::SHA_256_WITH_RSA_ENCRYPTION),
            &[0x05, 0x00],
        ]);
        let validity = seq(&[
            &tlv_bytes(0x17, b"250101000000Z"),
            &tlv_bytes(0x17, b"350101000000Z"),
        ]);
        let extensions: Vec<Vec<u8>> = extensions
            .iter()
            .map(|(id, value)| seq(&[&oid(*id), &tlv_bytes(0x04, value)]))
            .collect();
        let extensions: Vec<&[u8]> = extensions.iter().map(Vec::as_slice).collect();
        let fixture = read(&fixture_certs()[0]).unwrap();
        let tbs = seq(&[
            &[0xA0, 3, 2, 1, 2],
            &[2, 1, serial],
            &alg,
            &name(issuer),
            &validity,
            &name(subject),
            fixture.spki_der().unwrap(),
            &tlv_bytes(0xA3, &seq(&extensions)),
        ]);
        read(&seq(&[&tbs, &alg, &[3, 3, 0, 0xAB, 0xCD]])).expect("a certificate")
    }

    fn ski(id: &[u8]) -> (der::asn1::ObjectIdentifier, Vec<u8>) {
        let value = SubjectKeyIdentifier(der::asn1::OctetString::new(id).unwrap());
        (
            SubjectKeyIdentifier::OID,
            der::Encode::to_der(&value).unwrap(),
        )
    }

    fn aki(
        id: Option<&[u8]>,
        issuer: Option<&str>,
        serial: Option<u8>,
    ) -> (der::asn1::ObjectIdentifier, Vec<u8>) {
        use std::str::FromStr;
        let value = AuthorityKeyIdentifier {
            key_identifier: id.map(|id| der::asn1::OctetString::new(id).unwrap()),
            authority_cert_issuer: issuer.map(|n| {
                vec![GeneralName::DirectoryName(
                    x509_cert::name::Name::from_str(n).unwrap(),
                )]
            }),
            authority_cert_serial_number: serial
                .map(|s| x509_cert::serial_number::SerialNumber::new(&[s]).unwrap()),
        };
        (
            AuthorityKeyIdentifier::OID,
            der::Encode::to_der(&value).unwrap(),
        )
    }

    /// What OpenSSL's `X509_check_issued` compares, case by case: names as canonical
    /// forms, then the authority key identifier's key id, serial and directory name.
    #[test]
    fn issuer_links_are_judged_by_names_and_key_identifiers() {
        let ca = |exts: &[_]| issued_cert("CN=Root", "CN=CA,O=Org", 7, exts);
        let child = |issuer: &str, exts: &[_]| issued_cert(issuer, "CN=leaf", 9, exts);
        let yes = |parent: &ParsedCertificate, kid: &ParsedCertificate, what: &str| {
            assert!(parent.issued(kid), "{what}: issued");
        };
        let no = |parent: &ParsedCertificate, kid: &ParsedCertificate, what: &str| {
            assert!(!parent.issued(kid), "{what}: not issued");
        };
        let keyed = ca(&[ski(b"key-1")]);
        yes(&keyed, &child("CN=CA,O=Org", &[]), "no AKI: names decide");
        yes(
            &ca(&[]),
            &child("CN=CA,O=Org", &[]),
            "no identifiers at all",
        );
        yes(
            &keyed,
            &child("CN=ca,O=ORG", &[]),
            "names that differ in case only",
        );
        no(&keyed, &child("CN=CA,O=Other", &[]), "another name");
        no(&keyed, &child("O=Org,CN=CA", &[]), "RDNs in another order");
        let by_key = |id: &[u8]| child("CN=CA,O=Org", &[aki(Some(id), None, None)]);
        yes(&keyed, &by_key(b"key-1"), "AKI = SKI");
        no(
            &keyed,
            &by_key(b"key-2"),
            "AKI names another key (a renewed CA)",
        );
        yes(&ca(&[]), &by_key(b"key-2"), "the issuer has no SKI");
        let by_serial = |s| child("CN=CA,O=Org", &[aki(None, Some("CN=root"), Some(s))]);
        yes(&keyed, &by_serial(7), "AKI serial and issuer name the CA");
        no(&keyed, &by_serial(8), "AKI names another serial");
        let by_name = child("CN=CA,O=Org", &[aki(None, Some("CN=Other Root"), None)]);
        no(&keyed, &by_name, "AKI names another issuer of the CA");
        // OpenSSL's EXFLAG_INVALID: a key identifier twice, or one that does not decode,
        // links to nothing, in either role.
        let twice = ca(&[ski(b"key-1"), ski(b"key-1")]);
        no(
            &twice,
            &child("CN=CA,O=Org", &[]),
            "SKI twice in the issuer",
        );
        let broken = (AuthorityKeyIdentifier::OID, vec![0x30, 0x03, 0x80, 0x05]);
        no(
            &keyed,
            &child("CN=CA,O=Org", &[broken]),
            "an AKI that does not decode",
        );
    }

    /// The parts of an authority key identifier are where x509-cert's encoder put them.
    #[test]
    fn authority_key_identifiers_are_read_where_they_are() {
        use std::str::FromStr;
        let cert = issued_cert(
            "CN=Root",
            "CN=leaf",
            9,
            &[aki(Some(b"k-1"), Some("CN=root,O=x"), Some(7))],
        );
        let ids = &cert.at.key_ids;
        let read = ids.authority.as_ref().expect("an AKI");
        let bytes = |r: &Option<Range<usize>>| r.as_ref().map(|r| cert.bytes(r).unwrap().to_vec());
        assert_eq!(bytes(&read.key_id), Some(b"k-1".to_vec()));
        let name = x509_cert::name::Name::from_str("CN=root,O=x").unwrap();
        assert_eq!(
            bytes(&read.issuer),
            Some(der::Encode::to_der(&name).unwrap())
        );
        assert_eq!(bytes(&read.serial), Some(vec![7]));
        assert!(ids.subject.is_none() && !ids.invalid);
        let only_serial = issued_cert("CN=Root", "CN=leaf", 9, &[aki(None, None, Some(200))]);
        let read = only_serial.at.key_ids.authority.as_ref().unwrap();
        assert!(read.key_id.is_none() && read.issuer.is_none());
        assert_eq!(
            only_serial.bytes(read.serial.as_ref().unwrap()).unwrap(),
            [0x00, 200]
        );
    }

    #[test]
    fn self_signed_is_issuing_itself_and_a_link_certificate_is_not() {
        let root = |exts: &[_]| issued_cert("CN=Root", "CN=Root", 1, exts);
        assert!(root(&[]).is_self_signed(), "no identifiers");
        assert!(root(&[ski(b"new")]).is_self_signed(), "SKI only");
        assert!(
            root(&[ski(b"new"), aki(Some(b"new"), None, None)]).is_self_signed(),
            "AKI = SKI"
        );
        // A rollover's link certificate: the new key under the old one.
        let link = root(&[ski(b"new"), aki(Some(b"old"), None, None)]);
        assert!(!link.is_self_signed(), "self-issued, signed by another key");
        assert!(root(&[ski(b"old")]).issued(&link), "the old root issued it");
        assert!(!root(&[ski(b"new")]).issued(&link), "the new root did not");
        // Names equal only canonically are still the same name.
        assert!(issued_cert("CN=ROOT", "cn=root", 1, &[]).is_self_signed());
        assert!(!issued_cert("CN=Root", "CN=Other", 1, &[]).is_self_signed());
    }

    #[test]
    fn the_common_name_is_decoded_from_each_string_type() {
        for (cn, expected) in [
            (tlv_bytes(0x0C, "grüße".as_bytes()), Some("grüße")),
            (tlv_bytes(0x13, b"leaf.test"), Some("leaf.test")),
            (tlv_bytes(0x13, b"*.test"), Some("*.test")),
            (tlv_bytes(0x14, b"t61"), Some("t61")),
            (tlv_bytes(0x14, b"\xE9t\xE9"), None),
            (tlv_bytes(0x16, b"ia5"), Some("ia5")),
            (tlv_bytes(0x1E, &[0x00, 0x41, 0x00, 0xDF]), Some("Aß")),
            (
                tlv_bytes(0x1C, &[0, 0, 0, 0x41, 0, 1, 0xF6, 0x00]),
                Some("A😀"),
            ),
            (tlv_bytes(0x12, b"123"), Some("123")),
            (tlv_bytes(0x30, &[]), None),
        ] {
            let der = with_subject_cn(&cn);
            let parsed = read(&der).unwrap_or_else(|| panic!("{cn:02x?} is read"));
            assert_eq!(parsed.common_name().as_deref(), expected, "{cn:02x?}");
        }
    }

    /// An OCTET STRING in `depth` constructed ones.
    fn nested(depth: usize) -> Vec<u8> {
        (0..depth).fold(tlv_bytes(0x04, b"a"), |inner, _| tlv_bytes(0x24, &inner))
    }

    /// Verdicts of OpenSSL 3.0 found by experiment (`tests/certificate_mutants.rs` asks it
    /// again for most of them).
    #[test]
    fn name_values_are_judged_as_openssl_judges_them() {
        for (cn, ok) in [
            (tlv_bytes(0x0C, b"\xFF"), false),
            (tlv_bytes(0x0C, b"\xED\xA0\x80"), false),
            (tlv_bytes(0x1E, b"\x00A\x00"), false),
            (tlv_bytes(0x1E, b"\xD8\x3D\xDE\x00"), false),
            (tlv_bytes(0x1C, b"\x00\x11\x00\x00"), false),
            (tlv_bytes(0x04, b"x"), false),
            (tlv_bytes(0x1A, b"x"), false),
            (tlv_bytes(0x03, b"\x08x"), false),
            (tlv_bytes(0x03, b"\x07\xFF"), true),
            (tlv_bytes(0x13, b"a@&_*"), true),
            (tlv_bytes(0x16, b"\xE9"), true),
            (tlv_bytes(0x2C, &tlv_bytes(0x04, b"ab")), true),
            (tlv_bytes(0x2C, &tlv_bytes(0x04, b"\xFF")), false),
            (tlv_bytes(0x2C, b"\x24\x80\x04\x81\x01a\x00\x00"), true),
            (tlv_bytes(0x2C, b"\x24\x80\x04\x01a"), false),
            (tlv_bytes(0x2C, b"\x04\x01a\x00\x00"), false),
            (tlv_bytes(0x2C, b"\x04\x80a\x00\x00"), false),
            (tlv_bytes(0x2C, b"\x04\x81\x00"), true),
            (tlv_bytes(0x2C, b"\x1F\x81\x00\x01a"), true),
            (tlv_bytes(0x2C, &nested(5)), true),
            (tlv_bytes(0x2C, &nested(6)), false),
            (tlv_bytes(0x23, b"\x03\x02\x08\x00"), false),
            (tlv_bytes(0x3E, &tlv_bytes(0x04, b"a")), false),
            (tlv_bytes(0x30, b"\xFF\xFF"), true),
            (tlv_bytes(0x10, b""), false),
            (vec![0x1F, 0x21, 0x00], false),
            (vec![0x0C, 0x81, 0x01, b'a'], false),
        ] {
            let der = with_subject_cn(&cn);
            assert_eq!(read(&der).is_some(), ok, "{cn:02x?}");
        }
    }

    #[test]
    fn object_identifiers_are_read_as_openssl_reads_them() {
        for (oid, ok) in [
            (&[0x88, 0x37, 0x01][..], true), // 2.999.1
            (
                &[
                    0x69, 0x83, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F,
                ],
                true,
            ),
            (&[0x00], true),
            (&[0x2A, 0x86], false),
            (&[0x2A, 0x80, 0x01], false),
            (&[0x80, 0x01], false),
            (&[], false),
        ] {
            assert_eq!(oid_is_well_formed(oid), ok, "{oid:02x?}");
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

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5_000))]

        /// The reader never panics, and what it accepts it can answer every question on.
        #[test]
        fn the_reader_never_panics(
            which in any::<usize>(),
            mutations in proptest::collection::vec(mutation(), 1..4),
        ) {
            let certs = fixture_certs();
            let mut der = certs[which % certs.len()].clone();
            for m in &mutations {
                let n = der.len().max(1);
                match *m {
                    Mutation::Set(i, b) if !der.is_empty() => der[i % n] = b,
                    Mutation::Xor(i, b) if !der.is_empty() => der[i % n] ^= b,
                    Mutation::Insert(i, b) => der.insert(i % n.min(der.len() + 1), b),
                    Mutation::Remove(i) if !der.is_empty() => {
                        der.remove(i % n);
                    }
                    Mutation::Truncate(i) => der.truncate(i % n),
                    _ => {}
                }
            }
            if let Some(parsed) = read(&der) {
                let _ = parsed.common_name();
                let _ = parsed.is_self_signed();
                for other in certs.iter().take(8).filter_map(|c| read(c)) {
                    let _ = parsed.issued(&other);
                    let _ = other.issued(&parsed);
                }
                prop_assert!(!parsed.spki_der().unwrap().is_empty());
            }
        }

        /// Nor on arbitrary bytes after a certificate's first header.
        #[test]
        fn the_reader_never_panics_on_noise(
            bytes in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let der = tlv_bytes(0x30, &bytes);
            let _ = read(&der).map(|p| p.common_name());
            let mut content = Vec::new();
            let _ = collect(&bytes, false, 0, &mut content);
        }
    }
}
