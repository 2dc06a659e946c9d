//! Secrets stay secret: the password is never printed, echoed or kept; key bytes never
//! show up in errors; no private key leaves unencrypted.

#[path = "contract/support.rs"]
mod support;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use cert_download::{
    DownloadRequest, Error, OsRandom, Password, PasswordPolicy, StoreError, download_json, prepare,
};
use serde_json::{Value, json};
use support::*;

/// Forms of the password that must not appear in any text shown to anyone.
fn password_patterns() -> Vec<String> {
    vec![
        PASSWORD.to_owned(),
        "S3cret-Pa55".to_owned(),
        hex(PASSWORD.as_bytes()),
        STANDARD.encode(PASSWORD),
        format!("{:?}", PASSWORD.as_bytes()),
    ]
}

#[track_caller]
fn assert_no_password(text: &str, what: &str) {
    for pattern in password_patterns() {
        assert!(
            !text.contains(&pattern),
            "{what}: the password ({pattern}) shows in {text}"
        );
    }
}

/// The leak patterns of `keys`, computed once per test (it is not cheap).
fn key_patterns(keys: &[Vec<u8>]) -> Vec<String> {
    let public = public_blobs();
    let public: Vec<&[u8]> = public.iter().map(Vec::as_slice).collect();
    keys.iter()
        .flat_map(|key| leak_patterns(key, &public))
        .collect()
}

#[track_caller]
fn assert_error_hides(e: &Error, key_patterns: &[String], what: &str) {
    for text in renderings(e) {
        assert_no_password(&text, what);
        for pattern in key_patterns {
            assert!(
                !text.contains(pattern.as_str()),
                "{what}: key bytes ({pattern:.40}) show in {text}"
            );
        }
    }
}

/// Every fixture certificate: public, so a key window found in them proves nothing.
fn public_blobs() -> Vec<Vec<u8>> {
    FIXTURE_IDS
        .flat_map(|n| {
            let (leaf, issuers) = fixture_record(n);
            std::iter::once(leaf).chain(issuers).map(|c| c.to_vec())
        })
        .collect()
}

#[test]
fn debug_never_prints_the_password() {
    let password = Password::new(PASSWORD, &PasswordPolicy::DEFAULT).expect("a valid password");
    assert_no_password(&format!("{password:?}"), "Password");
    assert_no_password(&format!("{password:#?}"), "Password");

    let mut requests = vec![DownloadRequest::pfx(id(1), password)];
    for kind in Kind::WITH_KEY {
        let mut v = kind.json(1);
        v["friendly_name"] = Value::from("name");
        requests.push(DownloadRequest::from_json(&body(v)).expect("a valid request"));
    }
    let store = fixture_store();
    for request in requests {
        assert!(request.includes_key());
        assert!(
            request.password().is_some(),
            "the password is kept while the request lives"
        );
        assert_no_password(&format!("{request:?}"), "DownloadRequest");
        assert_no_password(&format!("{request:#?}"), "DownloadRequest");
        let prepared = prepare(request, &store).expect("record 1 prepares");
        let shown = format!("{prepared:?} {prepared:#?}");
        assert_no_password(&shown, "Prepared");
        let key = fixture_key_der(1).expect("record 1 has a key");
        for pattern in leak_patterns(&key, &[&fixture_leaf(1)]) {
            assert!(!shown.contains(&pattern), "Prepared shows the key: {shown}");
        }
        let response = prepared
            .encode(&fast_policy(), &mut OsRandom)
            .expect("encodes");
        assert_no_password(&format!("{response:?}"), "DownloadResponse");
        assert_no_password(&response.to_json(), "response body");
        assert!(
            !contains_bytes(response.certificate(), PASSWORD.as_bytes()),
            "the file holds the password"
        );
    }
}

/// Invalid bodies that carry the password, in the password field and elsewhere.
fn invalid_bodies_with_the_password() -> Vec<(String, Vec<u8>)> {
    let pfx = |extra: Value| {
        let mut v = Kind::Pfx.json(1);
        for (k, x) in extra.as_object().expect("an object") {
            v[k] = x.clone();
        }
        body(v)
    };
    let p = PASSWORD;
    let mut out: Vec<(String, Vec<u8>)> = vec![
        ("id 0".into(), pfx(json!({"id": 0}))),
        ("id text".into(), pfx(json!({"id": "x1"}))),
        ("format p12".into(), pfx(json!({"format": "p12"}))),
        ("include_chain".into(), pfx(json!({"include_chain": "x"}))),
        ("chain_order".into(), pfx(json!({"chain_order": "x"}))),
        ("friendly_name".into(), pfx(json!({"friendly_name": ""}))),
        ("pfx_encryption".into(), pfx(json!({"pfx_encryption": "x"}))),
        ("unknown field".into(), pfx(json!({"downloadKey": true}))),
        (
            "password + control".into(),
            pfx(json!({"password": format!("{p}\n")})),
        ),
        (
            "password + NUL".into(),
            pfx(json!({"password": format!("{p}\u{0}")})),
        ),
        (
            "password + DEL".into(),
            pfx(json!({"password": format!("\u{7f}{p}")})),
        ),
        (
            "password too long".into(),
            pfx(json!({"password": p.repeat(70)})),
        ),
        ("password in an array".into(), pfx(json!({"password": [p]}))),
        (
            "password in an object".into(),
            pfx(json!({"password": {"p": p}})),
        ),
        // The password where another field belongs.
        ("as id".into(), pfx(json!({"id": p}))),
        ("as format".into(), pfx(json!({"format": p}))),
        ("as include_chain".into(), pfx(json!({"include_chain": p}))),
        ("as chain_order".into(), pfx(json!({"chain_order": p}))),
        (
            "as pfx_encryption".into(),
            pfx(json!({"pfx_encryption": p})),
        ),
        (
            "as friendly_name + BEL".into(),
            pfx(json!({"friendly_name": format!("{p}\u{7}")})),
        ),
        (
            "as a long friendly_name".into(),
            pfx(json!({"friendly_name": p.repeat(4)})),
        ),
        (
            "as an unknown field's value".into(),
            pfx(json!({"passwd": p})),
        ),
        (
            "as pem download_key".into(),
            body(json!({"id": 1, "format": "pem", "download_key": p, "password": p})),
        ),
    ];
    let text = String::from_utf8(Kind::Pfx.body(1)).expect("UTF-8");
    let raw: Vec<(&str, Vec<u8>)> = vec![
        ("trailing garbage", format!("{text} {p}").into_bytes()),
        ("two objects", format!("{text}{text}").into_bytes()),
        (
            "password twice",
            format!(r#"{{"id":1,"format":"pfx","password":"{p}","password":"{p}"}}"#).into_bytes(),
        ),
        (
            "unterminated",
            format!(r#"{{"id":1,"format":"pfx","password":"{p}"#).into_bytes(),
        ),
        (
            "bad escape",
            format!(r#"{{"id":1,"format":"pfx","password":"{p}\x"}}"#).into_bytes(),
        ),
        (
            "bare password",
            format!(r#"{{"id":1,"format":"pfx","password":{p}}}"#).into_bytes(),
        ),
        (
            "invalid UTF-8 after the password",
            [
                format!(r#"{{"id":1,"format":"pfx","password":"{p}"#).as_bytes(),
                b"\xff\"}",
            ]
            .concat(),
        ),
        ("too large", {
            let mut b = text.clone().into_bytes();
            b.pop();
            b.extend(format!(",\"x\":\"{}\"}}", p.repeat(4000)).bytes());
            b
        }),
    ];
    out.extend(raw.into_iter().map(|(w, b)| (w.to_owned(), b)));
    out
}

#[test]
fn no_request_error_contains_the_password() {
    let ascii_only = fast_ascii_only_policy();
    let store = fixture_store();
    let mut bodies = invalid_bodies_with_the_password();
    assert!(
        bodies
            .iter()
            .all(|(_, b)| contains_bytes(b, PASSWORD.as_bytes())),
        "every body carries the password"
    );
    bodies.push((
        "non-ASCII under an ASCII-only policy".into(),
        body(json!({"id": 1, "format": "pfx", "password": format!("{PASSWORD}ü")})),
    ));
    for (what, body) in &bodies {
        let errors = [
            DownloadRequest::from_json(body).map(|_| ()),
            run(body, &store).map(|_| ()),
            download_json(body, &store, &ascii_only, &mut OsRandom).map(|_| ()),
        ];
        for result in errors {
            let e = match result {
                Ok(()) if what.starts_with("non-ASCII") => continue, // default policy
                Ok(()) => panic!("{what}: accepted"),
                Err(e) => e,
            };
            assert_eq!(e.status(), 400, "{what}: {e:?}");
            assert_error_hides(&e, &[], what);
        }
    }
}

#[test]
fn no_store_or_material_error_contains_the_password_or_key_bytes() {
    let store = fixture_store();
    // Records whose download fails after the store is asked, every failing kind.
    let all_keys: Vec<Vec<u8>> = FIXTURE_IDS.filter_map(fixture_key_der).collect();
    let patterns = key_patterns(&all_keys);
    for n in [10, 11, 12, 13, 16, 17, 18, MISSING_ID] {
        for kind in Kind::WITH_KEY {
            let what = format!("record {n}, {kind:?}");
            let e = run(&kind.body(n), &store).expect_err(&what);
            assert!([404, 500].contains(&e.status()), "{what}: {e:?}");
            assert_error_hides(&e, &patterns, &what);
        }
    }
    // Store answers, with the key asked for.
    let answers: [fn() -> StoreError; 6] = [
        || StoreError::Unauthenticated,
        || StoreError::Forbidden,
        || StoreError::KeyExportForbidden,
        || StoreError::KeyNotFound,
        || StoreError::InvalidKey,
        || StoreError::backend(format!("key store said no to {PASSWORD}")),
    ];
    for answer in answers {
        for kind in Kind::WITH_KEY {
            for store in [
                TestStore::fixtures().failing_certificate(answer),
                TestStore::fixtures().failing_private_key(answer),
            ] {
                let e = run(&kind.body(1), &store).expect_err("the store refuses");
                assert_error_hides(&e, &patterns, &format!("{kind:?}, {:?}", answer()));
            }
        }
    }
    for kind in Kind::WITH_KEY {
        let e = run(&kind.body(1), &fixture_store().deny_key_export()).expect_err("denied");
        assert_error_hides(&e, &patterns, "deny_key_export");
    }
}

#[test]
fn responses_without_the_key_hold_no_private_key() {
    let store = fixture_store();
    let ids = GOOD_IDS.iter().copied().chain([10, 11, 12, 16, 17, 18]);
    for n in ids {
        let key = fixture_key_der(n);
        for kind in Kind::WITHOUT_KEY {
            let what = format!("record {n}, {kind:?}");
            let mut v = kind.json(n);
            v["password"] = Value::from(PASSWORD); // ignored: no key goes out
            let response = expect_ok(run(&body(v), &store), &what);
            assert!(!response.includes_key(), "{what}");
            assert!(response.key().is_none(), "{what}");
            let json = response.to_json();
            assert_eq!(field_names(&json), ["certificate", "format"], "{what}");
            assert!(!json.contains("PRIVATE KEY"), "{what}");
            assert!(
                !contains_bytes(response.certificate(), b"PRIVATE KEY"),
                "{what}"
            );
            assert_no_password(&json, &what);
            if let Some(key) = &key {
                assert_no_key_bytes(response.certificate(), &json, key, n, &what);
            }
        }
    }
}

#[test]
fn responses_with_the_key_never_carry_it_in_the_clear() {
    let store = fixture_store();
    for &n in GOOD_IDS {
        let key = fixture_key_der(n).expect("good records have keys");
        for kind in Kind::WITH_KEY {
            let what = format!("record {n}, {kind:?}");
            let response = expect_ok(run(&kind.body(n), &store), &what);
            let json = response.to_json();
            assert_no_password(&json, &what);
            let mut files = response.certificate().to_vec();
            files.extend_from_slice(response.key().unwrap_or_default());
            assert!(!contains_bytes(&files, PASSWORD.as_bytes()), "{what}");
            assert_no_key_bytes(&files, &json, &key, n, &what);
            for label in [
                "BEGIN PRIVATE KEY",
                "BEGIN RSA PRIVATE KEY",
                "BEGIN EC PRIVATE KEY",
            ] {
                assert!(!contains_bytes(&files, label.as_bytes()), "{what}: {label}");
            }
        }
    }
}

#[track_caller]
fn assert_no_key_bytes(files: &[u8], json: &str, key: &[u8], n: u64, what: &str) {
    let leaf = fixture_leaf(n);
    let windows = secret_windows(key, &[&leaf]);
    assert!(
        windows.len() >= 2,
        "{what}: too few secret windows to check"
    );
    for window in windows {
        assert!(
            !contains_bytes(files, window),
            "{what}: the file holds plain key bytes"
        );
    }
    for pattern in leak_patterns(key, &[&leaf]) {
        assert!(!json.contains(&pattern), "{what}: the body holds key bytes");
    }
}
