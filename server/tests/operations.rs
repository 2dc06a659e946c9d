//! Tests of running the service among others: health and readiness, metrics, JSON logs,
//! TLS reload, client certificates (with the directory store and with the vault), the
//! systemd unit. In-process (the library's router) where the behaviour
//! allows, as a process where it needs signals, sockets, TLS or the binary's log.

#[path = "operations/process.rs"]
mod process;

#[path = "operations/certificates.rs"]
mod certificates;
#[path = "operations/client_cert.rs"]
mod client_cert;
#[path = "operations/client_cert_vault.rs"]
mod client_cert_vault;
#[path = "operations/deploy.rs"]
mod deploy;
#[path = "operations/drain.rs"]
mod drain;
#[path = "operations/health.rs"]
mod health;
#[path = "operations/logs.rs"]
mod logs;
#[path = "operations/metrics.rs"]
mod metrics;
#[path = "operations/readiness_postgres.rs"]
mod readiness_postgres;
#[path = "operations/tls_reload.rs"]
mod tls_reload;
