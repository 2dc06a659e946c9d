//! The embedded default store: one directory per certificate.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use zeroize::Zeroizing;

use super::{CertificateRecord, CertificateStore, StoreError};
use crate::request::CertificateId;

/// The largest file the store reads (4 MiB); a larger one is a backend failure.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Certificates and keys in a directory tree, readable by every caller.
///
/// ```text
/// <root>/<id>/cert.pem    the leaf (further CERTIFICATE blocks count as issuers)
/// <root>/<id>/chain.pem   optional: the issuers, in any order
/// <root>/<id>/key.pem     optional: the unencrypted key, PKCS#8, PKCS#1 or SEC1 PEM
/// ```
///
/// The root must be a directory when the store is made ([`new`](Self::new) fails
/// otherwise: a mistyped path is an error at start, not a 404 on every request). A missing
/// `<id>` directory is 404; a record without `key.pem` can still be downloaded
/// without its key. Keys are exportable unless [`deny_key_export`](Self::deny_key_export)
/// is set. Files are read on every call, so records can change while it serves.
#[derive(Clone, Debug)]
pub struct DirectoryStore {
    root: PathBuf,
    deny_key_export: bool,
}

impl DirectoryStore {
    /// A store rooted at `root`, which must be a directory (an `io::Error` naming the
    /// path otherwise: `NotFound` when it does not exist, `NotADirectory` when it is
    /// something else). No record is read until a download asks.
    pub fn new(root: impl Into<PathBuf>) -> io::Result<Self> {
        let root = root.into();
        let meta = std::fs::metadata(&root).map_err(|e| {
            io::Error::new(e.kind(), format!("the store root {}: {e}", root.display()))
        })?;
        if !meta.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("the store root {} is not a directory", root.display()),
            ));
        }
        Ok(Self {
            root,
            deny_key_export: false,
        })
    }

    /// Callers of this store may read certificates but not export keys.
    pub fn deny_key_export(mut self) -> Self {
        self.deny_key_export = true;
        self
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn record_dir(&self, id: CertificateId) -> Result<PathBuf, StoreError> {
        // The id is a number, so the joined path cannot leave the root.
        let dir = self.root.join(id.to_string());
        match std::fs::metadata(&dir) {
            Ok(meta) if meta.is_dir() => Ok(dir),
            Ok(_) => Err(StoreError::NotFound),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(StoreError::NotFound),
            Err(e) => Err(StoreError::backend(e)),
        }
    }
}

/// Reads a file of at most [`MAX_FILE_BYTES`] into a zeroizing buffer; `None` if absent.
fn read_capped(path: &Path) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::backend(e)),
    };
    let mut buf = Zeroizing::new(Vec::new());
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(StoreError::backend)?;
    if buf.len() as u64 > MAX_FILE_BYTES {
        return Err(StoreError::backend(format!(
            "{} is larger than {MAX_FILE_BYTES} bytes",
            path.display()
        )));
    }
    Ok(Some(buf))
}

fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, StoreError> {
    CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| StoreError::InvalidCertificate)
}

impl CertificateStore for DirectoryStore {
    fn certificate(&self, id: CertificateId) -> Result<CertificateRecord, StoreError> {
        let dir = self.record_dir(id)?;
        let leaf_pem = read_capped(&dir.join("cert.pem"))?.ok_or(StoreError::InvalidCertificate)?;
        let mut certs = certificates(&leaf_pem)?.into_iter();
        let leaf = certs.next().ok_or(StoreError::InvalidCertificate)?;
        let mut issuers: Vec<_> = certs.collect();
        if let Some(chain_pem) = read_capped(&dir.join("chain.pem"))? {
            issuers.extend(certificates(&chain_pem)?);
        }
        Ok(CertificateRecord::new(leaf, issuers))
    }

    fn private_key(&self, id: CertificateId) -> Result<PrivateKeyDer<'static>, StoreError> {
        let dir = self.record_dir(id)?;
        if self.deny_key_export {
            return Err(StoreError::KeyExportForbidden);
        }
        let pem = read_capped(&dir.join("key.pem"))?.ok_or(StoreError::KeyNotFound)?;
        PrivateKeyDer::from_pem_slice(&pem).map_err(|_| StoreError::InvalidKey)
    }
}
