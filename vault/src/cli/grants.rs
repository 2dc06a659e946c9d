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
            // Printed from the wiped buffer, not through a JSON value (a plain copy).
            let line = cert_download::Zeroizing::new(
                serde_json::to_string(&token).map_err(|e| failure("internal", e.to_string()))?,
            );
            println!("{}", line.as_str());
            Ok(Value::Null)
        }
        TokenCommand::List { target, principal } => {
            let vault = target.open().await?;
            let mut lines = String::new();
            for token in vault.tokens(&principal).await? {
                lines.push_str(&json!(token).to_string());
                lines.push('\n');
            }
            print!("{lines}");
            Ok(Value::Null)
        }
        TokenCommand::Revoke {
            target,
            token,
            id,
            principal,
        } => {
            if let Some(principal) = principal {
                let vault = target.open().await?;
                let revoked = vault.revoke_principal_tokens(&principal).await?;
                return Ok(json!({"principal": principal, "revoked": revoked}));
            }
            if let Some(id) = id {
                let vault = target.open().await?;
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
            let vault = target.open().await?;
            let newly = vault.revoke_token(&token).await?;
            Ok(json!({"revoked": true, "already_revoked": !newly}))
        }
    }
}
