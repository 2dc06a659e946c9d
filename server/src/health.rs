//! `GET /healthz` and `GET /readyz`, for a load balancer or an orchestrator: no
//! credential, no body, never counted as failed authentications (they do not reach the
//! download endpoint's handler), and not logged when they answer 200 (a probe every few seconds would
//! drown the request log).
//!
//! `/healthz` is 200 while the process serves. `/readyz` is 200 only when every check
//! passes: on the vault, the database answers `SELECT 1` within `--db-timeout`, the
//! keyring opens its check value, and the audit trail takes a row (inserted and rolled
//! back); on the directory store, its root is a readable directory; everywhere, the
//! instance is not draining for shutdown. Otherwise 503, with a JSON body naming each
//! check and why it fails, in words fixed here (the database's own error goes to the log,
//! once per change of state, never to an unauthenticated client).
//!
//! The checks' result is kept for [`FRESH_FOR`] and shared by the probes that arrive
//! meanwhile, so a flood of probes costs the database three queries per second at most;
//! draining is read live, so `/readyz` turns 503 the moment shutdown begins.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use cert_download_vault::VaultError;
use serde_json::{Map, Value, json};
use tokio::sync::watch;

use crate::refusal::Refusal;
use crate::vault::VaultBackend;

/// How long one round of checks answers the probes that follow it.
pub(crate) const FRESH_FOR: Duration = Duration::from_secs(1);

/// Marks the answer of a probe: the request log leaves out those that are 200.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Probe;

/// One check: its name and, when it fails, why.
type Check = (&'static str, Option<&'static str>);

/// What `/readyz` checks.
pub(crate) struct Readiness {
    vault: Option<VaultBackend>,
    store: PathBuf,
    shutdown: watch::Receiver<bool>,
    /// The last round of checks and when it ended; the lock is held while a round runs,
    /// so that concurrent probes wait for it rather than start their own.
    last: tokio::sync::Mutex<Option<(Instant, Arc<Vec<Check>>)>>,
    /// The checks failing at the last round, to log each change once.
    failing: Mutex<Vec<&'static str>>,
}

impl Readiness {
    pub(crate) fn new(
        vault: Option<VaultBackend>,
        store: PathBuf,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        Self {
            vault,
            store,
            shutdown,
            last: tokio::sync::Mutex::new(None),
            failing: Mutex::new(Vec::new()),
        }
    }

    /// The checks, from the last round if it is fresh, else from a new one.
    async fn checks(&self) -> Arc<Vec<Check>> {
        let mut last = self.last.lock().await;
        if let Some((at, checks)) = &*last
            && at.elapsed() < FRESH_FOR
        {
            return Arc::clone(checks);
        }
        let checks = Arc::new(self.run().await);
        *last = Some((Instant::now(), Arc::clone(&checks)));
        checks
    }

    async fn run(&self) -> Vec<Check> {
        let Some(backend) = &self.vault else {
            let readable = std::fs::read_dir(&self.store).is_ok();
            return vec![(
                "store",
                (!readable).then_some("the store's root is not a readable directory"),
            )];
        };
        let (vault, timeout) = (&backend.vault, backend.timeout);
        let within = |name: &'static str, result: Result<Result<(), VaultError>, _>| match result {
            Ok(Ok(())) => (name, None),
            Ok(Err(error)) => {
                tracing::debug!(check = name, error = %error, "readiness check failed");
                (name, Some(reason(name, &error)))
            }
            Err(_) => (name, Some("no answer within --db-timeout")),
        };
        let (database, keyring, audit) = tokio::join!(
            tokio::time::timeout(timeout, vault.ping()),
            tokio::time::timeout(timeout, vault.keyring_opens_check()),
            tokio::time::timeout(timeout, vault.audit_accepts_rows()),
        );
        vec![
            within("database", database),
            within("keyring", keyring),
            within("audit", audit),
        ]
    }

    /// Logs the checks that started or stopped failing since the last round.
    fn log_changes(&self, checks: &[Check]) {
        let now: Vec<&'static str> = checks
            .iter()
            .filter_map(|(name, why)| why.map(|_| *name))
            .collect();
        let mut failing = self.failing.lock().unwrap_or_else(PoisonError::into_inner);
        if *failing == now {
            return;
        }
        if now.is_empty() {
            tracing::info!("ready again: every readiness check passes");
        } else {
            let why: Vec<String> = checks
                .iter()
                .filter_map(|(name, why)| why.map(|why| format!("{name}: {why}")))
                .collect();
            tracing::warn!(failing = %why.join("; "), "not ready");
        }
        *failing = now;
    }

    /// The answer of `/readyz`.
    pub(crate) async fn answer(&self) -> Response {
        let draining = *self.shutdown.borrow();
        let mut checks: Vec<Check> = if draining {
            // The instance is leaving: no need to ask the database.
            Vec::new()
        } else {
            let checks = self.checks().await;
            self.log_changes(&checks);
            checks.as_ref().clone()
        };
        checks.push((
            "draining",
            draining.then_some("the instance is shutting down"),
        ));
        let failing: Vec<&str> = checks
            .iter()
            .filter_map(|(name, why)| why.map(|_| *name))
            .collect();
        let mut each = Map::new();
        for (name, why) in &checks {
            each.insert((*name).to_owned(), Value::from(why.unwrap_or("ok")));
        }
        let (status, word) = if failing.is_empty() {
            (StatusCode::OK, "ready")
        } else {
            (StatusCode::SERVICE_UNAVAILABLE, "not_ready")
        };
        let body = json!({"status": word, "failing": failing, "checks": each});
        answer(status, body)
    }
}

/// The words of a failing vault check.
fn reason(check: &str, error: &VaultError) -> &'static str {
    match (check, error) {
        (_, e) if e.is_unavailable() => "the database cannot be reached",
        ("keyring", VaultError::KekMismatch(_)) => {
            "a KEK of the KEK file does not open its check value"
        }
        ("keyring", VaultError::UnknownKeks) => "no KEK of the KEK file opens a check value",
        ("database", _) => "the database answered with an error",
        ("keyring", _) => "the check values cannot be read",
        _ => "an audit row is refused",
    }
}

fn answer(status: StatusCode, body: Value) -> Response {
    let mut response = (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body.to_string(),
    )
        .into_response();
    if status == StatusCode::OK {
        response.extensions_mut().insert(Probe);
    }
    response
}

/// `GET /healthz`: the process serves.
pub(crate) async fn healthz() -> Response {
    answer(StatusCode::OK, json!({"status": "ok"}))
}

/// Another method on a probe's path: the contract's 405.
pub(crate) async fn get_only() -> Response {
    Refusal::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "use GET",
    )
    .closing()
    .into_response()
}
