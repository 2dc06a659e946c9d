//! Every format for RSA-2048, P-256 and Ed25519 records at 1 iteration (the fixed cost),
//! 2,048 and the default iterations, beside the floors measured in the same process: one
//! PBKDF2-HMAC-SHA256 (`pbkdf2` crate), one PKCS#12 KDF (`pkcs12` crate, SHA-256 for the
//! MAC; SHA-1 for the legacy profile), the bare SHA-256/SHA-1 compression function over the
//! same number of blocks, and Base64 of the DER leaf.
//!
//! ```sh
//! cargo bench -p cert-download-perf --bench download                  # criterion, then the ratio table
//! BENCH_RATIOS_ONLY=1 cargo bench -p cert-download-perf --bench download   # the ratio table alone
//! ```
//!
//! The ratio table is what counts on a shared, noisy machine: each case is sampled in turn
//! with its floors (interleaved, medians), so that load drift hits both alike.

mod common;

use std::hint::black_box;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use cert_download::MemoryStore;
use common::{
    Iter, Kind, PASSWORD, RECORDS, SALT8, bmp, floor_p12_sha256, floor_pbkdf2, interleaved, keep,
    record, run, store,
};
use criterion::Criterion;
use pkcs12::kdf::{Pkcs12KeyType, derive_key};
use sha1::Sha1;

/// The legacy PFX's derivations with the `pkcs12` crate (SHA-1): for the key bag and the
/// certificates each a 24-byte key and an 8-byte IV, and the 20-byte MAC key.
fn floor_p12_sha1_legacy(bmp: &[u8], iterations: u32) {
    let rounds = iterations as i32;
    for _ in 0..2 {
        black_box(derive_key::<Sha1>(
            bmp,
            &SALT8,
            Pkcs12KeyType::EncryptionKey,
            rounds,
            24,
        ));
        black_box(derive_key::<Sha1>(
            bmp,
            &SALT8,
            Pkcs12KeyType::Iv,
            rounds,
            8,
        ));
    }
    black_box(derive_key::<Sha1>(
        bmp,
        &SALT8,
        Pkcs12KeyType::Mac,
        rounds,
        20,
    ));
}

/// `blocks` dependent calls of the bare SHA-256 compression function.
fn bound_sha256(blocks: u64) {
    let mut state = [0x6a09e667u32; 8];
    let block = [0x5au8; 64];
    for _ in 0..blocks {
        sha2::block_api::compress256(&mut state, std::slice::from_ref(&block));
    }
    black_box(state);
}

/// `blocks` dependent calls of the bare SHA-1 compression function.
fn bound_sha1(blocks: u64) {
    let mut state = [0x67452301u32; 5];
    let block = [0x5au8; 64];
    for _ in 0..blocks {
        sha1::block_api::compress(&mut state, std::slice::from_ref(&block));
    }
    black_box(state);
}

/// The compressions a case's derivations need at the bound: PBKDF2 2 per iteration (with
/// precomputed HMAC pads), the PKCS#12 KDF 1 per iteration and output block.
fn bound_blocks(kind: Kind, iter: Iter) -> (u64, u64) {
    let policy = iter.policy();
    let pbkdf2 = u64::from(policy.pbkdf2_iterations());
    let mac = u64::from(policy.mac_iterations());
    let legacy = u64::from(policy.legacy_iterations());
    match kind {
        Kind::Crt | Kind::Pem => (0, 0),
        Kind::CrtKey | Kind::PemKey => (2 * pbkdf2, 0),
        Kind::PfxAes => (4 * pbkdf2 + mac, 0),
        // 2 x (key: 2 blocks of 20 bytes, IV: 1) + MAC: 1.
        Kind::Pfx3des => (0, 7 * legacy),
    }
}

fn criterion_benches(store: &MemoryStore) {
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(700))
        .configure_from_args();
    for iter in Iter::ALL {
        let policy = iter.policy();
        let mut group = c.benchmark_group(format!("download/{}", iter.name()));
        for (n, rec) in RECORDS {
            for kind in Kind::ALL {
                if !kind.keyed() && iter != Iter::One {
                    continue;
                }
                group.bench_function(format!("{rec}/{}", kind.name()), |b| {
                    b.iter(|| run(kind, n, store, &policy))
                });
            }
        }
        group.finish();
    }
    let mut group = c.benchmark_group("floors");
    let bmp = bmp(PASSWORD);
    for (name, iterations) in [("1", 1u32), ("2048", 2048), ("10000", 10_000)] {
        group.bench_function(format!("pbkdf2-sha256/{name}"), |b| {
            b.iter(|| floor_pbkdf2(iterations))
        });
        group.bench_function(format!("pkcs12-kdf-sha256/{name}"), |b| {
            b.iter(|| floor_p12_sha256(&bmp, iterations))
        });
        group.bench_function(format!("compress256x2/{name}"), |b| {
            b.iter(|| bound_sha256(2 * u64::from(iterations)))
        });
    }
    group.bench_function("pkcs12-kdf-sha1-legacy/2048", |b| {
        b.iter(|| floor_p12_sha1_legacy(&bmp, 2048))
    });
    group.finish();
    c.final_summary();
}

fn ratio_table(store: &MemoryStore) {
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    let bmp = bmp(PASSWORD);
    // Per-block time of the bare compression functions, measured once here and again
    // beside each case.
    println!();
    println!("## Ratios (medians of {rounds} interleaved samples per case)");
    println!();
    println!(
        "| record | format | iterations | time (µs) | floor (µs) | ratio to floor | ratio to compression bound |"
    );
    println!("|---|---|---|---:|---:|---:|---:|");
    for (n, rec) in RECORDS {
        let r = record(n);
        let leaf = r.leaf.to_vec();
        let mut all: Vec<Vec<u8>> = vec![leaf.clone()];
        all.extend(r.chain.iter().map(|c| c.to_vec()));
        let mut b64 = vec![0u8; leaf.len().div_ceil(3) * 4];
        let mut b64_all = vec![0u8; all.iter().map(Vec::len).max().unwrap_or(0).div_ceil(3) * 4];
        for iter in Iter::ALL {
            let policy = iter.policy();
            for kind in Kind::ALL {
                if !kind.keyed() && iter != Iter::One {
                    continue;
                }
                let mut case = || {
                    keep(run(kind, n, store, &policy));
                };
                if !kind.keyed() {
                    let mut base64 = || {
                        keep(STANDARD.encode_slice(&leaf, &mut b64).ok());
                    };
                    // Base64 of every certificate the file carries (pem: leaf and chain).
                    let mut base64_all = || {
                        for c in &all {
                            keep(STANDARD.encode_slice(c, &mut b64_all).ok());
                        }
                    };
                    let m = interleaved(
                        rounds,
                        100_000.0,
                        &mut [&mut case, &mut base64, &mut base64_all],
                    );
                    let all_ratio = if kind == Kind::Pem {
                        format!(
                            "; {:.2} to Base64 of all {} certificates ({:.2} µs)",
                            m[0] / m[2],
                            all.len(),
                            m[2] / 1e3
                        )
                    } else {
                        String::new()
                    };
                    println!(
                        "| {rec} | {} | - | {:.2} | {:.2} (Base64 of the DER leaf) | **{:.2}**{all_ratio} | - |",
                        kind.name(),
                        m[0] / 1e3,
                        m[1] / 1e3,
                        m[0] / m[1]
                    );
                    continue;
                }
                let (b256, b1) = bound_blocks(kind, iter);
                let pb = policy.pbkdf2_iterations();
                let mac = policy.mac_iterations();
                let legacy = policy.legacy_iterations();
                let mut f_pbkdf2 = || floor_pbkdf2(pb);
                let mut f_p12 = || floor_p12_sha256(&bmp, mac);
                let mut f_legacy = || floor_p12_sha1_legacy(&bmp, legacy);
                let mut bound = || {
                    bound_sha256(b256);
                    bound_sha1(b1);
                };
                let target = 300_000.0;
                let (floor, m0) = match kind {
                    Kind::CrtKey | Kind::PemKey => {
                        let m = interleaved(
                            rounds,
                            target,
                            &mut [&mut case, &mut f_pbkdf2, &mut bound],
                        );
                        (m[1], m)
                    }
                    Kind::PfxAes => {
                        let m = interleaved(
                            rounds,
                            target,
                            &mut [&mut case, &mut f_pbkdf2, &mut f_p12, &mut bound],
                        );
                        (2.0 * m[1] + m[2], vec![m[0], 0.0, 0.0, m[3]])
                    }
                    _ => {
                        let m = interleaved(
                            rounds,
                            target,
                            &mut [&mut case, &mut f_legacy, &mut bound],
                        );
                        (m[1], m)
                    }
                };
                let t = m0[0];
                let b = *m0.last().unwrap_or(&1.0);
                let emph = if iter == Iter::Default { "**" } else { "" };
                println!(
                    "| {rec} | {} | {} | {:.2} | {:.2} | {emph}{:.3}{emph} | {:.3} |",
                    kind.name(),
                    match (kind, iter) {
                        (Kind::Pfx3des, Iter::Default) => "default (2048)".to_owned(),
                        (_, Iter::Default) => "default (10000)".to_owned(),
                        _ => iter.name().to_owned(),
                    },
                    t / 1e3,
                    floor / 1e3,
                    t / floor,
                    t / b
                );
            }
        }
    }

    // The KDF floors themselves against the compression bound.
    println!();
    println!("## Floors against the compression bound (10,000 iterations; legacy 2,048)");
    println!();
    println!("| derivation | time (µs) | bound (µs) | ratio |");
    println!("|---|---:|---:|---:|");
    let mut f_pbkdf2 = || floor_pbkdf2(10_000);
    let mut b_pbkdf2 = || bound_sha256(20_000);
    let mut f_p12 = || floor_p12_sha256(&bmp, 10_000);
    let mut b_p12 = || bound_sha256(10_000);
    let mut f_legacy = || floor_p12_sha1_legacy(&bmp, 2048);
    let mut b_legacy = || bound_sha1(7 * 2048);
    let m = interleaved(
        rounds,
        300_000.0,
        &mut [
            &mut f_pbkdf2,
            &mut b_pbkdf2,
            &mut f_p12,
            &mut b_p12,
            &mut f_legacy,
            &mut b_legacy,
        ],
    );
    for (i, name) in [
        "PBKDF2-HMAC-SHA256, 32 bytes (`pbkdf2` crate)",
        "PKCS#12 KDF SHA-256, 32 bytes (`pkcs12` crate)",
        "legacy PFX: 5 PKCS#12 KDFs SHA-1 (`pkcs12` crate)",
    ]
    .iter()
    .enumerate()
    {
        println!(
            "| {name} | {:.1} | {:.1} | {:.3} |",
            m[2 * i] / 1e3,
            m[2 * i + 1] / 1e3,
            m[2 * i] / m[2 * i + 1]
        );
    }
}

fn main() {
    let store = store();
    if let Ok(spec) = std::env::var("BENCH_PROFILE") {
        // For `perf record`: one step in a loop. BENCH_PROFILE=prepare:1 or encode:1.
        let (step, n) = spec.split_once(':').unwrap_or(("prepare", "1"));
        let n: u64 = n.parse().unwrap_or(1);
        let policy = Iter::One.policy();
        let prepared = cert_download::prepare(Kind::PfxAes.request(n), &store).expect("ok");
        let count: u32 = std::env::var("BENCH_PROFILE_COUNT")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(20_000);
        let start = std::time::Instant::now();
        for _ in 0..count {
            if step == "crt" {
                keep(cert_download::prepare(Kind::Crt.request(n), &store).ok());
            } else if step == "crtkey" {
                keep(cert_download::prepare(Kind::CrtKey.request(n), &store).ok());
            } else if step == "request" {
                keep(Kind::CrtKey.request(n));
            } else if step == "pem" {
                keep(cert_download::prepare(Kind::Pem.request(n), &store).ok());
            } else if step == "prepare" {
                keep(cert_download::prepare(Kind::PfxAes.request(n), &store).ok());
            } else {
                keep(prepared.encode(&policy, &mut cert_download::OsRandom).ok());
            }
        }
        println!(
            "{step}: {:.2} µs",
            start.elapsed().as_secs_f64() * 1e6 / f64::from(count)
        );
        return;
    }
    if std::env::var_os("BENCH_RATIOS_ONLY").is_none() {
        criterion_benches(&store);
    }
    if std::env::var_os("BENCH_BREAKDOWN_ONLY").is_some() {
        breakdown(&store);
        return;
    }
    ratio_table(&store);
    breakdown(&store);
}

/// Where a PFX's fixed cost goes (1 iteration): the store's copy of the record, the checks
/// of `prepare` (parsing, key against leaf), and `encode`.
#[allow(dead_code)]
fn breakdown(store: &MemoryStore) {
    use cert_download::{CertificateStore, OsRandom, prepare};
    let rounds = 15;
    println!();
    println!("## Fixed cost of a PFX at 1 iteration, by step (µs)");
    println!();
    println!("| record | store copy | prepare (parse, key check) | encode | total |");
    println!("|---|---:|---:|---:|---:|");
    let policy = Iter::One.policy();
    for (n, rec) in RECORDS {
        let mut copy = || {
            keep(store.certificate(common::id(n)).ok());
            keep(store.private_key(common::id(n)).ok());
        };
        let mut prep = || {
            keep(prepare(Kind::PfxAes.request(n), store).ok());
        };
        let prepared = prepare(Kind::PfxAes.request(n), store).expect("prepared");
        let mut enc = || {
            keep(prepared.encode(&policy, &mut OsRandom).ok());
        };
        let mut all = || {
            keep(run(Kind::PfxAes, n, store, &policy));
        };
        let m = interleaved(
            rounds,
            100_000.0,
            &mut [&mut copy, &mut prep, &mut enc, &mut all],
        );
        println!(
            "| {rec} | {:.2} | {:.2} | {:.2} | {:.2} |",
            m[0] / 1e3,
            m[1] / 1e3,
            m[2] / 1e3,
            m[3] / 1e3
        );
    }
}
