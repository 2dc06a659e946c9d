//! The flags of running the service among others: metrics, the log format, TLS reload.
//! Their own group, beside the limits (`options.rs`) and the vault (`vault.rs`).

use std::net::SocketAddr;
use std::time::Duration;

/// How log lines are written to stderr.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
#[non_exhaustive]
pub enum LogFormat {
    /// One line of text per event (`key=value` fields).
    #[default]
    Text,
    /// One JSON object per line, the same fields as the text (tracing-subscriber's JSON
    /// layer, fields at the top level).
    Json,
}

/// Metrics, logs, TLS reload.
#[derive(Clone, Debug, clap::Args)]
#[non_exhaustive]
#[command(next_help_heading = "Operations")]
pub struct OperationsFlags {
    /// Serve Prometheus metrics (OpenMetrics text) at http://ADDR/metrics: plain HTTP, for
    /// a private network [default: off]
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
    /// Log lines as text or json (one object per line)
    #[arg(long, value_name = "FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// How often the TLS certificate and key files are checked for a change, which
    /// reloads them (as SIGHUP does at once)
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = crate::options::seconds)]
    pub tls_reload_interval: Duration,
    /// PEM roots of client certificates: the server asks clients for a certificate and
    /// verifies it; a verified one names the caller whose `"sha256:<fingerprint>"` entry is
    /// in the tokens file (a bearer token, when sent too, is used instead)
    #[arg(long, value_name = "FILE")]
    pub client_ca: Option<std::path::PathBuf>,
    /// Refuse the TLS handshake of a client without a certificate (with --client-ca)
    #[arg(long, requires = "client_ca")]
    pub require_client_cert: bool,
}

/// Installs the log subscriber of the binary: stderr, `RUST_LOG` or `info`, in `format`.
pub fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .init(),
    }
}
