//! `kek new`, `kek list` and `kek retire`: the KEK file and the vault's use of it. Each
//! needs the KEK file (`kek list` and `kek retire` open the vault with it).

use std::path::PathBuf;

use cert_download_vault::{KekFile, Keyring};
use clap::Subcommand;
use serde_json::{Value, json};

use super::target::{Failure, KekTarget};

#[derive(Subcommand, Debug)]
pub(crate) enum KekCommand {
    /// Writes a new KEK file with one fresh KEK (mode 0600); `--rotate` appends a fresh KEK
    /// to an existing file instead (then run `rekey`).
    New {
        /// The file.
        file: PathBuf,
        /// Append to an existing file.
        #[arg(long)]
        rotate: bool,
    },
    /// Each KEK of the file (and any the vault knows that the file lacks) with the number
    /// of keys sealed under it.
    List {
        #[command(flatten)]
        target: KekTarget,
    },
    /// Removes a KEK from the file once nothing needs it: no key sealed under it (run
    /// `rekey`), not the newest, not the only one with a check value.
    Retire {
        #[command(flatten)]
        target: KekTarget,
        /// The KEK id.
        id: String,
    },
}

pub(crate) async fn kek(command: KekCommand) -> Result<Value, Failure> {
    match command {
        KekCommand::New { file, rotate } => {
            let kek_id = if rotate {
                Keyring::append_to_file(&file)?
            } else {
                Keyring::create_file(&file)?
            };
            Ok(json!({"kek_file": file.display().to_string(), "kek_id": kek_id, "rotated": rotate}))
        }
        KekCommand::List { target } => {
            let vault = target.open().await?;
            Ok(json!({"keks": vault.kek_usage().await?}))
        }
        KekCommand::Retire { target, id } => {
            let vault = target.open().await?;
            vault
                .retire_kek(&id, &KekFile::new(&target.kek_file))
                .await?;
            let remaining: Vec<String> = target.keyring()?.ids().map(str::to_owned).collect();
            Ok(json!({"retired": id, "kek_ids": remaining}))
        }
    }
}
