//! A conformance suite for [`CertificateStore`] and [`AsyncCertificateStore`]
//! implementations.
//!
//! Implement [`Harness`] for your synchronous store (or [`AsyncHarness`] for an async one):
//! load the suite's [`Record`]s into a fresh store and hand back stores seen by callers of
//! different rights. Then call [`run`] (or await [`run_async`]) from a test. The same checks
//! run either way; they test what the store traits' documentation asks of an implementer:
//!
//! - the records come back as stored, and downloads through the store succeed;
//! - unknown ids, missing keys and missing rights get the right [`StoreError`]s and the
//!   right statuses;
//! - **`private_key` answers for the caller**: a caller without export rights, an
//!   unauthenticated caller and a caller who may read nothing get a refusal, never key
//!   bytes (the crate asks `certificate` first, but a store must not rely on it);
//! - the store answers consistently to concurrent callers (4 threads for a synchronous
//!   store; 4 futures polled together for an async one).
//!
//! The suite is behind the `conformance` feature (off by default: it embeds the demo
//! records' private keys); turn it on in your `[dev-dependencies]`. Its checks are named by
//! [`Check`] and its groups by [`Group`], both `#[non_exhaustive]`: a later release may add
//! checks without a breaking change.
//!
//! Every group runs against the store of its caller. A harness that cannot supply a caller
//! (a store without authentication has no unauthenticated caller) says why with
//! [`Supply::CannotSupply`]; the group is then skipped and listed with the reason in
//! [`Report::skipped`]. A group skipped without a reason (the trait's default methods, or
//! an empty reason) **fails the run**: a store that hands keys to anyone must not pass
//! because its harness left out the callers that would show it.
//!
//! ```
//! use cert_download::conformance::{self, Group, Harness, Record, Supply};
//! use cert_download::MemoryStore;
//! use cert_download::store::MemoryEntry;
//!
//! struct Memory;
//!
//! impl Harness for Memory {
//!     type Store = MemoryStore;
//!     fn full_access(&self, records: &[Record]) -> MemoryStore {
//!         let mut store = MemoryStore::new();
//!         for r in records {
//!             let key = r.key.as_ref().map(|k| k.clone_key());
//!             let entry = MemoryEntry::new(r.leaf.clone()).with_issuers(r.issuers.clone());
//!             store.insert(r.id, entry.with_key(key));
//!         }
//!         store
//!     }
//!     fn key_export_denied(&self, records: &[Record]) -> Supply<MemoryStore> {
//!         Supply::Store(self.full_access(records).deny_key_export())
//!     }
//!     fn unauthenticated(&self, _: &[Record]) -> Supply<MemoryStore> {
//!         Supply::cannot("MemoryStore has no authentication: every caller may read")
//!     }
//!     fn forbidden(&self, _: &[Record]) -> Supply<MemoryStore> {
//!         Supply::cannot("MemoryStore has no per-record rights")
//!     }
//! }
//!
//! let report = conformance::run(&Memory).expect("MemoryStore conforms");
//! assert!(report.checks() > 10);
//! let skipped: Vec<Group> = report.skipped().iter().map(|s| s.group()).collect();
//! assert_eq!(skipped, [Group::Unauthenticated, Group::Forbidden]);
//! ```
//!
//! # An async store
//!
//! [`run_async`] is an `async fn`: await it in your runtime's test macro, or hand it to any
//! `block_on` (`tokio::runtime::Runtime::block_on`, `futures::executor::block_on`). The
//! crate starts no runtime of its own; your store's futures are polled on your executor, so
//! a store that needs a runtime context (tokio I/O, `spawn_blocking`) works as in
//! production.
//!
//! ```
//! use cert_download::conformance::{AsyncHarness, Record, Supply, run_async};
//! use cert_download::store::MemoryEntry;
//! use cert_download::{
//!     AsyncCertificateStore, CertificateId, CertificateRecord, CertificateStore, MemoryStore,
//!     PrivateKeyDer, StoreError,
//! };
//!
//! /// Your async store; here one that answers from memory.
//! #[derive(Debug)]
//! struct Remote(MemoryStore);
//!
//! impl AsyncCertificateStore for Remote {
//!     async fn certificate(&self, id: CertificateId) -> Result<CertificateRecord, StoreError> {
//!         CertificateStore::certificate(&self.0, id)
//!     }
//!     async fn private_key(&self, id: CertificateId) -> Result<PrivateKeyDer<'static>, StoreError> {
//!         CertificateStore::private_key(&self.0, id)
//!     }
//! }
//!
//! struct RemoteHarness;
//!
//! impl AsyncHarness for RemoteHarness {
//!     type Store = Remote;
//!     // Async, so that loading the records may await your database.
//!     async fn full_access(&self, records: &[Record]) -> Remote {
//!         let mut store = MemoryStore::new();
//!         for r in records {
//!             let key = r.key.as_ref().map(|k| k.clone_key());
//!             let entry = MemoryEntry::new(r.leaf.clone()).with_issuers(r.issuers.clone());
//!             store.insert(r.id, entry.with_key(key));
//!         }
//!         Remote(store)
//!     }
//!     async fn key_export_denied(&self, records: &[Record]) -> Supply<Remote> {
//!         Supply::Store(Remote(self.full_access(records).await.0.deny_key_export()))
//!     }
//!     async fn unauthenticated(&self, _: &[Record]) -> Supply<Remote> {
//!         Supply::cannot("this example store has no authentication")
//!     }
//!     async fn forbidden(&self, _: &[Record]) -> Supply<Remote> {
//!         Supply::cannot("this example store has no per-record rights")
//!     }
//! }
//!
//! // In your crate: #[tokio::test] async fn conforms() { run_async(&RemoteHarness).await.unwrap(); }
//! async fn conforms() {
//!     let report = run_async(&RemoteHarness).await.expect("Remote conforms");
//!     assert!(report.checks() > 10);
//! }
//! # // The example's store never waits: one poll runs it. (The crate's own tests drive
//! # // stores that do wait, on a minimal executor and on tokio.)
//! # let mut run = std::pin::pin!(conforms());
//! # let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
//! # assert!(run.as_mut().poll(&mut cx).is_ready());
//! ```

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::download::{download_with, prepare_async};
use crate::policy::ExportPolicy;
use crate::policy::PasswordPolicy;
use crate::random::OsRandom;
use crate::request::{CertificateId, DownloadRequest, Password};
use crate::store::{AsyncCertificateStore, CertificateRecord, CertificateStore, StoreError};

/// One record of the suite's material, to load into the store under test.
#[derive(Debug)]
#[non_exhaustive]
pub struct Record {
    /// Its id.
    pub id: CertificateId,
    /// The leaf certificate.
    pub leaf: CertificateDer<'static>,
    /// Its issuers, deliberately not in leaf-to-root order.
    pub issuers: Vec<CertificateDer<'static>>,
    /// Its key, if it has one (PKCS#8, PKCS#1 or SEC1).
    pub key: Option<PrivateKeyDer<'static>>,
}

/// A store seen by one kind of caller, or why the harness cannot supply one.
#[derive(Debug)]
pub enum Supply<S> {
    /// The store, seen by that caller.
    Store(S),
    /// The store has no such caller; the reason, for the [`Report`]. An empty reason fails
    /// the run, as a group skipped without one does.
    CannotSupply(String),
}

impl<S> Supply<S> {
    /// [`CannotSupply`](Self::CannotSupply) with `reason`.
    pub fn cannot(reason: impl Into<String>) -> Self {
        Supply::CannotSupply(reason.into())
    }

    /// The store turned into another (e.g. wrapped); the reason kept.
    pub fn map<T>(self, f: impl FnOnce(S) -> T) -> Supply<T> {
        match self {
            Supply::Store(store) => Supply::Store(f(store)),
            Supply::CannotSupply(reason) => Supply::CannotSupply(reason),
        }
    }
}

/// How the suite gets stores of your backend.
///
/// The methods for the callers other than full access default to a skip without a reason,
/// which fails the run: implement each, returning the store or saying why it cannot be
/// supplied.
pub trait Harness {
    /// The store under test.
    type Store: CertificateStore;

    /// A store holding exactly `records`, seen by a caller who may read every certificate
    /// and export every key.
    fn full_access(&self, records: &[Record]) -> Self::Store;

    /// The same records, seen by a caller who may read the certificates but not export
    /// keys.
    fn key_export_denied(&self, _: &[Record]) -> Supply<Self::Store> {
        Supply::CannotSupply(String::new())
    }

    /// The same records, seen by a caller who is not authenticated.
    fn unauthenticated(&self, _: &[Record]) -> Supply<Self::Store> {
        Supply::CannotSupply(String::new())
    }

    /// The same records, seen by a caller who may read none of them.
    fn forbidden(&self, _: &[Record]) -> Supply<Self::Store> {
        Supply::CannotSupply(String::new())
    }
}

/// How the suite gets stores of your async backend: [`Harness`] for an
/// [`AsyncCertificateStore`], with async constructors so that loading the records may await
/// your storage. The same rule holds: a caller not supplied without a reason fails the run.
pub trait AsyncHarness {
    /// The store under test.
    type Store: AsyncCertificateStore;

    /// A store holding exactly `records`, seen by a caller who may read every certificate
    /// and export every key.
    fn full_access(&self, records: &[Record]) -> impl Future<Output = Self::Store> + Send;

    /// The same records, seen by a caller who may read the certificates but not export
    /// keys.
    fn key_export_denied(&self, _: &[Record]) -> impl Future<Output = Supply<Self::Store>> + Send {
        std::future::ready(Supply::CannotSupply(String::new()))
    }

    /// The same records, seen by a caller who is not authenticated.
    fn unauthenticated(&self, _: &[Record]) -> impl Future<Output = Supply<Self::Store>> + Send {
        std::future::ready(Supply::CannotSupply(String::new()))
    }

    /// The same records, seen by a caller who may read none of them.
    fn forbidden(&self, _: &[Record]) -> impl Future<Output = Supply<Self::Store>> + Send {
        std::future::ready(Supply::CannotSupply(String::new()))
    }
}

/// A group of checks: the ones run against the store of one kind of caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Group {
    /// A caller who may read every certificate and export every key.
    FullAccess,
    /// A caller who may read the certificates but not export keys.
    KeyExportDenied,
    /// A caller who is not authenticated.
    Unauthenticated,
    /// A caller who may read none of the records.
    Forbidden,
}

impl Group {
    /// The group's name, as the harness's method that supplies its store.
    pub fn as_str(self) -> &'static str {
        match self {
            Group::FullAccess => "full_access",
            Group::KeyExportDenied => "key_export_denied",
            Group::Unauthenticated => "unauthenticated",
            Group::Forbidden => "forbidden",
        }
    }
}

impl fmt::Display for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One check of the suite: what a [`Failure`] names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Check {
    /// The suite's own material (its certificates and keys) loads.
    Material,
    /// A group's caller was not supplied and the harness gave no reason.
    Supplied,
    /// `certificate` returns the stored leaf.
    Leaf,
    /// `certificate` returns the stored issuers (in any order).
    Issuers,
    /// `private_key` returns the stored key, or `KeyNotFound` for a record without one.
    Key,
    /// Downloads through the store succeed (or answer 404 for a key that is not stored).
    Download,
    /// An unknown id is `NotFound` in both methods and a 404 download.
    UnknownId,
    /// Concurrent callers all get the stored records.
    Concurrency,
    /// A caller without export rights still reads the certificates and downloads without
    /// the key.
    ReadWithoutExport,
    /// A caller without export rights gets `KeyExportForbidden` and a 403 for a key.
    KeyExportRefused,
    /// `certificate` refuses a caller without rights, with the right error.
    CertificateRefused,
    /// `private_key` refuses a caller without rights on its own (never key bytes), without
    /// relying on `certificate` being asked first.
    KeyRefused,
    /// Downloads by a caller without rights get the right status.
    DownloadRefused,
    /// An unauthenticated caller is refused before the lookup, for unknown ids too.
    AuthenticationFirst,
}

/// A group that did not run, and the harness's reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    group: Group,
    reason: String,
}

impl Skipped {
    /// The group.
    pub fn group(&self) -> Group {
        self.group
    }

    /// Why the harness could not supply its caller.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// What a run checked.
#[derive(Clone, Debug, Default)]
pub struct Report {
    checks: usize,
    skipped: Vec<Skipped>,
}

impl Report {
    /// How many checks passed.
    pub fn checks(&self) -> usize {
        self.checks
    }

    /// The groups that did not run because the harness could not supply their caller.
    pub fn skipped(&self) -> &[Skipped] {
        &self.skipped
    }
}

/// The first check that failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    group: Option<Group>,
    check: Check,
    message: String,
}

impl Failure {
    fn new(group: Option<Group>, check: Check, message: impl Into<String>) -> Self {
        Self {
            group,
            check,
            message: message.into(),
        }
    }

    /// The group whose check failed; `None` for the suite's own material.
    pub fn group(&self) -> Option<Group> {
        self.group
    }

    /// The check that failed.
    pub fn check(&self) -> Check {
        self.check
    }

    /// What happened, for people.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.group {
            Some(group) => write!(f, "store conformance, {group}: {}", self.message),
            None => write!(f, "store conformance: {}", self.message),
        }
    }
}

impl std::error::Error for Failure {}

/// What a check or a group of checks gives: nothing, or the first failure.
type Checked = Result<(), Failure>;

const RSA_LEAF: &str = include_str!("../examples/demo-store/12345/cert.pem");
const RSA_CHAIN: &str = include_str!("../examples/demo-store/12345/chain.pem");
const RSA_KEY: &str = include_str!("../examples/demo-store/12345/key.pem");
const EC_LEAF: &str = include_str!("../examples/demo-store/1001/cert.pem");
const EC_CHAIN: &str = include_str!("../examples/demo-store/1001/chain.pem");
const EC_KEY: &str = include_str!("../examples/demo-store/1001/key.pem");
const ED_LEAF: &str = include_str!("../examples/demo-store/1002/cert.pem");
const ED_CHAIN: &str = include_str!("../examples/demo-store/1002/chain.pem");
const ED_KEY: &str = include_str!("../examples/demo-store/1002/key.pem");
const NOKEY_LEAF: &str = include_str!("../examples/demo-store/1003/cert.pem");
const NOKEY_CHAIN: &str = include_str!("../examples/demo-store/1003/chain.pem");
const PKCS1_LEAF: &str = include_str!("../tests/fixtures/store/2/cert.pem");
const PKCS1_CHAIN: &str = include_str!("../tests/fixtures/store/2/chain.pem");
const PKCS1_KEY: &str = include_str!("../tests/fixtures/store/2/key.pem");

/// The id no record of the suite has.
pub const UNKNOWN_ID: u64 = 999_999_999;

/// A failure of the suite's own material: nothing a store did.
fn material<T>(what: &str) -> Result<T, Failure> {
    Err(Failure::new(None, Check::Material, what))
}

fn record(id: u64, leaf: &str, chain: &str, key: Option<&str>) -> Result<Record, Failure> {
    let certs = |pem: &str| {
        CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .or_else(|_| material("the suite's own certificates do not parse"))
    };
    let mut issuers = certs(chain)?;
    // Stored order is not to be trusted: hand them over root first.
    issuers.reverse();
    let key = key
        .map(|k| PrivateKeyDer::from_pem_slice(k.as_bytes()))
        .transpose()
        .or_else(|_| material("the suite's own key does not parse"))?;
    Ok(Record {
        id: CertificateId::new(id).map_or_else(|| material("bad id"), Ok)?,
        leaf: certs(leaf)?
            .into_iter()
            .next()
            .map_or_else(|| material("no leaf"), Ok)?,
        issuers,
        key,
    })
}

/// The material of the suite: RSA (PKCS#8), EC P-256 (SEC1), Ed25519 and RSA (PKCS#1)
/// records with chains, and one record without a key.
pub fn records() -> Result<Vec<Record>, Failure> {
    Ok(vec![
        record(12345, RSA_LEAF, RSA_CHAIN, Some(RSA_KEY))?,
        record(1001, EC_LEAF, EC_CHAIN, Some(EC_KEY))?,
        record(1002, ED_LEAF, ED_CHAIN, Some(ED_KEY))?,
        record(1003, NOKEY_LEAF, NOKEY_CHAIN, None)?,
        record(2, PKCS1_LEAF, PKCS1_CHAIN, Some(PKCS1_KEY))?,
    ])
}

/// How the checks reach a store: the one place where a synchronous and an async store
/// differ. The checks are written once, as async code over this; a synchronous store's
/// calls are ready at once and are driven by [`block_on`].
trait Probe {
    fn certificate(
        &self,
        id: CertificateId,
    ) -> impl Future<Output = Result<CertificateRecord, StoreError>>;

    fn private_key(
        &self,
        id: CertificateId,
    ) -> impl Future<Output = Result<PrivateKeyDer<'static>, StoreError>>;

    /// The status of a download through the store.
    fn download(
        &self,
        request: DownloadRequest,
        policy: &ExportPolicy,
    ) -> impl Future<Output = u16>;

    /// Whether 4 concurrent callers, each reading every record 8 times, all get the stored
    /// leaves.
    fn concurrent_leaves(&self, records: &[Record]) -> impl Future<Output = bool>;
}

/// A [`CertificateStore`] under test.
struct Blocking<'a, S>(&'a S);

impl<S: CertificateStore> Probe for Blocking<'_, S> {
    async fn certificate(&self, id: CertificateId) -> Result<CertificateRecord, StoreError> {
        self.0.certificate(id)
    }

    async fn private_key(&self, id: CertificateId) -> Result<PrivateKeyDer<'static>, StoreError> {
        self.0.private_key(id)
    }

    async fn download(&self, request: DownloadRequest, policy: &ExportPolicy) -> u16 {
        download_with(request, self.0, policy, &mut OsRandom).map_or_else(|e| e.status(), |_| 200)
    }

    /// The store is `Sync`: many threads at once must see the same records.
    async fn concurrent_leaves(&self, records: &[Record]) -> bool {
        let store = self.0;
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    scope.spawn(|| {
                        records
                            .iter()
                            .all(|r| (0..8).all(|_| same_leaf(store.certificate(r.id), r)))
                    })
                })
                .collect();
            handles.into_iter().all(|h| h.join().unwrap_or(false))
        })
    }
}

/// An [`AsyncCertificateStore`] under test, polled by the caller's executor.
struct Awaiting<'a, S>(&'a S);

impl<S: AsyncCertificateStore> Probe for Awaiting<'_, S> {
    async fn certificate(&self, id: CertificateId) -> Result<CertificateRecord, StoreError> {
        self.0.certificate(id).await
    }

    async fn private_key(&self, id: CertificateId) -> Result<PrivateKeyDer<'static>, StoreError> {
        self.0.private_key(id).await
    }

    async fn download(&self, request: DownloadRequest, policy: &ExportPolicy) -> u16 {
        match prepare_async(request, self.0).await {
            Ok(prepared) => prepared
                .encode(policy, &mut OsRandom)
                .map_or_else(|e| e.status(), |_| 200),
            Err(e) => e.status(),
        }
    }

    /// Without a runtime of its own the suite cannot spawn: the callers are futures polled
    /// together, so a store that really waits (I/O, a thread pool) serves them interleaved.
    async fn concurrent_leaves(&self, records: &[Record]) -> bool {
        let store = self.0;
        let callers: Vec<_> = (0..4)
            .map(|_| async move {
                for r in records {
                    for _ in 0..8 {
                        if !same_leaf(store.certificate(r.id).await, r) {
                            return false;
                        }
                    }
                }
                true
            })
            .collect();
        join_all(callers).await.into_iter().all(|ok| ok)
    }
}

fn same_leaf(got: Result<CertificateRecord, StoreError>, r: &Record) -> bool {
    got.is_ok_and(|got| got.leaf.as_ref() == r.leaf.as_ref())
}

/// Polls every future until all are done; their results in order.
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(outputs.iter_mut().filter_map(Option::take).collect())
        }
    })
    .await
}

/// Wakes the thread that runs [`block_on`].
struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs a future to completion on this thread. The synchronous suite only: its store calls
/// are never pending, so this never parks in practice.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        std::thread::park();
    }
}

struct Run {
    report: Report,
    group: Group,
    policy: ExportPolicy,
    password_policy: PasswordPolicy,
}

/// The store errors a check accepts, compared by variant (a backend's error never matches).
type Want = &'static [StoreError];

/// The groups of checks, each against the store of one kind of caller.
impl Run {
    fn new() -> Result<Self, Failure> {
        Ok(Run {
            report: Report::default(),
            group: Group::FullAccess,
            policy: ExportPolicy::with_iterations(1).or_else(|_| material("policy"))?,
            password_policy: PasswordPolicy::DEFAULT,
        })
    }

    fn fail<T>(&self, check: Check, what: impl Into<String>) -> Result<T, Failure> {
        Err(Failure::new(Some(self.group), check, what))
    }

    fn check(&mut self, check: Check, ok: bool, what: impl FnOnce() -> String) -> Checked {
        if ok {
            self.report.checks += 1;
            Ok(())
        } else {
            self.fail(check, what())
        }
    }

    /// The call was refused with one of `want` (never answered with data).
    fn expect_error<T>(
        &mut self,
        check: Check,
        got: Result<T, StoreError>,
        want: Want,
        call: &str,
    ) -> Checked {
        let names: Vec<&str> = want.iter().map(StoreError::name).collect();
        let want_text = names.join(" or ");
        match got {
            Ok(_) => self.fail(check, format!("{call} succeeded; expected {want_text}")),
            Err(e) => {
                let kind = std::mem::discriminant(&e);
                let ok = want.iter().any(|w| std::mem::discriminant(w) == kind);
                self.check(check, ok, || {
                    format!("{call} answered {}; expected {want_text}", e.name())
                })
            }
        }
    }

    /// Starts the group of `supplied`'s caller: its store, or `None` when the harness said
    /// why it cannot supply one (recorded). A caller not supplied without a reason fails.
    fn start<S>(&mut self, group: Group, supplied: Supply<S>) -> Result<Option<S>, Failure> {
        self.group = group;
        match supplied {
            Supply::Store(store) => Ok(Some(store)),
            Supply::CannotSupply(reason) if reason.trim().is_empty() => self.fail(
                Check::Supplied,
                format!(
                    "the harness did not supply the {group} caller and gave no reason; \
                     implement Harness::{group} to return its store, or \
                     Supply::cannot(reason) if your store has no such caller"
                ),
            ),
            Supply::CannotSupply(reason) => {
                self.report.skipped.push(Skipped { group, reason });
                Ok(None)
            }
        }
    }

    fn password(&self) -> Result<Password, Failure> {
        Password::new("conformance-password", &self.password_policy)
            .or_else(|_| material("the suite's password breaks the default policy"))
    }

    /// What the full-access caller must get for one stored record: its leaf, its issuers,
    /// its key (or KeyNotFound), and downloads.
    async fn full_access_record<P: Probe>(&mut self, store: &P, r: &Record) -> Checked {
        let got = match store.certificate(r.id).await {
            Ok(got) => got,
            Err(e) => {
                return self.fail(Check::Leaf, format!("certificate({}) failed: {e:?}", r.id));
            }
        };
        self.check(Check::Leaf, got.leaf.as_ref() == r.leaf.as_ref(), || {
            format!("certificate({}) returned another leaf", r.id)
        })?;
        let mut want: Vec<&[u8]> = r.issuers.iter().map(|c| c.as_ref()).collect();
        let mut have: Vec<&[u8]> = got.issuers.iter().map(|c| c.as_ref()).collect();
        want.sort();
        have.sort();
        self.check(Check::Issuers, want == have, || {
            format!("certificate({}) returned other issuers", r.id)
        })?;
        match (&r.key, store.private_key(r.id).await) {
            (Some(want), Ok(have)) => {
                self.check(Check::Key, want.secret_der() == have.secret_der(), || {
                    format!("private_key({}) returned another key", r.id)
                })?
            }
            (Some(_), Err(e)) => {
                return self.fail(Check::Key, format!("private_key({}) failed: {e:?}", r.id));
            }
            (None, got) => self.expect_error(
                Check::Key,
                got,
                &[StoreError::KeyNotFound],
                &format!("private_key({}) of a keyless record", r.id),
            )?,
        }
        let status = store
            .download(DownloadRequest::pem(r.id), &self.policy)
            .await;
        self.check(Check::Download, status == 200, || {
            format!("a pem download of {} answered {status}", r.id)
        })?;
        let with_key = DownloadRequest::crt(r.id).with_key(self.password()?);
        let status = store.download(with_key, &self.policy).await;
        let want = if r.key.is_some() { 200 } else { 404 };
        self.check(Check::Download, status == want, || {
            format!(
                "a crt download with key of {} answered {status}, expected {want}",
                r.id
            )
        })?;
        Ok(())
    }

    async fn full_access<P: Probe>(&mut self, store: &P, records: &[Record]) -> Checked {
        self.group = Group::FullAccess;
        for r in records {
            self.full_access_record(store, r).await?;
        }
        let unknown = unknown_id()?;
        for (call, got) in unknown_id_answers(store, unknown).await {
            self.expect_error(Check::UnknownId, got, &[StoreError::NotFound], call)?;
        }
        let status = store
            .download(DownloadRequest::pem(unknown), &self.policy)
            .await;
        self.check(Check::UnknownId, status == 404, || {
            format!("a download of an unknown id answered {status}")
        })?;
        let all_same = store.concurrent_leaves(records).await;
        self.check(Check::Concurrency, all_same, || {
            "concurrent callers did not all get the stored leaves".into()
        })
    }

    async fn key_export_denied<P: Probe>(&mut self, store: &P, records: &[Record]) -> Checked {
        for r in records.iter().filter(|r| r.key.is_some()) {
            let readable = store.certificate(r.id).await.is_ok();
            self.check(Check::ReadWithoutExport, readable, || {
                format!(
                    "a caller without key export could not read certificate {}",
                    r.id
                )
            })?;
            self.expect_error(
                Check::KeyExportRefused,
                store.private_key(r.id).await,
                &[StoreError::KeyExportForbidden],
                &format!("private_key({}) for a caller without export rights", r.id),
            )?;
            let pfx = DownloadRequest::pfx(r.id, self.password()?);
            let status = store.download(pfx, &self.policy).await;
            self.check(Check::KeyExportRefused, status == 403, || {
                format!("a pfx without export rights answered {status}")
            })?;
            let status = store
                .download(DownloadRequest::pem(r.id), &self.policy)
                .await;
            self.check(Check::ReadWithoutExport, status == 200, || {
                format!("a pem without key and without export rights answered {status}")
            })?;
        }
        Ok(())
    }

    /// A caller who may have nothing: every call is refused as `want` says, `private_key`
    /// included (the crate asks `certificate` first, but the store must not rely on it).
    async fn refused<P: Probe>(
        &mut self,
        store: &P,
        records: &[Record],
        caller: &str,
        (want, want_for_key): (Want, Want),
        statuses: &[u16],
    ) -> Checked {
        for r in records {
            self.expect_error(
                Check::CertificateRefused,
                store.certificate(r.id).await,
                want,
                &format!("certificate({}) for {caller}", r.id),
            )?;
            match store.private_key(r.id).await {
                Ok(_) => {
                    let names: Vec<&str> = want_for_key.iter().map(StoreError::name).collect();
                    return self.fail(
                        Check::KeyRefused,
                        format!(
                            "private_key({}) handed the key to {caller}; expected {}",
                            r.id,
                            names.join(" or ")
                        ),
                    );
                }
                refused => self.expect_error(
                    Check::KeyRefused,
                    refused,
                    want_for_key,
                    &format!("private_key({}) for {caller}", r.id),
                )?,
            }
            let status = store
                .download(DownloadRequest::pem(r.id), &self.policy)
                .await;
            self.check(Check::DownloadRefused, statuses.contains(&status), || {
                format!("a pem download by {caller} answered {status}")
            })?;
            let pfx = DownloadRequest::pfx(r.id, self.password()?);
            let status = store.download(pfx, &self.policy).await;
            self.check(Check::DownloadRefused, statuses.contains(&status), || {
                format!("a pfx download by {caller} answered {status}")
            })?;
        }
        Ok(())
    }

    async fn unauthenticated<P: Probe>(&mut self, store: &P, records: &[Record]) -> Checked {
        let caller = "an unauthenticated caller";
        const WANT: Want = &[StoreError::Unauthenticated];
        self.refused(store, records, caller, (WANT, WANT), &[401])
            .await?;
        // Authentication comes before the lookup: an anonymous caller cannot probe ids.
        for (call, got) in unknown_id_answers(store, unknown_id()?).await {
            let call = format!("{call} for {caller}");
            self.expect_error(Check::AuthenticationFirst, got, WANT, &call)?;
        }
        Ok(())
    }

    async fn forbidden<P: Probe>(&mut self, store: &P, records: &[Record]) -> Checked {
        use StoreError::{Forbidden, KeyExportForbidden, NotFound};
        // A store may hide existence: NotFound stands in for Forbidden. For the key it may
        // also check export rights first.
        const WANT: Want = &[Forbidden, NotFound];
        const WANT_FOR_KEY: Want = &[Forbidden, NotFound, KeyExportForbidden];
        self.refused(
            store,
            records,
            "a caller who may read nothing",
            (WANT, WANT_FOR_KEY),
            &[403, 404],
        )
        .await
    }
}

/// What both methods answer for `unknown`, each with the call's name.
async fn unknown_id_answers<P: Probe>(
    store: &P,
    unknown: CertificateId,
) -> [(&'static str, Result<(), StoreError>); 2] {
    [
        (
            "certificate(unknown id)",
            store.certificate(unknown).await.map(drop),
        ),
        (
            "private_key(unknown id)",
            store.private_key(unknown).await.map(drop),
        ),
    ]
}

fn unknown_id() -> Result<CertificateId, Failure> {
    CertificateId::new(UNKNOWN_ID).map_or_else(|| material("bad id"), Ok)
}

/// Runs the suite against `harness`'s stores.
pub fn run<H: Harness>(harness: &H) -> Result<Report, Failure> {
    let records = records()?;
    let mut run = Run::new()?;
    block_on(run.full_access(&Blocking(&harness.full_access(&records)), &records))?;
    let supplied = harness.key_export_denied(&records);
    if let Some(store) = run.start(Group::KeyExportDenied, supplied)? {
        block_on(run.key_export_denied(&Blocking(&store), &records))?;
    }
    let supplied = harness.unauthenticated(&records);
    if let Some(store) = run.start(Group::Unauthenticated, supplied)? {
        block_on(run.unauthenticated(&Blocking(&store), &records))?;
    }
    let supplied = harness.forbidden(&records);
    if let Some(store) = run.start(Group::Forbidden, supplied)? {
        block_on(run.forbidden(&Blocking(&store), &records))?;
    }
    Ok(run.report)
}

/// Runs the suite against `harness`'s async stores: the checks of [`run`], awaited on the
/// caller's executor.
pub async fn run_async<H: AsyncHarness>(harness: &H) -> Result<Report, Failure> {
    let records = records()?;
    let mut run = Run::new()?;
    let store = harness.full_access(&records).await;
    run.full_access(&Awaiting(&store), &records).await?;
    let supplied = harness.key_export_denied(&records).await;
    if let Some(store) = run.start(Group::KeyExportDenied, supplied)? {
        run.key_export_denied(&Awaiting(&store), &records).await?;
    }
    let supplied = harness.unauthenticated(&records).await;
    if let Some(store) = run.start(Group::Unauthenticated, supplied)? {
        run.unauthenticated(&Awaiting(&store), &records).await?;
    }
    let supplied = harness.forbidden(&records).await;
    if let Some(store) = run.start(Group::Forbidden, supplied)? {
        run.forbidden(&Awaiting(&store), &records).await?;
    }
    Ok(run.report)
}
