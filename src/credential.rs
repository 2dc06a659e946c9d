//! Stored material, checked: the leaf and its issuers are read, the chain is ordered, the
//! key matches.

use rustls_pki_types::PrivateKeyDer;
use zeroize::Zeroizing;

pub(crate) use crate::certificate::ParsedCertificate;
use crate::error::{Error, ErrorKind};
use crate::key::CheckedKey;
use crate::request::{CertificateId, ChainOrder, DownloadRequest};
use crate::store::CertificateRecord;

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
            Some(key) => Some(CheckedKey::check(key, leaf.spki_der())?),
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

/// A DER reader over a slice: TLVs with one-byte tags and DER lengths. Used by `key.rs`
/// only (no longer by the certificate reader); it goes when `key.rs` stops using it.
pub(crate) struct Der<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// Where `bytes` starts in the outermost input.
    offset: usize,
}

impl<'a> Der<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            pos: 0,
            offset: 0,
        }
    }

    /// The absolute position in the outermost input.
    pub(crate) fn at(&self) -> usize {
        self.offset + self.pos
    }

    /// The value bytes this reader reads.
    pub(crate) fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    fn is_empty(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    pub(crate) fn end(&self) -> Option<()> {
        self.is_empty().then_some(())
    }

    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let out = self.bytes.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(out)
    }

    /// The next TLV: its tag and a reader over its value. Lengths as `der` decodes them:
    /// definite, minimal, at most 4 length octets.
    fn tlv(&mut self) -> Option<(u8, Der<'a>)> {
        let tag = *self.bytes.get(self.pos)?;
        let first = *self.bytes.get(self.pos + 1)?;
        let (len, n) = match first {
            0..=0x7F => (usize::from(first), 0),
            0x81..=0x84 => {
                let n = usize::from(first - 0x80);
                let octets = self.bytes.get(self.pos + 2..self.pos + 2 + n)?;
                let len = octets
                    .iter()
                    .fold(0usize, |a, b| (a << 8) | usize::from(*b));
                // Minimal: a long form only from 0x80, and no leading zero octet.
                if len < 0x80 || octets[0] == 0 {
                    return None;
                }
                (len, n)
            }
            _ => return None,
        };
        let start = self.pos + 2 + n;
        let value = self.bytes.get(start..start.checked_add(len)?)?;
        self.pos = start + len;
        Some((
            tag,
            Der {
                bytes: value,
                pos: 0,
                offset: self.offset + start,
            },
        ))
    }

    /// The next TLV, which must have tag `tag`.
    pub(crate) fn expect(&mut self, tag: u8) -> Option<Der<'a>> {
        match self.tlv()? {
            (t, value) if t == tag => Some(value),
            _ => None,
        }
    }
}
