//! Chains linked by key identifiers, judged by `openssl verify`.
//!
//! Each test run makes its own PKIs with the openssl CLI, in the shapes that names alone
//! get wrong: a root renewed under the same name with a new key (both roots stored, in
//! both orders); a self-issued link certificate from the old root key to the new one; an
//! intermediate cross-signed by two roots (same subject and key); certificates without key
//! identifiers, whose issuer name differs from the root's subject in case, whitespace and
//! string type only; an unrelated CA stored after a chain. For every store and every
//! combination of `include_chain`, `include_root` and `chain_order`, in pem, pfx and p7b,
//! the certificates out (as openssl reads the file) are exactly those expected; and with
//! the chain, `openssl verify` with the real root as the only trust anchor and the file's
//! other certificates as untrusted accepts the leaf (exit 0 and `<leaf>: OK`), whether the
//! root is in the file or not. `-partial_chain` is never used.
//!
//! The untrusted certificates are handed to `openssl verify` leaf first, in the order a
//! TLS peer sends them: where a store holds two issuers of one certificate (a renewed
//! root and a link certificate, a cross-signed intermediate), OpenSSL takes the first it
//! is given, so a root-first file with `include_root: true` would have it try the stored
//! certificate the walk did not take.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use cert_download::{
    CertificateDer, CertificateId, DownloadRequest, ExportPolicy, MemoryStore, OsRandom, PemObject,
    PrivateKeyDer, download_with,
};
use serde_json::json;

const PASSWORD: &str = "chains-by-key";

/// A directory of keys and certificates made with the openssl CLI.
struct Pki {
    dir: tempfile::TempDir,
}

/// What a CA or leaf certificate carries besides its name and key.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Ca,
    Leaf,
}

impl Pki {
    fn new() -> Self {
        let pki = Pki {
            dir: tempfile::tempdir().expect("a temporary directory"),
        };
        // Minimal request configs, so that a distribution's openssl.cnf cannot leak in;
        // `printable` writes PrintableString names where it can, the other UTF8String.
        std::fs::write(
            pki.path("req.cnf"),
            "[req]\ndistinguished_name = dn\n[dn]\n",
        )
        .expect("writes");
        std::fs::write(
            pki.path("printable.cnf"),
            "[req]\ndistinguished_name = dn\nstring_mask = default\n[dn]\n",
        )
        .expect("writes");
        pki
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs openssl in the directory; a failure panics with its output.
    fn openssl(&self, args: &[&str]) -> Output {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap_or_else(|e| panic!("the openssl CLI is needed (apt-get install openssl): {e}"));
        assert!(
            out.status.success(),
            "openssl {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// A new P-256 key, `<name>.key`.
    fn key(&self, name: &str) {
        let out = format!("{name}.key");
        self.openssl(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            &out,
        ]);
    }

    /// `<name>.pem`: subject `subject` with the key `<key>.key`, signed as the certificate
    /// `<issuer.0>.pem` (which gives the issuer name) by the key `<issuer.1>.key`, or
    /// self-signed when `issuer` is `None`. With `key_ids`, a subjectKeyIdentifier and (when issued)
    /// an authorityKeyIdentifier keyid; without, neither.
    fn cert(
        &self,
        name: &str,
        subject: &str,
        key: &str,
        issuer: Option<(&str, &str)>,
        kind: Kind,
        key_ids: bool,
    ) {
        self.cert_with(name, subject, key, issuer, kind, key_ids, "req.cnf");
    }

    #[allow(clippy::too_many_arguments)]
    fn cert_with(
        &self,
        name: &str,
        subject: &str,
        key: &str,
        issuer: Option<(&str, &str)>,
        kind: Kind,
        key_ids: bool,
        config: &str,
    ) {
        let (csr, ext, pem, key) = (
            format!("{name}.csr"),
            format!("{name}.ext"),
            format!("{name}.pem"),
            format!("{key}.key"),
        );
        self.openssl(&[
            "req", "-new", "-config", config, "-key", &key, "-subj", subject, "-out", &csr,
        ]);
        let constraints = match kind {
            Kind::Ca => {
                "basicConstraints = critical, CA:TRUE\nkeyUsage = critical, keyCertSign, cRLSign"
            }
            Kind::Leaf => {
                "basicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature"
            }
        };
        let ids = match (key_ids, issuer) {
            (false, _) => "subjectKeyIdentifier = none\nauthorityKeyIdentifier = none",
            (true, None) => "subjectKeyIdentifier = hash\nauthorityKeyIdentifier = none",
            (true, Some(_)) => "subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid:always",
        };
        std::fs::write(self.path(&ext), format!("[ext]\n{constraints}\n{ids}\n")).expect("writes");
        let serial = format!("0x{:032x}", serial());
        let mut args = vec![
            "x509",
            "-req",
            "-in",
            &csr,
            "-out",
            &pem,
            "-days",
            "3650",
            "-sha256",
            "-set_serial",
            &serial,
            "-extfile",
            &ext,
            "-extensions",
            "ext",
        ];
        let (ca, ca_key) = issuer
            .map(|(cert, key)| (format!("{cert}.pem"), format!("{key}.key")))
            .unwrap_or_default();
        match issuer {
            Some(_) => args.extend(["-CA", &ca, "-CAkey", &ca_key]),
            None => args.extend(["-signkey", &key]),
        }
        self.openssl(&args);
    }

    fn der(&self, name: &str) -> Vec<u8> {
        CertificateDer::from_pem_file(self.path(&format!("{name}.pem")))
            .unwrap_or_else(|e| panic!("{name}.pem: {e}"))
            .to_vec()
    }

    fn text(&self, name: &str) -> String {
        let pem = format!("{name}.pem");
        let out = self.openssl(&["x509", "-in", &pem, "-noout", "-text"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// A serial number that differs between certificates (openssl would otherwise want a
/// serial file).
fn serial() -> u128 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    (nanos << 16) | u128::from(NEXT.fetch_add(1, Ordering::Relaxed))
}

/// One store: a leaf (and its key), the issuers in stored order, and what the walk must
/// find: the path from the leaf, ending at `root` (the trust anchor), then the rest.
struct Case {
    what: &'static str,
    leaf: &'static str,
    stored: &'static [&'static str],
    /// The issuers the leaf's path goes through, leaf side first, the root last.
    path: &'static [&'static str],
}

impl Case {
    fn root(&self) -> &'static str {
        self.path[self.path.len() - 1]
    }

    /// The certificate names a file holds, leaf first.
    fn expected(&self, include_chain: bool, include_root: bool) -> Vec<&'static str> {
        let mut names = vec![self.leaf];
        if include_chain && include_root {
            names.extend(self.path);
            names.extend(self.stored.iter().filter(|s| !self.path.contains(s)));
        } else if include_chain {
            names.extend(&self.path[..self.path.len() - 1]);
        }
        names
    }
}

const CASES: &[Case] = &[
    Case {
        what: "renewed root, the old one stored first",
        leaf: "leaf",
        stored: &["old-root", "new-root", "int"],
        path: &["int", "new-root"],
    },
    Case {
        what: "renewed root, the new one stored first",
        leaf: "leaf",
        stored: &["new-root", "old-root", "int"],
        path: &["int", "new-root"],
    },
    Case {
        what: "link certificate to the old root, the new root not stored",
        leaf: "leaf",
        stored: &["link", "old-root", "int"],
        path: &["int", "link", "old-root"],
    },
    Case {
        what: "link certificate stored before the new root",
        leaf: "leaf",
        stored: &["link", "new-root", "old-root", "int"],
        path: &["int", "link", "old-root"],
    },
    Case {
        what: "new root stored before the link certificate",
        leaf: "leaf",
        stored: &["new-root", "link", "old-root", "int"],
        path: &["int", "new-root"],
    },
    Case {
        what: "cross-signed intermediate, A's first",
        leaf: "cross-leaf",
        stored: &["cross-a", "cross-b", "root-b", "root-a"],
        path: &["cross-a", "root-a"],
    },
    Case {
        what: "cross-signed intermediate, B's first",
        leaf: "cross-leaf",
        stored: &["root-b", "cross-b", "root-a", "cross-a"],
        path: &["cross-b", "root-b"],
    },
    Case {
        what: "no key identifiers, names equal only as OpenSSL compares them",
        leaf: "keyless-leaf",
        stored: &["keyless-root", "keyless-int"],
        path: &["keyless-int", "keyless-root"],
    },
    Case {
        what: "an unrelated CA stored after the chain",
        leaf: "plain-leaf",
        stored: &["plain-int", "plain-root", "unrelated"],
        path: &["plain-int", "plain-root"],
    },
];

/// The PKIs of every case, with the properties each exists for checked.
fn make_pki() -> Pki {
    use Kind::{Ca, Leaf};
    let pki = Pki::new();
    for key in [
        "old", "new", "int", "leaf", "ra", "rb", "x", "xleaf", "kr", "ki", "kl", "pr", "pi", "pl",
        "u",
    ] {
        pki.key(key);
    }
    // A rollover: the root's name with a new key; the link certificate is the new name
    // and key signed by the old key (RFC 4210 4.4's newWithOld).
    let root = "/CN=Rollover Root CA/O=Chains";
    pki.cert("old-root", root, "old", None, Ca, true);
    pki.cert("new-root", root, "new", None, Ca, true);
    pki.cert("link", root, "new", Some(("old-root", "old")), Ca, true);
    pki.cert(
        "int",
        "/CN=Rollover Intermediate",
        "int",
        Some(("new-root", "new")),
        Ca,
        true,
    );
    pki.cert(
        "leaf",
        "/CN=rollover.test",
        "leaf",
        Some(("int", "int")),
        Leaf,
        true,
    );
    // Cross-signing: one intermediate name and key under two roots.
    pki.cert("root-a", "/CN=Cross Root A", "ra", None, Ca, true);
    pki.cert("root-b", "/CN=Cross Root B", "rb", None, Ca, true);
    pki.cert(
        "cross-a",
        "/CN=Cross Intermediate",
        "x",
        Some(("root-a", "ra")),
        Ca,
        true,
    );
    pki.cert(
        "cross-b",
        "/CN=Cross Intermediate",
        "x",
        Some(("root-b", "rb")),
        Ca,
        true,
    );
    pki.cert(
        "cross-leaf",
        "/CN=cross.test",
        "xleaf",
        Some(("cross-a", "x")),
        Leaf,
        true,
    );
    // Without key identifiers; the intermediate is signed by the root's key as a
    // certificate named `KEYLESS  root` in a PrintableString (not stored), so its issuer
    // name is the root's UTF8String `Keyless Root` only as RFC 5280 7.1 compares names.
    pki.cert("keyless-root", "/CN=Keyless Root", "kr", None, Ca, false);
    let alias = "/CN=KEYLESS  root";
    pki.cert_with(
        "keyless-alias",
        alias,
        "kr",
        None,
        Ca,
        false,
        "printable.cnf",
    );
    pki.cert(
        "keyless-int",
        "/CN=Keyless Int",
        "ki",
        Some(("keyless-alias", "kr")),
        Ca,
        false,
    );
    pki.cert(
        "keyless-leaf",
        "/CN=keyless.test",
        "kl",
        Some(("keyless-int", "ki")),
        Leaf,
        false,
    );
    // A plain chain and a CA that has nothing to do with it.
    pki.cert("plain-root", "/CN=Plain Root", "pr", None, Ca, true);
    pki.cert(
        "plain-int",
        "/CN=Plain Int",
        "pi",
        Some(("plain-root", "pr")),
        Ca,
        true,
    );
    pki.cert(
        "plain-leaf",
        "/CN=plain.test",
        "pl",
        Some(("plain-int", "pi")),
        Leaf,
        true,
    );
    pki.cert("unrelated", "/CN=Unrelated CA", "u", None, Ca, true);
    check_pki(&pki);
    pki
}

/// The PKI has the shapes the cases are about.
fn check_pki(pki: &Pki) {
    let name = |der: &[u8], text: &[u8]| der.windows(text.len()).any(|w| w == text);
    for keyless in ["keyless-root", "keyless-int", "keyless-leaf"] {
        assert!(
            !pki.text(keyless).contains("Key Identifier"),
            "{keyless} has no key identifiers"
        );
    }
    assert!(name(&pki.der("keyless-int"), b"KEYLESS  root"));
    assert!(!name(&pki.der("keyless-root"), b"KEYLESS"));
    for keyed in ["old-root", "new-root", "link", "int", "cross-a", "cross-b"] {
        assert!(
            pki.text(keyed).contains("Subject Key Identifier"),
            "{keyed} has a subject key identifier"
        );
    }
    let link = pki.text("link");
    assert!(
        link.contains("Issuer: CN = Rollover Root CA, O = Chains")
            && link.contains("Subject: CN = Rollover Root CA, O = Chains"),
        "the link certificate is self-issued"
    );
}

/// Downloads `case` as `format` with the options; returns the file's certificates in file
/// order (DER order for p7b): a pfx and a p7b as openssl reads them, a pem as it is.
fn download(
    pki: &Pki,
    case: &Case,
    format: &str,
    options: (bool, bool, &str),
    policy: &ExportPolicy,
) -> Vec<Vec<u8>> {
    let (include_chain, include_root, order) = options;
    let id = CertificateId::new(1).expect("an id");
    let mut store = MemoryStore::new();
    let issuers = case
        .stored
        .iter()
        .map(|n| CertificateDer::from(pki.der(n)))
        .collect();
    let key_file = pki.path(&format!("{}.key", key_of(case.leaf)));
    let key = PrivateKeyDer::from_pem_file(key_file).expect("the leaf's key");
    store.insert(
        id,
        cert_download::store::MemoryEntry::new(pki.der(case.leaf).into())
            .with_issuers(issuers)
            .with_key(Some(key)),
    );
    let mut body = json!({"id": 1, "format": format, "include_chain": include_chain,
                          "include_root": include_root, "chain_order": order});
    if format == "pfx" {
        body["password"] = json!(PASSWORD);
    }
    let request = DownloadRequest::from_json(body.to_string().as_bytes()).expect("a request");
    let response = download_with(request, &store, policy, &mut OsRandom)
        .unwrap_or_else(|e| panic!("{}: {format}: {e}", case.what));
    let file = pki.path(&format!("out.{format}"));
    std::fs::write(&file, response.certificate()).expect("writes");
    let file = file.to_str().expect("a UTF-8 path");
    let printed = match format {
        "pem" => return pem_certs(&String::from_utf8_lossy(response.certificate())),
        "pfx" => pki.openssl(&[
            "pkcs12",
            "-in",
            file,
            "-nokeys",
            "-passin",
            &format!("pass:{PASSWORD}"),
        ]),
        _ => pki.openssl(&["pkcs7", "-inform", "DER", "-in", file, "-print_certs"]),
    };
    pem_certs(&String::from_utf8_lossy(&printed.stdout))
}

/// The key file of a leaf.
fn key_of(leaf: &str) -> &'static str {
    match leaf {
        "leaf" => "leaf",
        "cross-leaf" => "xleaf",
        "keyless-leaf" => "kl",
        "plain-leaf" => "pl",
        _ => unreachable!("{leaf}"),
    }
}

/// The DER of every CERTIFICATE block of a PEM text, in order.
fn pem_certs(text: &str) -> Vec<Vec<u8>> {
    let mut certs = Vec::new();
    let mut block: Option<String> = None;
    for line in text.lines() {
        match (line.trim(), block.as_mut()) {
            ("-----BEGIN CERTIFICATE-----", _) => block = Some(String::new()),
            ("-----END CERTIFICATE-----", Some(b64)) => {
                certs.push(STANDARD.decode(&*b64).expect("Base64"));
                block = None;
            }
            (line, Some(b64)) => b64.push_str(line),
            _ => {}
        }
    }
    certs
}

/// X.690 11.6: the order of a DER SET OF.
fn der_order(mut certs: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    certs.sort_by(|a, b| {
        let n = a.len().max(b.len());
        let pad = |x: &[u8]| {
            let mut v = x.to_vec();
            v.resize(n, 0);
            v
        };
        pad(a).cmp(&pad(b))
    });
    certs
}

fn write_pem(path: &Path, certs: &[Vec<u8>]) {
    let text: String = certs
        .iter()
        .map(|der| {
            let b64 = STANDARD.encode(der);
            let lines: Vec<&str> = b64
                .as_bytes()
                .chunks(64)
                .map(|c| std::str::from_utf8(c).expect("ASCII"))
                .collect();
            format!(
                "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
                lines.join("\n")
            )
        })
        .collect();
    std::fs::write(path, text).expect("writes");
}

/// `openssl verify` with `anchor` as the only trust anchor and `untrusted` as the other
/// certificates: passes only when it exits 0 and prints `<leaf>: OK`; anything else panics
/// with its output, so that no failure passes for the expected one.
fn verify(pki: &Pki, anchor: &str, leaf: &[u8], untrusted: &[Vec<u8>], what: &str) {
    let (code, output) = run_verify(pki, anchor, leaf, untrusted);
    let ok_line = format!("{}: OK", pki.path("verify-leaf.pem").display());
    assert!(
        code == Some(0) && output.lines().any(|l| l == ok_line),
        "{what}: openssl verify with {anchor} as the trust anchor: exit {code:?}\n{output}"
    );
}

/// Runs `openssl verify`; returns its exit code and its standard output then error.
fn run_verify(
    pki: &Pki,
    anchor: &str,
    leaf: &[u8],
    untrusted: &[Vec<u8>],
) -> (Option<i32>, String) {
    let (leaf_file, untrusted_file) = (pki.path("verify-leaf.pem"), pki.path("untrusted.pem"));
    write_pem(&leaf_file, &[leaf.to_vec()]);
    write_pem(&untrusted_file, untrusted);
    let mut command = Command::new("openssl");
    command
        .args(["verify", "-CAfile"])
        .arg(pki.path(&format!("{anchor}.pem")));
    if !untrusted.is_empty() {
        command.arg("-untrusted").arg(&untrusted_file);
    }
    let out = command
        .arg(&leaf_file)
        .output()
        .expect("the openssl CLI runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

#[test]
#[cfg_attr(
    not(judge_openssl),
    ignore = "needs the openssl CLI: apt-get install openssl"
)]
fn chains_are_linked_by_key_identifiers_and_verify_in_openssl() {
    let pki = make_pki();
    let policy = ExportPolicy::with_iterations(1).expect("a policy");
    let mut failures = Vec::new();
    for case in CASES {
        let der = |names: Vec<&str>| -> Vec<Vec<u8>> { names.iter().map(|n| pki.der(n)).collect() };
        for format in ["pem", "pfx", "p7b"] {
            for include_chain in [true, false] {
                for include_root in [true, false] {
                    for order in ["leaf_first", "root_first"] {
                        let what = format!(
                            "{}: {format} chain {include_chain} root {include_root} {order}",
                            case.what
                        );
                        let options = (include_chain, include_root, order);
                        let got = download(&pki, case, format, options, &policy);
                        let leaf_first = der(case.expected(include_chain, include_root));
                        let mut want = leaf_first.clone();
                        if format == "p7b" {
                            want = der_order(want);
                        } else if order == "root_first" {
                            want.reverse();
                        }
                        if got != want {
                            failures.push(format!(
                                "{what}: got {:?}, want {:?}",
                                names(&pki, &got),
                                names(&pki, &want)
                            ));
                            continue;
                        }
                        if include_chain {
                            verify(&pki, case.root(), &leaf_first[0], &leaf_first[1..], &what);
                        }
                    }
                }
            }
        }
    }
    // The control: the anchor matters to openssl. The old root, whose name the new root
    // shares, does not verify the intermediate the new key signed.
    let refused = run_verify(&pki, "old-root", &pki.der("leaf"), &[pki.der("int")]);
    assert!(
        refused.0 == Some(2)
            && refused
                .1
                .contains("error 20 at 1 depth lookup: unable to get local issuer certificate"),
        "openssl verify with the old root: {refused:?}"
    );
    assert!(
        failures.is_empty(),
        "{} wrong files:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The PKI names of `certs`, for messages.
fn names(pki: &Pki, certs: &[Vec<u8>]) -> Vec<String> {
    const ALL: &[&str] = &[
        "old-root",
        "new-root",
        "link",
        "int",
        "leaf",
        "root-a",
        "root-b",
        "cross-a",
        "cross-b",
        "cross-leaf",
        "keyless-root",
        "keyless-int",
        "keyless-leaf",
        "plain-root",
        "plain-int",
        "plain-leaf",
        "unrelated",
    ];
    certs
        .iter()
        .map(|c| {
            ALL.iter()
                .find(|n| pki.der(n) == *c)
                .map_or_else(|| "?".to_owned(), |n| (*n).to_owned())
        })
        .collect()
}
