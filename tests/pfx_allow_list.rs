//! The export policy's allow-list of PFX profiles: a request naming a profile outside it
//! is a 400 `pfx_encryption_not_allowed` that names the allowed ones, given before the
//! store is asked; the default list is all three, as the contract has them.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use cert_download::{
    CertificateId, CertificateRecord, CertificateStore, DownloadRequest, ExportPolicy,
    PfxEncryption, PrivateKeyDer, StoreError, download_json, prepare,
};
use common::{Counter, fixture_store};

/// The fixture store, counting every call.
#[derive(Debug)]
struct Counted {
    inner: cert_download::DirectoryStore,
    calls: AtomicUsize,
}

impl CertificateStore for Counted {
    fn certificate(&self, id: CertificateId) -> Result<CertificateRecord, StoreError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.certificate(id)
    }

    fn private_key(&self, id: CertificateId) -> Result<PrivateKeyDer<'static>, StoreError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.private_key(id)
    }
}

fn body(profile: Option<&str>) -> String {
    match profile {
        Some(p) => format!(
            r#"{{"id": 1, "format": "pfx", "password": "securepassword123", "pfx_encryption": "{p}"}}"#
        ),
        None => r#"{"id": 1, "format": "pfx", "password": "securepassword123"}"#.to_owned(),
    }
}

#[test]
fn a_profile_outside_the_list_is_refused_before_the_store_is_asked() {
    let modern = ExportPolicy::builder()
        .all_iterations(1_000)
        .allowed_pfx_encryptions(&[
            PfxEncryption::Aes256Sha256,
            PfxEncryption::Aes256Sha256Pbmac1,
        ])
        .build()
        .unwrap();
    let store = Counted {
        inner: fixture_store(),
        calls: AtomicUsize::new(0),
    };
    let error = download_json(
        body(Some("tripledes_sha1")).as_bytes(),
        &store,
        &modern,
        &mut Counter(0),
    )
    .unwrap_err();
    assert_eq!(
        (error.status(), error.code()),
        (400, "pfx_encryption_not_allowed")
    );
    assert_eq!(
        error.message(),
        r#"pfx_encryption "tripledes_sha1" is not allowed here; allowed: aes256_sha256, aes256_sha256_pbmac1"#
    );
    assert_eq!(store.calls.load(Ordering::SeqCst), 0, "the store was asked");

    // The allowed ones, and a request naming none, go through.
    for profile in [Some("aes256_sha256"), Some("aes256_sha256_pbmac1"), None] {
        download_json(body(profile).as_bytes(), &store, &modern, &mut Counter(0))
            .unwrap_or_else(|e| panic!("{profile:?}: {e}"));
    }

    // A host that skips the check before its store still gets no file out of encode.
    let request = DownloadRequest::from_json(body(Some("tripledes_sha1")).as_bytes()).unwrap();
    let error = prepare(request, &store)
        .unwrap()
        .encode(&modern, &mut Counter(0))
        .unwrap_err();
    assert_eq!(error.code(), "pfx_encryption_not_allowed");

    // Other formats are not concerned.
    let pem = br#"{"id": 1, "format": "pem", "pfx_encryption": "tripledes_sha1"}"#;
    assert!(download_json(pem, &store, &modern, &mut Counter(0)).is_ok());
}

#[test]
fn every_profile_is_allowed_by_default_and_the_default_must_be_allowed() {
    let policy = ExportPolicy::default();
    assert_eq!(
        policy.allowed_pfx_encryptions().collect::<Vec<_>>(),
        PfxEncryption::ALL
    );
    let store = fixture_store();
    for profile in PfxEncryption::ALL {
        download_json(
            body(Some(profile.as_str())).as_bytes(),
            &store,
            &policy,
            &mut Counter(0),
        )
        .unwrap_or_else(|e| panic!("{profile:?}: {e}"));
    }
    let error = ExportPolicy::builder()
        .allowed_pfx_encryptions(&[PfxEncryption::Aes256Sha256Pbmac1])
        .build()
        .unwrap_err();
    assert!(error.to_string().contains("default PFX profile"), "{error}");
    let only_pbmac1 = ExportPolicy::builder()
        .pfx_encryption(PfxEncryption::Aes256Sha256Pbmac1)
        .allowed_pfx_encryptions(&[PfxEncryption::Aes256Sha256Pbmac1])
        .build()
        .unwrap();
    assert!(!only_pbmac1.allows_pfx_encryption(PfxEncryption::Aes256Sha256));
    assert!(only_pbmac1.allows_pfx_encryption(PfxEncryption::Aes256Sha256Pbmac1));
}
