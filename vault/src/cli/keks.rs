//! `kek new`, `kek list` and `kek retire`: the KEK file and the vault's use of it. Each
//! needs the KEK file (`kek list` and `kek retire` open the vault with it).

use std::path::PathBuf;

use cert_download_vault::{KekFile, Keyring, TokenUri, VaultError};
use clap::Subcommand;
use serde_json::{Value, json};

use super::target::{Failure, KekTarget, failure};

#[derive(Subcommand, Debug)]
pub(crate) enum KekCommand {
    /// Writes a new KEK file with one fresh KEK (mode 0600); `--rotate` appends a fresh KEK
    /// to an existing file instead (then run `rekey`). `--pkcs11 URI` generates the KEK in
    /// a token instead (AES-256, sensitive, never extractable; refuses to replace a key of
    /// that label); add it with `--kek URI` after the older sources, then run `rekey`.
    New {
        /// The file.
        #[arg(required_unless_present = "pkcs11", conflicts_with = "pkcs11")]
        file: Option<PathBuf>,
        /// The token's key to create: pkcs11:token=LABEL;object=KEK-ID?pin-source=file:PATH.
        #[arg(long, value_name = "URI")]
        pkcs11: Option<String>,
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
        KekCommand::New {
            pkcs11: Some(uri), ..
        } => {
            let uri = TokenUri::parse(&uri).map_err(VaultError::from)?;
            let kek_id = Keyring::generate_in_token(&uri).map_err(VaultError::from)?;
            Ok(json!({"kek_uri": uri.to_string(), "kek_id": kek_id}))
        }
        KekCommand::New { file, rotate, .. } => {
            let file = file.ok_or_else(|| failure("invalid_argument", "name the KEK file"))?;
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
                .retire_kek(&id, &KekFile::new(retire_file(&target)?))
                .await?;
            let remaining: Vec<String> = target.keyring()?.ids().map(str::to_owned).collect();
            Ok(json!({"retired": id, "kek_ids": remaining}))
        }
    }
}

/// `kek retire` rewrites a KEK file: the one `--kek-file` names (a token's key is destroyed
/// with the token's own tools for now).
fn retire_file(target: &KekTarget) -> Result<&std::path::Path, Failure> {
    target.kek_file.as_deref().ok_or_else(|| {
        failure(
            "invalid_argument",
            "kek retire works on the KEK file given with --kek-file",
        )
    })
}
