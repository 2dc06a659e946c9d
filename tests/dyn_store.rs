//! `DynAsyncCertificateStore`: an async store a host picks at run time, held as a trait
//! object, answers as the store itself does.

#[path = "contract/support.rs"]
mod support;

use cert_download::store::DynAsyncCertificateStore;
use cert_download::{
    AsyncCertificateStore, CertificateId, CertificateRecord, DownloadRequest, OsRandom,
    PrivateKeyDer, StoreError, prepare_async,
};
use support::*;

/// An async store that turns every caller away.
#[derive(Debug)]
struct Closed;

impl AsyncCertificateStore for Closed {
    async fn certificate(&self, _: CertificateId) -> Result<CertificateRecord, StoreError> {
        Err(StoreError::Unauthenticated)
    }
    async fn private_key(&self, _: CertificateId) -> Result<PrivateKeyDer<'static>, StoreError> {
        Err(StoreError::Unauthenticated)
    }
}

fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
        .block_on(future)
}

/// A host picks its async store at run time and holds it as a trait object.
#[test]
fn an_async_store_picked_at_run_time_is_held_as_a_trait_object() {
    fn pick(production: bool) -> Box<dyn DynAsyncCertificateStore> {
        if production {
            Box::new(Closed)
        } else {
            Box::new(Remote(fixture_memory_store()))
        }
    }
    for (production, want) in [(false, 200), (true, 401)] {
        let store: std::sync::Arc<dyn DynAsyncCertificateStore> = pick(production).into();
        let status = block_on(async {
            let request = DownloadRequest::crt(id(1));
            match prepare_async(request, &store).await {
                Ok(prepared) => prepared
                    .encode(&fast_policy(), &mut OsRandom)
                    .map_or_else(|e| e.status(), |_| 200),
                Err(e) => e.status(),
            }
        });
        assert_eq!(status, want, "production: {production}");
    }
    // The boxed calls answer as the store does.
    let store = pick(false);
    let record = block_on(store.certificate_boxed(id(1))).expect("record 1");
    assert_eq!(record.leaf.as_ref(), fixture_leaf(1).as_slice());
    let missing = block_on(store.private_key_boxed(id(MISSING_ID))).unwrap_err();
    assert!(matches!(missing, StoreError::NotFound), "{missing:?}");
}
