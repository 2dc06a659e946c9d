//! A store in memory, for tests and for hosts that load their records themselves.

use std::collections::HashMap;
use std::fmt;

use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::{CertificateRecord, CertificateStore, StoreError};
use crate::request::CertificateId;

struct Entry {
    record: CertificateRecord,
    key: Option<PrivateKeyDer<'static>>,
}

/// Certificates and keys held in memory, readable by every caller.
///
/// Keys are exportable unless [`deny_key_export`](Self::deny_key_export) is set.
/// Stored keys are zeroized when the store is dropped.
#[derive(Default)]
pub struct MemoryStore {
    entries: HashMap<CertificateId, Entry>,
    deny_key_export: bool,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores (or replaces) a record: the leaf, its issuers in any order, and its key.
    pub fn insert(
        &mut self,
        id: CertificateId,
        leaf: CertificateDer<'static>,
        issuers: Vec<CertificateDer<'static>>,
        key: Option<PrivateKeyDer<'static>>,
    ) -> &mut Self {
        self.entries.insert(
            id,
            Entry {
                record: CertificateRecord::new(leaf, issuers),
                key,
            },
        );
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

impl Drop for MemoryStore {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        for entry in self.entries.values_mut() {
            if let Some(key) = entry.key.as_mut() {
                key.zeroize();
            }
        }
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
