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
//! A group whose store the harness does not supply (`None`) is skipped and listed in
//! [`Report::skipped`]; a store with access control should supply them all.
//!
//! ```
//! use cert_download::conformance::{self, Harness, Record};
//! use cert_download::MemoryStore;
//!
//! struct Memory;
//!
//! impl Harness for Memory {
//!     type Store = MemoryStore;
//!     fn full_access(&self, records: &[Record]) -> MemoryStore {
//!         let mut store = MemoryStore::new();
//!         for r in records {
//!             let key = r.key.as_ref().map(|k| k.clone_key());
//!             store.insert(r.id, r.leaf.clone(), r.issuers.clone(), key);
//!         }
//!         store
//!     }
//!     fn key_export_denied(&self, records: &[Record]) -> Option<MemoryStore> {
//!         Some(self.full_access(records).deny_key_export())
//!     }
//! }
//!
//! let report = conformance::run(&Memory).expect("MemoryStore conforms");
//! assert!(report.checks() > 10);
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
//! use cert_download::conformance::{AsyncHarness, Record, run_async};
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
//!             store.insert(r.id, r.leaf.clone(), r.issuers.clone(), r.key.as_ref().map(|k| k.clone_key()));
//!         }
//!         Remote(store)
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

use crate::policy::ExportPolicy;
use crate::policy::PasswordPolicy;
use crate::random::OsRandom;
use crate::request::{CertificateId, DownloadRequest, Password};
use crate::store::{AsyncCertificateStore, CertificateRecord, CertificateStore, StoreError};
use crate::{download_with, prepare_async};

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

/// How the suite gets stores of your backend.
pub trait Harness {
    /// The store under test.
    type Store: CertificateStore;

    /// A store holding exactly `records`, seen by a caller who may read every certificate
    /// and export every key.
    fn full_access(&self, records: &[Record]) -> Self::Store;

    /// The same records, seen by a caller who may read the certificates but not export
    /// keys; `None` if your store has no such caller.
    fn key_export_denied(&self, records: &[Record]) -> Option<Self::Store> {
        let _ = records;
        None
    }

    /// The same records, seen by a caller who is not authenticated; `None` if your store
    /// has no such caller.
    fn unauthenticated(&self, records: &[Record]) -> Option<Self::Store> {
        let _ = records;
        None
    }

    /// The same records, seen by a caller who may read none of them; `None` if your store
    /// has no such caller.
    fn forbidden(&self, records: &[Record]) -> Option<Self::Store> {
        let _ = records;
        None
    }
}

/// How the suite gets stores of your async backend: [`Harness`] for an
/// [`AsyncCertificateStore`], with async constructors so that loading the records may await
/// your storage.
pub trait AsyncHarness {
    /// The store under test.
    type Store: AsyncCertificateStore;

    /// A store holding exactly `records`, seen by a caller who may read every certificate
    /// and export every key.
    fn full_access(&self, records: &[Record]) -> impl Future<Output = Self::Store> + Send;

    /// The same records, seen by a caller who may read the certificates but not export
    /// keys; `None` if your store has no such caller.
    fn key_export_denied(
        &self,
        records: &[Record],
    ) -> impl Future<Output = Option<Self::Store>> + Send {
        let _ = records;
        std::future::ready(None)
    }

    /// The same records, seen by a caller who is not authenticated; `None` if your store
    /// has no such caller.
    fn unauthenticated(
        &self,
        records: &[Record],
    ) -> impl Future<Output = Option<Self::Store>> + Send {
        let _ = records;
        std::future::ready(None)
    }

    /// The same records, seen by a caller who may read none of them; `None` if your store
    /// has no such caller.
    fn forbidden(&self, records: &[Record]) -> impl Future<Output = Option<Self::Store>> + Send {
        let _ = records;
        std::future::ready(None)
    }
}

/// What a run checked.
#[derive(Clone, Debug, Default)]
pub struct Report {
    checks: usize,
    skipped: Vec<&'static str>,
}

impl Report {
    /// How many checks passed.
    pub fn checks(&self) -> usize {
        self.checks
    }

    /// The groups of checks that did not run because the harness returned `None`.
    pub fn skipped(&self) -> &[&'static str] {
        &self.skipped
    }
}

/// The first check that failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure(String);

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "store conformance: {}", self.0)
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

fn fail<T>(what: impl Into<String>) -> Result<T, Failure> {
    Err(Failure(what.into()))
}

fn record(id: u64, leaf: &str, chain: &str, key: Option<&str>) -> Result<Record, Failure> {
    let certs = |pem: &str| {
        CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .or_else(|_| fail("the suite's own certificates do not parse"))
    };
    let mut issuers = certs(chain)?;
    // Stored order is not to be trusted: hand them over root first.
    issuers.reverse();
    let key = key
        .map(|k| PrivateKeyDer::from_pem_slice(k.as_bytes()))
        .transpose()
        .or_else(|_| fail("the suite's own key does not parse"))?;
    Ok(Record {
        id: CertificateId::new(id).ok_or_else(|| Failure("bad id".into()))?,
        leaf: certs(leaf)?
            .into_iter()
            .next()
            .ok_or_else(|| Failure("no leaf".into()))?,
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
    policy: ExportPolicy,
    password_policy: PasswordPolicy,
}

/// The groups of checks, each against the store of one kind of caller.
impl Run {
    fn new() -> Result<Self, Failure> {
        Ok(Run {
            report: Report::default(),
            policy: ExportPolicy::with_iterations(1).or_else(|_| fail("policy"))?,
            password_policy: PasswordPolicy::DEFAULT,
        })
    }

    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) -> Checked {
        if ok {
            self.report.checks += 1;
            Ok(())
        } else {
            fail(what())
        }
    }

    /// The call was refused with one of `want` (never answered with data).
    fn expect_error<T>(
        &mut self,
        got: Result<T, StoreError>,
        want: &[&'static str],
        call: &str,
    ) -> Checked {
        let want_text = want.join(" or ");
        match got {
            Ok(_) => fail(format!("{call} succeeded; expected {want_text}")),
            Err(e) => {
                let kind = e.name();
                self.check(want.contains(&kind), || {
                    format!("{call} answered {kind}; expected {want_text}")
                })
            }
        }
    }

    fn password(&self) -> Result<Password, Failure> {
        Password::new("conformance-password", &self.password_policy)
            .or_else(|_| fail("the suite's password breaks the default policy"))
    }

    /// What the full-access caller must get for one stored record: its leaf, its issuers,
    /// its key (or KeyNotFound), and downloads.
    async fn full_access_record<P: Probe>(&mut self, store: &P, r: &Record) -> Checked {
        let got = match store.certificate(r.id).await {
            Ok(got) => got,
            Err(e) => return fail(format!("certificate({}) failed: {e:?}", r.id)),
        };
        self.check(got.leaf.as_ref() == r.leaf.as_ref(), || {
            format!("certificate({}) returned another leaf", r.id)
        })?;
        let mut want: Vec<&[u8]> = r.issuers.iter().map(|c| c.as_ref()).collect();
        let mut have: Vec<&[u8]> = got.issuers.iter().map(|c| c.as_ref()).collect();
        want.sort();
        have.sort();
        self.check(want == have, || {
            format!("certificate({}) returned other issuers", r.id)
        })?;
        match (&r.key, store.private_key(r.id).await) {
            (Some(want), Ok(have)) => self.check(want.secret_der() == have.secret_der(), || {
                format!("private_key({}) returned another key", r.id)
            })?,
            (Some(_), Err(e)) => {
                return fail(format!("private_key({}) failed: {e:?}", r.id));
            }
            (None, got) => self.expect_error(
                got,
                &["KeyNotFound"],
                &format!("private_key({}) of a keyless record", r.id),
            )?,
        }
        let status = store
            .download(DownloadRequest::pem(r.id), &self.policy)
            .await;
        self.check(status == 200, || {
            format!("a pem download of {} answered {status}", r.id)
        })?;
        let with_key = DownloadRequest::crt(r.id).with_key(self.password()?);
        let status = store.download(with_key, &self.policy).await;
        let want = if r.key.is_some() { 200 } else { 404 };
        self.check(status == want, || {
            format!(
                "a crt download with key of {} answered {status}, expected {want}",
                r.id
            )
        })?;
        Ok(())
    }

    async fn full_access<P: Probe>(&mut self, store: &P, records: &[Record]) -> Checked {
        for r in records {
            self.full_access_record(store, r).await?;
        }
        let unknown = unknown_id()?;
        self.expect_error(
            store.certificate(unknown).await,
            &["NotFound"],
            "certificate(unknown id)",
        )?;
        self.expect_error(
            store.private_key(unknown).await,
            &["NotFound"],
            "private_key(unknown id)",
        )?;
        let status = store
            .download(DownloadRequest::pem(unknown), &self.policy)
            .await;
        self.check(status == 404, || {
            format!("a download of an unknown id answered {status}")
        })?;
        let all_same = store.concurrent_leaves(records).await;
        self.check(all_same, || {
            "concurrent callers did not all get the stored leaves".into()
        })
    }

    async fn key_export_denied<P: Probe>(&mut self, store: &P, records: &[Record]) -> Checked {
        for r in records.iter().filter(|r| r.key.is_some()) {
            let readable = store.certificate(r.id).await.is_ok();
            self.check(readable, || {
                format!(
                    "a caller without key export could not read certificate {}",
                    r.id
                )
            })?;
            self.expect_error(
                store.private_key(r.id).await,
                &["KeyExportForbidden"],
                &format!("private_key({}) for a caller without export rights", r.id),
            )?;
            let pfx = DownloadRequest::pfx(r.id, self.password()?);
            let status = store.download(pfx, &self.policy).await;
            self.check(status == 403, || {
                format!("a pfx without export rights answered {status}")
            })?;
            let status = store
                .download(DownloadRequest::pem(r.id), &self.policy)
                .await;
            self.check(status == 200, || {
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
        want: &[&'static str],
        want_for_key: &[&'static str],
        statuses: &[u16],
    ) -> Checked {
        for r in records {
            self.expect_error(
                store.certificate(r.id).await,
                want,
                &format!("certificate({}) for {caller}", r.id),
            )?;
            match store.private_key(r.id).await {
                Ok(_) => {
                    return fail(format!(
                        "private_key({}) handed the key to {caller}; expected {}",
                        r.id,
                        want_for_key.join(" or ")
                    ));
                }
                refused => self.expect_error(
                    refused,
                    want_for_key,
                    &format!("private_key({}) for {caller}", r.id),
                )?,
            }
            let status = store
                .download(DownloadRequest::pem(r.id), &self.policy)
                .await;
            self.check(statuses.contains(&status), || {
                format!("a pem download by {caller} answered {status}")
            })?;
            let pfx = DownloadRequest::pfx(r.id, self.password()?);
            let status = store.download(pfx, &self.policy).await;
            self.check(statuses.contains(&status), || {
                format!("a pfx download by {caller} answered {status}")
            })?;
        }
        Ok(())
    }

    async fn unauthenticated<P: Probe>(&mut self, store: &P, records: &[Record]) -> Checked {
        let caller = "an unauthenticated caller";
        let want = &["Unauthenticated"];
        self.refused(store, records, caller, want, want, &[401])
            .await?;
        // Authentication comes before the lookup: an anonymous caller cannot probe ids.
        let unknown = unknown_id()?;
        self.expect_error(
            store.certificate(unknown).await,
            want,
            &format!("certificate(unknown id) for {caller}"),
        )?;
        self.expect_error(
            store.private_key(unknown).await,
            want,
            &format!("private_key(unknown id) for {caller}"),
        )
    }

    async fn forbidden<P: Probe>(&mut self, store: &P, records: &[Record]) -> Checked {
        // A store may hide existence: NotFound stands in for Forbidden. For the key it may
        // also check export rights first.
        self.refused(
            store,
            records,
            "a caller who may read nothing",
            &["Forbidden", "NotFound"],
            &["Forbidden", "NotFound", "KeyExportForbidden"],
            &[403, 404],
        )
        .await
    }
}

fn unknown_id() -> Result<CertificateId, Failure> {
    CertificateId::new(UNKNOWN_ID).ok_or_else(|| Failure("bad id".into()))
}

/// Runs the suite against `harness`'s stores.
pub fn run<H: Harness>(harness: &H) -> Result<Report, Failure> {
    let records = records()?;
    let mut run = Run::new()?;
    block_on(run.full_access(&Blocking(&harness.full_access(&records)), &records))?;
    match harness.key_export_denied(&records) {
        Some(store) => block_on(run.key_export_denied(&Blocking(&store), &records))?,
        None => run.report.skipped.push("key_export_denied"),
    }
    match harness.unauthenticated(&records) {
        Some(store) => block_on(run.unauthenticated(&Blocking(&store), &records))?,
        None => run.report.skipped.push("unauthenticated"),
    }
    match harness.forbidden(&records) {
        Some(store) => block_on(run.forbidden(&Blocking(&store), &records))?,
        None => run.report.skipped.push("forbidden"),
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
    match harness.key_export_denied(&records).await {
        Some(store) => run.key_export_denied(&Awaiting(&store), &records).await?,
        None => run.report.skipped.push("key_export_denied"),
    }
    match harness.unauthenticated(&records).await {
        Some(store) => run.unauthenticated(&Awaiting(&store), &records).await?,
        None => run.report.skipped.push("unauthenticated"),
    }
    match harness.forbidden(&records).await {
        Some(store) => run.forbidden(&Awaiting(&store), &records).await?,
        None => run.report.skipped.push("forbidden"),
    }
    Ok(run.report)
}
