//! Golden outputs: with a pinned random source, every file the crate writes is byte for
//! byte the one it wrote when these digests were recorded (by the hand-written DER encoder
//! of commit f8dcd62, before the encoders moved onto the `der`/`pkcs12` types; the PBMAC1
//! and p7b digests by the encoder of commit eecbcc7, when they joined the matrix).
//!
//! The matrix covers every format (pfx in every profile, PBMAC1 included, pem and crt with
//! and without the key, p7b with and without the root), every key type and container of the
//! fixture store (RSA PKCS#8 and PKCS#1, EC P-256/P-384/P-521 as PKCS#8 and SEC1, Ed25519),
//! both chain orders, with and without the chain, friendly names on both sides of the DER
//! `SET OF` ordering of the bag attributes, ASCII and beyond-BMP passwords, and policies
//! with other iteration counts and salt sizes; and keys to a recipient (CMS in pem and crt
//! for RSA, P-256, P-384 and P-521 recipients, kwp for RSA ones, recorded when they joined). `tests/fixtures/golden/outputs.sha256` holds
//! one SHA-256 per file (the certificate bytes, then the key bytes, each length-prefixed),
//! `sha256sum` style.
//!
//! A file that differs is written to `target/golden-actual/` for inspection. Set
//! `GOLDEN_WRITE=1` to record the digests again after a deliberate change of encoding: that
//! run writes the file, says how many digests changed, and fails; a second run without
//! `GOLDEN_WRITE` compares against what was written.

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use cert_download::request::{ChainOrder, FriendlyName};
use cert_download::{
    CertificateId, DownloadRequest, DownloadResponse, ExportPolicy, KeyRecipient, Password,
    PasswordPolicy, PfxEncryption, download_with,
};
use common::{Counter, fixture_store, fixtures};
use sha2::{Digest, Sha256};

/// Records with a key that belongs to the leaf, one of each key type and container, and
/// the odd chains (no CN, no chain, an unrelated root, a duplicate issuer).
const KEYED: [u64; 14] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 14, 15, 19, 20, 21];
/// Records downloaded without the key (10 has none).
const UNKEYED: [u64; 5] = [1, 4, 9, 10, 15];

const PASSWORDS: [&str; 2] = ["golden-ascii-password", "pässwörd-😀-golden"];

/// Names shorter, equal and longer than the localKeyId attribute (the DER `SET OF` order
/// of the two attributes turns there), non-ASCII, the longest allowed.
const NAMES: [Option<&str>; 7] = [
    None,
    Some("a"),
    Some("123456789"),
    Some("1234567890"),
    Some("12345678901"),
    Some("ü€ name"),
    Some("ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKL"),
];

fn policies() -> [(&'static str, ExportPolicy); 3] {
    [
        ("i1", ExportPolicy::with_iterations(1).unwrap()),
        ("i2", ExportPolicy::with_iterations(2).unwrap()),
        (
            "odd",
            ExportPolicy::builder()
                .pbkdf2_iterations(200)
                .mac_iterations(129)
                .legacy_iterations(128)
                .pbkdf2_salt_len(32)
                .mac_salt_len(20)
                .legacy_salt_len(9)
                .build()
                .unwrap(),
        ),
    ]
}

/// The policies above and PBMAC1's, at NIST SP 800-132's floor of 1,000 iterations (its
/// MAC key is a PBKDF2).
fn all_policies() -> BTreeMap<&'static str, ExportPolicy> {
    let mut all: BTreeMap<_, _> = policies().into_iter().collect();
    all.insert("pbmac1", ExportPolicy::with_iterations(1000).unwrap());
    all
}

fn id(n: u64) -> CertificateId {
    CertificateId::new(n).unwrap()
}

fn password(i: usize) -> Password {
    Password::new(PASSWORDS[i], &PasswordPolicy::default()).unwrap()
}

fn order_name(order: ChainOrder) -> &'static str {
    match order {
        ChainOrder::LeafFirst => "leaf_first",
        _ => "root_first",
    }
}

/// The profiles whose digests were recorded from the old encoder.
const PROFILES: [PfxEncryption; 2] = [PfxEncryption::Aes256Sha256, PfxEncryption::TripleDesSha1];

/// Records downloaded as p7b: every key type, both stored chain orders, no chain, an
/// unrelated root, a duplicate issuer.
const P7B: [u64; 9] = [1, 2, 4, 5, 9, 10, 15, 20, 21];

/// The recipient certificates of `tests/fixtures/recipients/` that keys are encrypted to.
const RECIPIENTS: [&str; 5] = ["rsa2048", "rsa3072", "p256", "p384", "p521"];

fn recipient(name: &str) -> KeyRecipient {
    let pem = std::fs::read_to_string(fixtures().join(format!("recipients/{name}.pem"))).unwrap();
    KeyRecipient::from_pem_or_base64(&pem).unwrap()
}

/// Every case: its name and its request. The random source starts at 7 for each.
fn cases() -> Vec<(String, DownloadRequest, &'static str)> {
    let mut out = Vec::new();
    let orders = [ChainOrder::LeafFirst, ChainOrder::RootFirst];
    for record in KEYED {
        for profile in PROFILES {
            for order in orders {
                for chain in [true, false] {
                    for (n, name) in NAMES.iter().enumerate() {
                        for (p, _) in policies() {
                            // Both passwords on the plain cases, the beyond-BMP one on all.
                            let pws: &[usize] = if n == 0 && p == "i1" { &[0, 1] } else { &[1] };
                            for &pw in pws {
                                let mut request = DownloadRequest::pfx(id(record), password(pw))
                                    .with_pfx_encryption(profile)
                                    .with_chain_order(order)
                                    .with_chain(chain);
                                if let Some(name) = name {
                                    request = request
                                        .with_friendly_name(FriendlyName::new(*name).unwrap());
                                }
                                out.push((
                                    format!(
                                        "pfx-{}-r{record}-{}-chain{}-name{n}-{p}-pw{pw}",
                                        profile.as_str(),
                                        order_name(order),
                                        u8::from(chain)
                                    ),
                                    request,
                                    p,
                                ));
                            }
                        }
                    }
                }
            }
        }
        for (p, _) in policies() {
            for pw in [0, 1] {
                out.push((
                    format!("crt-key-r{record}-{p}-pw{pw}"),
                    DownloadRequest::crt(id(record)).with_key(password(pw)),
                    p,
                ));
                for order in orders {
                    for chain in [true, false] {
                        out.push((
                            format!(
                                "pem-key-r{record}-{}-chain{}-{p}-pw{pw}",
                                order_name(order),
                                u8::from(chain)
                            ),
                            DownloadRequest::pem(id(record))
                                .with_key(password(pw))
                                .with_chain_order(order)
                                .with_chain(chain),
                            p,
                        ));
                    }
                }
            }
        }
    }
    // PBMAC1: every keyed record, both orders, with and without the chain, the default
    // and a non-ASCII friendly name, both passwords.
    for record in KEYED {
        for order in orders {
            for chain in [true, false] {
                for n in [0, 5] {
                    for pw in [0, 1] {
                        let mut request = DownloadRequest::pfx(id(record), password(pw))
                            .with_pfx_encryption(PfxEncryption::Aes256Sha256Pbmac1)
                            .with_chain_order(order)
                            .with_chain(chain);
                        if let Some(name) = NAMES[n] {
                            request = request.with_friendly_name(FriendlyName::new(name).unwrap());
                        }
                        out.push((
                            format!(
                                "pfx-aes256_sha256_pbmac1-r{record}-{}-chain{}-name{n}-pbmac1-pw{pw}",
                                order_name(order),
                                u8::from(chain)
                            ),
                            request,
                            "pbmac1",
                        ));
                    }
                }
            }
        }
    }
    for record in P7B {
        for root in [true, false] {
            for chain in [true, false] {
                out.push((
                    format!(
                        "p7b-r{record}-root{}-chain{}",
                        u8::from(root),
                        u8::from(chain)
                    ),
                    DownloadRequest::p7b(id(record))
                        .with_root(root)
                        .with_chain(chain),
                    "i1",
                ));
            }
        }
    }
    // Keys to a recipient: CMS in pem and crt for every recipient key type, kwp for the
    // RSA recipients; the random source gives the content key, the IV, then the OAEP seed
    // or the ephemeral EC key.
    for record in KEYED {
        for name in RECIPIENTS {
            out.push((
                format!("pem-cms-r{record}-{name}"),
                DownloadRequest::pem(id(record)).with_key_for(recipient(name)),
                "i1",
            ));
            out.push((
                format!("crt-cms-r{record}-{name}"),
                DownloadRequest::crt(id(record)).with_key_for(recipient(name)),
                "i1",
            ));
            if name.starts_with("rsa") {
                out.push((
                    format!("kwp-r{record}-{name}"),
                    DownloadRequest::kwp(id(record), recipient(name)),
                    "i1",
                ));
            }
        }
    }
    for record in UNKEYED {
        out.push((
            format!("crt-r{record}"),
            DownloadRequest::crt(id(record)),
            "i1",
        ));
        for order in orders {
            for chain in [true, false] {
                out.push((
                    format!(
                        "pem-r{record}-{}-chain{}",
                        order_name(order),
                        u8::from(chain)
                    ),
                    DownloadRequest::pem(id(record))
                        .with_chain_order(order)
                        .with_chain(chain),
                    "i1",
                ));
            }
        }
    }
    out
}

fn digest(response: &DownloadResponse) -> String {
    let mut h = Sha256::new();
    for part in [Some(response.certificate()), response.key()] {
        match part {
            Some(bytes) => {
                h.update((bytes.len() as u64).to_be_bytes());
                h.update(bytes);
            }
            None => h.update(u64::MAX.to_be_bytes()),
        }
    }
    h.finalize().iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn manifest_path() -> PathBuf {
    fixtures().join("golden/outputs.sha256")
}

#[test]
fn every_output_is_byte_identical_to_the_recorded_one() {
    let store = fixture_store();
    let policies = all_policies();
    let mut actual = BTreeMap::new();
    let mut bodies = BTreeMap::new();
    for (name, request, policy) in cases() {
        let response = download_with(request, &store, &policies[policy], &mut Counter(7))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        actual.insert(name.clone(), digest(&response));
        bodies.insert(name, response);
    }
    assert!(actual.len() > 2500, "{} cases", actual.len());

    let path = manifest_path();
    let expected: BTreeMap<String, String> = match std::fs::read_to_string(&path) {
        Ok(text) => text
            .lines()
            .map(|l| {
                let (d, n) = l.split_once("  ").expect("a `digest  name` line");
                (n.to_owned(), d.to_owned())
            })
            .collect(),
        Err(_) if std::env::var_os("GOLDEN_WRITE").is_some() => BTreeMap::new(),
        Err(e) => panic!(
            "{}: {e}; run with GOLDEN_WRITE=1 to record it",
            path.display()
        ),
    };
    // Write mode records and fails: a run never passes on digests it has just written.
    if std::env::var_os("GOLDEN_WRITE").is_some() {
        let text: String = actual.iter().map(|(n, d)| format!("{d}  {n}\n")).collect();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        let changed = actual
            .iter()
            .filter(|(n, d)| expected.get(*n) != Some(*d))
            .count();
        let dropped = expected.keys().filter(|n| !actual.contains_key(*n)).count();
        panic!(
            "GOLDEN_WRITE: recorded {} digests in {} ({changed} new or changed, {dropped} \
             dropped); review the diff and run again without GOLDEN_WRITE to compare",
            actual.len(),
            path.display()
        );
    }

    let mut differ = Vec::new();
    for (name, d) in &actual {
        match expected.get(name) {
            Some(e) if e == d => {}
            _ => differ.push(name.clone()),
        }
    }
    let missing: Vec<_> = expected
        .keys()
        .filter(|n| !actual.contains_key(*n))
        .collect();
    if !differ.is_empty() {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("golden-actual");
        std::fs::create_dir_all(&dir).unwrap();
        for name in &differ {
            let r = &bodies[name];
            std::fs::write(dir.join(format!("{name}.cert")), r.certificate()).unwrap();
            if let Some(k) = r.key() {
                std::fs::write(dir.join(format!("{name}.key")), k).unwrap();
            }
        }
    }
    assert!(
        differ.is_empty() && missing.is_empty(),
        "{} of {} outputs differ from the recorded digests (written to target/tmp/golden-actual), \
         first: {:?}; {} recorded cases not produced: {:?}",
        differ.len(),
        actual.len(),
        differ.iter().take(5).collect::<Vec<_>>(),
        missing.len(),
        missing.iter().take(5).collect::<Vec<_>>(),
    );
}
