//! `POST /api/certificate/download`: who asks ([`crate::auth`], from the headers alone),
//! then the body read within its limits, the headers, the library's validation, the
//! per-principal limit, the store, and the encoding of keyed downloads behind a bounded
//! queue. Every outcome is one audit line, written in [`download`].

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use cert_download::{
    BlockingStore, CertificateId, CertificateRecord, CertificateStore, DirectoryStore,
    DownloadRequest, DownloadResponse, Error, ErrorKind, ExportPolicy, Format, KeyDelivery,
    OsRandom, PfxEncryption, Prepared, PrivateKeyDer, StoreError, prepare, prepare_async,
};
use tokio::sync::watch;
use tower::buffer::Buffer;
use tower::load_shed::LoadShed;
use tower::load_shed::error::Overloaded;
use tower::{BoxError, ServiceBuilder, ServiceExt};
use zeroize::Zeroizing;

use crate::auth::{Grant, Tokens, authenticate};
use crate::body::{self, BodyFailure};
use crate::client::Client;
use crate::client_cert::Presented;
use crate::logs;
use crate::options::Limits;
use crate::refusal::{Refusal, json_response};
use crate::throttle::Throttle;
use crate::vault::{VaultBackend, VaultCaller, store_refusal};

/// The directory store seen by one caller: it may read every record, and export keys only
/// with the grant. Read on an encoding thread for keyed downloads, and through the crate's
/// `BlockingStore` (each call on tokio's blocking pool) for the others.
#[derive(Debug)]
struct CallerStore {
    /// `None`: the root is not a directory (the binary refuses that at start; a `Config`
    /// made by hand may name one), so every id is 404.
    store: Option<Arc<DirectoryStore>>,
    grant: Grant,
}

impl CallerStore {
    fn store(&self) -> Result<&DirectoryStore, StoreError> {
        self.store.as_deref().ok_or(StoreError::NotFound)
    }
}

impl CertificateStore for CallerStore {
    fn certificate(&self, id: CertificateId) -> Result<CertificateRecord, StoreError> {
        self.store()?.certificate(id)
    }

    fn private_key(&self, id: CertificateId) -> Result<PrivateKeyDer<'static>, StoreError> {
        if !self.grant.export_keys {
            return Err(StoreError::KeyExportForbidden);
        }
        self.store()?.private_key(id)
    }
}

type Encoded = Result<DownloadResponse, Error>;
type EncodeFuture = Pin<Box<dyn Future<Output = Result<Encoded, BoxError>> + Send>>;

/// A keyed download for an encoding thread. From the directory store, the whole of it,
/// store and encoding, runs there (one hand-off to the blocking pool and back, not one per
/// store call: the profile showed the thread switches as the largest cost beside the
/// KDF); from the vault, whose store is async, the encoding of what it prepared.
enum Job {
    Directory {
        request: DownloadRequest,
        store: CallerStore,
        policy: ExportPolicy,
    },
    Prepared {
        prepared: Box<Prepared>,
        policy: ExportPolicy,
    },
}

impl Job {
    fn run(self) -> Encoded {
        match self {
            Job::Directory {
                request,
                store,
                policy,
            } => prepare(request, &store)?.encode(&policy, &mut OsRandom),
            Job::Prepared { prepared, policy } => prepared.encode(&policy, &mut OsRandom),
        }
    }
}

/// Who an authenticated request comes from: a caller of the tokens file, or of the vault.
enum Caller {
    File(Grant),
    Vault(Box<VaultCaller>),
}

impl Caller {
    fn principal(&self) -> &str {
        match self {
            Caller::File(grant) => &grant.principal,
            Caller::Vault(caller) => caller.principal(),
        }
    }
}

/// Keyed downloads on the blocking pool: at most `encode_threads` at once (tower's
/// `ConcurrencyLimit`), at most `encode_queue` waiting (tower's `Buffer`), and beyond that
/// refused at once (tower's `LoadShed`).
type Encoder = LoadShed<Buffer<Job, EncodeFuture>>;

fn encoder(limits: &Limits) -> Encoder {
    let run = ServiceBuilder::new()
        .concurrency_limit(limits.encode_threads())
        .service_fn(|job: Job| async move {
            tokio::task::spawn_blocking(move || job.run())
                .await
                .map_err(BoxError::from)
        })
        .map_future(|f| Box::pin(f) as EncodeFuture);
    LoadShed::new(Buffer::new(run, limits.encode_queue()))
}

/// What the endpoint holds: the store, the tokens, the policy, the encoding queue, the
/// rate limits.
pub(crate) struct Endpoint {
    store: Option<Arc<DirectoryStore>>,
    tokens: Tokens,
    /// `Some`: callers, grants, keys and the audit trail are the vault's (`vault.rs`).
    vault: Option<VaultBackend>,
    policy: ExportPolicy,
    encoder: Encoder,
    pub(crate) throttle: Throttle,
    drain_bytes: u64,
    /// Becomes true when shutdown begins.
    shutdown: watch::Receiver<bool>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("store", &self.store)
            .field("tokens", &self.tokens)
            .field("vault", &self.vault)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// Must be called inside the runtime: the encoding queue's worker is a task.
    pub(crate) fn new(
        store: &Path,
        tokens: Tokens,
        vault: Option<VaultBackend>,
        limits: &Limits,
        policy: ExportPolicy,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        Self {
            store: DirectoryStore::new(store).ok().map(Arc::new),
            tokens,
            vault,
            policy,
            encoder: encoder(limits),
            throttle: Throttle::new(limits),
            drain_bytes: limits.drain_bytes,
            shutdown,
        }
    }
}

/// A refusal of the request's framing or headers, checked once the caller is known.
fn header_refusal(headers: &HeaderMap) -> Option<Refusal> {
    if headers.get_all(header::CONTENT_TYPE).iter().count() > 1 {
        return Some(Refusal::new(
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
        return Some(Refusal::new(
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
    (encoded || !json).then_some(Refusal::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "the request body must be application/json, without a content coding",
    ))
}

fn body_refusal(failure: &BodyFailure) -> Refusal {
    let (status, code, message) = match failure {
        BodyFailure::TooLarge { drained } => {
            let refusal = Refusal::from(&Error::from(ErrorKind::BodyTooLarge));
            return if *drained { refusal } else { refusal.closing() };
        }
        BodyFailure::Timeout => (
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            "the request body stalled for longer than the server waits",
        ),
        BodyFailure::Truncated => (
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "the connection ended before the request body did",
        ),
        BodyFailure::Malformed => (
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "the request body's framing is broken (a bad chunk size?)",
        ),
        BodyFailure::ShuttingDown => (
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the server is shutting down; send the request again",
        ),
    };
    // The rest of the body is not coming, or not wanted: the connection ends.
    Refusal::new(status, code, message).closing()
}

/// What the audit line says beyond the outcome, filled in as the request is answered.
#[derive(Debug, Default)]
struct Audit {
    principal: Option<String>,
    /// How the caller authenticated: `token` or `certificate`.
    credential: Option<&'static str>,
    download: Option<Asked>,
    /// The PFX profile of a pfx download.
    pfx_encryption: Option<PfxEncryption>,
}

/// What a valid request asks for, as the audit records it.
#[derive(Clone, Debug)]
pub(crate) struct Asked {
    pub(crate) id: CertificateId,
    pub(crate) format: Format,
    pub(crate) with_key: bool,
    /// How the key is to go out: under a password, or to a recipient (`cms`, `kwp`).
    pub(crate) key_delivery: Option<KeyDelivery>,
    /// The SHA-256 of the recipient's certificate, lowercase hex.
    pub(crate) recipient_sha256: Option<String>,
}

impl Asked {
    fn of(request: &DownloadRequest) -> Self {
        Self {
            id: request.id(),
            format: request.format(),
            with_key: request.includes_key(),
            key_delivery: request.key_delivery(),
            recipient_sha256: request.key_recipient().map(|r| {
                r.sha256_fingerprint()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect()
            }),
        }
    }
}

impl Audit {
    /// The one audit line of a request: who, what, and how it ended. Those of anonymous
    /// refusals are subject to the log limit of their address.
    fn log(&self, client: Client, outcome: &Result<DownloadResponse, Refusal>) {
        if self.principal.is_none() && !logs::allow(client.ip) {
            return;
        }
        let (status, error) = match outcome {
            Ok(_) => (200, "-"),
            Err(refusal) => (refusal.status.as_u16(), refusal.code),
        };
        let (id, format, with_key) = self
            .download
            .as_ref()
            .map(|d| (d.id.get(), d.format.as_str(), d.with_key))
            .unzip3();
        let asked = self.download.as_ref();
        let key_delivery = asked.and_then(|d| d.key_delivery).map(|k| k.as_str());
        let recipient = asked.and_then(|d| d.recipient_sha256.as_deref());
        tracing::info!(
            target: "audit",
            client = %client.shown(),
            via = client.via().map(tracing::field::display),
            principal = self.principal.as_deref().unwrap_or("-"),
            credential = self.credential.unwrap_or("-"),
            id,
            format,
            key_included = with_key.map(|key| key && status == 200),
            pfx_encryption = self.pfx_encryption.map(PfxEncryption::as_str),
            key_delivery,
            recipient_sha256 = recipient,
            status,
            error,
            "download"
        );
    }
}

/// `Option<(A, B, C)>` as three options, for the audit line's optional fields.
trait Unzip3<A, B, C> {
    fn unzip3(self) -> (Option<A>, Option<B>, Option<C>);
}

impl<A, B, C> Unzip3<A, B, C> for Option<(A, B, C)> {
    fn unzip3(self) -> (Option<A>, Option<B>, Option<C>) {
        match self {
            Some((a, b, c)) => (Some(a), Some(b), Some(c)),
            None => (None, None, None),
        }
    }
}

/// Marks the response of the endpoint: `Some(principal)` when the request authenticated
/// (its lines are never dropped); an anonymous refusal's audit line is its only line.
#[derive(Clone, Debug)]
pub(crate) struct Audited(pub(crate) Option<String>);

/// The handler: works out the answer ([`answer`]), audits it (on the vault, a row
/// committed before the answer leaves), logs it, counts it, sends it.
pub(crate) async fn download(State(endpoint): State<Arc<Endpoint>>, request: Request) -> Response {
    let started = Instant::now();
    let client = Client::of(&request);
    let (parts, body) = request.into_parts();
    let mut audit = Audit::default();
    let presented = parts
        .extensions
        .get::<Presented>()
        .copied()
        .unwrap_or_default();
    let mut outcome = answer(
        &endpoint,
        client,
        presented,
        &parts.headers,
        body,
        &mut audit,
    )
    .await;
    // On the vault, a download that reached the store leaves only once its row is in.
    if let (Some(vault), Some(principal), Some(download)) =
        (&endpoint.vault, &audit.principal, audit.download.clone())
    {
        outcome = vault
            .record(
                client,
                principal,
                audit.credential,
                download,
                audit.pfx_encryption,
                outcome,
            )
            .await;
    }
    audit.log(client, &outcome);
    if let Some(metrics) = crate::metrics::get() {
        let (status, code) = match &outcome {
            Ok(_) => (StatusCode::OK, "-"),
            Err(refusal) => (refusal.status, refusal.code),
        };
        let download = audit
            .download
            .as_ref()
            .map(|asked| (asked.format.as_str(), asked.with_key));
        metrics.request(status, code, download, started.elapsed());
    }
    let mut response = match outcome {
        Ok(download) => json_response(StatusCode::OK, download.to_json()),
        Err(refusal) => refusal.into_response(),
    };
    response.extensions_mut().insert(Audited(audit.principal));
    response
}

/// The answer to one download request, before it is audited: who asks (from the headers
/// alone), then the body, then what is asked, then the store and the encoding; each step
/// either hands on or refuses. Fills `audit` in as it learns who and what.
async fn answer(
    endpoint: &Endpoint,
    client: Client,
    presented: Presented,
    headers: &HeaderMap,
    body: Body,
    audit: &mut Audit,
) -> Result<DownloadResponse, Refusal> {
    let (caller, credential) = identify(endpoint, client, presented, headers).await?;
    audit.principal = Some(caller.principal().to_owned());
    audit.credential = Some(credential);
    let body = read_body(endpoint, headers, body).await?;
    let request = DownloadRequest::from_json_with_policy(&body, endpoint.policy.password_policy())
        .map_err(|error| Refusal::from(&error))?;
    if let Some(wait) = endpoint.throttle.download(caller.principal()) {
        if let Some(metrics) = crate::metrics::get() {
            metrics.throttled("downloads");
        }
        return Err(Refusal::too_many(
            "too many downloads for this principal",
            wait,
        ));
    }
    audit.download = Some(Asked::of(&request));
    if request.format() == Format::Pfx {
        audit.pfx_encryption = Some(
            request
                .pfx_encryption()
                .unwrap_or_else(|| endpoint.policy.pfx_encryption()),
        );
    }
    // The export policy's refusals (a PFX profile it does not allow, recipient delivery
    // off or required, the least recipient RSA size) before the store is asked anything.
    endpoint
        .policy
        .check_request(&request)
        .map_err(|error| Refusal::from(&error))?;
    let encoded = match caller {
        Caller::File(grant) => from_directory(endpoint, grant, request).await?,
        Caller::Vault(caller) => from_vault(endpoint, caller, request).await?,
    };
    encoded.map_err(|error| Refusal::from(&error))
}

/// Who asks, from the headers alone (and the connection's client certificate): before any
/// body byte is read (and so before hyper sends `100 Continue`), an anonymous caller
/// learns nothing but 401, and costs no more than its headers. A bearer token, when sent,
/// decides alone; without one, a verified client certificate names the caller if its
/// fingerprint is registered: in the vault (`principal add-cert`, looked up on every
/// request, so a removal counts from the next one) or in the tokens file. A certificate
/// registered nowhere is a failed authentication, counted and throttled as a bad token
/// is. With the credential's kind, for the audit line and row.
async fn identify(
    endpoint: &Endpoint,
    client: Client,
    presented: Presented,
    headers: &HeaderMap,
) -> Result<(Caller, &'static str), Refusal> {
    let (throttle, ip) = (&endpoint.throttle, client.ip);
    if let Some(fingerprint) = presented.0
        && !headers.contains_key(header::AUTHORIZATION)
    {
        let found = match &endpoint.vault {
            None => endpoint.tokens.certificate(&fingerprint).map(Caller::File),
            Some(vault) => vault
                .caller_by_certificate(&fingerprint)
                .await
                .map_err(Refusal::closing)?
                .map(|caller| Caller::Vault(Box::new(caller))),
        };
        if let Some(caller) = found {
            return Ok((caller, "certificate"));
        }
        // Not registered: on to `authenticate`, which finds no token and counts the
        // failure.
    }
    let caller = match &endpoint.vault {
        None => Caller::File(
            authenticate(throttle, ip, headers, |token| {
                std::future::ready(Ok(endpoint.tokens.grant(token)))
            })
            .await?,
        ),
        Some(vault) => Caller::Vault(Box::new(
            authenticate(throttle, ip, headers, |token| vault.caller(token)).await?,
        )),
    };
    Ok((caller, "token"))
}

/// The body, read (within its cap and timeouts) before anything more is answered, so that
/// the client, still sending, sees the answer rather than a reset (RFC 9112 §9.6); then the
/// headers that say how to read it.
async fn read_body(
    endpoint: &Endpoint,
    headers: &HeaderMap,
    body: Body,
) -> Result<Zeroizing<Vec<u8>>, Refusal> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let body = body::read(
        body,
        declared,
        endpoint.drain_bytes,
        endpoint.shutdown.clone(),
    )
    .await;
    // The rest of a body too large to drain is still on the connection: whatever the
    // answer, it is the connection's last.
    let unread = matches!(body, Err(BodyFailure::TooLarge { drained: false }));
    let refusal = match &body {
        Err(BodyFailure::TooLarge { .. }) | Ok(_) => header_refusal(headers),
        Err(failure) => Some(body_refusal(failure)),
    };
    if let Some(refusal) = refusal {
        return Err(if unread { refusal.closing() } else { refusal });
    }
    body.map_err(|failure| body_refusal(&failure))
}

/// A download from the directory store, read as the tokens file's `grant` allows. Keyed
/// ones go to an encoding thread, store and all; the others cost microseconds: the store
/// on the blocking pool, the encoding in place.
async fn from_directory(
    endpoint: &Endpoint,
    grant: Grant,
    request: DownloadRequest,
) -> Result<Encoded, Refusal> {
    let store = CallerStore {
        store: endpoint.store.clone(),
        grant,
    };
    if request.includes_key() {
        let policy = endpoint.policy.clone();
        let job = Job::Directory {
            request,
            store,
            policy,
        };
        return encode_keyed(endpoint, job).await;
    }
    Ok(prepare_async(request, &BlockingStore::new(store))
        .await
        .and_then(|prepared| prepared.encode(&endpoint.policy, &mut OsRandom)))
}

/// A download from the vault, prepared (grants and key unsealing) by the vault's caller;
/// the encoding of a keyed one goes to an encoding thread.
async fn from_vault(
    endpoint: &Endpoint,
    caller: Box<VaultCaller>,
    request: DownloadRequest,
) -> Result<Encoded, Refusal> {
    let with_key = request.includes_key();
    let prepared = caller
        .prepare(request)
        .await
        .map_err(|error| store_refusal(&error))?;
    if with_key {
        let job = Job::Prepared {
            prepared: Box::new(prepared),
            policy: endpoint.policy.clone(),
        };
        return encode_keyed(endpoint, job).await;
    }
    Ok(prepared.encode(&endpoint.policy, &mut OsRandom))
}

/// Queues a keyed download for an encoding thread, or refuses it at once (503).
async fn encode_keyed(endpoint: &Endpoint, job: Job) -> Result<Encoded, Refusal> {
    let metrics = crate::metrics::get();
    if let Some(metrics) = metrics {
        metrics.queued(true);
    }
    let queued = queue(endpoint.encoder.clone(), job).await;
    if let Some(metrics) = metrics {
        metrics.queued(false);
    }
    match queued {
        Ok(encoded) => Ok(encoded),
        Err(e) if e.is::<Overloaded>() => {
            if let Some(metrics) = metrics {
                metrics.shed();
            }
            Err(Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                "every encoding thread is busy and the queue is full",
            )
            .retry_after(Duration::from_secs(1)))
        }
        Err(_) => Ok(Err(Error::from(ErrorKind::Internal))),
    }
}

/// The queue's future on owned values: a `Send` future that borrows nothing (a borrow
/// across tower's future trips the compiler's `Send` check of the handler).
fn queue(encoder: Encoder, job: Job) -> impl Future<Output = Result<Encoded, BoxError>> + Send {
    encoder.oneshot(job)
}
