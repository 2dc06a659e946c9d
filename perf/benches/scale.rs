//! Scaling: throughput of PFX downloads on 1 and 2 threads, the cost against the length of
//! the chain (1, 10 and 60 certificates), and the single-request latency of a PFX against
//! its KDF floor (run once more with `--features parallel-kdf` to compare).
//!
//! ```sh
//! cargo bench -p cert-download-perf --bench scale
//! cargo bench -p cert-download-perf --bench scale --features parallel-kdf
//! ```

mod common;

use std::time::Instant;

use cert_download::{CertificateDer, MemoryStore, OsRandom, download_with};
use common::{
    Iter, Kind, PASSWORD, bmp, floor_p12_sha256, floor_pbkdf2, id, interleaved, keep, median,
    record, run, store,
};

/// Downloads per second of `threads` threads each running `per_thread` PFX downloads.
fn throughput(threads: usize, per_thread: usize, store: &MemoryStore, iter: Iter) -> f64 {
    let policy = iter.policy();
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for _ in 0..per_thread {
                    keep(run(Kind::PfxAes, 1, store, &policy));
                }
            });
        }
    });
    (threads * per_thread) as f64 / start.elapsed().as_secs_f64()
}

/// Calls per second of `f` on `threads` threads, `per_thread` calls each.
fn throughput_of(threads: usize, per_thread: usize, f: &(dyn Fn() + Sync)) -> f64 {
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for _ in 0..per_thread {
                    f();
                }
            });
        }
    });
    (threads * per_thread) as f64 / start.elapsed().as_secs_f64()
}

fn scaling(store: &MemoryStore) {
    println!();
    println!("## Throughput, 2 threads against 1 (RSA-2048 PFX; medians of 7 alternating runs)");
    println!();
    println!("| iterations | 1 thread (files/s) | 2 threads (files/s) | ratio |");
    println!("|---|---:|---:|---:|");
    for (iter, per_thread) in [(Iter::One, 20_000), (Iter::Default, 100)] {
        let (mut one, mut two) = (Vec::new(), Vec::new());
        throughput(1, per_thread / 10, store, iter);
        for _ in 0..7 {
            one.push(throughput(1, per_thread, store, iter));
            two.push(throughput(2, per_thread, store, iter));
        }
        let (one, two) = (median(one), median(two));
        println!(
            "| {} | {one:.0} | {two:.0} | **{:.2}** |",
            iter.name(),
            two / one
        );
    }
    // The same for the bare compression function and the `pbkdf2` crate: what the two
    // processors give at all for SHA-256 work (two vCPUs may share a physical core).
    let bound = || {
        let mut state = [0x6a09e667u32; 8];
        let block = [0x5au8; 64];
        for _ in 0..20_000 {
            sha2::block_api::compress256(&mut state, std::slice::from_ref(&block));
        }
        keep(state);
    };
    let crate_pbkdf2 = || floor_pbkdf2(10_000);
    for (name, f) in [
        (
            "20,000 compressions, one chain",
            &bound as &(dyn Fn() + Sync),
        ),
        ("`pbkdf2` crate, 10,000 iterations", &crate_pbkdf2),
    ] {
        let (mut one, mut two) = (Vec::new(), Vec::new());
        for _ in 0..7 {
            one.push(throughput_of(1, 100, f));
            two.push(throughput_of(2, 100, f));
        }
        let (one, two) = (median(one), median(two));
        println!("| {name} | {one:.0} | {two:.0} | **{:.2}** |", two / one);
    }
}

/// A copy of `cert` that differs in the last bytes of its signature: it parses, it is
/// distinct, it links like the original.
fn variant(cert: &[u8], i: usize) -> CertificateDer<'static> {
    let mut v = cert.to_vec();
    let n = v.len();
    v[n - 2] ^= (i >> 8) as u8 + 1;
    v[n - 1] ^= i as u8;
    CertificateDer::from(v)
}

fn chains() {
    let r = record(1);
    let mut store = MemoryStore::new();
    for total in [1usize, 10, 60] {
        let mut issuers: Vec<CertificateDer<'static>> = Vec::new();
        if total > 1 {
            issuers.extend(r.chain.iter().cloned());
        }
        let mut i = 0;
        while 1 + issuers.len() < total {
            issuers.push(variant(&r.chain[i % r.chain.len()], i));
            i += 1;
        }
        store.insert(
            id(total as u64),
            cert_download::store::MemoryEntry::new(r.leaf.clone())
                .with_issuers(issuers)
                .with_key(Some(r.key.clone_key())),
        );
    }
    let policy = Iter::One.policy();
    println!();
    println!("## Cost against chain length (RSA-2048 leaf, 1 iteration; medians)");
    println!();
    println!(
        "| certificates | pem (µs) | pem per certificate (µs) | pfx (µs) | pfx per certificate after the first (µs) |"
    );
    println!("|---:|---:|---:|---:|---:|");
    let mut base_pfx = 0.0;
    for total in [1u64, 10, 60] {
        let mut pem = || {
            keep(download_with(Kind::Pem.request(total), &store, &policy, &mut OsRandom).ok());
        };
        let mut pfx = || {
            keep(download_with(Kind::PfxAes.request(total), &store, &policy, &mut OsRandom).ok());
        };
        let m = interleaved(11, 200_000.0, &mut [&mut pem, &mut pfx]);
        if total == 1 {
            base_pfx = m[1];
        }
        let per = if total == 1 {
            "-".to_owned()
        } else {
            format!("{:.2}", (m[1] - base_pfx) / (total - 1) as f64 / 1e3)
        };
        println!(
            "| {total} | {:.2} | {:.2} | {:.2} | {per} |",
            m[0] / 1e3,
            m[0] / 1e3 / total as f64,
            m[1] / 1e3
        );
    }
}

fn latency(store: &MemoryStore) {
    let parallel = cfg!(feature = "parallel-kdf");
    println!();
    println!(
        "## Single-request latency of a PFX at the default iterations (feature parallel-kdf: {})",
        if parallel { "on" } else { "off" }
    );
    println!();
    println!("| record | time (µs) | KDF floor (µs) | ratio to floor |");
    println!("|---|---:|---:|---:|");
    let policy = Iter::Default.policy();
    let bmp = bmp(PASSWORD);
    for (n, rec) in common::RECORDS {
        let mut case = || {
            keep(run(Kind::PfxAes, n, store, &policy));
        };
        let mut f_pbkdf2 = || floor_pbkdf2(10_000);
        let mut f_p12 = || floor_p12_sha256(&bmp, 10_000);
        let m = interleaved(15, 300_000.0, &mut [&mut case, &mut f_pbkdf2, &mut f_p12]);
        let floor = 2.0 * m[1] + m[2];
        println!(
            "| {rec} | {:.1} | {:.1} | **{:.3}** |",
            m[0] / 1e3,
            floor / 1e3,
            m[0] / floor
        );
    }
}

fn main() {
    let store = store();
    latency(&store);
    scaling(&store);
    chains();
}
