//! The store conformance suite, run against both stores that ship, and shown to fail on
//! stores that break the trait's guarantees.

use std::future::Future;
use std::path::Path;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use cert_download::conformance::{self, AsyncHarness, Check, Group, Harness, Record, Supply};
use cert_download::{
    AsyncCertificateStore, CertificateDer, CertificateId, CertificateRecord, CertificateStore,
    DirectoryStore, MemoryStore, PrivateKeyDer, StoreError,
};

struct Memory;

impl Harness for Memory {
    type Store = MemoryStore;
    fn full_access(&self, records: &[Record]) -> MemoryStore {
        let mut store = MemoryStore::new();
        for r in records {
            let key = r.key.as_ref().map(|k| k.clone_key());
            store.insert(
                r.id,
                cert_download::store::MemoryEntry::new(r.leaf.clone())
                    .with_issuers(r.issuers.clone())
                    .with_key(key),
            );
        }
        store
    }
    fn key_export_denied(&self, records: &[Record]) -> Supply<MemoryStore> {
        Supply::Store(self.full_access(records).deny_key_export())
    }
    fn unauthenticated(&self, _: &[Record]) -> Supply<MemoryStore> {
        Supply::cannot("MemoryStore has no authentication")
    }
    fn forbidden(&self, _: &[Record]) -> Supply<MemoryStore> {
        Supply::cannot("MemoryStore has no per-record rights")
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

fn write_records(root: &Path, records: &[Record]) {
    for r in records {
        let dir = root.join(r.id.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("cert.pem"), pem("CERTIFICATE", &r.leaf)).unwrap();
        let chain: String = r.issuers.iter().map(|c| pem("CERTIFICATE", c)).collect();
        std::fs::write(dir.join("chain.pem"), chain).unwrap();
        if let Some(key) = &r.key {
            let label = match key {
                PrivateKeyDer::Pkcs1(_) => "RSA PRIVATE KEY",
                PrivateKeyDer::Sec1(_) => "EC PRIVATE KEY",
                _ => "PRIVATE KEY",
            };
            std::fs::write(dir.join("key.pem"), pem(label, key.secret_der())).unwrap();
        }
    }
}

struct Directory(tempfile::TempDir);

impl Harness for Directory {
    type Store = DirectoryStore;
    fn full_access(&self, records: &[Record]) -> DirectoryStore {
        write_records(self.0.path(), records);
        DirectoryStore::new(self.0.path()).unwrap()
    }
    fn key_export_denied(&self, records: &[Record]) -> Supply<DirectoryStore> {
        Supply::Store(self.full_access(records).deny_key_export())
    }
    fn unauthenticated(&self, _: &[Record]) -> Supply<DirectoryStore> {
        Supply::cannot("DirectoryStore has no authentication")
    }
    fn forbidden(&self, _: &[Record]) -> Supply<DirectoryStore> {
        Supply::cannot("DirectoryStore has no per-record rights")
    }
}

/// A host-style store: a caller's rights in front of a MemoryStore. With `leaky`, its
/// `private_key` forgets to check them (it trusts the crate to call `certificate` first).
#[derive(Debug)]
struct Guarded {
    inner: MemoryStore,
    authenticated: bool,
    may_read: bool,
    leaky: bool,
}

impl CertificateStore for Guarded {
    fn certificate(&self, id: CertificateId) -> Result<CertificateRecord, StoreError> {
        if !self.authenticated {
            return Err(StoreError::Unauthenticated);
        }
        if !self.may_read {
            return Err(StoreError::Forbidden);
        }
        self.inner.certificate(id)
    }
    fn private_key(&self, id: CertificateId) -> Result<PrivateKeyDer<'static>, StoreError> {
        if !self.leaky {
            self.certificate(id)?;
        }
        self.inner.private_key(id)
    }
}

/// Guarded stores; `Guard(true)` hands out leaky ones.
struct Guard(bool);

impl Harness for Guard {
    type Store = Guarded;
    fn full_access(&self, records: &[Record]) -> Guarded {
        Guarded {
            inner: Memory.full_access(records),
            authenticated: true,
            may_read: true,
            leaky: self.0,
        }
    }
    fn key_export_denied(&self, records: &[Record]) -> Supply<Guarded> {
        Supply::Store(Guarded {
            inner: Memory.full_access(records).deny_key_export(),
            ..self.full_access(records)
        })
    }
    fn unauthenticated(&self, records: &[Record]) -> Supply<Guarded> {
        Supply::Store(Guarded {
            authenticated: false,
            ..self.full_access(records)
        })
    }
    fn forbidden(&self, records: &[Record]) -> Supply<Guarded> {
        Supply::Store(Guarded {
            may_read: false,
            ..self.full_access(records)
        })
    }
}

#[test]
fn memory_store_conforms() {
    let report = conformance::run(&Memory).unwrap();
    assert!(report.checks() > 20, "{report:?}");
    let skipped: Vec<(Group, &str)> = report
        .skipped()
        .iter()
        .map(|s| (s.group(), s.reason()))
        .collect();
    assert_eq!(
        skipped,
        [
            (Group::Unauthenticated, "MemoryStore has no authentication"),
            (Group::Forbidden, "MemoryStore has no per-record rights"),
        ]
    );
}

#[test]
fn directory_store_conforms() {
    let report = conformance::run(&Directory(tempfile::tempdir().unwrap())).unwrap();
    assert!(report.checks() > 20, "{report:?}");
}

#[test]
fn a_store_with_access_control_conforms_in_every_group() {
    let report = conformance::run(&Guard(false)).unwrap();
    assert!(report.skipped().is_empty(), "{report:?}");
}

/// A harness that supplies only the full-access caller: the run fails, naming the first
/// caller left out, until it supplies each or says why it cannot.
#[test]
fn a_harness_that_supplies_only_full_access_fails() {
    struct FullAccessOnly;
    impl Harness for FullAccessOnly {
        type Store = MemoryStore;
        fn full_access(&self, records: &[Record]) -> MemoryStore {
            Memory.full_access(records)
        }
    }
    let failure = conformance::run(&FullAccessOnly).unwrap_err();
    assert_eq!(failure.check(), Check::Supplied, "{failure}");
    assert_eq!(failure.group(), Some(Group::KeyExportDenied), "{failure}");
    assert!(failure.to_string().contains("gave no reason"), "{failure}");

    // An empty or blank reason is no reason either.
    struct BlankReason;
    impl Harness for BlankReason {
        type Store = MemoryStore;
        fn full_access(&self, records: &[Record]) -> MemoryStore {
            Memory.full_access(records)
        }
        fn key_export_denied(&self, records: &[Record]) -> Supply<MemoryStore> {
            Memory.key_export_denied(records)
        }
        fn unauthenticated(&self, _: &[Record]) -> Supply<MemoryStore> {
            Supply::cannot("  ")
        }
    }
    let failure = conformance::run(&BlankReason).unwrap_err();
    assert_eq!(
        (failure.group(), failure.check()),
        (Some(Group::Unauthenticated), Check::Supplied),
        "{failure}"
    );
}

/// A store that hands every key to every caller (no authentication, no rights): with the
/// callers it cannot tell apart supplied as what they are, the suite fails it.
#[test]
fn a_store_that_hands_keys_to_anyone_fails() {
    struct Open;
    impl Harness for Open {
        type Store = MemoryStore;
        fn full_access(&self, records: &[Record]) -> MemoryStore {
            Memory.full_access(records)
        }
        // The host's harness hands over "the store seen by a caller without export
        // rights", and its store ignores who the caller is.
        fn key_export_denied(&self, records: &[Record]) -> Supply<MemoryStore> {
            Supply::Store(Memory.full_access(records))
        }
        fn unauthenticated(&self, records: &[Record]) -> Supply<MemoryStore> {
            Supply::Store(Memory.full_access(records))
        }
        fn forbidden(&self, records: &[Record]) -> Supply<MemoryStore> {
            Supply::Store(Memory.full_access(records))
        }
    }
    let failure = conformance::run(&Open).unwrap_err();
    assert_eq!(
        (failure.group(), failure.check()),
        (Some(Group::KeyExportDenied), Check::KeyExportRefused),
        "{failure}"
    );
    assert!(
        failure
            .message()
            .contains("succeeded; expected KeyExportForbidden"),
        "{failure}"
    );
}

/// A store that answers KeyNotFound for unknown ids and drops issuers: the suite must say so.
#[derive(Debug)]
struct Sloppy(MemoryStore, bool);

impl CertificateStore for Sloppy {
    fn certificate(&self, id: CertificateId) -> Result<CertificateRecord, StoreError> {
        let mut record = self
            .0
            .certificate(id)
            .map_err(|_| StoreError::KeyNotFound)?;
        if self.1 {
            record.issuers.truncate(1);
        }
        Ok(record)
    }
    fn private_key(&self, id: CertificateId) -> Result<PrivateKeyDer<'static>, StoreError> {
        self.0.private_key(id)
    }
}

struct SloppyHarness(bool);

impl Harness for SloppyHarness {
    type Store = Sloppy;
    fn full_access(&self, records: &[Record]) -> Sloppy {
        Sloppy(Memory.full_access(records), self.0)
    }
}

#[test]
fn the_suite_catches_a_store_that_drops_issuers() {
    let failure = conformance::run(&SloppyHarness(true)).unwrap_err();
    assert_eq!(failure.check(), Check::Issuers, "{failure}");
    assert!(failure.to_string().contains("other issuers"), "{failure}");
}

#[test]
fn the_suite_catches_a_store_with_the_wrong_error_for_unknown_ids() {
    let failure = conformance::run(&SloppyHarness(false)).unwrap_err();
    assert!(
        failure.to_string().contains("expected NotFound"),
        "{failure}"
    );
}

/// The leaky store passes every check that goes through `download` (which asks
/// `certificate` first); only asking `private_key` directly, as the suite does, shows that
/// it hands keys to anyone.
#[test]
fn the_suite_catches_a_store_whose_private_key_ignores_the_caller() {
    let failure = conformance::run(&Guard(true)).unwrap_err().to_string();
    assert!(
        failure.contains("handed the key to an unauthenticated caller"),
        "{failure}"
    );
    // No key material in the failure.
    assert!(!failure.contains("BEGIN"), "{failure}");
}

/// Without the unauthenticated group, the caller who may read nothing catches it too.
#[test]
fn the_suite_catches_a_leaky_private_key_for_a_caller_who_may_read_nothing() {
    struct ForbiddenOnly;
    impl Harness for ForbiddenOnly {
        type Store = Guarded;
        fn full_access(&self, records: &[Record]) -> Guarded {
            Guard(true).full_access(records)
        }
        fn key_export_denied(&self, records: &[Record]) -> Supply<Guarded> {
            Guard(true).key_export_denied(records)
        }
        fn unauthenticated(&self, _: &[Record]) -> Supply<Guarded> {
            Supply::cannot("left out, to see the forbidden group catch the leak")
        }
        fn forbidden(&self, records: &[Record]) -> Supply<Guarded> {
            Guard(true).forbidden(records)
        }
    }
    let failure = conformance::run(&ForbiddenOnly).unwrap_err().to_string();
    assert!(
        failure.contains("handed the key to a caller who may read nothing"),
        "{failure}"
    );
}

/// A store that authenticates after the lookup: an anonymous caller learns which ids exist.
#[derive(Debug)]
struct LookupFirst(Guarded);

impl CertificateStore for LookupFirst {
    fn certificate(&self, id: CertificateId) -> Result<CertificateRecord, StoreError> {
        self.0.inner.certificate(id)?;
        self.0.certificate(id)
    }
    fn private_key(&self, id: CertificateId) -> Result<PrivateKeyDer<'static>, StoreError> {
        self.0.inner.certificate(id)?;
        self.0.private_key(id)
    }
}

#[test]
fn the_suite_catches_a_store_that_looks_up_before_it_authenticates() {
    struct H;
    impl Harness for H {
        type Store = LookupFirst;
        fn full_access(&self, records: &[Record]) -> LookupFirst {
            LookupFirst(Guard(false).full_access(records))
        }
        fn key_export_denied(&self, _: &[Record]) -> Supply<LookupFirst> {
            Supply::cannot("not the point of this test")
        }
        fn unauthenticated(&self, records: &[Record]) -> Supply<LookupFirst> {
            Guard(false).unauthenticated(records).map(LookupFirst)
        }
    }
    let failure = conformance::run(&H).unwrap_err().to_string();
    assert!(
        failure.contains("certificate(unknown id) for an unauthenticated caller answered NotFound"),
        "{failure}"
    );
}

// ---------------------------------------------------------------------------------------
// The async suite, on a minimal executor: no runtime needed
// ---------------------------------------------------------------------------------------

struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls on this thread, parking while the future waits for a wake-up.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        std::thread::park();
    }
}

/// Pending once (after asking to be woken), then ready: what an awaited I/O call does.
async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}

/// An async store whose every call waits once before it answers, counting the calls that
/// are waiting at the same moment.
#[derive(Debug)]
struct Remote {
    store: Guarded,
    waiting: std::sync::atomic::AtomicUsize,
    most_waiting: std::sync::atomic::AtomicUsize,
}

impl Remote {
    fn new(store: Guarded) -> Self {
        Remote {
            store,
            waiting: 0.into(),
            most_waiting: 0.into(),
        }
    }

    async fn wait(&self) {
        use std::sync::atomic::Ordering::SeqCst;
        let now = self.waiting.fetch_add(1, SeqCst) + 1;
        self.most_waiting.fetch_max(now, SeqCst);
        yield_now().await;
        self.waiting.fetch_sub(1, SeqCst);
    }
}

impl AsyncCertificateStore for Remote {
    async fn certificate(&self, id: CertificateId) -> Result<CertificateRecord, StoreError> {
        self.wait().await;
        CertificateStore::certificate(&self.store, id)
    }
    async fn private_key(&self, id: CertificateId) -> Result<PrivateKeyDer<'static>, StoreError> {
        self.wait().await;
        CertificateStore::private_key(&self.store, id)
    }
}

struct RemoteHarness {
    leaky: bool,
    /// The most calls the full-access store had waiting at once.
    most_waiting: Arc<std::sync::Mutex<usize>>,
}

impl RemoteHarness {
    fn new(leaky: bool) -> Self {
        RemoteHarness {
            leaky,
            most_waiting: Arc::default(),
        }
    }
}

/// Keeps the full-access store's count when the suite drops it.
struct Counted(Remote, Arc<std::sync::Mutex<usize>>);

impl std::fmt::Debug for Counted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        let most = self
            .0
            .most_waiting
            .load(std::sync::atomic::Ordering::SeqCst);
        let mut kept = self.1.lock().unwrap();
        *kept = (*kept).max(most);
    }
}

impl AsyncCertificateStore for Counted {
    async fn certificate(&self, id: CertificateId) -> Result<CertificateRecord, StoreError> {
        self.0.certificate(id).await
    }
    async fn private_key(&self, id: CertificateId) -> Result<PrivateKeyDer<'static>, StoreError> {
        self.0.private_key(id).await
    }
}

impl AsyncHarness for RemoteHarness {
    type Store = Counted;
    async fn full_access(&self, records: &[Record]) -> Counted {
        yield_now().await;
        Counted(
            Remote::new(Guard(self.leaky).full_access(records)),
            Arc::clone(&self.most_waiting),
        )
    }
    async fn key_export_denied(&self, records: &[Record]) -> Supply<Counted> {
        Guard(self.leaky)
            .key_export_denied(records)
            .map(|s| Counted(Remote::new(s), Arc::clone(&self.most_waiting)))
    }
    async fn unauthenticated(&self, records: &[Record]) -> Supply<Counted> {
        Guard(self.leaky)
            .unauthenticated(records)
            .map(|s| Counted(Remote::new(s), Arc::clone(&self.most_waiting)))
    }
    async fn forbidden(&self, records: &[Record]) -> Supply<Counted> {
        Guard(self.leaky)
            .forbidden(records)
            .map(|s| Counted(Remote::new(s), Arc::clone(&self.most_waiting)))
    }
}

#[test]
fn an_async_store_conforms_in_every_group_with_the_same_checks() {
    let harness = RemoteHarness::new(false);
    let report = block_on(conformance::run_async(&harness)).unwrap();
    assert!(report.skipped().is_empty(), "{report:?}");
    let sync_report = conformance::run(&Guard(false)).unwrap();
    assert_eq!(report.checks(), sync_report.checks());
    // The concurrent callers were really in flight together, not one after another.
    assert_eq!(*harness.most_waiting.lock().unwrap(), 4);
}

#[test]
fn the_async_suite_catches_a_leaky_private_key() {
    let failure = block_on(conformance::run_async(&RemoteHarness::new(true)))
        .unwrap_err()
        .to_string();
    assert!(
        failure.contains("handed the key to an unauthenticated caller"),
        "{failure}"
    );
}

/// A host can spawn the run on a multi-threaded executor.
#[test]
fn the_async_run_is_send() {
    fn send<T: Send>(_: &T) {}
    let harness = RemoteHarness::new(false);
    let run = conformance::run_async(&harness);
    send(&run);
}

#[test]
fn records_are_loaded_with_their_key_containers() {
    let records = conformance::records().unwrap();
    let kinds: Vec<&str> = records
        .iter()
        .map(|r| match &r.key {
            Some(PrivateKeyDer::Pkcs1(_)) => "pkcs1",
            Some(PrivateKeyDer::Sec1(_)) => "sec1",
            Some(_) => "pkcs8",
            None => "none",
        })
        .collect();
    assert_eq!(kinds, ["pkcs8", "sec1", "pkcs8", "none", "pkcs1"]);
    let _: &CertificateDer<'_> = &records[0].leaf;
}
