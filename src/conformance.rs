//! A conformance suite for [`CertificateStore`] implementations.
//!
//! Implement [`Harness`] for your backend (load the suite's [`Record`]s into a fresh store
//! and hand back stores seen by callers of different rights), then call [`run`] from a
//! test. It checks what the trait's documentation asks of an implementer: the records come
//! back as stored, the errors are the right ones for unknown ids, missing keys and missing
//! rights, downloads through the store succeed or fail with the right status, and the
//! store answers consistently from several threads at once.
//!
//! ```
//! use cert_download::conformance::{self, Harness, Record};
//! use cert_download::MemoryStore;
//!
//! struct Memory;
//!
//! impl Harness for Memory {
//!     type Store = MemoryStore;
//!     fn full_access(&self, records: &[Record]) -> MemoryStore {
//!         let mut store = MemoryStore::new();
//!         for r in records {
//!             let key = r.key.as_ref().map(|k| k.clone_key());
//!             store.insert(r.id, r.leaf.clone(), r.issuers.clone(), key);
//!         }
//!         store
//!     }
//!     fn key_export_denied(&self, records: &[Record]) -> Option<MemoryStore> {
//!         Some(self.full_access(records).deny_key_export())
//!     }
//! }
//!
//! let report = conformance::run(&Memory).expect("MemoryStore conforms");
//! assert!(report.checks() > 10);
//! ```

use std::fmt;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::download_with;
use crate::policy::ExportPolicy;
use crate::policy::PasswordPolicy;
use crate::random::OsRandom;
use crate::request::{CertificateId, DownloadRequest, Password};
use crate::store::{CertificateStore, StoreError};

/// One record of the suite's material, to load into the store under test.
#[derive(Debug)]
#[non_exhaustive]
pub struct Record {
    /// Its id.
    pub id: CertificateId,
    /// The leaf certificate.
    pub leaf: CertificateDer<'static>,
    /// Its issuers, deliberately not in leaf-to-root order.
    pub issuers: Vec<CertificateDer<'static>>,
    /// Its key, if it has one (PKCS#8, PKCS#1 or SEC1).
    pub key: Option<PrivateKeyDer<'static>>,
}

/// How the suite gets stores of your backend.
pub trait Harness {
    /// The store under test.
    type Store: CertificateStore;

    /// A store holding exactly `records`, seen by a caller who may read every certificate
    /// and export every key.
    fn full_access(&self, records: &[Record]) -> Self::Store;

    /// The same records, seen by a caller who may read the certificates but not export
    /// keys; `None` if your store has no such caller.
    fn key_export_denied(&self, records: &[Record]) -> Option<Self::Store> {
        let _ = records;
        None
    }

    /// The same records, seen by a caller who is not authenticated; `None` if your store
    /// has no such caller.
    fn unauthenticated(&self, records: &[Record]) -> Option<Self::Store> {
        let _ = records;
        None
    }

    /// The same records, seen by a caller who may read none of them; `None` if your store
    /// has no such caller.
    fn forbidden(&self, records: &[Record]) -> Option<Self::Store> {
        let _ = records;
        None
    }
}

/// What a run checked.
#[derive(Clone, Debug, Default)]
pub struct Report {
    checks: usize,
    skipped: Vec<&'static str>,
}

impl Report {
    /// How many checks passed.
    pub fn checks(&self) -> usize {
        self.checks
    }

    /// The groups of checks that did not run because the harness returned `None`.
    pub fn skipped(&self) -> &[&'static str] {
        &self.skipped
    }
}

/// The first check that failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure(String);

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "store conformance: {}", self.0)
    }
}

impl std::error::Error for Failure {}

const RSA_LEAF: &str = include_str!("../examples/demo-store/12345/cert.pem");
const RSA_CHAIN: &str = include_str!("../examples/demo-store/12345/chain.pem");
const RSA_KEY: &str = include_str!("../examples/demo-store/12345/key.pem");
const EC_LEAF: &str = include_str!("../examples/demo-store/1001/cert.pem");
const EC_CHAIN: &str = include_str!("../examples/demo-store/1001/chain.pem");
const EC_KEY: &str = include_str!("../examples/demo-store/1001/key.pem");
const ED_LEAF: &str = include_str!("../examples/demo-store/1002/cert.pem");
const ED_CHAIN: &str = include_str!("../examples/demo-store/1002/chain.pem");
const ED_KEY: &str = include_str!("../examples/demo-store/1002/key.pem");
const NOKEY_LEAF: &str = include_str!("../examples/demo-store/1003/cert.pem");
const NOKEY_CHAIN: &str = include_str!("../examples/demo-store/1003/chain.pem");
const PKCS1_LEAF: &str = include_str!("../tests/fixtures/store/2/cert.pem");
const PKCS1_CHAIN: &str = include_str!("../tests/fixtures/store/2/chain.pem");
const PKCS1_KEY: &str = include_str!("../tests/fixtures/store/2/key.pem");

/// The id no record of the suite has.
pub const UNKNOWN_ID: u64 = 999_999_999;

fn fail<T>(what: impl Into<String>) -> Result<T, Failure> {
    Err(Failure(what.into()))
}

fn record(id: u64, leaf: &str, chain: &str, key: Option<&str>) -> Result<Record, Failure> {
    let certs = |pem: &str| {
        CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .or_else(|_| fail("the suite's own certificates do not parse"))
    };
    let mut issuers = certs(chain)?;
    // Stored order is not to be trusted: hand them over root first.
    issuers.reverse();
    let key = key
        .map(|k| PrivateKeyDer::from_pem_slice(k.as_bytes()))
        .transpose()
        .or_else(|_| fail("the suite's own key does not parse"))?;
    Ok(Record {
        id: CertificateId::new(id).ok_or_else(|| Failure("bad id".into()))?,
        leaf: certs(leaf)?
            .into_iter()
            .next()
            .ok_or_else(|| Failure("no leaf".into()))?,
        issuers,
        key,
    })
}

/// The material of the suite: RSA (PKCS#8), EC P-256 (SEC1), Ed25519 and RSA (PKCS#1)
/// records with chains, and one record without a key.
pub fn records() -> Result<Vec<Record>, Failure> {
    Ok(vec![
        record(12345, RSA_LEAF, RSA_CHAIN, Some(RSA_KEY))?,
        record(1001, EC_LEAF, EC_CHAIN, Some(EC_KEY))?,
        record(1002, ED_LEAF, ED_CHAIN, Some(ED_KEY))?,
        record(1003, NOKEY_LEAF, NOKEY_CHAIN, None)?,
        record(2, PKCS1_LEAF, PKCS1_CHAIN, Some(PKCS1_KEY))?,
    ])
}

struct Run {
    report: Report,
    policy: ExportPolicy,
    password_policy: PasswordPolicy,
}

impl Run {
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) -> Result<(), Failure> {
        if ok {
            self.report.checks += 1;
            Ok(())
        } else {
            fail(what())
        }
    }

    fn expect_error<T>(
        &mut self,
        got: Result<T, StoreError>,
        want: &'static str,
        call: &str,
    ) -> Result<(), Failure> {
        match got {
            Ok(_) => fail(format!("{call} succeeded; expected {want}")),
            Err(e) => {
                let kind = e.name();
                self.check(kind == want, || {
                    format!("{call} answered {kind}; expected {want}")
                })
            }
        }
    }

    fn password(&self) -> Result<Password, Failure> {
        Password::new("conformance-password", &self.password_policy)
            .or_else(|_| fail("the suite's password breaks the default policy"))
    }

    fn download_status<S: CertificateStore>(
        &self,
        store: &S,
        request: DownloadRequest,
    ) -> Result<u16, Failure> {
        match download_with(request, store, &self.policy, &mut OsRandom) {
            Ok(_) => Ok(200),
            Err(e) => Ok(e.status()),
        }
    }

    fn full_access<S: CertificateStore>(
        &mut self,
        store: &S,
        records: &[Record],
    ) -> Result<(), Failure> {
        for r in records {
            let got = match store.certificate(r.id) {
                Ok(got) => got,
                Err(e) => return fail(format!("certificate({}) failed: {e:?}", r.id)),
            };
            self.check(got.leaf.as_ref() == r.leaf.as_ref(), || {
                format!("certificate({}) returned another leaf", r.id)
            })?;
            let mut want: Vec<&[u8]> = r.issuers.iter().map(|c| c.as_ref()).collect();
            let mut have: Vec<&[u8]> = got.issuers.iter().map(|c| c.as_ref()).collect();
            want.sort();
            have.sort();
            self.check(want == have, || {
                format!("certificate({}) returned other issuers", r.id)
            })?;
            match (&r.key, store.private_key(r.id)) {
                (Some(want), Ok(have)) => self
                    .check(want.secret_der() == have.secret_der(), || {
                        format!("private_key({}) returned another key", r.id)
                    })?,
                (Some(_), Err(e)) => {
                    return fail(format!("private_key({}) failed: {e:?}", r.id));
                }
                (None, got) => {
                    self.expect_error(got, "KeyNotFound", "private_key of a keyless record")?
                }
            }
            let status = self.download_status(store, DownloadRequest::pem(r.id))?;
            self.check(status == 200, || {
                format!("a pem download of {} answered {status}", r.id)
            })?;
            let with_key = DownloadRequest::crt(r.id).with_key(self.password()?);
            let status = self.download_status(store, with_key)?;
            let want = if r.key.is_some() { 200 } else { 404 };
            self.check(status == want, || {
                format!(
                    "a crt download with key of {} answered {status}, expected {want}",
                    r.id
                )
            })?;
        }
        let unknown = CertificateId::new(UNKNOWN_ID).ok_or_else(|| Failure("bad id".into()))?;
        self.expect_error(
            store.certificate(unknown),
            "NotFound",
            "certificate(unknown id)",
        )?;
        let status = self.download_status(store, DownloadRequest::pem(unknown))?;
        self.check(status == 404, || {
            format!("a download of an unknown id answered {status}")
        })?;
        self.concurrent(store, records)
    }

    /// The store is `Sync`: many threads at once must see the same records.
    fn concurrent<S: CertificateStore>(
        &mut self,
        store: &S,
        records: &[Record],
    ) -> Result<(), Failure> {
        let all_same = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    scope.spawn(|| {
                        records.iter().all(|r| {
                            (0..8).all(|_| {
                                store
                                    .certificate(r.id)
                                    .is_ok_and(|got| got.leaf.as_ref() == r.leaf.as_ref())
                            })
                        })
                    })
                })
                .collect();
            handles.into_iter().all(|h| h.join().unwrap_or(false))
        });
        self.check(all_same, || {
            "concurrent calls from 4 threads did not all return the stored leaves".into()
        })
    }

    fn key_export_denied<S: CertificateStore>(
        &mut self,
        store: &S,
        records: &[Record],
    ) -> Result<(), Failure> {
        for r in records.iter().filter(|r| r.key.is_some()) {
            self.check(store.certificate(r.id).is_ok(), || {
                format!(
                    "a caller without key export could not read certificate {}",
                    r.id
                )
            })?;
            self.expect_error(
                store.private_key(r.id),
                "KeyExportForbidden",
                "private_key without export rights",
            )?;
            let status =
                self.download_status(store, DownloadRequest::pfx(r.id, self.password()?))?;
            self.check(status == 403, || {
                format!("a pfx without export rights answered {status}")
            })?;
            let status = self.download_status(store, DownloadRequest::pem(r.id))?;
            self.check(status == 200, || {
                format!("a pem without key and without export rights answered {status}")
            })?;
        }
        Ok(())
    }

    fn refused<S: CertificateStore>(
        &mut self,
        store: &S,
        records: &[Record],
        want: &'static str,
        statuses: &[u16],
    ) -> Result<(), Failure> {
        for r in records {
            match store.certificate(r.id) {
                Ok(_) => return fail(format!("certificate({}) succeeded; expected {want}", r.id)),
                Err(e) => {
                    let kind = e.name();
                    // A store may hide existence: NotFound stands in for Forbidden.
                    let ok = kind == want || (want == "Forbidden" && kind == "NotFound");
                    self.check(ok, || {
                        format!("certificate({}) answered {kind}; expected {want}", r.id)
                    })?;
                }
            }
            let status = self.download_status(store, DownloadRequest::pem(r.id))?;
            self.check(statuses.contains(&status), || {
                format!("a download by a {want} caller answered {status}")
            })?;
        }
        Ok(())
    }
}

/// Runs the suite against `harness`'s stores.
pub fn run<H: Harness>(harness: &H) -> Result<Report, Failure> {
    let records = records()?;
    let mut run = Run {
        report: Report::default(),
        policy: ExportPolicy::with_iterations(1).or_else(|_| fail("policy"))?,
        password_policy: PasswordPolicy::DEFAULT,
    };
    run.full_access(&harness.full_access(&records), &records)?;
    match harness.key_export_denied(&records) {
        Some(store) => run.key_export_denied(&store, &records)?,
        None => run.report.skipped.push("key_export_denied"),
    }
    match harness.unauthenticated(&records) {
        Some(store) => run.refused(&store, &records, "Unauthenticated", &[401])?,
        None => run.report.skipped.push("unauthenticated"),
    }
    match harness.forbidden(&records) {
        Some(store) => run.refused(&store, &records, "Forbidden", &[403, 404])?,
        None => run.report.skipped.push("forbidden"),
    }
    Ok(run.report)
}
