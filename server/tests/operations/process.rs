//! The server as a process for these tests: started with arguments, its `listening on`
//! line awaited, its stderr (the log) kept, signalled, stopped.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// The repository's root, and a file of the demo store (test-support's harness).
pub(crate) use cert_download_test_support::server_harness::{demo, repo_dir as repo};

/// A loopback port free just now.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A running server.
pub(crate) struct Process {
    child: Child,
    /// The endpoint's URL from the `listening on` line.
    pub(crate) url: String,
    log: Arc<Mutex<String>>,
}

impl Process {
    /// `cert-download-server ARGS` with `RUST_LOG=info`, once it says it listens.
    pub(crate) fn start(args: &[&str]) -> Process {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cert-download-server"))
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the server starts");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("stderr");
        let kept = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = kept.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let line = rx.recv_timeout(Duration::from_secs(60));
        let url = match line {
            Ok(line) => line
                .strip_prefix("listening on ")
                .unwrap_or_else(|| panic!("not a ready line: {line:?}"))
                .to_owned(),
            Err(_) => {
                let _ = child.kill();
                std::thread::sleep(Duration::from_millis(200));
                panic!("{args:?} did not start: {}", log.lock().unwrap());
            }
        };
        Process { child, url, log }
    }

    /// The URL of `path` on the server's host and port.
    pub(crate) fn at(&self, path: &str) -> String {
        let scheme_end = self.url.find("://").map_or(0, |i| i + 3);
        let host_end = self.url[scheme_end..]
            .find('/')
            .map_or(self.url.len(), |i| scheme_end + i);
        format!("{}{path}", &self.url[..host_end])
    }

    /// The port the server listens on.
    pub(crate) fn port(&self) -> u16 {
        let host = self.at("");
        host.rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("a port")
    }

    /// The log so far.
    pub(crate) fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// How many lines of the log contain `needle`.
    pub(crate) fn count(&self, needle: &str) -> usize {
        self.log().lines().filter(|l| l.contains(needle)).count()
    }

    /// Waits until `count` lines contain `needle`, at most `limit`.
    pub(crate) async fn wait_for(&self, needle: &str, count: usize, limit: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            if self.count(needle) >= count {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    /// Sends a signal (`HUP`, `TERM`).
    pub(crate) fn signal(&self, name: &str) {
        let sent = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -{name}");
    }

    /// SIGTERM, then the whole log once the process has ended (at most 20 s).
    pub(crate) fn stop(mut self) -> String {
        self.signal("TERM");
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if let Ok(Some(_)) = self.child.try_wait() {
                // Let the reader thread take the last lines.
                std::thread::sleep(Duration::from_millis(200));
                return self.log();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the server did not stop within 20 s of SIGTERM");
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
