//! What a host embedding the crate relies on: store errors it can log and convert, the
//! re-exports it calls the API with, and the adapters between the two store traits.

use std::error::Error as _;

use cert_download::{
    CertificateId, CertificateRecord, CertificateStore, DownloadRequest, Error, ErrorKind,
    ExportPolicy, MAX_BODY_BYTES, MemoryStore, OsRandom, Password, PasswordPolicy, PrivateKeyDer,
    StoreError, download, download_json,
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

// ---------------------------------------------------------------------------------------
// An oversized body: one status, 400 `body_too_large`, whoever refuses it
// ---------------------------------------------------------------------------------------

/// A store that must not be asked anything.
#[derive(Debug)]
struct Untouched;

impl CertificateStore for Untouched {
    fn certificate(&self, _: CertificateId) -> Result<CertificateRecord, StoreError> {
        panic!("the store was asked")
    }
    fn private_key(&self, _: CertificateId) -> Result<PrivateKeyDer<'static>, StoreError> {
        panic!("the store was asked")
    }
}

fn padded(len: usize) -> Vec<u8> {
    let mut body = br#"{"id": 1, "format": "crt"}"#.to_vec();
    body.resize(len, b' ');
    body
}

#[test]
fn an_oversized_body_is_400_body_too_large_and_a_host_can_answer_it_the_same_way() {
    let policy = ExportPolicy::with_iterations(1).unwrap();
    let at_limit = DownloadRequest::from_json(&padded(MAX_BODY_BYTES)).unwrap();
    assert_eq!(at_limit.id(), id(1));
    let over = padded(MAX_BODY_BYTES + 1);
    let from_parser = DownloadRequest::from_json(&over).unwrap_err();
    let from_download = download_json(&over, &Untouched, &policy, &mut OsRandom).unwrap_err();
    // What a host answers when its framework's own limit refused the body.
    let from_host = Error::from(ErrorKind::BodyTooLarge);
    for e in [&from_parser, &from_download, &from_host] {
        assert_eq!((e.status(), e.code()), (400, "body_too_large"));
    }
    assert_eq!(from_host.to_json(), from_parser.to_json());
    assert_eq!(from_download.to_json(), from_parser.to_json());
}

/// The contract validates before it asks the store, and only the store knows the caller:
/// an anonymous caller with a bad body gets 400. A host that authenticates first answers
/// 401 before parsing, in the same JSON shape.
#[test]
fn validation_comes_before_the_store_so_a_host_answers_401_before_parsing() {
    #[derive(Debug)]
    struct Anonymous;
    impl CertificateStore for Anonymous {
        fn certificate(&self, _: CertificateId) -> Result<CertificateRecord, StoreError> {
            Err(StoreError::Unauthenticated)
        }
        fn private_key(&self, _: CertificateId) -> Result<PrivateKeyDer<'static>, StoreError> {
            Err(StoreError::Unauthenticated)
        }
    }
    let policy = ExportPolicy::with_iterations(1).unwrap();
    let bad = br#"{"id": 1, "format": "pfx"}"#; // no password
    let good = br#"{"id": 1, "format": "crt"}"#;
    let e = download_json(bad, &Anonymous, &policy, &mut OsRandom).unwrap_err();
    assert_eq!((e.status(), e.code()), (400, "password_required"));
    let e = download_json(good, &Anonymous, &policy, &mut OsRandom).unwrap_err();
    assert_eq!((e.status(), e.code()), (401, "unauthenticated"));
    // The host's own check, before the body is looked at.
    let before_parsing = Error::from(ErrorKind::Unauthenticated);
    assert_eq!(before_parsing.to_json(), e.to_json());
}

// ---------------------------------------------------------------------------------------
// Re-exports: every public signature callable through this crate alone
// ---------------------------------------------------------------------------------------

const LEAF: &str = include_str!("../examples/demo-store/1001/cert.pem");
const CHAIN: &str = include_str!("../examples/demo-store/1001/chain.pem");
const KEY: &str = include_str!("../examples/demo-store/1001/key.pem");

#[test]
fn pem_reading_and_prepared_from_record_need_only_this_crate() {
    use cert_download::pki_types::{PrivateSec1KeyDer, pem};
    use cert_download::{
        CertificateDer, PemObject, Prepared, Zeroizing, pki_types::PrivatePkcs8KeyDer,
    };

    let leaf = CertificateDer::from_pem_slice(LEAF.as_bytes()).unwrap();
    let issuers: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(CHAIN.as_bytes())
        .collect::<Result<_, pem::Error>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(KEY.as_bytes()).unwrap();
    assert!(matches!(key, PrivateKeyDer::Sec1(_)));
    let sec1 = PrivateSec1KeyDer::from_pem_slice(KEY.as_bytes()).unwrap();
    assert_eq!(sec1.secret_sec1_der(), key.secret_der());
    // A PKCS#8 key from a database column, as DER bytes.
    let _: PrivateKeyDer<'static> = PrivatePkcs8KeyDer::from(vec![0x30, 0x00]).into();

    let password = Password::new("keyprotectionpassword", &PasswordPolicy::DEFAULT).unwrap();
    let request = DownloadRequest::pfx(id(1001), password);
    let record = CertificateRecord::new(leaf.clone(), issuers);
    let prepared = Prepared::from_record(request, record, Some(Zeroizing::new(key))).unwrap();
    let response = prepared
        .encode(&ExportPolicy::with_iterations(1).unwrap(), &mut OsRandom)
        .unwrap();
    assert!(response.includes_key());

    // The same types as the crate's own paths name.
    let _: cert_download::CertificateDer<'static> =
        cert_download::pki_types::CertificateDer::from(leaf.to_vec());
    let mut store = MemoryStore::new();
    store.insert(id(1001), cert_download::store::MemoryEntry::new(leaf));
    assert_eq!(store.len(), 1);
}
