//! `import`: a DirectoryStore tree into the vault, each record checked; needs the KEKs.

use std::path::Path;

use cert_download::{CertificateId, CertificateStore, DirectoryStore, StoreError};
use cert_download_vault::{ImportOutcome, VaultError};
use serde_json::{Value, json};

use super::target::{Failure, KekTarget, failure};

/// The record ids of a DirectoryStore tree: its directories named by an id, ascending.
fn record_ids(dir: &Path) -> Result<Vec<CertificateId>, Failure> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| failure("io", format!("{}: {e}", dir.display())))?;
    let mut ids = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| failure("io", format!("{}: {e}", dir.display())))?;
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        let id = entry
            .file_name()
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse::<u64>().ok())
            .and_then(CertificateId::new);
        if let (true, Some(id)) = (is_dir, id) {
            ids.push(id);
        }
    }
    ids.sort_unstable_by_key(|id| id.get());
    Ok(ids)
}

pub(crate) async fn import(target: &KekTarget, dir: &Path) -> Result<Value, Failure> {
    let store = DirectoryStore::new(dir).map_err(|e| failure("io", e.to_string()))?;
    let vault = target.open().await?;
    let (mut inserted, mut replaced, mut unchanged, mut rejected) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for id in record_ids(dir)? {
        let reject = |error: cert_download::Error| json!({"id": id.get(), "error": error.code(), "message": error.to_string()});
        let record = match store.certificate(id) {
            Ok(record) => record,
            Err(e) => {
                rejected.push(reject(e.into_error(id)));
                continue;
            }
        };
        let key = match store.private_key(id) {
            Ok(key) => Some(cert_download::Zeroizing::new(key)),
            Err(StoreError::KeyNotFound) => None,
            Err(e) => {
                rejected.push(reject(e.into_error(id)));
                continue;
            }
        };
        match vault.import(id, &record, key.as_deref()).await {
            Ok(ImportOutcome::Inserted) => inserted.push(id.get()),
            Ok(ImportOutcome::Replaced) => replaced.push(id.get()),
            Ok(ImportOutcome::Unchanged) => unchanged.push(id.get()),
            Err(VaultError::Rejected { reason, .. }) => rejected.push(reject(reason)),
            Err(e) => return Err(e.into()),
        }
    }
    let mut out = json!({
        "inserted": inserted,
        "replaced": replaced,
        "unchanged": unchanged,
        "rejected": rejected,
    });
    if !rejected.is_empty() {
        out["error"] = json!("records_rejected");
        out["message"] = json!(format!(
            "{} records failed the checks and were not stored; the others are",
            rejected.len()
        ));
    }
    Ok(out)
}
