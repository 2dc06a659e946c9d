//! A synchronous store served to async hosts on tokio's blocking thread pool.

use std::fmt;
use std::sync::Arc;

use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use zeroize::Zeroizing;

use super::{AsyncCertificateStore, CertificateRecord, CertificateStore, StoreError};
use crate::request::CertificateId;

/// A [`CertificateStore`] as an [`AsyncCertificateStore`]: each call runs on tokio's
/// blocking thread pool (`tokio::task::spawn_blocking`), so blocking I/O (a file, SQLite, a
/// synchronous HSM client) never stalls the executor's worker threads.
///
/// This is the one adapter between the two traits, and it is explicit: there is no blanket
/// impl of one on the other, which would hide blocking I/O on an executor. With it a host
/// implements only [`CertificateStore`] and never has one type implementing both traits
/// (whose methods share their names, so that calling them needs the trait's path). The
/// wrapper implements only the async trait; [`get_ref`](Self::get_ref) reaches the
/// synchronous store.
///
/// Needs the `tokio` feature (tokio with its `rt` feature only) and must be awaited inside a
/// tokio runtime; outside one, a call answers [`StoreError::Backend`] instead of blocking. A
/// call whose store panics answers [`StoreError::Backend`] too (500), and the runtime
/// carries on.
///
/// ```
/// use std::sync::Arc;
/// use cert_download::{BlockingStore, DirectoryStore, DownloadRequest, prepare_async};
///
/// # async fn handler(body: &[u8], shared: Arc<DirectoryStore>) -> Result<(), cert_download::Error> {
/// // One store shared by every request (a connection pool, a directory).
/// let store = BlockingStore::from_arc(shared);
/// let prepared = prepare_async(DownloadRequest::from_json(body)?, &store).await?;
/// # let _ = prepared;
/// # Ok(())
/// # }
/// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// # let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/demo-store");
/// # rt.block_on(handler(br#"{"id": 12345, "format": "crt"}"#, Arc::new(DirectoryStore::new(demo).unwrap()))).unwrap();
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub struct BlockingStore<S: ?Sized> {
    store: Arc<S>,
}

impl<S: CertificateStore + 'static> BlockingStore<S> {
    /// Serves `store` on the blocking pool.
    pub fn new(store: S) -> Self {
        Self {
            store: Arc::new(store),
        }
    }
}

impl<S: CertificateStore + ?Sized + 'static> BlockingStore<S> {
    /// Serves a store shared with others (one per process, or one per caller).
    pub fn from_arc(store: Arc<S>) -> Self {
        Self { store }
    }

    /// The synchronous store.
    pub fn get_ref(&self) -> &S {
        &self.store
    }

    /// Runs `call` on the blocking pool of the current tokio runtime.
    async fn blocking<T: Send + 'static>(
        &self,
        call: impl FnOnce(&S) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(StoreError::backend)?;
        let store = Arc::clone(&self.store);
        runtime
            .spawn_blocking(move || call(&store))
            .await
            .map_err(StoreError::backend)?
    }
}

impl<S: ?Sized> Clone for BlockingStore<S> {
    fn clone(&self) -> Self {
        Self {
            store: Arc::clone(&self.store),
        }
    }
}

impl<S: fmt::Debug + ?Sized> fmt::Debug for BlockingStore<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("BlockingStore").field(&self.store).finish()
    }
}

impl<S: CertificateStore + ?Sized + 'static> AsyncCertificateStore for BlockingStore<S> {
    async fn certificate(&self, id: CertificateId) -> Result<CertificateRecord, StoreError> {
        self.blocking(move |store| store.certificate(id)).await
    }

    async fn private_key(&self, id: CertificateId) -> Result<PrivateKeyDer<'static>, StoreError> {
        // Wrapped on the blocking thread: if the caller's future is dropped while it waits
        // (a client gone, a timeout), the key is wiped when the task's output is dropped.
        let mut key = self
            .blocking(move |store| store.private_key(id).map(Zeroizing::new))
            .await?;
        // Moved out (no copy of the bytes); the empty placeholder is what gets wiped.
        Ok(std::mem::replace(
            &mut *key,
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(Vec::new())),
        ))
    }
}
