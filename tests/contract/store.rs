//! The store: what it answers becomes the status; it is asked only what is needed; stored
//! material that cannot be used is a 500.

use super::*;

// ---------------------------------------------------------------------------------------
// The store: what it answers becomes the status; it is asked only what is needed
// ---------------------------------------------------------------------------------------

#[test]
fn a_valid_request_asks_the_store_once_per_item_needed() {
    for kind in Kind::ALL {
        let store = TestStore::fixtures();
        expect_ok(run(&kind.body(1), &store), &format!("{kind:?}"));
        let expected = (1, usize::from(kind.with_key()));
        assert_eq!(store.calls(), expected, "{kind:?}");
    }
}

#[test]
fn store_answers_to_certificate_become_statuses() {
    let cases: [(&str, MakeError, u16, &str); 6] = [
        (
            "unauthenticated",
            || StoreError::Unauthenticated,
            401,
            "unauthenticated",
        ),
        ("forbidden", || StoreError::Forbidden, 403, "forbidden"),
        (
            "not found",
            || StoreError::NotFound,
            404,
            "certificate_not_found",
        ),
        (
            "invalid certificate",
            || StoreError::InvalidCertificate,
            500,
            "invalid_certificate",
        ),
        ("invalid key", || StoreError::InvalidKey, 500, "invalid_key"),
        ("backend", backend_error, 500, "store_failure"),
    ];
    for (what, error, status, code) in cases {
        for kind in Kind::ALL {
            let store = TestStore::fixtures().failing_certificate(error);
            let e = expect_err(
                run(&kind.body(1), &store),
                status,
                code,
                &format!("{what}, {kind:?}"),
            );
            assert_eq!(store.calls(), (1, 0), "{what}, {kind:?}: no key asked");
            assert_no_backend_text(&e);
        }
    }
}

#[test]
fn store_answers_to_private_key_become_statuses_when_the_key_goes_out() {
    let cases: [(&str, MakeError, u16, &str); 7] = [
        (
            "key export forbidden",
            || StoreError::KeyExportForbidden,
            403,
            "key_export_forbidden",
        ),
        (
            "key not found",
            || StoreError::KeyNotFound,
            404,
            "key_not_found",
        ),
        (
            "unauthenticated",
            || StoreError::Unauthenticated,
            401,
            "unauthenticated",
        ),
        ("forbidden", || StoreError::Forbidden, 403, "forbidden"),
        (
            "not found",
            || StoreError::NotFound,
            404,
            "certificate_not_found",
        ),
        ("invalid key", || StoreError::InvalidKey, 500, "invalid_key"),
        ("backend", backend_error, 500, "store_failure"),
    ];
    for (what, error, status, code) in cases {
        for kind in Kind::WITH_KEY {
            let store = TestStore::fixtures().failing_private_key(error);
            let e = expect_err(
                run(&kind.body(1), &store),
                status,
                code,
                &format!("{what}, {kind:?}"),
            );
            assert_eq!(store.calls(), (1, 1), "{what}, {kind:?}");
            assert_no_backend_text(&e);
        }
        // Without the key the store's key answer does not matter: it is never asked.
        for body in [
            Kind::Pem.body(1),
            Kind::Crt.body(1),
            pem_with(&[("download_key", "false"), ("password", &q(PASSWORD))]),
            obj(&[
                ("id", "1"),
                ("format", "\"crt\""),
                ("download_key", "\"false\""),
            ]),
        ] {
            let store = TestStore::fixtures().failing_private_key(error);
            let response = expect_ok(run(&body, &store), what);
            assert!(!response.includes_key());
            assert_eq!(
                store.calls(),
                (1, 0),
                "{what}: private_key must not be called"
            );
        }
    }
}

#[test]
fn key_export_forbidden_by_the_shipped_stores() {
    let stores: [(&str, Box<dyn cert_download::CertificateStore>); 2] = [
        ("directory", Box::new(fixture_store().deny_key_export())),
        ("memory", Box::new(fixture_memory_store().deny_key_export())),
    ];
    for (name, store) in &stores {
        for kind in Kind::WITH_KEY {
            expect_err(
                run(&kind.body(1), store.as_ref()),
                403,
                "key_export_forbidden",
                &format!("{name} {kind:?}"),
            );
        }
        for kind in Kind::WITHOUT_KEY {
            expect_ok(
                run(&kind.body(1), store.as_ref()),
                &format!("{name} {kind:?}"),
            );
        }
    }
}

fn assert_no_backend_text(e: &cert_download::Error) {
    for text in renderings(e) {
        for fragment in [
            "hunter2",
            "10.20.30.40",
            "postgres",
            "/srv/secret",
            "refused",
        ] {
            assert!(
                !text.contains(fragment),
                "backend text {fragment:?} leaked: {text}"
            );
        }
    }
}

#[test]
fn a_backend_error_stays_in_source_for_the_host_only() {
    for store in [
        TestStore::fixtures().failing_certificate(backend_error),
        TestStore::fixtures().failing_private_key(backend_error),
    ] {
        let e = expect_err(
            run(&Kind::Pfx.body(1), &store),
            500,
            "store_failure",
            "backend",
        );
        assert_no_backend_text(&e);
        let source = std::error::Error::source(&e).expect("the backend error is the source");
        assert_eq!(source.to_string(), BACKEND_TEXT);
    }
}

/// What each fixture record answers to each kind of download.
fn expected_outcome(n: u64, kind: Kind) -> Result<(), (u16, &'static str)> {
    let with_key = kind.with_key();
    match n {
        _ if GOOD_IDS.contains(&n) => Ok(()),
        10 if with_key => Err((404, "key_not_found")),
        11 | 12 | 16 if with_key => Err((500, "key_mismatch")),
        13 => Err((500, "invalid_certificate")),
        17 if with_key => Err((500, "unsupported_key")),
        18 if with_key => Err((500, "invalid_key")),
        // Without the key, the stored key is not even loaded.
        10..=18 => Ok(()),
        MISSING_ID => Err((404, "certificate_not_found")),
        _ => unreachable!("record {n}"),
    }
}

fn all_ids() -> impl Iterator<Item = u64> {
    FIXTURE_IDS.chain([MISSING_ID])
}

#[test]
fn fixture_records_give_the_contract_statuses_from_both_stores() {
    let directory = TestStore::fixtures();
    let memory = TestStore::wrapping(fixture_memory_store());
    for (name, store) in [("directory", &directory), ("memory", &memory)] {
        for n in all_ids() {
            for kind in Kind::ALL {
                let what = format!("{name} store, record {n}, {kind:?}");
                let before = store.calls().1;
                match expected_outcome(n, kind) {
                    Ok(()) => {
                        let response = expect_ok(run(&kind.body(n), store), &what);
                        assert_eq!(response.includes_key(), kind.with_key(), "{what}");
                        assert_eq!(response.format().as_str(), kind.format(), "{what}");
                    }
                    Err((status, code)) => {
                        expect_err(run(&kind.body(n), store), status, code, &what);
                    }
                }
                if !kind.with_key() {
                    assert_eq!(store.calls().1, before, "{what}: private_key was called");
                }
            }
        }
    }
}

#[test]
fn directory_and_memory_stores_give_the_same_answers() {
    let directory = fixture_store();
    let memory = fixture_memory_store();
    assert_eq!(memory.len(), 21);
    let mut bodies: Vec<(String, Vec<u8>)> = Vec::new();
    for n in all_ids() {
        for kind in Kind::ALL {
            bodies.push((format!("record {n}, {kind:?}"), kind.body(n)));
        }
        for extra in [
            json!({"include_chain": false}),
            json!({"chain_order": "root_first"}),
            json!({"pfx_encryption": "tripledes_sha1", "friendly_name": "x"}),
        ] {
            let mut v = Kind::Pfx.json(n);
            for (k, x) in extra.as_object().expect("an object") {
                v[k] = x.clone();
            }
            bodies.push((format!("record {n}, pfx {extra}"), body(v)));
        }
    }
    for (what, body) in bodies {
        // Pinned salts and IVs: equal answers are equal bytes.
        match (run_pinned(&body, &directory), run_pinned(&body, &memory)) {
            (Ok(a), Ok(b)) => assert_eq!(a.to_json(), b.to_json(), "{what}"),
            (Err(a), Err(b)) => {
                assert_eq!((a.status(), a.code()), (b.status(), b.code()), "{what}");
            }
            (a, b) => panic!("{what}: directory {a:?}, memory {b:?}"),
        }
    }
}

#[test]
fn a_missing_record_directory_is_404() {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let store = DirectoryStore::new(tmp.path()).unwrap();
    for kind in Kind::ALL {
        expect_err(
            run(&kind.body(1), &store),
            404,
            "certificate_not_found",
            &format!("{kind:?}"),
        );
    }
    // A file where the record directory should be is not a record either.
    std::fs::write(tmp.path().join("1"), "not a directory").expect("write");
    expect_err(
        run(&Kind::Pem.body(1), &store),
        404,
        "certificate_not_found",
        "file",
    );
    // A store whose root does not exist, or is a file, is refused when it is made (a
    // mistyped path is found at start, not as a 404 on every request).
    let missing = DirectoryStore::new(tmp.path().join("nowhere")).unwrap_err();
    assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
    assert!(missing.to_string().contains("nowhere"), "{missing}");
    let file = DirectoryStore::new(tmp.path().join("1")).unwrap_err();
    assert_eq!(file.kind(), std::io::ErrorKind::NotADirectory);
    assert!(file.to_string().contains("is not a directory"), "{file}");
}

/// `der` with the `n`th occurrence of `from` replaced by `to` (same length, so the DER
/// stays well-formed; the signature no longer verifies, which ordering does not check).
fn replace_nth(der: &[u8], from: &[u8], to: &[u8], n: usize) -> CertificateDer<'static> {
    assert_eq!(from.len(), to.len());
    let at = der
        .windows(from.len())
        .enumerate()
        .filter(|(_, w)| *w == from)
        .map(|(i, _)| i)
        .nth(n)
        .expect("the occurrence exists");
    let mut out = der.to_vec();
    out[at..at + to.len()].copy_from_slice(to);
    CertificateDer::from(out)
}

/// Downloads `kind` of a record made of `leaf`, `issuers` and record 1's key from a
/// `MemoryStore`.
fn run_record(
    leaf: CertificateDer<'static>,
    issuers: Vec<CertificateDer<'static>>,
    request: Vec<u8>,
) -> Result<cert_download::DownloadResponse, cert_download::Error> {
    let mut store = cert_download::MemoryStore::new();
    store.insert(
        id(1),
        cert_download::store::MemoryEntry::new(leaf)
            .with_issuers(issuers)
            .with_key(fixture_key(1)),
    );
    run(&request, &store)
}

#[test]
fn a_loop_in_the_issuer_links_ends_the_walk() {
    let root = ca_cert("root");
    let int_rsa = ca_cert("intermediate-rsa");
    // root': subject Root, issuer Loop; loop': subject Loop, issuer Root.
    let root_issued_by_loop = replace_nth(&root, b"Test Root CA", b"Test Loop CA", 0);
    let loop_issued_by_root = replace_nth(&root, b"Test Root CA", b"Test Loop CA", 1);
    let (leaf, _) = fixture_record(1);
    let stored = vec![
        loop_issued_by_root.clone(),
        root_issued_by_loop.clone(),
        CertificateDer::from(int_rsa.clone()),
    ];
    let expected = vec![
        fixture_leaf(1),
        int_rsa,
        root_issued_by_loop.to_vec(),
        loop_issued_by_root.to_vec(),
    ];
    for (order, kind) in [("leaf_first", Kind::Pem), ("root_first", Kind::PemKey)] {
        let mut v = kind.json(1);
        v["chain_order"] = Value::from(order);
        let response = expect_ok(
            run_record(leaf.clone(), stored.clone(), body(v)),
            "a looping chain",
        );
        let mut want = expected.clone();
        if order == "root_first" {
            want.reverse();
        }
        assert!(pem_certs_of(&response) == want, "{order}: wrong order");
    }
    // A pfx of the same record is encoded too.
    expect_ok(
        run_record(leaf, stored, Kind::Pfx.body(1)),
        "a looping chain, pfx",
    );
}

#[test]
fn copies_of_the_leaf_and_of_issuers_go_out_once() {
    let root = CertificateDer::from(ca_cert("root"));
    let int_rsa = CertificateDer::from(ca_cert("intermediate-rsa"));
    let (leaf, _) = fixture_record(1);
    let stored = vec![
        leaf.clone(),
        root.clone(),
        int_rsa.clone(),
        root.clone(),
        leaf.clone(),
        int_rsa.clone(),
    ];
    let response = expect_ok(
        run_record(leaf.clone(), stored, Kind::Pem.body(1)),
        "duplicates",
    );
    assert!(
        pem_certs_of(&response) == vec![leaf.to_vec(), int_rsa.to_vec(), root.to_vec()],
        "each certificate once, in link order"
    );
}

#[test]
fn stored_material_that_does_not_parse_is_500() {
    let (leaf, issuers) = fixture_record(1);
    for bad_leaf in [
        CertificateDer::from(Vec::new()),
        CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x01]),
        CertificateDer::from(leaf[..leaf.len() - 1].to_vec()),
    ] {
        for kind in Kind::ALL {
            expect_err(
                run_record(bad_leaf.clone(), issuers.clone(), kind.body(1)),
                500,
                "invalid_certificate",
                &format!("a leaf of {} bytes, {kind:?}", bad_leaf.len()),
            );
        }
    }
    // An issuer that does not parse, when the chain goes out.
    let mut bad_chain = issuers.clone();
    bad_chain.push(CertificateDer::from(b"not a certificate".to_vec()));
    for kind in [Kind::Pfx, Kind::Pem, Kind::PemKey] {
        expect_err(
            run_record(leaf.clone(), bad_chain.clone(), kind.body(1)),
            500,
            "invalid_chain",
            &format!("a bad issuer, {kind:?}"),
        );
    }
    // crt is the single leaf: its issuers are not used, so they are not parsed (the crate's
    // reading; the same holds for include_chain false).
    for kind in [Kind::Crt, Kind::CrtKey] {
        expect_ok(
            run_record(leaf.clone(), bad_chain.clone(), kind.body(1)),
            &format!("a bad issuer, {kind:?}"),
        );
    }
    let mut v = Kind::Pem.json(1);
    v["include_chain"] = Value::from(false);
    expect_ok(
        run_record(leaf, bad_chain, body(v)),
        "a bad issuer, include_chain false",
    );
}

#[test]
fn directory_store_records_with_unusable_files_are_500() {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let fixture =
        |file: &str| std::fs::read(fixture_root().join("1").join(file)).expect("a fixture file");
    // An encrypted key, as this crate writes it: not a stored key it can use.
    let encrypted = run(&Kind::PemKey.body(1), &fixture_store()).expect("pem+key");
    let encrypted_key = String::from_utf8(encrypted.certificate().to_vec())
        .expect("PEM")
        .split_inclusive('\n')
        .skip_while(|l| !l.contains("ENCRYPTED PRIVATE KEY"))
        .collect::<String>();
    let big_chain = {
        let mut chain = fixture("chain.pem");
        chain.resize(5 * 1024 * 1024, b'\n');
        chain
    };
    type Files = Vec<(&'static str, Vec<u8>)>;
    type Answer = Option<(u16, &'static str)>;
    let records: Vec<(u64, Files, [Answer; 2])> = vec![
        // (id, files, [answer with key, answer without key])
        (
            2,
            vec![("chain.pem", fixture("chain.pem"))],
            [
                Some((500, "invalid_certificate")),
                Some((500, "invalid_certificate")),
            ],
        ),
        (
            3,
            vec![("cert.pem", Vec::new()), ("key.pem", fixture("key.pem"))],
            [
                Some((500, "invalid_certificate")),
                Some((500, "invalid_certificate")),
            ],
        ),
        (
            4,
            vec![
                ("cert.pem", fixture("cert.pem")),
                ("key.pem", encrypted_key.into_bytes()),
            ],
            [Some((500, "invalid_key")), None],
        ),
        (
            5,
            vec![("cert.pem", fixture("cert.pem")), ("key.pem", Vec::new())],
            [Some((500, "invalid_key")), None],
        ),
        (
            6,
            vec![("cert.pem", fixture("cert.pem")), ("chain.pem", big_chain)],
            [Some((500, "store_failure")), Some((500, "store_failure"))],
        ),
    ];
    for (n, files, _) in &records {
        let dir = tmp.path().join(n.to_string());
        std::fs::create_dir(&dir).expect("mkdir");
        for (name, content) in files {
            std::fs::write(dir.join(name), content).expect("write");
        }
    }
    let store = DirectoryStore::new(tmp.path()).unwrap();
    let root_text = tmp.path().to_string_lossy().into_owned();
    for (n, _, [with_key, without_key]) in records {
        for kind in Kind::ALL {
            let what = format!("record {n}, {kind:?}");
            let expected = if kind.with_key() {
                with_key
            } else {
                without_key
            };
            match expected {
                Some((status, code)) => {
                    let e = expect_err(run(&kind.body(n), &store), status, code, &what);
                    for text in renderings(&e) {
                        assert!(
                            !text.contains(&root_text),
                            "{what}: the path leaked: {text}"
                        );
                    }
                }
                None => {
                    expect_ok(run(&kind.body(n), &store), &what);
                }
            }
        }
    }
}

#[test]
fn prepared_from_record_checks_material_the_host_loaded() {
    use zeroize::Zeroizing;
    let record = || {
        let (leaf, issuers) = fixture_record(1);
        cert_download::CertificateRecord::new(leaf, issuers)
    };
    let key = |n: u64| Some(Zeroizing::new(fixture_key(n).expect("a key")));
    let request = |kind: Kind| DownloadRequest::from_json(&kind.body(1)).expect("valid");
    expect_err(
        cert_download::Prepared::from_record(request(Kind::CrtKey), record(), None),
        404,
        "key_not_found",
        "no key given",
    );
    expect_err(
        cert_download::Prepared::from_record(request(Kind::Pfx), record(), key(2)),
        500,
        "key_mismatch",
        "another record's key",
    );
    let prepared = cert_download::Prepared::from_record(request(Kind::Pem), record(), key(2))
        .expect("no key goes out: the key given is not used");
    let response = prepared
        .encode(&fast_policy(), &mut OsRandom)
        .expect("encodes");
    assert!(!response.includes_key());
    let prepared = cert_download::Prepared::from_record(request(Kind::PemKey), record(), key(1))
        .expect("the right key");
    assert!(
        prepared
            .encode(&fast_policy(), &mut OsRandom)
            .expect("encodes")
            .includes_key()
    );
}
