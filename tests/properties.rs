//! Property tests: any valid request gives files that parse back and decrypt to the stored
//! key (read with the test's own decoder); any single mutation of a valid body into an
//! invalid one is a 400, never a 500.

mod common;

use cert_download::{
    CertificateDer, CertificateId, DownloadRequest, ExportPolicy, Format, MemoryStore, OsRandom,
    PasswordPolicy, PrivateKeyDer, download_json,
};
use proptest::prelude::*;
use rustls_pki_types::pem::PemObject;
use serde_json::{Map, Value, json};

/// Records 1 (RSA), 4 (P-256), 9 (Ed25519), 5 (P-256, SEC1) and 2 (RSA, PKCS#1).
const RECORDS: [u64; 5] = [1, 4, 9, 5, 2];

/// (id, leaf DER, issuers DER in fixture order, the stored key as stored)
type Record = (u64, Vec<u8>, Vec<Vec<u8>>, PrivateKeyDer<'static>);

struct Fixture {
    store: MemoryStore,
    records: Vec<Record>,
}

fn fixture() -> &'static Fixture {
    static F: std::sync::OnceLock<Fixture> = std::sync::OnceLock::new();
    F.get_or_init(|| {
        let mut store = MemoryStore::new();
        let mut records = Vec::new();
        for n in RECORDS {
            let dir = common::fixtures().join(format!("store/{n}"));
            let certs = |f: &str| -> Vec<CertificateDer<'static>> {
                CertificateDer::pem_file_iter(dir.join(f))
                    .unwrap()
                    .map(Result::unwrap)
                    .collect()
            };
            let leaf = certs("cert.pem").remove(0);
            let chain = certs("chain.pem");
            let key = PrivateKeyDer::from_pem_file(dir.join("key.pem")).unwrap();
            records.push((
                n,
                leaf.to_vec(),
                chain.iter().map(|c| c.to_vec()).collect(),
                key.clone_key(),
            ));
            store.insert(
                CertificateId::new(n).unwrap(),
                cert_download::store::MemoryEntry::new(leaf)
                    .with_issuers(chain)
                    .with_key(Some(key)),
            );
        }
        Fixture { store, records }
    })
}

fn password_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::string::string_regex("[ -~]{8,64}").unwrap(),
        proptest::collection::vec(0xA0u32..=0xFF, 8..32)
            .prop_map(|v| v.into_iter().filter_map(char::from_u32).collect()),
        proptest::collection::vec(0x4E00u32..=0x9FFF, 8..32)
            .prop_map(|v| v.into_iter().filter_map(char::from_u32).collect()),
        proptest::collection::vec(0x1F600u32..=0x1F64F, 8..32)
            .prop_map(|v| v.into_iter().filter_map(char::from_u32).collect()),
        // The policy's bounds: exactly 8 characters, exactly 1024 bytes.
        Just("abcdefgh".to_owned()),
        Just("😀".repeat(256)),
        Just("x".repeat(1024)),
    ]
}

#[derive(Clone, Debug)]
struct Options {
    record: u64,
    format: &'static str,
    download_key: bool,
    include_chain: Option<bool>,
    include_root: Option<bool>,
    root_first: Option<bool>,
    friendly_name: Option<String>,
    legacy: Option<bool>,
}

fn options_strategy() -> impl Strategy<Value = Options> {
    (
        proptest::sample::select(RECORDS.to_vec()),
        proptest::sample::select(vec!["pfx", "pem", "crt", "PFX", "Pem", "p7b", "P7B"]),
        any::<bool>(),
        proptest::option::of(any::<bool>()),
        proptest::option::of(any::<bool>()),
        proptest::option::of(any::<bool>()),
        proptest::option::of("[a-zA-Z0-9 éü中]{1,64}"),
        proptest::option::of(any::<bool>()),
    )
        .prop_map(
            |(
                record,
                format,
                download_key,
                include_chain,
                include_root,
                root_first,
                friendly_name,
                legacy,
            )| {
                Options {
                    record,
                    format,
                    // A p7b never carries a key: asking for one is a 400.
                    download_key: download_key && !format.eq_ignore_ascii_case("p7b"),
                    include_chain,
                    include_root,
                    root_first,
                    friendly_name,
                    legacy,
                }
            },
        )
}

fn body(o: &Options, password: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("id".into(), json!(o.record.to_string()));
    m.insert("format".into(), json!(o.format));
    m.insert("download_key".into(), json!(o.download_key));
    m.insert("password".into(), json!(password));
    if let Some(b) = o.include_chain {
        m.insert("include_chain".into(), json!(b));
    }
    if let Some(b) = o.include_root {
        m.insert("include_root".into(), json!(b));
    }
    if let Some(r) = o.root_first {
        m.insert(
            "chain_order".into(),
            json!(if r { "root_first" } else { "leaf_first" }),
        );
    }
    if let Some(n) = &o.friendly_name {
        m.insert("friendly_name".into(), json!(n));
    }
    if let Some(l) = o.legacy {
        m.insert(
            "pfx_encryption".into(),
            json!(if l { "tripledes_sha1" } else { "aes256_sha256" }),
        );
    }
    m
}

fn policy() -> ExportPolicy {
    ExportPolicy::with_iterations(1).unwrap()
}

/// What the chain should be, as the crate orders it: the fixtures' chains link fully.
fn expected_chain(o: &Options, leaf: &[u8], issuers: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut want = vec![leaf.to_vec()];
    if o.include_chain != Some(false) {
        // Fixture chains are either [intermediate, root] or [root, intermediate].
        let mut linked = issuers.to_vec();
        let root_first = {
            let c = x509_cert::Certificate::from_der(&linked[0]).unwrap();
            c.tbs_certificate().subject() == c.tbs_certificate().issuer()
        };
        if root_first && linked.len() > 1 {
            linked.reverse();
        }
        if o.include_root == Some(false) {
            linked.pop();
        }
        want.extend(linked);
    }
    if o.root_first == Some(true) {
        want.reverse();
    }
    want
}

use der::Decode;

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn valid_requests_give_files_that_decrypt_to_the_stored_key(
        o in options_strategy(),
        password in password_strategy(),
    ) {
        let f = fixture();
        let (_, leaf, issuers, stored_key) =
            f.records.iter().find(|r| r.0 == o.record).unwrap();
        let json = Value::Object(body(&o, &password)).to_string();
        let response = download_json(json.as_bytes(), &f.store, &policy(), &mut OsRandom)
            .unwrap_or_else(|e| panic!("{e:?} for {json}"));
        let format = response.format();
        let decrypted_key;
        match format {
            Format::Pfx => {
                let pfx = common::read_pfx(response.certificate(), &password);
                prop_assert!(pfx.mac_ok);
                let certs: Vec<Vec<u8>> = pfx.certs.iter().map(|(c, _)| c.clone()).collect();
                prop_assert_eq!(certs, expected_chain(&o, leaf, issuers));
                // The profile asked for (aes256_sha256 when none is named) is the one in
                // the file: its MAC digest and both encryption algorithms.
                let (mac, encryption) = if o.legacy == Some(true) {
                    ("1.3.14.3.2.26", "1.2.840.113549.1.12.1.3")
                } else {
                    ("2.16.840.1.101.3.4.2.1", "1.2.840.113549.1.5.13")
                };
                prop_assert_eq!(pfx.mac_algorithm.as_str(), mac);
                prop_assert_eq!(pfx.key_algorithm.as_str(), encryption);
                prop_assert_eq!(pfx.certs_algorithm.as_str(), encryption);
                // The friendly name asked for (the leaf's CN when none is) is on the key
                // and the leaf, with the localKeyId.
                let name = o
                    .friendly_name
                    .clone()
                    .unwrap_or_else(|| format!("leaf{}.test", o.record));
                let attributes = common::expected_attributes(&name, leaf);
                prop_assert_eq!(pfx.key_attributes.as_ref(), Some(&attributes));
                let leaf_bag = pfx.certs.iter().find(|(c, _)| c == leaf);
                prop_assert_eq!(leaf_bag.and_then(|(_, a)| a.as_ref()), Some(&attributes));
                decrypted_key = Some(pfx.key_pkcs8);
            }
            Format::Pem => {
                let text = std::str::from_utf8(response.certificate()).unwrap();
                let certs: Vec<Vec<u8>> = CertificateDer::pem_slice_iter(text.as_bytes())
                    .map(|c| c.unwrap().to_vec())
                    .collect();
                prop_assert_eq!(certs, expected_chain(&o, leaf, issuers));
                decrypted_key = text.find("-----BEGIN ENCRYPTED PRIVATE KEY-----").map(|at| {
                    let (_, der) = pem_rfc7468_decode(&text[at..]);
                    common::decrypt_epki(&der, &password).0
                });
                prop_assert_eq!(decrypted_key.is_some(), o.download_key);
            }
            Format::P7b => {
                let mut want = expected_chain(&o, leaf, issuers);
                want.sort();
                prop_assert_eq!(p7b_certs(response.certificate()), want);
                prop_assert!(!response.includes_key() && response.key().is_none());
                decrypted_key = None;
            }
            _ => {
                prop_assert_eq!(response.certificate(), leaf.as_slice());
                decrypted_key = response.key().map(|k| common::decrypt_epki(k, &password).0);
                prop_assert_eq!(decrypted_key.is_some(), o.download_key);
            }
        }
        if let Some(key) = decrypted_key {
            assert_same_key(&key, stored_key);
        }
    }
}

/// The PKCS#8 key of a file holds the stored key, whatever its container: a PKCS#8 key byte
/// for byte; a PKCS#1 key as the rsaEncryption PrivateKeyInfo around those very bytes; a
/// SEC1 key as an id-ecPublicKey PrivateKeyInfo on the stored curve whose inner ECPrivateKey
/// keeps the private scalar and the public point.
fn assert_same_key(pkcs8: &[u8], stored: &PrivateKeyDer<'_>) {
    use der::asn1::ObjectIdentifier;
    const RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
    const EC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
    match stored {
        PrivateKeyDer::Pkcs8(k) => assert_eq!(pkcs8, k.secret_pkcs8_der()),
        PrivateKeyDer::Pkcs1(k) => {
            let info = pkcs8::PrivateKeyInfoRef::from_der(pkcs8).unwrap();
            assert_eq!(info.algorithm.oid, RSA);
            assert_eq!(
                info.algorithm.parameters.map(|p| p.is_null()),
                Some(true),
                "rsaEncryption takes NULL parameters"
            );
            assert_eq!(info.private_key.as_bytes(), k.secret_pkcs1_der());
        }
        PrivateKeyDer::Sec1(k) => {
            let info = pkcs8::PrivateKeyInfoRef::from_der(pkcs8).unwrap();
            assert_eq!(info.algorithm.oid, EC);
            let ours = sec1::EcPrivateKey::from_der(info.private_key.as_bytes()).unwrap();
            let stored = sec1::EcPrivateKey::from_der(k.secret_sec1_der()).unwrap();
            let curve = stored.parameters.and_then(|p| p.named_curve()).unwrap();
            let params: ObjectIdentifier = info.algorithm.parameters.unwrap().decode_as().unwrap();
            assert_eq!(params, curve, "the stored key's curve");
            assert_eq!(ours.private_key, stored.private_key, "the private scalar");
            assert_eq!(ours.public_key, stored.public_key, "the public point");
            assert!(
                ours.parameters
                    .is_none_or(|p| p.named_curve() == Some(curve)),
                "the inner key names another curve"
            );
        }
        other => panic!("unexpected stored key {other:?}"),
    }
}

/// The certificates of a p7b, in file order (DER order: for complete DER encodings, none
/// a prefix of another, the order of their bytes).
fn p7b_certs(der: &[u8]) -> Vec<Vec<u8>> {
    use der::Encode;
    use pkcs12::cms::cert::CertificateChoices;
    use pkcs12::cms::content_info::ContentInfo;
    use pkcs12::cms::signed_data::SignedData;
    let info = ContentInfo::from_der(der).unwrap();
    assert_eq!(info.to_der().unwrap(), der);
    let sd: SignedData = info.content.decode_as().unwrap();
    assert!(sd.signer_infos.0.is_empty());
    sd.certificates
        .unwrap()
        .0
        .iter()
        .map(|c| match c {
            CertificateChoices::Certificate(c) => c.to_der().unwrap(),
            CertificateChoices::Other(_) => panic!("not a certificate"),
        })
        .collect()
}

fn pem_rfc7468_decode(text: &str) -> (String, Vec<u8>) {
    use base64::Engine;
    let mut lines = text.lines();
    let label = lines.next().unwrap().to_owned();
    let b64: String = lines.take_while(|l| !l.starts_with("-----END")).collect();
    (
        label,
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap(),
    )
}

type Mutation = Box<dyn Fn(&mut Map<String, Value>) + Send + Sync>;

/// One change that makes a valid body invalid.
fn mutations() -> Vec<(&'static str, Mutation)> {
    fn set(k: &'static str, v: Value) -> Mutation {
        Box::new(move |m| {
            m.insert(k.into(), v.clone());
        })
    }
    fn crt_with(k: &'static str, v: Value) -> Mutation {
        Box::new(move |m| {
            m.insert("format".into(), json!("crt"));
            m.insert(k.into(), v.clone());
        })
    }
    fn remove(k: &'static str) -> Mutation {
        Box::new(move |m| {
            m.remove(k);
        })
    }
    vec![
        ("no id", remove("id")),
        ("no format", remove("format")),
        ("no password", remove("password")),
        ("id 0", set("id", json!(0))),
        ("id negative", set("id", json!(-5))),
        (
            "id too large",
            set("id", json!(9_223_372_036_854_775_808u64)),
        ),
        ("id float", set("id", json!(1.5))),
        ("id letters", set("id", json!("12a"))),
        ("id empty", set("id", json!(""))),
        ("id bool", set("id", json!(true))),
        ("id array", set("id", json!([1]))),
        ("format unknown", set("format", json!("p12"))),
        ("format number", set("format", json!(1))),
        ("format null", set("format", Value::Null)),
        // download_key is ignored for pfx: these two ask for a crt.
        ("download_key yes", crt_with("download_key", json!("yes"))),
        ("download_key number", crt_with("download_key", json!(1))),
        ("password empty", set("password", json!(""))),
        ("password short", set("password", json!("short"))),
        ("password number", set("password", json!(12345678))),
        ("password control", set("password", json!("abc\u{7}defgh"))),
        (
            "password too long",
            set("password", json!("y".repeat(1025))),
        ),
        ("include_chain string", set("include_chain", json!("true"))),
        ("include_root string", set("include_root", json!("false"))),
        ("include_root number", set("include_root", json!(0))),
        (
            "p7b with the key",
            Box::new(|m| {
                m.insert("format".into(), json!("p7b"));
                m.insert("download_key".into(), json!(true));
            }),
        ),
        (
            "chain_order unknown",
            set("chain_order", json!("leaf-first")),
        ),
        ("friendly_name empty", set("friendly_name", json!(""))),
        (
            "friendly_name long",
            set("friendly_name", json!("n".repeat(65))),
        ),
        ("friendly_name emoji", set("friendly_name", json!("key 😀"))),
        ("friendly_name control", set("friendly_name", json!("a\nb"))),
        (
            "pfx_encryption unknown",
            set("pfx_encryption", json!("aes128")),
        ),
        ("unknown field", set("downloadKey", json!(true))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn one_mutation_of_a_valid_body_is_a_400(
        o in options_strategy(),
        password in password_strategy(),
        which in any::<proptest::sample::Index>(),
        textual in 0u8..4,
    ) {
        // A body that needs its password: every mutation above then makes it invalid.
        let o = Options { format: "pfx", ..o };
        let mut m = body(&o, &password);
        let all = mutations();
        let text = match textual {
            // Mutations of the text itself: duplicate field, truncation, trailing garbage.
            1 => {
                let t = Value::Object(m).to_string();
                format!("{{\"id\": 1,{}", &t[1..])
            }
            2 => {
                let t = Value::Object(m).to_string();
                t[..t.len() - 1].to_owned()
            }
            3 => format!("{} x", Value::Object(m)),
            _ => {
                let (_, mutate) = &all[which.index(all.len())];
                mutate(&mut m);
                Value::Object(m).to_string()
            }
        };
        let store = &fixture().store;
        let err = download_json(text.as_bytes(), store, &policy(), &mut OsRandom)
            .expect_err("the mutated body must be refused");
        prop_assert_eq!(err.status(), 400, "{:?} for {}", err, text);
        prop_assert!(!err.to_json().contains(&password) || password.len() < 3);
        let parsed = DownloadRequest::from_json_with_policy(text.as_bytes(), &PasswordPolicy::default());
        prop_assert!(parsed.is_err());
    }
}
