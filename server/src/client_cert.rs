//! Client certificates (mTLS) beside bearer tokens. With `--client-ca FILE` the server asks
//! each client for a certificate (optional, or required with `--require-client-cert`) and
//! checks it against those roots with rustls' `WebPkiClientVerifier` (chain, validity
//! dates, client-auth usage); a client whose certificate does not verify fails the
//! handshake. A verified leaf names a caller by its SHA-256 fingerprint, registered in the
//! tokens file as a `"sha256:<hex>"` entry. A request that also carries a bearer token is
//! decided by the token alone. With `--database`, the fingerprint is registered in the vault
//! instead (`cert-download-vault principal add-cert`) and looked up on every request.
//!
//! The roots reload as the server's own certificate does (`tls_reload.rs`): the verifier
//! the TLS configuration holds delegates to one that a reload swaps.

use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};

use rustls::DistinguishedName;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

/// The SHA-256 fingerprint of the client certificate the connection verified, if any: put
/// on every request of the connection.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Presented(pub(crate) Option<[u8; 32]>);

impl Presented {
    /// The leaf the handshake verified.
    pub(crate) fn of(connection: &rustls::ServerConnection) -> Self {
        Self(
            connection
                .peer_certificates()
                .and_then(|chain| chain.first())
                .map(|leaf| Sha256::digest(leaf.as_ref()).into()),
        )
    }
}

/// Reads `sha256:<hex>` (colons and case as `openssl x509 -fingerprint -sha256` prints
/// them, or without colons).
pub(crate) fn parse_fingerprint(text: &str) -> Option<[u8; 32]> {
    let hex = text.strip_prefix("sha256:")?;
    let digits: Vec<u8> = hex.bytes().filter(|b| *b != b':').collect();
    if digits.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in digits.chunks(2).enumerate() {
        let pair = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(out)
}

/// A verifier for the roots of `path`.
pub(crate) fn verifier(
    path: &Path,
    required: bool,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, String> {
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read the client CA file {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("no certificate in {}", path.display()));
    }
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| format!("the client CA file {}: {e}", path.display()))?;
    }
    let builder =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(provider));
    let builder = if required {
        builder
    } else {
        builder.allow_unauthenticated()
    };
    builder
        .build()
        .map_err(|e| format!("the client CA file {}: {e}", path.display()))
}

/// The verifier of the TLS configuration: the current one of a slot that a reload swaps.
/// Sends no root hints (they would have to outlive a swap); clients send their
/// certificate regardless.
#[derive(Debug)]
pub(crate) struct Swappable {
    pub(crate) current: RwLock<Arc<dyn ClientCertVerifier>>,
    required: bool,
}

impl Swappable {
    pub(crate) fn new(first: Arc<dyn ClientCertVerifier>, required: bool) -> Self {
        Self {
            current: RwLock::new(first),
            required,
        }
    }

    fn now(&self) -> Arc<dyn ClientCertVerifier> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    pub(crate) fn swap(&self, new: Arc<dyn ClientCertVerifier>) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = new;
    }
}

impl ClientCertVerifier for Swappable {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.required
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.now()
            .verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.now().verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.now().verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.now().supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_read_as_openssl_prints_them() {
        let colons = format!("sha256:{}", vec!["AB"; 32].join(":"));
        assert_eq!(parse_fingerprint(&colons), Some([0xab; 32]));
        assert_eq!(
            parse_fingerprint(&format!("sha256:{}", "0c".repeat(32))),
            Some([0x0c; 32])
        );
        assert_eq!(parse_fingerprint(&"ab".repeat(32)), None);
        assert_eq!(parse_fingerprint("sha256:abcd"), None);
        assert_eq!(
            parse_fingerprint(&format!("sha256:{}", "zz".repeat(32))),
            None
        );
    }
}
