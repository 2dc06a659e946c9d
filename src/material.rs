//! Stored material, checked: the leaf and its issuers are read, the chain is ordered, the
//! key matches.
//!
//! "Material" is what a store holds for one certificate (the leaf, its issuers, the key),
//! not a caller's credentials (a host's tokens or client certificates), which this crate
//! never sees.

use rustls_pki_types::PrivateKeyDer;
use zeroize::Zeroizing;

pub(crate) use crate::certificate::ParsedCertificate;
use crate::error::{Error, ErrorKind};
use crate::key::CheckedKey;
use crate::request::{ChainOrder, DownloadRequest};
use crate::store::CertificateRecord;

/// The material a download sends out, checked before anything is encoded.
pub(crate) struct CheckedMaterial {
    pub(crate) leaf: ParsedCertificate,
    /// The issuers in leaf-first order: linked ones by issuer links, then the rest in
    /// stored order, each once. Empty when the chain does not go out.
    pub(crate) issuers: Vec<ParsedCertificate>,
    /// How many of `issuers` a TLS server sends: the linked ones, without the self-signed
    /// root that ends them (when they end in one).
    path_without_root: usize,
    pub(crate) key: Option<CheckedKey>,
}

impl CheckedMaterial {
    /// Parses the leaf, orders the issuers (when `with_chain`), checks the key against the
    /// leaf (when one is given).
    pub(crate) fn check(
        record: CertificateRecord,
        with_chain: bool,
        key: Option<Zeroizing<PrivateKeyDer<'static>>>,
    ) -> Result<Self, Error> {
        let leaf =
            ParsedCertificate::parse(record.leaf, ErrorKind::InvalidCertificate, "certificate")?;
        let (issuers, path_without_root) = if with_chain {
            let parsed = record
                .issuers
                .into_iter()
                .map(|der| {
                    ParsedCertificate::parse(der, ErrorKind::InvalidChain, "issuer certificate")
                })
                .collect::<Result<Vec<_>, _>>()?;
            order_issuers(&leaf, parsed)
        } else {
            (Vec::new(), 0)
        };
        let key = match key {
            Some(key) => Some(CheckedKey::check(key, leaf.spki_der()?)?),
            None => None,
        };
        Ok(Self {
            leaf,
            issuers,
            path_without_root,
            key,
        })
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

/// Orders issuers by links from the leaf: each next certificate is the first stored one
/// that issued the current one (see [`ParsedCertificate::issued`]), until a self-signed
/// one. Stored order is not trusted; a duplicate (or a copy of the leaf) goes out once; a
/// loop ends the walk because each certificate is used once; certificates that do not
/// link follow in stored order. Also returns how many linked ones there are without the
/// self-signed root that ends them.
fn order_issuers(
    leaf: &ParsedCertificate,
    issuers: Vec<ParsedCertificate>,
) -> (Vec<ParsedCertificate>, usize) {
    let mut unique: Vec<ParsedCertificate> = Vec::with_capacity(issuers.len());
    for cert in issuers {
        if !same_der(&cert.der, &leaf.der) && !unique.iter().any(|u| same_der(&u.der, &cert.der)) {
            unique.push(cert);
        }
    }
    let mut slots: Vec<Option<ParsedCertificate>> = unique.into_iter().map(Some).collect();
    let mut ordered: Vec<ParsedCertificate> = Vec::with_capacity(slots.len());
    let mut ends_in_root = leaf.is_self_signed();
    while !ends_in_root {
        let current = ordered.last().unwrap_or(leaf);
        let next = slots
            .iter()
            .position(|s| s.as_ref().is_some_and(|c| c.issued(current)));
        let Some(next) = next.and_then(|i| slots[i].take()) else {
            break;
        };
        ends_in_root = next.is_self_signed();
        ordered.push(next);
    }
    let path_without_root = ordered.len().saturating_sub(usize::from(ends_in_root));
    ordered.extend(slots.into_iter().flatten());
    (ordered, path_without_root)
}

/// The certificates a file holds, as the request asks: the leaf, then (with
/// `include_chain`) its issuers, and with `include_root` false only the path a TLS server
/// sends (RFC 8446 section 4.4.2): the linked issuers without the self-signed root, nothing
/// that certifies nothing on that path. `root_first` reverses the list. The one place
/// these rules live; pfx, pem and p7b call it.
impl CheckedMaterial {
    pub(crate) fn chain_for(&self, request: &DownloadRequest) -> Vec<&ParsedCertificate> {
        let issuers = match (request.include_chain(), request.include_root()) {
            (false, _) => 0,
            (true, false) => self.path_without_root,
            (true, true) => self.issuers.len(),
        };
        let mut chain = Vec::with_capacity(1 + issuers);
        chain.push(&self.leaf);
        chain.extend(&self.issuers[..issuers]);
        if request.chain_order() == ChainOrder::RootFirst {
            chain.reverse();
        }
        chain
    }
}
