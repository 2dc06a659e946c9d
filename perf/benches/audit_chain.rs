//! The price of the audit chain, in one run: a keyed download (a default PFX with its key
//! from the vault, RSA-2048 record) followed by its audit row, the row written chained (as
//! the service writes it) and as it was before the chain, interleaved; the insert alone,
//! both ways; and `audit verify` over a table of rows (rows per second).
//!
//! ```sh
//! cargo bench -p cert-download-perf --bench audit_chain -- --warm-up-time 1 --measurement-time 3
//! CERT_DOWNLOAD_POSTGRES_URL=postgres://postgres@127.0.0.1:54329/postgres cargo bench ...
//! ```

mod common;

use std::time::{Duration, Instant};

use cert_download::{CertificateRecord, DownloadRequest, ExportPolicy, OsRandom, prepare_async};
use cert_download_vault::{
    AuditEntry, AuditVerifier, Keyring, Permission, Scope, Vault, VaultOptions, VaultStore,
};
use common::{id, interleaved, keep, password, record};
use criterion::Criterion;
use tokio::runtime::Runtime;

const N: u64 = 1;
/// Rows in the table `audit verify` walks.
const VERIFY_ROWS: usize = 20_000;

struct Fixture {
    name: &'static str,
    vault: Vault,
    store: VaultStore,
    url: String,
    _dir: tempfile::TempDir,
}

fn entry() -> AuditEntry {
    AuditEntry {
        principal: Some("bench".into()),
        certificate_id: Some(1),
        format: Some("pfx".into()),
        key_out: true,
        status: 200,
        client: Some("127.0.0.1:50000".into()),
        instance: Some("bench".into()),
        ..AuditEntry::default()
    }
}

async fn fill(name: &'static str, url: String, dir: tempfile::TempDir) -> Fixture {
    let kek = dir.path().join("kek");
    let vault = Vault::init(
        &url,
        Keyring::load(&kek).expect("kek"),
        VaultOptions::default(),
    )
    .await
    .expect("a vault");
    let r = record(N);
    let rec = CertificateRecord::new(r.leaf, r.chain);
    vault
        .import(id(N), &rec, Some(&r.key))
        .await
        .expect("import");
    for p in [Permission::Read, Permission::ExportKey] {
        vault.grant("bench", p, &Scope::All).await.expect("grant");
    }
    let token = vault
        .create_token("bench", None)
        .await
        .expect("token")
        .token;
    let store = vault.caller(&token).await.expect("caller");
    Fixture {
        name,
        vault,
        store,
        url,
        _dir: dir,
    }
}

fn fixtures(rt: &Runtime) -> Vec<Fixture> {
    let mut out = Vec::new();
    let dir = tempfile::tempdir().expect("a temporary directory");
    Keyring::create_file(dir.path().join("kek")).expect("a KEK file");
    let url = format!("sqlite://{}", dir.path().join("vault.db").display());
    out.push(rt.block_on(fill("sqlite", url, dir)));
    if let Ok(admin) = std::env::var("CERT_DOWNLOAD_POSTGRES_URL") {
        let dir = tempfile::tempdir().expect("a temporary directory");
        Keyring::create_file(dir.path().join("kek")).expect("a KEK file");
        let name = format!("audit_chain_bench_{}", std::process::id());
        let url = rt.block_on(async {
            let pool = sqlx::PgPool::connect(&admin).await.expect("the cluster");
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name}"
            )))
            .execute(&pool)
            .await;
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&pool)
                .await
                .expect("CREATE DATABASE");
            match admin.rsplit_once('/') {
                Some((base, _)) => format!("{base}/{name}"),
                None => admin.clone(),
            }
        });
        out.push(rt.block_on(fill("postgres", url, dir)));
    } else {
        eprintln!("audit_chain bench: PostgreSQL skipped (CERT_DOWNLOAD_POSTGRES_URL unset)");
    }
    out
}

fn keyed_download(rt: &Runtime, f: &Fixture, policy: &ExportPolicy, chained: bool) {
    rt.block_on(async {
        let prepared = prepare_async(DownloadRequest::pfx(id(N), password()), &f.store)
            .await
            .expect("prepared");
        keep(prepared.encode(policy, &mut OsRandom).expect("encoded"));
        if chained {
            f.vault.record_audit(&entry()).await.expect("audit row");
        } else {
            f.vault
                .record_audit_unchained(&entry())
                .await
                .expect("audit row");
        }
    });
}

fn verify_rate(rt: &Runtime, f: &Fixture) -> f64 {
    rt.block_on(async {
        let public = f.vault.audit_public_key().expect("a key");
        // Rows written as the service writes them, then one checkpoint.
        let have: usize = f
            .vault
            .audit(&Default::default())
            .await
            .expect("rows")
            .len();
        for _ in have..VERIFY_ROWS {
            f.vault.record_audit(&entry()).await.expect("audit row");
        }
        f.vault.audit_checkpoint("bench").await.expect("checkpoint");
        let verifier = AuditVerifier::open(&f.url, VaultOptions::default())
            .await
            .expect("verifier");
        let start = Instant::now();
        let report = verifier.verify(&public, &[], 1000).await.expect("verify");
        let secs = start.elapsed().as_secs_f64();
        assert!(report.verified, "{report:?}");
        (report.rows + u64::try_from(report.unchained).unwrap_or(0)) as f64 / secs
    })
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let fixtures = fixtures(&rt);
    let policy = ExportPolicy::default();
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    for f in &fixtures {
        let mut group = c.benchmark_group(format!("audit_chain/{}", f.name));
        group.bench_function("keyed_pfx_row_unchained", |b| {
            b.iter(|| keyed_download(&rt, f, &policy, false))
        });
        group.bench_function("keyed_pfx_row_chained", |b| {
            b.iter(|| keyed_download(&rt, f, &policy, true))
        });
        group.bench_function("row_unchained", |b| {
            b.iter(|| {
                rt.block_on(f.vault.record_audit_unchained(&entry()))
                    .expect("row")
            })
        });
        group.bench_function("row_chained", |b| {
            b.iter(|| rt.block_on(f.vault.record_audit(&entry())).expect("row"))
        });
        group.finish();
    }
    c.final_summary();
    // The same cases sampled in turn (interleaved medians), so that load drift on a shared
    // machine hits both sides alike: the ratios to compare.
    println!();
    println!(
        "| database | keyed pfx + row, chained / unchained | row alone, chained / unchained |"
    );
    println!("|---|---:|---:|");
    for f in &fixtures {
        let m = interleaved(
            41,
            20e6,
            &mut [
                &mut || keyed_download(&rt, f, &policy, false),
                &mut || keyed_download(&rt, f, &policy, true),
                &mut || {
                    rt.block_on(f.vault.record_audit_unchained(&entry()))
                        .expect("row");
                },
                &mut || {
                    rt.block_on(f.vault.record_audit(&entry())).expect("row");
                },
            ],
        );
        println!(
            "| {} | {:.3} ({:.0} / {:.0} µs) | {:.3} ({:.0} / {:.0} µs) |",
            f.name,
            m[1] / m[0],
            m[1] / 1e3,
            m[0] / 1e3,
            m[3] / m[2],
            m[3] / 1e3,
            m[2] / 1e3
        );
    }
    println!();
    for f in &fixtures {
        println!(
            "audit verify, {}: {:.0} rows/s ({VERIFY_ROWS}+ rows, pages of 1000)",
            f.name,
            verify_rate(&rt, f)
        );
    }
}
