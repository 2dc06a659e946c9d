//! What a host embedding the crate relies on: store errors it can log and convert, the
//! re-exports it calls the API with, and the adapters between the two store traits.

use std::error::Error as _;

use cert_download::{
    CertificateId, CertificateRecord, CertificateStore, DownloadRequest, Error, ExportPolicy,
    OsRandom, PrivateKeyDer, StoreError, download, download_json,
};

const BACKEND_TEXT: &str = "sqlite: database /srv/vault/keys.db is locked (user=vault pw=hunter2)";

fn id(n: u64) -> CertificateId {
    CertificateId::new(n).unwrap()
}

/// Every answer a store can give, made fresh (a backend error is not `Clone`).
fn answers() -> Vec<StoreError> {
    vec![
        StoreError::Unauthenticated,
        StoreError::Forbidden,
        StoreError::KeyExportForbidden,
        StoreError::NotFound,
        StoreError::KeyNotFound,
        StoreError::InvalidCertificate,
        StoreError::InvalidKey,
        StoreError::backend(BACKEND_TEXT),
    ]
}

/// A store that answers `certificate` with one error, made on each call.
#[derive(Debug)]
struct Refusing(fn() -> StoreError);

impl CertificateStore for Refusing {
    fn certificate(&self, _: CertificateId) -> Result<CertificateRecord, StoreError> {
        Err((self.0)())
    }
    fn private_key(&self, _: CertificateId) -> Result<PrivateKeyDer<'static>, StoreError> {
        Err((self.0)())
    }
}

fn assert_no_backend_text(text: &str, what: &str) {
    for part in ["hunter2", "/srv/vault", "sqlite", "locked"] {
        assert!(!text.contains(part), "{what} carries {part:?}: {text}");
    }
}

#[test]
fn store_errors_are_std_errors_whose_backend_cause_is_the_source() {
    fn is_std_error<E: std::error::Error + Send + Sync + 'static>(_: &E) {}
    for e in answers() {
        is_std_error(&e);
        let shown = e.to_string();
        assert!(!shown.is_empty());
        assert_no_backend_text(&shown, "StoreError's Display");
        assert_no_backend_text(&format!("{e:?}"), "StoreError's Debug");
        match &e {
            StoreError::Backend(_) => {
                let cause = e.source().expect("a backend error has its cause");
                assert_eq!(cause.to_string(), BACKEND_TEXT);
            }
            _ => assert!(e.source().is_none(), "{e:?}"),
        }
    }
    // Each answer reads differently.
    let mut texts: Vec<String> = answers().iter().map(ToString::to_string).collect();
    texts.sort();
    texts.dedup();
    assert_eq!(texts.len(), answers().len());
}

#[test]
fn into_error_gives_what_download_answers_for_the_same_store_answer() {
    let makers: [fn() -> StoreError; 8] = [
        || StoreError::Unauthenticated,
        || StoreError::Forbidden,
        || StoreError::KeyExportForbidden,
        || StoreError::NotFound,
        || StoreError::KeyNotFound,
        || StoreError::InvalidCertificate,
        || StoreError::InvalidKey,
        || StoreError::backend(BACKEND_TEXT),
    ];
    for make in makers {
        let from_download = download(DownloadRequest::pem(id(42)), &Refusing(make)).unwrap_err();
        let converted = make().into_error(id(42));
        assert_eq!(converted.kind(), from_download.kind(), "{:?}", make());
        assert_eq!(converted.message(), from_download.message());
        assert_eq!(converted.to_json(), from_download.to_json());
        assert_eq!(
            converted.source().is_some(),
            from_download.source().is_some()
        );
    }
}

/// The body a client sees never carries the backend's text; the host's log can reach it
/// through `source()`, however the error was made.
#[test]
fn a_backend_cause_reaches_the_log_and_never_the_body() {
    let backend = || StoreError::backend(std::io::Error::other(BACKEND_TEXT));
    let body = br#"{"id": 42, "format": "pfx", "password": "a good password"}"#;
    let policy = ExportPolicy::with_iterations(1).unwrap();
    let errors: [(&str, Error); 3] = [
        ("into_error", backend().into_error(id(42))),
        (
            "download",
            download(DownloadRequest::crt(id(42)), &Refusing(backend)).unwrap_err(),
        ),
        (
            "download_json",
            download_json(body, &Refusing(backend), &policy, &mut OsRandom).unwrap_err(),
        ),
    ];
    for (what, e) in errors {
        assert_eq!((e.status(), e.code()), (500, "store_failure"), "{what}");
        assert_no_backend_text(&e.to_json(), what);
        assert_no_backend_text(&e.to_string(), what);
        assert_no_backend_text(&format!("{e:?}"), what);
        let json: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(json["error"], "store_failure", "{what}");
        // The log walks the chain: the crate's error, then the backend's own.
        let mut chain = Vec::new();
        let mut next = e.source();
        while let Some(cause) = next {
            chain.push(cause.to_string());
            next = cause.source();
        }
        assert_eq!(chain, [BACKEND_TEXT], "{what}");
    }
}
