//! Helpers shared by the contract, secrets and CLI tests: fixtures, request bodies, test
//! stores, and readers for the response and error JSON.
#![allow(dead_code, unreachable_pub)]

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use cert_download::random::{RandomError, RandomSource};
use cert_download::{
    AsyncCertificateStore, CertificateDer, CertificateId, CertificateRecord, CertificateStore,
    DirectoryStore, DownloadResponse, Error, ExportPolicy, MemoryStore, OsRandom, PasswordPolicy,
    PrivateKeyDer, StoreError, download_json,
};
use rustls_pki_types::pem::PemObject;
use serde_json::Value;

/// A distinctive password that must never show up where it does not belong.
pub const PASSWORD: &str = "Sup3r-S3cret-Pa55";

/// Every record of the fixture store.
pub const FIXTURE_IDS: std::ops::RangeInclusive<u64> = 1..=21;

/// Records whose key matches the leaf and whose material is usable.
pub const GOOD_IDS: &[u64] = &[1, 2, 3, 4, 5, 6, 7, 8, 9, 14, 15, 19, 20, 21];

/// An id that no store here holds.
pub const MISSING_ID: u64 = 999_999;

pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture_root() -> PathBuf {
    manifest_dir().join("tests/fixtures/store")
}

pub fn fixture_store() -> DirectoryStore {
    DirectoryStore::new(fixture_root()).unwrap()
}

/// A cheap policy: one iteration everywhere, the default password policy.
pub fn fast_policy() -> ExportPolicy {
    ExportPolicy::with_iterations(1).expect("one iteration is a valid policy")
}

/// Like [`fast_policy`], with an ASCII-only password policy (a host whose users open the
/// files in Java).
pub fn fast_ascii_only_policy() -> ExportPolicy {
    let ascii_only = PasswordPolicy::builder()
        .ascii_only(true)
        .build()
        .expect("a password policy");
    ExportPolicy::builder()
        .all_iterations(1)
        .password_policy(ascii_only)
        .build()
        .expect("a policy")
}

pub fn id(n: u64) -> CertificateId {
    CertificateId::new(n).expect("a valid id")
}

/// The DER of every `CERTIFICATE` block of a PEM file.
pub fn pem_certs(path: &std::path::Path) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(path)
        .unwrap_or_else(|e| panic!("{}: {e:?}", path.display()))
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_else(|e| panic!("{}: {e:?}", path.display()))
}

/// A fixture CA certificate (`tests/fixtures/ca/<name>.pem`) as DER.
pub fn ca_cert(name: &str) -> Vec<u8> {
    let path = manifest_dir().join(format!("tests/fixtures/ca/{name}.pem"));
    let mut certs = pem_certs(&path);
    assert_eq!(certs.len(), 1, "{} holds one certificate", path.display());
    certs.remove(0).to_vec()
}

/// The leaf DER of a fixture record.
pub fn fixture_leaf(n: u64) -> Vec<u8> {
    pem_certs(&fixture_root().join(n.to_string()).join("cert.pem"))
        .remove(0)
        .to_vec()
}

/// The leaf and the stored issuers (cert.pem's extra blocks, then chain.pem) of a record.
pub fn fixture_record(n: u64) -> (CertificateDer<'static>, Vec<CertificateDer<'static>>) {
    let dir = fixture_root().join(n.to_string());
    let mut certs = pem_certs(&dir.join("cert.pem")).into_iter();
    let leaf = certs.next().expect("cert.pem holds a leaf");
    let mut issuers: Vec<_> = certs.collect();
    let chain = dir.join("chain.pem");
    if chain.exists() {
        issuers.extend(pem_certs(&chain));
    }
    (leaf, issuers)
}

/// The stored key of a fixture record, if it has one.
pub fn fixture_key(n: u64) -> Option<PrivateKeyDer<'static>> {
    let path = fixture_root().join(n.to_string()).join("key.pem");
    path.exists().then(|| {
        PrivateKeyDer::from_pem_file(&path).unwrap_or_else(|e| panic!("{}: {e:?}", path.display()))
    })
}

/// The stored key's DER bytes (whatever its container).
pub fn fixture_key_der(n: u64) -> Option<Vec<u8>> {
    fixture_key(n).map(|k| k.secret_der().to_vec())
}

/// Every fixture record, loaded into a `MemoryStore` through `PemObject`.
pub fn fixture_memory_store() -> MemoryStore {
    let mut store = MemoryStore::new();
    for n in FIXTURE_IDS {
        let (leaf, issuers) = fixture_record(n);
        store.insert(
            id(n),
            cert_download::store::MemoryEntry::new(leaf)
                .with_issuers(issuers)
                .with_key(fixture_key(n)),
        );
    }
    store
}

/// The six kinds of download: pfx, pem and crt with and without the key, and p7b.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Pfx,
    Pem,
    PemKey,
    Crt,
    CrtKey,
    P7b,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Pfx,
        Kind::Pem,
        Kind::PemKey,
        Kind::Crt,
        Kind::CrtKey,
        Kind::P7b,
    ];
    pub const WITH_KEY: [Kind; 3] = [Kind::Pfx, Kind::PemKey, Kind::CrtKey];
    pub const WITHOUT_KEY: [Kind; 3] = [Kind::Pem, Kind::Crt, Kind::P7b];

    pub fn with_key(self) -> bool {
        matches!(self, Kind::Pfx | Kind::PemKey | Kind::CrtKey)
    }

    pub fn format(self) -> &'static str {
        match self {
            Kind::Pfx => "pfx",
            Kind::Pem | Kind::PemKey => "pem",
            Kind::Crt | Kind::CrtKey => "crt",
            Kind::P7b => "p7b",
        }
    }

    /// A valid request body of this kind for record `n`, with [`PASSWORD`] when a key
    /// goes out.
    pub fn json(self, n: u64) -> Value {
        let mut v = serde_json::json!({"id": n, "format": self.format()});
        if self.with_key() {
            v["password"] = Value::from(PASSWORD);
        }
        if matches!(self, Kind::PemKey | Kind::CrtKey) {
            v["download_key"] = Value::from(true);
        }
        v
    }

    pub fn body(self, n: u64) -> Vec<u8> {
        body(self.json(n))
    }
}

/// A request body from a `serde_json::Value`.
pub fn body(v: Value) -> Vec<u8> {
    serde_json::to_vec(&v).expect("a Value serializes")
}

/// Parses and downloads with the fast policy and the OS random source.
pub fn run(body: &[u8], store: &dyn CertificateStore) -> Result<DownloadResponse, Error> {
    download_json(body, store, &fast_policy(), &mut OsRandom)
}

/// Like [`run`], with a deterministic random source, so that outputs can be compared.
pub fn run_pinned(body: &[u8], store: &dyn CertificateStore) -> Result<DownloadResponse, Error> {
    download_json(body, store, &fast_policy(), &mut Counter(0))
}

/// Asserts that `result` is an error with `status` and `code`, and returns it.
#[track_caller]
pub fn expect_err<T: fmt::Debug>(
    result: Result<T, Error>,
    status: u16,
    code: &str,
    what: &str,
) -> Error {
    match result {
        Ok(v) => panic!("{what}: expected {status} {code}, got Ok({v:?})"),
        Err(e) => {
            assert_eq!(
                (e.status(), e.code()),
                (status, code),
                "{what}: wrong status/code, error: {e:?}"
            );
            assert_error_body(&e);
            e
        }
    }
}

/// Asserts that `result` is Ok, and returns the value.
#[track_caller]
pub fn expect_ok<T>(result: Result<T, Error>, what: &str) -> T {
    match result {
        Ok(v) => v,
        Err(e) => panic!("{what}: expected success, got {} {e:?}", e.status()),
    }
}

/// A deterministic random source: 0, 1, 2, ... (mod 256).
#[derive(Debug)]
pub struct Counter(pub u8);

impl RandomSource for Counter {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), RandomError> {
        for b in dest {
            *b = self.0;
            self.0 = self.0.wrapping_add(1);
        }
        Ok(())
    }
}

/// An async store in front of the fixture records, as a host's database client would be.
#[derive(Debug)]
pub struct Remote(pub MemoryStore);

impl AsyncCertificateStore for Remote {
    async fn certificate(&self, id: CertificateId) -> Result<CertificateRecord, StoreError> {
        CertificateStore::certificate(&self.0, id)
    }
    async fn private_key(&self, id: CertificateId) -> Result<PrivateKeyDer<'static>, StoreError> {
        CertificateStore::private_key(&self.0, id)
    }
}

type Script = Box<dyn Fn() -> StoreError + Send + Sync>;

/// A store that answers from the fixture store, unless scripted to fail, and counts how
/// often each method is called.
pub struct TestStore {
    inner: Box<dyn CertificateStore>,
    on_certificate: Option<Script>,
    on_private_key: Option<Script>,
    pub certificate_calls: AtomicUsize,
    pub private_key_calls: AtomicUsize,
}

impl TestStore {
    /// Answers from the fixture store.
    pub fn fixtures() -> Self {
        Self::wrapping(fixture_store())
    }

    pub fn wrapping(inner: impl CertificateStore + 'static) -> Self {
        Self {
            inner: Box::new(inner),
            on_certificate: None,
            on_private_key: None,
            certificate_calls: AtomicUsize::new(0),
            private_key_calls: AtomicUsize::new(0),
        }
    }

    /// `certificate` answers this error.
    pub fn failing_certificate(
        mut self,
        error: impl Fn() -> StoreError + Send + Sync + 'static,
    ) -> Self {
        self.on_certificate = Some(Box::new(error));
        self
    }

    /// `private_key` answers this error.
    pub fn failing_private_key(
        mut self,
        error: impl Fn() -> StoreError + Send + Sync + 'static,
    ) -> Self {
        self.on_private_key = Some(Box::new(error));
        self
    }

    pub fn calls(&self) -> (usize, usize) {
        (
            self.certificate_calls.load(Ordering::SeqCst),
            self.private_key_calls.load(Ordering::SeqCst),
        )
    }
}

impl fmt::Debug for TestStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestStore")
            .field("calls", &self.calls())
            .finish()
    }
}

impl CertificateStore for TestStore {
    fn certificate(&self, id: CertificateId) -> Result<CertificateRecord, StoreError> {
        self.certificate_calls.fetch_add(1, Ordering::SeqCst);
        match &self.on_certificate {
            Some(error) => Err(error()),
            None => self.inner.certificate(id),
        }
    }

    fn private_key(&self, id: CertificateId) -> Result<PrivateKeyDer<'static>, StoreError> {
        self.private_key_calls.fetch_add(1, Ordering::SeqCst);
        match &self.on_private_key {
            Some(error) => Err(error()),
            None => self.inner.private_key(id),
        }
    }
}

/// A store that must never be asked anything.
#[derive(Debug)]
pub struct PanicStore;

impl CertificateStore for PanicStore {
    fn certificate(&self, id: CertificateId) -> Result<CertificateRecord, StoreError> {
        panic!("the store was asked for certificate {id} before the request was validated")
    }

    fn private_key(&self, id: CertificateId) -> Result<PrivateKeyDer<'static>, StoreError> {
        panic!("the store was asked for the key of {id} before the request was validated")
    }
}

/// The fields of a JSON object in the order they were written (duplicates kept).
pub fn ordered_fields(json: &str) -> Vec<(String, Value)> {
    use serde::de::{Deserializer as _, MapAccess, Visitor};
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<(String, Value)>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(entry) = map.next_entry::<String, Value>()? {
                out.push(entry);
            }
            Ok(out)
        }
    }
    let mut de = serde_json::Deserializer::from_str(json);
    let fields = (&mut de)
        .deserialize_map(V)
        .unwrap_or_else(|e| panic!("not a JSON object ({e}): {json}"));
    de.end()
        .unwrap_or_else(|e| panic!("trailing data ({e}): {json}"));
    fields
}

/// The names of the fields of a JSON object, in order.
pub fn field_names(json: &str) -> Vec<String> {
    ordered_fields(json).into_iter().map(|(k, _)| k).collect()
}

/// The string value of a field of a JSON object.
pub fn string_field(json: &str, name: &str) -> Option<String> {
    ordered_fields(json)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| match v {
            Value::String(s) => s,
            other => panic!("field {name} is not a string: {other}"),
        })
}

/// Decodes contract Base64 (standard alphabet, padded, no line breaks), checking that
/// it is exactly that.
#[track_caller]
pub fn strict_base64(text: &str) -> Vec<u8> {
    assert!(
        text.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'='),
        "Base64 outside the standard alphabet (or with line breaks): {text:.80}"
    );
    assert_eq!(text.len() % 4, 0, "Base64 is not padded: {text:.80}");
    let bytes = STANDARD
        .decode(text)
        .unwrap_or_else(|e| panic!("invalid Base64 ({e}): {text:.80}"));
    assert_eq!(STANDARD.encode(&bytes), text, "non-canonical Base64");
    bytes
}

/// The error body checks of the contract: exactly status, error, message, in that order,
/// matching `status()` and `code()`.
#[track_caller]
pub fn assert_error_body(e: &Error) {
    let json = e.to_json();
    let fields = ordered_fields(&json);
    let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["status", "error", "message"], "error body {json}");
    assert_eq!(fields[0].1, Value::from(e.status()), "error body {json}");
    assert_eq!(fields[1].1, Value::from(e.code()), "error body {json}");
    assert_eq!(fields[2].1, Value::from(e.message()), "error body {json}");
    assert!(!e.message().is_empty(), "empty message in {json}");
    assert!(!json.contains('\n'), "the error body is one line: {json}");
}

/// All the ways an error is shown: Display, Debug (plain and pretty), the JSON body.
pub fn renderings(e: &Error) -> Vec<String> {
    vec![
        e.to_string(),
        format!("{e:?}"),
        format!("{e:#?}"),
        e.to_json(),
        e.message().to_owned(),
    ]
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// 24-byte windows of `secret` (every 8 bytes, so that any secret run of 32 bytes or more
/// holds one) that occur in none of the `public` blobs: an RSA key holds its public
/// modulus, an EC key may hold its public point, and both are in the certificate too.
pub fn secret_windows<'a>(secret: &'a [u8], public: &[&[u8]]) -> Vec<&'a [u8]> {
    secret
        .windows(24)
        .step_by(8)
        .filter(|w| !public.iter().any(|p| contains_bytes(p, w)))
        .collect()
}

/// Forms of `secret` that must not appear in text: its Base64 at each of the three
/// alignments, its hex in both cases, and the Base64 and hex of each secret window.
pub fn leak_patterns(secret: &[u8], public: &[&[u8]]) -> Vec<String> {
    let mut out = vec![hex(secret), hex(secret).to_uppercase()];
    for shift in 0..3 {
        if let Some(tail) = secret.get(shift..) {
            let encoded = STANDARD.encode(tail);
            if encoded.len() > 40 {
                // Skip the first and last characters, which depend on the neighbours.
                out.push(encoded[4..encoded.len() - 4].to_owned());
            }
        }
    }
    for window in secret_windows(secret, public) {
        out.push(STANDARD.encode(window));
        out.push(hex(window));
    }
    out
}

/// `needle` occurs in `haystack` as a byte string.
pub fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}
