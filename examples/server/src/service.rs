//! The endpoint: authentication, limits, the library's validation, the store, and the
//! encoding of keyed downloads behind a bounded queue.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::post;
use cert_download::{
    BlockingStore, CertificateId, CertificateRecord, CertificateStore, DirectoryStore,
    DownloadRequest, DownloadResponse, Error, ErrorKind, ExportPolicy, OsRandom, Prepared,
    PrivateKeyDer, StoreError, prepare_async,
};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::watch;
use tower::buffer::Buffer;
use tower::load_shed::LoadShed;
use tower::load_shed::error::Overloaded;
use tower::{BoxError, ServiceBuilder, ServiceExt};
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};

use crate::body::{self, BodyFailure};
use crate::errors::{
    ErrorCode, closing, http_error, json_response, library_error, retry_after, shape_bare_errors,
    too_many_requests,
};
use crate::limits::Limits;
use crate::throttle::Throttle;

pub(crate) const PATH: &str = "/api/certificate/download";

/// The address a connection comes from, put on each of its requests.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Client(pub(crate) SocketAddr);

/// What a bearer token grants.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Grant {
    principal: String,
    export_keys: bool,
}

/// The tokens, kept as SHA-256 digests and compared in constant time.
pub(crate) struct Tokens(Vec<([u8; 32], Grant)>);

impl Tokens {
    pub(crate) fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read(path)
            .map_err(|e| format!("cannot read the tokens file {}: {e}", path.display()))?;
        let map: HashMap<String, Grant> = serde_json::from_slice(&text).map_err(|e| {
            format!(
                "the tokens file {} is not {{\"<token>\": {{\"principal\": \"..\", \"export_keys\": true|false}}}}: {e}",
                path.display()
            )
        })?;
        Ok(Self(
            map.into_iter()
                .map(|(token, grant)| (Sha256::digest(token.as_bytes()).into(), grant))
                .collect(),
        ))
    }

    /// Every entry is compared, whatever matches, so the time does not depend on which
    /// token (or how much of one) is right; comparing digests hides the length too.
    fn grant(&self, token: &str) -> Option<Grant> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        for (known, grant) in &self.0 {
            if bool::from(known.ct_eq(&digest)) {
                found = Some(grant.clone());
            }
        }
        found
    }
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tokens({} entries)", self.0.len())
    }
}

/// The directory store seen by one caller: it may read every record, and export keys only
/// with the grant. Served to the async handler by the crate's `BlockingStore`, which runs
/// each call on tokio's blocking pool (and wipes a key whose request was cancelled).
#[derive(Debug)]
struct CallerStore {
    store: Arc<DirectoryStore>,
    grant: Grant,
}

impl CertificateStore for CallerStore {
    fn certificate(&self, id: CertificateId) -> Result<CertificateRecord, StoreError> {
        self.store.certificate(id)
    }

    fn private_key(&self, id: CertificateId) -> Result<PrivateKeyDer<'static>, StoreError> {
        if !self.grant.export_keys {
            return Err(StoreError::KeyExportForbidden);
        }
        self.store.private_key(id)
    }
}

type Encoded = Result<DownloadResponse, Error>;
type EncodeFuture = Pin<Box<dyn Future<Output = Result<Encoded, BoxError>> + Send>>;

/// Keyed downloads on the blocking pool: at most `encode_threads` at once (tower's
/// `ConcurrencyLimit`), at most `encode_queue` waiting (tower's `Buffer`), and beyond that
/// refused at once (tower's `LoadShed`).
type Encoder = LoadShed<Buffer<(Prepared, ExportPolicy), EncodeFuture>>;

fn encoder(limits: &Limits) -> Encoder {
    let run = ServiceBuilder::new()
        .concurrency_limit(limits.encode_threads)
        .service_fn(|(prepared, policy): (Prepared, ExportPolicy)| async move {
            tokio::task::spawn_blocking(move || prepared.encode(&policy, &mut OsRandom))
                .await
                .map_err(BoxError::from)
        })
        .map_future(|f| Box::pin(f) as EncodeFuture);
    LoadShed::new(Buffer::new(run, limits.encode_queue))
}

pub(crate) struct App {
    store: Arc<DirectoryStore>,
    tokens: Tokens,
    policy: ExportPolicy,
    encoder: Encoder,
    pub(crate) throttle: Throttle,
    drain_bytes: u64,
    /// Becomes true when shutdown begins.
    shutdown: watch::Receiver<bool>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("store", &self.store)
            .field("tokens", &self.tokens)
            .finish_non_exhaustive()
    }
}

impl App {
    /// Must be called inside the runtime: the encoding queue's worker is a task.
    pub(crate) fn new(
        store: &Path,
        tokens: Tokens,
        limits: &Limits,
        policy: ExportPolicy,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        Self {
            store: Arc::new(DirectoryStore::new(store)),
            tokens,
            policy,
            encoder: encoder(limits),
            throttle: Throttle::new(limits),
            drain_bytes: limits.drain_bytes,
            shutdown,
        }
    }
}

/// Queues a keyed download for an encoding thread, or refuses it at once (`Overloaded`).
fn encode_keyed(
    encoder: Encoder,
    prepared: Prepared,
    policy: ExportPolicy,
) -> impl Future<Output = Result<Encoded, BoxError>> + Send {
    encoder.oneshot((prepared, policy))
}

/// How the request names its caller.
enum Credentials<'a> {
    None,
    Bearer(&'a str),
    /// More than one `Authorization` field: which one counts is a guess, so none does.
    Ambiguous,
}

fn credentials(headers: &HeaderMap) -> Credentials<'_> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Credentials::None;
    };
    if values.next().is_some() {
        return Credentials::Ambiguous;
    }
    let bearer = value.to_str().ok().and_then(|value| {
        let (scheme, token) = value.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim())
            .filter(|t| !t.is_empty())
    });
    bearer.map_or(Credentials::None, Credentials::Bearer)
}

/// A refusal of the request's framing or headers, judged once the caller is known.
fn header_refusal(headers: &HeaderMap) -> Option<Response> {
    if headers.get_all(header::CONTENT_TYPE).iter().count() > 1 {
        return Some(http_error(
            StatusCode::BAD_REQUEST,
            "duplicate_header",
            "the request has more than one Content-Type field",
        ));
    }
    // hyper has decoded `chunked` when it is the last coding; any other coding would be
    // left undone, and the body read as JSON regardless.
    let codings: Vec<String> = headers
        .get_all(header::TRANSFER_ENCODING)
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("?").split(','))
        .map(|c| c.trim().to_ascii_lowercase())
        .filter(|c| !c.is_empty())
        .collect();
    if codings.iter().any(|c| c != "chunked") || codings.len() > 1 {
        return Some(http_error(
            StatusCode::BAD_REQUEST,
            "unsupported_transfer_coding",
            "the only transfer coding accepted is chunked",
        ));
    }
    let encoded = headers.get_all(header::CONTENT_ENCODING).iter().any(|v| {
        !v.to_str()
            .is_ok_and(|v| v.trim().eq_ignore_ascii_case("identity"))
    });
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if encoded || !json {
        return Some(http_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the request body must be application/json, without a content coding",
        ));
    }
    None
}

fn body_failure(failure: &BodyFailure) -> Response {
    match failure {
        BodyFailure::TooLarge { drained } => {
            let response = http_error(
                StatusCode::BAD_REQUEST,
                ErrorKind::BodyTooLarge.code(),
                "the request body is larger than 64 KiB",
            );
            if *drained {
                response
            } else {
                closing(response)
            }
        }
        BodyFailure::Timeout => closing(http_error(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            "the request body stalled for longer than the server waits",
        )),
        BodyFailure::Truncated => closing(http_error(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "the connection ended before the request body did",
        )),
        BodyFailure::Malformed => closing(http_error(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "the request body's framing is broken (a bad chunk size?)",
        )),
        BodyFailure::ShuttingDown => closing(http_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the server is shutting down; send the request again",
        )),
    }
}

/// The refusals of the handler that come before the library sees the body, audited
/// like the library's.
fn refuse(client: &Client, principal: &str, response: Response) -> Response {
    let status = response.status().as_u16();
    let error = response
        .extensions()
        .get::<ErrorCode>()
        .map_or("-", |c| c.0.as_str());
    tracing::info!(target: "audit", client = %client.0, %principal, status, error, "download refused");
    response
}

async fn download(
    State(app): State<Arc<App>>,
    axum::Extension(client): axum::Extension<Client>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // The body is read (within its cap and timeouts) before anything is answered, so that
    // the client, still sending, sees the answer rather than a reset (RFC 9112 §9.6).
    let body = body::read(body, declared, app.drain_bytes, app.shutdown.clone()).await;
    if let Err(
        failure @ (BodyFailure::Timeout
        | BodyFailure::Truncated
        | BodyFailure::Malformed
        | BodyFailure::ShuttingDown),
    ) = &body
    {
        return refuse(&client, "-", body_failure(failure));
    }
    // The rest of a body too large to drain is still on the connection: whatever the
    // answer, it is the connection's last.
    let unread = matches!(body, Err(BodyFailure::TooLarge { drained: false }));
    let response = judge(&app, client, &parts, body).await;
    if unread { closing(response) } else { response }
}

/// Everything after the body is read: who asks, then what.
async fn judge(
    app: &App,
    client: Client,
    parts: &axum::http::request::Parts,
    body: Result<zeroize::Zeroizing<Vec<u8>>, BodyFailure>,
) -> Response {
    // Who is asking comes first: an anonymous caller learns nothing but 401.
    let ip = client.0.ip();
    let token = match credentials(&parts.headers) {
        Credentials::Ambiguous => {
            return refuse(
                &client,
                "-",
                http_error(
                    StatusCode::BAD_REQUEST,
                    "duplicate_header",
                    "the request has more than one Authorization field",
                ),
            );
        }
        Credentials::None => None,
        Credentials::Bearer(token) => Some(token),
    };
    if let Some(wait) = app.throttle.penalty(ip) {
        return refuse(
            &client,
            "-",
            too_many_requests("too many failed authentications from this address", wait),
        );
    }
    let Some(grant) = token.and_then(|t| app.tokens.grant(t)) else {
        let response = match app.throttle.failed(ip) {
            Some(wait) => {
                too_many_requests("too many failed authentications from this address", wait)
            }
            None => library_error(&Error::from(ErrorKind::Unauthenticated)),
        };
        return refuse(&client, "-", response);
    };
    let principal = grant.principal.clone();

    if let Some(refusal) = header_refusal(&parts.headers) {
        return refuse(&client, &principal, refusal);
    }
    let body = match &body {
        Ok(body) => body,
        Err(failure) => return refuse(&client, &principal, body_failure(failure)),
    };
    let request = match DownloadRequest::from_json_with_policy(body, app.policy.password_policy()) {
        Ok(request) => request,
        Err(error) => return refuse(&client, &principal, library_error(&error)),
    };
    if let Some(wait) = app.throttle.download(&principal) {
        return refuse(
            &client,
            &principal,
            too_many_requests("too many downloads for this principal", wait),
        );
    }

    let (id, format, with_key) = (request.id(), request.format(), request.includes_key());
    let store = BlockingStore::new(CallerStore {
        store: Arc::clone(&app.store),
        grant,
    });
    let result = match prepare_async(request, &store).await {
        Err(error) => Err(error),
        Ok(prepared) if !with_key => prepared.encode(&app.policy, &mut OsRandom),
        Ok(prepared) => match encode_keyed(app.encoder.clone(), prepared, app.policy.clone()).await
        {
            Ok(encoded) => encoded,
            Err(e) if e.is::<Overloaded>() => {
                return refuse(
                    &client,
                    &principal,
                    retry_after(
                        http_error(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "overloaded",
                            "every encoding thread is busy and the queue is full",
                        ),
                        std::time::Duration::from_secs(1),
                    ),
                );
            }
            Err(_) => Err(Error::from(ErrorKind::Internal)),
        },
    };
    let status = result.as_ref().map_or_else(Error::status, |_| 200);
    tracing::info!(
        target: "audit",
        client = %client.0,
        %principal,
        id = id.get(),
        format = format.as_str(),
        key_included = with_key && status == 200,
        status,
        error = result.as_ref().err().map_or("-", |e| e.code()),
        "download"
    );
    match result {
        Ok(response) => json_response(StatusCode::OK, response.to_json()),
        Err(error) => library_error(&error),
    }
}

async fn not_found() -> Response {
    http_error(
        StatusCode::NOT_FOUND,
        "not_found",
        "the only endpoint is POST /api/certificate/download",
    )
}

async fn method_not_allowed() -> Response {
    http_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "use POST",
    )
}

/// One log line per request: client address, method, path, status, time. Never a header
/// or a body.
async fn log_request(request: Request, next: axum::middleware::Next) -> Response {
    let client = request.extensions().get::<Client>().map(|c| c.0);
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let start = Instant::now();
    tracing::debug!(
        client = %client.map_or_else(|| "-".to_owned(), |c| c.to_string()),
        %method,
        %path,
        "request received"
    );
    let response = next.run(request).await;
    tracing::info!(
        client = %client.map_or_else(|| "-".to_owned(), |c| c.to_string()),
        %method,
        %path,
        status = response.status().as_u16(),
        micros = start.elapsed().as_micros() as u64,
        "request"
    );
    response
}

/// The endpoint with its layers, outermost last: the body's idle timeout, the whole
/// request's timeout (its 408 given the contract's body), the request log.
pub(crate) fn router(app: Arc<App>, limits: &Limits) -> Router {
    Router::new()
        .route(PATH, post(download).fallback(method_not_allowed))
        .fallback(not_found)
        .layer(RequestBodyTimeoutLayer::new(limits.body_timeout))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
        .layer(axum::middleware::map_response(shape_bare_errors))
        .layer(axum::middleware::from_fn(log_request))
        .with_state(app)
}

/// The infallible service type `Router` is, for one connection, with its client address.
pub(crate) fn for_connection(
    router: Router,
    client: SocketAddr,
) -> impl tower::Service<
    axum::http::Request<hyper::body::Incoming>,
    Response = Response,
    Error = Infallible,
    Future = impl Send,
> + Clone
+ Send
+ 'static {
    ServiceBuilder::new()
        .layer(axum::Extension(Client(client)))
        .service(router)
}
