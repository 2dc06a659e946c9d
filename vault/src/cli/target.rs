//! Which vault a subcommand works on (`--database`, `--kek-file`), how it is opened (with
//! the KEKs, or without them for what needs none), and the JSON error object.

use std::path::PathBuf;

use cert_download_vault::{KekFileError, KekSource, Keyring, Vault, VaultError, VaultOptions};
use clap::Args;
use zeroize::Zeroizing;

/// The database argument of every subcommand.
#[derive(Args, Debug)]
pub(crate) struct Database {
    /// The database: sqlite://FILE or postgres://USER@HOST:PORT/DB; or env:NAME (the URL in
    /// that environment variable) or file:PATH (in that file, mode 0600), to keep a
    /// password out of `ps`. PostgreSQL's PGPASSFILE works too.
    // `Option` only so that `grant list` parses beside `grant`: it is required.
    #[arg(
        long,
        value_name = "URL",
        env = "CERT_DOWNLOAD_DATABASE_URL",
        hide_env_values = true,
        required = true
    )]
    pub(crate) database: Option<String>,
    /// Allow a postgres:// URL whose host is not loopback or a Unix socket without
    /// sslmode=verify-full (only on a link protected otherwise)
    #[arg(long)]
    pub(crate) insecure_database_transport: bool,
}

impl Database {
    /// The admin command's pool: two connections, and the transport rule as asked.
    pub(crate) fn options(&self) -> VaultOptions {
        VaultOptions::default()
            .max_connections(2)
            .insecure_database_transport(self.insecure_database_transport)
    }

    /// The URL, read from where `--database` says.
    pub(crate) fn url(&self) -> Result<Zeroizing<String>, Failure> {
        let spec = self
            .database
            .as_deref()
            .ok_or_else(|| failure("usage", "--database is required"))?;
        Ok(cert_download_vault::database_url(spec)?)
    }
}

/// A subcommand that needs no KEK; given `--kek-file`, it checks the file all the same.
#[derive(Args, Debug)]
pub(crate) struct Target {
    #[command(flatten)]
    pub(crate) database: Database,
    /// The KEK file: not needed here; if given, checked against the vault.
    #[arg(long, value_name = "FILE")]
    pub(crate) kek_file: Option<PathBuf>,
    /// KEK sources (files or `pkcs11:` URIs): not needed here; if given, checked against
    /// the vault.
    #[arg(long, value_name = "URI-OR-FILE")]
    pub(crate) kek: Vec<String>,
}

impl Target {
    pub(crate) async fn open(&self) -> Result<Vault, Failure> {
        let url = self.database.url()?;
        if self.kek_file.is_none() && self.kek.is_empty() {
            return Ok(Vault::connect_without_keks(&url, self.database.options()).await?);
        }
        let keyring = keyring_of(self.kek_file.as_ref(), &self.kek)?;
        Ok(Vault::connect(&url, keyring, self.database.options()).await?)
    }
}

/// The keyring of a KEK file and KEK sources, oldest first.
fn keyring_of(kek_file: Option<&PathBuf>, keks: &[String]) -> Result<Keyring, Failure> {
    let mut sources: Vec<KekSource> = kek_file.cloned().map(KekSource::File).into_iter().collect();
    for kek in keks {
        sources.push(KekSource::parse(kek).map_err(VaultError::from)?);
    }
    Keyring::from_sources(&sources).map_err(|e| VaultError::from(e).into())
}

/// A subcommand that needs the KEKs.
#[derive(Args, Debug)]
pub(crate) struct KekTarget {
    #[command(flatten)]
    pub(crate) database: Database,
    /// The KEK file (mode 0600; `kek new` makes one): the same as `--kek FILE`, first.
    #[arg(long, value_name = "FILE", required_unless_present = "kek")]
    pub(crate) kek_file: Option<PathBuf>,
    /// A KEK source, oldest first (repeat it: `--kek OLD-FILE --kek 'pkcs11:...'`): a KEK
    /// file, or a key in a PKCS#11 token,
    /// `pkcs11:token=LABEL;object=KEK-ID?pin-source=file:/PIN/FILE&module-path=/MODULE.so`.
    #[arg(long, value_name = "URI-OR-FILE")]
    pub(crate) kek: Vec<String>,
}

impl KekTarget {
    /// The keyring of `--kek-file` and every `--kek`, oldest first.
    pub(crate) fn keyring(&self) -> Result<Keyring, Failure> {
        keyring_of(self.kek_file.as_ref(), &self.kek)
    }

    pub(crate) async fn open(&self) -> Result<Vault, Failure> {
        let url = self.database.url()?;
        Ok(Vault::connect(&url, self.keyring()?, self.database.options()).await?)
    }
}

/// A failure: the JSON error object's code and message.
pub(crate) struct Failure {
    pub(crate) code: &'static str,
    pub(crate) message: String,
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

pub(crate) fn failure(code: &'static str, message: impl Into<String>) -> Failure {
    Failure {
        code,
        message: message.into(),
    }
}

/// Certificate ids from the command line.
pub(crate) fn ids(ids: &[u64]) -> Result<Vec<cert_download::CertificateId>, Failure> {
    ids.iter().map(|&n| id(n)).collect()
}

/// A certificate id from the command line.
pub(crate) fn id(n: u64) -> Result<cert_download::CertificateId, Failure> {
    cert_download::CertificateId::new(n).ok_or_else(|| {
        failure(
            "invalid_argument",
            format!("{n} is not an id (1 to 2^63-1)"),
        )
    })
}
