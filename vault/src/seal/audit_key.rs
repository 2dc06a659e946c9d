//! The audit signing key sealed under a KEK: the 32-byte Ed25519 seed encrypted directly
//! with AES-256-GCM under the newest KEK (no data key: it is one short secret, rewrapped
//! whole by `rekey`), bound to its public key by the associated data:
//!
//! ```text
//! AAD = "cert-download-vault/v1 audit-key" 0x00 | public key (32 bytes)
//! ```

use zeroize::Zeroizing;

use super::{KEY_LEN, Keyring, NONCE_LEN, SealError, decrypt, encrypt, random};

const AUDIT_KEY_LABEL: &[u8] = b"cert-download-vault/v1 audit-key\0";

/// A sealed audit signing key as stored (`audit_signing_keys`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SealedAuditKey {
    pub(crate) kek_id: String,
    pub(crate) nonce: Vec<u8>,
    pub(crate) sealed: Vec<u8>,
}

fn aad(public_key: &[u8; 32]) -> Vec<u8> {
    let mut aad = AUDIT_KEY_LABEL.to_vec();
    aad.extend_from_slice(public_key);
    aad
}

impl Keyring {
    /// Seals an audit signing key's seed under the newest KEK.
    pub(crate) fn seal_audit_key(
        &self,
        seed: &[u8; KEY_LEN],
        public_key: &[u8; 32],
    ) -> Result<SealedAuditKey, SealError> {
        let kek = self.newest();
        let mut nonce = [0u8; NONCE_LEN];
        random(&mut nonce)?;
        Ok(SealedAuditKey {
            kek_id: kek.id.clone(),
            nonce: nonce.to_vec(),
            sealed: encrypt(&kek.key, &nonce, &aad(public_key), seed),
        })
    }

    /// The seed of a sealed audit signing key; `Ok(None)` when it does not open (tampered,
    /// or sealed for another public key).
    pub(crate) fn open_audit_key(
        &self,
        sealed: &SealedAuditKey,
        public_key: &[u8; 32],
    ) -> Result<Option<Zeroizing<[u8; KEY_LEN]>>, SealError> {
        let kek = self
            .get(&sealed.kek_id)
            .ok_or_else(|| SealError::UnknownKek(sealed.kek_id.clone()))?;
        let Some(plain) = decrypt(&kek.key, &sealed.nonce, &aad(public_key), &sealed.sealed) else {
            return Ok(None);
        };
        let mut seed = Zeroizing::new([0u8; KEY_LEN]);
        if plain.len() != KEY_LEN {
            return Ok(None);
        }
        seed.copy_from_slice(&plain);
        Ok(Some(seed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_key_opens_only_for_its_public_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kek");
        Keyring::create_file(&file).unwrap();
        let keyring = Keyring::load(&file).unwrap();
        let seed = [7u8; KEY_LEN];
        let sealed = keyring.seal_audit_key(&seed, &[1; 32]).unwrap();
        assert_eq!(
            keyring
                .open_audit_key(&sealed, &[1; 32])
                .unwrap()
                .as_deref(),
            Some(&seed)
        );
        assert!(keyring.open_audit_key(&sealed, &[2; 32]).unwrap().is_none());
        let mut flipped = sealed.clone();
        flipped.sealed[0] ^= 1;
        assert!(
            keyring
                .open_audit_key(&flipped, &[1; 32])
                .unwrap()
                .is_none()
        );
    }
}
