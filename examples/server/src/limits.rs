//! The command line: where to listen, what to serve, and every limit with its default.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use cert_download::PfxEncryption;

use crate::vault::VaultArgs;

/// The limits that keep one client, or many, from taking the service down. Each is a flag;
/// [`FLAGS`] gives its default, and the README's server section lists them all.
#[derive(Clone, Debug)]
pub(crate) struct Limits {
    /// TLS handshake, then each request's line and headers (also how long an idle
    /// keep-alive connection stays open): hyper's `header_read_timeout`.
    pub(crate) header_timeout: Duration,
    /// The longest pause between two pieces of a request body: tower-http's
    /// `RequestBodyTimeoutLayer`. Answered 408.
    pub(crate) body_timeout: Duration,
    /// From a request's headers to its response, body and queue included: tower-http's
    /// `TimeoutLayer`. Answered 408.
    pub(crate) request_timeout: Duration,
    /// Request line and headers together: hyper's `max_header_size`. Over it: 431.
    pub(crate) max_header_bytes: usize,
    /// Header fields in one request: hyper's `max_headers`. Over it: 431.
    pub(crate) max_headers: usize,
    /// Connections open at once; further ones wait in the kernel's listen backlog.
    pub(crate) max_connections: usize,
    /// The pause after `accept` fails for a reason other than the peer (out of file
    /// descriptors, out of memory), as `axum::serve` pauses.
    pub(crate) accept_error_pause: Duration,
    /// How much of a body over 64 KiB is read and thrown away, so that the client sees
    /// the 400 rather than a reset; beyond it the connection is closed.
    pub(crate) drain_bytes: u64,
    /// Keyed downloads (the PBKDF2 work) encoding at once.
    pub(crate) encode_threads: usize,
    /// Keyed downloads waiting for an encoding thread; beyond them, 503 at once.
    pub(crate) encode_queue: usize,
    /// Failed authentications per client address: the sustained rate...
    pub(crate) auth_failures_per_minute: u32,
    /// ... and the burst allowed before it.
    pub(crate) auth_failure_burst: u32,
    /// Downloads per principal: the sustained rate...
    pub(crate) downloads_per_minute: u32,
    /// ... and the burst allowed before it.
    pub(crate) download_burst: u32,
    /// On SIGINT or SIGTERM: how long requests in flight may take to finish.
    pub(crate) shutdown_grace: Duration,
}

/// The cores this process may use.
pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

impl Default for Limits {
    fn default() -> Self {
        let cores = cores();
        Self {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_header_bytes: 16 * 1024,
            max_headers: 64,
            max_connections: 1024,
            accept_error_pause: Duration::from_secs(1),
            drain_bytes: 1024 * 1024,
            encode_threads: cores,
            encode_queue: 4 * cores,
            auth_failures_per_minute: 10,
            auth_failure_burst: 10,
            downloads_per_minute: 600,
            download_burst: 60,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// `(flag, value, what it limits and its default)`, for the usage text.
pub(crate) const FLAGS: &[(&str, &str, &str)] = &[
    (
        "--header-timeout",
        "SECS",
        "TLS handshake, request line and headers; idle keep-alive (default 10)",
    ),
    (
        "--body-timeout",
        "SECS",
        "longest pause inside a request body, then 408 (default 10)",
    ),
    (
        "--request-timeout",
        "SECS",
        "headers received to response sent, then 408 (default 30)",
    ),
    (
        "--max-header-bytes",
        "N",
        "request line and headers, then 431 (default 16384)",
    ),
    (
        "--max-headers",
        "N",
        "header fields in a request, then 431 (default 64)",
    ),
    (
        "--max-connections",
        "N",
        "open connections; more wait in the listen backlog (default 1024)",
    ),
    (
        "--accept-error-pause",
        "SECS",
        "pause after accept fails, e.g. out of file descriptors (default 1)",
    ),
    (
        "--drain-bytes",
        "N",
        "of a body over 64 KiB, read and dropped before the 400 (default 1048576)",
    ),
    (
        "--encode-threads",
        "N",
        "keyed downloads encoding at once (default: the cores)",
    ),
    (
        "--encode-queue",
        "N",
        "keyed downloads waiting for a thread, then 503 (default 4 x cores)",
    ),
    (
        "--auth-failures-per-minute",
        "N",
        "failed authentications per client address, then 429 (default 10)",
    ),
    (
        "--auth-failure-burst",
        "N",
        "failed authentications allowed at once (default 10)",
    ),
    (
        "--downloads-per-minute",
        "N",
        "downloads per principal, then 429 (default 600)",
    ),
    (
        "--download-burst",
        "N",
        "downloads per principal allowed at once (default 60)",
    ),
    (
        "--shutdown-grace",
        "SECS",
        "on SIGINT/SIGTERM, time for requests in flight (default 10)",
    ),
];

/// The usage text.
pub(crate) fn usage() -> String {
    let mut text = String::from(
        "usage: cert-download-server [--store DIR] [--tokens FILE] [--listen ADDR]
              [--tls-cert FILE --tls-key FILE] [--insecure-http] [LIMITS]
       cert-download-server --database URL --kek-file FILE [--db-...] [--listen ADDR] ...
  --store DIR        the DirectoryStore root (default: the crate's demo store)
  --tokens FILE      bearer tokens, JSON (default: DIR/tokens.json)
  --listen ADDR      address to listen on (default: 127.0.0.1:8443)
  --tls-cert FILE    PEM certificate (chain) of the server (default: DIR/tls/server.pem)
  --tls-key FILE     PEM private key of the server (default: DIR/tls/server.key)
  --insecure-http    plain HTTP instead of HTTPS: allowed on a loopback address only
  --pfx-encryption P the PFX profile of requests that name none: aes256_sha256 (default),
                     aes256_sha256_pbmac1 (every algorithm FIPS-approved), tripledes_sha1
the vault (instead of --store and --tokens):\n",
    );
    for (flag, value, what) in crate::vault::FLAGS {
        let left = format!("{flag} {value}");
        text.push_str(&format!("  {left:<32} {what}\n"));
    }
    text.push_str("limits:\n");
    for (flag, value, what) in FLAGS {
        let left = format!("{flag} {value}");
        text.push_str(&format!("  {left:<32} {what}\n"));
    }
    text.pop();
    text
}

#[derive(Debug)]
pub(crate) struct Args {
    pub(crate) store: PathBuf,
    pub(crate) tokens: PathBuf,
    pub(crate) listen: SocketAddr,
    pub(crate) tls: Option<(PathBuf, PathBuf)>,
    pub(crate) pfx_encryption: PfxEncryption,
    pub(crate) limits: Limits,
    /// `Some` with `--database`: the vault instead of the directory store and tokens file.
    pub(crate) vault: Option<VaultArgs>,
}

fn seconds(flag: &str, value: &str) -> Result<Duration, String> {
    value
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0 && *s <= 86_400.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("{flag}: {value:?} is not a number of seconds from 0 to 86400"))
}

fn count<T: std::str::FromStr + PartialOrd + From<u8>>(
    flag: &str,
    value: &str,
    min: u8,
) -> Result<T, String> {
    value
        .parse::<T>()
        .ok()
        .filter(|n| *n >= T::from(min))
        .ok_or_else(|| format!("{flag}: {value:?} is not a whole number of at least {min}"))
}

/// Sets one limit from its flag; `Ok(false)` when `flag` is not a limit.
fn set_limit(limits: &mut Limits, flag: &str, value: &str) -> Result<bool, String> {
    match flag {
        "--header-timeout" => limits.header_timeout = seconds(flag, value)?,
        "--body-timeout" => limits.body_timeout = seconds(flag, value)?,
        "--request-timeout" => limits.request_timeout = seconds(flag, value)?,
        "--accept-error-pause" => limits.accept_error_pause = seconds(flag, value)?,
        "--shutdown-grace" => limits.shutdown_grace = seconds(flag, value)?,
        // Below 1 KiB not even the request line fits; hyper's buffer floor is 8 KiB.
        "--max-header-bytes" => {
            limits.max_header_bytes = count::<u32>(flag, value, 1)?.max(1024) as usize
        }
        "--max-headers" => limits.max_headers = count::<u16>(flag, value, 1)? as usize,
        "--max-connections" => limits.max_connections = count::<u32>(flag, value, 1)? as usize,
        "--drain-bytes" => limits.drain_bytes = count::<u64>(flag, value, 0)?,
        "--encode-threads" => limits.encode_threads = count::<u16>(flag, value, 1)? as usize,
        "--encode-queue" => limits.encode_queue = count::<u32>(flag, value, 1)? as usize,
        "--auth-failures-per-minute" => limits.auth_failures_per_minute = count(flag, value, 1)?,
        "--auth-failure-burst" => limits.auth_failure_burst = count(flag, value, 1)?,
        "--downloads-per-minute" => limits.downloads_per_minute = count(flag, value, 1)?,
        "--download-burst" => limits.download_burst = count(flag, value, 1)?,
        _ => return Ok(false),
    }
    Ok(true)
}

/// Parses the command line; `Err("")` asks for the usage text alone.
pub(crate) fn parse_args() -> Result<Args, String> {
    let mut store = None;
    let mut tokens = None;
    let mut listen = None;
    let mut tls_cert = None;
    let mut tls_key = None;
    let mut insecure_http = false;
    let mut pfx_encryption = PfxEncryption::default();
    let mut limits = Limits::default();
    let mut vault = VaultArgs::default();
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        let Some(flag) = arg.to_str() else {
            return Err(format!("unknown argument {arg:?}"));
        };
        if matches!(flag, "-h" | "--help") {
            return Err(String::new());
        }
        if flag == "--insecure-http" {
            insecure_http = true;
            continue;
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag {
            "--store" => store = Some(PathBuf::from(value)),
            "--tokens" => tokens = Some(PathBuf::from(value)),
            "--tls-cert" => tls_cert = Some(PathBuf::from(value)),
            "--tls-key" => tls_key = Some(PathBuf::from(value)),
            "--pfx-encryption" => {
                pfx_encryption = value
                    .to_str()
                    .and_then(PfxEncryption::from_name)
                    .ok_or_else(|| {
                        format!(
                            "--pfx-encryption: {value:?} is not aes256_sha256, \
                             aes256_sha256_pbmac1 or tripledes_sha1"
                        )
                    })?;
            }
            "--listen" => {
                let addr = value
                    .to_str()
                    .and_then(|s| s.parse::<SocketAddr>().ok())
                    .ok_or_else(|| format!("--listen: {value:?} is not an IP:port address"))?;
                listen = Some(addr);
            }
            _ => {
                let text = value
                    .to_str()
                    .ok_or_else(|| format!("{flag}: {value:?} is not text"))?;
                if !set_limit(&mut limits, flag, text)? && !vault.set(flag, text)? {
                    return Err(format!("unknown argument {arg:?}"));
                }
            }
        }
    }
    let vault = match vault.wanted()? {
        true if store.is_some() || tokens.is_some() => {
            return Err(
                "--store and --tokens serve the directory store; --database serves \
                        the vault (its tokens and grants are in the database)"
                    .into(),
            );
        }
        true => Some(vault),
        false => None,
    };
    let store = store
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../demo-store")));
    let tokens = tokens.unwrap_or_else(|| store.join("tokens.json"));
    let listen = listen.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8443)));
    let tls = if insecure_http {
        if tls_cert.is_some() || tls_key.is_some() {
            return Err("--insecure-http cannot be combined with --tls-cert/--tls-key".into());
        }
        if !listen.ip().is_loopback() {
            return Err(format!(
                "refusing plain HTTP on {listen}: --insecure-http is allowed on a loopback \
                 address only (127.0.0.0/8 or ::1), since requests carry passwords and \
                 responses carry keys"
            ));
        }
        None
    } else {
        match (tls_cert, tls_key) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => Some((store.join("tls/server.pem"), store.join("tls/server.key"))),
            _ => return Err("--tls-cert and --tls-key go together".into()),
        }
    };
    Ok(Args {
        store,
        tokens,
        listen,
        tls,
        pfx_encryption,
        limits,
        vault,
    })
}
