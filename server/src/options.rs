//! The command line (`clap`, derive): where to listen, what to serve, and every limit with
//! its default. Each limit is stated once, here: its flag, default and help text are the
//! attributes and doc comment of its field, and `--help`, [`Limits::default`] and the
//! limits table of server/README.md (checked by a test) all come from them.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cert_download::PfxEncryption;
use cert_download::RecipientDelivery;
use clap::Parser;

/// The command line of `cert-download-server`.
#[derive(Clone, Debug, Parser)]
#[command(
    name = "cert-download-server",
    about = "POST /api/certificate/download over HTTPS, from a DirectoryStore, with bearer tokens"
)]
#[non_exhaustive]
pub struct Options {
    /// The DirectoryStore root [default: the crate's demo store]
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,
    /// Bearer tokens, JSON [default: DIR/tokens.json]
    #[arg(long, value_name = "FILE")]
    pub tokens: Option<PathBuf>,
    /// Address to listen on
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8443")]
    pub listen: SocketAddr,
    /// PEM certificate (chain) of the server [default: DIR/tls/server.pem]
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of the server [default: DIR/tls/server.key]
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Plain HTTP instead of HTTPS: allowed on a loopback address only
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
    pub insecure_http: bool,
    /// The PFX profile of requests that name none: aes256_sha256, aes256_sha256_pbmac1
    /// (every algorithm FIPS-approved) or tripledes_sha1
    #[arg(long, value_name = "PROFILE", default_value = "aes256_sha256", value_parser = pfx_encryption)]
    pub pfx_encryption: PfxEncryption,
    /// The PFX profiles a request may ask for, comma-separated; others are 400
    /// pfx_encryption_not_allowed [default: all three]
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = pfx_encryption)]
    pub pfx_encryption_allowed: Vec<PfxEncryption>,
    /// Keys to a recipient's certificate (`key_recipient`, `kwp`): off (passwords only;
    /// 400 key_recipient_not_allowed), allowed, or required (a keyed download with a
    /// password is 400 key_recipient_required)
    #[arg(long, value_name = "off|allowed|required", default_value = "allowed", value_parser = recipient_delivery)]
    pub recipient_delivery: RecipientDelivery,
    /// The smallest RSA recipient key accepted, in bits, from 2048 to 8192 (smaller is 400
    /// key_recipient_too_small)
    #[arg(long, value_name = "BITS", default_value_t = cert_download::MIN_RECIPIENT_RSA_BITS)]
    pub min_recipient_rsa_bits: u32,
    /// The limits.
    #[command(flatten)]
    pub limits: Limits,
    /// The vault (`--database`), instead of the store and tokens file.
    #[command(flatten)]
    pub vault: crate::vault::VaultFlags,
    /// Metrics, the log format, TLS reload.
    #[command(flatten)]
    pub operations: crate::operations::OperationsFlags,
    /// A TOML file of flags: each key a flag's long name (`max-connections = 2048`,
    /// `insecure-http = true`, `trusted-proxy = ["10.0.0.0/8"]`); flags given here win
    #[arg(long, value_name = "FILE", help_heading = "Configuration")]
    pub config: Option<PathBuf>,
    /// Print the effective configuration as TOML (secrets as set or unset) and exit
    #[arg(long, help_heading = "Configuration")]
    pub print_config: bool,
}

/// The limits that keep one client, or many, from taking the service down.
#[derive(Clone, Debug, clap::Args)]
#[non_exhaustive]
#[command(next_help_heading = "Limits")]
pub struct Limits {
    /// TLS handshake, request line and headers; idle keep-alive (hyper's
    /// `header_read_timeout`)
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = seconds)]
    pub header_timeout: Duration,
    /// Longest pause inside a request body, then 408 (tower-http's
    /// `RequestBodyTimeoutLayer`)
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = seconds)]
    pub body_timeout: Duration,
    /// Headers received to response sent, then 408 (tower-http's `TimeoutLayer`)
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = seconds)]
    pub request_timeout: Duration,
    /// Request line and headers, then 431 (hyper's `max_header_size`; at least 1024)
    #[arg(long, value_name = "N", default_value = "16384", value_parser = header_bytes)]
    pub max_header_bytes: usize,
    /// Header fields in a request, then 431 (hyper's `max_headers`)
    #[arg(long, value_name = "N", default_value = "64", value_parser = at_least_one::<usize>)]
    pub max_headers: usize,
    /// Open connections; more wait in the listen backlog
    #[arg(long, value_name = "N", default_value = "1024", value_parser = at_least_one::<usize>)]
    pub max_connections: usize,
    /// Open connections from one client address (IPv6 by /64; a trusted proxy's are not
    /// counted); more are closed at once
    #[arg(long, value_name = "N", default_value = "64", value_parser = at_least_one::<usize>)]
    pub max_connections_per_address: usize,
    /// Requests on one keep-alive connection; the last answer closes it
    #[arg(long, value_name = "N", default_value = "1000", value_parser = at_least_one::<usize>)]
    pub max_requests_per_connection: usize,
    /// Age of a keep-alive connection, after which it closes once its request in flight
    /// is answered
    #[arg(long, value_name = "SECS", default_value = "300", value_parser = seconds)]
    pub max_connection_age: Duration,
    /// Pause after accept fails, e.g. out of file descriptors (as `axum::serve` pauses)
    #[arg(long, value_name = "SECS", default_value = "1", value_parser = seconds)]
    pub accept_error_pause: Duration,
    /// Of a body over 64 KiB, read and dropped before the 400 (so that the client sees it
    /// rather than a reset); beyond it the connection is closed
    #[arg(long, value_name = "N", default_value = "1048576")]
    pub drain_bytes: u64,
    /// Keyed downloads encoding at once [default: 2 x the cores]
    #[arg(long, value_name = "N")]
    pub encode_threads: Option<NonZeroUsize>,
    /// Keyed downloads waiting for a thread, then 503 [default: 4 x the cores]
    #[arg(long, value_name = "N")]
    pub encode_queue: Option<NonZeroUsize>,
    /// Failed authentications per client address, then 429
    #[arg(long, value_name = "N", default_value = "10", value_parser = at_least_one::<u32>)]
    pub auth_failures_per_minute: u32,
    /// Failed authentications per client address allowed at once
    #[arg(long, value_name = "N", default_value = "10", value_parser = at_least_one::<u32>)]
    pub auth_failure_burst: u32,
    /// Failed authentications from all addresses together, then 429 (a burst of a sixth
    /// of it)
    #[arg(long, value_name = "N", default_value = "600", value_parser = at_least_one::<u32>)]
    pub auth_failures_per_minute_global: u32,
    /// A peer whose `Forwarded`/`X-Forwarded-For` names the client (the right-most
    /// address not itself trusted); repeatable [default: none]
    #[arg(long = "trusted-proxy", value_name = "CIDR", value_parser = cidr)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The one header a trusted proxy names the client in (the other is ignored):
    /// x-forwarded-for (appended to by nginx, HAProxy, cloud balancers) or forwarded
    /// (RFC 7239)
    #[arg(
        long,
        value_name = "HEADER",
        default_value = "x-forwarded-for",
        value_enum
    )]
    pub forwarded_header: crate::client::ForwardedHeader,
    /// Log lines per second caused by unauthenticated clients of one address (ten times
    /// that from all); beyond it they are counted and summed up every 10 s
    #[arg(long, value_name = "N", default_value = "10", value_parser = at_least_one::<u32>)]
    pub log_lines_per_second: u32,
    /// Downloads per principal, then 429
    #[arg(long, value_name = "N", default_value = "600", value_parser = at_least_one::<u32>)]
    pub downloads_per_minute: u32,
    /// Downloads per principal allowed at once
    #[arg(long, value_name = "N", default_value = "60", value_parser = at_least_one::<u32>)]
    pub download_burst: u32,
    /// On SIGINT/SIGTERM, time for requests in flight
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = seconds)]
    pub shutdown_grace: Duration,
    /// On SIGINT/SIGTERM, time during which /readyz answers 503 and requests are still
    /// accepted and served, before accepting stops (a second signal ends it)
    #[arg(long, value_name = "SECS", default_value = "0", value_parser = seconds_or_zero)]
    pub drain_delay: Duration,
}

/// The limits alone, to read their defaults from the same attributes as the command line.
#[derive(Parser)]
struct LimitsOnly {
    #[command(flatten)]
    limits: Limits,
}

impl Default for Limits {
    /// The defaults of the flags.
    fn default() -> Self {
        LimitsOnly::parse_from(["cert-download-server"]).limits
    }
}

/// The cores this process may use.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, NonZeroUsize::get)
}

impl Limits {
    /// Keyed downloads encoding at once: `--encode-threads`, or two per core. One per core
    /// left 15 % of a 2-core machine idle under a pfx flood (each job also reads the store,
    /// and hands off between jobs); two per core used it (PERFORMANCE.md, "On a quiet
    /// machine").
    pub fn encode_threads(&self) -> usize {
        self.encode_threads
            .map_or_else(|| 2 * cores(), NonZeroUsize::get)
    }

    /// Keyed downloads waiting for a thread: `--encode-queue`, or four per core.
    pub fn encode_queue(&self) -> usize {
        self.encode_queue
            .map_or_else(|| 4 * cores(), NonZeroUsize::get)
    }
}

/// Where the TLS certificate and key come from, or plain HTTP.
#[derive(Clone, Debug)]
pub enum Transport {
    /// HTTPS with this certificate (chain) and key, PEM files.
    Tls {
        /// The certificate file; it may hold the chain.
        cert: PathBuf,
        /// The private key file.
        key: PathBuf,
    },
    /// Plain HTTP, on a loopback address only.
    InsecureHttp,
}

impl Options {
    /// The store root: `--store`, or the crate's demo store.
    pub fn store(&self) -> PathBuf {
        self.store.clone().unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../examples/demo-store"
            ))
        })
    }

    /// The tokens file: `--tokens`, or `tokens.json` in the store.
    pub fn tokens(&self) -> PathBuf {
        self.tokens
            .clone()
            .unwrap_or_else(|| self.store().join("tokens.json"))
    }

    /// TLS files, or plain HTTP when that is asked for and the address is loopback. The
    /// vault serves with TLS files of its own only (`--tls-cert` and `--tls-key`): the
    /// demo store's key is public, in the repository.
    pub fn transport(&self) -> Result<Transport, String> {
        if self.insecure_http {
            if !self.listen.ip().is_loopback() {
                return Err(format!(
                    "refusing plain HTTP on {}: --insecure-http is allowed on a loopback \
                     address only (127.0.0.0/8 or ::1), since requests carry passwords and \
                     responses carry keys",
                    self.listen
                ));
            }
            return Ok(Transport::InsecureHttp);
        }
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            return Ok(Transport::Tls {
                cert: cert.clone(),
                key: key.clone(),
            });
        }
        if self.vault.database.is_some() {
            return Err(
                "the vault needs --tls-cert and --tls-key (or --insecure-http on a \
                        loopback address): the demo store's TLS key is public"
                    .to_owned(),
            );
        }
        let store = self.store();
        Ok(Transport::Tls {
            cert: store.join("tls/server.pem"),
            key: store.join("tls/server.key"),
        })
    }

    /// The demo store's TLS key, which is public (in the repository).
    pub(crate) fn demo_tls_key() -> PathBuf {
        PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/demo-store/tls/server.key"
        ))
    }
}

/// Refuses a TLS key file the server must not use: one readable by group or others (as
/// the KEK file is refused), unless it is the demo store's own key served as the demo;
/// and, for the vault, the demo key whatever its mode. The file is opened once and its
/// mode read from the open file.
pub(crate) fn check_tls_key(key: &Path, vault: bool) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let same_file = |a: &Path, b: &Path| matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b);
    let demo = same_file(key, &Options::demo_tls_key());
    if vault && demo {
        return Err(format!(
            "refusing the TLS key {}: it is the demo store's, which is public",
            key.display()
        ));
    }
    if demo {
        return Ok(());
    }
    let file = std::fs::File::open(key)
        .map_err(|e| format!("cannot read the TLS key {}: {e}", key.display()))?;
    let mode = file
        .metadata()
        .map_err(|e| format!("cannot read the TLS key {}: {e}", key.display()))?
        .mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "refusing the TLS key {}: it is readable by group or others (mode {:04o}); \
             chmod 600 it",
            key.display(),
            mode & 0o7777
        ));
    }
    Ok(())
}

/// A number of seconds, more than 0 and at most a day.
pub(crate) fn seconds(value: &str) -> Result<Duration, String> {
    value
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0 && *s <= 86_400.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("{value:?} is not a number of seconds from 0 to 86400"))
}

/// Like [`seconds`], and 0 allowed (no delay).
fn seconds_or_zero(value: &str) -> Result<Duration, String> {
    match value.parse::<f64>() {
        Ok(0.0) => Ok(Duration::ZERO),
        _ => seconds(value),
    }
}

/// A whole number of at least 1.
fn at_least_one<T: std::str::FromStr + PartialOrd + From<u8>>(value: &str) -> Result<T, String> {
    value
        .parse::<T>()
        .ok()
        .filter(|n| *n >= T::from(1))
        .ok_or_else(|| format!("{value:?} is not a whole number of at least 1"))
}

/// Below 1 KiB not even the request line fits; hyper's buffer floor is 8 KiB.
fn header_bytes(value: &str) -> Result<usize, String> {
    at_least_one::<u32>(value).map(|n| (n as usize).max(1024))
}

/// A network (`10.0.0.0/8`, `fd00::/8`), or one address.
fn cidr(value: &str) -> Result<ipnet::IpNet, String> {
    value
        .parse::<ipnet::IpNet>()
        .or_else(|_| value.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map(|net| net.trunc())
        .map_err(|_| format!("{value:?} is not an address or a network (CIDR)"))
}

fn pfx_encryption(value: &str) -> Result<PfxEncryption, String> {
    one_of(value, PfxEncryption::ALL, PfxEncryption::as_str)
}

fn recipient_delivery(value: &str) -> Result<RecipientDelivery, String> {
    one_of(value, RecipientDelivery::ALL, RecipientDelivery::as_str)
}

/// The setting of `all` named `value`, or a message naming them all.
fn one_of<T: Copy>(value: &str, all: &[T], name: fn(T) -> &'static str) -> Result<T, String> {
    all.iter()
        .copied()
        .find(|t| name(*t) == value)
        .ok_or_else(|| {
            let names: Vec<&str> = all.iter().map(|t| name(*t)).collect();
            format!("{value:?} is not one of {}", names.join(", "))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Options::command().debug_assert();
    }

    #[test]
    fn defaults_come_from_the_flags() {
        let limits = Limits::default();
        assert_eq!(limits.header_timeout, Duration::from_secs(10));
        assert_eq!(limits.max_header_bytes, 16384);
        assert_eq!(limits.encode_threads(), 2 * cores());
        assert_eq!(limits.encode_queue(), 4 * cores());
    }

    #[test]
    fn values_are_checked() {
        let parse = |args: &[&str]| {
            Options::try_parse_from(
                std::iter::once("cert-download-server").chain(args.iter().copied()),
            )
        };
        assert!(parse(&["--header-timeout", "0"]).is_err());
        assert!(parse(&["--header-timeout", "86401"]).is_err());
        assert!(parse(&["--max-headers", "0"]).is_err());
        assert!(parse(&["--encode-threads", "0"]).is_err());
        let profile = parse(&["--pfx-encryption", "rc2_40"])
            .unwrap_err()
            .to_string();
        for name in PfxEncryption::ALL.iter().map(|p| p.as_str()) {
            assert!(profile.contains(name), "{name} not named in: {profile}");
        }
        let delivery = parse(&["--recipient-delivery", "sometimes"])
            .unwrap_err()
            .to_string();
        for name in RecipientDelivery::ALL.iter().map(|d| d.as_str()) {
            assert!(delivery.contains(name), "{name} not named in: {delivery}");
        }
        let defaults = parse(&[]).unwrap();
        assert_eq!(defaults.recipient_delivery, RecipientDelivery::Allowed);
        assert_eq!(defaults.min_recipient_rsa_bits, 2048);
        // A size the policy refuses stops the start, naming the bounds.
        for bits in ["1024", "16384"] {
            let options = parse(&["--min-recipient-rsa-bits", bits]).unwrap();
            let Err(refused) = crate::Config::from_options(&options) else {
                panic!("--min-recipient-rsa-bits {bits} accepted");
            };
            assert!(refused.contains("2048 to 8192"), "{refused}");
        }
        let drain = |v: &str| parse(&["--drain-delay", v]).map(|o| o.limits.drain_delay);
        assert_eq!(drain("0").unwrap(), Duration::ZERO);
        assert_eq!(drain("2.5").unwrap(), Duration::from_millis(2500));
        assert!(drain("-1").is_err() && drain("86401").is_err() && drain("nan").is_err());
        assert!(parse(&["--tls-cert", "a.pem"]).is_err());
        assert!(parse(&["--insecure-http", "--tls-cert", "a", "--tls-key", "b"]).is_err());
        let options = parse(&["--max-header-bytes", "10", "--body-timeout", "0.5"]).unwrap();
        assert_eq!(options.limits.max_header_bytes, 1024);
        assert_eq!(options.limits.body_timeout, Duration::from_millis(500));
        let off_loopback = parse(&["--insecure-http", "--listen", "0.0.0.0:0"]).unwrap();
        assert!(off_loopback.transport().unwrap_err().contains("loopback"));
    }
}
