//! `kek new`, `kek list` and `kek retire`: the KEK sources (files and token keys) and the
//! vault's use of them. `kek list` and `kek retire` open the vault with its KEKs.

use std::path::PathBuf;

use cert_download_vault::{KekFile, KekSource, Keyring, TokenUri, VaultError};
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
    /// Retires a KEK once nothing needs it: no key (nor the audit's signing key) sealed
    /// under it (run `rekey`), not the newest, not the only one with a check value. A KEK
    /// of a file leaves the file; a KEK in a token (given with `--kek pkcs11:...`) is
    /// destroyed in the token, for good.
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
            let remaining: Vec<String> = vault
                .keyring()?
                .ids()
                .filter(|k| *k != id)
                .map(str::to_owned)
                .collect();
            match holder_of(&target, &id)? {
                Holder::File(file) => vault.retire_kek(&id, &file).await?,
                Holder::Token(uri) => vault.retire_kek(&id, &uri).await?,
            }
            Ok(json!({"retired": id, "kek_ids": remaining}))
        }
    }
}

enum Holder {
    File(KekFile),
    Token(TokenUri),
}

/// Where KEK `id` is kept, among the sources given: the token key of that label, else the
/// KEK file (`--kek-file`, then each `--kek FILE`) that holds it.
fn holder_of(target: &KekTarget, id: &str) -> Result<Holder, Failure> {
    let mut files: Vec<PathBuf> = target.kek_file.iter().cloned().collect();
    for kek in &target.kek {
        match KekSource::parse(kek).map_err(VaultError::from)? {
            KekSource::Token(uri) if uri.object == id => return Ok(Holder::Token(uri)),
            KekSource::Token(_) => {}
            KekSource::File(path) => files.push(path),
        }
    }
    for file in files {
        if Keyring::load(&file)?.contains(id) {
            return Ok(Holder::File(KekFile::new(file)));
        }
    }
    Err(failure(
        "invalid_argument",
        format!("no KEK source given holds KEK {id:?}"),
    ))
}
