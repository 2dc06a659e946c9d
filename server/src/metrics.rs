//! Prometheus metrics (the official `prometheus-client` crate), served in the OpenMetrics
//! text format on a listener of their own (`--metrics-listen`, plain HTTP, for a private
//! network): never on the service's port, where anyone who reaches it could read them.
//!
//! Off unless that flag is given: then every hook is one atomic load ([`get`] answers
//! `None`) and nothing is counted. Labels take values from small fixed sets only (status
//! codes, the contract's error codes, format names, `true`/`false`): never an id, a
//! principal or an address, so the number of series stays bounded whatever clients send.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

use crate::vault::VaultBackend;

/// A request to the endpoint, by how it ended.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    /// The HTTP status.
    status: u16,
    /// The contract's error code, `-` for a 200.
    code: &'static str,
    /// The format asked for, `-` when the request did not get that far.
    format: &'static str,
}

/// The latency of downloads of one format, with or without the key.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Kind {
    format: &'static str,
    key: &'static str,
}

/// Which rate limit answered 429.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Limit {
    limit: &'static str,
}

/// The pool's connections by state.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    state: &'static str,
}

/// Every metric of the service.
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<Outcome, Counter>,
    latency: Family<Kind, Histogram>,
    queue_depth: Gauge,
    shed: Counter,
    auth_failures: Counter,
    throttled: Family<Limit, Counter>,
    pool: Family<PoolLabels, Gauge>,
    pool_max: Gauge,
    pool_timeouts: Counter,
    audit_latency: Histogram,
    audit_failures: Counter,
    keys_exported: Counter,
    handshake_failures: Counter,
    /// The vault whose pool is shown, set once it is open.
    vault: OnceLock<VaultBackend>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

/// Seconds, from 1 ms to about 33 s by doubling.
fn seconds_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.001, 2.0, 16)
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("cert_download");
        let requests = Family::<Outcome, Counter>::default();
        registry.register(
            "requests",
            "Requests to the download endpoint, by HTTP status, error code and format",
            requests.clone(),
        );
        let latency = Family::<Kind, Histogram>::new_with_constructor(
            (|| Histogram::new(seconds_buckets())) as fn() -> Histogram,
        );
        registry.register(
            "request_duration_seconds",
            "Time from the request's headers to its answer, by format and whether the key is included",
            latency.clone(),
        );
        let queue_depth = Gauge::default();
        registry.register(
            "encode_queue_depth",
            "Keyed downloads encoding or waiting for an encoding thread",
            queue_depth.clone(),
        );
        let shed = Counter::default();
        registry.register(
            "encode_shed",
            "Keyed downloads refused 503 overloaded: every thread busy and the queue full",
            shed.clone(),
        );
        let auth_failures = Counter::default();
        registry.register(
            "auth_failures",
            "Requests to the endpoint without a valid credential (answered 401 or 429)",
            auth_failures.clone(),
        );
        let throttled = Family::<Limit, Counter>::default();
        registry.register(
            "throttled",
            "Requests answered 429, by the limit that answered",
            throttled.clone(),
        );
        let pool = Family::<PoolLabels, Gauge>::default();
        registry.register(
            "db_connections",
            "The vault's database connections, in use and idle",
            pool.clone(),
        );
        let pool_max = Gauge::default();
        registry.register(
            "db_connections_max",
            "The most database connections the pool opens (--db-max-connections)",
            pool_max.clone(),
        );
        let pool_timeouts = Counter::default();
        registry.register(
            "db_unavailable",
            "Database steps that waited past --db-acquire-timeout or --db-timeout, or found the database unreachable",
            pool_timeouts.clone(),
        );
        let audit_latency = Histogram::new(seconds_buckets());
        registry.register(
            "audit_write_seconds",
            "Time to commit one audit row in the vault",
            audit_latency.clone(),
        );
        let audit_failures = Counter::default();
        registry.register(
            "audit_write_failures",
            "Audit rows the vault did not take",
            audit_failures.clone(),
        );
        let keys_exported = Counter::default();
        registry.register(
            "keys_exported",
            "Downloads answered 200 with the private key",
            keys_exported.clone(),
        );
        let handshake_failures = Counter::default();
        registry.register(
            "tls_handshake_failures",
            "TLS handshakes that failed or timed out",
            handshake_failures.clone(),
        );
        registry.register(
            "build",
            "The server's version",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        Self {
            registry,
            requests,
            latency,
            queue_depth,
            shed,
            auth_failures,
            throttled,
            pool,
            pool_max,
            pool_timeouts,
            audit_latency,
            audit_failures,
            keys_exported,
            handshake_failures,
            vault: OnceLock::new(),
        }
    }

    /// One request to the endpoint: how it ended, the format if known, how long it took.
    pub(crate) fn request(
        &self,
        status: StatusCode,
        code: &'static str,
        download: Option<(&'static str, bool)>,
        took: Duration,
    ) {
        let format = download.map_or("-", |(format, _)| format);
        self.requests
            .get_or_create(&Outcome {
                status: status.as_u16(),
                code,
                format,
            })
            .inc();
        if let Some((format, with_key)) = download {
            let key = if with_key { "true" } else { "false" };
            self.latency
                .get_or_create(&Kind { format, key })
                .observe(took.as_secs_f64());
            if with_key && status == StatusCode::OK {
                self.keys_exported.inc();
            }
        }
    }

    /// A keyed download entered (`true`) or left (`false`) the encoding queue.
    pub(crate) fn queued(&self, entered: bool) {
        if entered {
            self.queue_depth.inc();
        } else {
            self.queue_depth.dec();
        }
    }

    pub(crate) fn shed(&self) {
        self.shed.inc();
    }

    pub(crate) fn auth_failed(&self) {
        self.auth_failures.inc();
    }

    /// A 429 of the limit named (`auth_failures` or `downloads`).
    pub(crate) fn throttled(&self, limit: &'static str) {
        self.throttled.get_or_create(&Limit { limit }).inc();
    }

    pub(crate) fn database_unavailable(&self) {
        self.pool_timeouts.inc();
    }

    /// An audit row written (or not) in `took`.
    pub(crate) fn audit_written(&self, ok: bool, took: Duration) {
        self.audit_latency.observe(took.as_secs_f64());
        if !ok {
            self.audit_failures.inc();
        }
    }

    pub(crate) fn handshake_failed(&self) {
        self.handshake_failures.inc();
    }

    /// The text of a scrape: the pool read now, then every family.
    fn encode(&self) -> Result<String, std::fmt::Error> {
        if let Some(vault) = self.vault.get() {
            let state = vault.vault.pool_state();
            let set = |state: &'static str, n: u32| {
                self.pool
                    .get_or_create(&PoolLabels { state })
                    .set(i64::from(n));
            };
            set("in_use", state.in_use());
            set("idle", state.idle);
            self.pool_max.set(i64::from(state.max));
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

static METRICS: OnceLock<Metrics> = OnceLock::new();

/// The metrics, if `--metrics-listen` turned them on.
pub(crate) fn get() -> Option<&'static Metrics> {
    METRICS.get()
}

/// Turns the metrics on (for the rest of the process).
fn enable() -> &'static Metrics {
    METRICS.get_or_init(Metrics::new)
}

/// Shows the vault's pool in the metrics (if they are on).
pub(crate) fn watch_vault(vault: &VaultBackend) {
    if let Some(metrics) = get() {
        let _ = metrics.vault.set(vault.clone());
    }
}

async fn scrape() -> Response {
    let Some(metrics) = get() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match metrics.encode() {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// Binds `--metrics-listen` and turns the metrics on; the server is [`serve`]d once the
/// runtime runs.
pub(crate) async fn bind(address: SocketAddr) -> Result<TcpListener, String> {
    let listener = TcpListener::bind(address)
        .await
        .map_err(|e| format!("cannot listen for metrics on {address}: {e}"))?;
    enable();
    Ok(listener)
}

/// `GET /metrics` on `listener`, plain HTTP, until the process ends.
pub(crate) fn serve(listener: TcpListener) {
    let local = listener
        .local_addr()
        .map_or_else(|_| "?".to_owned(), |a| a.to_string());
    tracing::info!(url = %format!("http://{local}/metrics"), "metrics served");
    let router = axum::Router::new().route("/metrics", axum::routing::get(scrape));
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "the metrics listener failed");
        }
    });
}
