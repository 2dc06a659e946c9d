//! Beyond the vendor's pages (docs/contract.md, "Where it comes from"): p7b and include_root.

use super::*;

// ---------------------------------------------------------------------------------------
// Beyond the vendor's pages: p7b and include_root
// ---------------------------------------------------------------------------------------

/// The certificates of a p7b, checked against the contract's shape on the way: a DER
/// `ContentInfo` (it re-encodes to the same bytes) of type `id-signedData` holding a
/// certs-only `SignedData` (version 1, no digest algorithms, `id-data` without content, no
/// CRLs, no signers) whose certificates are in X.690 `SET OF` order.
fn p7b_certs(der: &[u8]) -> Vec<Vec<u8>> {
    use der::Encode;
    use pkcs12::cms::cert::CertificateChoices;
    use pkcs12::cms::content_info::{CmsVersion, ContentInfo};
    use pkcs12::cms::signed_data::SignedData;
    let info = ContentInfo::from_der(der).expect("a DER ContentInfo");
    assert_eq!(info.to_der().expect("re-encodes"), der, "strict DER");
    assert_eq!(info.content_type.to_string(), "1.2.840.113549.1.7.2");
    let sd: SignedData = info.content.decode_as().expect("a SignedData");
    assert_eq!(sd.version, CmsVersion::V1);
    assert!(sd.digest_algorithms.is_empty(), "no digest algorithms");
    assert_eq!(
        sd.encap_content_info.econtent_type.to_string(),
        "1.2.840.113549.1.7.1",
        "id-data"
    );
    assert!(sd.encap_content_info.econtent.is_none(), "no content");
    assert!(sd.crls.is_none(), "no CRLs");
    assert!(sd.signer_infos.0.is_empty(), "no signers");
    let certs: Vec<Vec<u8>> = sd
        .certificates
        .expect("certificates")
        .0
        .iter()
        .map(|c| match c {
            CertificateChoices::Certificate(c) => c.to_der().expect("re-encodes"),
            CertificateChoices::Other(_) => panic!("not a certificate"),
        })
        .collect();
    for pair in certs.windows(2) {
        assert!(
            x690_less(&pair[0], &pair[1]),
            "the certificates are not in DER SET OF order"
        );
    }
    certs
}

/// X.690 11.6: `a` sorts before `b`, compared as octet strings with the shorter padded with
/// zero octets.
fn x690_less(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().max(b.len());
    let pad = |x: &[u8]| {
        let mut v = x.to_vec();
        v.resize(n, 0);
        v
    };
    pad(a) < pad(b)
}

fn sorted(mut certs: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    certs.sort_by(|a, b| {
        if x690_less(a, b) {
            std::cmp::Ordering::Less
        } else {
            std::cmp::Ordering::Greater
        }
    });
    certs
}

/// The leaf-first chain of a record as the contract orders it, from the fixture files.
fn linked_chain(n: u64) -> Vec<Vec<u8>> {
    let root = ca_cert("root");
    let int_rsa = ca_cert("intermediate-rsa");
    let int_ec = ca_cert("intermediate-ec");
    let leaf = fixture_leaf(n);
    match n {
        1 | 2 | 3 | 9 | 10 | 11 | 18 | 21 => vec![leaf, int_rsa, root],
        4..=8 | 12 | 14 | 16 | 19 => vec![leaf, int_ec, root],
        15 => vec![leaf],
        17 => vec![leaf, root],
        20 => {
            let (_, chain20) = fixture_record(20);
            let unrelated = chain20
                .iter()
                .map(|c| c.to_vec())
                .find(|c| *c != root && *c != int_rsa)
                .expect("record 20 holds an unrelated CA");
            vec![leaf, int_rsa, root, unrelated]
        }
        _ => unreachable!("record {n}"),
    }
}

/// What a pfx, pem or p7b download of record `n` holds, leaf first.
fn expected_chain(n: u64, include_chain: bool, include_root: bool) -> Vec<Vec<u8>> {
    let mut chain = linked_chain(n);
    if !include_chain {
        chain.truncate(1);
    }
    // Without the root: the path a TLS server sends ends before the root, and what follows
    // it (record 20's unrelated CA) certifies nothing on that path.
    let root = ca_cert("root");
    if !include_root && let Some(at) = chain.iter().position(|c| *c == root) {
        chain.truncate(at);
    }
    chain
}

#[test]
fn p7b_holds_the_leaf_and_its_chain_in_der_order() {
    let store = fixture_store();
    // Every record whose leaf parses: p7b never loads the key, so keyless, mismatched,
    // unsupported and corrupt keys do not matter.
    let records: Vec<u64> = FIXTURE_IDS.filter(|&n| n != 13).collect();
    let mut reordered = 0;
    for n in records {
        for include_chain in [true, false] {
            let what = format!("record {n} p7b include_chain {include_chain}");
            let mut v = Kind::P7b.json(n);
            v["include_chain"] = Value::from(include_chain);
            let response = expect_ok(run(&body(v.clone()), &store), &what);
            assert_eq!(response.format(), Format::P7b, "{what}");
            assert!(
                !response.includes_key() && response.key().is_none(),
                "{what}"
            );
            let json = response.to_json();
            assert_eq!(field_names(&json), ["certificate", "format"], "{what}");
            assert_eq!(string_field(&json, "format").as_deref(), Some("p7b"));
            let file = strict_base64(&string_field(&json, "certificate").expect("certificate"));
            assert!(file == response.certificate(), "{what}");
            let certs = p7b_certs(&file);
            let expected = expected_chain(n, include_chain, true);
            assert_eq!(certs.len(), expected.len(), "{what}: how many");
            assert!(
                certs == sorted(expected.clone()),
                "{what}: the certificates"
            );
            if certs != expected {
                reordered += 1;
            }
            // chain_order does not apply: a SET OF has one order. No randomness either,
            // so the bytes are the same.
            v["chain_order"] = Value::from("root_first");
            let root_first = expect_ok(run(&body(v), &store), &what);
            assert_eq!(root_first, response, "{what}: root_first");
        }
    }
    assert!(reordered > 0, "some chains are not in DER order as linked");
}

#[test]
fn p7b_with_download_key_true_is_400_key_not_supported() {
    let mut cases = Vec::new();
    for raw in ["true", "\"true\"", "\"TRUE\"", "\"True\""] {
        for password in [None, Some(q(PASSWORD)), Some("\"\"".to_owned())] {
            let mut fields = vec![("id", "1"), ("format", "\"p7b\""), ("download_key", raw)];
            if let Some(p) = &password {
                fields.push(("password", p));
            }
            cases.push(reject(
                format!("p7b download_key {raw} password {password:?}"),
                obj(&fields),
                "key_not_supported",
            ));
        }
    }
    for e in check_rejections(&cases) {
        assert!(e.message().contains("p7b"), "{e:?}");
        assert!(!e.message().contains(PASSWORD), "{e:?}");
    }
    // Other values of download_key are still the download_key error.
    let cases: Vec<_> = ["1", "\"yes\"", "[]", "{}"]
        .iter()
        .map(|raw| {
            reject(
                format!("p7b download_key {raw}"),
                obj(&[("id", "1"), ("format", "\"P7B\""), ("download_key", raw)]),
                "invalid_download_key",
            )
        })
        .collect();
    check_rejections(&cases);
    // false, "false", null and absent are fine, and the key is never asked for.
    for raw in [None, Some("false"), Some("\"FALSE\""), Some("null")] {
        let mut fields = vec![("id", "1"), ("format", "\"p7b\"")];
        if let Some(raw) = raw {
            fields.push(("download_key", raw));
        }
        let store = TestStore::fixtures();
        let response = expect_ok(run(&obj(&fields), &store), &format!("{raw:?}"));
        assert!(!response.includes_key());
        assert_eq!(store.calls(), (1, 0), "download_key {raw:?}");
    }
}

#[test]
fn a_p7b_built_with_a_key_is_refused_before_the_store_is_asked() {
    let policy = PasswordPolicy::default();
    let request = || {
        DownloadRequest::p7b(id(1))
            .with_key(cert_download::Password::new(PASSWORD, &policy).expect("a password"))
    };
    assert!(request().includes_key());
    expect_err(
        download(request(), &PanicStore),
        400,
        "key_not_supported",
        "download",
    );
    expect_err(
        prepare(request(), &PanicStore),
        400,
        "key_not_supported",
        "prepare",
    );
    let (leaf, issuers) = fixture_record(1);
    let record = cert_download::CertificateRecord::new(leaf, issuers);
    expect_err(
        cert_download::Prepared::from_record(
            request(),
            record,
            fixture_key(1).map(zeroize::Zeroizing::new),
        ),
        400,
        "key_not_supported",
        "from_record",
    );
    // Without the key, the Rust API gives the JSON API's file.
    let ours = expect_ok(
        cert_download::download_with(
            DownloadRequest::p7b(id(1)).with_root(false),
            &fixture_store(),
            &fast_policy(),
            &mut OsRandom,
        ),
        "rust api",
    );
    let theirs = expect_ok(
        run(
            &obj(&[
                ("id", "1"),
                ("format", "\"p7b\""),
                ("include_root", "false"),
            ]),
            &fixture_store(),
        ),
        "json api",
    );
    assert_eq!(ours, theirs);
}

#[test]
fn p7b_ignores_the_password() {
    let store = fixture_store();
    let plain = expect_ok(run(&Kind::P7b.body(4), &store), "no password");
    for raw in [
        q(PASSWORD),
        q(""),
        "null".to_owned(),
        q("x"),
        q("ü😀中文"),
        q(&"p".repeat(2000)),
    ] {
        let what = format!("p7b password {raw:.40}");
        let body = obj(&[("id", "4"), ("format", "\"p7b\""), ("password", &raw)]);
        let store = TestStore::fixtures();
        let response = expect_ok(run(&body, &store), &what);
        assert_eq!(response, plain, "{what}: the same file");
        assert_eq!(store.calls(), (1, 0), "{what}: the key is not asked for");
        assert!(!response.to_json().contains(PASSWORD), "{what}");
    }
    // A password that is not a string is the same error as for pem.
    check_rejections(&[reject(
        "p7b password 1",
        obj(&[("id", "4"), ("format", "\"p7b\""), ("password", "1")]),
        "invalid_password",
    )]);
}

#[test]
fn include_root_is_a_boolean() {
    for format in ["pem", "pfx", "p7b", "crt"] {
        for (raw, expected) in [
            (None, true),
            (Some("true"), true),
            (Some("false"), false),
            (Some("null"), true),
        ] {
            let format = q(format);
            let password = q(PASSWORD);
            let mut fields = vec![("id", "1"), ("format", &*format), ("password", &*password)];
            if let Some(raw) = raw {
                fields.push(("include_root", raw));
            }
            assert_eq!(
                accept(&obj(&fields)).include_root(),
                expected,
                "{format} include_root {raw:?}"
            );
        }
    }
    #[rustfmt::skip]
    let raws = [
        "\"true\"", "\"false\"", "\"TRUE\"", "1", "0", "\"yes\"", "\"\"", "[]", "[true]", "{}",
        "1.0",
    ];
    let mut cases = Vec::new();
    for raw in raws {
        cases.push(reject(
            format!("pem include_root {raw}"),
            pem_with(&[("include_root", raw)]),
            "invalid_include_root",
        ));
        cases.push(reject(
            format!("p7b include_root {raw}"),
            obj(&[("id", "1"), ("format", "\"p7b\""), ("include_root", raw)]),
            "invalid_include_root",
        ));
        for (name, body) in keyed_with(&[("include_root", raw), ("password", &q(PASSWORD))]) {
            cases.push(reject(
                format!("{name} include_root {raw}"),
                body,
                "invalid_include_root",
            ));
        }
    }
    for e in check_rejections(&cases) {
        assert!(e.message().contains("include_root"), "{e:?}");
    }
    // Twice is a duplicate; a misspelling is unknown, and the message lists the field.
    check_rejections(&[reject(
        "include_root twice",
        pem_with(&[("include_root", "false"), ("include_root", "false")]),
        "duplicate_field",
    )]);
    for e in check_rejections(&[reject(
        "includeRoot",
        pem_with(&[("includeRoot", "false")]),
        "unknown_field",
    )]) {
        assert!(e.message().contains("include_root"), "{e:?}");
    }
}

/// The certificates of a pem, pfx or p7b download, in file order.
fn file_certs(format: &str, response: &cert_download::DownloadResponse) -> Vec<Vec<u8>> {
    match format {
        "pem" => pem_certs_of(response),
        "pfx" => {
            let pfx = common::read_pfx(response.certificate(), PASSWORD);
            assert!(pfx.mac_ok, "the MAC verifies");
            pfx.certs.into_iter().map(|(der, _)| der).collect()
        }
        "p7b" => p7b_certs(response.certificate()),
        _ => unreachable!(),
    }
}

#[test]
fn include_root_false_leaves_out_the_root_that_ends_the_chain() {
    let store = fixture_store();
    let root = ca_cert("root");
    // 1 and 5: stored root first; 9: Ed25519; 15: no chain; 17: a leaf issued by the root
    // itself; 20: an unrelated self-signed CA stored first (it is not on the path: with the
    // root it stays after the chain, without the root it goes too); 21: a duplicate
    // intermediate.
    for n in [1u64, 5, 9, 15, 17, 20, 21] {
        for format in ["pem", "pfx", "p7b"] {
            if format == "pfx" && n == 17 {
                continue; // its Ed448 key is unsupported
            }
            for include_chain in [true, false] {
                for include_root in [true, false] {
                    for order in ["leaf_first", "root_first"] {
                        let what = format!(
                            "record {n} {format} chain {include_chain} root {include_root} {order}"
                        );
                        let mut v = json!({"id": n, "format": format,
                                           "include_chain": include_chain,
                                           "include_root": include_root,
                                           "chain_order": order});
                        if format == "pfx" {
                            v["password"] = Value::from(PASSWORD);
                        }
                        let response = expect_ok(run(&body(v), &store), &what);
                        let certs = file_certs(format, &response);
                        let mut expected = expected_chain(n, include_chain, include_root);
                        if format == "p7b" {
                            expected = sorted(expected);
                        } else if order == "root_first" {
                            expected.reverse();
                        }
                        assert!(certs == expected, "{what}: wrong certificates or order");
                        let has_root = certs.contains(&root);
                        let stored_root = n != 15 && include_chain;
                        assert_eq!(has_root, stored_root && include_root, "{what}: the root");
                        assert!(
                            certs.contains(&fixture_leaf(n)),
                            "{what}: the leaf is always there"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn include_root_keeps_a_self_signed_leaf_and_drops_what_is_not_on_the_path() {
    let root = CertificateDer::from(ca_cert("root"));
    let int_rsa = CertificateDer::from(ca_cert("intermediate-rsa"));
    let (leaf, _) = fixture_record(1);
    let (_, chain20) = fixture_record(20);
    let unrelated = chain20
        .iter()
        .find(|c| **c != root && **c != int_rsa)
        .expect("record 20 holds an unrelated CA")
        .clone();
    let cases: Vec<(
        &str,
        CertificateDer<'static>,
        Vec<CertificateDer<'static>>,
        Vec<_>,
    )> = vec![
        // The root as the leaf: it is the leaf, and stays; a CA that certifies nothing on
        // its (empty) path goes.
        ("self-signed leaf", root.clone(), vec![], vec![root.clone()]),
        (
            "self-signed leaf with an unlinked CA",
            root.clone(),
            vec![unrelated.clone()],
            vec![root.clone()],
        ),
        // No root stored: nothing to leave out.
        (
            "leaf and intermediate",
            leaf.clone(),
            vec![int_rsa.clone()],
            vec![leaf.clone(), int_rsa.clone()],
        ),
        // A self-signed certificate that does not link is not on the path: the leaf goes
        // out alone.
        (
            "an unlinked self-signed CA only",
            leaf.clone(),
            vec![unrelated.clone()],
            vec![leaf.clone()],
        ),
        // The root, stored before an unlinked CA and duplicated, goes; so does the unlinked
        // CA; the intermediate stays.
        (
            "root, unrelated, duplicates",
            leaf.clone(),
            vec![
                root.clone(),
                unrelated.clone(),
                int_rsa.clone(),
                root.clone(),
            ],
            vec![leaf.clone(), int_rsa.clone()],
        ),
    ];
    for (what, leaf, issuers, expected) in cases {
        let expected: Vec<Vec<u8>> = expected.iter().map(|c| c.to_vec()).collect();
        for format in ["pem", "p7b"] {
            let mut store = cert_download::MemoryStore::new();
            store.insert(
                id(1),
                cert_download::store::MemoryEntry::new(leaf.clone()).with_issuers(issuers.clone()),
            );
            let request = json!({"id": 1, "format": format, "include_root": false});
            let response = expect_ok(run(&body(request), &store), what);
            let certs = file_certs(format, &response);
            let want = if format == "p7b" {
                sorted(expected.clone())
            } else {
                expected.clone()
            };
            assert!(certs == want, "{what} {format}");
        }
    }
}

#[test]
fn crt_ignores_include_root() {
    let store = fixture_store();
    for key in [false, true] {
        let mut v = if key { Kind::CrtKey } else { Kind::Crt }.json(1);
        v["include_root"] = Value::from(false);
        let response = expect_ok(run(&body(v), &store), "crt");
        assert!(response.certificate() == fixture_leaf(1).as_slice());
        assert_eq!(response.includes_key(), key);
    }
}
