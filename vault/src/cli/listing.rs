//! `principal list`, `principal add-cert` and `principal remove-cert`, `grant list` (under `principal grants` too), `certificate list`,
//! `certificate show` and `certificate delete`: what the vault holds, as JSON, without
//! any KEK. Times the vault stamped are unix seconds (as `token create`'s `expires_at`);
//! a certificate's notAfter is RFC 3339, as the certificate states it.

use cert_download_vault::CertificateSummary;
use clap::Subcommand;
use serde_json::{Value, json};

use super::target::{Failure, Target, failure, id};
use super::times::rfc3339_secs;

#[derive(Subcommand, Debug)]
pub(crate) enum PrincipalCommand {
    /// Every principal with its number of grants and of working tokens, and its client
    /// certificates' fingerprints.
    List {
        #[command(flatten)]
        target: Target,
    },
    /// Registers a client certificate (mTLS) to an existing principal: the SHA-256 of its
    /// DER names the principal when the service verifies it (--client-ca).
    AddCert {
        #[command(flatten)]
        target: Target,
        /// The principal (must exist: a grant or `token create` makes one).
        principal: String,
        /// The certificate, PEM.
        #[arg(value_name = "CERT.pem")]
        certificate: std::path::PathBuf,
    },
    /// Removes a client certificate of a principal: refused from the next request on.
    RemoveCert {
        #[command(flatten)]
        target: Target,
        /// The principal.
        principal: String,
        /// The certificate as a PEM file, or its fingerprint `sha256:<hex>` (as
        /// `principal list` shows it, or with openssl's colons).
        #[arg(value_name = "CERT.pem|sha256:HEX")]
        certificate: String,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum CertificateCommand {
    /// Every certificate: id, subject, issuer, not_after, key present, KEK id (never key
    /// bytes).
    List {
        #[command(flatten)]
        target: Target,
    },
    /// One certificate with its chain.
    Show {
        #[command(flatten)]
        target: Target,
        /// The certificate id.
        id: u64,
    },
    /// Deletes a certificate and its key, for good; the audit trail records it.
    Delete {
        #[command(flatten)]
        target: Target,
        /// The certificate id.
        id: u64,
        /// Confirms: the certificate and its key cannot be brought back (but from a backup).
        #[arg(long)]
        yes: bool,
    },
}

/// `not_after` as RFC 3339.
fn with_time(mut value: Value) -> Value {
    if let Some(secs) = value.get("not_after").and_then(Value::as_i64) {
        value["not_after"] = json!(rfc3339_secs(secs));
    }
    value
}

fn to_json(value: impl serde::Serialize) -> Result<Value, Failure> {
    serde_json::to_value(value).map_err(|e| failure("internal", e.to_string()))
}

pub(crate) async fn principal(command: PrincipalCommand) -> Result<Value, Failure> {
    match command {
        PrincipalCommand::List { target } => {
            let vault = target.open().await?;
            Ok(json!({"principals": to_json(vault.principals().await?)?}))
        }
        PrincipalCommand::AddCert {
            target,
            principal,
            certificate,
        } => {
            let der = read_certificate(&certificate)?;
            let vault = target.open().await?;
            let added = vault.add_client_certificate(&principal, &der).await?;
            Ok(json!({"added": to_json(added)?}))
        }
        PrincipalCommand::RemoveCert {
            target,
            principal,
            certificate,
        } => {
            let fingerprint = if certificate.starts_with("sha256:") {
                cert_download_vault::parse_fingerprint(&certificate).ok_or_else(|| {
                    failure(
                        "invalid_argument",
                        format!("{certificate:?} is not sha256: and 32 bytes of hex"),
                    )
                })?
            } else {
                let der = read_certificate(std::path::Path::new(&certificate))?;
                <sha2::Sha256 as sha2::Digest>::digest(&der).into()
            };
            let vault = target.open().await?;
            vault
                .remove_client_certificate(&principal, &fingerprint)
                .await?;
            Ok(json!({
                "principal": principal,
                "removed": cert_download_vault::fingerprint_text(&fingerprint),
            }))
        }
    }
}

/// The DER of the PEM certificate in `path` (refused if it holds none).
fn read_certificate(path: &std::path::Path) -> Result<Vec<u8>, Failure> {
    use std::io::Read;
    // A certificate is a few kilobytes: read no more than a bound of that.
    let mut pem = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(1 << 20).read_to_end(&mut pem))
        .map_err(|e| failure("io", format!("{}: {e}", path.display())))?;
    cert_download_vault::certificate_from_pem(&pem)
        .map_err(|e| failure(e.code(), format!("{}: {e}", path.display())))
}

/// `grant list [PRINCIPAL]`.
pub(crate) async fn grant_list(target: &Target, principal: Option<&str>) -> Result<Value, Failure> {
    let vault = target.open().await?;
    let grants = to_json(vault.grants(principal).await?)?;
    Ok(json!({"grants": grants}))
}

pub(crate) async fn certificate(command: CertificateCommand) -> Result<Value, Failure> {
    match command {
        CertificateCommand::List { target } => {
            let vault = target.open().await?;
            let list = vault
                .certificates()
                .await?
                .into_iter()
                .map(|c| to_json(c).map(with_time))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(json!({"certificates": list}))
        }
        CertificateCommand::Show { target, id: n } => {
            let id = id(n)?;
            let vault = target.open().await?;
            let detail = vault.certificate(id).await?;
            let issuers: Vec<Value> = detail
                .issuers
                .iter()
                .map(|c: &CertificateSummary| to_json(c).map(with_time))
                .collect::<Result<_, _>>()?;
            let mut value = with_time(to_json(&detail)?);
            value["issuers"] = json!(issuers);
            Ok(value)
        }
        CertificateCommand::Delete { target, id: n, yes } => {
            let id = id(n)?;
            if !yes {
                return Err(failure(
                    "confirmation_needed",
                    format!("deleting certificate {n} and its key is final: run again with --yes"),
                ));
            }
            let vault = target.open().await?;
            vault.delete_certificate(id, &operator()).await?;
            Ok(json!({"deleted": n}))
        }
    }
}

/// Who runs the command, for the audit row of a deletion: the login name, or `unknown`.
fn operator() -> String {
    let user = ["USER", "LOGNAME"]
        .iter()
        .find_map(|name| std::env::var(name).ok())
        .unwrap_or_else(|| "unknown".into());
    format!("cert-download-vault run by {user}")
}
