//! What the tests of the additions beyond the vendor's pages share (p7b, `include_root`,
//! the BouncyCastle and Go judges): the expected certificates of a download, the p7b and
//! pfx downloads themselves, and compiling a judge's helper program once per test run.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use cert_download::{ExportPolicy, PfxEncryption};
use serde_json::{Value, json};

use super::checks::PfxCase;
use super::fixtures::{Cert, Fixture, ROOT, download};

/// What a download asks for besides the record and the format.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Options {
    pub(crate) include_chain: bool,
    pub(crate) include_root: bool,
    pub(crate) root_first: bool,
}

pub(crate) const DEFAULTS: Options = Options {
    include_chain: true,
    include_root: true,
    root_first: false,
};

pub(crate) const NO_ROOT: Options = Options {
    include_root: false,
    ..DEFAULTS
};

impl Options {
    fn set(self, body: &mut Value) {
        body["include_chain"] = Value::from(self.include_chain);
        body["include_root"] = Value::from(self.include_root);
        body["chain_order"] = Value::from(if self.root_first {
            "root_first"
        } else {
            "leaf_first"
        });
    }
}

/// The certificates a pem or pfx download holds, in file order: when `include_root` is
/// false, the path a TLS server sends, which ends before the root (record 20's unrelated
/// CA, after the root, certifies nothing on the path and goes too).
pub(crate) fn expected(fx: &Fixture, o: Options) -> Vec<Cert> {
    let mut certs = fx.expected(o.include_chain, false);
    if !o.include_root
        && let Some(at) = certs.iter().position(|c| c.subject == ROOT)
    {
        certs.truncate(at);
    }
    if o.root_first {
        certs.reverse();
    }
    certs
}

/// The chain a verifier builds from the leaf by issuer links, without the root when
/// `include_root` is false.
pub(crate) fn linked(fx: &Fixture, o: Options) -> Vec<Cert> {
    let mut certs = fx.linked_chain(o.include_chain);
    if !o.include_root {
        certs.retain(|c| c.subject != ROOT);
    }
    certs
}

/// `certs` in the order of a DER `SET OF` (X.690 11.6: the encodings compared as octet
/// strings, the shorter padded with zero octets): a p7b's order.
pub(crate) fn der_order(mut certs: Vec<Cert>) -> Vec<Cert> {
    let padded = |der: &[u8], n: usize| {
        let mut v = der.to_vec();
        v.resize(n, 0);
        v
    };
    certs.sort_by(|a, b| {
        let n = a.der.len().max(b.der.len());
        padded(&a.der, n).cmp(&padded(&b.der, n))
    });
    certs
}

/// A unique file name in a test's directory.
fn file_name(id: u64, what: &str, ext: &str) -> String {
    static FILES: AtomicUsize = AtomicUsize::new(0);
    let n = FILES.fetch_add(1, Ordering::Relaxed);
    format!("{id}-{what}-{n}.{ext}")
}

pub(crate) fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write a downloaded file");
    path
}

/// Downloads record `fx` as a p7b (the options' chain order does not apply to it) and
/// returns the file and the certificates it must hold, in DER order.
pub(crate) fn p7b(fx: &Fixture, dir: &Path, o: Options) -> (PathBuf, Vec<Cert>) {
    let id = fx.record.id;
    let mut body = json!({"id": id, "format": "p7b"});
    o.set(&mut body);
    let response = download(&body, &super::fixtures::fast_policy());
    assert!(!response.includes_key(), "record {id} p7b: a key");
    let path = write(dir, &file_name(id, "p7b", "p7b"), response.certificate());
    (path, der_order(expected(fx, o)))
}

/// Downloads record `fx` as a pfx and describes what it must hold.
pub(crate) fn pfx<'a>(
    fx: &'a Fixture,
    dir: &Path,
    profile: PfxEncryption,
    password: &str,
    policy: &ExportPolicy,
    o: Options,
) -> PfxCase<'a> {
    let id = fx.record.id;
    let mut body = json!({"id": id, "format": "pfx", "password": password,
                          "pfx_encryption": profile.as_str()});
    o.set(&mut body);
    let response = download(&body, policy);
    assert!(response.includes_key(), "record {id} pfx: includes_key");
    let friendly_name = match fx.record.leaf.strip_prefix("CN = ") {
        Some(cn) => cn.to_owned(),
        None => format!("certificate-{id}"),
    };
    PfxCase {
        fixture: fx,
        path: write(
            dir,
            &file_name(id, profile.as_str(), "p12"),
            response.certificate(),
        ),
        password: password.to_owned(),
        profile,
        policy: policy.clone(),
        certs: expected(fx, o),
        linked: linked(fx, o),
        friendly_name,
    }
}

/// Lowercase hex of a DER certificate list.
pub(crate) fn hex_ders(certs: &[Cert]) -> Vec<String> {
    certs
        .iter()
        .map(|c| super::fixtures::hex(&c.der, "").to_lowercase())
        .collect()
}

/// The strings of a JSON array.
pub(crate) fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a JSON array: {v}"))
        .iter()
        .map(|s| s.as_str().expect("a string").to_owned())
        .collect()
}

/// One JSON object per line of a helper program's output.
pub(crate) fn json_lines(text: &str, expected: usize, what: &str) -> Vec<Value> {
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {l}")))
        .collect();
    assert_eq!(lines.len(), expected, "{what}: one line per file:\n{text}");
    lines
}

/// A directory for a judge's helper program, kept between test runs.
pub(crate) fn build_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(&dir).expect("a build directory");
    dir
}
