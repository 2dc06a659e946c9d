//! `cert-download-vault`: the vault's admin command. Every step is idempotent and prints one
//! JSON object on standard output (`audit`: one JSON object per line); on failure a JSON
//! object `{"error": CODE, "message": TEXT}` and a non-zero exit.
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use cert_download::{CertificateId, CertificateStore, DirectoryStore, StoreError};
use cert_download_vault::{
    AuditFilter, ImportOutcome, KekFileError, Keyring, Permission, Scope, Vault, VaultError,
    VaultOptions,
};
use clap::{Args, Parser, Subcommand};
use serde_json::{Value, json};

/// Administers a cert-download vault: certificates and sealed keys in SQLite or
/// PostgreSQL, grants, tokens, the audit trail.
#[derive(Parser, Debug)]
#[command(name = "cert-download-vault", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Debug)]
struct Target {
    /// The database: sqlite://FILE or postgres://USER@HOST:PORT/DB.
    #[arg(long, value_name = "URL")]
    database: String,
    /// The KEK file (mode 0600; `kek new` makes one).
    #[arg(long, value_name = "FILE")]
    kek_file: PathBuf,
    /// Allow a postgres:// URL whose host is not loopback or a Unix socket without
    /// sslmode=verify-full (only on a link protected otherwise)
    #[arg(long)]
    insecure_database_transport: bool,
}

impl Target {
    fn options(&self) -> VaultOptions {
        VaultOptions::default()
            .max_connections(2)
            .insecure_database_transport(self.insecure_database_transport)
    }
}

#[derive(Args, Debug)]
struct GrantArgs {
    #[command(flatten)]
    target: Target,
    /// The principal (created if new).
    principal: String,
    /// Reading the certificates and their chains.
    #[arg(long, required_unless_present = "export")]
    read: bool,
    /// Exporting their private keys (a key goes out only with read as well).
    #[arg(long)]
    export: bool,
    /// Every certificate, present and future (revoke: every grant of that permission).
    #[arg(long, conflicts_with = "ids")]
    all: bool,
    /// These certificate ids.
    #[arg(required_unless_present = "all")]
    ids: Vec<u64>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Creates or upgrades the schema and stores the KEK check values.
    Init {
        #[command(flatten)]
        target: Target,
    },
    /// Imports a DirectoryStore tree (<DIR>/<id>/cert.pem, chain.pem, key.pem), each record
    /// checked by cert-download's checks and stored in one transaction.
    Import {
        #[command(flatten)]
        target: Target,
        /// The directory.
        dir: PathBuf,
    },
    /// Grants read or key export on certificates to a principal.
    Grant(GrantArgs),
    /// Takes grants away (the same arguments as grant).
    Revoke(GrantArgs),
    /// Bearer tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Rewraps every data key under the newest KEK of the file; resumable.
    Rekey {
        #[command(flatten)]
        target: Target,
        /// Rows read per batch (each row is updated on its own).
        #[arg(long, default_value_t = 500)]
        batch: u32,
    },
    /// Lists audit rows as JSON lines, oldest first.
    Audit {
        #[command(flatten)]
        target: Target,
        /// From this time (RFC 3339 in UTC, e.g. 2026-12-03T13:00:00Z, or unix seconds).
        #[arg(long)]
        since: Option<String>,
        /// Before this time (same forms).
        #[arg(long)]
        until: Option<String>,
        /// Only this principal.
        #[arg(long)]
        principal: Option<String>,
        /// Only this certificate id.
        #[arg(long)]
        id: Option<i64>,
    },
    /// KEK files.
    #[command(subcommand)]
    Kek(KekCommand),
}

#[derive(Subcommand, Debug)]
enum TokenCommand {
    /// Creates a token; prints it once ({"token": ...}); only its SHA-256 is stored.
    Create {
        #[command(flatten)]
        target: Target,
        /// The principal (created if new).
        principal: String,
        /// Seconds until it expires (default: never).
        #[arg(long, value_name = "SECS")]
        expires_in: Option<u64>,
    },
    /// Lists the tokens of a principal: ids, creation, expiry, revocation and last use
    /// (unix seconds), one JSON object per line; never a token or its hash.
    List {
        #[command(flatten)]
        target: Target,
        /// The principal.
        principal: String,
    },
    /// Revokes a token given as itself (`-`: read it from standard input, so it stays out
    /// of `ps`), by its id (`--id`, from `token list`), or every token of a principal
    /// (`--principal`).
    #[command(group(clap::ArgGroup::new("which").required(true).args(["token", "id", "principal"])))]
    Revoke {
        #[command(flatten)]
        target: Target,
        /// The token, or `-`.
        token: Option<String>,
        /// The token's id.
        #[arg(long, value_name = "ID")]
        id: Option<String>,
        /// Every token of this principal.
        #[arg(long, value_name = "PRINCIPAL")]
        principal: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
enum KekCommand {
    /// Writes a new KEK file with one fresh KEK (mode 0600); `--rotate` appends a fresh KEK
    /// to an existing file instead (then run `rekey`).
    New {
        /// The file.
        file: PathBuf,
        /// Append to an existing file.
        #[arg(long)]
        rotate: bool,
    },
}

/// A failure: the JSON error object's code and message.
struct Failure {
    code: &'static str,
    message: String,
}

impl From<VaultError> for Failure {
    fn from(e: VaultError) -> Self {
        Failure {
            code: e.code(),
            message: e.to_string(),
        }
    }
}

impl From<KekFileError> for Failure {
    fn from(e: KekFileError) -> Self {
        VaultError::from(e).into()
    }
}

fn failure(code: &'static str, message: impl Into<String>) -> Failure {
    Failure {
        code,
        message: message.into(),
    }
}

async fn open(target: &Target) -> Result<Vault, Failure> {
    let keyring = Keyring::load(&target.kek_file)?;
    Ok(Vault::connect(&target.database, keyring, target.options()).await?)
}

fn ids(ids: &[u64]) -> Result<Vec<CertificateId>, Failure> {
    ids.iter()
        .map(|&n| {
            CertificateId::new(n).ok_or_else(|| {
                failure(
                    "invalid_argument",
                    format!("{n} is not an id (1 to 2^63-1)"),
                )
            })
        })
        .collect()
}

fn permissions(args: &GrantArgs) -> Vec<Permission> {
    let mut out = Vec::new();
    if args.read {
        out.push(Permission::Read);
    }
    if args.export {
        out.push(Permission::ExportKey);
    }
    out
}

async fn grant_or_revoke(args: &GrantArgs, grant: bool) -> Result<Value, Failure> {
    let vault = open(&args.target).await?;
    let scope = if args.all {
        Scope::All
    } else {
        Scope::Ids(ids(&args.ids)?)
    };
    let mut changed = 0;
    for permission in permissions(args) {
        changed += if grant {
            vault.grant(&args.principal, permission, &scope).await?
        } else {
            vault.revoke(&args.principal, permission, &scope).await?
        };
    }
    let key = if grant { "added" } else { "removed" };
    Ok(json!({
        "principal": args.principal,
        "permissions": permissions(args),
        "all": args.all,
        "ids": args.ids,
        key: changed,
    }))
}

/// The record ids of a DirectoryStore tree: its directories named by an id, ascending.
fn record_ids(dir: &Path) -> Result<Vec<CertificateId>, Failure> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| failure("io", format!("{}: {e}", dir.display())))?;
    let mut ids = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| failure("io", format!("{}: {e}", dir.display())))?;
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        let id = entry
            .file_name()
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse::<u64>().ok())
            .and_then(CertificateId::new);
        if let (true, Some(id)) = (is_dir, id) {
            ids.push(id);
        }
    }
    ids.sort_unstable_by_key(|id| id.get());
    Ok(ids)
}

async fn import(target: &Target, dir: &Path) -> Result<Value, Failure> {
    let vault = open(target).await?;
    let store = DirectoryStore::new(dir);
    let (mut inserted, mut replaced, mut unchanged, mut rejected) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for id in record_ids(dir)? {
        let reject = |error: cert_download::Error| json!({"id": id.get(), "error": error.code(), "message": error.to_string()});
        let record = match store.certificate(id) {
            Ok(record) => record,
            Err(e) => {
                rejected.push(reject(e.into_error(id)));
                continue;
            }
        };
        let key = match store.private_key(id) {
            Ok(key) => Some(cert_download::Zeroizing::new(key)),
            Err(StoreError::KeyNotFound) => None,
            Err(e) => {
                rejected.push(reject(e.into_error(id)));
                continue;
            }
        };
        match vault.import(id, &record, key.as_deref()).await {
            Ok(ImportOutcome::Inserted) => inserted.push(id.get()),
            Ok(ImportOutcome::Replaced) => replaced.push(id.get()),
            Ok(ImportOutcome::Unchanged) => unchanged.push(id.get()),
            Err(VaultError::Rejected { reason, .. }) => rejected.push(reject(reason)),
            Err(e) => return Err(e.into()),
        }
    }
    let mut out = json!({
        "inserted": inserted,
        "replaced": replaced,
        "unchanged": unchanged,
        "rejected": rejected,
    });
    if !rejected.is_empty() {
        out["error"] = json!("records_rejected");
        out["message"] = json!(format!(
            "{} records failed the checks and were not stored; the others are",
            rejected.len()
        ));
    }
    Ok(out)
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// RFC 3339 in UTC with milliseconds.
fn rfc3339(ms: i64) -> String {
    let (secs, milli) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{milli:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Unix seconds, or `YYYY-MM-DDTHH:MM:SS[.fff]Z`, as unix milliseconds.
fn parse_time(text: &str) -> Result<i64, Failure> {
    let bad = || {
        failure(
            "invalid_argument",
            format!("{text:?} is not a time: use unix seconds or 2026-12-03T13:00:00Z"),
        )
    };
    if let Ok(secs) = text.parse::<i64>() {
        return secs.checked_mul(1000).ok_or_else(bad);
    }
    let t = text.strip_suffix('Z').ok_or_else(bad)?;
    let (date, time) = t.split_once('T').ok_or_else(bad)?;
    let num = |s: &str| s.parse::<i64>().map_err(|_| bad());
    let date: Vec<&str> = date.split('-').collect();
    let (time, frac) = time.split_once('.').unwrap_or((time, ""));
    let time: Vec<&str> = time.split(':').collect();
    let ([y, mo, d], [h, mi, s]) = (date.as_slice(), time.as_slice()) else {
        return Err(bad());
    };
    let (y, mo, d, h, mi, s) = (num(y)?, num(mo)?, num(d)?, num(h)?, num(mi)?, num(s)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return Err(bad());
    }
    let milli = if frac.is_empty() {
        0
    } else {
        let digits: String = frac.chars().chain("000".chars()).take(3).collect();
        num(&digits)?
    };
    Ok(((days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s) * 1000) + milli)
}

async fn run(cli: Cli) -> Result<Value, Failure> {
    match cli.command {
        Command::Init { target } => {
            let keyring = Keyring::load(&target.kek_file)?;
            let ids: Vec<String> = keyring.ids().map(str::to_owned).collect();
            let vault = Vault::init(&target.database, keyring, target.options()).await?;
            let certificates = vault.certificate_ids().await?.len();
            vault.close().await;
            Ok(json!({"initialized": true, "kek_ids": ids, "certificates": certificates}))
        }
        Command::Import { target, dir } => import(&target, &dir).await,
        Command::Grant(args) => grant_or_revoke(&args, true).await,
        Command::Revoke(args) => grant_or_revoke(&args, false).await,
        Command::Token(TokenCommand::Create {
            target,
            principal,
            expires_in,
        }) => {
            let vault = open(&target).await?;
            let token = vault
                .create_token(&principal, expires_in.map(Duration::from_secs))
                .await?;
            // Printed from the wiped buffer, not through a JSON value (a plain copy).
            let line = cert_download::Zeroizing::new(
                serde_json::to_string(&token).map_err(|e| failure("internal", e.to_string()))?,
            );
            println!("{}", line.as_str());
            Ok(Value::Null)
        }
        Command::Token(TokenCommand::List { target, principal }) => {
            let vault = open(&target).await?;
            let mut lines = String::new();
            for token in vault.tokens(&principal).await? {
                lines.push_str(&json!(token).to_string());
                lines.push('\n');
            }
            print!("{lines}");
            Ok(Value::Null)
        }
        Command::Token(TokenCommand::Revoke {
            target,
            token,
            id,
            principal,
        }) => {
            if let Some(principal) = principal {
                let vault = open(&target).await?;
                let revoked = vault.revoke_principal_tokens(&principal).await?;
                return Ok(json!({"principal": principal, "revoked": revoked}));
            }
            if let Some(id) = id {
                let vault = open(&target).await?;
                let newly = vault.revoke_token_id(&id).await?;
                return Ok(json!({"id": id, "revoked": true, "already_revoked": !newly}));
            }
            let token = cert_download::Zeroizing::new(token.unwrap_or_default());
            let token = if token.as_str() == "-" {
                let mut text = cert_download::Zeroizing::new(String::new());
                std::io::stdin()
                    .take(4096)
                    .read_to_string(&mut text)
                    .map_err(|e| failure("io", format!("standard input: {e}")))?;
                cert_download::Zeroizing::new(text.trim().to_owned())
            } else {
                token
            };
            let vault = open(&target).await?;
            let newly = vault.revoke_token(&token).await?;
            Ok(json!({"revoked": true, "already_revoked": !newly}))
        }
        Command::Rekey { target, batch } => {
            let vault = open(&target).await?;
            let report = vault.rekey(batch).await?;
            Ok(json!(report))
        }
        Command::Audit {
            target,
            since,
            until,
            principal,
            id,
        } => {
            let filter = AuditFilter {
                since_ms: since.as_deref().map(parse_time).transpose()?,
                until_ms: until.as_deref().map(parse_time).transpose()?,
                principal,
                certificate_id: id,
            };
            let vault = open(&target).await?;
            let rows = vault.audit(&filter).await?;
            let mut lines = String::new();
            for row in &rows {
                let mut value =
                    serde_json::to_value(row).map_err(|e| failure("internal", e.to_string()))?;
                if let Some(at) = row.entry.at_ms {
                    value["time"] = json!(rfc3339(at));
                }
                lines.push_str(&value.to_string());
                lines.push('\n');
            }
            // JSON lines: printed as they are, not wrapped in one object.
            print!("{lines}");
            Ok(Value::Null)
        }
        Command::Kek(KekCommand::New { file, rotate }) => {
            let kek_id = if rotate {
                Keyring::append_to_file(&file)?
            } else {
                Keyring::create_file(&file)?
            };
            Ok(json!({"kek_file": file.display().to_string(), "kek_id": kek_id, "rotated": rotate}))
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help, --version
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let message = e.to_string();
            let first = message.lines().next().unwrap_or("bad arguments");
            println!(
                "{}",
                json!({"error": "usage", "message": first.trim_start_matches("error: ")})
            );
            eprint!("{message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            println!("{}", json!({"error": "runtime", "message": e.to_string()}));
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(Value::Null) => ExitCode::SUCCESS,
        Ok(value) => {
            println!("{value}");
            if value.get("error").is_some() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(f) => {
            println!("{}", json!({"error": f.code, "message": f.message}));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("0").ok(), Some(0));
        assert_eq!(parse_time("1764768300").ok(), Some(1_764_768_300_000));
        assert_eq!(
            parse_time("2025-12-03T13:25:00Z").ok(),
            Some(1_764_768_300_000)
        );
        assert_eq!(
            parse_time("2025-12-03T13:25:00.5Z").ok(),
            Some(1_764_768_300_500)
        );
        assert_eq!(rfc3339(1_764_768_300_123), "2025-12-03T13:25:00.123Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        for bad in [
            "",
            "yesterday",
            "2025-12-03",
            "2025-13-03T00:00:00Z",
            "2025-12-03T13:25:00",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }
}
