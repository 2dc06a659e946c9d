//! A store in memory, for tests and for hosts that load their records themselves.

use std::collections::HashMap;
use std::fmt;

use zeroize::Zeroize;

use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::{CertificateRecord, CertificateStore, StoreError};
use crate::request::CertificateId;

/// One record of a [`MemoryStore`]: a leaf, its issuers in any order, and its key, if any.
///
/// ```
/// use cert_download::{CertificateDer, CertificateId, MemoryStore, PemObject, PrivateKeyDer};
/// use cert_download::store::MemoryEntry;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut certs = CertificateDer::pem_file_iter("examples/demo-store/12345/cert.pem")?
///     .collect::<Result<Vec<_>, _>>()?;
/// let leaf = certs.remove(0);
/// let key = PrivateKeyDer::from_pem_file("examples/demo-store/12345/key.pem")?;
///
/// let mut store = MemoryStore::new();
/// let id = CertificateId::new(12345).ok_or("a valid id")?;
/// store.insert(id, MemoryEntry::new(leaf).with_issuers(certs).with_key(key));
/// assert_eq!(store.len(), 1);
/// # Ok(())
/// # }
/// ```
///
/// Its key is zeroized when it is dropped; its `Debug` shows whether it has one, not the key.
pub struct MemoryEntry {
    record: CertificateRecord,
    key: Option<PrivateKeyDer<'static>>,
}

impl MemoryEntry {
    /// A record of `leaf` alone, without issuers or key.
    pub fn new(leaf: CertificateDer<'static>) -> Self {
        Self {
            record: CertificateRecord::new(leaf, Vec::new()),
            key: None,
        }
    }

    /// The leaf's issuers, in any order (the crate orders them by issuer links).
    pub fn with_issuers(mut self, issuers: Vec<CertificateDer<'static>>) -> Self {
        self.record.issuers = issuers;
        self
    }

    /// The leaf's private key (PKCS#8, PKCS#1 or SEC1), or `None` for a record without one.
    pub fn with_key(mut self, key: impl Into<Option<PrivateKeyDer<'static>>>) -> Self {
        if let Some(old) = self.key.as_mut() {
            old.zeroize();
        }
        self.key = key.into();
        self
    }
}

impl From<CertificateRecord> for MemoryEntry {
    /// A record without a key.
    fn from(record: CertificateRecord) -> Self {
        Self { record, key: None }
    }
}

impl Drop for MemoryEntry {
    fn drop(&mut self) {
        if let Some(key) = self.key.as_mut() {
            key.zeroize();
        }
    }
}

impl fmt::Debug for MemoryEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryEntry")
            .field("issuers", &self.record.issuers.len())
            .field("key", &self.key.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// Certificates and keys held in memory, readable by every caller.
///
/// Keys are exportable unless [`deny_key_export`](Self::deny_key_export) is set.
/// Stored keys are zeroized when the store is dropped.
#[derive(Default)]
pub struct MemoryStore {
    entries: HashMap<CertificateId, MemoryEntry>,
    deny_key_export: bool,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores (or replaces) the record `id`: a [`MemoryEntry`], or a [`CertificateRecord`]
    /// without a key.
    pub fn insert(&mut self, id: CertificateId, entry: impl Into<MemoryEntry>) -> &mut Self {
        self.entries.insert(id, entry.into());
        self
    }

    /// Callers of this store may read certificates but not export keys.
    pub fn deny_key_export(mut self) -> Self {
        self.deny_key_export = true;
        self
    }

    /// How many records it holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it holds no record.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl CertificateStore for MemoryStore {
    fn certificate(&self, id: CertificateId) -> Result<CertificateRecord, StoreError> {
        self.entries
            .get(&id)
            .map(|e| e.record.clone())
            .ok_or(StoreError::NotFound)
    }

    fn private_key(&self, id: CertificateId) -> Result<PrivateKeyDer<'static>, StoreError> {
        let entry = self.entries.get(&id).ok_or(StoreError::NotFound)?;
        if self.deny_key_export {
            return Err(StoreError::KeyExportForbidden);
        }
        entry
            .key
            .as_ref()
            .map(PrivateKeyDer::clone_key)
            .ok_or(StoreError::KeyNotFound)
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("records", &self.entries.len())
            .field("deny_key_export", &self.deny_key_export)
            .finish()
    }
}
