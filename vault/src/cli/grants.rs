//! `grant`, `revoke` and `token`: who may read or export what, and their bearer tokens.
//! None needs a KEK.

use std::io::Read;
use std::time::Duration;

use cert_download_vault::{Permission, Scope};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::target::{Failure, Target, failure, ids};

/// `grant`: a grant, or `grant list [PRINCIPAL]` (so a principal cannot be named `list`).
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub(crate) struct GrantCommand {
    #[command(subcommand)]
    pub(crate) list: Option<GrantList>,
    #[command(flatten)]
    pub(crate) args: GrantArgs,
}

#[derive(Subcommand, Debug)]
pub(crate) enum GrantList {
    /// Lists the grants, of one principal or of all (no KEK needed).
    List {
        #[command(flatten)]
        target: Target,
        /// Only this principal's.
        principal: Option<String>,
    },
}

#[derive(Args, Debug)]
pub(crate) struct GrantArgs {
    #[command(flatten)]
    target: Target,
    // `Option` only so that `grant list` parses: it is required otherwise.
    /// The principal (created if new).
    #[arg(required = true)]
    principal: Option<String>,
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
pub(crate) enum TokenCommand {
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
    /// Revokes a token (`-`: read it from standard input, so it stays out of `ps`).
    Revoke {
        #[command(flatten)]
        target: Target,
        /// The token, or `-`.
        token: String,
    },
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

pub(crate) async fn grant_or_revoke(args: &GrantArgs, grant: bool) -> Result<Value, Failure> {
    let principal = args
        .principal
        .as_deref()
        .ok_or_else(|| failure("usage", "no principal given"))?;
    let vault = args.target.open().await?;
    let scope = if args.all {
        Scope::All
    } else {
        Scope::Ids(ids(&args.ids)?)
    };
    let mut changed = 0;
    for permission in permissions(args) {
        changed += if grant {
            vault.grant(principal, permission, &scope).await?
        } else {
            vault.revoke(principal, permission, &scope).await?
        };
    }
    let key = if grant { "added" } else { "removed" };
    Ok(json!({
        "principal": principal,
        "permissions": permissions(args),
        "all": args.all,
        "ids": args.ids,
        key: changed,
    }))
}

pub(crate) async fn token(command: TokenCommand) -> Result<Value, Failure> {
    match command {
        TokenCommand::Create {
            target,
            principal,
            expires_in,
        } => {
            let vault = target.open().await?;
            let token = vault
                .create_token(&principal, expires_in.map(Duration::from_secs))
                .await?;
            Ok(json!({
                "token": token.token,
                "principal": token.principal,
                "expires_at": token.expires_at,
            }))
        }
        TokenCommand::Revoke { target, token } => {
            let token = if token == "-" {
                let mut text = String::new();
                std::io::stdin()
                    .take(4096)
                    .read_to_string(&mut text)
                    .map_err(|e| failure("io", format!("standard input: {e}")))?;
                text.trim().to_owned()
            } else {
                token
            };
            let vault = target.open().await?;
            let newly = vault.revoke_token(&token).await?;
            Ok(json!({"revoked": true, "already_revoked": !newly}))
        }
    }
}
