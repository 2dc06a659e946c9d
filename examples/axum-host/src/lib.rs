//! The smallest complete axum host of `cert-download`: `POST /api/certificate/download`
//! with bearer tokens, over the demo directory store.
//!
//! The working pattern for an async host: authenticate before the body is looked at (401
//! whatever it holds), parse under the export policy (400 before the store is asked),
//! authorize and load through the store on the async side (`prepare_async`, here over a
//! synchronous store on tokio's blocking pool with `BlockingStore`), then encode, which is
//! CPU-bound, on `spawn_blocking`; answer with `cert_download::http::response` (status,
//! JSON, `Cache-Control: no-store`, `WWW-Authenticate` on 401). The library guide's axum
//! block (`src/guide.rs`) is the region between the `guide` markers below; a test keeps
//! the two the same.

// guide: begin
use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::post;
use cert_download::{
    BlockingStore, CertificateId, CertificateRecord, CertificateStore, DirectoryStore,
    DownloadRequest, DownloadResponse, Error, ErrorKind, ExportPolicy, MAX_BODY_BYTES, OsRandom,
    PrivateKeyDer, StoreError, prepare_async,
};

/// Your storage seen by one caller: here a directory store and the caller's export right.
#[derive(Debug)]
pub struct CallerStore {
    records: Arc<DirectoryStore>,
    may_export_keys: bool,
}

impl CertificateStore for CallerStore {
    fn certificate(&self, id: CertificateId) -> Result<CertificateRecord, StoreError> {
        self.records.certificate(id)
    }

    fn private_key(&self, id: CertificateId) -> Result<PrivateKeyDer<'static>, StoreError> {
        if !self.may_export_keys {
            return Err(StoreError::KeyExportForbidden);
        }
        self.records.private_key(id)
    }
}

/// What every request shares.
#[derive(Debug)]
pub struct Host {
    records: Arc<DirectoryStore>,
    /// Bearer token -> whether its holder may export keys. (Use a real identity provider,
    /// and compare tokens in constant time, as server does.)
    tokens: HashMap<String, bool>,
    policy: ExportPolicy,
}

impl Host {
    /// The store bound to the caller the request's bearer token names, if any.
    fn caller_store(&self, headers: &HeaderMap) -> Option<CallerStore> {
        let token = headers
            .get(header::AUTHORIZATION)?
            .to_str()
            .ok()?
            .strip_prefix("Bearer ")?;
        let may_export_keys = *self.tokens.get(token)?;
        Some(CallerStore {
            records: Arc::clone(&self.records),
            may_export_keys,
        })
    }
}

/// `POST /api/certificate/download`.
async fn download(
    State(host): State<Arc<Host>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result: Result<DownloadResponse, Error> = async {
        // Authenticate first: 401 whatever the body holds.
        let store = host
            .caller_store(&headers)
            .ok_or(ErrorKind::Unauthenticated)?;
        // A body axum refused as too large is the crate's own 400 body_too_large.
        let body = body.map_err(|refused| match refused.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ErrorKind::BodyTooLarge,
            _ => ErrorKind::InvalidJson,
        })?;
        // The policy's password rules at parse time: 400 before the store is asked.
        let request = DownloadRequest::from_json_with_policy(&body, host.policy.password_policy())?;
        // Authorize and load on the async side; the synchronous store runs on the blocking pool.
        let prepared = prepare_async(request, &BlockingStore::new(store)).await?;
        // The key derivations take milliseconds of CPU: off the async worker threads.
        let host = Arc::clone(&host);
        tokio::task::spawn_blocking(move || prepared.encode(&host.policy, &mut OsRandom))
            .await
            .map_err(|_| ErrorKind::Internal)?
    }
    .await;
    // Status, JSON body, Content-Type, Cache-Control: no-store, WWW-Authenticate on 401.
    cert_download::http::response(result).map(Into::into)
}

/// The host's router.
pub fn app(host: Host) -> Router {
    Router::new()
        .route("/api/certificate/download", post(download))
        // Above the crate's 64 KiB, so that the crate answers what lies between.
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES + 1024))
        .with_state(Arc::new(host))
}
// guide: end

use std::path::PathBuf;

impl Host {
    /// A host over the directory store `root`, with `tokens` (bearer token -> whether its
    /// holder may export keys) and the export policy; an error when `root` is not a
    /// directory.
    pub fn new(
        root: impl Into<PathBuf>,
        tokens: HashMap<String, bool>,
        policy: ExportPolicy,
    ) -> std::io::Result<Self> {
        Ok(Self {
            records: Arc::new(DirectoryStore::new(root)?),
            tokens,
            policy,
        })
    }
}
