//! Shared by the bench binaries: the fixture records, the requests, a median timer.

#![allow(dead_code)]

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

use cert_download::{
    CertificateDer, CertificateId, DownloadRequest, DownloadResponse, ExportPolicy, MemoryStore,
    OsRandom, Password, PasswordPolicy, PfxEncryption, PrivateKeyDer, download_with,
};
use pkcs12::kdf::{Pkcs12KeyType, derive_key};
use rustls_pki_types::pem::PemObject;
use sha2::Sha256;

/// The password of every benchmarked download: ASCII, as every consumer reads.
pub(crate) const PASSWORD: &str = "bench-password-0123";

/// Records of `tests/fixtures/store`: 1 = RSA-2048 (2-certificate chain), 4 = P-256,
/// 9 = Ed25519.
pub(crate) const RECORDS: [(u64, &str); 3] = [(1, "rsa2048"), (4, "p256"), (9, "ed25519")];

pub(crate) fn fixtures() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures"))
}

/// One stored record: the leaf, its issuers (stored order), its key.
pub(crate) struct Record {
    pub(crate) leaf: CertificateDer<'static>,
    pub(crate) chain: Vec<CertificateDer<'static>>,
    pub(crate) key: PrivateKeyDer<'static>,
}

pub(crate) fn record(n: u64) -> Record {
    let dir = fixtures().join(format!("store/{n}"));
    let certs = |f: &str| -> Vec<CertificateDer<'static>> {
        CertificateDer::pem_file_iter(dir.join(f))
            .expect("a fixture file")
            .map(|c| c.expect("a PEM certificate"))
            .collect()
    };
    Record {
        leaf: certs("cert.pem").remove(0),
        chain: certs("chain.pem"),
        key: PrivateKeyDer::from_pem_file(dir.join("key.pem")).expect("a fixture key"),
    }
}

pub(crate) fn id(n: u64) -> CertificateId {
    CertificateId::new(n).expect("a valid id")
}

/// The three benchmarked records in one store, loaded once.
pub(crate) fn store() -> MemoryStore {
    let mut store = MemoryStore::new();
    for (n, _) in RECORDS {
        let r = record(n);
        store.insert(
            id(n),
            cert_download::store::MemoryEntry::new(r.leaf)
                .with_issuers(r.chain)
                .with_key(Some(r.key)),
        );
    }
    store
}

pub(crate) fn password() -> Password {
    Password::new(PASSWORD, &PasswordPolicy::default()).expect("a valid password")
}

/// Every format the crate writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Crt,
    CrtKey,
    Pem,
    PemKey,
    PfxAes,
    Pfx3des,
}

impl Kind {
    pub(crate) const ALL: [Kind; 6] = [
        Kind::Crt,
        Kind::CrtKey,
        Kind::Pem,
        Kind::PemKey,
        Kind::PfxAes,
        Kind::Pfx3des,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Crt => "crt",
            Kind::CrtKey => "crt+key",
            Kind::Pem => "pem",
            Kind::PemKey => "pem+key",
            Kind::PfxAes => "pfx-aes256",
            Kind::Pfx3des => "pfx-3des",
        }
    }

    pub(crate) fn keyed(self) -> bool {
        !matches!(self, Kind::Crt | Kind::Pem)
    }

    pub(crate) fn request(self, n: u64) -> DownloadRequest {
        match self {
            Kind::Crt => DownloadRequest::crt(id(n)),
            Kind::CrtKey => DownloadRequest::crt(id(n)).with_key(password()),
            Kind::Pem => DownloadRequest::pem(id(n)),
            Kind::PemKey => DownloadRequest::pem(id(n)).with_key(password()),
            Kind::PfxAes => DownloadRequest::pfx(id(n), password()),
            Kind::Pfx3des => DownloadRequest::pfx(id(n), password())
                .with_pfx_encryption(PfxEncryption::TripleDesSha1),
        }
    }
}

/// The iteration settings benchmarked: 1 (the fixed cost), 2,048, and the defaults
/// (10,000; the legacy profile's default is 2,048).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Iter {
    One,
    I2048,
    Default,
}

impl Iter {
    pub(crate) const ALL: [Iter; 3] = [Iter::One, Iter::I2048, Iter::Default];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Iter::One => "1",
            Iter::I2048 => "2048",
            Iter::Default => "default",
        }
    }

    pub(crate) fn policy(self) -> ExportPolicy {
        match self {
            Iter::One => ExportPolicy::with_iterations(1).expect("a valid policy"),
            Iter::I2048 => ExportPolicy::with_iterations(2048).expect("a valid policy"),
            Iter::Default => ExportPolicy::default(),
        }
    }
}

/// One download, the way a host runs it: store, check, encode, with the OS random source.
pub(crate) fn run(
    kind: Kind,
    n: u64,
    store: &MemoryStore,
    policy: &ExportPolicy,
) -> DownloadResponse {
    download_with(kind.request(n), store, policy, &mut OsRandom).expect("the download succeeds")
}

/// Nanoseconds per call of `f`, as the mean over `batch` calls.
pub(crate) fn sample(batch: u32, f: &mut dyn FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..batch {
        f();
    }
    start.elapsed().as_nanos() as f64 / f64::from(batch)
}

/// A batch size so that one sample of `f` takes at least `target_ns`.
pub(crate) fn batch_for(target_ns: f64, f: &mut dyn FnMut()) -> u32 {
    // Warm up, then estimate.
    for _ in 0..3 {
        f();
    }
    let one = sample(3, f).max(1.0);
    ((target_ns / one).ceil() as u32).clamp(1, 1_000_000)
}

pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Medians (ns per call) of several functions sampled in turn, `rounds` times, so that
/// drift in machine load hits all of them alike.
pub(crate) fn interleaved(rounds: usize, target_ns: f64, fs: &mut [&mut dyn FnMut()]) -> Vec<f64> {
    let batches: Vec<u32> = fs.iter_mut().map(|f| batch_for(target_ns, *f)).collect();
    let mut samples = vec![Vec::with_capacity(rounds); fs.len()];
    for _ in 0..rounds {
        for (i, f) in fs.iter_mut().enumerate() {
            samples[i].push(sample(batches[i], *f));
        }
    }
    samples.into_iter().map(median).collect()
}

/// The KDF floors every ratio is taken against.
pub(crate) const SALT16: [u8; 16] = [7; 16];
pub(crate) const SALT8: [u8; 8] = [9; 8];

pub(crate) fn bmp(password: &str) -> Vec<u8> {
    let mut out: Vec<u8> = password
        .encode_utf16()
        .flat_map(|u| u.to_be_bytes())
        .collect();
    out.extend([0, 0]);
    out
}

/// One PBKDF2-HMAC-SHA256 of 32 bytes with the `pbkdf2` crate.
pub(crate) fn floor_pbkdf2(iterations: u32) {
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(PASSWORD.as_bytes(), &SALT16, iterations, &mut out);
    black_box(out);
}

/// One PKCS#12 KDF (SHA-256, 32 bytes, the MAC key) with the `pkcs12` crate.
pub(crate) fn floor_p12_sha256(bmp: &[u8], iterations: u32) {
    black_box(derive_key::<Sha256>(
        bmp,
        &SALT8,
        Pkcs12KeyType::Mac,
        iterations as i32,
        32,
    ));
}

pub(crate) fn keep<T>(t: T) -> T {
    black_box(t)
}
