//! `POST /api/certificate/download` over HTTPS, on axum, tokio and rustls.
//!
//! ```text
//! cargo run --release -p cert-download-server                 # the demo store on https://127.0.0.1:8443
//! cargo run --release -p cert-download-server -- --store DIR --tokens FILE \
//!     --listen 127.0.0.1:8443 --tls-cert cert.pem --tls-key key.pem
//! cargo run --release -p cert-download-server -- --insecure-http --listen 127.0.0.1:8080
//! cargo run --release -p cert-download-server -- --help       # every limit and its default
//! cargo run --release -p cert-download-server -- --database postgres://... --kek-file FILE
//! ```
//!
//! With `--database` the callers, grants, keys and audit trail are the vault's
//! (`cert-download-vault`, see `vault.rs`): an audit row is committed before any download
//! is answered.
//!
//! Callers authenticate with `Authorization: Bearer <token>`; the tokens file maps each
//! token to a principal and whether it may export keys:
//! `{"<token>": {"principal": "<name>", "export_keys": true}}`.
//!
//! Every resource a client can hold has a limit, each a flag (`limits.rs`): connections,
//! header bytes and fields and the time to send them (hyper's connection options), the time
//! between body pieces and for the whole request (tower-http's timeout layers), the body's
//! bytes (one buffer of 64 KiB, whatever the framing), failed authentications per address
//! and downloads per principal (`governor`), and keyed downloads encoding or waiting for a
//! thread (tower's `ConcurrencyLimit`, `Buffer` and `LoadShed`). Downloads without a key
//! cost microseconds and are encoded in place.

mod body;
mod errors;
mod limits;
mod service;
mod throttle;
mod vault;

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use cert_download::ExportPolicy;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use crate::limits::{Args, Limits};
use crate::service::{App, PATH, Tokens};

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

/// Serves one accepted connection: the TLS handshake (within the header timeout), then
/// HTTP/1.1 until either side closes it or shutdown begins.
async fn connection(
    tcp: TcpStream,
    client: SocketAddr,
    tls: Option<TlsAcceptor>,
    http: Arc<hyper::server::conn::http1::Builder>,
    router: axum::Router,
    limits: Arc<Limits>,
    watcher: hyper_util::server::graceful::Watcher,
) {
    let service = TowerToHyperService::new(service::for_connection(router, client));
    let result = match tls {
        Some(acceptor) => {
            let stream = match tokio::time::timeout(limits.header_timeout, acceptor.accept(tcp))
                .await
            {
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
                .watch(http.serve_connection(TokioIo::new(stream), service))
                .await
        }
        None => {
            watcher
                .watch(http.serve_connection(TokioIo::new(tcp), service))
                .await
        }
    };
    if let Err(e) = result {
        log_connection_error(client, &e);
    }
}

/// Accepts connections until SIGINT or SIGTERM, then stops: requests still sending their
/// body are answered 503 at once (`stopping`), idle connections close, requests in flight
/// get the grace period.
async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    router: axum::Router,
    limits: Limits,
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
    let http = Arc::new(http);
    let limits = Arc::new(limits);
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let signal = shutdown_signal();
    tokio::pin!(signal);
    // Failed accepts since the last one that worked: the first is logged, the rest only
    // counted, so a listener out of file descriptors writes one line, not one per try.
    let mut failing: u64 = 0;
    loop {
        let permit = match Arc::clone(&open).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                tracing::warn!(
                    max_connections = limits.max_connections,
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
                            pause_ms = limits.accept_error_pause.as_millis() as u64,
                            "accept failed: pausing before each new try until it works again"
                        );
                    }
                    failing += 1;
                    tokio::select! {
                        () = tokio::time::sleep(limits.accept_error_pause) => continue,
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
        let task = connection(
            tcp,
            client,
            tls.clone(),
            Arc::clone(&http),
            router.clone(),
            Arc::clone(&limits),
            graceful.watcher(),
        );
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
        grace_ms = limits.shutdown_grace.as_millis() as u64,
        "shutting down"
    );
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown grace period over: closing the connections still open");
    }
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

    let args = match limits::parse_args() {
        Ok(args) => args,
        Err(why) => {
            if !why.is_empty() {
                eprintln!("cert-download-server: {why}");
            }
            eprintln!("{}", limits::usage());
            return ExitCode::FAILURE;
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("cert-download-server: {why}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), String> {
    let tokens = match args.vault {
        Some(_) => Tokens::none(),
        None => Tokens::load(&args.tokens)?,
    };
    let tls = args
        .tls
        .as_ref()
        .map(|(cert, key)| tls_acceptor(cert, key))
        .transpose()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let limits = args.limits;
    let policy = ExportPolicy::builder()
        .pfx_encryption(args.pfx_encryption)
        .build()
        .map_err(|e| format!("the export policy: {e}"))?;
    let result = runtime.block_on(async move {
        let (stopping, shutdown) = tokio::sync::watch::channel(false);
        let vault = match &args.vault {
            Some(vault) => Some(vault::VaultBackend::open(vault).await?),
            None => None,
        };
        let app = Arc::new(App::new(
            &args.store,
            tokens,
            vault,
            &limits,
            policy,
            shutdown,
        ));
        let sweeper = Arc::clone(&app);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(60));
            loop {
                every.tick().await;
                sweeper.throttle.sweep();
            }
        });
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
        if args.vault.is_none() {
            tracing::info!(store = %args.store.display(), %local, scheme, ?limits, "ready");
        } else {
            tracing::info!(store = "vault", %local, scheme, ?limits, "ready");
        }
        let router = service::router(app, &limits);
        serve(listener, tls, router, limits, stopping).await;
        Ok(())
    });
    // Encodings still running on the blocking pool are not waited for beyond this.
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}
