//! Below reqwest, what only this binary's attack tests use: connections from a chosen
//! loopback address, one TLS record per byte, waiting for a close, requests written by
//! hand, and the server process's memory and CPU time, read from `/proc/<pid>/status` and
//! `stat`. The TLS set-up and the response reader are test-support's
//! `server_harness::raw`, re-exported here.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

pub(crate) use cert_download_test_support::server_harness::raw::*;

use crate::harness::{Reply, Server};

/// A TCP connection to the server, nothing sent.
pub(crate) async fn tcp(server: &Server) -> TcpStream {
    TcpStream::connect(server.addr)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", server.addr))
}

/// A TCP connection to `to` from `source` (any address of 127.0.0.0/8 is this
/// machine's), nothing sent.
pub(crate) async fn tcp_from_to(
    source: std::net::Ipv4Addr,
    to: std::net::SocketAddr,
) -> std::io::Result<TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(std::net::SocketAddr::from((source, 0)))?;
    socket.connect(to).await
}

/// A TLS connection to the server from `source`, or why there is none.
pub(crate) async fn tls_from(
    server: &Server,
    source: std::net::Ipv4Addr,
) -> std::io::Result<TlsStream<TcpStream>> {
    connect_tls(tcp_from_to(source, server.addr).await?).await
}

/// A TLS connection to the server (verified against the demo CA, as `localhost`).
pub(crate) async fn tls(server: &Server) -> TlsStream<TcpStream> {
    tls_over(tcp(server).await)
        .await
        .unwrap_or_else(|e| panic!("with {}: {e}", server.addr))
}

/// Writes all of `bytes` and flushes.
pub(crate) async fn send(stream: &mut TlsStream<TcpStream>, bytes: &[u8]) {
    stream.write_all(bytes).await.expect("write to the server");
    stream.flush().await.expect("flush to the server");
}

/// Sends `bytes` and reads the one answer within 10 s; `what` names the exchange if none
/// comes.
pub(crate) async fn round_trip(
    stream: &mut TlsStream<TcpStream>,
    bytes: &[u8],
    what: &str,
) -> Reply {
    send(stream, bytes).await;
    read_reply(stream, Duration::from_secs(10))
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// Writes `bytes` one TLS record per byte.
pub(crate) async fn send_byte_records(stream: &mut TlsStream<TcpStream>, bytes: &[u8]) {
    for byte in bytes {
        send(stream, std::slice::from_ref(byte)).await;
    }
}

/// Reads (and drops) whatever comes until the server closes the connection; returns how
/// long that took, or `Err` if it is still open after `limit`. A reset counts as closed.
pub(crate) async fn closed_within<S: AsyncRead + Unpin>(
    stream: &mut S,
    limit: Duration,
) -> Result<Duration, String> {
    let start = Instant::now();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match tokio::time::timeout(
            limit.saturating_sub(start.elapsed()),
            stream.read(&mut chunk),
        )
        .await
        {
            Err(_) => return Err(format!("still open after {limit:?}")),
            Ok(Ok(0) | Err(_)) => return Ok(start.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

// ---------------------------------------------------------------------------------------
// Requests written by hand
// ---------------------------------------------------------------------------------------

/// The crt of demo record 12345, the cheapest download.
pub(crate) const CRT_12345: &str = r#"{"id": 12345, "format": "crt"}"#;

/// The demo admin's `Authorization` value.
pub(crate) const BEARER_ADMIN: &str = "Bearer demo-admin-token";

/// The `Content-Type` of a request.
pub(crate) const JSON: &str = "application/json";

/// `body` padded with spaces to `size` bytes: still the same JSON request.
pub(crate) fn padded(body: &str, size: usize) -> String {
    format!("{body}{}", " ".repeat(size - body.len()))
}

/// A POST of the crt of 12345 with this `Authorization` and extra fields.
pub(crate) fn crt_request(authorization: &str, extra: &[(&str, &str)]) -> String {
    let length = CRT_12345.len().to_string();
    let mut fields = vec![
        ("Authorization", authorization),
        ("Content-Type", JSON),
        ("Content-Length", length.as_str()),
    ];
    fields.extend_from_slice(extra);
    format!("{}{CRT_12345}", head(&fields))
}

// ---------------------------------------------------------------------------------------
// The server process seen from /proc
// ---------------------------------------------------------------------------------------

fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("cannot read /proc/{pid}/status: {e}"));
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim_start_matches(':').split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// Resident memory now, in KiB (`VmRSS`).
pub(crate) fn rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmRSS")
}

/// The most resident memory so far, in KiB (`VmHWM`).
pub(crate) fn peak_rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmHWM")
}

fn clock_ticks_per_second() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100)
    })
}

/// CPU time the process has used, user and system (`/proc/<pid>/stat` fields 14 and 15).
pub(crate) fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .unwrap_or_else(|e| panic!("cannot read /proc/{pid}/stat: {e}"));
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let after = &stat[stat.rfind(')').expect("a stat line") + 2..];
    let fields: Vec<u64> = after
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // `after` starts at field 3 (state), so utime (14) and stime (15) are at 11 and 12.
    let ticks = fields[11] + fields[12];
    Duration::from_millis(ticks * 1000 / clock_ticks_per_second())
}

/// KiB (as `/proc` counts) in MiB.
pub(crate) fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}
