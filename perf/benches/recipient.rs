//! Keys to a recipient beside a default pfx: CMS `EnvelopedData` in a pem download (to an
//! RSA-3072 and a P-256 recipient) and a kwp download (RSA-3072), against the default pfx
//! (10,000 PBKDF2 iterations and the MAC's KDF), for an RSA-2048 and a P-256 stored key.
//! One RSA-OAEP encryption or one ECDH and no KDF per download, against the pfx's password
//! derivations: the ratio table after criterion's report samples every case in turn
//! (interleaved, medians), so that load drift on a shared machine hits them alike.
//!
//! ```sh
//! cargo bench -p cert-download-perf --bench recipient -- --warm-up-time 1 --measurement-time 3
//! ```

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use cert_download::{
    DownloadRequest, DownloadResponse, ExportPolicy, KeyRecipient, MemoryStore, OsRandom,
    download_with,
};
use common::{fixtures, id, password, store};
use criterion::Criterion;

fn recipient(name: &str) -> KeyRecipient {
    let pem = std::fs::read_to_string(fixtures().join(format!("recipients/{name}.pem")))
        .expect("a recipient fixture");
    KeyRecipient::from_pem_or_base64(&pem).expect("a recipient")
}

/// The cases of one record: name and request.
fn cases(n: u64) -> Vec<(&'static str, DownloadRequest)> {
    vec![
        ("pfx (default)", DownloadRequest::pfx(id(n), password())),
        (
            "pem + CMS to RSA-3072",
            DownloadRequest::pem(id(n)).with_key_for(recipient("rsa3072")),
        ),
        (
            "pem + CMS to P-256",
            DownloadRequest::pem(id(n)).with_key_for(recipient("p256")),
        ),
        (
            "kwp to RSA-3072",
            DownloadRequest::kwp(id(n), recipient("rsa3072")),
        ),
    ]
}

fn once(request: DownloadRequest, store: &MemoryStore, policy: &ExportPolicy) -> DownloadResponse {
    download_with(request, store, policy, &mut OsRandom).expect("a download")
}

fn main() {
    let store = store();
    let policy = ExportPolicy::default();
    let mut c = Criterion::default().configure_from_args();
    for (n, name) in [(1u64, "rsa2048"), (4, "p256")] {
        let mut group = c.benchmark_group(format!("recipient/{name}"));
        for (case, _) in cases(n) {
            group.bench_function(case, |b| {
                b.iter_batched(
                    || {
                        cases(n)
                            .into_iter()
                            .find(|(c, _)| *c == case)
                            .expect("the case")
                            .1
                    },
                    |request| black_box(once(request, &store, &policy)),
                    criterion::BatchSize::SmallInput,
                )
            });
        }
        group.finish();
    }
    c.final_summary();

    println!();
    println!("## Keys to a recipient against the default pfx (interleaved medians)");
    println!();
    println!("| stored key | download | median | / default pfx |");
    println!("|---|---|---:|---:|");
    for (n, name) in [(1u64, "RSA-2048"), (4, "P-256")] {
        let rounds = 60;
        let mut times: Vec<Vec<Duration>> = vec![Vec::new(); cases(n).len()];
        for _ in 0..rounds {
            for (i, (_, request)) in cases(n).into_iter().enumerate() {
                let start = Instant::now();
                black_box(once(request, &store, &policy));
                times[i].push(start.elapsed());
            }
        }
        let medians: Vec<Duration> = times
            .iter_mut()
            .map(|t| {
                t.sort();
                t[t.len() / 2]
            })
            .collect();
        for ((case, _), median) in cases(n).into_iter().zip(&medians) {
            println!(
                "| {name} | {case} | {:.1} µs | {:.3} |",
                median.as_secs_f64() * 1e6,
                median.as_secs_f64() / medians[0].as_secs_f64()
            );
        }
    }
}
