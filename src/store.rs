//! The host's storage and authorization: [`CertificateStore`] and the two stores that ship.

use std::fmt;

use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::{Error, ErrorKind};
use crate::request::CertificateId;

#[cfg(feature = "tokio")]
mod blocking;
mod directory;
mod memory;

#[cfg(feature = "tokio")]
pub use blocking::BlockingStore;
pub use directory::{DirectoryStore, MAX_FILE_BYTES};
pub use memory::{MemoryEntry, MemoryStore};

/// The most certificates a stored record may have (the leaf and its issuers); a longer
/// chain is refused with a 500 before it is parsed.
pub const MAX_CHAIN_LEN: usize = 64;

/// The largest certificate accepted from a store (256 KiB); a larger one is refused with a
/// 500 before it is parsed.
pub const MAX_CERTIFICATE_BYTES: usize = 256 * 1024;

/// A stored certificate as the store hands it over: the leaf and its issuers.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CertificateRecord {
    /// The leaf certificate (DER).
    pub leaf: CertificateDer<'static>,
    /// Its issuers (DER), in any order: the crate orders them by issuer links.
    pub issuers: Vec<CertificateDer<'static>>,
}

impl CertificateRecord {
    /// A record of a leaf and its issuers.
    pub fn new(leaf: CertificateDer<'static>, issuers: Vec<CertificateDer<'static>>) -> Self {
        Self { leaf, issuers }
    }
}

/// Why a store did not hand over what was asked.
///
/// Each variant becomes a fixed status and code; the text of a [`Backend`](Self::Backend)
/// error is never shown to the caller.
#[non_exhaustive]
pub enum StoreError {
    /// The caller is not authenticated (401).
    Unauthenticated,
    /// The caller may not download this certificate (403). A store may answer
    /// [`NotFound`](Self::NotFound) instead, so that ids cannot be probed.
    Forbidden,
    /// The caller may download the certificate but not export its private key (403).
    KeyExportForbidden,
    /// No certificate with this id (404).
    NotFound,
    /// The certificate has no private key stored (404).
    KeyNotFound,
    /// The stored certificate data cannot be read as certificates (500).
    InvalidCertificate,
    /// The stored key data cannot be read as a private key (500).
    InvalidKey,
    /// The backend failed (500). The error is kept for the host's logs only.
    Backend(Box<dyn std::error::Error + Send + Sync + 'static>),
}

impl StoreError {
    /// A backend failure.
    pub fn backend(error: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>) -> Self {
        StoreError::Backend(error.into())
    }

    /// The crate's [`Error`] for this answer about certificate `id`: the status, code and
    /// message [`download`](crate::download()) answers with.
    ///
    /// For a host that fetches with its own code (before
    /// [`Prepared::from_record`](crate::Prepared::from_record)) and reports a store's
    /// refusal or failure in the contract's shape. The cause of a
    /// [`Backend`](Self::Backend) error stays reachable through the returned error's
    /// [`source`](std::error::Error::source), for the host's logs; its text never reaches
    /// the error's `Display`, `Debug` or [`to_json`](Error::to_json).
    ///
    /// ```
    /// use std::error::Error as _;
    /// use cert_download::{CertificateId, StoreError};
    ///
    /// let id = CertificateId::new(7).unwrap();
    /// let cause = std::io::Error::other("disk /srv/vault-7 unreadable");
    /// let error = StoreError::backend(cause).into_error(id);
    /// assert_eq!((error.status(), error.code()), (500, "store_failure"));
    /// assert!(!error.to_json().contains("vault-7"));
    /// // The cause, for the log only:
    /// assert!(error.source().unwrap().to_string().contains("vault-7"));
    /// ```
    pub fn into_error(self, id: CertificateId) -> Error {
        use ErrorKind::*;
        let (kind, message) = match self {
            StoreError::Unauthenticated => (Unauthenticated, "authentication is required".into()),
            StoreError::Forbidden => (Forbidden, format!("you may not download certificate {id}")),
            StoreError::KeyExportForbidden => (
                KeyExportForbidden,
                format!("you may not export the private key of certificate {id}"),
            ),
            StoreError::NotFound => (CertificateNotFound, format!("no certificate with id {id}")),
            StoreError::KeyNotFound => (
                KeyNotFound,
                format!("certificate {id} has no private key stored"),
            ),
            StoreError::InvalidCertificate => (
                InvalidCertificate,
                format!("the stored certificate {id} cannot be read"),
            ),
            StoreError::InvalidKey => (
                InvalidKey,
                format!("the stored private key of certificate {id} cannot be read"),
            ),
            StoreError::Backend(source) => {
                return Error::new(
                    StoreFailure,
                    "the certificate store failed; the details are in the server's log",
                )
                .with_source(source);
            }
        };
        Error::new(kind, message)
    }

    /// The variant's name, without the backend's text.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            StoreError::Unauthenticated => "Unauthenticated",
            StoreError::Forbidden => "Forbidden",
            StoreError::KeyExportForbidden => "KeyExportForbidden",
            StoreError::NotFound => "NotFound",
            StoreError::KeyNotFound => "KeyNotFound",
            StoreError::InvalidCertificate => "InvalidCertificate",
            StoreError::InvalidKey => "InvalidKey",
            StoreError::Backend(_) => "Backend",
        }
    }
}

impl fmt::Debug for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The backend's text may hold paths or data: keep it out of Debug as well.
            StoreError::Backend(_) => f.write_str("Backend([elided])"),
            other => f.write_str(other.name()),
        }
    }
}

/// What the store answered, in words; a backend's own text is not part of it but its
/// [`source`](std::error::Error::source).
impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StoreError::Unauthenticated => "the caller is not authenticated",
            StoreError::Forbidden => "the caller may not download this certificate",
            StoreError::KeyExportForbidden => "the caller may not export this private key",
            StoreError::NotFound => "no certificate with this id",
            StoreError::KeyNotFound => "no private key is stored for this certificate",
            StoreError::InvalidCertificate => "the stored certificate data cannot be read",
            StoreError::InvalidKey => "the stored key data cannot be read as a private key",
            StoreError::Backend(_) => "the certificate store's backend failed",
        })
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Backend(cause) => Some(cause.as_ref()),
            _ => None,
        }
    }
}

/// Where certificates and keys come from, and who may have them.
///
/// The host implements it; a value is usually bound to one caller (build one per request
/// from the caller's identity and your storage handle). [`download`](crate::download())
/// calls [`certificate`](Self::certificate) first, then, only when the response will carry
/// the private key, [`private_key`](Self::private_key) for the same id.
///
/// # What an implementer must guarantee
///
/// - **Authorization happens here.** `certificate` answers
///   [`Unauthenticated`](StoreError::Unauthenticated) for an unknown caller and
///   [`Forbidden`](StoreError::Forbidden) (or [`NotFound`](StoreError::NotFound), to hide
///   that the id exists) for a caller who may not read it. `private_key` answers
///   [`KeyExportForbidden`](StoreError::KeyExportForbidden) for a caller who may read the
///   certificate but not export its key. The crate never exports a key without asking
///   `private_key`. Each method checks the caller on its own: `private_key` must not rely
///   on `certificate` having been asked first (a host's own code may call it alone), and it
///   answers an unauthenticated caller [`Unauthenticated`](StoreError::Unauthenticated),
///   never with key bytes. Authenticate before the lookup, so that an unknown caller gets
///   the same answer for every id.
/// - **Consistency.** Both methods describe the same stored record: the key returned is the
///   key of the leaf returned. (The crate checks it anyway and answers 500 on a mismatch.)
/// - **Honest answers.** [`NotFound`](StoreError::NotFound) when no record has the id,
///   [`KeyNotFound`](StoreError::KeyNotFound) when the record has no key; backend failures
///   as [`Backend`](StoreError::Backend), whose text is kept out of every response.
/// - **No panics, bounded work.** Both methods return in bounded time; they are called from
///   many threads at once.
/// - **Blocking is allowed.** The trait is synchronous; async hosts implement
///   [`AsyncCertificateStore`] instead, or wrap this store in `BlockingStore` (the `tokio`
///   feature), which runs each call on tokio's blocking pool. There is deliberately no
///   blanket impl from one trait to the other: that would hide blocking I/O on an executor.
///
/// The `conformance` suite (the `conformance` feature) checks these guarantees against your
/// store.
pub trait CertificateStore: fmt::Debug + Send + Sync {
    /// The leaf and its issuers, if the caller may download them.
    fn certificate(&self, id: CertificateId) -> Result<CertificateRecord, StoreError>;

    /// The private key (PKCS#8, PKCS#1 or SEC1 DER), if the caller may export it.
    fn private_key(&self, id: CertificateId) -> Result<PrivateKeyDer<'static>, StoreError>;
}

/// A store behind a reference or a smart pointer is the store itself.
macro_rules! forward_store {
    ($($wrapper:ty),*) => {$(
        impl<S: CertificateStore + ?Sized> CertificateStore for $wrapper {
            fn certificate(&self, id: CertificateId) -> Result<CertificateRecord, StoreError> {
                (**self).certificate(id)
            }

            fn private_key(&self, id: CertificateId) -> Result<PrivateKeyDer<'static>, StoreError> {
                (**self).private_key(id)
            }
        }
    )*};
}

forward_store!(&S, std::sync::Arc<S>, Box<S>);

/// The async twin of [`CertificateStore`], for hosts whose storage is reached with async
/// I/O. The same guarantees apply; the futures must be `Send` so that the host's
/// multi-threaded executor can run them.
///
/// [`prepare_async`](crate::prepare_async) calls it and returns a
/// [`Prepared`](crate::Prepared) value that is `Send + 'static`; the CPU-bound encoding
/// then runs where the host chooses:
///
/// ```no_run
/// # async fn handler<S: cert_download::AsyncCertificateStore>(
/// #     body: Vec<u8>, store: &S,
/// # ) -> Result<cert_download::DownloadResponse, cert_download::Error> {
/// use cert_download::{DownloadRequest, ExportPolicy, OsRandom, prepare_async};
///
/// let policy = ExportPolicy::default();
/// // The policy's password rules at parse time: a 400 before the store is asked.
/// let request = DownloadRequest::from_json_with_policy(&body, policy.password_policy())?;
/// let prepared = prepare_async(request, store).await?;
/// // PBKDF2 takes milliseconds of CPU: keep it off the async worker threads.
/// let response = tokio::task::spawn_blocking(move || {
///     prepared.encode(&policy, &mut OsRandom)
/// })
/// .await
/// .expect("the encoding task does not panic")?;
/// # Ok(response)
/// # }
/// ```
///
/// A synchronous store needs no impl of this trait: `BlockingStore` (the `tokio` feature)
/// serves any [`CertificateStore`] to async code on tokio's blocking pool.
///
/// # A type that is both
///
/// The two traits name their methods alike, so a type implementing both cannot call them
/// as methods where both traits are imported (E0034). The crate's functions choose by their
/// bound, so calling through them is never ambiguous: [`download`](crate::download()) and
/// [`prepare`](crate::prepare) use the synchronous impl,
/// [`prepare_async`](crate::prepare_async) the async one, and
/// the `conformance` suite tests each. Where you call the store yourself, name
/// the trait (`CertificateStore::certificate(&store, id)`), or import only the trait that
/// module uses: with one trait in scope, `store.certificate(id)` is that trait's method.
///
/// ```
/// use cert_download::{
///     AsyncCertificateStore, CertificateId, CertificateRecord, CertificateStore,
///     DownloadRequest, MemoryStore, PrivateKeyDer, StoreError, download, prepare_async,
/// };
///
/// /// A client with a blocking and an async API (here both answer from memory).
/// #[derive(Debug)]
/// struct Vault(MemoryStore);
///
/// impl CertificateStore for Vault {
///     fn certificate(&self, id: CertificateId) -> Result<CertificateRecord, StoreError> {
///         self.0.certificate(id)
///     }
///     fn private_key(&self, id: CertificateId) -> Result<PrivateKeyDer<'static>, StoreError> {
///         self.0.private_key(id)
///     }
/// }
///
/// impl AsyncCertificateStore for Vault {
///     async fn certificate(&self, id: CertificateId) -> Result<CertificateRecord, StoreError> {
///         self.0.certificate(id)
///     }
///     async fn private_key(&self, id: CertificateId) -> Result<PrivateKeyDer<'static>, StoreError> {
///         self.0.private_key(id)
///     }
/// }
///
/// fn sync_path(vault: &Vault, id: CertificateId) -> Result<(), cert_download::Error> {
///     download(DownloadRequest::crt(id), vault)?; // the CertificateStore impl
///     let _record = CertificateStore::certificate(vault, id).map_err(|e| e.into_error(id))?;
///     Ok(())
/// }
///
/// async fn async_path(vault: &Vault, id: CertificateId) -> Result<(), cert_download::Error> {
///     prepare_async(DownloadRequest::crt(id), vault).await?; // the AsyncCertificateStore impl
///     let _record = AsyncCertificateStore::certificate(vault, id)
///         .await
///         .map_err(|e| e.into_error(id))?;
///     Ok(())
/// }
/// # let id = CertificateId::new(1).unwrap();
/// # assert_eq!(sync_path(&Vault(MemoryStore::new()), id).unwrap_err().status(), 404);
/// # let vault = Vault(MemoryStore::new());
/// # let mut run = std::pin::pin!(async_path(&vault, id));
/// # let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
/// # match std::future::Future::poll(run.as_mut(), &mut cx) {
/// #     std::task::Poll::Ready(r) => assert_eq!(r.unwrap_err().status(), 404),
/// #     std::task::Poll::Pending => unreachable!("memory never waits"),
/// # }
/// ```
pub trait AsyncCertificateStore: fmt::Debug + Send + Sync {
    /// The leaf and its issuers, if the caller may download them.
    fn certificate(
        &self,
        id: CertificateId,
    ) -> impl Future<Output = Result<CertificateRecord, StoreError>> + Send;

    /// The private key (PKCS#8, PKCS#1 or SEC1 DER), if the caller may export it.
    fn private_key(
        &self,
        id: CertificateId,
    ) -> impl Future<Output = Result<PrivateKeyDer<'static>, StoreError>> + Send;
}

/// A boxed future of a [`DynAsyncCertificateStore`].
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An [`AsyncCertificateStore`] that can be held as a trait object, for a host that picks
/// its store at run time (memory in tests, SQL in production): `Box<dyn
/// DynAsyncCertificateStore>`, `Arc<dyn DynAsyncCertificateStore>`.
///
/// Every [`AsyncCertificateStore`] is one (a blanket impl boxes its futures), and the trait
/// object is an [`AsyncCertificateStore`] again, so [`prepare_async`](crate::prepare_async)
/// takes it as it takes any store. Implement [`AsyncCertificateStore`], not this trait.
///
/// ```
/// use std::sync::Arc;
/// use cert_download::store::DynAsyncCertificateStore;
/// use cert_download::{
///     AsyncCertificateStore, CertificateId, CertificateRecord, CertificateStore,
///     DownloadRequest, MemoryStore, PrivateKeyDer, StoreError, prepare_async,
/// };
///
/// /// Production: a database client (here it finds nothing).
/// #[derive(Debug)]
/// struct Sql;
///
/// impl AsyncCertificateStore for Sql {
///     async fn certificate(&self, _: CertificateId) -> Result<CertificateRecord, StoreError> {
///         Err(StoreError::NotFound)
///     }
///     async fn private_key(&self, _: CertificateId) -> Result<PrivateKeyDer<'static>, StoreError> {
///         Err(StoreError::NotFound)
///     }
/// }
///
/// /// Tests: records in memory.
/// #[derive(Debug)]
/// struct Memory(MemoryStore);
///
/// impl AsyncCertificateStore for Memory {
///     async fn certificate(&self, id: CertificateId) -> Result<CertificateRecord, StoreError> {
///         CertificateStore::certificate(&self.0, id)
///     }
///     async fn private_key(&self, id: CertificateId) -> Result<PrivateKeyDer<'static>, StoreError> {
///         CertificateStore::private_key(&self.0, id)
///     }
/// }
///
/// fn pick(testing: bool) -> Arc<dyn DynAsyncCertificateStore> {
///     if testing { Arc::new(Memory(MemoryStore::new())) } else { Arc::new(Sql) }
/// }
///
/// async fn status(store: &dyn DynAsyncCertificateStore, id: CertificateId) -> u16 {
///     match prepare_async(DownloadRequest::crt(id), store).await {
///         Ok(_) => 200,
///         Err(error) => error.status(),
///     }
/// }
/// # let store = pick(std::env::args().count() > 100);
/// # let id = CertificateId::new(7).unwrap();
/// # let mut run = std::pin::pin!(status(&*store, id));
/// # let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
/// # assert!(matches!(std::future::Future::poll(run.as_mut(), &mut cx),
/// #     std::task::Poll::Ready(404)));
/// ```
pub trait DynAsyncCertificateStore: fmt::Debug + Send + Sync {
    /// [`AsyncCertificateStore::certificate`], boxed.
    fn certificate_boxed(
        &self,
        id: CertificateId,
    ) -> BoxFuture<'_, Result<CertificateRecord, StoreError>>;

    /// [`AsyncCertificateStore::private_key`], boxed.
    fn private_key_boxed(
        &self,
        id: CertificateId,
    ) -> BoxFuture<'_, Result<PrivateKeyDer<'static>, StoreError>>;
}

impl<S: AsyncCertificateStore> DynAsyncCertificateStore for S {
    fn certificate_boxed(
        &self,
        id: CertificateId,
    ) -> BoxFuture<'_, Result<CertificateRecord, StoreError>> {
        Box::pin(AsyncCertificateStore::certificate(self, id))
    }

    fn private_key_boxed(
        &self,
        id: CertificateId,
    ) -> BoxFuture<'_, Result<PrivateKeyDer<'static>, StoreError>> {
        Box::pin(AsyncCertificateStore::private_key(self, id))
    }
}

impl AsyncCertificateStore for dyn DynAsyncCertificateStore + '_ {
    fn certificate(
        &self,
        id: CertificateId,
    ) -> impl Future<Output = Result<CertificateRecord, StoreError>> + Send {
        self.certificate_boxed(id)
    }

    fn private_key(
        &self,
        id: CertificateId,
    ) -> impl Future<Output = Result<PrivateKeyDer<'static>, StoreError>> + Send {
        self.private_key_boxed(id)
    }
}

/// An async store behind a reference or a smart pointer is the store itself (so an
/// `Arc<dyn DynAsyncCertificateStore>` is one too).
macro_rules! forward_async_store {
    ($($wrapper:ty),*) => {$(
        impl<S: AsyncCertificateStore + ?Sized> AsyncCertificateStore for $wrapper {
            fn certificate(
                &self,
                id: CertificateId,
            ) -> impl Future<Output = Result<CertificateRecord, StoreError>> + Send {
                (**self).certificate(id)
            }

            fn private_key(
                &self,
                id: CertificateId,
            ) -> impl Future<Output = Result<PrivateKeyDer<'static>, StoreError>> + Send {
                (**self).private_key(id)
            }
        }
    )*};
}

forward_async_store!(&S, std::sync::Arc<S>, Box<S>);
