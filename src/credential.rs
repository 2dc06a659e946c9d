//! Stored material, checked: the leaf and its issuers are read, the chain is ordered, the
//! key matches.

use rustls_pki_types::PrivateKeyDer;
use zeroize::Zeroizing;

pub(crate) use crate::certificate::ParsedCertificate;
use crate::error::{Error, ErrorKind};
use crate::key::CheckedKey;
use crate::request::{ChainOrder, DownloadRequest};
use crate::store::CertificateRecord;

/// What a download sends out, checked before anything is encoded.
pub(crate) struct Credential {
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
            Some(key) => Some(CheckedKey::check(key, leaf.spki_der())?),
            None => None,
        };
        Ok(Self { leaf, issuers, key })
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

/// Byte equality, the signatures' last bytes first: distinct certificates differ there, so
/// the deduplication of a long chain does not compare whole certificates pairwise.
fn same_der(a: &[u8], b: &[u8]) -> bool {
    fn tail(x: &[u8]) -> &[u8] {
        &x[x.len().saturating_sub(32)..]
    }
    a.len() == b.len() && tail(a) == tail(b) && a == b
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
        if !same_der(&cert.der, &leaf.der) && !unique.iter().any(|u| same_der(&u.der, &cert.der)) {
            unique.push(cert);
        }
    }
    let mut slots: Vec<Option<ParsedCertificate>> = unique.into_iter().map(Some).collect();
    let mut ordered: Vec<ParsedCertificate> = Vec::with_capacity(slots.len());
    loop {
        let current = ordered.last().unwrap_or(leaf);
        if current.is_self_issued() {
            break;
        }
        let next = slots
            .iter()
            .position(|s| s.as_ref().is_some_and(|c| c.issued(current)));
        let Some(next) = next.and_then(|i| slots[i].take()) else {
            break;
        };
        ordered.push(next);
    }
    ordered.extend(slots.into_iter().flatten());
    ordered
}

/// The certificates a file holds, as the request asks: the leaf, then (with
/// `include_chain`) its issuers in `chain_order`, without the root when `include_root` is
/// false. The one place the `include_root` rule lives; pfx, pem and p7b call it.
impl Credential {
    pub(crate) fn chain_for(&self, request: &DownloadRequest) -> Vec<&ParsedCertificate> {
        let mut chain = self.chain(ChainOrder::LeafFirst);
        if !request.include_chain() {
            chain.truncate(1);
        } else if !request.include_root()
            && let Some(root) = self.root_index()
        {
            chain.remove(1 + root);
        }
        if request.chain_order() == ChainOrder::RootFirst {
            chain.reverse();
        }
        chain
    }

    /// The index in `issuers` of the self-signed certificate (subject = issuer) that ends
    /// the chain the issuer links build from the leaf, if it ends in one. Certificates
    /// after it (stored ones that do not link) are not the root, even when self-signed;
    /// a self-signed leaf is its own root and stays.
    fn root_index(&self) -> Option<usize> {
        if self.leaf.is_self_issued() {
            return None;
        }
        let mut current = &self.leaf;
        for (i, cert) in self.issuers.iter().enumerate() {
            if !cert.issued(current) {
                return None;
            }
            if cert.is_self_issued() {
                return Some(i);
            }
            current = cert;
        }
        None
    }
}
