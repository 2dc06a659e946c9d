//! What keeping the KEK in a PKCS#11 token costs a keyed download, beside the KEK file in
//! the same run: unsealing one key (the data key's unwrap plus the key's decryption), and a
//! default pfx download whose store unseals the key on each call (RSA-2048, 2-certificate
//! chain). The token is SoftHSM2's, which the process must be pointed at before it starts:
//!
//! ```sh
//! perf/kek-custody.sh -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! makes a throwaway token in a temporary directory, exports `SOFTHSM2_CONF` and
//! `CERT_DOWNLOAD_BENCH_KEK_URI` (the token key's URI), and runs this bench. Without the
//! URI only the KEK file is measured (and a line says so).

mod common;

use std::time::Duration;

use cert_download::{
    CertificateId, CertificateRecord, CertificateStore, DownloadRequest, ExportPolicy, OsRandom,
    PrivateKeyDer, StoreError, download_with,
};
use cert_download_vault::{KekSource, Keyring, SealedKey, TokenUri};
use common::{id, interleaved, keep, password, record};
use criterion::Criterion;

const N: u64 = 1;

/// A store of one record whose key is unsealed by the keyring on every call, as the vault
/// does (without its database).
#[derive(Debug)]
struct Sealed {
    record: CertificateRecord,
    keyring: Keyring,
    sealed: SealedKey,
}

impl CertificateStore for Sealed {
    fn certificate(&self, _: CertificateId) -> Result<CertificateRecord, StoreError> {
        Ok(self.record.clone())
    }
    fn private_key(&self, id: CertificateId) -> Result<PrivateKeyDer<'static>, StoreError> {
        self.keyring
            .open(id, &self.sealed)
            .map_err(StoreError::backend)
    }
}

fn sealed(keyring: Keyring) -> Sealed {
    let r = record(N);
    let sealed = keyring.seal(id(N), &r.key).expect("sealed");
    Sealed {
        record: CertificateRecord::new(r.leaf, r.chain),
        keyring,
        sealed,
    }
}

fn main() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let kek = dir.path().join("kek");
    Keyring::create_file(&kek).expect("a KEK file");
    let mut stores = vec![(
        "kek_file",
        sealed(Keyring::load(&kek).expect("the KEK file")),
    )];
    match std::env::var("CERT_DOWNLOAD_BENCH_KEK_URI") {
        Ok(uri) if !uri.is_empty() => {
            let uri = TokenUri::parse(&uri).expect("a PKCS#11 URI");
            let _ = Keyring::generate_in_token(&uri);
            let keyring = Keyring::from_sources(&[KekSource::Token(uri)]).expect("the token KEK");
            stores.push(("kek_softhsm2", sealed(keyring)));
        }
        _ => println!(
            "CERT_DOWNLOAD_BENCH_KEK_URI unset: the token is not measured (run perf/kek-custody.sh)"
        ),
    }
    let policy = ExportPolicy::default();
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    let mut group = c.benchmark_group("kek_custody/unseal");
    for (name, store) in &stores {
        group.bench_function(*name, |b| {
            b.iter(|| keep(store.keyring.open(id(N), &store.sealed).expect("opens")))
        });
    }
    group.finish();
    let mut group = c.benchmark_group("kek_custody/pfx_default");
    for (name, store) in &stores {
        group.bench_function(*name, |b| {
            b.iter(|| {
                let request = DownloadRequest::pfx(id(N), password());
                keep(download_with(request, store, &policy, &mut OsRandom).expect("a pfx"))
            })
        });
    }
    group.finish();
    c.final_summary();
    // Sampled in turn (interleaved medians), so that load drift hits every case alike.
    let mut cases: Vec<Box<dyn FnMut() + '_>> = Vec::new();
    for (_, store) in &stores {
        cases.push(Box::new(move || {
            keep(store.keyring.open(id(N), &store.sealed).expect("opens"));
        }));
    }
    for (_, store) in &stores {
        let policy = &policy;
        cases.push(Box::new(move || {
            let request = DownloadRequest::pfx(id(N), password());
            keep(download_with(request, store, policy, &mut OsRandom).expect("a pfx"));
        }));
    }
    let mut refs: Vec<&mut dyn FnMut()> = cases.iter_mut().map(|c| &mut **c as _).collect();
    let m = interleaved(101, 20e6, &mut refs);
    let k = stores.len();
    println!();
    println!("| KEK | unseal one key | default pfx | pfx / pfx with the KEK file |");
    println!("|---|---:|---:|---:|");
    for (i, (name, _)) in stores.iter().enumerate() {
        println!(
            "| {name} | {:.2} µs | {:.3} ms | {:.4} |",
            m[i] / 1e3,
            m[k + i] / 1e6,
            m[k + i] / m[k]
        );
    }
}
