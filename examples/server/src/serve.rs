//! The process around the router: the TLS configuration, the accept loop with its
//! connection cap, hyper's connection options, and the shutdown on SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tower::ServiceBuilder;

use crate::options::Limits;

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
/// (it writes 400 and 431 itself, with an empty body) or that nothing was answered.
fn log_connection_error(client: SocketAddr, error: &hyper::Error) {
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

/// What every connection shares.
struct Shared {
    tls: Option<TlsAcceptor>,
    http: hyper::server::conn::http1::Builder,
    router: axum::Router,
    limits: Limits,
}

/// Serves one accepted connection: the TLS handshake (within the header timeout), then
/// HTTP/1.1 until either side closes it or shutdown begins.
async fn connection(
    tcp: TcpStream,
    client: SocketAddr,
    shared: Arc<Shared>,
    watcher: hyper_util::server::graceful::Watcher,
) {
    let service = TowerToHyperService::new(
        ServiceBuilder::new()
            .layer(axum::Extension(ConnectInfo(client)))
            .service(shared.router.clone()),
    );
    let result = match &shared.tls {
        Some(acceptor) => {
            let handshake = acceptor.accept(tcp);
            let stream = match tokio::time::timeout(shared.limits.header_timeout, handshake).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => {
                    tracing::info!(client = %client, error = %e, "connection closed: TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::info!(client = %client, "connection closed: TLS handshake not done within the header timeout");
                    return;
                }
            };
            watcher
                .watch(shared.http.serve_connection(TokioIo::new(stream), service))
                .await
        }
        None => {
            watcher
                .watch(shared.http.serve_connection(TokioIo::new(tcp), service))
                .await
        }
    };
    if let Err(e) = result {
        log_connection_error(client, &e);
    }
}

/// Accepts connections until `signal` resolves, then stops: `stopping` is set (requests
/// still sending their body are answered 503 at once), idle connections close, requests in
/// flight get the grace period.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    router: axum::Router,
    limits: Limits,
    signal: impl std::future::Future<Output = ()>,
    stopping: tokio::sync::watch::Sender<bool>,
) {
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_header_size(limits.max_header_bytes)
        .max_headers(limits.max_headers)
        // The read buffer: headers up to their limit, body pieces of up to 64 KiB.
        .max_buf_size(limits.max_header_bytes.max(64 * 1024));
    let (max_connections, pause, grace) = (
        limits.max_connections,
        limits.accept_error_pause,
        limits.shutdown_grace,
    );
    let shared = Arc::new(Shared {
        tls,
        http,
        router,
        limits,
    });
    let open = Arc::new(Semaphore::new(max_connections));
    tokio::pin!(signal);
    // Failed accepts since the last one that worked: the first is logged, the rest only
    // counted, so a listener out of file descriptors writes one line, not one per try.
    let mut failing: u64 = 0;
    loop {
        let permit = match Arc::clone(&open).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                tracing::warn!(
                    max_connections,
                    "connection cap reached: new connections wait in the listen backlog"
                );
                tokio::select! {
                    permit = Arc::clone(&open).acquire_owned() => match permit {
                        Ok(permit) => permit,
                        Err(_) => break,
                    },
                    () = &mut signal => break,
                }
            }
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
            () = &mut signal => break,
        };
        if failing > 0 {
            tracing::warn!(failed_tries = failing, "accepting connections again");
            failing = 0;
        }
        let task = connection(tcp, client, Arc::clone(&shared), graceful.watcher());
        tokio::spawn(async move {
            task.await;
            drop(permit);
        });
    }
    drop(listener);
    stopping.send_replace(true);
    let open = graceful.count();
    tracing::info!(
        open_connections = open,
        grace_ms = grace.as_millis() as u64,
        "shutting down"
    );
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown grace period over: closing the connections still open");
    }
}
