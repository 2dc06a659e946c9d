//! The service's own certificate, replaced without a restart: on SIGHUP, and when the
//! certificate or key file changes (polled every `--tls-reload-interval`: no file-watcher
//! dependency, and polling also sees a file replaced by a rename or through a symlink, as
//! certificate tools and Kubernetes secrets do).
//!
//! The TLS configuration resolves its certificate per handshake ([`ResolvesServerCert`])
//! from a slot that a reload swaps: new handshakes get the new pair, connections already
//! open keep the one they were made with. A new pair is loaded whole and its key checked
//! against its certificate before the swap; a pair that does not load or does not match is
//! refused with one log line (once per change of the files), and the old pair stays.
//! The client CA file (`--client-ca`) reloads the same way, into the verifier of
//! `client_cert.rs`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;

use crate::client_cert::{self, Swappable};

/// The certificate of new handshakes.
#[derive(Debug)]
struct Current(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for Current {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(
            &self.0.read().unwrap_or_else(PoisonError::into_inner),
        ))
    }
}

/// What identifies a file's content without reading it: its modification time, size and
/// inode (a file replaced by a rename has a new inode even within one mtime tick).
type Stamp = Option<(SystemTime, u64, u64)>;

fn stamp(path: &Path) -> Stamp {
    use std::os::unix::fs::MetadataExt;
    // The target of a symlink: a Kubernetes secret swaps the link, not the file.
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len(), meta.ino()))
}

/// Loads the pair and checks that the key is the certificate's.
fn load(cert: &Path, key: &Path, provider: &CryptoProvider) -> Result<Arc<CertifiedKey>, String> {
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read the TLS certificate {}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("no certificate in {}", cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("cannot read the TLS key {}: {e}", key.display()))?;
    let certified = CertifiedKey::from_der(certs, key, provider)
        .map_err(|e| format!("the TLS certificate and key do not fit: {e}"))?;
    Ok(Arc::new(certified))
}

/// Reloads the service's certificate and key: [`Reloader::reload`] at once, or
/// [`Reloader::watch`] for SIGHUP and file changes.
#[derive(Debug)]
pub struct Reloader {
    cert: PathBuf,
    key: PathBuf,
    current: Arc<Current>,
    provider: Arc<CryptoProvider>,
    /// The files as last loaded or refused: a refused change is not retried (nor logged
    /// again) until the files change again or SIGHUP asks.
    seen: (Stamp, Stamp),
    client_ca: Option<ClientCa>,
}

/// The roots of client certificates, and the verifier they are loaded into.
#[derive(Debug)]
struct ClientCa {
    path: PathBuf,
    required: bool,
    verifier: Arc<Swappable>,
    seen: Stamp,
}

/// A TLS acceptor for HTTP/1.1 whose certificate the returned [`Reloader`] can replace;
/// with `client_ca` (the roots' file, and whether a certificate is required), one that
/// asks clients for a certificate and verifies it against those roots.
pub fn reloading_acceptor(
    cert: &Path,
    key: &Path,
    client_ca: Option<(&Path, bool)>,
) -> Result<(TlsAcceptor, Reloader), String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let seen = (stamp(cert), stamp(key));
    let current = Arc::new(Current(RwLock::new(load(cert, key, &provider)?)));
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let (builder, client_ca) = match client_ca {
        None => (builder.with_no_client_auth(), None),
        Some((path, required)) => {
            let seen = stamp(path);
            let first = client_cert::verifier(path, required, &provider)?;
            let verifier = Arc::new(Swappable::new(first, required));
            let ca = ClientCa {
                path: path.to_owned(),
                required,
                verifier: Arc::clone(&verifier),
                seen,
            };
            (builder.with_client_cert_verifier(verifier), Some(ca))
        }
    };
    let mut config =
        builder.with_cert_resolver(Arc::clone(&current) as Arc<dyn ResolvesServerCert>);
    if client_ca.is_some() {
        // A resumed session skips the client's certificate: it would outlive a change of
        // the roots, and the certificate's own expiry. Every connection verifies afresh.
        config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
        config.send_tls13_tickets = 0;
    }
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let reloader = Reloader {
        cert: cert.to_owned(),
        key: key.to_owned(),
        current,
        provider,
        seen,
        client_ca,
    };
    Ok((TlsAcceptor::from(Arc::new(config)), reloader))
}

impl Reloader {
    /// Loads the files now; on success new handshakes get the new pair, on failure the old
    /// one stays and the error says why (never a key byte).
    pub fn reload(&mut self) -> Result<(), String> {
        self.seen = (stamp(&self.cert), stamp(&self.key));
        let pair = load(&self.cert, &self.key, &self.provider)?;
        *self
            .current
            .0
            .write()
            .unwrap_or_else(PoisonError::into_inner) = pair;
        Ok(())
    }

    /// Loads the client CA file again (if there is one): new handshakes verify against its
    /// roots; on failure the old roots stay.
    pub fn reload_client_ca(&mut self) -> Result<(), String> {
        let Some(ca) = &mut self.client_ca else {
            return Ok(());
        };
        ca.seen = stamp(&ca.path);
        let verifier = client_cert::verifier(&ca.path, ca.required, &self.provider)?;
        ca.verifier.swap(verifier);
        Ok(())
    }

    fn client_ca_changed(&self) -> bool {
        self.client_ca
            .as_ref()
            .is_some_and(|ca| stamp(&ca.path) != ca.seen)
    }

    fn reload_client_ca_logged(&mut self, why: &str) {
        let Some(path) = self.client_ca.as_ref().map(|ca| ca.path.clone()) else {
            return;
        };
        match self.reload_client_ca() {
            Ok(()) => tracing::info!(
                client_ca = %path.display(),
                trigger = why,
                "client CA reloaded: new connections are verified against it"
            ),
            Err(error) => tracing::error!(
                %error,
                trigger = why,
                "client CA reload refused: the previous roots still verify"
            ),
        }
    }

    /// Whether either file changed since it was last loaded or refused.
    fn changed(&self) -> bool {
        (stamp(&self.cert), stamp(&self.key)) != self.seen
    }

    /// Reloads and logs the outcome in one line.
    fn reload_logged(&mut self, why: &str) {
        match self.reload() {
            Ok(()) => tracing::info!(
                cert = %self.cert.display(),
                key = %self.key.display(),
                trigger = why,
                "TLS certificate reloaded: new connections get it"
            ),
            Err(error) => tracing::error!(
                %error,
                trigger = why,
                "TLS certificate reload refused: the previous certificate is still served"
            ),
        }
    }

    /// Reloads on SIGHUP and whenever the files change (checked every `every`), for as
    /// long as the runtime runs.
    pub async fn watch(mut self, every: Duration) {
        let mut hangup =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        // The first check one period from now: the files were read at start.
        let mut poll = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let signalled = async {
                match &mut hangup {
                    Some(hangup) => hangup.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = signalled => {
                    self.reload_logged("SIGHUP");
                    self.reload_client_ca_logged("SIGHUP");
                }
                _ = poll.tick() => {
                    if self.changed() {
                        self.reload_logged("file change");
                    }
                    if self.client_ca_changed() {
                        self.reload_client_ca_logged("file change");
                    }
                }
            }
        }
    }
}
