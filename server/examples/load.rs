//! A load benchmark of the HTTPS service: starts the server (the release build next to this
//! example), measures in the same run how fast one thread of this process downloads the
//! same file through the library alone (no HTTP, no TLS), then for pfx and crt of the demo
//! store's RSA record at each concurrency keeps that many requests in flight over
//! keep-alive HTTPS connections for a few seconds, and prints requests/s and the p50/p99
//! latency of the 200s, how many were shed (503), the server's CPU time per request and the
//! CPU this client used, and, for pfx, the rate against the cores times the single-thread
//! rate.
//!
//! ```sh
//! cargo build --release -p cert-download-server --bins --examples
//! target/release/examples/load                       # pfx and crt at 1, 2 and 16
//! target/release/examples/load --seconds 10 --concurrency 1,2,16 --formats pfx,crt \
//!     --server target/release/cert-download-server -- --encode-queue 64
//! ```
//!
//! Arguments after `--` go to the server. The server is started with the per-principal
//! download limit lifted (one token makes every request here), everything else at its
//! defaults. Client and server share the machine's cores: on 2 cores, the client's own TLS
//! and HTTP work is a visible part of the crt figures (it is negligible next to a PFX).
//!
//! With `--postgres URL` (a PostgreSQL whose user may create databases) the same run also
//! measures the vault: a fresh database is made (and dropped at the end), initialized with
//! a new KEK file, the demo store imported and one principal granted everything; then
//! `vault-1` (one server on it) and `vault-2` (two servers on it, the client alternating
//! between them request by request) are measured beside `directory` (the demo store):
//!
//! ```sh
//! target/release/examples/load --postgres postgres://postgres@127.0.0.1:5432/postgres
//! ```
//!
//! With `--metrics-rounds N` the directory store is then measured N more times each without
//! and with `--metrics-listen` (alternating, so that drift of a shared machine falls on
//! both), to see what counting costs the hot path:
//!
//! ```sh
//! target/release/examples/load --metrics-rounds 3 --concurrency 16 --seconds 5
//! ```

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The demo store's token with every grant.
const TOKEN: &str = "demo-admin-token";

struct Options {
    server: PathBuf,
    postgres: Option<String>,
    seconds: f64,
    warmup: f64,
    concurrency: Vec<usize>,
    formats: Vec<String>,
    server_args: Vec<String>,
    metrics_rounds: u32,
}

fn options() -> Result<Options, String> {
    let here = std::env::current_exe().map_err(|e| e.to_string())?;
    // target/<profile>/examples/load -> target/<profile>/cert-download-server
    let default_server = here
        .parent()
        .and_then(|p| p.parent())
        .map(|p| p.join("cert-download-server"))
        .ok_or("cannot find the server next to this example")?;
    let mut options = Options {
        server: default_server,
        postgres: None,
        seconds: 5.0,
        warmup: 1.0,
        concurrency: vec![1, 2, 16],
        formats: vec!["pfx".into(), "crt".into()],
        server_args: Vec::new(),
        metrics_rounds: 0,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--" {
            options.server_args = args.by_ref().collect();
            break;
        }
        let value = args.next().ok_or_else(|| format!("{arg} needs a value"))?;
        match arg.as_str() {
            "--server" => options.server = PathBuf::from(value),
            "--postgres" => options.postgres = Some(value),
            "--seconds" => options.seconds = value.parse().map_err(|_| "--seconds: a number")?,
            "--warmup" => options.warmup = value.parse().map_err(|_| "--warmup: a number")?,
            "--concurrency" => {
                options.concurrency = value
                    .split(',')
                    .map(|c| c.trim().parse::<usize>())
                    .collect::<Result<_, _>>()
                    .map_err(|_| "--concurrency: numbers separated by commas")?;
            }
            "--formats" => options.formats = value.split(',').map(str::to_owned).collect(),
            "--metrics-rounds" => {
                options.metrics_rounds = value.parse().map_err(|_| "--metrics-rounds: a number")?;
            }
            _ => return Err(format!("unknown argument {arg}")),
        }
    }
    Ok(options)
}

fn body(format: &str) -> &'static str {
    match format {
        "pfx" => r#"{"id": "12345", "format": "pfx", "password": "securepassword123"}"#,
        "crt" => r#"{"id": "12345", "format": "crt"}"#,
        "crt+key" => {
            r#"{"id": "12345", "format": "crt", "download_key": true, "password": "keyprotectionpassword"}"#
        }
        "pem" => r#"{"id": "12345", "format": "pem"}"#,
        _ => panic!("unknown format {format}: pfx, crt, crt+key or pem"),
    }
}

#[derive(Default)]
struct Tally {
    ok: Vec<Duration>,
    shed: usize,
    other: usize,
}

async fn run(
    targets: &[Target],
    format: &str,
    concurrency: usize,
    warmup: Duration,
    measure: Duration,
) -> (Tally, Duration) {
    let body = body(format);
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for task in 0..concurrency {
        let targets = targets.to_vec();
        let (measuring, stop) = (Arc::clone(&measuring), Arc::clone(&stop));
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            // With several instances, each task goes to each in turn, request by request.
            let mut next = task;
            while !stop.load(Ordering::Relaxed) {
                let target = &targets[next % targets.len()];
                next += 1;
                let start = Instant::now();
                let sent = target
                    .client
                    .post(&target.url)
                    .bearer_auth(&target.token)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await;
                let status = match sent {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let _ = response.bytes().await;
                        status
                    }
                    Err(_) => 0,
                };
                let took = start.elapsed();
                if !measuring.load(Ordering::Relaxed) || stop.load(Ordering::Relaxed) {
                    continue;
                }
                match status {
                    200 => tally.ok.push(took),
                    503 => {
                        tally.shed += 1;
                        // As a client honouring Retry-After would, if less patiently.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    _ => tally.other += 1,
                }
            }
            tally
        }));
    }
    tokio::time::sleep(warmup).await;
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(measure).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed();
    let mut all = Tally::default();
    for task in tasks {
        let tally = task.await.expect("a load task");
        all.ok.extend(tally.ok);
        all.shed += tally.shed;
        all.other += tally.other;
    }
    (all, elapsed)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

/// CPU time (user and system) of a process so far, from `/proc/<pid>/stat`.
fn cpu_time(pid: &str) -> Duration {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Duration::ZERO;
    };
    // After the command name (in parentheses), utime and stime are fields 12 and 13.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: u64 = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse::<u64>().ok())
        .sum();
    let hz = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<u64>()
                .ok()
        })
        .unwrap_or(100);
    Duration::from_millis(ticks * 1000 / hz.max(1))
}

/// The machine's idle and total CPU time so far (all cores), in clock ticks, from
/// `/proc/stat`: what no process used, this run's or anyone else's.
fn machine_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    (idle, fields.iter().take(8).sum())
}

/// Downloads of `format` on one thread of this process, through the library alone (the
/// request parsed, the demo store read, the file encoded), for `seconds`: per second of
/// wall time, and per second of this thread's CPU time (which other processes on the
/// machine do not inflate).
fn single_thread_rate(format: &str, seconds: f64) -> Result<(f64, f64), String> {
    use cert_download::{DirectoryStore, ExportPolicy, OsRandom, download_json};
    let store = DirectoryStore::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/demo-store"
    ))
    .map_err(|e| e.to_string())?;
    let policy = ExportPolicy::default();
    let cpu_before = cpu_time("thread-self");
    let start = Instant::now();
    let mut done = 0u32;
    while start.elapsed().as_secs_f64() < seconds || done < 3 {
        download_json(body(format).as_bytes(), &store, &policy, &mut OsRandom)
            .map_err(|e| format!("the library refused the {format} request: {e}"))?;
        done += 1;
    }
    let wall = start.elapsed().as_secs_f64();
    let cpu = cpu_time("thread-self")
        .saturating_sub(cpu_before)
        .as_secs_f64();
    Ok((f64::from(done) / wall, f64::from(done) / cpu.max(1e-3)))
}

/// One server process; SIGINT and wait on drop.
struct Server {
    child: std::process::Child,
    url: String,
    port: u16,
}

impl Server {
    fn pid(&self) -> String {
        self.child.id().to_string()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn start_server(options: &Options, args: &[String]) -> Result<Server, String> {
    let mut child = Command::new(&options.server)
        .args(["--listen", "127.0.0.1:0"])
        .args([
            "--downloads-per-minute",
            "1000000000",
            "--download-burst",
            "1000000",
        ])
        .args(args)
        .args(&options.server_args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", options.server.display()))?;
    let mut ready = String::new();
    let stdout = child.stdout.take().ok_or("no stdout")?;
    BufReader::new(stdout)
        .read_line(&mut ready)
        .map_err(|e| e.to_string())?;
    // Dropped on an error below: the process is stopped.
    let mut server = Server {
        child,
        url: String::new(),
        port: 0,
    };
    let url = ready
        .trim()
        .strip_prefix("listening on ")
        .ok_or_else(|| format!("not a ready line: {ready:?}"))?;
    server.port = url
        .rsplit_once(':')
        .and_then(|(_, rest)| rest.split('/').next())
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| format!("no port in {url}"))?;
    server.url = url.to_owned();
    Ok(server)
}

/// Where one request goes: a client pinned to one server, its URL, the token.
#[derive(Clone)]
struct Target {
    client: reqwest::Client,
    url: String,
    token: String,
}

fn target(server: &Server, token: &str) -> Result<Target, String> {
    let ca = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/demo-store/tls/ca.pem"
    ))
    .map_err(|e| e.to_string())?;
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).map_err(|e| e.to_string())?)
        .resolve("localhost", SocketAddr::from(([127, 0, 0, 1], server.port)))
        .no_proxy()
        .pool_max_idle_per_host(1024)
        .build()
        .map_err(|e| e.to_string())?;
    Ok(Target {
        client,
        url: server.url.clone(),
        token: token.to_owned(),
    })
}

/// A fresh vault database on the PostgreSQL of `admin_url`: the demo store imported, a
/// token with every grant, and a service role of the documented grants (the server
/// refuses to run as the owner). Returns the service's database URL, the token and the
/// database's name (to drop).
async fn vault_database(
    admin_url: &str,
    kek_file: &std::path::Path,
) -> Result<(String, String, String), String> {
    use cert_download::{CertificateId, CertificateStore, DirectoryStore, Zeroizing};
    use cert_download_vault::{Keyring, Permission, Scope, Vault, VaultOptions};
    let name = format!("cert_download_load_{}", std::process::id());
    let pool = sqlx::PgPool::connect(admin_url)
        .await
        .map_err(|e| format!("{admin_url}: {e}"))?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&pool)
        .await
        .map_err(|e| format!("CREATE DATABASE {name}: {e}"))?;
    pool.close().await;
    let (base, query) = admin_url.split_once('?').unwrap_or((admin_url, ""));
    let cut = base
        .rfind('/')
        .filter(|&i| i > base.find("://").map_or(0, |j| j + 2));
    let url = match cut {
        Some(i) => format!("{}/{name}", &base[..i]),
        None => format!("{base}/{name}"),
    };
    let url = if query.is_empty() {
        url
    } else {
        format!("{url}?{query}")
    };
    Keyring::create_file(kek_file).map_err(|e| e.to_string())?;
    let keyring = Keyring::load(kek_file).map_err(|e| e.to_string())?;
    let vault = Vault::init(&url, keyring, VaultOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    let demo = DirectoryStore::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/demo-store"
    ))
    .map_err(|e| e.to_string())?;
    let id = CertificateId::new(12345).ok_or("id")?;
    let record = demo.certificate(id).map_err(|e| e.to_string())?;
    let key = Zeroizing::new(demo.private_key(id).map_err(|e| e.to_string())?);
    vault
        .import(id, &record, Some(&key))
        .await
        .map_err(|e| e.to_string())?;
    for permission in [Permission::Read, Permission::ExportKey] {
        vault
            .grant("load", permission, &Scope::All)
            .await
            .map_err(|e| e.to_string())?;
    }
    let token = vault
        .create_token("load", None)
        .await
        .map_err(|e| e.to_string())?
        .token
        .to_string();
    vault.close().await;
    let role = format!("{name}_service");
    let pool = sqlx::PgPool::connect(&url)
        .await
        .map_err(|e| format!("{name}: {e}"))?;
    // The grants the vault's documentation gives the service (test-support keeps them,
    // checked against the documentation by the vault's tests).
    let grants = cert_download_test_support::vault_db::SERVICE_GRANTS
        .iter()
        .map(|grant| grant.replace("vault_service", &role));
    for sql in std::iter::once(format!("CREATE ROLE {role} LOGIN")).chain(grants) {
        sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .execute(&pool)
            .await
            .map_err(|e| format!("{sql}: {e}"))?;
    }
    pool.close().await;
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[scheme_end..];
    let host = rest.find('@').map_or(rest, |at| &rest[at + 1..]);
    let service_url = format!("{}{role}@{host}", &url[..scheme_end]);
    Ok((service_url, token, name))
}

async fn drop_database(admin_url: &str, name: &str) {
    if let Ok(pool) = sqlx::PgPool::connect(admin_url).await {
        let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
        let _ = sqlx::query(sqlx::AssertSqlSafe(drop)).execute(&pool).await;
        let role = format!("DROP ROLE IF EXISTS {name}_service");
        let _ = sqlx::query(sqlx::AssertSqlSafe(role)).execute(&pool).await;
        pool.close().await;
    }
}

/// What `measure` needs beyond the options: the cores, and the single-thread rate of
/// each format through the library, measured in this run.
struct Baseline {
    cores: usize,
    single: Vec<(String, (f64, f64))>,
}

impl Baseline {
    fn rate(&self, format: &str) -> f64 {
        self.single
            .iter()
            .find(|(f, _)| f == format)
            .map_or(f64::NAN, |(_, (rate, _))| *rate)
    }
}

/// Each format at each concurrency through `targets`; the CPU columns are those of the
/// server processes `pids` (all of them together).
async fn measure(
    options: &Options,
    baseline: &Baseline,
    setup: &str,
    targets: &[Target],
    pids: &[String],
) {
    let servers_cpu = || pids.iter().map(|pid| cpu_time(pid)).sum::<Duration>();
    for format in &options.formats {
        for &concurrency in &options.concurrency {
            let (server_before, client_before) = (servers_cpu(), cpu_time("self"));
            let machine_before = machine_ticks();
            let (mut tally, elapsed) = run(
                targets,
                format,
                concurrency,
                Duration::from_secs_f64(options.warmup),
                Duration::from_secs_f64(options.seconds),
            )
            .await;
            tally.ok.sort();
            let secs = elapsed.as_secs_f64();
            // Warm-up included on both sides: CPU over all requests of the run.
            let server_cpu = servers_cpu().saturating_sub(server_before);
            let client_cpu = cpu_time("self").saturating_sub(client_before);
            let machine = machine_ticks();
            let idle = (machine.0 - machine_before.0) as f64 * 100.0
                / (machine.1 - machine_before.1).max(1) as f64;
            let wall = secs + options.warmup;
            let per_second = tally.ok.len() as f64 / secs;
            let answered = (per_second * wall).max(1.0);
            println!(
                "| {setup} | {format} | {concurrency} | {per_second:.0} | {:.2} | {} | {} | {:.0} | {} | {:.2} | {:.0} | {:.0} | {idle:.0} |",
                per_second / (baseline.cores as f64 * baseline.rate(format)),
                ms(percentile(&tally.ok, 50.0)),
                ms(percentile(&tally.ok, 99.0)),
                tally.shed as f64 / secs,
                tally.other,
                server_cpu.as_secs_f64() * 1e3 / answered,
                server_cpu.as_secs_f64() * 100.0 / wall,
                client_cpu.as_secs_f64() * 100.0 / wall,
            );
        }
    }
}

fn main() -> Result<(), String> {
    let options = options()?;
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let kek_dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let kek_file = kek_dir.path().join("kek");
    let vault = match &options.postgres {
        Some(admin) => Some(runtime.block_on(vault_database(admin, &kek_file))?),
        None => None,
    };
    println!(
        "server: {} {}",
        options.server.display(),
        options.server_args.join(" ")
    );
    println!();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut single = Vec::new();
    for format in &options.formats {
        single.push((
            format.clone(),
            single_thread_rate(format, options.seconds.min(3.0))?,
        ));
    }
    for (format, (rate, cpu_rate)) in &single {
        println!(
            "{format} through the library on one thread: {rate:.0}/s of wall time ({} ms each), {cpu_rate:.0}/s of CPU time ({} ms of CPU each); {cores} cores",
            ms(Duration::from_secs_f64(1.0 / rate)),
            ms(Duration::from_secs_f64(1.0 / cpu_rate))
        );
    }
    let baseline = Baseline { cores, single };
    println!();
    println!(
        "| setup | format | concurrency | requests/s (200) | / (cores x 1 thread) | p50 ms | p99 ms | shed (503)/s | other | server CPU ms/request | server CPU % | client CPU % | machine idle % |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let result = (|| {
        let directory = start_server(&options, &[])?;
        let targets = [target(&directory, TOKEN)?];
        runtime.block_on(measure(
            &options,
            &baseline,
            "directory",
            &targets,
            &[directory.pid()],
        ));
        drop(directory);
        for _ in 0..options.metrics_rounds {
            for (setup, extra) in [
                ("metrics off", &[][..]),
                ("metrics on", &["--metrics-listen", "127.0.0.1:0"][..]),
            ] {
                let extra: Vec<String> = extra.iter().map(|a| (*a).to_owned()).collect();
                let server = start_server(&options, &extra)?;
                let targets = [target(&server, TOKEN)?];
                runtime.block_on(measure(
                    &options,
                    &baseline,
                    setup,
                    &targets,
                    &[server.pid()],
                ));
            }
        }
        let Some((url, token, _)) = &vault else {
            return Ok(());
        };
        let kek = kek_file.to_string_lossy().into_owned();
        // The vault serves with TLS files of its own: the demo certificate and a copy of
        // its key that only its owner may read.
        let tls_key = kek_dir.path().join("tls.key");
        std::fs::copy(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../examples/demo-store/tls/server.key"
            ),
            &tls_key,
        )
        .map_err(|e| e.to_string())?;
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tls_key, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| e.to_string())?;
        }
        let tls_key = tls_key.to_string_lossy().into_owned();
        let tls_cert = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/demo-store/tls/server.pem"
        );
        let args = |n: u32| {
            [
                "--tls-cert",
                tls_cert,
                "--tls-key",
                &tls_key,
                "--database",
                url,
                "--kek-file",
                &kek,
                "--instance",
                &format!("load-{n}"),
            ]
            .map(str::to_owned)
            .to_vec()
        };
        let one = start_server(&options, &args(1))?;
        let targets = [target(&one, token)?];
        runtime.block_on(measure(
            &options,
            &baseline,
            "vault-1",
            &targets,
            &[one.pid()],
        ));
        let two = start_server(&options, &args(2))?;
        let targets = [target(&one, token)?, target(&two, token)?];
        let pids = [one.pid(), two.pid()];
        runtime.block_on(measure(&options, &baseline, "vault-2", &targets, &pids));
        Ok::<(), String>(())
    })();
    if let (Some(admin), Some((_, _, name))) = (&options.postgres, &vault) {
        runtime.block_on(drop_database(admin, name));
    }
    result
}
