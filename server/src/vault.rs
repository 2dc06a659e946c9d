//! The vault backend (`--database URL --kek-file FILE`): callers authenticated by the token
//! hashes of the database and authorized by its grants, keys from its sealed store, and an
//! audit row committed before any answer is released.
//!
//! - **Audit before release.** Every download an authenticated caller asks for (answered
//!   200, or refused by the store: 401, 403, 404, 500, or 503) gets a row in the database's
//!   `audit` table, with the principal, id, format, status, error code, whether a key went
//!   out, the client's address and this instance's name. A 200 (with or without a key) is
//!   sent only once its row is committed; if the row cannot be written within
//!   `--db-timeout`, the answer is **503 `audit_unavailable` with `Retry-After`** and
//!   nothing of the download leaves. 503 rather than 500: the request was good and the
//!   same request succeeds once the database takes writes again (or on another instance).
//!   A refusal whose row cannot be written is still answered (nothing leaves with it), and
//!   the failure is logged. Requests refused before the caller is known (no or unknown
//!   token, the failed-authentication limit, a duplicate `Authorization`) and those refused
//!   before the store is asked (400, 415, 429) are in the log only: anonymous clients do
//!   not write to the shared database. (One exception: a pfx asking for a profile outside
//!   `--pfx-encryption-allowed` has its row, with the profile, since an authenticated
//!   caller asked for the legacy one.)
//! - **Revocation**: the token is looked up in the database on every request, and each
//!   store call checks it again (no cache): a token revoked by `cert-download-vault token
//!   revoke` is refused by every instance from the next request on. So is a client
//!   certificate (`--client-ca`): its fingerprint is looked up as a token is, and one
//!   removed by `principal remove-cert` is refused from the next request on. The audit
//!   row's `credential` says which of the two the caller used.
//! - **Database trouble**: each wait is bounded: a free connection within
//!   `--db-acquire-timeout` (sqlx's pool retries refused connections until then), and each
//!   database step of a request (caller lookup, store lookup, audit insert) within
//!   `--db-timeout`. A database that cannot be reached or is too busy is answered **503
//!   `database_unavailable` with `Retry-After`**; its text goes to the log, never into a
//!   response. The pool opens new connections when the database is back: no restart.
//!   At start, a database that does not answer within the acquire timeout, a wrong KEK
//!   file or a database without the schema ends the process with one line saying which.

use std::path::PathBuf;
use std::time::Duration;

use axum::http::StatusCode;
use cert_download::{
    DownloadRequest, DownloadResponse, Error, ErrorKind, PfxEncryption, Prepared, StoreError,
    prepare_async,
};
use cert_download_vault::{AuditEntry, KekSource, Keyring, Vault, VaultOptions, VaultStore};

use crate::client::Client;
use crate::endpoint::Asked;
use crate::refusal::Refusal;

/// How long a client is told to wait before it tries again after a 503.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// The vault's flags: with `--database`, the service serves the vault instead of a
/// directory store and a tokens file.
#[derive(Clone, Debug, clap::Args)]
#[non_exhaustive]
#[command(next_help_heading = "Vault (instead of --store and --tokens)")]
pub struct VaultFlags {
    /// Serve the vault at sqlite://FILE or postgres://USER@HOST/DB: callers, grants, keys
    /// and the audit trail from its database; env:NAME or file:PATH (mode 0600) read the
    /// URL from there, to keep a password out of `ps`
    #[arg(
        long,
        value_name = "URL",
        env = "CERT_DOWNLOAD_DATABASE_URL",
        hide_env_values = true,
        conflicts_with_all = ["store", "tokens"]
    )]
    pub database: Option<String>,
    /// The vault's KEK file (mode 0600; kept apart from the database); as --kek FILE, first
    #[arg(long, value_name = "FILE", requires = "database")]
    pub kek_file: Option<PathBuf>,
    /// A KEK source, oldest first (repeat it): a KEK file, or a token's key,
    /// pkcs11:token=LABEL;object=KEK-ID?pin-source=file:/PIN/FILE&module-path=/MODULE.so
    #[arg(long, value_name = "URI-OR-FILE", requires = "database")]
    pub kek: Vec<String>,
    /// Database connections of this instance
    #[arg(long, value_name = "N", default_value = "10", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub db_max_connections: u32,
    /// Wait for a free or new database connection, then 503
    #[arg(long, value_name = "SECS", default_value = "3", value_parser = crate::options::seconds)]
    pub db_acquire_timeout: Duration,
    /// Each database step of a request (token, record and key, audit row), then 503
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = crate::options::seconds)]
    pub db_timeout: Duration,
    /// This instance's name in the audit rows [default: host name and pid]
    #[arg(long, value_name = "NAME", value_parser = instance_name)]
    pub instance: Option<String>,
    /// Allow a postgres:// URL whose host is not loopback or a Unix socket without
    /// sslmode=verify-full (only on a link protected otherwise: a VPN, IPsec)
    #[arg(long, requires = "database")]
    pub insecure_database_transport: bool,
    /// Sign a checkpoint of the audit chains this often, and at shutdown (0: never)
    #[arg(long, value_name = "SECS", default_value = "60", value_parser = checkpoint_seconds)]
    pub audit_checkpoint_secs: Duration,
    /// Also append each checkpoint to this file as one JSON line (ship it elsewhere)
    #[arg(long, value_name = "FILE", requires = "database")]
    pub audit_checkpoint_file: Option<PathBuf>,
}

/// 0 (never), or a number of seconds up to a day.
fn checkpoint_seconds(value: &str) -> Result<Duration, String> {
    if value.parse::<f64>() == Ok(0.0) {
        return Ok(Duration::ZERO);
    }
    crate::options::seconds(value)
}

fn instance_name(value: &str) -> Result<String, String> {
    if value.is_empty() || value.len() > 128 || value.chars().any(char::is_control) {
        return Err(format!(
            "{value:?} is not 1 to 128 bytes without control characters"
        ));
    }
    Ok(value.to_owned())
}

/// The database as it may be logged: the parsed URL's parts, never the URL as given.
fn shown(url: &str) -> String {
    cert_download_vault::describe_database(url)
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// The vault the service runs on: the database pool, the keyring, this instance's name.
#[derive(Clone, Debug)]
pub struct VaultBackend {
    pub(crate) vault: Vault,
    instance: String,
    pub(crate) timeout: Duration,
    checkpoint_every: Duration,
    checkpoint_file: Option<PathBuf>,
}

/// A database step that outlived `--db-timeout`.
#[derive(Debug)]
struct TimedOut;

impl std::fmt::Display for TimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the database did not answer within --db-timeout")
    }
}

impl std::error::Error for TimedOut {}

/// Whether a download's error is the database being unreachable or too busy (or slower
/// than `--db-timeout`), rather than a fault of the request or the stored data.
fn database_unavailable(error: &Error) -> bool {
    let Some(source) = std::error::Error::source(error) else {
        return false;
    };
    source.is::<TimedOut>() || cert_download_vault::is_unavailable(source)
}

/// 503 `key_custody_unavailable`: the KEK's token does not answer just now. Nothing of
/// the key leaves; keyless downloads go on.
fn custody_unavailable() -> Refusal {
    Refusal::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "key_custody_unavailable",
        "the key's custody (its KEK's token) cannot be reached just now; try again",
    )
    .retry_after(RETRY_AFTER)
}

fn unavailable() -> Refusal {
    if let Some(metrics) = crate::metrics::get() {
        metrics.database_unavailable();
    }
    Refusal::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "database_unavailable",
        "the vault's database cannot be reached just now; try again",
    )
    .retry_after(RETRY_AFTER)
}

/// Re-reads the KEK sources on SIGHUP (a new KEK file line, a token key), as the vault
/// does by itself when a key names a KEK it lacks; a keyring that fails its checks leaves
/// the current one in place.
fn reload_on_hangup(vault: &Vault) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangup) = signal(SignalKind::hangup()) else {
            tracing::warn!("SIGHUP cannot be caught: the keyring is re-read only on demand");
            return;
        };
        let vault = vault.clone();
        tokio::spawn(async move {
            while hangup.recv().await.is_some() {
                match vault.reload_keyring().await {
                    Ok(ids) => tracing::info!(kek_ids = ?ids, "keyring re-read (SIGHUP)"),
                    Err(e) => tracing::error!(
                        error = %e,
                        "keyring re-read failed (SIGHUP); the current one stays"
                    ),
                }
            }
        });
    }
}

/// The refusal of a download the store failed: 503 `database_unavailable` when the
/// database could not be reached, else the library's answer. (The directory store never
/// gives the former.) The backend's text goes to the log only.
pub(crate) fn store_refusal(error: &Error) -> Refusal {
    if error.kind() == ErrorKind::StoreFailure {
        let cause = std::error::Error::source(error).map_or_else(String::new, |e| e.to_string());
        tracing::warn!(error = %error, cause = %cause, "the store failed");
    }
    if database_unavailable(error) {
        unavailable()
    } else if std::error::Error::source(error)
        .is_some_and(cert_download_vault::is_custody_unavailable)
    {
        custody_unavailable()
    } else {
        Refusal::from(error)
    }
}

impl VaultBackend {
    /// Opens the vault of `--database` and checks `--kek-file` against it; every failure
    /// is one line for the operator (it may name the database's own error: that is never
    /// sent to a client).
    pub async fn open(flags: &VaultFlags) -> Result<Self, String> {
        let Some(spec) = &flags.database else {
            return Err("--database is needed".into());
        };
        let url = cert_download_vault::database_url(spec).map_err(|e| e.to_string())?;
        let url = url.as_str();
        let mut sources: Vec<KekSource> = flags
            .kek_file
            .iter()
            .cloned()
            .map(KekSource::File)
            .collect();
        for kek in &flags.kek {
            sources.push(KekSource::parse(kek).map_err(|e| e.to_string())?);
        }
        if sources.is_empty() {
            return Err("--database needs --kek-file FILE or --kek URI-OR-FILE".into());
        }
        // A token that does not answer, a wrong PIN or object, is refused here.
        let keyring = Keyring::from_sources(&sources).map_err(|e| e.to_string())?;
        let options = VaultOptions::default()
            .max_connections(flags.db_max_connections)
            .acquire_timeout(flags.db_acquire_timeout)
            .insecure_database_transport(flags.insecure_database_transport);
        let bound = flags.db_acquire_timeout + flags.db_timeout;
        let vault = match tokio::time::timeout(bound, Vault::connect(url, keyring, options)).await {
            Ok(Ok(vault)) => vault,
            Ok(Err(e)) if e.is_unavailable() => {
                return Err(format!(
                    "the vault database {} cannot be reached (waited {:?}, \
                     --db-acquire-timeout): {e}",
                    shown(url),
                    flags.db_acquire_timeout
                ));
            }
            Ok(Err(e)) => return Err(format!("the vault database {}: {e}", shown(url))),
            Err(_) => {
                return Err(format!(
                    "the vault database {} did not answer within {bound:?}",
                    shown(url)
                ));
            }
        };
        // The audit trail is a barrier only if this role cannot change it.
        if let Err(e) = vault.check_service_role().await {
            return Err(format!("the vault database {}: {e}", shown(url)));
        }
        reload_on_hangup(&vault);
        let instance = flags
            .instance
            .clone()
            .unwrap_or_else(|| format!("{} pid {}", host_name(), std::process::id()));
        tracing::info!(
            database = %shown(url),
            %instance,
            max_connections = flags.db_max_connections,
            acquire_timeout_ms = flags.db_acquire_timeout.as_millis() as u64,
            timeout_ms = flags.db_timeout.as_millis() as u64,
            "vault opened"
        );
        if !flags.audit_checkpoint_secs.is_zero() && vault.audit_public_key().is_none() {
            return Err(format!(
                "the vault database {} has no audit signing key to sign checkpoints with: \
                 run `cert-download-vault init` (or --audit-checkpoint-secs 0)",
                shown(url)
            ));
        }
        Ok(Self {
            vault,
            instance,
            timeout: flags.db_timeout,
            checkpoint_every: flags.audit_checkpoint_secs,
            checkpoint_file: flags.audit_checkpoint_file.clone(),
        })
    }

    /// Signs a checkpoint of every audit chain now (into the database, and the checkpoint
    /// file if any). A failure is logged: the downloads go on, and the next checkpoint
    /// vouches for everything this one would have.
    pub async fn checkpoint(&self) {
        if self.checkpoint_every.is_zero() {
            return;
        }
        let made =
            tokio::time::timeout(self.timeout, self.vault.audit_checkpoint(&self.instance)).await;
        let checkpoint = match made {
            Ok(Ok(checkpoint)) => checkpoint,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "audit checkpoint not written");
                return;
            }
            Err(_) => {
                tracing::warn!(error = %TimedOut, "audit checkpoint not written");
                return;
            }
        };
        if let Some(file) = &self.checkpoint_file {
            let line = format!("{}\n", checkpoint.to_line());
            let appended = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(file)
                .and_then(|mut f| std::io::Write::write_all(&mut f, line.as_bytes()));
            if let Err(e) = appended {
                tracing::warn!(file = %file.display(), error = %e, "audit checkpoint not appended to the file");
            }
        }
        tracing::info!(
            writers = checkpoint.writers.len(),
            at_ms = checkpoint.at_ms,
            "audit checkpoint signed"
        );
    }

    /// Signs a checkpoint every `--audit-checkpoint-secs` until dropped (spawn it; abort it
    /// at shutdown, then sign the last one with [`checkpoint`](Self::checkpoint)).
    pub async fn checkpoint_every(self) {
        if self.checkpoint_every.is_zero() {
            return;
        }
        let mut every = tokio::time::interval(self.checkpoint_every);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        every.tick().await;
        loop {
            every.tick().await;
            self.checkpoint().await;
        }
    }

    /// The caller that `token` names, looked up in the database now: `Ok(None)` for an
    /// unknown, expired or revoked token; a 503 (or 500) when the database cannot say.
    pub(crate) async fn caller(&self, token: &str) -> Result<Option<VaultCaller>, Refusal> {
        self.looked_up("token", self.vault.caller(token)).await
    }

    /// The caller that a verified client certificate of SHA-256 `fingerprint` names,
    /// looked up in the database now (`principal add-cert`): `Ok(None)` for one not (or no
    /// longer) registered; a 503 (or 500) when the database cannot say.
    pub(crate) async fn caller_by_certificate(
        &self,
        fingerprint: &[u8; 32],
    ) -> Result<Option<VaultCaller>, Refusal> {
        self.looked_up(
            "client certificate",
            self.vault.caller_by_client_certificate(fingerprint),
        )
        .await
    }

    /// A caller lookup within `--db-timeout`, its failures as refusals.
    async fn looked_up(
        &self,
        what: &'static str,
        lookup: impl std::future::Future<Output = Result<VaultStore, cert_download_vault::VaultError>>,
    ) -> Result<Option<VaultCaller>, Refusal> {
        let looked_up = tokio::time::timeout(self.timeout, lookup).await;
        match looked_up {
            Ok(Ok(store)) if store.principal().is_some() => Ok(Some(VaultCaller {
                timeout: self.timeout,
                store,
            })),
            Ok(Ok(_)) => Ok(None),
            Ok(Err(e)) if e.is_unavailable() => {
                tracing::warn!(error = %e, "{what} lookup failed: the database is unavailable");
                Err(unavailable())
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "{what} lookup failed");
                Err(Refusal::from(&Error::from(ErrorKind::StoreFailure)))
            }
            Err(_) => {
                tracing::warn!(
                    "{what} lookup failed: the database did not answer within --db-timeout"
                );
                Err(unavailable())
            }
        }
    }

    /// Writes the audit row of a download that reached the store, then lets its outcome
    /// go; a 200 whose row cannot be written becomes 503 `audit_unavailable` (nothing of
    /// it leaves). A refusal is sent whether or not its row was written.
    pub(crate) async fn record(
        &self,
        client: Client,
        principal: &str,
        credential: Option<&'static str>,
        asked: Asked,
        pfx_encryption: Option<PfxEncryption>,
        outcome: Result<DownloadResponse, Refusal>,
    ) -> Result<DownloadResponse, Refusal> {
        let Asked {
            id,
            format,
            with_key,
            key_delivery,
            recipient_sha256,
        } = asked;
        let (status, error) = match &outcome {
            Ok(_) => (StatusCode::OK, None),
            Err(refusal) => (refusal.status, Some(refusal.code.to_owned())),
        };
        let entry = AuditEntry {
            principal: Some(principal.to_owned()),
            certificate_id: i64::try_from(id.get()).ok(),
            format: Some(format.as_str().to_owned()),
            key_out: with_key && status == StatusCode::OK,
            status: status.as_u16(),
            error,
            client: Some(client.shown()),
            peer: Some(client.peer.to_string()),
            pfx_encryption: pfx_encryption.map(|p| p.as_str().to_owned()),
            instance: Some(self.instance.clone()),
            key_delivery: key_delivery.map(|k| k.as_str().to_owned()),
            recipient_sha256,
            credential: credential.map(str::to_owned),
            ..AuditEntry::default()
        };
        let started = std::time::Instant::now();
        let written = tokio::time::timeout(self.timeout, self.vault.record_audit(&entry)).await;
        if let Some(metrics) = crate::metrics::get() {
            metrics.audit_written(matches!(written, Ok(Ok(()))), started.elapsed());
        }
        let why = match written {
            Ok(Ok(())) => return outcome,
            Ok(Err(e)) => e.to_string(),
            Err(_) => TimedOut.to_string(),
        };
        if outcome.is_err() {
            tracing::warn!(
                error = %why,
                status = status.as_u16(),
                "audit row not written; the refusal is sent"
            );
            return outcome;
        }
        tracing::error!(
            error = %why,
            id = id.get(),
            "audit row not written: the download is withheld (503)"
        );
        drop(outcome);
        Err(Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "audit_unavailable",
            "the download could not be recorded in the audit trail, so nothing was sent; try again",
        )
        .retry_after(RETRY_AFTER))
    }
}

/// An authenticated caller of the vault.
#[derive(Debug)]
pub(crate) struct VaultCaller {
    timeout: Duration,
    store: VaultStore,
}

impl VaultCaller {
    pub(crate) fn principal(&self) -> &str {
        self.store.principal().unwrap_or("-")
    }

    /// Reads the record (and key) through the caller's grants, within `--db-timeout`.
    pub(crate) async fn prepare(&self, request: DownloadRequest) -> Result<Prepared, Error> {
        let id = request.id();
        tokio::time::timeout(self.timeout, prepare_async(request, &self.store))
            .await
            .unwrap_or_else(|_| Err(StoreError::backend(TimedOut).into_error(id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(
            shown("postgres://svc:s3cret@db:5432/vault"),
            "postgres host db port 5432 database vault user svc"
        );
        assert_eq!(
            shown("postgres://svc@db/vault?password=s3cret&sslmode=verify-full"),
            "postgres host db port 5432 database vault user svc"
        );
        assert_eq!(
            shown("postgres://db/vault?user=svc&password=s3cret"),
            "postgres host db port 5432 database vault user svc"
        );
        assert_eq!(shown("sqlite:///var/vault.db"), "sqlite /var/vault.db");
        assert!(!shown("postgres://svc:s3cret@db:notaport/v?password=s3cret").contains("s3cret"));
    }

    #[test]
    fn an_unreachable_database_is_503_and_a_broken_record_500() {
        let id = cert_download::CertificateId::new(7).unwrap();
        let refusal = |e: StoreError| store_refusal(&e.into_error(id));
        for unavailable in [
            refusal(StoreError::backend(TimedOut)),
            refusal(StoreError::backend(sqlx::Error::PoolTimedOut)),
            refusal(StoreError::backend(sqlx::Error::Io(std::io::Error::from(
                std::io::ErrorKind::ConnectionReset,
            )))),
        ] {
            assert_eq!(
                (unavailable.status.as_u16(), unavailable.code),
                (503, "database_unavailable")
            );
            assert!(
                unavailable
                    .into_response()
                    .headers()
                    .contains_key("retry-after")
            );
        }
        for broken in [
            refusal(StoreError::backend(sqlx::Error::RowNotFound)),
            refusal(StoreError::backend(std::io::Error::other(
                "a sealed key did not open",
            ))),
        ] {
            assert_eq!(
                (broken.status.as_u16(), broken.code),
                (500, "store_failure")
            );
        }
        let forbidden = refusal(StoreError::KeyExportForbidden);
        assert_eq!(
            (forbidden.status.as_u16(), forbidden.code),
            (403, "key_export_forbidden")
        );
    }
}
