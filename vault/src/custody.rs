//! The vault's keyring at run time: opening a sealed key with the shared keyring, and
//! re-reading the KEK sources (when a key names a KEK the keyring lacks, at most once a
//! second, or when the host asks, e.g. on SIGHUP), each new keyring checked against the
//! database's check values before it replaces the old one.

use cert_download::{CertificateId, PrivateKeyDer};

use crate::error::VaultError;
use crate::seal::{Keyring, SealError, SealedKey};
use crate::vault::Vault;

impl Vault {
    /// Reads the keyring's sources again (the KEK files, the tokens), checks the result as
    /// [`connect`](Self::connect) does, and puts it in place of the current keyring; the
    /// current one stays when anything fails. Returns the new keyring's KEK ids.
    pub async fn reload_keyring(&self) -> Result<Vec<String>, VaultError> {
        let sources = self.shared_keyring()?.current().sources().to_vec();
        if sources.is_empty() {
            return Err(VaultError::Invalid(
                "the keyring was made in memory: there is nothing to read again".into(),
            ));
        }
        // File reads and a token login: off the async threads.
        let fresh = tokio::task::spawn_blocking(move || Keyring::from_sources(&sources))
            .await
            .map_err(|e| VaultError::Invalid(format!("the KEK reload failed: {e}")))??;
        self.db.check_keks(&fresh).await?;
        let ids = fresh.ids().map(str::to_owned).collect();
        self.shared_keyring()?.replace(fresh);
        Ok(ids)
    }

    /// Opens the key sealed for `id` with the current keyring; when it names a KEK the
    /// keyring lacks, reads the sources again first (at most once a second) and tries with
    /// the new keyring.
    pub(crate) async fn open_sealed(
        &self,
        id: CertificateId,
        sealed: &SealedKey,
    ) -> Result<PrivateKeyDer<'static>, SealError> {
        // A vault opened without KEKs opens no key (the KEK-free admin commands never ask).
        let Ok(shared) = self.shared_keyring() else {
            return Err(SealError::Unsupported(
                "the vault was opened without its KEKs",
            ));
        };
        let keyring = shared.current();
        match keyring.open(id, sealed) {
            Err(SealError::UnknownKek(kek_id)) => {
                if !keyring.sources().is_empty() && shared.reload_due() {
                    // A failed reload leaves the current keyring; the answer is the same.
                    let _ = self.reload_keyring().await;
                }
                let again = shared.current();
                if again.contains(&kek_id) {
                    again.open(id, sealed)
                } else {
                    Err(SealError::UnknownKek(kek_id))
                }
            }
            other => other,
        }
    }
}
