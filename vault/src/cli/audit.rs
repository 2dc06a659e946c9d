//! `audit`: the trail as JSON lines, filtered; `audit verify` and `audit public-key`, the
//! tamper-evident chain checked from the database and the public key alone; `audit
//! checkpoint`, a signed checkpoint now. All but `checkpoint` need no KEK, so whoever audits
//! need not hold the master key.

use std::path::{Path, PathBuf};

use cert_download_vault::{AuditFilter, AuditVerifier, VaultError};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::target::{Database, Failure, KekTarget, Target, failure};
use super::times::{parse_time, rfc3339};

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub(crate) struct AuditArgs {
    #[command(subcommand)]
    action: Option<AuditCommand>,
    #[command(flatten)]
    target: Target,
    /// From this time (RFC 3339, e.g. 2026-12-03T13:00:00Z, or unix seconds).
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
}

#[derive(Subcommand, Debug)]
enum AuditCommand {
    /// Checks every writer's chain and every signed checkpoint with the audit public key
    /// (database only: no KEK). Exit 0 with a JSON summary, or 1 naming the first bad row
    /// of each writer.
    Verify {
        #[command(flatten)]
        database: Database,
        /// The audit public key, as `audit public-key` prints it (base64), or @FILE.
        #[arg(long, value_name = "KEY")]
        public_key: String,
        /// Checkpoint lines kept elsewhere (the service's --audit-checkpoint-file).
        #[arg(long, value_name = "FILE")]
        checkpoints: Option<PathBuf>,
        /// Rows read per query.
        #[arg(long, default_value_t = 1000)]
        page: u32,
    },
    /// Signs a checkpoint of every writer's head now (needs the KEK: the signing key is
    /// sealed under it); prints its JSON line.
    Checkpoint {
        #[command(flatten)]
        target: KekTarget,
        /// Also append the line to this file.
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
    },
    /// Prints the audit public key (database only: no KEK).
    PublicKey {
        #[command(flatten)]
        database: Database,
    },
}

/// The writer name the admin command signs checkpoints as.
const ADMIN_SIGNER: &str = "cert-download-vault";

/// Appends one line to a checkpoint file (created if missing).
fn append_line(file: &Path, line: &str) -> Result<(), Failure> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .map_err(|e| failure("io", format!("{}: {e}", file.display())))?;
    f.write_all(format!("{line}\n").as_bytes())
        .map_err(|e| failure("io", format!("{}: {e}", file.display())))
}

async fn chain(action: AuditCommand) -> Result<Value, Failure> {
    match action {
        AuditCommand::Verify {
            database,
            public_key,
            checkpoints,
            page,
        } => {
            let public_key = match public_key.strip_prefix('@') {
                Some(path) => std::fs::read_to_string(path)
                    .map_err(|e| failure("io", format!("{path}: {e}")))?,
                None => public_key,
            };
            let mut extra = Vec::new();
            if let Some(file) = &checkpoints {
                let text = std::fs::read_to_string(file)
                    .map_err(|e| failure("io", format!("{}: {e}", file.display())))?;
                for (n, line) in text.lines().enumerate() {
                    if !line.trim().is_empty() {
                        extra.push((
                            format!("{} line {}", file.display(), n + 1),
                            line.to_owned(),
                        ));
                    }
                }
            }
            let verifier = AuditVerifier::open(&database.url()?, database.options()).await?;
            let report = verifier.verify(&public_key, &extra, page).await?;
            verifier.close().await;
            let mut value =
                serde_json::to_value(&report).map_err(|e| failure("internal", e.to_string()))?;
            if !report.verified {
                value["error"] = json!("audit_broken");
                value["message"] = json!(format!(
                    "{} problems: the audit trail is not the one that was written",
                    report.problems.len()
                ));
            }
            Ok(value)
        }
        AuditCommand::Checkpoint { target, file } => {
            let vault = target.open().await?;
            let checkpoint = vault.audit_checkpoint(ADMIN_SIGNER).await?;
            vault.close().await;
            if let Some(file) = &file {
                append_line(file, &checkpoint.to_line())?;
            }
            serde_json::to_value(&checkpoint).map_err(|e| failure("internal", e.to_string()))
        }
        AuditCommand::PublicKey { database } => {
            let verifier = AuditVerifier::open(&database.url()?, database.options()).await?;
            let keys = verifier.public_keys().await?;
            verifier.close().await;
            let Some(newest) = keys.first() else {
                return Err(VaultError::NoAuditKey.into());
            };
            Ok(json!({"public_key": newest, "all": keys}))
        }
    }
}

pub(crate) async fn audit(args: AuditArgs) -> Result<Value, Failure> {
    if let Some(action) = args.action {
        return chain(action).await;
    }
    let filter = AuditFilter {
        since_ms: args.since.as_deref().map(parse_time).transpose()?,
        until_ms: args.until.as_deref().map(parse_time).transpose()?,
        principal: args.principal,
        certificate_id: args.id,
    };
    let vault = args.target.open().await?;
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
