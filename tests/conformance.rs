//! The store conformance suite, run against both stores that ship, and shown to fail on
//! stores that break the trait's guarantees.

use std::path::Path;

use cert_download::conformance::{self, Harness, Record};
use cert_download::{
    CertificateDer, CertificateId, CertificateRecord, CertificateStore, DirectoryStore,
    MemoryStore, PrivateKeyDer, StoreError,
};

struct Memory;

impl Harness for Memory {
    type Store = MemoryStore;
    fn full_access(&self, records: &[Record]) -> MemoryStore {
        let mut store = MemoryStore::new();
        for r in records {
            let key = r.key.as_ref().map(|k| k.clone_key());
            store.insert(r.id, r.leaf.clone(), r.issuers.clone(), key);
        }
        store
    }
    fn key_export_denied(&self, records: &[Record]) -> Option<MemoryStore> {
        Some(self.full_access(records).deny_key_export())
    }
    fn unauthenticated(&self, records: &[Record]) -> Option<MemoryStore> {
        let _ = records;
        None
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

fn write_records(root: &Path, records: &[Record]) {
    for r in records {
        let dir = root.join(r.id.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("cert.pem"), pem("CERTIFICATE", &r.leaf)).unwrap();
        let chain: String = r.issuers.iter().map(|c| pem("CERTIFICATE", c)).collect();
        std::fs::write(dir.join("chain.pem"), chain).unwrap();
        if let Some(key) = &r.key {
            let label = match key {
                PrivateKeyDer::Pkcs1(_) => "RSA PRIVATE KEY",
                PrivateKeyDer::Sec1(_) => "EC PRIVATE KEY",
                _ => "PRIVATE KEY",
            };
            std::fs::write(dir.join("key.pem"), pem(label, key.secret_der())).unwrap();
        }
    }
}

struct Directory(tempfile::TempDir);

impl Harness for Directory {
    type Store = DirectoryStore;
    fn full_access(&self, records: &[Record]) -> DirectoryStore {
        write_records(self.0.path(), records);
        DirectoryStore::new(self.0.path())
    }
    fn key_export_denied(&self, records: &[Record]) -> Option<DirectoryStore> {
        Some(self.full_access(records).deny_key_export())
    }
}

/// A host-style store: a caller's rights in front of a MemoryStore.
#[derive(Debug)]
struct Guarded {
    inner: MemoryStore,
    authenticated: bool,
    may_read: bool,
}

impl CertificateStore for Guarded {
    fn certificate(&self, id: CertificateId) -> Result<CertificateRecord, StoreError> {
        if !self.authenticated {
            return Err(StoreError::Unauthenticated);
        }
        if !self.may_read {
            return Err(StoreError::Forbidden);
        }
        self.inner.certificate(id)
    }
    fn private_key(&self, id: CertificateId) -> Result<PrivateKeyDer<'static>, StoreError> {
        self.certificate(id)?;
        self.inner.private_key(id)
    }
}

struct Guard;

impl Harness for Guard {
    type Store = Guarded;
    fn full_access(&self, records: &[Record]) -> Guarded {
        Guarded {
            inner: Memory.full_access(records),
            authenticated: true,
            may_read: true,
        }
    }
    fn key_export_denied(&self, records: &[Record]) -> Option<Guarded> {
        Some(Guarded {
            inner: Memory.full_access(records).deny_key_export(),
            authenticated: true,
            may_read: true,
        })
    }
    fn unauthenticated(&self, records: &[Record]) -> Option<Guarded> {
        Some(Guarded {
            authenticated: false,
            ..self.full_access(records)
        })
    }
    fn forbidden(&self, records: &[Record]) -> Option<Guarded> {
        Some(Guarded {
            may_read: false,
            ..self.full_access(records)
        })
    }
}

#[test]
fn memory_store_conforms() {
    let report = conformance::run(&Memory).unwrap();
    assert!(report.checks() > 20, "{report:?}");
    assert_eq!(report.skipped(), ["unauthenticated", "forbidden"]);
}

#[test]
fn directory_store_conforms() {
    let report = conformance::run(&Directory(tempfile::tempdir().unwrap())).unwrap();
    assert!(report.checks() > 20, "{report:?}");
}

#[test]
fn a_store_with_access_control_conforms_in_every_group() {
    let report = conformance::run(&Guard).unwrap();
    assert!(report.skipped().is_empty(), "{report:?}");
}

/// A store that answers KeyNotFound for unknown ids and drops issuers: the suite must say so.
#[derive(Debug)]
struct Sloppy(MemoryStore, bool);

impl CertificateStore for Sloppy {
    fn certificate(&self, id: CertificateId) -> Result<CertificateRecord, StoreError> {
        let mut record = self
            .0
            .certificate(id)
            .map_err(|_| StoreError::KeyNotFound)?;
        if self.1 {
            record.issuers.truncate(1);
        }
        Ok(record)
    }
    fn private_key(&self, id: CertificateId) -> Result<PrivateKeyDer<'static>, StoreError> {
        self.0.private_key(id)
    }
}

struct SloppyHarness(bool);

impl Harness for SloppyHarness {
    type Store = Sloppy;
    fn full_access(&self, records: &[Record]) -> Sloppy {
        Sloppy(Memory.full_access(records), self.0)
    }
}

#[test]
fn the_suite_catches_a_store_that_drops_issuers() {
    let failure = conformance::run(&SloppyHarness(true)).unwrap_err();
    assert!(failure.to_string().contains("other issuers"), "{failure}");
}

#[test]
fn the_suite_catches_a_store_with_the_wrong_error_for_unknown_ids() {
    let failure = conformance::run(&SloppyHarness(false)).unwrap_err();
    assert!(
        failure.to_string().contains("expected NotFound"),
        "{failure}"
    );
}

#[test]
fn records_are_loaded_with_their_key_containers() {
    let records = conformance::records().unwrap();
    let kinds: Vec<&str> = records
        .iter()
        .map(|r| match &r.key {
            Some(PrivateKeyDer::Pkcs1(_)) => "pkcs1",
            Some(PrivateKeyDer::Sec1(_)) => "sec1",
            Some(_) => "pkcs8",
            None => "none",
        })
        .collect();
    assert_eq!(kinds, ["pkcs8", "sec1", "pkcs8", "none", "pkcs1"]);
    let _: &CertificateDer<'_> = &records[0].leaf;
}
