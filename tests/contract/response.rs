//! The response: its JSON fields, the crt and pem files, encrypted keys, the chain order,
//! fresh salts.

use super::*;

// ---------------------------------------------------------------------------------------
// The response
// ---------------------------------------------------------------------------------------

#[test]
fn response_json_has_the_contract_fields_in_order() {
    let store = fixture_store();
    for &n in GOOD_IDS {
        for kind in Kind::ALL {
            let what = format!("record {n}, {kind:?}");
            let response = expect_ok(run(&kind.body(n), &store), &what);
            let json = response.to_json();
            let fields = ordered_fields(&json);
            let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
            let expected: &[&str] = if kind == Kind::CrtKey {
                &["certificate", "format", "key", "key_format"]
            } else {
                &["certificate", "format"]
            };
            assert_eq!(names, expected, "{what}");
            assert_eq!(fields[1].1, Value::from(kind.format()), "{what}");
            let Value::String(certificate) = &fields[0].1 else {
                panic!("{what}: certificate is not a string");
            };
            assert_eq!(strict_base64(certificate), response.certificate(), "{what}");
            if kind == Kind::CrtKey {
                let Value::String(key) = &fields[2].1 else {
                    panic!("{what}: key is not a string");
                };
                assert_eq!(
                    Some(strict_base64(key).as_slice()),
                    response.key(),
                    "{what}"
                );
                assert_eq!(fields[3].1, Value::from("key"), "{what}");
            } else {
                assert!(response.key().is_none(), "{what}");
            }
            assert!(!json.contains('\n'), "{what}: one line");
            // serde's view of the response is the same body.
            assert_eq!(
                serde_json::to_string(&response).expect("serializes"),
                json,
                "{what}"
            );
        }
    }
}

#[test]
fn crt_is_exactly_the_leaf_der_whatever_the_chain_options() {
    let store = fixture_store();
    for &n in GOOD_IDS {
        let leaf = fixture_leaf(n);
        for extra in [
            json!({}),
            json!({"include_chain": true, "chain_order": "root_first"}),
            json!({"include_chain": false}),
        ] {
            for kind in [Kind::Crt, Kind::CrtKey] {
                let mut v = kind.json(n);
                for (k, x) in extra.as_object().expect("an object") {
                    v[k] = x.clone();
                }
                let response = expect_ok(run(&body(v), &store), &format!("{n} {extra}"));
                assert_eq!(
                    response.certificate(),
                    leaf.as_slice(),
                    "record {n} {extra}"
                );
            }
        }
    }
}

/// The PBES2 parameters of a DER `EncryptedPrivateKeyInfo`: (salt, iterations, IV), after
/// checking the algorithms of the contract.
fn pbes2_params(der: &[u8]) -> (Vec<u8>, u32, [u8; 16]) {
    let info = EncryptedPrivateKeyInfoRef::try_from(der).expect("an EncryptedPrivateKeyInfo");
    let params = info.encryption_algorithm.pbes2().expect("PBES2, not PBES1");
    let pbkdf2 = params.kdf.pbkdf2().expect("PBKDF2, not scrypt");
    assert_eq!(
        pbkdf2.prf,
        pbes2::Pbkdf2Prf::HmacWithSha256,
        "PBKDF2-HMAC-SHA256"
    );
    let pbes2::EncryptionScheme::Aes256Cbc { iv } = params.encryption else {
        panic!("AES-256-CBC expected, got {:?}", params.encryption);
    };
    let salt = pbkdf2.salt.as_ref().to_vec();
    assert_eq!(salt.len(), 16, "a 16-byte salt");
    (salt, pbkdf2.iteration_count, iv)
}

/// The PrivateKeyInfo DER of an encrypted key, decrypted with `password`.
fn decrypt_key(der: &[u8], password: &str) -> Vec<u8> {
    let info = EncryptedPrivateKeyInfoRef::try_from(der).expect("an EncryptedPrivateKeyInfo");
    info.decrypt(password)
        .expect("decrypts with the password")
        .as_bytes()
        .to_vec()
}

#[test]
fn crt_key_is_pbes2_encrypted_pkcs8_of_the_stored_key() {
    let store = fixture_store();
    for &n in GOOD_IDS {
        let response = expect_ok(run(&Kind::CrtKey.body(n), &store), &format!("{n}"));
        let key = response.key().expect("crt with key carries the key");
        let (_, iterations, _) = pbes2_params(key);
        assert_eq!(iterations, 1, "the policy's iteration count");
        let plain = decrypt_key(key, PASSWORD);
        let info = pkcs8::PrivateKeyInfoRef::try_from(plain.as_slice()).expect("PKCS#8");
        let stored = fixture_key(n).expect("a stored key");
        if let cert_download::PrivateKeyDer::Pkcs8(k) = &stored {
            assert_eq!(plain, k.secret_pkcs8_der(), "record {n}: the stored PKCS#8");
        }
        // The key's algorithm is the leaf's.
        let leaf = x509_cert::Certificate::from_der(&fixture_leaf(n)).expect("leaf parses");
        assert_eq!(
            info.algorithm.oid,
            leaf.tbs_certificate()
                .subject_public_key_info()
                .algorithm
                .oid,
            "record {n}"
        );
        // A wrong password does not decrypt it.
        let wrong = EncryptedPrivateKeyInfoRef::try_from(key).expect("parses");
        assert!(wrong.decrypt("Wr0ng-Passw0rd").is_err(), "record {n}");
    }
}

#[test]
fn the_default_policy_iterates_10000_times() {
    let response = expect_ok(
        download_json(
            &Kind::CrtKey.body(4),
            &fixture_store(),
            &ExportPolicy::DEFAULT,
            &mut OsRandom,
        ),
        "default policy",
    );
    let (_, iterations, _) = pbes2_params(response.key().expect("a key"));
    assert_eq!(iterations, 10_000);
}

fn subject_and_issuer(der: &[u8]) -> (x509_cert::name::Name, x509_cert::name::Name) {
    let cert = x509_cert::Certificate::from_der(der).expect("a certificate");
    let tbs = cert.tbs_certificate();
    (tbs.subject().clone(), tbs.issuer().clone())
}

#[test]
fn pem_chain_is_ordered_by_issuer_links() {
    let root = ca_cert("root");
    let int_rsa = ca_cert("intermediate-rsa");
    let int_ec = ca_cert("intermediate-ec");
    let (_, chain20) = fixture_record(20);
    let unrelated: Vec<u8> = chain20
        .iter()
        .map(|c| c.to_vec())
        .find(|c| *c != root && *c != int_rsa)
        .expect("record 20 holds an unrelated CA");
    let rsa_chain = |n: u64| vec![fixture_leaf(n), int_rsa.clone(), root.clone()];
    let ec_chain = |n: u64| vec![fixture_leaf(n), int_ec.clone(), root.clone()];
    let cases: Vec<(u64, Vec<Vec<u8>>)> = vec![
        (1, rsa_chain(1)), // stored root first
        (2, rsa_chain(2)),
        (5, ec_chain(5)), // stored root first
        (4, ec_chain(4)),
        (9, rsa_chain(9)),
        (15, vec![fixture_leaf(15)]), // no chain stored
        (20, {
            let mut c = rsa_chain(20);
            c.push(unrelated.clone()); // after the linked chain
            c
        }),
        (21, rsa_chain(21)), // the duplicate intermediate goes out once
    ];
    let store = fixture_store();
    for (n, leaf_first) in cases {
        for (order, include_chain, key) in [
            ("leaf_first", true, false),
            ("root_first", true, false),
            ("leaf_first", false, false),
            ("root_first", false, false),
            ("leaf_first", true, true),
            ("root_first", true, true),
            ("root_first", false, true),
        ] {
            let what = format!("record {n}, {order}, include_chain {include_chain}, key {key}");
            let mut v = if key { Kind::PemKey } else { Kind::Pem }.json(n);
            v["chain_order"] = Value::from(order);
            v["include_chain"] = Value::from(include_chain);
            let response = expect_ok(run(&body(v), &store), &what);
            let mut blocks = pem_blocks(response.certificate());
            if key {
                let (label, der) = blocks.pop().expect("a key block");
                assert_eq!(label, "ENCRYPTED PRIVATE KEY", "{what}: the key comes last");
                pbes2_params(&der);
            }
            assert!(
                blocks.iter().all(|(label, _)| label == "CERTIFICATE"),
                "{what}: one key block at most, after the certificates"
            );
            let certs: Vec<Vec<u8>> = blocks.into_iter().map(|(_, der)| der).collect();
            let mut expected = if include_chain {
                leaf_first.clone()
            } else {
                vec![fixture_leaf(n)]
            };
            if order == "root_first" {
                expected.reverse();
            }
            assert_eq!(
                certs.len(),
                expected.len(),
                "{what}: number of certificates"
            );
            assert!(certs == expected, "{what}: wrong certificates or order");
            // The same text through an independent PEM reader.
            let reread: Vec<Vec<u8>> = CertificateDer::pem_slice_iter(response.certificate())
                .map(|c| c.expect("a certificate block").to_vec())
                .collect();
            assert_eq!(reread, certs, "{what}");
        }
    }
}

#[test]
fn pem_chains_link_leaf_to_root_for_every_good_record() {
    let store = fixture_store();
    for &n in GOOD_IDS.iter().filter(|&&n| n != 20) {
        let response = expect_ok(run(&Kind::Pem.body(n), &store), &format!("{n}"));
        let certs: Vec<Vec<u8>> = pem_blocks(response.certificate())
            .into_iter()
            .map(|(_, der)| der)
            .collect();
        assert_eq!(certs[0], fixture_leaf(n), "record {n}: the leaf first");
        for pair in certs.windows(2) {
            let (_, issuer) = subject_and_issuer(&pair[0]);
            let (subject, _) = subject_and_issuer(&pair[1]);
            assert_eq!(
                issuer, subject,
                "record {n}: each next certificate issued the last"
            );
        }
        let unique: std::collections::HashSet<_> = certs.iter().collect();
        assert_eq!(
            unique.len(),
            certs.len(),
            "record {n}: no certificate twice"
        );
        if n != 15 {
            let (subject, issuer) = subject_and_issuer(certs.last().expect("a root"));
            assert_eq!(subject, issuer, "record {n}: ends with the root");
        }
    }
}

#[test]
fn each_download_draws_a_fresh_salt_and_iv() {
    let store = fixture_store();
    let keys: Vec<Vec<u8>> = (0..2)
        .map(|_| {
            let r = expect_ok(run(&Kind::CrtKey.body(1), &store), "crt+key");
            r.key().expect("a key").to_vec()
        })
        .collect();
    assert_ne!(
        keys[0], keys[1],
        "two encryptions of the same key are different"
    );
    let (salt_a, _, iv_a) = pbes2_params(&keys[0]);
    let (salt_b, _, iv_b) = pbes2_params(&keys[1]);
    assert_ne!(salt_a, salt_b, "a fresh salt");
    assert_ne!(iv_a, iv_b, "a fresh IV");
    assert_ne!(
        salt_a.as_slice(),
        iv_a.as_slice(),
        "salt and IV are not one draw"
    );
    for kind in [Kind::PemKey, Kind::Pfx] {
        let a = expect_ok(run(&kind.body(1), &store), "first");
        let b = expect_ok(run(&kind.body(1), &store), "second");
        assert_ne!(a.certificate(), b.certificate(), "{kind:?}");
    }
    // The random source is injectable: the same draws give the same bytes.
    for kind in Kind::WITH_KEY {
        let a = expect_ok(run_pinned(&kind.body(1), &store), "pinned");
        let b = expect_ok(run_pinned(&kind.body(1), &store), "pinned");
        assert_eq!(a, b, "{kind:?} with pinned salts and IVs");
    }
}

#[test]
fn the_rust_api_gives_the_same_files_as_the_json_api() {
    let store = fixture_store();
    let policy = fast_policy();
    let crt = download(DownloadRequest::crt(id(1)), &store).expect("crt");
    assert_eq!(crt.certificate(), fixture_leaf(1).as_slice());
    let pem = download(DownloadRequest::pem(id(5)), &store).expect("pem");
    assert_eq!(
        pem.to_json(),
        run(&Kind::Pem.body(5), &store).expect("pem").to_json()
    );
    let request = DownloadRequest::from_json(&Kind::PemKey.body(4)).expect("parses");
    let prepared = prepare(request, &store).expect("prepared");
    let a = prepared.encode(&policy, &mut Counter(0)).expect("encodes");
    let b = run_pinned(&Kind::PemKey.body(4), &store).expect("json");
    assert_eq!(a, b);
}

#[test]
fn pfx_mac_iterations_are_left_out_when_1() {
    use der::Encode;
    use der::asn1::Any;
    // PFX ::= SEQUENCE { version, authSafe, macData }; MacData ::= SEQUENCE { mac,
    // macSalt, iterations INTEGER DEFAULT 1 }: DER leaves a DEFAULT value out.
    for (iterations, fields) in [(1, 2), (1000, 3)] {
        let policy = ExportPolicy::with_iterations(iterations).expect("a policy");
        for encryption in ["aes256_sha256", "tripledes_sha1"] {
            let mut v = Kind::Pfx.json(1);
            v["pfx_encryption"] = Value::from(encryption);
            let what = format!("{encryption}, {iterations} iterations");
            let response = expect_ok(
                download_json(&body(v), &fixture_store(), &policy, &mut OsRandom),
                &what,
            );
            let pfx = Vec::<Any>::from_der(response.certificate()).expect("a SEQUENCE");
            assert_eq!(pfx.len(), 3, "{what}: version, authSafe, macData");
            let mac_data = pfx[2].to_der().expect("re-encodes");
            let mac_data = Vec::<Any>::from_der(&mac_data).expect("MacData");
            assert_eq!(mac_data.len(), fields, "{what}: MacData fields");
            if fields == 3 {
                assert_eq!(mac_data[2].value(), [0x03, 0xe8], "{what}: 1000");
            }
        }
    }
}

#[test]
fn the_api_types_cross_threads() {
    fn send_static<T: Send + 'static>() {}
    fn send_sync<T: Send + Sync + 'static>() {}
    send_static::<cert_download::Prepared>();
    send_static::<DownloadRequest>();
    send_sync::<cert_download::DownloadResponse>();
    send_sync::<cert_download::Error>();
    send_sync::<DirectoryStore>();
    send_sync::<cert_download::MemoryStore>();
}
