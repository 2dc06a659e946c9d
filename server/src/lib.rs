//! `POST /api/certificate/download` over HTTPS, on axum, tokio and rustls: the service as a
//! library, so that tests (and hosts) can drive the router in-process, and a thin binary
//! (`main.rs`) that serves it.
//!
//! ```text
//! cargo run --release -p cert-download-server                 # the demo store on https://127.0.0.1:8443
//! cargo run --release -p cert-download-server -- --store DIR --tokens FILE \
//!     --listen 127.0.0.1:8443 --tls-cert cert.pem --tls-key key.pem
//! cargo run --release -p cert-download-server -- --insecure-http --listen 127.0.0.1:8080
//! cargo run --release -p cert-download-server -- --help       # every limit and its default
//! cargo run --release -p cert-download-server -- --database postgres://... --kek-file FILE \
//!     --tls-cert cert.pem --tls-key key.pem
//! ```
//!
//! Where things are:
//! - [`app`] builds the router from a [`Config`]: the endpoint (`endpoint.rs`: body,
//!   authentication, validation, store, encoding queue, the audit line), the 404/405
//!   answers, the timeout layers and the request log.
//! - [`Options`] and [`Limits`] (`options.rs`): the command line on `clap`, each limit
//!   stated once (flag, default, help); [`config`]: `--config FILE`, whose keys are the
//!   flags' long names, read off the same definition.
//! - `auth.rs`: bearer [`Tokens`], checked first, and the failure limits; `refusal.rs`: the
//!   one type every refusal is, and the contract's error body; `body.rs`: reading a body
//!   into one buffer of fixed cap; `throttle.rs`: the `governor` rate limits; `client.rs`:
//!   the client address, from the peer or a trusted proxy's `Forwarded`/`X-Forwarded-For`;
//!   `logs.rs`: client text escaped and cut, log lines of unauthenticated clients limited.
//! - `vault.rs`: with `--database`, the vault ([`VaultBackend`]): callers and grants from
//!   its database, keys from its sealed store, an audit row committed before any download
//!   is answered, bounded waits on the database.
//! - [`serve`] (`serve.rs`): the accept loop, the connection caps (in all, per address),
//!   a keep-alive connection's age and request count, hyper's options, TLS, graceful
//!   shutdown; [`run`] puts it all together for the binary.
//!
//! Callers authenticate with `Authorization: Bearer <token>`; the tokens file maps each
//! token to a principal and whether it may export keys:
//! `{"<token>": {"principal": "<name>", "export_keys": true}}`. With `--client-ca`, a
//! verified client certificate without a token names its caller too (`client_cert.rs`):
//! by a `"sha256:<hex>"` entry of the tokens file, or, with `--database`, by its
//! fingerprint registered in the vault (`cert-download-vault principal add-cert`).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod auth;
mod body;
mod client;
mod client_cert;
pub mod config;
mod endpoint;
mod health;
mod logs;
mod metrics;
mod operations;
mod options;
mod refusal;
mod serve;
mod throttle;
mod tls_reload;
mod vault;

use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use cert_download::ExportPolicy;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};

pub use auth::Tokens;
pub use client::ForwardedHeader;
pub use operations::{LogFormat, OperationsFlags, init_logs};
pub use options::{Limits, Options, Transport};
pub use serve::{serve, shutdown_signal, tls_acceptor};
pub use tls_reload::{Reloader, reloading_acceptor};
pub use vault::{VaultBackend, VaultFlags};

use client::{Client, Proxies};
use endpoint::{Audited, Endpoint};

/// The endpoint's path.
pub const PATH: &str = "/api/certificate/download";

/// What the router serves, and how.
#[derive(Debug)]
#[non_exhaustive]
pub struct Config {
    /// The `DirectoryStore` root.
    pub store: PathBuf,
    /// The bearer tokens.
    pub tokens: Tokens,
    /// The vault, which replaces the store and the tokens when given.
    pub vault: Option<VaultBackend>,
    /// The limits (those of the connection are [`serve`]'s).
    pub limits: Limits,
    /// The export policy of every download.
    pub policy: ExportPolicy,
    /// Becomes true when shutdown begins: requests still sending their body are then
    /// answered 503 at once. A receiver whose sender is gone never does.
    pub shutdown: watch::Receiver<bool>,
    /// Becomes true when the instance starts to drain, before `shutdown` when a drain delay
    /// is set (`--drain-delay`): `/readyz` answers 503 from then on while requests are
    /// still accepted and served. `None`: `/readyz` follows `shutdown`.
    pub draining: Option<watch::Receiver<bool>>,
}

impl Config {
    /// The store and tokens with the default limits and policy, and no shutdown.
    pub fn new(store: impl Into<PathBuf>, tokens: Tokens) -> Self {
        Self {
            store: store.into(),
            tokens,
            vault: None,
            limits: Limits::default(),
            policy: ExportPolicy::default(),
            shutdown: watch::channel(false).1,
            draining: None,
        }
    }

    /// What the command line names: the store, the tokens file (read here, unless the
    /// vault serves), the limits and the PFX profile; no vault (it is opened in the
    /// runtime, [`VaultBackend::open`]) and no shutdown (the binary sets its own).
    pub fn from_options(options: &Options) -> Result<Self, String> {
        let mut builder = ExportPolicy::builder()
            .pfx_encryption(options.pfx_encryption)
            .recipient_delivery(options.recipient_delivery)
            .min_recipient_rsa_bits(options.min_recipient_rsa_bits);
        if !options.pfx_encryption_allowed.is_empty() {
            builder = builder.allowed_pfx_encryptions(&options.pfx_encryption_allowed);
        }
        let policy = builder
            .build()
            .map_err(|e| format!("the export policy: {e}"))?;
        let tokens = match options.vault.database {
            Some(_) => Tokens::none(),
            None => {
                // A store root that is not a directory is refused here, at start.
                cert_download::DirectoryStore::new(options.store()).map_err(|e| e.to_string())?;
                Tokens::load(&options.tokens())?
            }
        };
        Ok(Self {
            limits: options.limits.clone(),
            policy,
            ..Self::new(options.store(), tokens)
        })
    }
}

/// One log line per request: client address, method, path (escaped and cut short),
/// status, time; never a header or a body. Requests that did not authenticate: an
/// endpoint refusal has its audit line only, other paths a line subject to the log limit
/// of their address.
async fn log_request(request: Request, next: axum::middleware::Next) -> Response {
    let client = Client::of(&request);
    let method = logs::shown(request.method().as_str());
    let path = logs::shown(request.uri().path());
    let start = Instant::now();
    tracing::debug!(client = %client.shown(), %method, %path, "request received");
    let response = next.run(request).await;
    let probe = response.extensions().get::<health::Probe>().is_some();
    let logged = !probe
        && match response.extensions().get::<Audited>() {
            Some(Audited(Some(_))) => true,
            // The audit line said it all.
            Some(Audited(None)) => false,
            None => logs::allow(client.ip),
        };
    if logged {
        tracing::info!(
            client = %client.shown(),
            via = client.via().map(tracing::field::display),
            %method,
            %path,
            status = response.status().as_u16(),
            micros = start.elapsed().as_micros() as u64,
            "request"
        );
    }
    response
}

/// Forgets the rate limiters' idle keys every minute, for as long as the endpoint lives.
fn sweep_while_alive(endpoint: Weak<Endpoint>) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(60));
        loop {
            every.tick().await;
            match endpoint.upgrade() {
                Some(endpoint) => endpoint.throttle.sweep(),
                None => break,
            }
        }
    });
}

/// The service: the endpoint with its layers (outermost last: the body's idle timeout,
/// the whole request's timeout with the contract's 408, the request log, the client
/// address from the peer or a trusted proxy), 404 for other paths and 405 for other
/// methods (both close the connection). The peer's address is axum's
/// `ConnectInfo<SocketAddr>` on each request ([`serve`] puts it there, as
/// `Router::into_make_service_with_connect_info` would); without it the client is
/// `0.0.0.0`. Must be called inside a tokio runtime (the encoding queue's worker and the
/// rate limiters' sweeper are tasks).
pub fn app(config: Config) -> Router {
    let Config {
        store,
        tokens,
        vault,
        limits,
        policy,
        shutdown,
        draining,
    } = config;
    let readiness = Arc::new(health::Readiness::new(
        vault.clone(),
        store.clone(),
        draining.unwrap_or_else(|| shutdown.clone()),
    ));
    let endpoint = Arc::new(Endpoint::new(
        &store, tokens, vault, &limits, policy, shutdown,
    ));
    sweep_while_alive(Arc::downgrade(&endpoint));
    logs::set_rate(limits.log_lines_per_second);
    let proxies = Proxies::new(&limits.trusted_proxies, limits.forwarded_header);
    Router::new()
        .route(
            PATH,
            post(endpoint::download).fallback(refusal::method_not_allowed),
        )
        .route("/healthz", get(health::healthz).fallback(health::get_only))
        .route(
            "/readyz",
            get(move || async move { readiness.answer().await }).fallback(health::get_only),
        )
        .fallback(refusal::not_found)
        .layer(RequestBodyTimeoutLayer::new(limits.body_timeout))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
        .layer(axum::middleware::map_response(refusal::shape_bare_errors))
        .layer(axum::middleware::from_fn(log_request))
        .layer(axum::middleware::from_fn_with_state(proxies, client::layer))
        .with_state(endpoint)
}

/// The binary: loads the tokens and TLS files, binds, prints `listening on <URL>` on
/// stdout when ready, and serves until SIGINT or SIGTERM.
pub fn run(options: Options) -> Result<(), String> {
    let config = Config::from_options(&options)?;
    let (tls, reloader) = match options.transport()? {
        Transport::Tls { cert, key } => {
            options::check_tls_key(&key, options.vault.database.is_some())?;
            let client_ca = options.operations.client_ca.as_deref();
            let client_ca = client_ca.map(|ca| (ca, options.operations.require_client_cert));
            let (acceptor, reloader) = reloading_acceptor(&cert, &key, client_ca)?;
            (Some(acceptor), Some(reloader))
        }
        Transport::InsecureHttp if options.operations.client_ca.is_some() => {
            return Err("--client-ca needs TLS: it cannot go with --insecure-http".into());
        }
        Transport::InsecureHttp => (None, None),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let limits = options.limits.clone();
    let result = runtime.block_on(async move {
        let (stopping, shutdown) = watch::channel(false);
        // The vault first: a database that cannot be served from is refused before the
        // address is taken.
        let vault = match options.vault.database {
            Some(_) => Some(VaultBackend::open(&options.vault).await?),
            None => None,
        };
        let metrics = match options.operations.metrics_listen {
            Some(address) => Some(metrics::bind(address).await?),
            None => None,
        };
        if let Some(vault) = &vault {
            metrics::watch_vault(vault);
        }
        let listener = TcpListener::bind(options.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", options.listen))?;
        let local = listener
            .local_addr()
            .map_err(|e| format!("cannot read the bound address: {e}"))?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let host = match local.ip() {
            ip if ip.is_loopback() && tls.is_some() => "localhost".to_owned(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        };
        match vault {
            Some(_) => tracing::info!(store = "vault", %local, scheme, ?limits, "ready"),
            None => {
                tracing::info!(store = %config.store.display(), %local, scheme, ?limits, "ready")
            }
        }
        // Audit checkpoints: every --audit-checkpoint-secs, and one more at shutdown.
        let checkpoints = vault.clone();
        let every = checkpoints
            .clone()
            .map(|v| tokio::spawn(v.checkpoint_every()));
        // SIGTERM first drains: /readyz turns 503 while requests are still accepted for
        // --drain-delay (a second signal cuts it short), so that a load balancer takes
        // the instance out before connections are refused; then accepting stops.
        let (drain, draining) = watch::channel(false);
        let delay = limits.drain_delay;
        let mut signals = serve::ShutdownSignals::new();
        let signal = async move {
            signals.recv().await;
            drain.send_replace(true);
            if !delay.is_zero() {
                tracing::info!(
                    delay_ms = delay.as_millis() as u64,
                    "draining: /readyz answers 503, requests are still served"
                );
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = signals.recv() => {}
                }
            }
        };
        let router = app(Config {
            shutdown,
            draining: Some(draining),
            vault,
            ..config
        });
        if let Some(metrics) = metrics {
            metrics::serve(metrics);
        }
        if let Some(reloader) = reloader {
            tokio::spawn(reloader.watch(options.operations.tls_reload_interval));
        }
        println!("listening on {scheme}://{host}:{}{PATH}", local.port());
        serve(listener, tls, router, limits, signal, stopping).await;
        if let Some(task) = every {
            task.abort();
        }
        if let Some(vault) = checkpoints {
            vault.checkpoint().await;
        }
        Ok(())
    });
    // Encodings still running on the blocking pool are not waited for beyond this.
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}
