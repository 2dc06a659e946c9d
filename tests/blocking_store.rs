//! `BlockingStore` (the `tokio` feature): a synchronous store served to async code on
//! tokio's blocking pool. Run with `cargo test --features tokio` (or `--all-features`).

/// Shows in the summary as ignored, with the command that runs the tests, instead of a
/// silent "0 tests".
#[cfg(not(feature = "tokio"))]
#[test]
#[ignore = "BlockingStore needs the tokio feature: cargo test --features tokio --test blocking_store"]
fn blocking_store_needs_the_tokio_feature() {}

#[cfg(feature = "tokio")]
mod with_tokio {
    use std::sync::{Arc, Mutex};
    use std::thread::ThreadId;

    use cert_download::conformance::{self, AsyncHarness, Group, Record, Supply};
    use cert_download::{
        AsyncCertificateStore, BlockingStore, CertificateId, CertificateRecord, CertificateStore,
        DownloadRequest, MemoryStore, PrivateKeyDer, StoreError, prepare_async,
    };

    /// Only tokio's `rt` feature, as the crate's own dependency has it.
    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    }

    fn memory(records: &[Record]) -> MemoryStore {
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

    /// A host's synchronous store: a caller's rights in front of records, noting the threads
    /// its calls ran on. With `leaky`, `private_key` forgets to authenticate.
    #[derive(Debug)]
    struct Sqlite {
        records: MemoryStore,
        authenticated: bool,
        may_export: bool,
        leaky: bool,
        threads: Arc<Mutex<Vec<ThreadId>>>,
    }

    impl CertificateStore for Sqlite {
        fn certificate(&self, id: CertificateId) -> Result<CertificateRecord, StoreError> {
            self.threads
                .lock()
                .unwrap()
                .push(std::thread::current().id());
            if !self.authenticated {
                return Err(StoreError::Unauthenticated);
            }
            self.records.certificate(id)
        }

        fn private_key(&self, id: CertificateId) -> Result<PrivateKeyDer<'static>, StoreError> {
            self.threads
                .lock()
                .unwrap()
                .push(std::thread::current().id());
            if !self.authenticated && !self.leaky {
                return Err(StoreError::Unauthenticated);
            }
            if !self.may_export {
                return Err(StoreError::KeyExportForbidden);
            }
            self.records.private_key(id)
        }
    }

    #[derive(Default)]
    struct Harness {
        leaky: bool,
        threads: Arc<Mutex<Vec<ThreadId>>>,
    }

    impl Harness {
        fn store(&self, records: &[Record], authenticated: bool, may_export: bool) -> Sqlite {
            Sqlite {
                records: memory(records),
                authenticated,
                may_export,
                leaky: self.leaky,
                threads: Arc::clone(&self.threads),
            }
        }
    }

    impl AsyncHarness for Harness {
        type Store = BlockingStore<Sqlite>;
        async fn full_access(&self, records: &[Record]) -> Self::Store {
            BlockingStore::new(self.store(records, true, true))
        }
        async fn key_export_denied(&self, records: &[Record]) -> Supply<Self::Store> {
            Supply::Store(BlockingStore::new(self.store(records, true, false)))
        }
        async fn unauthenticated(&self, records: &[Record]) -> Supply<Self::Store> {
            // Export rights are stored per record here, whatever the caller.
            Supply::Store(BlockingStore::new(self.store(records, false, true)))
        }
        async fn forbidden(&self, _: &[Record]) -> Supply<Self::Store> {
            Supply::cannot("this store has no per-record read rights")
        }
    }

    #[test]
    fn a_blocking_store_conforms_through_the_async_suite_off_the_runtime_thread() {
        let harness = Harness::default();
        let report = runtime()
            .block_on(conformance::run_async(&harness))
            .unwrap();
        let skipped: Vec<Group> = report.skipped().iter().map(|s| s.group()).collect();
        assert_eq!(skipped, [Group::Forbidden]);
        let threads = harness.threads.lock().unwrap();
        assert!(threads.len() > 50, "{}", threads.len());
        // The current-thread runtime runs on this thread: every store call ran elsewhere.
        let here = std::thread::current().id();
        assert!(threads.iter().all(|t| *t != here));
    }

    #[test]
    fn the_async_suite_catches_a_leaky_blocking_store() {
        let harness = Harness {
            leaky: true,
            ..Harness::default()
        };
        let failure = runtime()
            .block_on(conformance::run_async(&harness))
            .unwrap_err();
        assert!(failure.to_string().contains("handed the key"), "{failure}");
    }

    #[test]
    fn outside_a_runtime_a_call_is_a_backend_error_not_a_panic() {
        let records = conformance::records().unwrap();
        let store = BlockingStore::new(Harness::default().store(&records, true, true));
        // Polled by hand, with no tokio runtime on this thread.
        let call = std::pin::pin!(store.certificate(records[0].id));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match std::future::Future::poll(call, &mut cx) {
            std::task::Poll::Ready(Err(e @ StoreError::Backend(_))) => {
                assert_eq!(e.into_error(records[0].id).status(), 500);
            }
            other => panic!(
                "expected a ready Backend error, got {:?}",
                other.map(|r| r.is_ok())
            ),
        }
    }

    #[derive(Debug)]
    struct Panicking;

    impl CertificateStore for Panicking {
        fn certificate(&self, _: CertificateId) -> Result<CertificateRecord, StoreError> {
            panic!("the store's own bug")
        }
        fn private_key(&self, _: CertificateId) -> Result<PrivateKeyDer<'static>, StoreError> {
            panic!("the store's own bug")
        }
    }

    #[test]
    fn a_panicking_store_is_a_500_and_the_runtime_carries_on() {
        let rt = runtime();
        let store = BlockingStore::new(Panicking);
        let id = CertificateId::new(1).unwrap();
        for _ in 0..2 {
            let e = rt
                .block_on(prepare_async(DownloadRequest::pem(id), &store))
                .unwrap_err();
            assert_eq!((e.status(), e.code()), (500, "store_failure"));
            assert!(!e.to_json().contains("own bug"));
        }
    }

    /// One store shared by many requests; a `dyn` store works too.
    #[test]
    fn a_shared_store_serves_downloads_and_stays_reachable() {
        let records = conformance::records().unwrap();
        let shared: Arc<dyn CertificateStore> = Arc::new(memory(&records));
        let store = BlockingStore::from_arc(Arc::clone(&shared));
        let rt = runtime();
        for r in &records {
            let prepared = rt
                .block_on(prepare_async(DownloadRequest::crt(r.id), &store.clone()))
                .unwrap();
            let response = prepared
                .encode(&Default::default(), &mut cert_download::OsRandom)
                .unwrap();
            assert_eq!(response.certificate(), r.leaf.as_ref());
            assert!(store.get_ref().certificate(r.id).is_ok());
        }
        assert!(format!("{store:?}").starts_with("BlockingStore(MemoryStore"));
    }
}
