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
//!   not write to the shared database.
//! - **Revocation**: the token is looked up in the database on every request, and each
//!   store call checks it again (no cache): a token revoked by `cert-download-vault token
//!   revoke` is refused by every instance from the next request on.
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
use axum::response::Response;
use cert_download::{
    CertificateId, DownloadRequest, Error, ErrorKind, Format, Prepared, StoreError, prepare_async,
};
use cert_download_vault::{AuditEntry, Keyring, Vault, VaultOptions, VaultStore};

use crate::errors::{ErrorCode, http_error, library_error, retry_after};
use crate::service::Client;

/// How long a client is told to wait before it tries again after a 503.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// The vault's flags, as given (see [`FLAGS`]).
#[derive(Clone, Debug)]
pub(crate) struct VaultArgs {
    pub(crate) url: Option<String>,
    pub(crate) kek_file: Option<PathBuf>,
    pub(crate) max_connections: u32,
    pub(crate) acquire_timeout: Duration,
    pub(crate) timeout: Duration,
    pub(crate) instance: Option<String>,
}

impl Default for VaultArgs {
    fn default() -> Self {
        Self {
            url: None,
            kek_file: None,
            max_connections: 10,
            acquire_timeout: Duration::from_secs(3),
            timeout: Duration::from_secs(5),
            instance: None,
        }
    }
}

/// `(flag, value, what it sets and its default)`, for the usage text.
pub(crate) const FLAGS: &[(&str, &str, &str)] = &[
    (
        "--database",
        "URL",
        "serve the vault at sqlite://FILE or postgres://... (needs --kek-file)",
    ),
    (
        "--kek-file",
        "FILE",
        "the vault's KEK file (mode 0600; kept apart from the database)",
    ),
    (
        "--db-max-connections",
        "N",
        "database connections of this instance (default 10)",
    ),
    (
        "--db-acquire-timeout",
        "SECS",
        "wait for a free or new connection, then 503 (default 3)",
    ),
    (
        "--db-timeout",
        "SECS",
        "each database step of a request, then 503 (default 5)",
    ),
    (
        "--instance",
        "NAME",
        "this instance's name in audit rows (default: host name and pid)",
    ),
];

fn seconds(flag: &str, value: &str) -> Result<Duration, String> {
    value
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0 && *s <= 3600.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("{flag}: {value:?} is not a number of seconds from 0 to 3600"))
}

impl VaultArgs {
    /// Sets one flag of the vault; `Ok(false)` when `flag` is not one.
    pub(crate) fn set(&mut self, flag: &str, value: &str) -> Result<bool, String> {
        match flag {
            "--database" => self.url = Some(value.to_owned()),
            "--kek-file" => self.kek_file = Some(PathBuf::from(value)),
            "--db-max-connections" => {
                self.max_connections = value
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=10_000).contains(n))
                    .ok_or_else(|| format!("{flag}: {value:?} is not a number from 1 to 10000"))?;
            }
            "--db-acquire-timeout" => self.acquire_timeout = seconds(flag, value)?,
            "--db-timeout" => self.timeout = seconds(flag, value)?,
            "--instance" => {
                if value.is_empty() || value.len() > 128 || value.chars().any(char::is_control) {
                    return Err(format!(
                        "{flag}: {value:?} is not 1 to 128 bytes without control characters"
                    ));
                }
                self.instance = Some(value.to_owned());
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Whether the vault is to be served; an error for vault flags without `--database`
    /// or a database without its KEK file.
    pub(crate) fn wanted(&self) -> Result<bool, String> {
        match (&self.url, &self.kek_file) {
            (Some(_), Some(_)) => Ok(true),
            (Some(_), None) => Err("--database needs --kek-file (the vault's KEK file)".into()),
            (None, Some(_)) => Err("--kek-file goes with --database".into()),
            (None, None) => Ok(false),
        }
    }
}

/// The database URL as it may be logged: without a password.
fn shown(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme && url[scheme + 3..at].contains(':') => {
            let user = url[scheme + 3..at].split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
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
pub(crate) struct VaultBackend {
    vault: Vault,
    instance: String,
    timeout: Duration,
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

fn unavailable() -> Response {
    retry_after(
        http_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
            "the vault's database cannot be reached just now; try again",
        ),
        RETRY_AFTER,
    )
}

/// The response for a download that failed: 503 `database_unavailable` when the database
/// could not be reached, else the library's answer. (The directory store never gives the
/// former.) The backend's text goes to the log only.
pub(crate) fn download_error(error: &Error) -> Response {
    if error.kind() == ErrorKind::StoreFailure {
        let cause = std::error::Error::source(error).map_or_else(String::new, |e| e.to_string());
        tracing::warn!(error = %error, cause = %cause, "the store failed");
    }
    if database_unavailable(error) {
        unavailable()
    } else {
        library_error(error)
    }
}

impl VaultBackend {
    /// Opens the vault and checks the KEK file against it; every failure is one line for
    /// the operator (it may name the database's own error: it is not sent to clients).
    pub(crate) async fn open(args: &VaultArgs) -> Result<Self, String> {
        let (Some(url), Some(kek_file)) = (&args.url, &args.kek_file) else {
            return Err("--database and --kek-file go together".into());
        };
        let keyring = Keyring::load(kek_file).map_err(|e| e.to_string())?;
        let options = VaultOptions::default()
            .max_connections(args.max_connections)
            .acquire_timeout(args.acquire_timeout);
        let bound = args.acquire_timeout + args.timeout;
        let vault = match tokio::time::timeout(bound, Vault::connect(url, keyring, options)).await {
            Ok(Ok(vault)) => vault,
            Ok(Err(e)) if e.is_unavailable() => {
                return Err(format!(
                    "the vault database {} cannot be reached (waited {:?}, \
                     --db-acquire-timeout): {e}",
                    shown(url),
                    args.acquire_timeout
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
        let instance = args
            .instance
            .clone()
            .unwrap_or_else(|| format!("{} pid {}", host_name(), std::process::id()));
        tracing::info!(
            database = %shown(url),
            %instance,
            max_connections = args.max_connections,
            acquire_timeout_ms = args.acquire_timeout.as_millis() as u64,
            timeout_ms = args.timeout.as_millis() as u64,
            "vault opened"
        );
        Ok(Self {
            vault,
            instance,
            timeout: args.timeout,
        })
    }

    /// The caller that `token` names, looked up in the database now: `Ok(None)` for an
    /// unknown, expired or revoked token; `Err` with the 503 (or 500) to send when the
    /// database cannot say.
    pub(crate) async fn authenticate(&self, token: &str) -> Result<Option<VaultCaller>, Response> {
        let looked_up = tokio::time::timeout(self.timeout, self.vault.caller(token)).await;
        match looked_up {
            Ok(Ok(store)) if store.principal().is_some() => Ok(Some(VaultCaller {
                backend: self.clone(),
                store,
            })),
            Ok(Ok(_)) => Ok(None),
            Ok(Err(e)) if e.is_unavailable() => {
                tracing::warn!(error = %e, "token lookup failed: the database is unavailable");
                Err(unavailable())
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "token lookup failed");
                Err(library_error(&Error::from(ErrorKind::StoreFailure)))
            }
            Err(_) => {
                tracing::warn!(
                    "token lookup failed: the database did not answer within --db-timeout"
                );
                Err(unavailable())
            }
        }
    }
}

/// An authenticated caller of the vault.
#[derive(Debug)]
pub(crate) struct VaultCaller {
    backend: VaultBackend,
    store: VaultStore,
}

impl VaultCaller {
    pub(crate) fn principal(&self) -> &str {
        self.store.principal().unwrap_or("-")
    }

    /// Reads the record (and key) through the caller's grants, within `--db-timeout`.
    pub(crate) async fn prepare(&self, request: DownloadRequest) -> Result<Prepared, Error> {
        let id = request.id();
        tokio::time::timeout(self.backend.timeout, prepare_async(request, &self.store))
            .await
            .unwrap_or_else(|_| Err(StoreError::backend(TimedOut).into_error(id)))
    }

    /// Writes the download's audit row, then releases `response`; a 200 whose row cannot
    /// be written is replaced by 503 `audit_unavailable` (nothing of it leaves).
    pub(crate) async fn answer(
        &self,
        client: &Client,
        id: CertificateId,
        format: Format,
        with_key: bool,
        response: Response,
    ) -> Response {
        let status = response.status();
        let entry = AuditEntry {
            principal: Some(self.principal().to_owned()),
            certificate_id: i64::try_from(id.get()).ok(),
            format: Some(format.as_str().to_owned()),
            key_out: with_key && status == StatusCode::OK,
            status: status.as_u16(),
            error: response
                .extensions()
                .get::<ErrorCode>()
                .map(|c| c.0.clone()),
            client: Some(client.0.to_string()),
            instance: Some(self.backend.instance.clone()),
            ..AuditEntry::default()
        };
        let written = tokio::time::timeout(
            self.backend.timeout,
            self.backend.vault.record_audit(&entry),
        )
        .await;
        let why = match written {
            Ok(Ok(())) => return response,
            Ok(Err(e)) => e.to_string(),
            Err(_) => TimedOut.to_string(),
        };
        if status != StatusCode::OK {
            tracing::warn!(error = %why, status = status.as_u16(), "audit row not written; the refusal is sent");
            return response;
        }
        tracing::error!(error = %why, id = id.get(), "audit row not written: the download is withheld (503)");
        drop(response);
        retry_after(
            http_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "audit_unavailable",
                "the download could not be recorded in the audit trail, so nothing was sent; try again",
            ),
            RETRY_AFTER,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(
            shown("postgres://svc:s3cret@db:5432/vault"),
            "postgres://svc:***@db:5432/vault"
        );
        assert_eq!(shown("sqlite:///var/vault.db"), "sqlite:///var/vault.db");
        assert_eq!(shown("postgres://svc@db/vault"), "postgres://svc@db/vault");
    }

    fn status_and_code(response: &Response) -> (u16, String) {
        let code = response.extensions().get::<ErrorCode>().unwrap().0.clone();
        (response.status().as_u16(), code)
    }

    #[test]
    fn an_unreachable_database_is_503_and_a_broken_record_500() {
        let id = CertificateId::new(7).unwrap();
        let error = |e: StoreError| download_error(&e.into_error(id));
        for unavailable in [
            error(StoreError::backend(TimedOut)),
            error(StoreError::backend(sqlx::Error::PoolTimedOut)),
            error(StoreError::backend(sqlx::Error::Io(std::io::Error::from(
                std::io::ErrorKind::ConnectionReset,
            )))),
        ] {
            assert_eq!(
                status_and_code(&unavailable),
                (503, "database_unavailable".into())
            );
            assert!(unavailable.headers().contains_key("retry-after"));
        }
        for broken in [
            error(StoreError::backend(sqlx::Error::RowNotFound)),
            error(StoreError::backend(std::io::Error::other(
                "a sealed key did not open",
            ))),
        ] {
            assert_eq!(status_and_code(&broken), (500, "store_failure".into()));
        }
        assert_eq!(
            status_and_code(&error(StoreError::KeyExportForbidden)),
            (403, "key_export_forbidden".into())
        );
    }

    #[test]
    fn flags_go_together() {
        let mut args = VaultArgs::default();
        assert_eq!(args.wanted(), Ok(false));
        args.set("--kek-file", "k").unwrap();
        assert!(args.wanted().is_err());
        args.set("--database", "sqlite://v.db").unwrap();
        assert_eq!(args.wanted(), Ok(true));
        assert!(args.set("--db-timeout", "0").is_err());
        assert!(args.set("--db-max-connections", "0").is_err());
        assert_eq!(args.set("--store", "x"), Ok(false));
    }
}
