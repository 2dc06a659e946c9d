//! Stored certificates judged as their consumers judge them.
//!
//! Mutants of every fixture certificate (bit flips, byte changes, truncations, length
//! changes, and re-encoded ones: BER lengths, other tags, other contents, constructed
//! strings, removed or repeated fields), seeded and so the same on every run, plus a
//! hand-made case for each known disagreement, are each judged by OpenSSL (`d2i_X509` of the
//! system libcrypto, through Python ctypes) and by Python `cryptography`
//! (`x509.load_der_x509_certificate`), in one Python process: `interop/tests/certificate_judge.py`.
//! Then the crate must answer as they do, as the leaf (`invalid_certificate`) and as an
//! issuer (`invalid_chain`):
//!
//! - both parse it: the crate reads it;
//! - OpenSSL cannot parse it: the crate refuses it;
//! - only OpenSSL parses it: the crate refuses BER forms (which DER forbids; also the
//!   primitive SEQUENCE or SET OpenSSL reads in a Name), invalid times and versions other
//!   than v1-v3, and reads the rest as OpenSSL does (a PrintableString with other
//!   characters, parameters of a type cryptography does not expect for a known algorithm,
//!   OIDs beyond cryptography's limits, v2). The judge sorts cryptography's objections into
//!   these kinds by its messages; any other objection fails the test, to be looked at.
//!
//! The counts of each class are printed (`--nocapture`), and the mutants' must reach a
//! floor in each class, so that a mutator that stopped producing some kind of certificate
//! fails the test.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::PathBuf;
use std::process::Command;

use cert_download::PemObject;
use cert_download::{
    CertificateDer, CertificateId, DownloadRequest, ErrorKind, ExportPolicy, MemoryStore, OsRandom,
    download_with,
};

/// The seed of the mutations; `CERT_MUTANTS_SEED` (a number) tries another.
const SEED: u64 = 0x9B_5EED;
const MUTANTS_PER_CERTIFICATE: usize = 200;

/// The repository's root, where the fixtures are.
fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// Every distinct certificate of the test store, its CAs and the demo store.
fn fixture_certificates() -> Vec<Vec<u8>> {
    let mut files = Vec::new();
    for base in [
        "tests/fixtures/store",
        "tests/fixtures/ca",
        "examples/demo-store",
    ] {
        let base = root().join(base);
        files.push(base.clone());
        for entry in std::fs::read_dir(&base).unwrap() {
            files.push(entry.unwrap().path());
        }
    }
    let mut pems: Vec<PathBuf> = Vec::new();
    for path in files {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                pems.push(entry.unwrap().path());
            }
        } else {
            pems.push(path);
        }
    }
    pems.retain(|p| p.extension().is_some_and(|e| e == "pem"));
    pems.sort();
    let mut out: Vec<Vec<u8>> = Vec::new();
    for path in pems {
        for cert in CertificateDer::pem_file_iter(&path).unwrap() {
            let der = cert.unwrap().to_vec();
            if !out.contains(&der) {
                out.push(der);
            }
        }
    }
    out
}

/// SplitMix64: a seeded source for the mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// A DER value as a tree, re-encoded after a change with consistent lengths.
#[derive(Clone, Debug)]
struct Node {
    identifier: Vec<u8>,
    length: LengthForm,
    content: Content,
}

#[derive(Clone, Debug)]
enum Content {
    Primitive(Vec<u8>),
    Constructed(Vec<Node>),
    /// A whole encoding written as it is (hand-made BER the tree would re-encode).
    Raw(Vec<u8>),
}

#[derive(Clone, Copy, Debug)]
enum LengthForm {
    Minimal,
    /// One more length octet than needed.
    Long,
    Indefinite,
}

/// The header of a DER TLV at the start of `bytes`: identifier octets, content length and
/// the header's size.
fn header(bytes: &[u8]) -> Option<(Vec<u8>, usize, usize)> {
    let mut at = 1;
    if bytes.first()? & 0x1F == 0x1F {
        while bytes.get(at)? & 0x80 != 0 {
            at += 1;
        }
        at += 1;
    }
    let identifier = bytes[..at].to_vec();
    let first = *bytes.get(at)?;
    at += 1;
    let len = match first {
        0..=0x7F => usize::from(first),
        0x81..=0x84 => {
            let n = usize::from(first & 0x7F);
            let octets = bytes.get(at..at + n)?;
            at += n;
            octets.iter().fold(0, |a, b| (a << 8) | usize::from(*b))
        }
        _ => return None,
    };
    (bytes.len() - at >= len).then_some((identifier, len, at))
}

fn parse(bytes: &[u8]) -> Option<Vec<Node>> {
    let mut nodes = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let (identifier, len, at) = header(rest)?;
        let value = &rest[at..at + len];
        let content = if identifier[0] & 0x20 != 0 {
            Content::Constructed(parse(value)?)
        } else {
            Content::Primitive(value.to_vec())
        };
        nodes.push(Node {
            identifier,
            length: LengthForm::Minimal,
            content,
        });
        rest = &rest[at + len..];
    }
    Some(nodes)
}

fn length_octets(len: usize, form: LengthForm) -> Vec<u8> {
    let be: Vec<u8> = len
        .to_be_bytes()
        .into_iter()
        .skip_while(|b| *b == 0)
        .collect();
    match form {
        LengthForm::Indefinite => vec![0x80],
        LengthForm::Minimal if len < 0x80 => vec![len as u8],
        LengthForm::Minimal => [&[0x80 | be.len() as u8][..], &be].concat(),
        LengthForm::Long => [&[0x81 + be.len() as u8, 0][..], &be].concat(),
    }
}

fn encode(nodes: &[Node]) -> Vec<u8> {
    let mut out = Vec::new();
    for node in nodes {
        let content = match &node.content {
            Content::Primitive(bytes) => bytes.clone(),
            Content::Constructed(children) => encode(children),
            Content::Raw(bytes) => {
                out.extend_from_slice(bytes);
                continue;
            }
        };
        out.extend_from_slice(&node.identifier);
        out.extend(length_octets(content.len(), node.length));
        out.extend_from_slice(&content);
        if matches!(node.length, LengthForm::Indefinite) {
            out.extend([0, 0]);
        }
    }
    out
}

fn leaf(identifier: u8, content: &[u8]) -> Node {
    Node {
        identifier: vec![identifier],
        length: LengthForm::Minimal,
        content: Content::Primitive(content.to_vec()),
    }
}

fn constructed(identifier: u8, children: Vec<Node>) -> Node {
    Node {
        identifier: vec![identifier],
        length: LengthForm::Minimal,
        content: Content::Constructed(children),
    }
}

/// The paths of every node, depth first.
fn paths(nodes: &[Node], prefix: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
    for (i, node) in nodes.iter().enumerate() {
        prefix.push(i);
        out.push(prefix.clone());
        if let Content::Constructed(children) = &node.content {
            paths(children, prefix, out);
        }
        prefix.pop();
    }
}

fn at<'a>(nodes: &'a mut [Node], path: &[usize]) -> &'a mut Node {
    let node = &mut nodes[path[0]];
    if path.len() == 1 {
        return node;
    }
    match &mut node.content {
        Content::Constructed(children) => at(children, &path[1..]),
        _ => unreachable!("paths lead through constructed nodes"),
    }
}

fn siblings<'a>(nodes: &'a mut Vec<Node>, path: &[usize]) -> &'a mut Vec<Node> {
    if path.len() == 1 {
        return nodes;
    }
    match &mut at(nodes, &path[..path.len() - 1]).content {
        Content::Constructed(children) => children,
        _ => unreachable!("a parent is constructed"),
    }
}

fn oid_content(arcs: &[u128]) -> Vec<u8> {
    let mut out = Vec::new();
    let first = arcs[0] * 40 + arcs[1];
    for &arc in std::iter::once(&first).chain(&arcs[2..]) {
        let mut groups = vec![(arc & 0x7F) as u8];
        let mut rest = arc >> 7;
        while rest > 0 {
            groups.push(0x80 | (rest & 0x7F) as u8);
            rest >>= 7;
        }
        groups.reverse();
        out.extend(groups);
    }
    out
}

/// A content for a primitive value of tag `tag`, often one a consumer objects to.
fn payload(rng: &mut Rng, tag: u8) -> Vec<u8> {
    let strings: &[&[u8]] = &[
        b"\xFF",
        b"a\xC0\x80",
        b"\xED\xA0\x80",
        b"\xF4\x90\x80\x80",
        b"\x00A\x00",
        b"\xD8\x3D\xDE\x00",
        b"\x00\x11\x00\x00",
        b"\x00\x00\x00A",
        b"*.example.com",
        b"a_b@c&d",
        b"caf\xE9",
        b"",
        b"\x08\xAA",
        b"\x07\x80",
        b"plain",
    ];
    match tag {
        0x06 => {
            let arcs: Vec<u128> = match rng.below(6) {
                0 => vec![2, 999, 1],
                1 => vec![2, 25, 0xF81D_4FAE_7DEC_11D0_A765_00A0_C91E_6BF6],
                2 => vec![1, 2, 1 << 32, 7],
                3 => vec![0, 0],
                4 => vec![1, 3, 6, 1, 4, 1, 99999, rng.next() as u128],
                _ => {
                    return rng
                        .pick(&[&[0x2A, 0x86][..], &[0x2A, 0x80, 0x01], &[], &[0x80, 0x01]])
                        .to_vec();
                }
            };
            oid_content(&arcs)
        }
        0x17 | 0x18 => {
            let year = if tag == 0x17 {
                format!("{:02}", rng.below(100))
            } else {
                format!(
                    "{:04}",
                    *rng.pick(&[0, 1900, 1950, 1969, 2000, 2049, 2050, 9999])
                )
            };
            let month = rng.pick(&["01", "02", "12", "13", "00"]);
            let day = rng.pick(&["01", "28", "29", "30", "31", "00"]);
            let time = rng.pick(&["000000", "235959", "240000", "235960", "0000"]);
            let zone = rng.pick(&["Z", "+0100", "z", ".5Z"]);
            format!("{year}{month}{day}{time}{zone}").into_bytes()
        }
        0x01 => rng
            .pick(&[&[0x01][..], &[0x00], &[], &[0xFF, 0xFF]])
            .to_vec(),
        0x02 => rng
            .pick(&[
                &[0x00, 0x01][..],
                &[],
                &[0xFF, 0x80],
                &[0x80],
                &[0x00],
                &[0x01; 40],
            ])
            .to_vec(),
        0x03 => rng
            .pick(&[
                &[0x08, 0x00][..],
                &[],
                &[0x01],
                &[0x01, 0xFF],
                &[0x07, 0x80],
            ])
            .to_vec(),
        0x05 => vec![0],
        _ => rng.pick(strings).to_vec(),
    }
}

/// One mutant of `der` (a DER certificate).
fn mutate(rng: &mut Rng, der: &[u8]) -> Vec<u8> {
    let mut raw = der.to_vec();
    match rng.below(10) {
        0 => {
            let i = rng.below(raw.len());
            raw[i] ^= 1 << rng.below(8);
            return raw;
        }
        1 => {
            let i = rng.below(raw.len());
            raw[i] = *rng.pick(&[
                0x00, 0x01, 0x7F, 0x80, 0x81, 0xFF, 0x30, 0x31, 0x0C, 0x13, 0x1E,
            ]);
            if rng.below(2) == 0 {
                raw[i] = rng.next() as u8;
            }
            return raw;
        }
        2 => {
            raw.truncate(rng.below(raw.len()));
            return raw;
        }
        3 => {
            // A length octet one more or one less, nothing else adjusted.
            let mut starts = Vec::new();
            let mut stack = vec![(0usize, raw.len())];
            while let Some((from, to)) = stack.pop() {
                let mut i = from;
                while i < to {
                    let Some((id, len, hl)) = header(&raw[i..to]) else {
                        break;
                    };
                    starts.push(i + id.len());
                    if id[0] & 0x20 != 0 {
                        stack.push((i + hl, i + hl + len));
                    }
                    i += hl + len;
                }
            }
            let at = *rng.pick(&starts);
            let octet = if raw[at] & 0x80 != 0 {
                at + usize::from(raw[at] & 0x7F)
            } else {
                at
            };
            raw[octet] = raw[octet].wrapping_add(*rng.pick(&[1, 0xFF, 2, 0xFE]));
            return raw;
        }
        _ => {}
    }
    let mut tree = parse(der).expect("fixtures are DER");
    let mut all = Vec::new();
    paths(&tree, &mut Vec::new(), &mut all);
    let path = rng.pick(&all).clone();
    let node = at(&mut tree, &path);
    let primitive = matches!(node.content, Content::Primitive(_));
    match rng.below(7) {
        0 => node.length = LengthForm::Long,
        1 if !primitive => node.length = LengthForm::Indefinite,
        2 if primitive => {
            node.identifier = vec![*rng.pick(&[
                0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x0C, 0x12, 0x13, 0x14, 0x16, 0x17, 0x18,
                0x1A, 0x1C, 0x1E, 0x1D, 0x80, 0x81,
            ])]
        }
        3 if primitive && node.identifier.len() == 1 => {
            // The same content as a BER constructed string.
            let tag = node.identifier[0];
            node.identifier[0] |= 0x20;
            let Content::Primitive(bytes) = &node.content else {
                unreachable!()
            };
            let half = bytes.len() / 2;
            node.content = Content::Constructed(vec![
                leaf(0x04, &bytes[..half]),
                leaf(if rng.below(2) == 0 { 0x04 } else { tag }, &bytes[half..]),
            ]);
        }
        4 if primitive && node.identifier.len() == 1 => {
            let tag = node.identifier[0];
            node.content = Content::Primitive(payload(rng, tag));
        }
        5 if path.len() > 1 => {
            let i = *path.last().unwrap();
            let list = siblings(&mut tree, &path);
            if rng.below(2) == 0 {
                list.remove(i);
            } else {
                let copy = list[i].clone();
                list.insert(i, copy);
            }
        }
        _ if !primitive => {
            let Content::Constructed(children) = &mut node.content else {
                unreachable!()
            };
            let extras = [
                leaf(0x05, &[]),
                leaf(0x84, &[]),
                leaf(0x01, &[0xFF]),
                constructed(0x31, vec![]),
            ];
            let extra = rng.pick(&extras).clone();
            let i = rng.below(children.len() + 1);
            children.insert(i, extra);
        }
        _ => {
            let tag = node.identifier[0];
            node.content = Content::Primitive(payload(rng, tag));
        }
    }
    encode(&tree)
}

/// The TBSCertificate's fields of a template certificate, to build hand-made cases from.
struct Template {
    tree: Vec<Node>,
}

impl Template {
    fn new(der: &[u8]) -> Self {
        Self {
            tree: parse(der).unwrap(),
        }
    }

    /// The certificate with the `field`-th TBSCertificate field (0: version, 1: serial,
    /// 2: signature, 3: issuer, 4: validity, 5: subject, 6: SPKI, 7: extensions) changed.
    fn with(&self, field: usize, change: impl FnOnce(&mut Node)) -> Vec<u8> {
        let mut tree = self.tree.clone();
        change(at(&mut tree, &[0, 0, field]));
        encode(&tree)
    }

    fn with_tbs(&self, change: impl FnOnce(&mut Vec<Node>)) -> Vec<u8> {
        let mut tree = self.tree.clone();
        let Content::Constructed(fields) = &mut at(&mut tree, &[0, 0]).content else {
            unreachable!()
        };
        change(fields);
        encode(&tree)
    }

    fn with_root(&self, change: impl FnOnce(&mut Node)) -> Vec<u8> {
        let mut tree = self.tree.clone();
        change(&mut tree[0]);
        encode(&tree)
    }
}

fn name(attributes: Vec<Vec<(Vec<u8>, Node)>>) -> Node {
    constructed(
        0x30,
        attributes
            .into_iter()
            .map(|rdn| {
                constructed(
                    0x31,
                    rdn.into_iter()
                        .map(|(oid, value)| constructed(0x30, vec![leaf(0x06, &oid), value]))
                        .collect(),
                )
            })
            .collect(),
    )
}

fn cn(value: Node) -> Node {
    name(vec![vec![(vec![0x55, 0x04, 0x03], value)]])
}

fn algorithm(oid: &[u8], parameters: Option<Node>) -> Node {
    constructed(
        0x30,
        std::iter::once(leaf(0x06, oid)).chain(parameters).collect(),
    )
}

/// A constructed UTF8String holding an OCTET STRING in `levels` constructed ones (OpenSSL
/// collects 5 levels).
fn nested(levels: usize) -> Node {
    let mut node = leaf(0x04, b"a");
    for _ in 0..levels {
        node = constructed(0x24, vec![node]);
    }
    constructed(0x2C, vec![node])
}

/// A hand-made case for each finding.
fn hand_made(template: &Template) -> Vec<(String, Vec<u8>)> {
    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    let mut case = |label: &str, der: Vec<u8>| cases.push((label.to_owned(), der));
    const SHA256_RSA: [u8; 9] = [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0B];
    const UNKNOWN: [u8; 8] = [0x2B, 0x06, 0x01, 0x04, 0x01, 0x86, 0x8D, 0x1F];
    let uuid = oid_content(&[2, 25, 0xF81D_4FAE_7DEC_11D0_A765_00A0_C91E_6BF6]);
    for (label, oid) in [
        ("2.999.1", oid_content(&[2, 999, 1])),
        ("2.25.<uuid>", uuid.clone()),
        ("1.2.<2^32>", oid_content(&[1, 2, 1 << 32])),
        (
            "an arc of 2^200",
            [&[0x2A][..], &[0xFF; 28], &[0x7F]].concat(),
        ),
        ("unterminated", vec![0x55, 0x04, 0x83]),
        ("a leading 0x80", vec![0x55, 0x80, 0x03]),
    ] {
        case(
            &format!("name attribute type {label}"),
            template.with(5, |n| {
                *n = name(vec![vec![(oid.clone(), leaf(0x0C, b"x"))]])
            }),
        );
        case(
            &format!("SPKI algorithm {label}"),
            template.with(6, |n| {
                let Content::Constructed(f) = &mut n.content else {
                    unreachable!()
                };
                f[0] = algorithm(&oid, None);
            }),
        );
    }
    let ext = |oid: &[u8], critical: Option<&[u8]>, value: Node| {
        constructed(
            0x30,
            std::iter::once(leaf(0x06, oid))
                .chain(critical.map(|c| leaf(0x01, c)))
                .chain(std::iter::once(value))
                .collect(),
        )
    };
    case(
        "extension 2.25.<uuid>",
        template.with(7, |n| {
            *n = constructed(
                0xA3,
                vec![constructed(
                    0x30,
                    vec![ext(&uuid, None, leaf(0x04, &[0x05, 0x00]))],
                )],
            )
        }),
    );
    for (label, time) in [
        ("UTCTime 1950", leaf(0x17, b"500101000000Z")),
        ("UTCTime 1969", leaf(0x17, b"691231235959Z")),
        (
            "UTCTime 2049 Feb 29 (not leap)",
            leaf(0x17, b"490229000000Z"),
        ),
        ("UTCTime 2048 Feb 29", leaf(0x17, b"480229000000Z")),
        ("GeneralizedTime 2049", leaf(0x18, b"20491231235959Z")),
        ("GeneralizedTime year 0", leaf(0x18, b"00000229000000Z")),
        ("GeneralizedTime 9999", leaf(0x18, b"99991231235959Z")),
        ("UTCTime month 13", leaf(0x17, b"251301000000Z")),
        ("UTCTime without seconds", leaf(0x17, b"2501010000Z")),
        ("UTCTime with an offset", leaf(0x17, b"250101000000+0100")),
        (
            "GeneralizedTime with a fraction",
            leaf(0x18, b"20500101000000.5Z"),
        ),
    ] {
        case(
            &format!("notBefore {label}"),
            template.with(4, |n| {
                let Content::Constructed(f) = &mut n.content else {
                    unreachable!()
                };
                f[0] = time;
            }),
        );
    }
    for (label, value) in [
        ("UTF8String invalid", leaf(0x0C, b"\xFF")),
        ("UTF8String surrogate", leaf(0x0C, b"\xED\xA0\x80")),
        ("UTF8String overlong", leaf(0x0C, b"\xC0\x80")),
        ("UTF8String NUL", leaf(0x0C, b"a\x00b")),
        ("BMPString odd", leaf(0x1E, b"\x00A\x00")),
        ("BMPString surrogate pair", leaf(0x1E, b"\xD8\x3D\xDE\x00")),
        ("BMPString", leaf(0x1E, b"\x00A\x00\xDF")),
        (
            "UniversalString beyond U+10FFFF",
            leaf(0x1C, b"\x00\x11\x00\x00"),
        ),
        ("UniversalString", leaf(0x1C, b"\x00\x01\xF6\x00")),
        ("OCTET STRING", leaf(0x04, b"x")),
        ("BIT STRING", leaf(0x03, b"\x00x")),
        ("BIT STRING, 8 unused bits", leaf(0x03, b"\x08x")),
        ("BIT STRING, empty", leaf(0x03, b"")),
        ("VisibleString", leaf(0x1A, b"x")),
        ("INTEGER", leaf(0x02, b"\x01")),
        ("PrintableString with * and _", leaf(0x13, b"*.a_b")),
        ("IA5String with Latin-1", leaf(0x16, b"caf\xE9")),
        ("TeletexString with Latin-1", leaf(0x14, b"caf\xE9")),
        ("NumericString with letters", leaf(0x12, b"abc")),
        ("SEQUENCE", raw(&[0x30, 0x02, 0xFF, 0xFF])),
        (
            "constructed UTF8String",
            raw(&[0x2C, 0x03, 0x04, 0x01, b'a']),
        ),
        (
            "constructed UTF8String, invalid inside",
            raw(&[0x2C, 0x03, 0x04, 0x01, 0xFF]),
        ),
        (
            "constructed UTF8String, BER inside",
            raw(&[0x2C, 0x08, 0x24, 0x80, 0x04, 0x81, 0x01, b'a', 0x00, 0x00]),
        ),
        ("constructed UTF8String, 5 levels deep", nested(5)),
        ("constructed UTF8String, 6 levels deep", nested(6)),
        (
            "constructed BMPString, a surrogate inside",
            raw(&[0x3E, 0x04, 0x04, 0x02, 0xD8, 0x00]),
        ),
        ("tag [UNIVERSAL 33]", raw(&[0x1F, 0x21, 0x01, b'a'])),
        ("context tag", raw(&[0x80, 0x01, b'a'])),
    ] {
        case(
            &format!("subject CN {label}"),
            template.with(5, |n| *n = cn(value)),
        );
    }
    case(
        "subject RDN sorted",
        template.with(5, |n| {
            *n = name(vec![vec![
                (vec![0x55, 0x04, 0x03], leaf(0x0C, b"a")),
                (vec![0x55, 0x04, 0x0A], leaf(0x0C, b"b")),
            ]])
        }),
    );
    case(
        "subject RDN unsorted",
        template.with(5, |n| {
            *n = name(vec![vec![
                (vec![0x55, 0x04, 0x0A], leaf(0x0C, b"b")),
                (vec![0x55, 0x04, 0x03], leaf(0x0C, b"a")),
            ]])
        }),
    );
    case("subject empty", template.with(5, |n| *n = name(vec![])));
    case(
        "subject empty RDN",
        template.with(5, |n| *n = name(vec![vec![]])),
    );
    for (label, parameters) in [
        ("absent", None),
        ("NULL", Some(&[0x05, 0x00][..])),
        ("BOOLEAN of no octet (01 00)", Some(&[0x01, 0x00])),
        ("BOOLEAN of 6 octets", Some(&[0x01, 0x06, 0, 0, 0, 0, 0, 0])),
        ("BOOLEAN 01", Some(&[0x01, 0x01, 0x01])),
        ("unterminated OID", Some(&[0x06, 0x01, 0x86])),
        ("NULL with content", Some(&[0x05, 0x01, 0x00])),
        ("INTEGER non-minimal", Some(&[0x02, 0x02, 0x00, 0x01])),
        ("INTEGER empty", Some(&[0x02, 0x00])),
        ("BIT STRING, 8 unused bits", Some(&[0x03, 0x02, 0x08, 0x00])),
        ("BMPString odd", Some(&[0x1E, 0x01, b'a'])),
        ("UTF8String invalid", Some(&[0x0C, 0x01, 0xFF])),
        ("end of contents", Some(&[0x00, 0x00])),
        ("SEQUENCE of garbage", Some(&[0x30, 0x02, 0xFF, 0xFF])),
        ("primitive SEQUENCE", Some(&[0x10, 0x00])),
        (
            "constructed OCTET STRING",
            Some(&[0x24, 0x03, 0x04, 0x01, b'x']),
        ),
        ("constructed NULL", Some(&[0x25, 0x00])),
        ("constructed end of contents", Some(&[0x20, 0x00])),
        (
            "tag number 2^31 - 1",
            Some(&[0x9F, 0x87, 0xFF, 0xFF, 0xFF, 0x7F, 0x00]),
        ),
        (
            "tag number 2^31",
            Some(&[0x9F, 0x88, 0x80, 0x80, 0x80, 0x00, 0x00]),
        ),
        (
            "constructed BIT STRING, 8 unused bits",
            Some(&[0x23, 0x04, 0x03, 0x02, 0x08, 0x00]),
        ),
        ("NULL, non-minimal length", Some(&[0x05, 0x81, 0x00])),
    ] {
        for (alg, oid) in [
            ("sha256WithRSAEncryption", &SHA256_RSA[..]),
            ("an unknown algorithm", &UNKNOWN),
        ] {
            let params = parameters.map(raw);
            case(
                &format!("signature {alg}, parameters {label}"),
                template.with_root(|root| {
                    let Content::Constructed(f) = &mut root.content else {
                        unreachable!()
                    };
                    f[1] = algorithm(oid, params.clone());
                    let Content::Constructed(tbs) = &mut f[0].content else {
                        unreachable!()
                    };
                    tbs[2] = algorithm(oid, params);
                }),
            );
        }
    }
    let version = |v: &[u8]| constructed(0xA0, vec![leaf(0x02, v)]);
    case(
        "version v1 (absent) with extensions",
        template.with_tbs(|f| {
            f.remove(0);
        }),
    );
    case(
        "version v1 written out",
        template.with(0, |n| *n = version(&[0])),
    );
    case("version v2", template.with(0, |n| *n = version(&[1])));
    case("version 4", template.with(0, |n| *n = version(&[3])));
    case("version -1", template.with(0, |n| *n = version(&[0xFF])));
    case("serial 0", template.with(1, |n| *n = leaf(0x02, &[0])));
    case(
        "serial negative",
        template.with(1, |n| *n = leaf(0x02, &[0x80])),
    );
    case(
        "serial of 40 octets",
        template.with(1, |n| *n = leaf(0x02, &[0x01; 40])),
    );
    case("serial empty", template.with(1, |n| *n = leaf(0x02, &[])));
    case(
        "serial non-minimal",
        template.with(1, |n| *n = leaf(0x02, &[0x00, 0x01])),
    );
    case(
        "subject, non-minimal length",
        template.with(5, |n| n.length = LengthForm::Long),
    );
    case(
        "TBSCertificate, indefinite length",
        template.with_root(|root| {
            let Content::Constructed(f) = &mut root.content else {
                unreachable!()
            };
            f[0].length = LengthForm::Indefinite;
        }),
    );
    case(
        "issuerUniqueID",
        template.with_tbs(|f| f.insert(7, leaf(0x81, &[0x00, 0xAB]))),
    );
    case(
        "issuerUniqueID, padding bits set",
        template.with_tbs(|f| f.insert(7, leaf(0x81, &[0x01, 0xFF]))),
    );
    case(
        "issuerUniqueID, constructed",
        template.with_tbs(|f| f.insert(7, constructed(0xA1, vec![leaf(0x03, &[0x00, 0xAB])]))),
    );
    case(
        "SPKI with unused bits",
        template.with(6, |n| {
            let Content::Constructed(f) = &mut n.content else {
                unreachable!()
            };
            f[1] = leaf(0x03, &[0x01, 0x02]);
        }),
    );
    let basic_constraints = [0x55, 0x1D, 0x13];
    for (label, e) in [
        (
            "critical TRUE",
            ext(&basic_constraints, Some(&[0xFF]), leaf(0x04, &[0x30, 0x00])),
        ),
        (
            "critical FALSE written out",
            ext(&basic_constraints, Some(&[0x00]), leaf(0x04, &[0x30, 0x00])),
        ),
        (
            "critical 01",
            ext(&basic_constraints, Some(&[0x01]), leaf(0x04, &[0x30, 0x00])),
        ),
        (
            "critical of 2 octets",
            ext(
                &basic_constraints,
                Some(&[0xFF, 0xFF]),
                leaf(0x04, &[0x30, 0x00]),
            ),
        ),
        (
            "a garbage value",
            ext(&basic_constraints, None, leaf(0x04, &[0xFF, 0xFF])),
        ),
        (
            "a constructed OCTET STRING",
            ext(
                &basic_constraints,
                None,
                raw(&[0x24, 0x04, 0x04, 0x02, 0x30, 0x00]),
            ),
        ),
    ] {
        case(
            &format!("extension {label}"),
            template.with(7, |n| {
                *n = constructed(0xA3, vec![constructed(0x30, vec![e])])
            }),
        );
    }
    case(
        "extensions empty",
        template.with(7, |n| {
            *n = constructed(0xA3, vec![constructed(0x30, vec![])])
        }),
    );
    case(
        "trailing byte",
        [template.with_tbs(|_| {}), vec![0]].concat(),
    );
    cases
}

/// A node of the given encoding, kept byte for byte when the tree cannot read it or would
/// re-encode it.
fn raw(bytes: &[u8]) -> Node {
    match parse(bytes) {
        Some(mut nodes) if nodes.len() == 1 && encode(&nodes) == bytes => nodes.remove(0),
        _ => Node {
            identifier: vec![],
            length: LengthForm::Minimal,
            content: Content::Raw(bytes.to_vec()),
        },
    }
}

/// What the judges said of one candidate.
struct Verdict {
    openssl: bool,
    cryptography: bool,
    /// When only OpenSSL parses it: the kind of cryptography's objection, and its message.
    objection: Option<(String, String)>,
}

fn judge(candidates: &[Vec<u8>]) -> Vec<Verdict> {
    let script = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/certificate_judge.py"
    ));
    let check = Command::new("python3").arg(&script).arg("--check").output();
    match check {
        Ok(out) if out.status.success() => {
            println!("judges: {}", String::from_utf8_lossy(&out.stdout).trim());
        }
        Ok(out) => panic!(
            "the certificate judges cannot run: {}\nThey need Python 3 with the `cryptography` \
             package (apt-get install python3-cryptography, or pip install cryptography) and \
             OpenSSL's libcrypto (apt-get install libssl3).",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => panic!(
            "python3 cannot be started ({e}). The certificate judges need Python 3 with the \
             `cryptography` package (apt-get install python3 python3-cryptography, or pip \
             install cryptography) and OpenSSL's libcrypto (apt-get install libssl3)."
        ),
    }
    let mut file = tempfile::NamedTempFile::new().unwrap();
    for der in candidates {
        let hex: String = der.iter().map(|b| format!("{b:02x}")).collect();
        writeln!(file, "{hex}").unwrap();
    }
    file.flush().unwrap();
    let out = Command::new("python3")
        .arg(&script)
        .arg(file.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the judge failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verdicts: Vec<Verdict> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let mut parts = line.splitn(3, ' ');
            let judges = parts.next().unwrap();
            let objection = parts
                .next()
                .map(|kind| (kind.to_owned(), parts.next().unwrap_or_default().to_owned()));
            Verdict {
                openssl: judges.starts_with('O'),
                cryptography: judges.ends_with('C'),
                objection,
            }
        })
        .collect();
    assert_eq!(verdicts.len(), candidates.len());
    verdicts
}

/// Whether the crate reads `der` as a leaf, and as an issuer: `Some(true)` when it does,
/// `Some(false)` when it refuses it with the right error, `None` on any other answer. As a
/// leaf it goes out as a crt and as a p7b, which must agree (a p7b carries the stored bytes).
fn crate_reads(der: &[u8], issued_by_it: &[u8]) -> (Option<bool>, Option<bool>) {
    let id = CertificateId::new(1).unwrap();
    let policy = ExportPolicy::with_iterations(1).unwrap();
    let answer = |leaf: &[u8], issuers: Vec<CertificateDer<'static>>, request, refusal| {
        let mut store = MemoryStore::new();
        store.insert(
            id,
            cert_download::store::MemoryEntry::new(CertificateDer::from(leaf.to_vec()))
                .with_issuers(issuers),
        );
        match download_with(request, &store, &policy, &mut OsRandom) {
            Ok(_) => Some(true),
            Err(e) if e.kind() == refusal => Some(false),
            Err(_) => None,
        }
    };
    let as_crt = answer(
        der,
        vec![],
        DownloadRequest::crt(id),
        ErrorKind::InvalidCertificate,
    );
    let as_p7b = answer(
        der,
        vec![],
        DownloadRequest::p7b(id),
        ErrorKind::InvalidCertificate,
    );
    let as_leaf = if as_crt == as_p7b { as_crt } else { None };
    let as_issuer = answer(
        issued_by_it,
        vec![CertificateDer::from(der.to_vec())],
        DownloadRequest::pem(id),
        ErrorKind::InvalidChain,
    );
    (as_leaf, as_issuer)
}

/// What the crate must answer (`true`: read it), or why the test cannot tell.
fn expected(verdict: &Verdict) -> Result<bool, String> {
    match (verdict.openssl, verdict.cryptography, &verdict.objection) {
        (true, true, _) => Ok(true),
        (false, _, _) => Ok(false),
        (true, false, Some((kind, _))) => match kind.as_str() {
            "ber" | "malformed" | "time" | "version" => Ok(false),
            "version-v2" | "parameters" | "printable" | "oid" => Ok(true),
            other => Err(format!(
                "cryptography objects for a reason not classified ({other})"
            )),
        },
        (true, false, None) => Err("the judge gave no reason".to_owned()),
    }
}

#[test]
#[cfg_attr(
    not(all(judge_openssl, judge_cryptography)),
    ignore = "needs OpenSSL's libcrypto and Python cryptography 48: scripts/test-all installs them"
)]
fn the_crate_reads_what_openssl_and_cryptography_read() {
    let fixtures = fixture_certificates();
    assert!(
        fixtures.len() >= 30,
        "{} fixture certificates",
        fixtures.len()
    );
    let valid: Vec<&Vec<u8>> = fixtures.iter().filter(|d| parse(d).is_some()).collect();
    let template = Template::new(
        &CertificateDer::from_pem_file(root().join("tests/fixtures/store/1/cert.pem")).unwrap(),
    );

    let mut candidates: Vec<(String, Vec<u8>)> = Vec::new();
    let mut seen = HashSet::new();
    for (label, der) in hand_made(&template) {
        seen.insert(der.clone());
        candidates.push((label, der));
    }
    let hand_made_count = candidates.len();
    for der in &fixtures {
        candidates.push(("fixture".to_owned(), der.clone()));
    }
    let seed = std::env::var("CERT_MUTANTS_SEED").map_or(SEED, |s| s.parse().unwrap());
    let mut rng = Rng(seed);
    for (n, der) in valid.iter().enumerate() {
        for _ in 0..MUTANTS_PER_CERTIFICATE {
            let mutant = mutate(&mut rng, der);
            if seen.insert(mutant.clone()) {
                candidates.push((format!("mutant of fixture {n}"), mutant));
            }
        }
    }
    let ders: Vec<Vec<u8>> = candidates.iter().map(|(_, d)| d.clone()).collect();
    let verdicts = judge(&ders);

    // A valid leaf issued by the fixture's root, for the issuer path.
    let issued = std::fs::read(root().join("tests/fixtures/store/10/cert.pem")).unwrap();
    let issued = CertificateDer::from_pem_slice(&issued).unwrap().to_vec();

    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    // The judges' classes of the mutants alone (not the hand-made cases nor the fixtures).
    let mut mutant_classes: BTreeMap<String, usize> = BTreeMap::new();
    let first_mutant = hand_made_count + fixtures.len();
    let mut failures = Vec::new();
    let mut hand_made_lines = Vec::new();
    for (i, ((label, der), verdict)) in candidates.iter().zip(&verdicts).enumerate() {
        let (leaf, issuer) = crate_reads(der, &issued);
        let class = match (verdict.openssl, verdict.cryptography, &verdict.objection) {
            (true, true, _) => "both parse".to_owned(),
            (false, true, _) => "only cryptography parses".to_owned(),
            (false, false, _) => "neither parses".to_owned(),
            (true, false, Some((kind, _))) => format!("only OpenSSL parses: {kind}"),
            (true, false, None) => "only OpenSSL parses".to_owned(),
        };
        let read = match leaf {
            Some(true) => "read",
            Some(false) => "refused",
            None => "wrong error",
        };
        *counts
            .entry(format!("{class:40} crate {read}"))
            .or_default() += 1;
        if i >= first_mutant {
            *mutant_classes.entry(class.clone()).or_default() += 1;
        }
        if i < hand_made_count {
            hand_made_lines.push(format!("{label:58} {class:36} crate {read}"));
        }
        let problem = match expected(verdict) {
            Err(why) => Some(why),
            Ok(want) if leaf != Some(want) => {
                Some(format!("as the leaf, wanted read = {want}, got {leaf:?}"))
            }
            Ok(want) if issuer != Some(want) => Some(format!(
                "as an issuer, wanted read = {want}, got {issuer:?}"
            )),
            Ok(_) => None,
        };
        if let Some(problem) = problem {
            let hex: String = der.iter().map(|b| format!("{b:02x}")).collect();
            let why = verdict
                .objection
                .as_ref()
                .map(|(_, m)| m.as_str())
                .unwrap_or("");
            failures.push(format!("{label}: {problem}; judges {class} {why}\n  {hex}"));
        }
    }
    println!(
        "{} candidates: {hand_made_count} hand-made, {} fixtures, the rest mutants (seed {seed:#x})",
        candidates.len(),
        fixtures.len()
    );
    for line in &hand_made_lines {
        println!("{line}");
    }
    for (class, n) in &counts {
        println!("{n:6}  {class}");
    }
    // The mutator must keep reaching every kind of answer: a degraded one (that only flips
    // bits, or whose re-encodings no longer parse) would leave the verdicts above
    // "refused" everywhere and prove nothing. Floors at about half of the mutants' counts
    // with the default seed (1,757 both parse, 3,425 neither, 793 BER, 110 times, 67
    // cryptography only, 47 parameters, 12 versions), so that another seed passes too.
    let floors = [
        ("both parse", 850),
        ("neither parses", 1700),
        ("only OpenSSL parses: ber", 400),
        ("only OpenSSL parses: time", 50),
        ("only cryptography parses", 30),
        ("only OpenSSL parses: parameters", 20),
        ("only OpenSSL parses: version", 5),
    ];
    let short: Vec<String> = floors
        .iter()
        .filter_map(|&(class, floor)| {
            let n = mutant_classes.get(class).copied().unwrap_or(0);
            (n < floor).then(|| format!("{class}: {n} mutants, at least {floor} expected"))
        })
        .collect();
    assert!(
        short.is_empty(),
        "the mutator no longer reaches every class of verdict:\n{}\nall classes: {mutant_classes:?}",
        short.join("\n")
    );
    assert!(
        failures.is_empty(),
        "{} of {} candidates answered wrongly:\n{}",
        failures.len(),
        candidates.len(),
        failures
            .iter()
            .take(25)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
