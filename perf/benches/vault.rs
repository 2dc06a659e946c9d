//! What a vault store (cert-download-vault) adds to a download, beside `MemoryStore` in the
//! same run: a crt without key (the store's share is largest there) and a default pfx (the
//! key derivations dominate), from SQLite and, when CERT_DOWNLOAD_POSTGRES_URL names a
//! cluster, from PostgreSQL.
//!
//! ```sh
//! cargo bench -p cert-download-perf --bench vault                  # criterion, then the ratio table
//! BENCH_RATIOS_ONLY=1 cargo bench -p cert-download-perf --bench vault   # the ratio table alone
//! CERT_DOWNLOAD_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench ...
//! ```
//!
//! Every download runs the same way for every store: `prepare_async` on a current-thread
//! tokio runtime, then `encode`. The crt breakdown times the vault's pieces alone: the
//! token lookup (`Vault::caller`), the certificate query, the key query and unsealing. The
//! last table times the SQLite lookup as the store spells it beside the spelling that SQLite
//! re-prepares at each execution (PERFORMANCE.md).

mod common;

use std::str::FromStr;
use std::time::Duration;

use cert_download::{
    AsyncCertificateStore, CertificateId, CertificateRecord, CertificateStore, DownloadRequest,
    ExportPolicy, MemoryStore, OsRandom, PrivateKeyDer, StoreError, prepare_async,
};
use cert_download_vault::{Keyring, Permission, Scope, SealedKey, Vault, VaultOptions, VaultStore};
use common::{id, interleaved, keep, password, record};
use criterion::Criterion;
use tokio::runtime::Runtime;

/// The RSA-2048 record with its 2-certificate chain.
const N: u64 = 1;

/// `MemoryStore` behind the async trait, answering in place (no thread hop), so that the
/// memory case runs the same `prepare_async` path as the vault.
#[derive(Debug)]
struct Memory(MemoryStore);

impl AsyncCertificateStore for Memory {
    async fn certificate(&self, id: CertificateId) -> Result<CertificateRecord, StoreError> {
        CertificateStore::certificate(&self.0, id)
    }
    async fn private_key(&self, id: CertificateId) -> Result<PrivateKeyDer<'static>, StoreError> {
        CertificateStore::private_key(&self.0, id)
    }
}

struct Fixture {
    name: &'static str,
    /// The KEK file's keyring and record N's key sealed under it (unsealing alone).
    keyring: Keyring,
    sealed: SealedKey,
    vault: Vault,
    url: String,
    token: cert_download::Zeroizing<String>,
    store: VaultStore,
    _dir: Option<tempfile::TempDir>,
}

async fn fill(
    name: &'static str,
    url: &str,
    kek: &std::path::Path,
    dir: Option<tempfile::TempDir>,
) -> Fixture {
    let keyring = Keyring::load(kek).expect("the KEK file");
    let vault = Vault::init(url, keyring, VaultOptions::default())
        .await
        .expect("a vault");
    let r = record(N);
    let rec = CertificateRecord::new(r.leaf, r.chain);
    vault
        .import(id(N), &rec, Some(&r.key))
        .await
        .expect("import");
    vault
        .grant("bench", Permission::Read, &Scope::All)
        .await
        .expect("grant");
    vault
        .grant("bench", Permission::ExportKey, &Scope::All)
        .await
        .expect("grant");
    let token = vault
        .create_token("bench", None)
        .await
        .expect("token")
        .token;
    let store = vault.caller(&token).await.expect("caller");
    let keyring = Keyring::load(kek).expect("the KEK file");
    let sealed = keyring.seal(id(N), &record(N).key).expect("sealed");
    Fixture {
        name,
        keyring,
        sealed,
        vault,
        url: url.to_owned(),
        token,
        store,
        _dir: dir,
    }
}

fn fixtures(rt: &Runtime) -> Vec<Fixture> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let kek = dir.path().join("kek");
    Keyring::create_file(&kek).expect("a KEK file");
    let url = format!("sqlite://{}", dir.path().join("vault.db").display());
    let mut out = Vec::new();
    let sqlite = rt.block_on(fill("sqlite", &url, &kek, None));
    match std::env::var("CERT_DOWNLOAD_POSTGRES_URL") {
        Ok(admin) if !admin.is_empty() => {
            let name = format!("vault_bench_{}", std::process::id());
            let pg = rt.block_on(async {
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
                let url = match admin.rsplit_once('/') {
                    Some((base, _)) => format!("{base}/{name}"),
                    None => admin.clone(),
                };
                fill("postgres", &url, &kek, None).await
            });
            out.push(sqlite);
            out.push(pg);
        }
        _ => {
            eprintln!(
                "vault bench: PostgreSQL skipped (CERT_DOWNLOAD_POSTGRES_URL unset; \
                 scripts/test-all shows how to start a throwaway cluster)"
            );
            out.push(sqlite);
        }
    }
    out[0]._dir = Some(dir);
    out
}

fn download<S: AsyncCertificateStore>(
    rt: &Runtime,
    store: &S,
    request: DownloadRequest,
    policy: &ExportPolicy,
) {
    let prepared = rt
        .block_on(prepare_async(request, store))
        .expect("prepared");
    keep(prepared.encode(policy, &mut OsRandom).expect("encoded"));
}

fn crt() -> DownloadRequest {
    DownloadRequest::crt(id(N))
}

fn pfx() -> DownloadRequest {
    DownloadRequest::pfx(id(N), password())
}

fn criterion_benches(rt: &Runtime, memory: &Memory, vaults: &[Fixture], policy: &ExportPolicy) {
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    for (case, request) in [
        ("crt", crt as fn() -> DownloadRequest),
        ("pfx_default", pfx),
    ] {
        let mut group = c.benchmark_group(format!("vault/{case}"));
        group.bench_function("memory", |b| {
            b.iter(|| download(rt, memory, request(), policy))
        });
        for f in vaults {
            group.bench_function(f.name, |b| {
                b.iter(|| download(rt, &f.store, request(), policy))
            });
        }
        group.finish();
    }
    c.final_summary();
}

/// CPU time of this process (every thread: sqlx's SQLite worker threads included), in
/// nanoseconds, from /proc/self/stat (utime + stime, 100 ticks a second).
fn cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks * 10_000_000)
}

/// CPU nanoseconds per call of each function, sampled in turn for `rounds` rounds of
/// about `round_ns` of wall time each (the ticks are 10 ms: rounds of 0.5 s keep the
/// error near 1 %).
fn cpu_interleaved(rounds: usize, round_ns: f64, fs: &mut [&mut dyn FnMut()]) -> Option<Vec<f64>> {
    let mut totals = vec![(0u64, 0u64); fs.len()];
    let batches: Vec<u32> = fs
        .iter_mut()
        .map(|f| common::batch_for(round_ns, *f))
        .collect();
    for _ in 0..rounds {
        for (i, f) in fs.iter_mut().enumerate() {
            let before = cpu_ns()?;
            for _ in 0..batches[i] {
                f();
            }
            totals[i].0 += cpu_ns()? - before;
            totals[i].1 += u64::from(batches[i]);
        }
    }
    Some(
        totals
            .iter()
            .map(|(ns, n)| *ns as f64 / *n as f64)
            .collect(),
    )
}

fn ratio_table(rt: &Runtime, memory: &Memory, vaults: &[Fixture], policy: &ExportPolicy) {
    println!(
        "\n| case | store | wall time per download (median) | vs memory | CPU time per download | vs memory |"
    );
    println!("|---|---|---|---|---|---|");
    for (case, request, target, rounds) in [
        ("crt", crt as fn() -> DownloadRequest, 2e6, 41),
        ("pfx default", pfx, 3e7, 15),
    ] {
        let mut fs: Vec<Box<dyn FnMut()>> =
            vec![Box::new(|| download(rt, memory, request(), policy))];
        let mut names = vec!["memory".to_owned()];
        for f in vaults {
            fs.push(Box::new(move || download(rt, &f.store, request(), policy)));
            names.push(f.name.to_owned());
        }
        // As a service runs it: the token looked up first (Vault::caller), then the download.
        for f in vaults {
            fs.push(Box::new(move || {
                let store = rt.block_on(f.vault.caller(&f.token)).expect("caller");
                download(rt, &store, request(), policy);
            }));
            names.push(format!("{}, token lookup included", f.name));
        }
        let mut refs: Vec<&mut dyn FnMut()> = fs
            .iter_mut()
            .map(|f| &mut **f as &mut dyn FnMut())
            .collect();
        let wall = interleaved(rounds, target, &mut refs);
        let cpu = cpu_interleaved(6, 5e8, &mut refs).unwrap_or_default();
        for (i, name) in names.iter().enumerate() {
            let (cpu_text, cpu_ratio) = match cpu.get(i) {
                Some(ns) => (format!("{:.1} µs", ns / 1e3), format!("{:.3}", ns / cpu[0])),
                None => ("-".into(), "-".into()),
            };
            println!(
                "| {case} | {name} | {:.1} µs | {:.3} | {cpu_text} | {cpu_ratio} |",
                wall[i] / 1e3,
                wall[i] / wall[0]
            );
        }
    }
    // Where a crt's time goes in the vault: its pieces alone.
    println!("\n| vault piece | store | wall time (median) | CPU time |");
    println!("|---|---|---|---|");
    for f in vaults {
        let mut caller = || {
            keep(rt.block_on(f.vault.caller(&f.token)).expect("caller"));
        };
        let mut certificate = || {
            keep(
                rt.block_on(AsyncCertificateStore::certificate(&f.store, id(N)))
                    .expect("record"),
            );
        };
        let mut key = || {
            keep(
                rt.block_on(AsyncCertificateStore::private_key(&f.store, id(N)))
                    .expect("key"),
            );
        };
        let mut unseal = || {
            let _ = keep(f.keyring.open(id(N), &f.sealed).expect("opens"));
        };
        let mut fs: [&mut dyn FnMut(); 4] = [&mut caller, &mut certificate, &mut key, &mut unseal];
        let wall = interleaved(41, 2e6, &mut fs);
        let cpu = cpu_interleaved(4, 5e8, &mut fs).unwrap_or_default();
        for (i, piece) in [
            "token lookup (Vault::caller: one query)",
            "certificate(): one query (grants, record, sealed key), issuers split",
            "private_key() alone: one query and unsealing",
            "unsealing alone (AES-256-GCM: unwrap the data key, open the key)",
        ]
        .iter()
        .enumerate()
        {
            let cpu_text = cpu
                .get(i)
                .map_or("-".into(), |ns| format!("{:.1} µs", ns / 1e3));
            println!(
                "| {piece} | {} | {:.1} µs | {cpu_text} |",
                f.name,
                wall[i] / 1e3
            );
        }
    }
}

/// The store's SQLite lookup (`QUERY_SQLITE`, parameters compared as `+$N`) beside the same
/// query spelt `column = $N`, on the bench's SQLite file through a pool of its own: sqlx
/// clears the bindings before each execution, and SQLite re-prepares a statement whose plan
/// it marked as depending on a parameter's value; the second spelling is so marked.
fn reprepare_table(rt: &Runtime, vaults: &[Fixture]) {
    use sha2::Digest;
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
    let Some(f) = vaults.iter().find(|f| f.name == "sqlite") else {
        return;
    };
    let options = SqliteConnectOptions::from_str(&f.url)
        .expect("the SQLite URL")
        .journal_mode(SqliteJournalMode::Wal);
    let pool = rt
        .block_on(
            SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(options),
        )
        .expect("the SQLite file");
    let hash = sha2::Sha256::digest(f.token.as_bytes()).to_vec();
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("a clock after 1970")
            .as_secs(),
    )
    .expect("seconds in an i64");
    let bare = cert_download_vault::QUERY_SQLITE.replace("+$", "$");
    let run = |sql: &str| {
        let row = rt
            .block_on(
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(&hash)
                    .bind(1_i64)
                    .bind(now)
                    .fetch_optional(&pool),
            )
            .expect("the lookup");
        assert!(keep(row).is_some(), "the lookup finds the token");
    };
    let mut plus = || run(cert_download_vault::QUERY_SQLITE);
    let mut equal = || run(&bare);
    let mut fs: [&mut dyn FnMut(); 2] = [&mut plus, &mut equal];
    let wall = interleaved(41, 2e6, &mut fs);
    let cpu = cpu_interleaved(4, 5e8, &mut fs).unwrap_or_default();
    println!("\n| SQLite lookup query alone | wall time (median) | CPU time | CPU vs as stored |");
    println!("|---|---|---|---|");
    for (i, spelling) in [
        "as the store runs it (`t.hash = +$1`, `c.id = +$2`)",
        "spelt `t.hash = $1`, `c.id = $2` (re-prepared on each execution)",
    ]
    .iter()
    .enumerate()
    {
        let (cpu_text, ratio) = match cpu.get(i) {
            Some(ns) => (format!("{:.1} µs", ns / 1e3), format!("{:.2}", ns / cpu[0])),
            None => ("-".into(), "-".into()),
        };
        println!(
            "| {spelling} | {:.1} µs | {cpu_text} | {ratio} |",
            wall[i] / 1e3
        );
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let mut memory = MemoryStore::new();
    let r = record(N);
    memory.insert(
        id(N),
        cert_download::store::MemoryEntry::new(r.leaf)
            .with_issuers(r.chain)
            .with_key(Some(r.key)),
    );
    let memory = Memory(memory);
    let vaults = fixtures(&rt);
    let policy = ExportPolicy::default();
    if let Ok(piece) = std::env::var("BENCH_PROFILE") {
        // For `perf record`: one piece in a loop for 10 s on the first vault (SQLite).
        // BENCH_PROFILE=certificate, caller or crt.
        let f = &vaults[0];
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            match piece.as_str() {
                "caller" => drop(keep(rt.block_on(f.vault.caller(&f.token)))),
                "crt" => download(&rt, &f.store, crt(), &policy),
                _ => drop(keep(
                    rt.block_on(AsyncCertificateStore::certificate(&f.store, id(N))),
                )),
            }
        }
        return;
    }
    if std::env::var_os("BENCH_RATIOS_ONLY").is_none() {
        criterion_benches(&rt, &memory, &vaults, &policy);
    }
    ratio_table(&rt, &memory, &vaults, &policy);
    reprepare_table(&rt, &vaults);
}
