//! Client certificates (mTLS) registered to principals: [`Vault::add_client_certificate`]
//! stores the SHA-256 of a certificate's DER beside its principal,
//! [`Vault::remove_client_certificate`] deletes it, [`Vault::client_certificates`] lists
//! them. The service names a caller by a verified certificate's fingerprint with
//! [`Vault::caller_by_client_certificate`] (in `caller.rs`), as it does by a token's hash.
//!
//! A fingerprint is not a secret (the certificate is sent in the clear in TLS 1.2, and
//! anyone it was shown to can compute it): what authenticates is the TLS handshake, in
//! which the client proves it holds the certificate's key and the service checks the chain
//! against `--client-ca`. The vault only maps a verified certificate to a principal.

use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::db::{now_secs, on_db};
use crate::error::VaultError;
use crate::vault::Vault;

/// A registered client certificate, as `principal list` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ClientCertificateInfo {
    /// `sha256:` and the SHA-256 of the certificate's DER in lowercase hex (as `openssl
    /// x509 -fingerprint -sha256` prints it, without the colons).
    pub fingerprint: String,
    /// Its principal.
    pub principal: String,
    /// The certificate's subject (RFC 4514) when it was registered.
    pub subject: Option<String>,
    /// Its notAfter (unix seconds): after it, the TLS handshake refuses the certificate.
    pub not_after: Option<i64>,
    /// When it was registered (unix seconds).
    pub created_at: i64,
}

/// `sha256:<lowercase hex>`.
pub fn fingerprint_text(fingerprint: &[u8; 32]) -> String {
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for b in fingerprint {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Reads `sha256:<hex>`: 64 hex digits, either case, with or without the colons `openssl
/// x509 -fingerprint -sha256` puts between the bytes.
pub fn parse_fingerprint(text: &str) -> Option<[u8; 32]> {
    let hex = text.strip_prefix("sha256:")?;
    let digits: Vec<u8> = hex.bytes().filter(|b| *b != b':').collect();
    if digits.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (slot, pair) in out.iter_mut().zip(digits.chunks(2)) {
        *slot = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(out)
}

/// The DER of the first `CERTIFICATE` of a PEM text, checked to be an X.509 certificate.
pub fn certificate_from_pem(pem: &[u8]) -> Result<Vec<u8>, VaultError> {
    use cert_download::{CertificateDer, PemObject};
    let der = CertificateDer::from_pem_slice(pem).map_err(|e| {
        VaultError::NotACertificate(format!("no PEM CERTIFICATE block could be read ({e})"))
    })?;
    parse_certificate(der.as_ref())?;
    Ok(der.to_vec())
}

/// The certificate's subject and notAfter; an error if the DER is not a certificate.
fn parse_certificate(der: &[u8]) -> Result<(String, Option<i64>), VaultError> {
    use x509_cert::der::Decode;
    let cert = x509_cert::Certificate::from_der(der)
        .map_err(|e| VaultError::NotACertificate(format!("the DER is not X.509 ({e})")))?;
    let tbs = cert.tbs_certificate();
    Ok((
        tbs.subject().to_string(),
        i64::try_from(tbs.validity().not_after.to_unix_duration().as_secs()).ok(),
    ))
}

impl Vault {
    /// Registers the client certificate of DER `der` to `principal`, which must exist (a
    /// grant or a token creates principals; a certificate registered to a misspelt name
    /// would authenticate a caller with no grants). Refused: DER that is not an X.509
    /// certificate ([`VaultError::NotACertificate`]), an unknown principal
    /// ([`VaultError::UnknownPrincipal`]), a certificate registered already, to this
    /// principal or another ([`VaultError::DuplicateClientCertificate`]).
    pub async fn add_client_certificate(
        &self,
        principal: &str,
        der: &[u8],
    ) -> Result<ClientCertificateInfo, VaultError> {
        let (subject, not_after) = parse_certificate(der)?;
        let fingerprint: [u8; 32] = Sha256::digest(der).into();
        let known: Option<String> = on_db!(&self.db, pool => {
            sqlx::query_scalar("SELECT name FROM principals WHERE name = $1")
                .bind(principal)
                .fetch_optional(pool)
                .await?
        });
        if known.is_none() {
            return Err(VaultError::UnknownPrincipal(principal.to_owned()));
        }
        let created_at = now_secs();
        let inserted = on_db!(&self.db, pool => {
            sqlx::query(
                "INSERT INTO client_certificates \
                 (fingerprint, principal, subject, not_after, created_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (fingerprint) DO NOTHING",
            )
            .bind(fingerprint.as_slice())
            .bind(principal)
            .bind(&subject)
            .bind(not_after)
            .bind(created_at)
            .execute(pool)
            .await?
            .rows_affected()
        });
        if inserted == 0 {
            let owner: Option<String> = on_db!(&self.db, pool => {
                sqlx::query_scalar("SELECT principal FROM client_certificates WHERE fingerprint = $1")
                    .bind(fingerprint.as_slice())
                    .fetch_optional(pool)
                    .await?
            });
            return Err(VaultError::DuplicateClientCertificate {
                fingerprint: fingerprint_text(&fingerprint),
                principal: owner.unwrap_or_default(),
            });
        }
        Ok(ClientCertificateInfo {
            fingerprint: fingerprint_text(&fingerprint),
            principal: principal.to_owned(),
            subject: Some(subject),
            not_after,
            created_at,
        })
    }

    /// Removes the client certificate of SHA-256 `fingerprint` from `principal`: the next
    /// request that presents it is refused (the service looks it up on every request).
    /// [`VaultError::UnknownClientCertificate`] if it is not registered to that principal.
    pub async fn remove_client_certificate(
        &self,
        principal: &str,
        fingerprint: &[u8; 32],
    ) -> Result<(), VaultError> {
        let removed = on_db!(&self.db, pool => {
            sqlx::query("DELETE FROM client_certificates WHERE fingerprint = $1 AND principal = $2")
                .bind(fingerprint.as_slice())
                .bind(principal)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if removed == 0 {
            return Err(VaultError::UnknownClientCertificate {
                fingerprint: fingerprint_text(fingerprint),
                principal: principal.to_owned(),
            });
        }
        Ok(())
    }

    /// The registered client certificates, of one principal or of all, by principal and
    /// time of registration.
    pub async fn client_certificates(
        &self,
        principal: Option<&str>,
    ) -> Result<Vec<ClientCertificateInfo>, VaultError> {
        Ok(on_db!(&self.db, pool => {
            sqlx::query(
                "SELECT fingerprint, principal, subject, not_after, created_at \
                 FROM client_certificates WHERE $1 IS NULL OR principal = $1 \
                 ORDER BY principal, created_at, fingerprint",
            )
            .bind(principal)
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(|row| {
                let fingerprint: Vec<u8> = row.try_get(0)?;
                let fingerprint: [u8; 32] = fingerprint.try_into().map_err(|_| {
                    sqlx::Error::Decode("a stored client certificate fingerprint is not 32 bytes".into())
                })?;
                Ok(ClientCertificateInfo {
                    fingerprint: fingerprint_text(&fingerprint),
                    principal: row.try_get(1)?,
                    subject: row.try_get(2)?,
                    not_after: row.try_get(3)?,
                    created_at: row.try_get(4)?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_read_as_openssl_prints_them_and_as_listed() {
        let colons = format!("sha256:{}", vec!["AB"; 32].join(":"));
        assert_eq!(parse_fingerprint(&colons), Some([0xab; 32]));
        let listed = fingerprint_text(&[0x0c; 32]);
        assert_eq!(listed, format!("sha256:{}", "0c".repeat(32)));
        assert_eq!(parse_fingerprint(&listed), Some([0x0c; 32]));
        assert_eq!(parse_fingerprint(&"ab".repeat(32)), None);
        assert_eq!(parse_fingerprint("sha256:abcd"), None);
        assert_eq!(
            parse_fingerprint(&format!("sha256:{}", "zz".repeat(32))),
            None
        );
        assert_eq!(
            parse_fingerprint(&format!("sha256:{}é", "a".repeat(62))),
            None
        );
    }

    #[test]
    fn only_a_certificate_is_one() {
        assert!(matches!(
            certificate_from_pem(b"-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n"),
            Err(VaultError::NotACertificate(_))
        ));
        assert!(matches!(
            certificate_from_pem(
                b"-----BEGIN CERTIFICATE-----\nMAMCAQA=\n-----END CERTIFICATE-----\n"
            ),
            Err(VaultError::NotACertificate(_))
        ));
        assert!(matches!(
            certificate_from_pem(b"hello"),
            Err(VaultError::NotACertificate(_))
        ));
    }
}
