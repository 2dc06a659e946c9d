//! `audit`: the trail as JSON lines, filtered; needs no KEK, so whoever audits need not
//! hold the master key.

use cert_download_vault::AuditFilter;
use clap::Args;
use serde_json::{Value, json};

use super::target::{Failure, Target, failure};
use super::times::{parse_time, rfc3339};

#[derive(Args, Debug)]
pub(crate) struct AuditArgs {
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

pub(crate) async fn audit(args: AuditArgs) -> Result<Value, Failure> {
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
