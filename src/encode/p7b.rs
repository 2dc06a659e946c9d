//! p7b: a certs-only PKCS#7 (RFC 5652 `SignedData` with no signers), DER, built on the `cms`
//! types `pkcs12` re-exports.
//!
//! `SignedData ::= SEQUENCE { version 1, digestAlgorithms {} , encapContentInfo { id-data },
//! certificates [0] IMPLICIT SET OF Certificate, signerInfos {} }` in a `ContentInfo` of type
//! `id-signedData`, as `openssl crl2pkcs7 -nocrl` writes it, but with the certificates in
//! DER order: a `SET OF`'s elements are sorted by their encodings (`SetOfVec` does it), so
//! `chain_order` does not apply; readers order the chain themselves.

use const_oid::db::rfc5911::{ID_DATA, ID_SIGNED_DATA};
use der::asn1::{AnyRef, SetOfVec};
use der::{Any, Encode, Sequence};
use pkcs12::cms::content_info::{CmsVersion, ContentInfo};
use pkcs12::cms::signed_data::{DigestAlgorithmIdentifiers, EncapsulatedContentInfo, SignerInfos};

use super::internal;
use crate::error::Error;
use crate::material::ParsedCertificate;
use crate::request::Format;
use crate::response::DownloadResponse;

/// RFC 5652 section 5.1 `SignedData`, as a certs-only file has it:
///
/// ```text
/// SignedData ::= SEQUENCE {
///   version CMSVersion,
///   digestAlgorithms DigestAlgorithmIdentifiers,
///   encapContentInfo EncapsulatedContentInfo,
///   certificates [0] IMPLICIT CertificateSet OPTIONAL,
///   crls [1] IMPLICIT RevocationInfoChoices OPTIONAL,
///   signerInfos SignerInfos }
/// ```
///
/// `cms`'s own `SignedData` holds each certificate as a decoded `x509_cert::Certificate`,
/// which cannot represent every certificate the crate's reader accepts (UTCTime before
/// 1970, serials over 20 octets, OID arcs beyond `const-oid`'s limits). Here each element
/// of the set is the stored DER as it is (the reader has checked it is DER), so a p7b holds
/// exactly the bytes the other formats hold and the signatures still verify.
#[derive(Sequence)]
struct CertsOnlySignedData<'a> {
    version: CmsVersion,
    digest_algorithms: DigestAlgorithmIdentifiers,
    encap_content_info: EncapsulatedContentInfo,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", constructed = "true")]
    certificates: SetOfVec<AnyRef<'a>>,
    signer_infos: SignerInfos,
}

/// The DER of the certs-only `ContentInfo` holding `certs` (sorted into DER order).
pub(super) fn encode(certs: &[&ParsedCertificate]) -> Result<DownloadResponse, Error> {
    let elements = certs
        .iter()
        .map(|cert| AnyRef::try_from(cert.der.as_ref()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| internal("a checked certificate is not one DER value"))?;
    let certificates = SetOfVec::try_from(elements)
        .map_err(|_| internal("the certificates cannot be put in DER order"))?;
    let signed_data = CertsOnlySignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::new(),
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: ID_DATA,
            econtent: None,
        },
        certificates,
        signer_infos: SignerInfos(SetOfVec::new()),
    };
    let content_info = ContentInfo {
        content_type: ID_SIGNED_DATA,
        content: Any::encode_from(&signed_data)
            .map_err(|_| internal("the SignedData cannot be encoded"))?,
    };
    let der = content_info
        .to_der()
        .map_err(|_| internal("the p7b cannot be encoded"))?;
    Ok(DownloadResponse::new(Format::P7b, der, None, false))
}

#[cfg(test)]
mod tests {
    use std::cmp::Ordering;

    use der::{Decode, Encode};
    use pkcs12::cms::cert::CertificateChoices;
    use pkcs12::cms::content_info::{CmsVersion, ContentInfo};
    use pkcs12::cms::signed_data::SignedData;
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;

    use crate::material::CheckedMaterial;
    use crate::policy::ExportPolicy;
    use crate::random::OsRandom;
    use crate::request::{CertificateId, ChainOrder, DownloadRequest};
    use crate::store::{CertificateStore, DirectoryStore};

    fn store() -> DirectoryStore {
        DirectoryStore::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/store")).unwrap()
    }

    /// X.690 11.6: a SET OF's encodings in ascending order, compared as octet strings with
    /// the shorter one padded with zero octets at its end.
    fn x690_cmp(a: &[u8], b: &[u8]) -> Ordering {
        let n = a.len().max(b.len());
        let pad = |x: &[u8]| {
            let mut v = x.to_vec();
            v.resize(n, 0);
            v
        };
        pad(a).cmp(&pad(b))
    }

    /// The certificates of a certs-only `SignedData` in DER, checked to be that shape: no
    /// digest algorithms, no content, no CRLs, no signers.
    fn certs_only_certificates(der: &[u8], what: &str) -> Vec<Vec<u8>> {
        let info = ContentInfo::from_der(der).expect(what);
        assert_eq!(info.to_der().unwrap(), der, "{what}: re-encodes as is");
        assert_eq!(
            info.content_type,
            const_oid::db::rfc5911::ID_SIGNED_DATA,
            "{what}"
        );
        let sd: SignedData = info.content.decode_as().expect(what);
        assert_eq!(sd.version, CmsVersion::V1, "{what}");
        assert!(sd.digest_algorithms.is_empty(), "{what}");
        assert_eq!(
            sd.encap_content_info.econtent_type,
            const_oid::db::rfc5911::ID_DATA,
            "{what}"
        );
        assert!(sd.encap_content_info.econtent.is_none(), "{what}");
        assert!(sd.crls.is_none(), "{what}");
        assert!(sd.signer_infos.0.is_empty(), "{what}");
        sd.certificates
            .expect("certificates")
            .0
            .iter()
            .map(|c| match c {
                CertificateChoices::Certificate(c) => c.to_der().unwrap(),
                CertificateChoices::Other(_) => panic!("{what}: not a certificate"),
            })
            .collect()
    }

    /// Every p7b: strict DER (it decodes with the `cms` types and re-encodes to the same
    /// bytes, and `der` decodes DER only), the certs-only shape, the certificates exactly
    /// the stored ones, byte for byte, in X.690 order.
    #[test]
    fn p7b_is_strict_der_with_sorted_certificates() {
        let store = store();
        let mut seen_reordered = false;
        for record in [1u64, 2, 4, 5, 9, 15, 17, 20, 21] {
            let id = CertificateId::new(record).unwrap();
            let stored = store.certificate(id).unwrap();
            for (chain, root, order) in [
                (true, true, ChainOrder::LeafFirst),
                (true, true, ChainOrder::RootFirst),
                (true, false, ChainOrder::LeafFirst),
                (false, true, ChainOrder::LeafFirst),
            ] {
                let what = format!("record {record} chain {chain} root {root} {order:?}");
                let request = DownloadRequest::p7b(id)
                    .with_chain(chain)
                    .with_root(root)
                    .with_chain_order(order);
                let material = CheckedMaterial::check(stored.clone(), chain, None).unwrap();
                let expected: Vec<Vec<u8>> = material
                    .chain_for(&request)
                    .iter()
                    .map(|c| c.der.to_vec())
                    .collect();
                let response = crate::encode::encode(
                    &request,
                    &material,
                    &ExportPolicy::DEFAULT,
                    &mut OsRandom,
                )
                .unwrap();
                let der = response.certificate();

                let certs = certs_only_certificates(der, &what);
                for pair in certs.windows(2) {
                    assert_eq!(
                        x690_cmp(&pair[0], &pair[1]),
                        Ordering::Less,
                        "{what}: X.690 order"
                    );
                }
                let mut sorted_expected = expected.clone();
                sorted_expected.sort_by(|a, b| x690_cmp(a, b));
                assert_eq!(certs, sorted_expected, "{what}: the certificates");
                seen_reordered |= certs != expected;
                // The stored bytes are in the file as they are.
                for c in &expected {
                    assert!(der.windows(c.len()).any(|w| w == c.as_slice()), "{what}");
                }
            }
        }
        assert!(seen_reordered, "some chain is not in DER order already");
    }

    /// The typed encoder's bytes against the ones `openssl crl2pkcs7` writes for the same
    /// certificates once those are sorted: the same structure, byte for byte.
    #[test]
    fn p7b_bytes_equal_openssl_crl2pkcs7_of_the_sorted_certificates() {
        let store = store();
        let id = CertificateId::new(1).unwrap();
        let stored = store.certificate(id).unwrap();
        let request = DownloadRequest::p7b(id);
        let material = CheckedMaterial::check(stored, true, None).unwrap();
        let mut certs: Vec<Vec<u8>> = material
            .chain_for(&request)
            .iter()
            .map(|c| c.der.to_vec())
            .collect();
        certs.sort_by(|a, b| x690_cmp(a, b));
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = std::process::Command::new("openssl");
        cmd.args(["crl2pkcs7", "-nocrl", "-outform", "DER"]);
        for (i, c) in certs.iter().enumerate() {
            let path = dir.path().join(format!("{i}.pem"));
            let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, c);
            let lines: Vec<&str> = b64
                .as_bytes()
                .chunks(64)
                .map(|l| std::str::from_utf8(l).unwrap())
                .collect();
            let text = format!(
                "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
                lines.join("\n")
            );
            std::fs::write(&path, text).unwrap();
            cmd.arg("-certfile").arg(&path);
        }
        let out = cmd.output().expect("the openssl CLI");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let ours =
            crate::encode::encode(&request, &material, &ExportPolicy::DEFAULT, &mut OsRandom)
                .unwrap();
        assert!(
            ours.certificate() == out.stdout.as_slice(),
            "the p7b differs from openssl's"
        );
        // Guard: the PEM files the test wrote read back as the certificates.
        for (i, c) in certs.iter().enumerate() {
            let back = CertificateDer::from_pem_file(dir.path().join(format!("{i}.pem")));
            assert_eq!(back.unwrap().as_ref(), c.as_slice());
        }
    }
}
