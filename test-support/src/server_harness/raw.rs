//! Below reqwest: TLS (verified against the demo CA, as `localhost`) on a connection the
//! test made, a request head written by hand, and responses read by hand (one, or several
//! pipelined), so that a test writes exactly the bytes it wants.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::{PATH, Reply, demo};

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

/// The TLS handshake on `tcp` (verified against the demo CA, as `localhost`).
pub async fn connect_tls(tcp: TcpStream) -> std::io::Result<TlsStream<TcpStream>> {
    let name = ServerName::try_from("localhost").expect("a DNS name");
    TlsConnector::from(client_config()).connect(name, tcp).await
}

/// TLS on a connection made by the caller (verified against the demo CA, as `localhost`).
pub async fn tls_over(tcp: TcpStream) -> Result<TlsStream<TcpStream>, String> {
    connect_tls(tcp)
        .await
        .map_err(|e| format!("TLS handshake failed: {e}"))
}

/// A request head for the endpoint: the request line, `Host`, the given fields, the
/// empty line.
pub fn head(fields: &[(&str, &str)]) -> String {
    let mut head = format!("POST {PATH} HTTP/1.1\r\nHost: localhost\r\n");
    for (name, value) in fields {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    head
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
pub async fn read_reply<S: AsyncRead + Unpin>(
    stream: &mut S,
    limit: Duration,
) -> Result<Reply, String> {
    let mut replies = read_replies(stream, 1, limit).await?;
    Ok(replies.remove(0))
}

/// Reads `count` responses in a row (pipelined) within `limit`.
pub async fn read_replies<S: AsyncRead + Unpin>(
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
