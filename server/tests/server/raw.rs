//! Below reqwest: TLS connections on which a test writes exactly the bytes it wants (a
//! stalled body, one TLS record per byte, broken framing, twice the same header), and the
//! server process's memory and CPU time, read from `/proc/<pid>/status` and `stat`.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::harness::{PATH, Reply, Server, demo};

fn client_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    Arc::clone(CONFIG.get_or_init(|| {
        let mut roots = rustls::RootCertStore::empty();
        let ca = CertificateDer::from_pem_file(demo("tls/ca.pem")).expect("the demo CA");
        roots.add(ca).expect("the demo CA is a trust anchor");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS 1.2 and 1.3")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }))
}

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

/// The TLS handshake on `tcp` (verified against the demo CA, as `localhost`).
pub(crate) async fn connect_tls(tcp: TcpStream) -> std::io::Result<TlsStream<TcpStream>> {
    let name = ServerName::try_from("localhost").expect("a DNS name");
    TlsConnector::from(client_config()).connect(name, tcp).await
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

/// TLS on a connection made by the caller (verified against the demo CA, as `localhost`).
pub(crate) async fn tls_over(tcp: TcpStream) -> Result<TlsStream<TcpStream>, String> {
    connect_tls(tcp)
        .await
        .map_err(|e| format!("TLS handshake failed: {e}"))
}

/// A request head for the endpoint: the request line, `Host`, the given fields, the
/// empty line.
pub(crate) fn head(fields: &[(&str, &str)]) -> String {
    let mut head = format!("POST {PATH} HTTP/1.1\r\nHost: localhost\r\n");
    for (name, value) in fields {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    head
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

fn content_length(head: &str) -> usize {
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Reads one response (head and a `Content-Length` body) within `limit`: `Err` says
/// whether the connection closed first or nothing came in time.
pub(crate) async fn read_reply<S: AsyncRead + Unpin>(
    stream: &mut S,
    limit: Duration,
) -> Result<Reply, String> {
    let mut replies = read_replies(stream, 1, limit).await?;
    Ok(replies.remove(0))
}

/// Reads `count` responses in a row (pipelined) within `limit`.
pub(crate) async fn read_replies<S: AsyncRead + Unpin>(
    stream: &mut S,
    count: usize,
    limit: Duration,
) -> Result<Vec<Reply>, String> {
    let deadline = tokio::time::Instant::now() + limit;
    let mut buffer = Vec::new();
    let mut replies = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        while let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
            let want = end + 4 + content_length(&head);
            if buffer.len() < want {
                break;
            }
            replies.push(parse_reply(&head, &buffer[end + 4..want]));
            buffer.drain(..want);
        }
        if replies.len() >= count {
            return Ok(replies);
        }
        let read = tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await;
        let so_far = || {
            format!(
                "{} responses and {} bytes so far",
                replies.len(),
                buffer.len()
            )
        };
        match read {
            Err(_) => {
                return Err(format!(
                    "no complete response within {limit:?} ({})",
                    so_far()
                ));
            }
            Ok(Ok(0)) => {
                return Err(format!(
                    "the connection closed before a complete response ({}: {:?})",
                    so_far(),
                    String::from_utf8_lossy(&buffer)
                ));
            }
            Ok(Ok(n)) => buffer.extend_from_slice(&chunk[..n]),
            Ok(Err(e)) => {
                return Err(format!(
                    "reading failed before a complete response ({}): {e}",
                    so_far()
                ));
            }
        }
    }
}

fn parse_reply(head: &str, body: &[u8]) -> Reply {
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a status line: {status_line:?}"));
    let mut headers = reqwest::header::HeaderMap::new();
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            headers.append(
                reqwest::header::HeaderName::from_bytes(name.trim().as_bytes()).unwrap(),
                reqwest::header::HeaderValue::from_str(value.trim()).unwrap(),
            );
        }
    }
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(body).into_owned(),
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
