//! Arbitrary certificate, chain and key bytes from a store, through every format (with and
//! without the root): never a panic; anything unusable is a 500 (or a 404 for a missing
//! key); whatever succeeds parses back.
#![no_main]

use cert_download::{
    CertificateDer, CertificateId, ChainOrder, DownloadRequest, ExportPolicy, Format, MemoryStore,
    OsRandom, Password, PasswordPolicy, PfxEncryption, PrivateKeyDer, download_with,
};
use der::Decode;
use libfuzzer_sys::fuzz_target;
use rustls_pki_types::{PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer};

/// Splits the input into a leaf, issuers and a key at 0xFF 0x00 0xFF markers.
fn split(data: &[u8]) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let mut rest = data;
    while let Some(pos) = rest.windows(3).position(|w| w == [0xFF, 0x00, 0xFF]) {
        parts.push(&rest[..pos]);
        rest = &rest[pos + 3..];
    }
    parts.push(rest);
    parts
}

fn key(kind: u8, der: Vec<u8>) -> Option<PrivateKeyDer<'static>> {
    match kind % 4 {
        0 => None,
        1 => Some(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der))),
        2 => Some(PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(der))),
        _ => Some(PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(der))),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, data)) = data.split_first() else {
        return;
    };
    let parts = split(data);
    let leaf_der = parts[0].to_vec();
    let leaf = CertificateDer::from(leaf_der.clone());
    let (key_der, issuers) = match parts.len() {
        1 => (Vec::new(), &parts[1..]),
        n => (parts[n - 1].to_vec(), &parts[1..n - 1]),
    };
    let issuers: Vec<_> = issuers
        .iter()
        .map(|c| CertificateDer::from(c.to_vec()))
        .collect();
    let id = CertificateId::new(7).unwrap();
    let mut store = MemoryStore::new();
    store.insert(id, leaf, issuers, key(selector, key_der));

    let policy = ExportPolicy::with_iterations(1).unwrap();
    // PBMAC1 is made with at least 1,000 MAC iterations.
    let pbmac1_policy = ExportPolicy::builder()
        .all_iterations(1)
        .mac_iterations(1_000)
        .build()
        .unwrap();
    let password = || Password::new("fuzz-password", &PasswordPolicy::default()).unwrap();
    let requests = [
        DownloadRequest::crt(id),
        DownloadRequest::crt(id).with_key(password()),
        DownloadRequest::pem(id),
        DownloadRequest::pem(id).with_key(password()),
        DownloadRequest::pfx(id, password()),
        DownloadRequest::pfx(id, password()).with_pfx_encryption(PfxEncryption::TripleDesSha1),
        DownloadRequest::pfx(id, password()).with_pfx_encryption(PfxEncryption::Aes256Sha256Pbmac1),
        DownloadRequest::pem(id)
            .with_root(false)
            .with_chain_order(ChainOrder::RootFirst),
        DownloadRequest::pfx(id, password()).with_root(false),
        DownloadRequest::p7b(id),
        DownloadRequest::p7b(id).with_root(false),
    ];
    for request in requests {
        let format = request.format();
        let policy = match request.pfx_encryption() {
            Some(PfxEncryption::Aes256Sha256Pbmac1) => &pbmac1_policy,
            _ => &policy,
        };
        match download_with(request, &store, policy, &mut OsRandom) {
            Ok(response) => match format {
                Format::Crt => assert_eq!(response.certificate(), leaf_der.as_slice()),
                Format::Pem => {
                    let text = std::str::from_utf8(response.certificate()).unwrap();
                    assert!(text.starts_with("-----BEGIN CERTIFICATE-----\n"));
                }
                Format::P7b => {
                    // A DER ContentInfo of type signedData holding the stored leaf's bytes
                    // as they are (a p7b does not re-encode certificates, so x509-cert need
                    // not be able to decode them).
                    use der::Encode;
                    use pkcs12::cms::content_info::ContentInfo;
                    let p7b = response.certificate();
                    let info = ContentInfo::from_der(p7b).unwrap();
                    assert_eq!(info.to_der().unwrap(), p7b);
                    assert_eq!(info.content_type, const_oid::db::rfc5911::ID_SIGNED_DATA);
                    assert!(
                        p7b.windows(leaf_der.len())
                            .any(|w| w == leaf_der.as_slice())
                    );
                }
                _ => {
                    pkcs12::pfx::Pfx::from_der(response.certificate()).unwrap();
                }
            },
            Err(error) => assert!(
                matches!(error.status(), 404 | 500),
                "unexpected status {}: {error:?}",
                error.status()
            ),
        }
    }
});
