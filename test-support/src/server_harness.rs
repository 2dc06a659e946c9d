//! The service's test harness (feature `server-harness`), shared by the server's test
//! binaries (`server`, `kek`, `trust`, `vault`): starting and stopping
//! `cert-download-server` as a real process ([`ServerBinary`], [`Server`]), talking to it
//! with reqwest ([`client`], [`post_json`]), and reading its answers the way the contract
//! writes them ([`Reply`]); [`raw`] writes requests by hand below reqwest, [`tools`] runs
//! the `openssl` CLI and reads PEM by hand.
//!
//! test-support cannot name the server's executable (`CARGO_BIN_EXE_*` exists only when
//! cargo builds an integration test of the server crate), so each test binary passes it in
//! through [`ServerBinary::new`]. Cargo builds it with the test's profile (`dev` by
//! default): an incremental debug build takes seconds, while the `release` profile
//! (codegen-units = 1) takes minutes from cold. The price is that a default PFX costs about
//! 0.4 s of CPU in a debug build, so the load tests are sized for that.

pub mod raw;
pub mod tools;

use std::io::{BufRead, BufReader, Read};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

/// The endpoint's path, which the ready line's URL must name.
pub const PATH: &str = "/api/certificate/download";

/// How long the server may take to print its ready line once spawned.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the server may take to exit after SIGINT before the harness kills it.
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(20);

/// The repository's root, where `examples/demo-store` lives.
pub fn repo_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// A file of the demo store, `examples/demo-store/<rel>`.
pub fn demo(rel: &str) -> PathBuf {
    repo_dir().join("examples/demo-store").join(rel)
}

/// A copy of the demo store's TLS key in `dir`, named `name`, with the permission bits
/// `mode` (copied once, the bits set each time). The service on the vault refuses the demo
/// store's own key file, and any key file that group or others may read.
pub fn demo_tls_key_copy(dir: &Path, name: &str, mode: u32) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let key = dir.join(name);
    if !key.exists() {
        std::fs::copy(demo("tls/server.key"), &key).unwrap();
    }
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).unwrap();
    key
}

/// TLS files for the service on the vault: the demo certificate, and a copy of its key in
/// `dir` (`tls-server.key`) that only its owner may read.
pub fn vault_tls_files(dir: &Path) -> (String, String) {
    let key = demo_tls_key_copy(dir, "tls-server.key", 0o600);
    (
        demo("tls/server.pem").to_str().unwrap().to_owned(),
        key.to_str().unwrap().to_owned(),
    )
}

/// Copies a store record (a directory of files) to `to`, which must not exist.
pub fn copy_record(from: &Path, to: &Path) {
    std::fs::create_dir(to).unwrap_or_else(|e| panic!("cannot create {}: {e}", to.display()));
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

// ---------------------------------------------------------------------------------------
// Building the example
// ---------------------------------------------------------------------------------------

/// The server executable the harness starts: the one cargo built for the calling test
/// binary, whose path only that binary knows (`env!("CARGO_BIN_EXE_cert-download-server")`,
/// given to [`ServerBinary::new`]), unless `CERT_DOWNLOAD_SERVER_BIN` names another build
/// (an older one, to see a test fail before its fix).
///
/// A test binary holds one as a constant and starts servers through it:
///
/// ```text
/// const SERVER: ServerBinary = ServerBinary::new(env!("CARGO_BIN_EXE_cert-download-server"));
/// let server = SERVER.start(&["--store", "examples/demo-store"]);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct ServerBinary {
    built: &'static str,
}

impl ServerBinary {
    /// The server built by cargo at `built` (the test binary's `CARGO_BIN_EXE_...` path).
    pub const fn new(built: &'static str) -> ServerBinary {
        ServerBinary { built }
    }

    /// The executable to run: `CERT_DOWNLOAD_SERVER_BIN` when set and not empty, else the
    /// one cargo built.
    pub fn path(&self) -> PathBuf {
        std::env::var_os("CERT_DOWNLOAD_SERVER_BIN")
            .filter(|p| !p.is_empty())
            .map_or_else(|| PathBuf::from(self.built), PathBuf::from)
    }

    /// The vault's admin command, built beside the server (`cargo test --workspace` and
    /// scripts/test-all build it; alone: `cargo build -p cert-download-vault`). Fails the
    /// test, saying how to build it, when it is missing.
    pub fn admin_binary(&self) -> PathBuf {
        let server = self.path();
        let bin = server
            .parent()
            .unwrap_or_else(|| panic!("{} has no parent directory", server.display()))
            .join("cert-download-vault");
        assert!(
            bin.is_file(),
            "{} is missing: build it with `cargo build -p cert-download-vault` (scripts/test-all \
             builds the whole workspace)",
            bin.display()
        );
        bin
    }
}

// ---------------------------------------------------------------------------------------
// The server process
// ---------------------------------------------------------------------------------------

/// A running `server`; SIGINT and wait on drop.
pub struct Server {
    child: Child,
    /// The URL of the ready line, e.g. `https://localhost:40123/api/certificate/download`.
    pub url: String,
    /// Where it listens, to pin `localhost` to it in the client.
    pub addr: SocketAddr,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
    exited: Option<ExitStatus>,
    /// Directories that must live as long as the server (a temporary store).
    _keep: Vec<tempfile::TempDir>,
}

/// What a stopped server left behind.
#[derive(Debug)]
pub struct Stopped {
    /// How it exited.
    pub status: ExitStatus,
    /// From SIGINT to exit.
    pub took: Duration,
    /// Everything it wrote on stdout (the ready line).
    pub stdout: String,
    /// Everything it wrote on stderr (its log).
    pub stderr: String,
}

fn spawn_reader(
    mut from: impl Read + Send + 'static,
    into: Arc<Mutex<String>>,
    first_line: Option<mpsc::Sender<String>>,
) -> JoinHandle<()> {
    std::thread::spawn(move || match first_line {
        Some(tx) => {
            let mut reader = BufReader::new(from);
            let mut tx = Some(tx);
            let mut line = String::new();
            loop {
                line.clear();
                match reader.read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        into.lock().unwrap().push_str(&line);
                        if let Some(tx) = tx.take() {
                            let _ = tx.send(line.clone());
                        }
                    }
                }
            }
        }
        None => {
            let mut chunk = [0u8; 8192];
            loop {
                match from.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => into
                        .lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&chunk[..n])),
                }
            }
        }
    })
}

fn command(
    bin: &Path,
    args: &[&str],
    log_level: &str,
    open_files: Option<u32>,
    env: &[(&str, &Path)],
) -> Command {
    let mut command = match open_files {
        None => Command::new(bin),
        Some(n) => {
            // The shell lowers the limit, then becomes the server (same pid).
            let mut sh = Command::new("sh");
            sh.arg("-c")
                .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                .arg(bin);
            sh
        }
    };
    command
        .args(args)
        .env("RUST_LOG", log_level)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// The IP given with `--listen`, or 127.0.0.1 which the harness adds.
fn listen_ip(args: &[&str]) -> IpAddr {
    args.iter()
        .position(|a| *a == "--listen")
        .and_then(|i| args.get(i + 1))
        .and_then(|a| a.parse::<SocketAddr>().ok())
        .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |a| a.ip())
}

impl ServerBinary {
    /// Starts the server with `args`, plus `--listen 127.0.0.1:0` unless they name an
    /// address or a `--config` file (which must then name one), and waits for its ready
    /// line.
    pub fn start(&self, args: &[&str]) -> Server {
        self.start_keeping(args, Vec::new())
    }

    /// Like [`ServerBinary::start`], and keeps `dirs` alive until the server is gone.
    pub fn start_keeping(&self, args: &[&str], keep: Vec<tempfile::TempDir>) -> Server {
        self.start_logging(args, keep, "info")
    }

    /// Like [`ServerBinary::start_keeping`], with `RUST_LOG` set to `log_level`.
    pub fn start_logging(
        &self,
        args: &[&str],
        keep: Vec<tempfile::TempDir>,
        log_level: &str,
    ) -> Server {
        self.start_limited(args, keep, log_level, None)
    }

    /// Like [`ServerBinary::start_logging`], with at most `open_files` file descriptors
    /// (`ulimit -n`) when given.
    pub fn start_limited(
        &self,
        args: &[&str],
        keep: Vec<tempfile::TempDir>,
        log_level: &str,
        open_files: Option<u32>,
    ) -> Server {
        self.start_with_env(args, keep, log_level, open_files, &[])
    }

    /// Like [`ServerBinary::start_limited`], with these environment variables set for the server
    /// (e.g. `SOFTHSM2_CONF`, which a PKCS#11 module reads).
    pub fn start_with_env(
        &self,
        args: &[&str],
        keep: Vec<tempfile::TempDir>,
        log_level: &str,
        open_files: Option<u32>,
        env: &[(&str, &Path)],
    ) -> Server {
        let mut all: Vec<&str> = args.to_vec();
        if !args.contains(&"--listen") && !args.contains(&"--config") {
            all.extend(["--listen", "127.0.0.1:0"]);
        }
        let mut child = command(&self.path(), &all, log_level, open_files, env)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {}: {e}", self.path().display()));
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let readers = vec![
            spawn_reader(child.stdout.take().unwrap(), Arc::clone(&stdout), Some(tx)),
            spawn_reader(child.stderr.take().unwrap(), Arc::clone(&stderr), None),
        ];
        let mut server = Server {
            child,
            url: String::new(),
            addr: SocketAddr::new(listen_ip(&all), 0),
            stdout,
            stderr,
            readers,
            exited: None,
            _keep: keep,
        };
        let line = match rx.recv_timeout(READY_TIMEOUT) {
            Ok(line) => line,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = server.child.kill();
                server.exited = server.child.wait().ok();
                panic!(
                    "the server ({all:?}) printed no ready line within {READY_TIMEOUT:?}; stderr:\n{}",
                    server.stderr.lock().unwrap()
                );
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = server.child.wait().unwrap();
                server.exited = Some(status);
                server.join_readers();
                panic!(
                    "the server ({all:?}) exited with {status} before it printed its ready line; stderr:\n{}",
                    server.stderr.lock().unwrap()
                );
            }
        };
        let url = line
            .trim_end()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("the ready line is not `listening on <URL>`: {line:?}"))
            .to_owned();
        let (_, rest) = url
            .split_once("://")
            .unwrap_or_else(|| panic!("no scheme in the ready URL {url:?}"));
        let (host_port, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        assert_eq!(
            path, PATH,
            "the ready URL {url:?} does not name the endpoint"
        );
        let port: u16 = host_port
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in the ready URL {url:?}"));
        assert_ne!(port, 0, "the ready URL {url:?} has port 0");
        server.addr.set_port(port);
        server.url = url;
        server
    }

    /// Runs the server with `args` (as given, no `--listen` added) and expects it to exit
    /// by itself, without printing a ready line: returns its exit status and stderr.
    pub fn run_to_exit(&self, args: &[&str]) -> (ExitStatus, String, String) {
        self.run_to_exit_with_env(args, &[])
    }

    /// [`ServerBinary::run_to_exit`] with these environment variables set for the server.
    pub fn run_to_exit_with_env(
        &self,
        args: &[&str],
        env: &[(&str, &Path)],
    ) -> (ExitStatus, String, String) {
        let mut child = command(&self.path(), args, "info", None, env)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {}: {e}", self.path().display()));
        let start = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if start.elapsed() > READY_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the server with {args:?} was expected to exit at start but kept running");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut out = String::new();
        let mut err = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        (status, out, err)
    }

    /// Runs the server with `args` and expects it to refuse to start as `main` does: exit
    /// status 1 (`ExitCode::FAILURE`; a panic is 101, a signal none), no ready line, and a
    /// `cert-download-server: ...` line saying why. Returns stderr.
    pub fn refuses_to_start(&self, args: &[&str]) -> String {
        let (status, stdout, stderr) = self.run_to_exit(args);
        assert_eq!(
            status.code(),
            Some(1),
            "{args:?} must be refused with exit status 1, got {status}; stderr:\n{stderr}"
        );
        assert!(stdout.is_empty(), "{args:?} printed a ready line: {stdout}");
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with("cert-download-server: ")),
            "{args:?}: no `cert-download-server: ...` line says why:\n{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?} panicked:\n{stderr}");
        stderr
    }
}

impl Server {
    /// The base URL with another path, e.g. `origin("/")`.
    pub fn with_path(&self, path: &str) -> String {
        let cut = self.url.len() - PATH.len();
        format!("{}{path}", &self.url[..cut])
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the server has written on stderr (its log) so far.
    pub fn log_so_far(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until the log has `count` lines containing `needle`, at most `limit`;
    /// returns whether it got there.
    pub async fn wait_for_log(&self, needle: &str, count: usize, limit: Duration) -> bool {
        let start = Instant::now();
        loop {
            let seen = self
                .stderr
                .lock()
                .unwrap()
                .lines()
                .filter(|l| l.contains(needle))
                .count();
            if seen >= count {
                return true;
            }
            if start.elapsed() > limit {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends `kill -<name> <pid>` (`INT` as Ctrl-C would) once, unless the process is gone.
    fn signal(&mut self, name: &str) {
        if self.exited.is_some() || matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let pid = self.child.id().to_string();
        let flag = format!("-{name}");
        let status = Command::new("kill")
            .args([flag.as_str(), &pid])
            .status()
            .unwrap_or_else(|e| panic!("cannot run `kill {flag} {pid}`: {e}"));
        assert!(status.success(), "`kill {flag} {pid}` failed: {status}");
    }

    /// Waits for the process to exit, at most `limit`.
    fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        if let Some(status) = self.exited {
            return Some(status);
        }
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.exited = Some(status);
                return Some(status);
            }
            if start.elapsed() > limit {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn join_readers(&mut self) {
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }

    /// Ctrl-C: SIGINT, then wait for the exit (killing it after [`EXIT_TIMEOUT`] and
    /// failing). Returns the status and everything the process wrote.
    pub fn stop(self) -> Stopped {
        self.stop_with("INT")
    }

    /// Like [`Server::stop`] with another signal (`"TERM"`).
    pub fn stop_with(self, signal: &str) -> Stopped {
        self.stop_within(signal, EXIT_TIMEOUT)
    }

    /// Like [`Server::stop_with`], waiting at most `limit` for the exit.
    pub fn stop_within(mut self, signal: &str, limit: Duration) -> Stopped {
        let start = Instant::now();
        self.signal(signal);
        let Some(status) = self.wait_exit(limit) else {
            let _ = self.child.kill();
            let _ = self.child.wait();
            self.exited = self.child.try_wait().ok().flatten();
            self.join_readers();
            panic!(
                "the server did not exit within {limit:?} of SIG{signal}; stderr:\n{}",
                self.stderr.lock().unwrap()
            );
        };
        let took = start.elapsed();
        self.join_readers();
        Stopped {
            status,
            took,
            stdout: self.stdout.lock().unwrap().clone(),
            stderr: self.stderr.lock().unwrap().clone(),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let running = self.exited.is_none() && matches!(self.child.try_wait(), Ok(None));
        if running {
            let interrupted = Command::new("kill")
                .args(["-INT", &self.child.id().to_string()])
                .status()
                .is_ok_and(|s| s.success());
            if !interrupted || self.wait_exit(EXIT_TIMEOUT).is_none() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
        self.join_readers();
    }
}

// ---------------------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------------------

/// The demo CA (`examples/demo-store/tls/ca.pem`), which signed the demo TLS certificate.
pub fn ca_pem() -> Vec<u8> {
    std::fs::read(demo("tls/ca.pem")).expect("examples/demo-store/tls/ca.pem")
}

/// A rustls client that trusts nothing but what is added, ignores proxy settings, and
/// sends `localhost` to the server's address (the certificate names `localhost`).
pub fn bare_builder(server: &Server) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .no_proxy()
        .resolve("localhost", server.addr)
        .timeout(Duration::from_secs(120))
}

/// The client of the tests: HTTPS verified against the demo CA only.
pub fn client(server: &Server) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(&ca_pem()).expect("the demo CA parses");
    bare_builder(server)
        .add_root_certificate(ca)
        .https_only(true)
        .build()
        .expect("a reqwest client")
}

/// An HTTP response, read completely.
#[derive(Debug)]
pub struct Reply {
    /// The HTTP status code.
    pub status: u16,
    /// The response's header fields.
    pub headers: reqwest::header::HeaderMap,
    /// The body, as text (lossy UTF-8 where read by hand).
    pub body: String,
}

impl Reply {
    /// Reads a reqwest response to its end.
    pub async fn read(response: reqwest::Response) -> Reply {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.text().await.expect("the response body");
        Reply {
            status,
            headers,
            body,
        }
    }

    /// The value of the header field `name`, if present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body's top-level members in the order they were written.
    pub fn members(&self) -> Vec<(String, Value)> {
        ordered_members(&self.body)
            .unwrap_or_else(|e| panic!("the body is not a JSON object ({e}): {}", self.body))
    }

    /// Asserts the contract's error body `{"status","error","message"}` (in that order)
    /// with the HTTP status `status` and a code in `codes`; returns the message.
    #[track_caller]
    pub fn expect_error(&self, status: u16, codes: &[&str]) -> String {
        assert_eq!(
            self.status, status,
            "expected HTTP {status} {codes:?}, got {}: {}",
            self.status, self.body
        );
        assert_json_content_type(self);
        let members = self.members();
        let names: Vec<&str> = members.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            ["status", "error", "message"],
            "the error body must be {{\"status\",\"error\",\"message\"}} in that order: {}",
            self.body
        );
        assert_eq!(
            members[0].1.as_u64(),
            Some(u64::from(status)),
            "the body's status differs from the HTTP status: {}",
            self.body
        );
        let code = members[1]
            .1
            .as_str()
            .unwrap_or_else(|| panic!("error is not a string: {}", self.body));
        assert!(
            codes.contains(&code),
            "expected error code {codes:?}, got {code:?}: {}",
            self.body
        );
        assert!(
            !code.is_empty()
                && code
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "the error code is not snake_case: {code:?}"
        );
        let message = members[2]
            .1
            .as_str()
            .unwrap_or_else(|| panic!("message is not a string: {}", self.body));
        assert!(!message.is_empty(), "empty message: {}", self.body);
        message.to_owned()
    }

    /// Asserts a 200 of the contract's shape for `format` and returns what it carries.
    /// Responses with key material must say `Cache-Control: no-store`.
    #[track_caller]
    pub fn expect_ok(&self, format: &str) -> Download {
        assert_json_content_type(self);
        self.expect_ok_body(format, true)
    }

    /// [`Reply::expect_ok`] for a body whose headers were not captured (curl's stdout).
    #[track_caller]
    pub fn expect_ok_body(&self, format: &str, check_headers: bool) -> Download {
        assert_eq!(
            self.status, 200,
            "expected 200 {format}, got: {}",
            self.body
        );
        let members = self.members();
        let names: Vec<&str> = members.iter().map(|(k, _)| k.as_str()).collect();
        let with_key = names.contains(&"key");
        if with_key {
            assert_eq!(
                names,
                ["certificate", "format", "key", "key_format"],
                "unexpected members: {}",
                self.body
            );
            assert_eq!(format, "crt", "only crt has a key member: {}", self.body);
            assert_eq!(members[3].1, "key", "key_format: {}", self.body);
        } else {
            assert_eq!(
                names,
                ["certificate", "format"],
                "unexpected members: {}",
                self.body
            );
        }
        assert_eq!(members[1].1, format, "format member: {}", self.body);
        let b64 = |v: &Value| {
            let s = v
                .as_str()
                .unwrap_or_else(|| panic!("not a string: {}", self.body));
            STANDARD
                .decode(s)
                .unwrap_or_else(|e| panic!("not padded standard Base64 ({e}): {s}"))
        };
        let download = Download {
            certificate: b64(&members[0].1),
            key: with_key.then(|| b64(&members[2].1)),
        };
        let carries_key = format == "pfx"
            || with_key
            || String::from_utf8_lossy(&download.certificate).contains("PRIVATE KEY");
        if carries_key && check_headers {
            let cache = self.header("cache-control").unwrap_or_default();
            assert!(
                cache
                    .split(',')
                    .any(|d| d.trim().eq_ignore_ascii_case("no-store")),
                "a {format} response with key material must carry Cache-Control: no-store, got {cache:?}"
            );
        }
        download
    }
}

#[track_caller]
fn assert_json_content_type(reply: &Reply) {
    let ct = reply.header("content-type").unwrap_or_default();
    assert!(
        ct.split(';')
            .next()
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json")),
        "Content-Type must be application/json, got {ct:?} (body {})",
        reply.body
    );
}

/// What a 200 carries, Base64-decoded.
#[derive(Debug)]
pub struct Download {
    /// The `certificate` member, decoded.
    pub certificate: Vec<u8>,
    /// The `key` member (crt with a key only), decoded.
    pub key: Option<Vec<u8>>,
}

/// POSTs `body` as `application/json`, with `Authorization: Bearer <token>` if given.
pub async fn post_json(
    client: &reqwest::Client,
    server: &Server,
    token: Option<&str>,
    body: &str,
) -> Reply {
    post(
        client,
        &server.url,
        token,
        Some("application/json"),
        body.to_owned(),
    )
    .await
}

/// POSTs `body` to `url` with the given token and Content-Type.
pub async fn post(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> Reply {
    let mut request = client.post(url).body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(ct) = content_type {
        request = request.header(reqwest::header::CONTENT_TYPE, ct);
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url} failed: {e:?}"));
    Reply::read(response).await
}

/// The members of a JSON object in document order (`serde_json::Value` sorts them).
pub fn ordered_members(text: &str) -> Result<Vec<(String, Value)>, serde_json::Error> {
    struct Ordered(Vec<(String, Value)>);
    impl<'de> serde::Deserialize<'de> for Ordered {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Visit;
            impl<'de> serde::de::Visitor<'de> for Visit {
                type Value = Ordered;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a JSON object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> Result<Ordered, A::Error> {
                    let mut members = Vec::new();
                    while let Some(member) = map.next_entry::<String, Value>()? {
                        members.push(member);
                    }
                    Ok(Ordered(members))
                }
            }
            d.deserialize_map(Visit)
        }
    }
    serde_json::from_str::<Ordered>(text).map(|o| o.0)
}
