//! The fixture records, what each should produce, downloads through the library API, and
//! the few parsers the checks share (PEM, openssl's certificate listings, the Python helper).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use cert_download::{
    DirectoryStore, DownloadRequest, DownloadResponse, ExportPolicy, OsRandom, download_with,
};
use serde_json::Value;

use super::tools::{OPENSSL, PYTHON, Worker};

/// Iterations of the fast policy most tests use; the default policy gets its own tests.
pub(crate) const FAST_ITERATIONS: u32 = 2048;

/// ASCII, with spaces, quotes and shell metacharacters: passed as data, never through a shell.
pub(crate) const ASCII: &str = r#"Correct horse 'battery' "$taple" & ;"#;
/// Latin-1 accented letters (2-byte UTF-8, BMP).
pub(crate) const LATIN1: &str = "pässwörd-Ünïcödé-ñ";
/// CJK (3-byte UTF-8, BMP).
pub(crate) const CJK: &str = "密码测试中文口令";
/// Beyond U+FFFF: a surrogate pair in the BMPString of the PKCS#12 KDF.
pub(crate) const EMOJI: &str = "pässwörd-中文-😀";

/// What a tool prints for the subjects of the fixture PKI (openssl's `subject=` form).
pub(crate) const INT_RSA: &str = "CN = Test Intermediate RSA";
pub(crate) const INT_EC: &str = "CN = Test Intermediate EC";
pub(crate) const ROOT: &str = "CN = Test Root CA";
pub(crate) const UNRELATED: &str = "CN = Unrelated CA";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyKind {
    Rsa,
    P256,
    P384,
    P521,
    Ed25519,
}

impl KeyKind {
    /// The key type as the Python helper names it.
    pub(crate) fn python_name(self) -> &'static str {
        match self {
            KeyKind::Rsa => "rsa",
            KeyKind::P256 => "ec-secp256r1",
            KeyKind::P384 => "ec-secp384r1",
            KeyKind::P521 => "ec-secp521r1",
            KeyKind::Ed25519 => "ed25519",
        }
    }

    /// The key algorithm name of a Java `PrivateKey`.
    pub(crate) fn java_name(self) -> &'static str {
        match self {
            KeyKind::Rsa => "RSA",
            KeyKind::P256 | KeyKind::P384 | KeyKind::P521 => "EC",
            KeyKind::Ed25519 => "EdDSA",
        }
    }
}

/// A good record of the fixture store, and the chain the contract expects for it.
#[derive(Debug)]
pub(crate) struct Record {
    pub(crate) id: u64,
    pub(crate) key: KeyKind,
    pub(crate) leaf: &'static str,
    /// The issuers in the order a leaf-first download must have them.
    pub(crate) issuers: &'static [&'static str],
}

const RSA_CHAIN: &[&str] = &[INT_RSA, ROOT];
const EC_CHAIN: &[&str] = &[INT_EC, ROOT];

/// Every record with a key that downloads (see tests/fixtures/README.md).
pub(crate) const RECORDS: &[Record] = &[
    // chain.pem stored root first
    rec(1, KeyKind::Rsa, "CN = leaf1.test", RSA_CHAIN),
    // key.pem is PKCS#1
    rec(2, KeyKind::Rsa, "CN = leaf2.test", RSA_CHAIN),
    rec(3, KeyKind::Rsa, "CN = leaf3.test", RSA_CHAIN),
    rec(4, KeyKind::P256, "CN = leaf4.test", EC_CHAIN),
    // SEC1 key, chain stored root first
    rec(5, KeyKind::P256, "CN = leaf5.test", EC_CHAIN),
    rec(6, KeyKind::P384, "CN = leaf6.test", EC_CHAIN),
    // SEC1 key
    rec(7, KeyKind::P384, "CN = leaf7.test", EC_CHAIN),
    rec(8, KeyKind::P521, "CN = leaf8.test", EC_CHAIN),
    // Ed25519 leaf under the RSA intermediate
    rec(9, KeyKind::Ed25519, "CN = leaf9.test", RSA_CHAIN),
    // PKCS#8 without the optional public key
    rec(14, KeyKind::P256, "CN = leaf14.test", EC_CHAIN),
    // no CN, no chain.pem
    rec(15, KeyKind::Rsa, "O = No CN Org", &[]),
    // SEC1 P-521
    rec(19, KeyKind::P521, "CN = leaf19.test", EC_CHAIN),
    // an unrelated self-signed CA stored first: it stays, after the linked issuers
    rec(
        20,
        KeyKind::Rsa,
        "CN = leaf20.test",
        &[INT_RSA, ROOT, UNRELATED],
    ),
    // the intermediate stored twice: it goes out once
    rec(21, KeyKind::Rsa, "CN = leaf21.test", RSA_CHAIN),
];

const fn rec(
    id: u64,
    key: KeyKind,
    leaf: &'static str,
    issuers: &'static [&'static str],
) -> Record {
    Record {
        id,
        key,
        leaf,
        issuers,
    }
}

pub(crate) fn fixtures_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures"))
}

pub(crate) fn store() -> DirectoryStore {
    DirectoryStore::new(fixtures_dir().join("store")).unwrap()
}

pub(crate) fn fast_policy() -> ExportPolicy {
    ExportPolicy::with_iterations(FAST_ITERATIONS).expect("a valid policy")
}

/// Downloads through the library API; the body is built with serde_json so that any
/// password is escaped correctly.
pub(crate) fn download(body: &Value, policy: &ExportPolicy) -> DownloadResponse {
    let what = format!(
        "download of id {} as {} (friendly_name {}, chain {}, order {}, pfx {})",
        body["id"],
        body["format"],
        body["friendly_name"],
        body["include_chain"],
        body["chain_order"],
        body["pfx_encryption"]
    );
    let request = DownloadRequest::from_json(body.to_string().as_bytes())
        .unwrap_or_else(|e| panic!("{what}: request refused: {e}"));
    download_with(request, &store(), policy, &mut OsRandom)
        .unwrap_or_else(|e| panic!("{what}: failed: {e}"))
}

/// A certificate as openssl lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Cert {
    pub(crate) subject: String,
    pub(crate) issuer: String,
    pub(crate) der: Vec<u8>,
}

/// The `certs` list of an inspect.py/p7b.py result: subject, issuer and hex DER each.
pub(crate) fn py_certs(result: &Value) -> Vec<Cert> {
    result["certs"]
        .as_array()
        .expect("certs")
        .iter()
        .map(|c| Cert {
            subject: c["subject"].as_str().expect("subject").to_owned(),
            issuer: c["issuer"].as_str().expect("issuer").to_owned(),
            der: hex_decode(c["der"].as_str().expect("der")),
        })
        .collect()
}

/// One item of an openssl listing (`pkcs12 -info`, `pkcs7 -print_certs`): the attribute
/// lines before a PEM block, and the block.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) attrs: Vec<(String, String)>,
    pub(crate) label: String,
    pub(crate) der: Vec<u8>,
}

impl Entry {
    pub(crate) fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn attr_names(&self) -> Vec<&str> {
        self.attrs.iter().map(|(n, _)| n.as_str()).collect()
    }

    pub(crate) fn cert(&self) -> Cert {
        Cert {
            subject: self.attr("subject").unwrap_or_default().to_owned(),
            issuer: self.attr("issuer").unwrap_or_default().to_owned(),
            der: self.der.clone(),
        }
    }
}

/// Parses openssl's listings: `subject=..`, `issuer=..` and indented `name: value` bag
/// attributes, each group followed by a PEM block.
pub(crate) fn openssl_entries(text: &str) -> Vec<Entry> {
    let mut entries = Vec::new();
    let mut attrs = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        {
            let end = format!("-----END {label}-----");
            let b64: String = lines.by_ref().take_while(|l| *l != end).collect();
            let der = STANDARD
                .decode(b64.trim())
                .unwrap_or_else(|e| panic!("bad base64 in a {label} block: {e}"));
            entries.push(Entry {
                attrs: std::mem::take(&mut attrs),
                label: label.to_owned(),
                der,
            });
        } else if line.starts_with("Bag Attributes") {
            attrs.clear();
        } else if let Some(v) = line.strip_prefix("subject=") {
            attrs.push(("subject".to_owned(), v.trim().to_owned()));
        } else if let Some(v) = line.strip_prefix("issuer=") {
            attrs.push(("issuer".to_owned(), v.trim().to_owned()));
        } else if let Some((name, value)) =
            line.strip_prefix("    ").and_then(|l| l.split_once(": "))
        {
            attrs.push((name.to_owned(), value.trim().to_owned()));
        }
    }
    entries
}

/// The PEM blocks of a text, in order: (label, DER).
pub(crate) fn pem_blocks(text: &str) -> Vec<(String, Vec<u8>)> {
    openssl_entries(text)
        .into_iter()
        .map(|e| (e.label, e.der))
        .collect()
}

/// The certificates of PEM files as `openssl pkcs7 -print_certs` lists them, in file order.
pub(crate) fn openssl_certs(files: &[&Path]) -> Vec<Cert> {
    let mut cmd = OPENSSL.cmd().args(["crl2pkcs7", "-nocrl"]);
    for f in files {
        cmd = cmd.arg("-certfile").arg(f);
    }
    let p7 = cmd.ok();
    let printed = OPENSSL
        .cmd()
        .args(["pkcs7", "-print_certs"])
        .stdin(p7.stdout)
        .ok();
    openssl_entries(&printed.text())
        .iter()
        .map(Entry::cert)
        .collect()
}

/// The stored key of a record, normalized by `openssl pkey` (PKCS#8 DER), and its public key.
pub(crate) fn openssl_normalized_key(path: &Path) -> (Vec<u8>, Vec<u8>) {
    let key = OPENSSL
        .cmd()
        .args(["pkey", "-outform", "DER", "-in"])
        .arg(path)
        .ok()
        .stdout;
    let public = OPENSSL
        .cmd()
        .args(["pkey", "-pubout", "-outform", "DER", "-in"])
        .arg(path)
        .ok()
        .stdout;
    (key, public)
}

/// Runs a batch of jobs through the Python helper (tests/interop/inspect.py), one worker
/// process for the whole test run: importing `cryptography` is most of a Python run's cost.
pub(crate) fn python(jobs: &[Value]) -> Vec<Value> {
    static WORKER: OnceLock<Mutex<Worker>> = OnceLock::new();
    let worker = WORKER.get_or_init(|| {
        let worker = PYTHON
            .cmd()
            .arg("-c")
            .arg_shown_as(include_str!("inspect.py"), "<tests/interop/inspect.py>")
            .env("PYTHONUTF8", "1")
            .worker();
        Mutex::new(worker)
    });
    let answer = worker
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .ask(&Value::Array(jobs.to_vec()).to_string());
    let results: Vec<Value> = serde_json::from_str(&answer)
        .unwrap_or_else(|e| panic!("the Python helper wrote no JSON list ({e}): {answer}"));
    assert_eq!(results.len(), jobs.len(), "one Python result per job");
    results
}

/// The check of one Python result.
type PyCheck<'a> = Box<dyn FnOnce(&Value) + 'a>;

/// Python jobs collected over a test and run in one interpreter (importing `cryptography`
/// is most of a run's cost), each with the check of its result.
#[derive(Default)]
pub(crate) struct PyBatch<'a> {
    jobs: Vec<Value>,
    checks: Vec<PyCheck<'a>>,
}

impl<'a> PyBatch<'a> {
    pub(crate) fn add(&mut self, job: Value, check: impl FnOnce(&Value) + 'a) {
        self.jobs.push(job);
        self.checks.push(Box::new(check));
    }

    pub(crate) fn run(self) {
        if self.jobs.is_empty() {
            return;
        }
        for (result, check) in python(&self.jobs).iter().zip(self.checks) {
            check(result);
        }
    }
}

/// A Python job on a file.
pub(crate) fn py_job(op: &str, path: &Path, password: Option<&str>) -> Value {
    let mut job = serde_json::json!({"op": op, "path": path});
    if let Some(pw) = password {
        job["password"] = Value::from(pw);
    }
    job
}

/// Unwraps a successful Python result.
pub(crate) fn py_ok<'a>(result: &'a Value, what: &str) -> &'a Value {
    assert_eq!(
        result["ok"],
        Value::Bool(true),
        "Python `cryptography` failed on {what}: {}",
        result["error"]
    );
    result
}

/// Everything a test compares the tools' output with, read from the fixture files by
/// openssl and Python (never by the crate under test).
pub(crate) struct Fixture {
    pub(crate) record: &'static Record,
    /// `cert.pem` then `chain.pem`, as stored.
    pub(crate) stored: Vec<Cert>,
    /// key.pem as `openssl pkey -outform DER` writes it.
    pub(crate) key_der: Vec<u8>,
    /// The public key, SubjectPublicKeyInfo DER.
    pub(crate) public_der: Vec<u8>,
    /// The key as the Python helper describes it (type, private numbers, public key).
    pub(crate) py_key: Value,
}

impl Fixture {
    /// The fixture of record `id`. All of them are read once per test run, with one Python
    /// run for all the keys.
    pub(crate) fn get(id: u64) -> &'static Fixture {
        static ALL: OnceLock<Vec<Fixture>> = OnceLock::new();
        ALL.get_or_init(Self::load_all)
            .iter()
            .find(|f| f.record.id == id)
            .unwrap_or_else(|| panic!("record {id} is not in the interop table"))
    }

    fn load_all() -> Vec<Fixture> {
        let key_path = |r: &Record| {
            fixtures_dir()
                .join("store")
                .join(r.id.to_string())
                .join("key.pem")
        };
        let jobs: Vec<Value> = RECORDS
            .iter()
            .map(|r| py_job("plain_key", &key_path(r), None))
            .collect();
        let keys = python(&jobs);
        RECORDS
            .iter()
            .zip(keys)
            .map(|(record, py)| {
                let id = record.id;
                let dir = fixtures_dir().join("store").join(id.to_string());
                let cert = dir.join("cert.pem");
                let chain = dir.join("chain.pem");
                let mut files = vec![cert.as_path()];
                if chain.exists() {
                    files.push(&chain);
                }
                let stored = openssl_certs(&files);
                assert_eq!(stored[0].subject, record.leaf, "fixture {id}: leaf subject");
                let (key_der, public_der) = openssl_normalized_key(&key_path(record));
                let py_key = py_ok(&py, &format!("the key of fixture {id}"))["key"].clone();
                assert_eq!(
                    py_key["type"],
                    record.key.python_name(),
                    "fixture {id}: key type"
                );
                Fixture {
                    record,
                    stored,
                    key_der,
                    public_der,
                    py_key,
                }
            })
            .collect()
    }

    pub(crate) fn leaf(&self) -> &Cert {
        &self.stored[0]
    }

    /// SHA-1 of the leaf's DER: the PFX localKeyID.
    pub(crate) fn local_key_id(&self) -> Vec<u8> {
        use sha1::{Digest, Sha1};
        Sha1::digest(&self.leaf().der).to_vec()
    }

    /// The certificates a pem or pfx download must hold, in file order.
    pub(crate) fn expected(&self, include_chain: bool, root_first: bool) -> Vec<Cert> {
        let mut subjects = vec![self.record.leaf];
        if include_chain {
            subjects.extend(self.record.issuers);
        }
        let mut certs: Vec<Cert> = subjects
            .iter()
            .map(|s| {
                self.stored
                    .iter()
                    .find(|c| c.subject == *s)
                    .unwrap_or_else(|| panic!("fixture {}: no stored {s}", self.record.id))
                    .clone()
            })
            .collect();
        if root_first {
            certs.reverse();
        }
        certs
    }

    /// The chain a verifier builds from the leaf by issuer links (what Java reports).
    pub(crate) fn linked_chain(&self, include_chain: bool) -> Vec<Cert> {
        let certs = self.expected(include_chain, false);
        let mut chain = vec![certs[0].clone()];
        while let Some(next) = certs[1..]
            .iter()
            .find(|c| c.subject == chain[chain.len() - 1].issuer && !chain.contains(c))
        {
            chain.push(next.clone());
        }
        chain
    }
}

/// Uppercase hex with a separator, as tools print key ids and fingerprints.
pub(crate) fn hex(bytes: &[u8], sep: &str) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(sep)
}

pub(crate) fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// A fresh temporary directory for one test's files.
pub(crate) fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("cert-download-interop-")
        .tempdir()
        .expect("a temporary directory")
}
