//! Stored material, checked: the leaf parses, the chain is ordered, the key matches.

use der::{Decode, Encode};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use x509_cert::Certificate;
use zeroize::Zeroizing;

use crate::error::{Error, ErrorKind};
use crate::key::CheckedKey;
use crate::request::{CertificateId, ChainOrder};
use crate::store::CertificateRecord;

/// A certificate kept both as its DER and parsed.
pub(crate) struct ParsedCertificate {
    pub(crate) der: CertificateDer<'static>,
    pub(crate) cert: Certificate,
}

impl ParsedCertificate {
    fn parse(der: CertificateDer<'static>, kind: ErrorKind, what: &str) -> Result<Self, Error> {
        let cert = Certificate::from_der(&der)
            .map_err(|_| Error::new(kind, format!("the stored {what} does not parse")))?;
        Ok(Self { der, cert })
    }
}

/// What a download sends out, checked before anything is encoded.
pub(crate) struct Credential {
    pub(crate) id: CertificateId,
    pub(crate) leaf: ParsedCertificate,
    /// The issuers in leaf-first order: linked ones by issuer links, then the rest in
    /// stored order, each once. Empty when the chain does not go out.
    pub(crate) issuers: Vec<ParsedCertificate>,
    pub(crate) key: Option<CheckedKey>,
}

impl Credential {
    /// Parses the leaf, orders the issuers (when `with_chain`), checks the key against the
    /// leaf (when one is given).
    pub(crate) fn check(
        id: CertificateId,
        record: CertificateRecord,
        with_chain: bool,
        key: Option<Zeroizing<PrivateKeyDer<'static>>>,
    ) -> Result<Self, Error> {
        let leaf =
            ParsedCertificate::parse(record.leaf, ErrorKind::InvalidCertificate, "certificate")?;
        let issuers = if with_chain {
            let parsed = record
                .issuers
                .into_iter()
                .map(|der| {
                    ParsedCertificate::parse(der, ErrorKind::InvalidChain, "issuer certificate")
                })
                .collect::<Result<Vec<_>, _>>()?;
            order_issuers(&leaf, parsed)
        } else {
            Vec::new()
        };
        let key = match key {
            Some(key) => {
                let spki = leaf
                    .cert
                    .tbs_certificate()
                    .subject_public_key_info()
                    .to_der()
                    .map_err(|_| {
                        Error::new(
                            ErrorKind::InvalidCertificate,
                            "the stored certificate's public key cannot be read",
                        )
                    })?;
                Some(CheckedKey::check(&key, &spki)?)
            }
            None => None,
        };
        Ok(Self {
            id,
            leaf,
            issuers,
            key,
        })
    }

    /// The leaf and its issuers in the order asked for.
    pub(crate) fn chain(&self, order: ChainOrder) -> Vec<&ParsedCertificate> {
        let mut all = Vec::with_capacity(1 + self.issuers.len());
        all.push(&self.leaf);
        all.extend(self.issuers.iter());
        if order == ChainOrder::RootFirst {
            all.reverse();
        }
        all
    }
}

/// Orders issuers by links from the leaf: each next certificate is one whose subject is
/// the current one's issuer. Stored order is not trusted; a duplicate (or a copy of the
/// leaf) goes out once; a loop ends the walk because each certificate is used once;
/// certificates that do not link follow in stored order.
fn order_issuers(
    leaf: &ParsedCertificate,
    issuers: Vec<ParsedCertificate>,
) -> Vec<ParsedCertificate> {
    let mut unique: Vec<ParsedCertificate> = Vec::with_capacity(issuers.len());
    for cert in issuers {
        if cert.der.as_ref() != leaf.der.as_ref()
            && !unique.iter().any(|u| u.der.as_ref() == cert.der.as_ref())
        {
            unique.push(cert);
        }
    }
    let mut slots: Vec<Option<ParsedCertificate>> = unique.into_iter().map(Some).collect();
    let mut ordered = Vec::with_capacity(slots.len());
    let mut current = &leaf.cert;
    loop {
        let tbs = current.tbs_certificate();
        if tbs.issuer() == tbs.subject() {
            break;
        }
        let next = slots.iter().position(|s| {
            s.as_ref()
                .is_some_and(|c| c.cert.tbs_certificate().subject() == tbs.issuer())
        });
        let Some(next) = next.and_then(|i| slots[i].take()) else {
            break;
        };
        ordered.push(next);
        match ordered.last() {
            Some(last) => current = &last.cert,
            None => break,
        }
    }
    ordered.extend(slots.into_iter().flatten());
    ordered
}
