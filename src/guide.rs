//! The guide: how to build a host on this crate, what goes into each file, and which consumer
//! opens which output.
//!
//! The request's fields and the response are in the [`request`](crate::request) module, the
//! statuses and error codes in [`ErrorKind`](crate::ErrorKind); the binding specification is
//! `docs/contract.md` in the repository. This module holds no code: its examples run as the
//! crate's doc tests.
//!
//! # A first download
//!
//! Everything the API names is reachable through this crate: the certificate and key types
//! (`CertificateDer`, `PrivateKeyDer`, and the rest of `rustls-pki-types` as
//! `cert_download::pki_types`), `PemObject` to read them from PEM, and `Zeroizing`. This
//! program turns your own PEM files into a store of one record and answers a request body as
//! the endpoint would:
//!
//! ```rust
//! use cert_download::store::MemoryEntry;
//! use cert_download::{
//!     CertificateDer, CertificateId, DownloadRequest, MemoryStore, PemObject, PrivateKeyDer,
//!     download,
//! };
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // Your certificate (the leaf, then any issuers) and its unencrypted key, as PEM files.
//!     // These paths are the demo record of this crate's repository: point them at yours.
//!     let cert_file = "examples/demo-store/12345/cert.pem";
//!     let key_file = "examples/demo-store/12345/key.pem";
//!
//!     let mut certs: Vec<CertificateDer<'static>> =
//!         CertificateDer::pem_file_iter(cert_file)?.collect::<Result<_, _>>()?;
//!     if certs.is_empty() {
//!         return Err("no certificate in the file".into());
//!     }
//!     let leaf = certs.remove(0);
//!     let key = PrivateKeyDer::from_pem_file(key_file)?;
//!
//!     let id = CertificateId::new(12345).ok_or("an id is from 1 to 2^63-1")?;
//!     let mut store = MemoryStore::new();
//!     store.insert(id, MemoryEntry::new(leaf).with_issuers(certs).with_key(key));
//!
//!     // A POST /api/certificate/download body, answered with a status and a JSON body.
//!     let body = br#"{"id": "12345", "format": "pfx", "password": "securepassword123"}"#;
//!     let (status, json) = match DownloadRequest::from_json(body).and_then(|r| download(r, &store)) {
//!         Ok(response) => (200, response.to_json()),
//!         Err(error) => (error.status(), error.to_json()),
//!     };
//!     assert_eq!(status, 200, "{json}");
//!     println!("{json}");
//!
//!     // Errors carry a status, a stable code and the contract's JSON body.
//!     let error = DownloadRequest::from_json(br#"{"id": 12345, "format": "pfx"}"#).unwrap_err();
//!     assert_eq!((error.status(), error.code()), (400, "password_required"));
//!     Ok(())
//! }
//! ```
//!
//! # Your store
//!
//! The host supplies storage and authorization through the `CertificateStore` trait: build
//! one value per request, bound to the caller, and answer `StoreError::Unauthenticated` (401),
//! `Forbidden` (403), `KeyExportForbidden` (403), `NotFound` (404), `KeyNotFound` (404) or
//! `Backend` (500). `MemoryStore` and `DirectoryStore` ship.
//!
//! ```rust
//! use cert_download::{
//!     CertificateId, CertificateRecord, CertificateStore, MemoryStore, PrivateKeyDer, StoreError,
//! };
//!
//! /// Your storage (here a MemoryStore) seen by one caller.
//! #[derive(Debug)]
//! struct CallerStore<'a> {
//!     records: &'a MemoryStore,
//!     /// `None`: the request named no valid credentials.
//!     caller: Option<Caller>,
//! }
//!
//! #[derive(Debug)]
//! struct Caller {
//!     may_export_keys: bool,
//! }
//!
//! impl CertificateStore for CallerStore<'_> {
//!     fn certificate(&self, id: CertificateId) -> Result<CertificateRecord, StoreError> {
//!         if self.caller.is_none() {
//!             return Err(StoreError::Unauthenticated);
//!         }
//!         self.records.certificate(id)
//!     }
//!
//!     fn private_key(&self, id: CertificateId) -> Result<PrivateKeyDer<'static>, StoreError> {
//!         // Check the caller here too: never rely on `certificate` having been asked first.
//!         match &self.caller {
//!             None => Err(StoreError::Unauthenticated),
//!             Some(caller) if !caller.may_export_keys => Err(StoreError::KeyExportForbidden),
//!             Some(_) => self.records.private_key(id),
//!         }
//!     }
//! }
//!
//! fn main() {
//!     let records = MemoryStore::new();
//!     let id = CertificateId::new(12345).expect("a valid id");
//!     let anonymous = CallerStore { records: &records, caller: None };
//!     assert!(matches!(anonymous.private_key(id), Err(StoreError::Unauthenticated)));
//!     let reader = CallerStore { records: &records, caller: Some(Caller { may_export_keys: false }) };
//!     assert!(matches!(reader.private_key(id), Err(StoreError::KeyExportForbidden)));
//! }
//! ```
//!
//! `cert_download::conformance` (the `conformance` feature, for your `[dev-dependencies]`) is
//! a test suite to run against your store, synchronous (`conformance::run`) or async
//! (`conformance::run_async`, awaited in your runtime's test); among other things it checks
//! that `private_key` refuses callers without the rights, which a download through the crate
//! alone would not show. Your harness supplies the store seen by each kind of caller, or says
//! why your store has no such caller; a caller left out without a reason fails the run.
//!
//! `StoreError` is a `std::error::Error`; a `Backend` error keeps your backend's error as its
//! `source()`. The crate turns a store's answer into its `Error` (status, code, message) and
//! keeps a backend's text out of the response: out of `Error`'s `Display`, `Debug` and
//! `to_json()`, reachable for your logs through `Error::source()`. A host that fetches with its
//! own code converts the same way with `StoreError::into_error(id)`.
//!
//! # Async hosts
//!
//! `prepare_async(request, &store)` authorizes and loads through an `AsyncCertificateStore`
//! and returns a `Prepared` that is `Send + 'static`; its `encode(&policy, &mut OsRandom)` is
//! the CPU-bound part (the password-based key derivation) to run on `spawn_blocking` or a
//! thread pool. `prepare` is the same over a `CertificateStore`, and `Prepared::from_record`
//! accepts material a host fetched with its own client. Parse the body with
//! `DownloadRequest::from_json_with_policy(body, policy.password_policy())`, so that a password
//! your policy refuses is a 400 before the store is asked; `encode` applies the policy's
//! password rules again whatever the request was parsed with, so no route makes a file that
//! `download_json` would refuse under the same policy. A host that picks its async store at
//! run time holds it as `Arc<dyn cert_download::store::DynAsyncCertificateStore>`.
//!
//! A synchronous store needs no async impl: with the `tokio` feature,
//! `BlockingStore::new(store)` (or `BlockingStore::from_arc`) is an `AsyncCertificateStore`
//! that runs each call on tokio's blocking pool. A type that implements both traits is called
//! through the crate's functions (`download` and `prepare` take the synchronous impl,
//! `prepare_async` the async one); a direct call names its trait,
//! `CertificateStore::certificate(&store, id)`, since the two traits share method names.
//!
//! # Authentication and the body limit over HTTP
//!
//! The contract validates the request completely (400) before the store is asked anything,
//! and only the store knows whether the caller is authenticated. So, through the crate alone,
//! a caller without credentials who sends a bad body gets 400, and 401 only once the body is
//! valid: a 400 says something about the body and nothing about your records. To answer 401
//! first, authenticate before you parse: turn away a request without valid credentials with
//! `Error::from(ErrorKind::Unauthenticated)` (the same JSON body as the store's 401), and call
//! `DownloadRequest::from_json` or `download_json` only for a known caller.
//!
//! A body over `MAX_BODY_BYTES` (64 KiB) is a 400 `body_too_large`, the one status for it,
//! whoever refuses it: the library, the command-line example and the server example. Read at
//! most one byte past the limit and let the crate answer:
//!
//! ```rust
//! use std::io::Read;
//!
//! use cert_download::{
//!     CertificateStore, Error, ErrorKind, ExportPolicy, MAX_BODY_BYTES, MemoryStore, OsRandom,
//!     download_json,
//! };
//!
//! /// One request: `store` is bound to the authenticated caller, `None` for a caller without
//! /// valid credentials. Returns the status and the JSON body.
//! fn answer<S: CertificateStore>(store: Option<&S>, body: impl Read) -> (u16, String) {
//!     let result = match store {
//!         // Before the body is read: 401 whatever it holds.
//!         None => Err(Error::from(ErrorKind::Unauthenticated)),
//!         Some(store) => {
//!             let mut buf = Vec::new();
//!             match body.take(MAX_BODY_BYTES as u64 + 1).read_to_end(&mut buf) {
//!                 Ok(_) => download_json(&buf, store, &ExportPolicy::default(), &mut OsRandom),
//!                 Err(_) => Err(Error::from(ErrorKind::InvalidJson)),
//!             }
//!         }
//!     };
//!     match result {
//!         Ok(response) => (200, response.to_json()),
//!         Err(error) => (error.status(), error.to_json()),
//!     }
//! }
//!
//! fn main() {
//!     let store = MemoryStore::new();
//!     let (status, _) = answer::<MemoryStore>(None, &b"not even json"[..]);
//!     assert_eq!(status, 401);
//!     let (status, json) = answer(Some(&store), &vec![b' '; 100_000][..]);
//!     assert_eq!(status, 400);
//!     assert!(json.contains(r#""error":"body_too_large""#), "{json}");
//!     let (status, _) = answer(Some(&store), &br#"{"id": 5, "format": "crt"}"#[..]);
//!     assert_eq!(status, 404);
//! }
//! ```
//!
//! A framework's own body limit answers before the crate sees the body (axum's
//! `DefaultBodyLimit`, 2 MB by default, with a plain-text 413). Set it a little above
//! `MAX_BODY_BYTES`, so that the crate refuses what is between, and answer the framework's own
//! refusal in the crate's shape.
//!
//! # A body limit in your own host
//!
//! The contract answers a body over 64 KiB with 400 `body_too_large`, and so does the library
//! when handed one. A framework's own body limit answers first, with its own status: axum's
//! limit for the `Bytes` and `Json` extractors (2 MB by default), or tower-http's
//! `RequestBodyLimitLayer`, is a plain-text 413. Two ways to keep the contract's answer:
//!
//! - Read the body yourself (take the `Request`, not `Bytes`), copy each frame into one
//!   buffer and drop it, and stop at the cap with the library's error, as
//!   `server/src/body.rs` does. Copying matters: keeping the frames (as
//!   `http_body_util::Collected` does) keeps hyper's read buffers alive, several KiB for every
//!   body byte that comes in a TLS record of its own.
//! - Or keep the framework's limit above 64 KiB (`axum::extract::DefaultBodyLimit::max(1 <<
//!   20)` on the route) and hand the whole body to `DownloadRequest::from_json`, which refuses
//!   anything over 64 KiB with the contract's 400 itself.
//!
//! ```rust
//! use cert_download::{Error, ErrorKind, MAX_BODY_BYTES};
//!
//! /// Adds one piece of a body as it arrives; the buffer never grows past the cap.
//! fn take(buffer: &mut Vec<u8>, piece: &[u8]) -> Result<(), Error> {
//!     if buffer.len() + piece.len() > MAX_BODY_BYTES {
//!         return Err(Error::from(ErrorKind::BodyTooLarge));
//!     }
//!     buffer.extend_from_slice(piece);
//!     Ok(())
//! }
//!
//! fn main() {
//!     let mut buffer = Vec::with_capacity(MAX_BODY_BYTES);
//!     take(&mut buffer, b"{\"id\": 12345, ").unwrap();
//!     let refused = take(&mut buffer, &[b' '; 70 * 1024]).unwrap_err();
//!     assert_eq!((refused.status(), refused.code()), (400, "body_too_large"));
//!     // `refused.to_json()` is the contract's body: answer it with that status.
//! }
//! ```
//!
//! # An axum host
//!
//! A complete host on axum 0.8: bearer tokens, the working pattern of an async host
//! (authenticate, parse under the policy, `prepare_async` over `BlockingStore`, `encode` on
//! `spawn_blocking`) and the `http` feature's answer (status, JSON, `Cache-Control:
//! no-store`, `WWW-Authenticate` on 401). It is the crate `examples/axum-host` (its own
//! crate, so that the library does not depend on axum; `cargo run -p cert-download-axum-host`
//! serves the demo store on `http://127.0.0.1:8080`), whose tests run it in process and check
//! that this block is its code:
//!
//! <!-- cut from examples/axum-host/src/lib.rs -->
//! ```rust,ignore
//! use std::collections::HashMap;
//! use std::sync::Arc;
//!
//! use axum::Router;
//! use axum::body::Bytes;
//! use axum::extract::rejection::BytesRejection;
//! use axum::extract::{DefaultBodyLimit, State};
//! use axum::http::{HeaderMap, StatusCode, header};
//! use axum::response::Response;
//! use axum::routing::post;
//! use cert_download::{
//!     BlockingStore, CertificateId, CertificateRecord, CertificateStore, DirectoryStore,
//!     DownloadRequest, DownloadResponse, Error, ErrorKind, ExportPolicy, MAX_BODY_BYTES, OsRandom,
//!     PrivateKeyDer, StoreError, prepare_async,
//! };
//!
//! /// Your storage seen by one caller: here a directory store and the caller's export right.
//! #[derive(Debug)]
//! pub struct CallerStore {
//!     records: Arc<DirectoryStore>,
//!     may_export_keys: bool,
//! }
//!
//! impl CertificateStore for CallerStore {
//!     fn certificate(&self, id: CertificateId) -> Result<CertificateRecord, StoreError> {
//!         self.records.certificate(id)
//!     }
//!
//!     fn private_key(&self, id: CertificateId) -> Result<PrivateKeyDer<'static>, StoreError> {
//!         if !self.may_export_keys {
//!             return Err(StoreError::KeyExportForbidden);
//!         }
//!         self.records.private_key(id)
//!     }
//! }
//!
//! /// What every request shares.
//! #[derive(Debug)]
//! pub struct Host {
//!     records: Arc<DirectoryStore>,
//!     /// Bearer token -> whether its holder may export keys. (Use a real identity provider,
//!     /// and compare tokens in constant time, as server does.)
//!     tokens: HashMap<String, bool>,
//!     policy: ExportPolicy,
//! }
//!
//! impl Host {
//!     /// The store bound to the caller the request's bearer token names, if any.
//!     fn caller_store(&self, headers: &HeaderMap) -> Option<CallerStore> {
//!         let token = headers
//!             .get(header::AUTHORIZATION)?
//!             .to_str()
//!             .ok()?
//!             .strip_prefix("Bearer ")?;
//!         let may_export_keys = *self.tokens.get(token)?;
//!         Some(CallerStore {
//!             records: Arc::clone(&self.records),
//!             may_export_keys,
//!         })
//!     }
//! }
//!
//! /// `POST /api/certificate/download`.
//! async fn download(
//!     State(host): State<Arc<Host>>,
//!     headers: HeaderMap,
//!     body: Result<Bytes, BytesRejection>,
//! ) -> Response {
//!     let result: Result<DownloadResponse, Error> = async {
//!         // Authenticate first: 401 whatever the body holds.
//!         let store = host
//!             .caller_store(&headers)
//!             .ok_or(ErrorKind::Unauthenticated)?;
//!         // A body axum refused as too large is the crate's own 400 body_too_large.
//!         let body = body.map_err(|refused| match refused.status() {
//!             StatusCode::PAYLOAD_TOO_LARGE => ErrorKind::BodyTooLarge,
//!             _ => ErrorKind::InvalidJson,
//!         })?;
//!         // The policy's password rules at parse time: 400 before the store is asked.
//!         let request = DownloadRequest::from_json_with_policy(&body, host.policy.password_policy())?;
//!         // Authorize and load on the async side; the synchronous store runs on the blocking pool.
//!         let prepared = prepare_async(request, &BlockingStore::new(store)).await?;
//!         // The key derivations take milliseconds of CPU: off the async worker threads.
//!         let host = Arc::clone(&host);
//!         tokio::task::spawn_blocking(move || prepared.encode(&host.policy, &mut OsRandom))
//!             .await
//!             .map_err(|_| ErrorKind::Internal)?
//!     }
//!     .await;
//!     // Status, JSON body, Content-Type, Cache-Control: no-store, WWW-Authenticate on 401.
//!     cert_download::http::response(result).map(Into::into)
//! }
//!
//! /// The host's router.
//! pub fn app(host: Host) -> Router {
//!     Router::new()
//!         .route("/api/certificate/download", post(download))
//!         // Above the crate's 64 KiB, so that the crate answers what lies between.
//!         .layer(DefaultBodyLimit::max(MAX_BODY_BYTES + 1024))
//!         .with_state(Arc::new(host))
//! }
//! ```
//!
//! # Features
//!
//! | feature | default | what it does |
//! |---|---|---|
//! | `fast-key-check` | on | Precomputed base-point tables (built once per process, on first use) for the check of a stored P-256/P-384 key against its certificate: P-256 from about 330 µs to 70-90 µs. `default-features = false` turns it off and saves the tables' memory. |
//! | `parallel-kdf` | off | Runs the three key derivations of a PFX on two threads (`std::thread::scope`): about a third less latency for one download on an idle multi-core machine, less throughput on a busy one; the same bytes. |
//! | `tokio` | off | `BlockingStore`, a synchronous `CertificateStore` served as an `AsyncCertificateStore` on tokio's blocking pool. Adds tokio with its `rt` feature only. |
//! | `http` | off | `cert_download::http::response`: a download's answer as an `http::Response<String>` with its status, the JSON body, `Content-Type: application/json`, `Cache-Control: no-store`, and `WWW-Authenticate: Bearer` on a 401, for any framework on the `http` crate's types. Adds `http`. |
//! | `conformance` | off | `cert_download::conformance`, the test suite for your store: turn it on in `[dev-dependencies]`. It embeds the demo records' private keys, which is why it is not in the default build. |
//!
//! # What goes into the files
//!
//! - Stored material is checked before anything is encoded: the leaf parses, the issuers
//!   parse (when they go out), the key parses and matches the leaf's public key (RSA, EC
//!   P-256/P-384/P-521, Ed25519; the public key is derived where the PKCS#8 does not carry
//!   it). PKCS#1 and SEC1 keys are converted to PKCS#8. The key is only loaded when it goes
//!   out.
//! - Chains are ordered by issuer links from the leaf; issuers that do not link follow in
//!   stored order; a certificate stored twice goes out once; a loop ends the walk. A link is
//!   judged as OpenSSL's `X509_check_issued` judges it: C issued D when C's subject is D's
//!   issuer, compared as RFC 5280 7.1 and OpenSSL's canonical form compare names (case
//!   folded, inner whitespace collapsed, PrintableString and UTF8String as text), and, where
//!   D has an authority key identifier, it names C (its key identifier is C's subject key
//!   identifier, its issuer and serial, when given, are C's). So a root renewed under the same
//!   name with a new key, and a self-issued link certificate of a key rollover, are told
//!   apart from the real issuer; without key identifiers, names decide. A certificate is
//!   self-signed when it issues itself by that test: a link certificate (self-issued, signed
//!   by the old key) is a link of the chain, not its root. Where several stored certificates
//!   issue the same one (a cross-signed intermediate, a link certificate beside the new root),
//!   the first in stored order is taken; the walk ends at the first self-signed certificate.
//!   Signatures are not verified.
//! - Encrypted keys (pem, crt): PKCS#8 `EncryptedPrivateKeyInfo`, PBES2 with
//!   PBKDF2-HMAC-SHA256 (PRF written out) and AES-256-CBC, fresh 16-byte salt and IV per
//!   download. Not scrypt, which Java, GnuTLS and NSS cannot read.
//! - PFX `aes256_sha256` (default), as OpenSSL 3 and Java 17 write it: version 3; the key as a
//!   `pkcs8ShroudedKeyBag` in a plain `data` SafeContents; the certificates as `certBag`s in
//!   an `encryptedData` SafeContents; both PBES2 (PBKDF2-HMAC-SHA256, 16-byte salt,
//!   AES-256-CBC); MAC HMAC-SHA256 keyed by the PKCS#12 KDF with an 8-byte salt.
//!   `friendlyName` and `localKeyId` (SHA-1 of the leaf) on the key and the leaf only.
//! - PFX `aes256_sha256_pbmac1`: the bags of `aes256_sha256`, the MAC as RFC 9879 (which
//!   obsoletes RFC 9579 and keeps its encoding) has it: PBMAC1, HMAC-SHA256 keyed by
//!   PBKDF2-HMAC-SHA256 over the password's UTF-8 bytes (16-byte salt, explicit key length 32,
//!   the policy's MAC iteration count), so that every algorithm in the file is FIPS 140-3
//!   approved. Never under 1,000 MAC iterations (NIST SP 800-132): a policy that names PBMAC1
//!   as its default with fewer is a `PolicyError`, and a request that names it under a policy
//!   with fewer is a 500 `pfx_encryption_unavailable` (the request is valid; the host's policy
//!   cannot make the file, and the message says to ask for `aes256_sha256`). The MAC is
//!   checked against RFC 9879's appendix A.1 file. OpenSSL reads it from 3.4 on; OpenSSL 3.0
//!   and Java 17 cannot verify it.
//! - PFX `tripledes_sha1`, **the insecure legacy choice**: `pbeWithSHAAnd3-KeyTripleDES-CBC`
//!   for the key and the certificates, a SHA-1 MAC, 8-byte salts, 2,048 iterations. Choose it
//!   only for consumers that cannot read the modern profile: Windows Server 2016 and older,
//!   the macOS Keychain (`security import`, Keychain Access), Java before 8u301.
//! - P7B: RFC 5652 `SignedData` version 1 with no digest algorithms, no signers, no CRLs and
//!   `id-data` without content, in a `ContentInfo` of type `id-signedData`, built on the `cms`
//!   types. Its `certificates` is a `SET OF` and strict DER, so the certificates are sorted by
//!   their encodings: Python `cryptography` warns that `openssl crl2pkcs7`'s unsorted files are
//!   not DER, and reads ours without a warning (byte for byte what `crl2pkcs7` writes from the
//!   sorted certificates).
//! - Passwords: PBKDF2 takes the UTF-8 bytes; the PKCS#12 KDF takes UTF-16BE with surrogate
//!   pairs and two zero bytes, as OpenSSL does, so emoji passwords work.
//! - `ExportPolicy` holds the iteration counts (10,000 for PBKDF2 and the MAC, 2,048 for the
//!   legacy profile), the salt sizes, the password policy and the PFX profile of requests that
//!   name none (`aes256_sha256`; a FIPS-minded host sets `aes256_sha256_pbmac1`); counts above
//!   300,000 (which .NET refuses) or below 1 are refused when it is built.
//!
//! # Which consumer opens which output
//!
//! Verified by the `interop` crate (`interop/tests/`) on this crate's own files for RSA-2048/4096,
//! EC P-256/P-384/P-521 and Ed25519 keys stored as PKCS#8, PKCS#1 and SEC1, with ASCII,
//! Latin-1, CJK and emoji passwords, unless marked *documented* (taken from the consumer's
//! documentation, not run here).
//!
//! | consumer | pem / crt key (PBES2 AES-256) | pfx `aes256_sha256` | pfx `aes256_sha256_pbmac1` | pfx `tripledes_sha1` | p7b |
//! |---|---|---|---|---|---|
//! | OpenSSL 3.0 CLI (no `-legacy`) | yes | yes | no: "Mac verify error" (3.4 and later: *documented*) | yes | yes (`pkcs7 -print_certs`) |
//! | Python `cryptography` 48 (OpenSSL 4.0) | yes | yes | yes | yes | yes, strict DER (4) |
//! | Java 17 (`keytool`, `EncryptedPrivateKeyInfo`) | yes, ASCII passwords | yes, ASCII passwords | no (7) | yes, ASCII passwords | yes (`keytool -printcert`) |
//! | BouncyCastle 1.72 (`KeyStore` "PKCS12" of provider "BC", `CMSSignedData`) | *not tested* | yes (5) | *not tested* | yes (5) | yes |
//! | GnuTLS 3.7 `certtool` | yes (1) | yes (1) | no (7) | yes (1)(2) | yes (`--p7-info`) |
//! | NSS 3.87 `pk12util` (list and import) | *not applicable* | yes (3) | no (7) | yes (3) | *not tested* |
//! | Go `golang.org/x/crypto/pkcs12` (Debian 1:0.4.0) | *not applicable* | no (6) | *not tested* | yes, with limits (6) | *not applicable* |
//! | Windows 10 1709+ / Server 2019+, .NET Core 3+ | *documented* | *documented* | - | *documented* | *documented* |
//! | Windows Server 2016 and older, macOS Keychain, Java before 8u301 | - | no (*documented*) | - | *documented* | *documented* |
//!
//! 1. GnuTLS 3.7 cannot load an EC key stored without its optional public key (OpenSSL's own
//!    files of such a key fail the same way).
//! 2. GnuTLS 3.7 fails to decrypt a 3DES key bag under some long non-ASCII passwords (64 or
//!    more emoji); OpenSSL's files fail the same way.
//! 3. NSS 3.87 lists Ed25519 files but cannot import Ed25519 keys (nor OpenSSL's).
//! 4. `pkcs7.load_der_pkcs7_certificates` with warnings as errors: ours read cleanly, while
//!    `openssl crl2pkcs7`'s unsorted files make it warn "could not be parsed as DER".
//! 5. Every key type, with ASCII, Latin-1, CJK and emoji passwords: unlike the JDK, BC's own
//!    PKCS#12 code takes non-ASCII passwords. It lists one entry, the key with the chain built
//!    by issuer links; a stored CA that does not link (record 20's) is in the file but not
//!    listed, as in keytool.
//! 6. Go reads the legacy profile only (the modern SHA-256 MAC is "unknown digest algorithm",
//!    on OpenSSL's files too). `pkcs12.Decode` takes exactly one certificate and one key:
//!    download with `include_chain: false`; `pkcs12.ToPEM` reads chains. Passwords within the
//!    Basic Multilingual Plane only (with an emoji, `Decode` answers "cannot be encoded in
//!    UCS-2", `ToPEM` "decryption password incorrect"). Ed25519: `Decode` returns the key,
//!    `ToPEM` cannot. Each limit is the same on OpenSSL's files.
//! 7. Checked by hand, not in the suite: each refuses the file for its MAC (Java: "Integrity
//!    check failed ... HmacPBE1.2.840.113549.1.5.14 not available"; `certtool`: "The hash
//!    algorithm is unknown"; `pk12util`: "PKCS12 decode not verified").
//!
//! Java refuses non-ASCII PBES2 passwords in every file, ours and OpenSSL's alike: turn on
//! `PasswordPolicy::ascii_only` where users open files in Java (BouncyCastle does not need it).
//! Choose `tripledes_sha1` only for the consumers that need it: the last row and Go.
//!
//! Chains without the root (`include_root: false`) in pem and pfx open in OpenSSL, Python,
//! Java, GnuTLS, NSS and BouncyCastle with the root absent and the intermediates present, in
//! the order asked for, and `openssl verify` accepts the pem chain with the root given as the
//! trust anchor (and refuses it without). `interop/tests/chains_by_key.rs` makes CA rollovers
//! (a renewed root, both roots stored, in both orders; a link certificate), a cross-signed
//! intermediate, certificates without key identifiers and an unrelated CA with the openssl
//! CLI, and checks every `include_chain` x `include_root` x `chain_order` in pem, pfx and
//! p7b: the certificates out are exactly the path's, and `openssl verify` with the real root
//! as the only trust anchor accepts the leaf, with the root in the file or not.
