//! `POST /api/certificate/download` over HTTPS, on axum and tokio.
//!
//! ```text
//! cargo run --release -p cert-download-server                 # the demo store on https://127.0.0.1:8443
//! cargo run --release -p cert-download-server -- --store DIR --tokens FILE \
//!     --listen 127.0.0.1:8443 --tls-cert cert.pem --tls-key key.pem
//! cargo run --release -p cert-download-server -- --insecure-http --listen 127.0.0.1:8080
//! ```
//!
//! Callers authenticate with `Authorization: Bearer <token>`; the tokens file maps each
//! token to a principal and whether it may export keys:
//! `{"<token>": {"principal": "<name>", "export_keys": true}}`.
//!
//! Request bodies are read (at most 64 KiB) and validated before the store is asked
//! anything; the store is the async twin of the crate's `DirectoryStore`, bound to the
//! caller. Keyed downloads are encoded on `spawn_blocking` behind a semaphore sized to the
//! cores, so a flood of PFX requests cannot starve the runtime; downloads without a key
//! cost microseconds and are encoded in place.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use cert_download::{
    AsyncCertificateStore, CertificateId, CertificateRecord, CertificateStore, DirectoryStore,
    DownloadRequest, Error, ErrorKind, ExportPolicy, MAX_BODY_BYTES, OsRandom, PrivateKeyDer,
    StoreError, prepare_async,
};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

const PATH: &str = "/api/certificate/download";

const USAGE: &str = "usage: server [--store DIR] [--tokens FILE] [--listen ADDR]
              [--tls-cert FILE --tls-key FILE] [--insecure-http]
  --store DIR        the DirectoryStore root (default: the crate's demo store)
  --tokens FILE      bearer tokens, JSON (default: DIR/tokens.json)
  --listen ADDR      address to listen on (default: 127.0.0.1:8443)
  --tls-cert FILE    PEM certificate (chain) of the server (default: DIR/tls/server.pem)
  --tls-key FILE     PEM private key of the server (default: DIR/tls/server.key)
  --insecure-http    plain HTTP instead of HTTPS: allowed on a loopback address only";

#[derive(Debug)]
struct Args {
    store: PathBuf,
    tokens: PathBuf,
    listen: SocketAddr,
    tls: Option<(PathBuf, PathBuf)>,
}

fn parse_args() -> Result<Args, String> {
    let mut store = None;
    let mut tokens = None;
    let mut listen = None;
    let mut tls_cert = None;
    let mut tls_key = None;
    let mut insecure_http = false;
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .map(PathBuf::from)
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match arg.to_str() {
            Some("--store") => store = Some(value("--store")?),
            Some("--tokens") => tokens = Some(value("--tokens")?),
            Some("--listen") => {
                let v = value("--listen")?;
                let addr = v
                    .to_str()
                    .and_then(|s| s.parse::<SocketAddr>().ok())
                    .ok_or_else(|| {
                        format!("--listen: {} is not an IP:port address", v.display())
                    })?;
                listen = Some(addr);
            }
            Some("--tls-cert") => tls_cert = Some(value("--tls-cert")?),
            Some("--tls-key") => tls_key = Some(value("--tls-key")?),
            Some("--insecure-http") => insecure_http = true,
            Some("-h" | "--help") => return Err(String::new()),
            _ => return Err(format!("unknown argument {arg:?}")),
        }
    }
    let store = store
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../demo-store")));
    let tokens = tokens.unwrap_or_else(|| store.join("tokens.json"));
    let listen = listen.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8443)));
    let tls = if insecure_http {
        if tls_cert.is_some() || tls_key.is_some() {
            return Err("--insecure-http cannot be combined with --tls-cert/--tls-key".into());
        }
        if !listen.ip().is_loopback() {
            return Err(format!(
                "refusing plain HTTP on {listen}: --insecure-http is allowed on a loopback \
                 address only (127.0.0.0/8 or ::1), since requests carry passwords and \
                 responses carry keys"
            ));
        }
        None
    } else {
        match (tls_cert, tls_key) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => Some((store.join("tls/server.pem"), store.join("tls/server.key"))),
            _ => return Err("--tls-cert and --tls-key go together".into()),
        }
    };
    Ok(Args {
        store,
        tokens,
        listen,
        tls,
    })
}

/// What a bearer token grants.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Grant {
    principal: String,
    export_keys: bool,
}

/// The tokens, kept as SHA-256 digests and compared in constant time.
struct Tokens(Vec<([u8; 32], Grant)>);

impl Tokens {
    fn load(path: &Path) -> Result<Self, String> {
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

/// The directory store seen by one caller, reached without blocking the runtime.
#[derive(Debug)]
struct CallerStore {
    store: Arc<DirectoryStore>,
    grant: Option<Grant>,
}

impl CallerStore {
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&DirectoryStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(StoreError::backend)?
    }
}

impl AsyncCertificateStore for CallerStore {
    async fn certificate(&self, id: CertificateId) -> Result<CertificateRecord, StoreError> {
        if self.grant.is_none() {
            return Err(StoreError::Unauthenticated);
        }
        self.blocking(move |s| s.certificate(id)).await
    }

    async fn private_key(&self, id: CertificateId) -> Result<PrivateKeyDer<'static>, StoreError> {
        match &self.grant {
            None => Err(StoreError::Unauthenticated),
            Some(g) if !g.export_keys => Err(StoreError::KeyExportForbidden),
            Some(_) => self.blocking(move |s| s.private_key(id)).await,
        }
    }
}

#[derive(Debug)]
struct App {
    store: Arc<DirectoryStore>,
    tokens: Tokens,
    policy: ExportPolicy,
    /// Keyed downloads encoding at once: one per core.
    encoders: Semaphore,
}

fn json_response(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    // Error bodies are harmless, but one rule for the endpoint is simpler to audit.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// An error body of the contract's shape for the HTTP-level refusals the library does not
/// see (size, media type, method, path).
fn http_error(status: StatusCode, code: &str, message: &str) -> Response {
    #[derive(serde::Serialize)]
    struct Body<'a> {
        status: u16,
        error: &'a str,
        message: &'a str,
    }
    let body = Body {
        status: status.as_u16(),
        error: code,
        message,
    };
    json_response(status, serde_json::to_string(&body).unwrap_or_default())
}

fn library_error(error: &Error) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = json_response(status, error.to_json());
    if status == StatusCode::UNAUTHORIZED {
        // RFC 9110 §15.5.2: a 401 names the scheme to use (RFC 6750).
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

async fn download(State(app): State<Arc<App>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    if !is_json(&parts.headers) {
        return http_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the request body must be application/json",
        );
    }
    let too_large = || {
        http_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "the request body is larger than 64 KiB",
        )
    };
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // A body a little over the limit is read and dropped before the 413, so the client
    // (still sending) sees the answer instead of a reset (RFC 9112 §9.6); one declared
    // far larger is refused at once.
    const DRAIN: usize = 1024 * 1024;
    if declared.is_some_and(|n| n > DRAIN as u64) {
        return too_large();
    }
    let body: Bytes = match axum::body::to_bytes(body, DRAIN).await {
        Ok(body) if body.len() <= MAX_BODY_BYTES => body,
        _ => return too_large(),
    };

    let grant = bearer(&parts.headers).and_then(|t| app.tokens.grant(t));
    let principal = grant
        .as_ref()
        .map_or("-", |g| g.principal.as_str())
        .to_owned();
    let request = match DownloadRequest::from_json_with_policy(&body, app.policy.password_policy())
    {
        Ok(request) => request,
        Err(error) => {
            tracing::info!(target: "audit", %principal, status = error.status(), error = error.code(), "download refused");
            return library_error(&error);
        }
    };
    let (id, format, with_key) = (request.id(), request.format(), request.includes_key());
    let store = CallerStore {
        store: Arc::clone(&app.store),
        grant,
    };
    let result = match prepare_async(request, &store).await {
        Err(error) => Err(error),
        Ok(prepared) if !with_key => prepared.encode(&app.policy, &mut OsRandom),
        Ok(prepared) => {
            // Wait for a core before taking one: the runtime's own threads stay free.
            match app.encoders.acquire().await {
                Err(_) => Err(cert_download_internal()),
                Ok(_permit) => {
                    let policy = app.policy;
                    tokio::task::spawn_blocking(move || prepared.encode(&policy, &mut OsRandom))
                        .await
                        .unwrap_or_else(|_| Err(cert_download_internal()))
                }
            }
        }
    };
    let status = result.as_ref().map_or_else(Error::status, |_| 200);
    tracing::info!(
        target: "audit",
        %principal,
        id = id.get(),
        format = format.as_str(),
        key_included = with_key && status == 200,
        status,
        "download"
    );
    match result {
        Ok(response) => json_response(StatusCode::OK, response.to_json()),
        Err(error) => library_error(&error),
    }
}

/// The error of an encoding task that did not finish.
fn cert_download_internal() -> Error {
    Error::from(ErrorKind::Internal)
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

/// One log line per request: method, path, status, time. Never a header or a body.
async fn log_request(request: Request, next: axum::middleware::Next) -> Response {
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let start = Instant::now();
    let response = next.run(request).await;
    tracing::info!(
        %method,
        %path,
        status = response.status().as_u16(),
        micros = start.elapsed().as_micros() as u64,
        "request"
    );
    response
}

fn router(app: Arc<App>) -> Router {
    Router::new()
        .route(PATH, post(download).fallback(method_not_allowed))
        .fallback(not_found)
        .layer(axum::middleware::from_fn(log_request))
        .with_state(app)
}

fn tls_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, String> {
    let certs = rustls::pki_types::CertificateDer::pem_file_iter(cert)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read the TLS certificate {}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("no certificate in {}", cert.display()));
    }
    let key = rustls::pki_types::PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("cannot read the TLS key {}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("the TLS certificate and key do not fit: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

async fn serve(listener: TcpListener, tls: Option<TlsAcceptor>, app: Router) {
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10));
    let http = Arc::new(http);
    let signal = shutdown_signal();
    tokio::pin!(signal);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
            () = &mut signal => break,
        };
        let service = TowerToHyperService::new(app.clone());
        let http = Arc::clone(&http);
        match &tls {
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let handshake =
                        tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp));
                    let stream = match handshake.await {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => return,
                    };
                    let conn = http.serve_connection(TokioIo::new(stream), service);
                    let _ = watcher.watch(conn).await;
                });
            }
            None => {
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let conn = http.serve_connection(TokioIo::new(tcp), service);
                    let _ = watcher.watch(conn).await;
                });
            }
        }
    }
    tracing::info!("shutting down");
    let _ = tokio::time::timeout(Duration::from_secs(10), graceful.shutdown()).await;
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();

    let args = match parse_args() {
        Ok(args) => args,
        Err(why) => {
            if !why.is_empty() {
                eprintln!("server: {why}");
            }
            eprintln!("{USAGE}");
            return ExitCode::FAILURE;
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("server: {why}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), String> {
    let tokens = Tokens::load(&args.tokens)?;
    let tls = args
        .tls
        .as_ref()
        .map(|(cert, key)| tls_acceptor(cert, key))
        .transpose()?;
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let app = Arc::new(App {
        store: Arc::new(DirectoryStore::new(&args.store)),
        tokens,
        policy: ExportPolicy::default(),
        encoders: Semaphore::new(cores),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async move {
        let listener = TcpListener::bind(args.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
        let local = listener
            .local_addr()
            .map_err(|e| format!("cannot read the bound address: {e}"))?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let host = match local.ip() {
            ip if ip.is_loopback() && tls.is_some() => "localhost".to_owned(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        };
        println!("listening on {scheme}://{host}:{}{PATH}", local.port());
        tracing::info!(store = %args.store.display(), %local, scheme, "ready");
        serve(listener, tls, router(app)).await;
        Ok(())
    })
}
