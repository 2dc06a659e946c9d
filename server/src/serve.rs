//! The process around the router: the TLS configuration, the accept loop with its
//! connection caps (in all, per address), hyper's connection options, the age and request
//! count of a keep-alive connection, and the shutdown on SIGINT/SIGTERM.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::response::Response;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio_rustls::TlsAcceptor;
use tower::ServiceBuilder;

use crate::client::Proxies;
use crate::logs;
use crate::options::Limits;
use crate::refusal;
use crate::throttle::client_key;

/// How often the counts of suppressed log lines and failed handshakes are written.
const LOG_SUMMARY_EVERY: Duration = Duration::from_secs(10);

/// A TLS acceptor for HTTP/1.1 with the certificate (chain) and key of these PEM files.
pub fn tls_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, String> {
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

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    ShutdownSignals::new().recv().await;
}

/// SIGINT and SIGTERM, listened for from [`new`](Self::new) on: a signal that arrives while
/// an earlier one is being handled waits for the next [`recv`](Self::recv) instead of being
/// lost (a listener made after a signal does not see it, and once tokio handles a signal
/// its default action is gone).
pub(crate) struct ShutdownSignals {
    #[cfg(unix)]
    unix: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl ShutdownSignals {
    /// Starts listening. Inside a tokio runtime.
    pub(crate) fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let unix = signal(SignalKind::terminate())
                .and_then(|term| Ok((term, signal(SignalKind::interrupt())?)))
                .ok();
            Self { unix }
        }
        #[cfg(not(unix))]
        {
            Self {}
        }
    }

    /// The next SIGINT or SIGTERM (one that came since the last call included).
    pub(crate) async fn recv(&mut self) {
        #[cfg(unix)]
        if let Some((term, interrupt)) = &mut self.unix {
            tokio::select! {
                _ = term.recv() => {}
                _ = interrupt.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Whether an `accept` error is about one connection (the peer gave up before it was
/// accepted) rather than the listener: those are skipped without a pause, as `axum::serve`
/// and hyper did.
fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

/// One line for a connection that hyper ended with an error, naming what hyper answered
/// (it writes 400 and 431 itself, with an empty body) or that nothing was answered;
/// subject to the log limit of the client's address.
fn log_connection_error(client: SocketAddr, error: &hyper::Error) {
    if !logs::allow(client.ip()) {
        return;
    }
    let what = if error.is_parse_too_large() {
        "431 sent by hyper: request line and headers over the limit"
    } else if error.is_parse() {
        "400 sent by hyper: malformed request line or headers"
    } else if error.is_timeout() {
        "closed: request line and headers not received within the header timeout"
    } else if error.is_incomplete_message() {
        "closed by the client in the middle of a request"
    } else {
        "closed on an error"
    };
    tracing::info!(client = %client, error = %error, "connection {what}");
}

/// Open connections per client address (a trusted proxy's are not counted).
#[derive(Default)]
struct PerAddress(Mutex<HashMap<IpAddr, usize>>);

/// A connection's place in [`PerAddress`], given back when it closes.
struct Slot<'a> {
    table: &'a PerAddress,
    key: Option<IpAddr>,
}

impl PerAddress {
    /// A slot for a connection from `ip`, unless it already has `max` open.
    fn take(&self, ip: IpAddr, max: usize) -> Option<Slot<'_>> {
        let key = client_key(ip);
        let mut open = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(key).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(Slot {
            table: self,
            key: Some(key),
        })
    }

    fn uncounted(&self) -> Slot<'_> {
        Slot {
            table: self,
            key: None,
        }
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let Some(key) = self.key else { return };
        let mut open = self.table.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&key) {
            *count -= 1;
            if *count == 0 {
                open.remove(&key);
            }
        }
    }
}

/// What every connection shares.
struct Shared {
    tls: Option<TlsAcceptor>,
    http: hyper::server::conn::http1::Builder,
    router: axum::Router,
    limits: Limits,
    proxies: Proxies,
    per_address: PerAddress,
    stopping: watch::Receiver<bool>,
}

/// Resolves when shutdown begins (or can no longer begin).
async fn stopping(mut stopping: watch::Receiver<bool>) {
    let _ = stopping.wait_for(|stopping| *stopping).await;
}

/// Serves one accepted connection: the TLS handshake (within the header timeout), then
/// HTTP/1.1 until either side closes it, it reaches its age or request count, or shutdown
/// begins.
async fn connection(tcp: TcpStream, client: SocketAddr, shared: Arc<Shared>) {
    // Small answers go out at once rather than after the client's delayed ACK (Nagle).
    let _ = tcp.set_nodelay(true);
    let slot = if shared.proxies.trusts(client.ip()) {
        shared.per_address.uncounted()
    } else {
        match shared
            .per_address
            .take(client.ip(), shared.limits.max_connections_per_address)
        {
            Some(slot) => slot,
            None => {
                if logs::allow(client.ip()) {
                    tracing::info!(%client, "connection closed: too many open from this address");
                }
                return;
            }
        }
    };
    let limits = &shared.limits;
    let mut presented = crate::client_cert::Presented::default();
    let io = match &shared.tls {
        Some(acceptor) => {
            let handshake = tokio::time::timeout(limits.header_timeout, acceptor.accept(tcp));
            tokio::select! {
                done = handshake => match done {
                    Ok(Ok(stream)) => {
                        presented = crate::client_cert::Presented::of(stream.get_ref().1);
                        Io::Tls(Box::new(stream))
                    }
                    // Counted, never logged one by one.
                    Ok(Err(_)) | Err(_) => return logs::handshake_failed(),
                },
                () = stopping(shared.stopping.clone()) => return,
            }
        }
        None => Io::Plain(tcp),
    };
    let served = Arc::new(AtomicUsize::new(0));
    let max_requests = limits.max_requests_per_connection;
    let service = ServiceBuilder::new()
        .layer(axum::Extension(ConnectInfo(client)))
        .layer(axum::Extension(presented))
        .map_response(move |mut response: Response| {
            // The last request a connection may carry: its answer closes it.
            if served.fetch_add(1, Ordering::Relaxed) + 1 >= max_requests {
                refusal::closing(&mut response);
            }
            response
        })
        .service(shared.router.clone());
    let result = match io {
        Io::Tls(stream) => drive(&shared, TokioIo::new(*stream), service).await,
        Io::Plain(tcp) => drive(&shared, TokioIo::new(tcp), service).await,
    };
    if let Err(e) = result {
        log_connection_error(client, &e);
    }
    drop(slot);
}

enum Io {
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    Plain(TcpStream),
}

/// HTTP/1.1 on a connection until it ends; at its maximum age or when shutdown begins,
/// the request in flight (if any) is answered and the connection closed.
async fn drive<I, S>(shared: &Shared, io: I, service: S) -> Result<(), hyper::Error>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: tower::Service<axum::http::Request<hyper::body::Incoming>, Response = Response>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let connection = shared
        .http
        .serve_connection(io, TowerToHyperService::new(service));
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => return result,
        () = tokio::time::sleep(shared.limits.max_connection_age) => {}
        () = stopping(shared.stopping.clone()) => {}
    }
    connection.as_mut().graceful_shutdown();
    connection.await
}

/// Accepts connections until `signal` resolves, then stops: `stopping` is set (requests
/// still sending their body are answered 503 at once, idle connections close, those in a
/// TLS handshake too), and requests in flight get the grace period.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    router: axum::Router,
    limits: Limits,
    signal: impl Future<Output = ()>,
    stopping: watch::Sender<bool>,
) {
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let shared = Arc::new(Shared {
        tls,
        http: http_options(&limits),
        router,
        proxies: Proxies::new(&limits.trusted_proxies, limits.forwarded_header),
        limits,
        per_address: PerAddress::default(),
        stopping: stopping.subscribe(),
    });
    tokio::pin!(signal);
    accept_until(&listener, &shared, &open, signal).await;
    drop(listener);
    stopping.send_replace(true);
    wind_down(&open, &shared.limits).await;
}

/// hyper's HTTP/1.1 options: the header timeout and limits.
fn http_options(limits: &Limits) -> hyper::server::conn::http1::Builder {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_header_size(limits.max_header_bytes)
        .max_headers(limits.max_headers)
        // The read buffer: headers up to their limit, body pieces of up to 64 KiB.
        .max_buf_size(limits.max_header_bytes.max(64 * 1024));
    http
}

/// The accept loop: each connection, once it has a permit of `open`, served on a task of
/// its own that holds the permit until the connection ends.
async fn accept_until<F: Future<Output = ()>>(
    listener: &TcpListener,
    shared: &Arc<Shared>,
    open: &Arc<Semaphore>,
    mut signal: Pin<&mut F>,
) {
    let pause = shared.limits.accept_error_pause;
    let mut summaries = tokio::time::interval(LOG_SUMMARY_EVERY);
    // Failed accepts since the last one that worked: the first is logged, the rest only
    // counted, so a listener out of file descriptors writes one line, not one per try.
    let mut failing: u64 = 0;
    loop {
        let Some(permit) = permit(open, shared.limits.max_connections, signal.as_mut()).await
        else {
            break;
        };
        let (tcp, client) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    if failing == 0 {
                        tracing::warn!(
                            error = %e,
                            pause_ms = pause.as_millis() as u64,
                            "accept failed: pausing before each new try until it works again"
                        );
                    }
                    failing += 1;
                    tokio::select! {
                        () = tokio::time::sleep(pause) => continue,
                        () = &mut signal => break,
                    }
                }
            },
            _ = summaries.tick() => {
                logs::summarize();
                continue;
            }
            () = &mut signal => break,
        };
        if failing > 0 {
            tracing::warn!(failed_tries = failing, "accepting connections again");
            failing = 0;
        }
        let task = connection(tcp, client, Arc::clone(shared));
        tokio::spawn(async move {
            task.await;
            drop(permit);
        });
    }
}

/// A permit for one more connection: at once if one is free, else (with a warning) once a
/// connection ends; `None` if `signal` resolves first.
async fn permit<F: Future<Output = ()>>(
    open: &Arc<Semaphore>,
    max_connections: usize,
    signal: Pin<&mut F>,
) -> Option<OwnedSemaphorePermit> {
    if let Ok(permit) = Arc::clone(open).try_acquire_owned() {
        return Some(permit);
    }
    tracing::warn!(
        max_connections,
        "connection cap reached: new connections wait in the listen backlog"
    );
    tokio::select! {
        permit = Arc::clone(open).acquire_owned() => permit.ok(),
        () = signal => None,
    }
}

/// Once accepting has stopped: the connections still open get the grace period, then the
/// last summary of suppressed log lines is written.
async fn wind_down(open: &Semaphore, limits: &Limits) {
    let (max_connections, grace) = (limits.max_connections, limits.shutdown_grace);
    let open_connections = max_connections - open.available_permits();
    tracing::info!(
        open_connections,
        grace_ms = grace.as_millis() as u64,
        "shutting down"
    );
    // Every connection holds a permit until it ends: all of them back means all ended.
    let all = u32::try_from(max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(grace, open.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("shutdown grace period over: closing the connections still open");
    }
    logs::summarize();
}
