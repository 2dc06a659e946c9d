//! Who is asking: bearer tokens, kept as SHA-256 digests and compared in constant time,
//! and the failure limit per client address. Every way to fail is a [`Refusal`].

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::path::Path;

use axum::http::{HeaderMap, StatusCode, header};
use cert_download::{Error, ErrorKind};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::refusal::Refusal;
use crate::throttle::Throttle;

/// What a bearer token grants.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Grant {
    pub(crate) principal: String,
    pub(crate) export_keys: bool,
}

/// The bearer tokens of a deployment: `{"<token>": {"principal": "<name>", "export_keys":
/// true|false}}`. Kept as SHA-256 digests; `Debug` shows only how many there are. An entry
/// named `sha256:<fingerprint>` is not a token but a client certificate
/// (`client_cert.rs`).
pub struct Tokens(Vec<([u8; 32], Grant)>, Vec<([u8; 32], Grant)>);

impl Tokens {
    /// No tokens (the vault's database holds them).
    pub fn none() -> Self {
        Self(Vec::new(), Vec::new())
    }

    /// Reads a tokens file.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read(path)
            .map_err(|e| format!("cannot read the tokens file {}: {e}", path.display()))?;
        let map: HashMap<String, Grant> = serde_json::from_slice(&text).map_err(|e| {
            format!(
                "the tokens file {} is not {{\"<token>\": {{\"principal\": \"..\", \"export_keys\": true|false}}}}: {e}",
                path.display()
            )
        })?;
        let (mut tokens, mut certificates) = (Vec::new(), Vec::new());
        for (name, grant) in map {
            if name.starts_with("sha256:") {
                let fingerprint =
                    crate::client_cert::parse_fingerprint(&name).ok_or_else(|| {
                        format!(
                            "the tokens file {}: {name:?} is not sha256: and 32 bytes of hex",
                            path.display()
                        )
                    })?;
                certificates.push((fingerprint, grant));
            } else {
                tokens.push((Sha256::digest(name.as_bytes()).into(), grant));
            }
        }
        Ok(Self(tokens, certificates))
    }

    /// The grant of the client certificate of that SHA-256 fingerprint (not a secret: no
    /// constant time needed).
    pub(crate) fn certificate(&self, fingerprint: &[u8; 32]) -> Option<Grant> {
        self.1
            .iter()
            .find(|(known, _)| known == fingerprint)
            .map(|(_, grant)| grant.clone())
    }

    /// Every entry is compared, whatever matches, so the time does not depend on which
    /// token (or how much of one) is right; comparing digests hides the length too.
    pub(crate) fn grant(&self, token: &str) -> Option<Grant> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        for (known, grant) in &self.0 {
            if bool::from(known.ct_eq(&digest)) {
                found = Some(grant.clone());
            }
        }
        found
    }
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Tokens({} entries, {} certificates)",
            self.0.len(),
            self.1.len()
        )
    }
}

/// The token of `Authorization: Bearer <token>`; none for another scheme or an empty
/// token; a refusal for more than one `Authorization` field (which one counts would be a
/// guess, so none does).
fn bearer(headers: &HeaderMap) -> Result<Option<&str>, Refusal> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "duplicate_header",
            "the request has more than one Authorization field",
        ));
    }
    Ok(value.to_str().ok().and_then(|value| {
        let (scheme, token) = value.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim())
            .filter(|t| !t.is_empty())
    }))
}

/// The caller that `lookup` finds for the bearer token (in the tokens file, or the
/// vault's database), or why there is none. The token is checked first, so a valid one is
/// never refused for the failures of others at the same address; each failure is
/// counted, and over the budget answered 429 instead of 401. A lookup that cannot say
/// (the vault's database unreachable) is its own refusal, not counted as a failure. Every
/// refusal closes the connection: a client that has not authenticated gets one request
/// per connection.
pub(crate) async fn authenticate<'h, C, F>(
    throttle: &Throttle,
    ip: IpAddr,
    headers: &'h HeaderMap,
    lookup: impl FnOnce(&'h str) -> F,
) -> Result<C, Refusal>
where
    F: Future<Output = Result<Option<C>, Refusal>>,
{
    let token = bearer(headers).map_err(Refusal::closing)?;
    let found = match token {
        Some(token) => lookup(token).await.map_err(Refusal::closing)?,
        None => None,
    };
    if let Some(caller) = found {
        return Ok(caller);
    }
    let metrics = crate::metrics::get();
    if let Some(metrics) = metrics {
        metrics.auth_failed();
    }
    let refusal = match throttle.failed(ip) {
        Some(wait) => {
            if let Some(metrics) = metrics {
                metrics.throttled("auth_failures");
            }
            Refusal::too_many("too many failed authentications", wait)
        }
        None => Refusal::from(&Error::from(ErrorKind::Unauthenticated)),
    };
    Err(refusal.closing())
}
