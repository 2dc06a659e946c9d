//! The admin command's arguments (`clap`, derive) and what each subcommand runs. Each
//! concern has its own file: opening the vault and the error object ([`target`]), times
//! ([`times`]), import, grants and tokens, the listings, the KEKs, the audit trail and the
//! backup. `main.rs` only parses, runs and prints.

mod audit;
mod grants;
mod import;
mod keks;
mod listing;
mod target;
mod times;

use clap::{Parser, Subcommand};
use serde_json::{Value, json};

pub(crate) use target::Failure;
use target::{KekTarget, Target};

/// Administers a cert-download vault: certificates and sealed keys in SQLite or
/// PostgreSQL, grants, tokens, the audit trail.
#[derive(Parser, Debug)]
#[command(
    name = "cert-download-vault",
    version,
    after_help = "Need the KEK file (--kek-file): init, import, rekey, kek list, kek retire \
                  (and the service).\n\
                  Need no KEK: grant, revoke, token, audit, principal, certificate, backup; \
                  given --kek-file, they check it against the vault as well.\n\
                  --database takes a URL, env:NAME or file:PATH (mode 0600), or the \
                  CERT_DOWNLOAD_DATABASE_URL variable: keep passwords out of `ps`."
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Creates or upgrades the schema and stores the KEK check values (needs the KEK file).
    Init {
        #[command(flatten)]
        target: KekTarget,
    },
    /// Imports a DirectoryStore tree (<DIR>/<id>/cert.pem, chain.pem, key.pem), each record
    /// checked by cert-download's checks and stored in one transaction (needs the KEK file).
    Import {
        #[command(flatten)]
        target: KekTarget,
        /// The directory.
        dir: std::path::PathBuf,
    },
    /// Grants read or key export on certificates to a principal; `grant list [PRINCIPAL]`
    /// lists the grants (no KEK needed).
    Grant(grants::GrantCommand),
    /// Takes grants away, the same arguments as grant (no KEK needed).
    Revoke(grants::GrantArgs),
    /// Bearer tokens (no KEK needed).
    #[command(subcommand)]
    Token(grants::TokenCommand),
    /// Principals: list, add-cert, remove-cert (no KEK needed).
    #[command(subcommand)]
    Principal(listing::PrincipalCommand),
    /// Certificates: list, show, delete (no KEK needed).
    #[command(subcommand)]
    Certificate(listing::CertificateCommand),
    /// Rewraps every data key under the newest KEK of the file; resumable (needs the KEK
    /// file).
    Rekey {
        #[command(flatten)]
        target: KekTarget,
        /// Rows read per batch (each row is updated on its own).
        #[arg(long, default_value_t = 500)]
        batch: u32,
    },
    /// Lists audit rows as JSON lines, oldest first (no KEK needed).
    Audit(audit::AuditArgs),
    /// KEKs: new, list, retire (each needs the KEK file).
    #[command(subcommand)]
    Kek(keks::KekCommand),
    /// Copies a SQLite vault to a new file, mode 0600, while it runs (no KEK needed; for
    /// PostgreSQL, use pg_dump).
    Backup {
        #[command(flatten)]
        target: Target,
        /// The new file (refused if it exists).
        file: std::path::PathBuf,
    },
}

/// Runs the command: `Ok(Value::Null)` when it printed its own output (JSON lines).
pub(crate) async fn run(cli: Cli) -> Result<Value, Failure> {
    match cli.command {
        Command::Init { target } => {
            let keyring = target.keyring()?;
            let ids: Vec<String> = keyring.ids().map(str::to_owned).collect();
            let url = target.database.url()?;
            let vault =
                cert_download_vault::Vault::init(&url, keyring, target.database.options()).await?;
            let certificates = vault.certificate_ids().await?.len();
            vault.close().await;
            Ok(json!({"initialized": true, "kek_ids": ids, "certificates": certificates}))
        }
        Command::Import { target, dir } => import::import(&target, &dir).await,
        Command::Grant(grants::GrantCommand {
            list: Some(grants::GrantList::List { target, principal }),
            ..
        }) => listing::grant_list(&target, principal.as_deref()).await,
        Command::Grant(command) => grants::grant_or_revoke(&command.args, true).await,
        Command::Revoke(args) => grants::grant_or_revoke(&args, false).await,
        Command::Token(command) => grants::token(command).await,
        Command::Principal(command) => listing::principal(command).await,
        Command::Certificate(command) => listing::certificate(command).await,
        Command::Rekey { target, batch } => {
            let vault = target.open().await?;
            let report = vault.rekey(batch).await?;
            Ok(json!(report))
        }
        Command::Audit(args) => audit::audit(args).await,
        Command::Kek(command) => keks::kek(command).await,
        Command::Backup { target, file } => {
            let vault = target.open().await?;
            vault.backup(&file).await?;
            Ok(json!({"backup": file.display().to_string(), "mode": "0600"}))
        }
    }
}
