//! The password: when it is required, its type, and the password policy.

use super::*;

// ---------------------------------------------------------------------------------------
// password
// ---------------------------------------------------------------------------------------

#[test]
fn password_missing_empty_or_null_when_a_key_goes_out_is_400_password_required() {
    let mut cases = Vec::new();
    for password in [None, Some("\"\""), Some("null")] {
        let extra: Vec<(&str, &str)> = password.iter().map(|p| ("password", *p)).collect();
        for (kind, body) in keyed_with(&extra) {
            cases.push(reject(
                format!("{kind} password {password:?}"),
                body,
                "password_required",
            ));
        }
    }
    let errors = check_rejections(&cases);
    assert!(errors[0].message().contains("pfx"), "{:?}", errors[0]);
}

#[test]
fn password_of_another_type_is_400_invalid_password() {
    #[rustfmt::skip]
    let raws = [
        "12345678", "123456789012", "1.5", "true", "false", "[]", "[\"Sup3r-S3cret-Pa55\"]",
        "{}", "{\"password\":\"Sup3r-S3cret-Pa55\"}",
    ];
    let mut cases = Vec::new();
    for raw in raws {
        for (kind, body) in keyed_with(&[("password", raw)]) {
            cases.push(reject(
                format!("{kind} password {raw}"),
                body,
                "invalid_password",
            ));
        }
        // The table types password as a string; the crate refuses another type even when
        // no key goes out (the value would be ignored, the type is still checked).
        cases.push(reject(
            format!("pem without key, password {raw}"),
            pem_with(&[("password", raw)]),
            "invalid_password",
        ));
    }
    check_rejections(&cases);
}

#[test]
fn password_is_ignored_when_no_key_is_produced() {
    let control = q("pass\u{1}word");
    let long = q(&"x".repeat(2000));
    let cases: Vec<Vec<u8>> = vec![
        pem_with(&[("password", "\"abc\"")]),
        pem_with(&[("password", "\"\"")]),
        pem_with(&[("password", "null")]),
        pem_with(&[("password", &control)]),
        pem_with(&[("password", &long)]),
        pem_with(&[("password", "\"abc\""), ("download_key", "false")]),
        pem_with(&[("password", "\"abc\""), ("download_key", "\"FALSE\"")]),
        obj(&[("id", "1"), ("format", "\"crt\""), ("password", "\"abc\"")]),
        obj(&[
            ("id", "1"),
            ("format", "\"crt\""),
            ("download_key", "null"),
            ("password", "\"\""),
        ]),
    ];
    let store = TestStore::fixtures();
    for body in &cases {
        let what = String::from_utf8_lossy(body).into_owned();
        let request = accept(body);
        assert!(!request.includes_key(), "{what}");
        assert!(
            request.password().is_none(),
            "{what}: the password is not kept"
        );
        let response = expect_ok(run(body, &store), &what);
        assert!(!response.includes_key(), "{what}");
    }
    assert_eq!(
        store.calls(),
        (cases.len(), 0),
        "private_key is never called"
    );
}

/// The password policy: (password, ok under the default policy: None or Some(code)).
fn policy_cases() -> Vec<(String, Option<&'static str>)> {
    let s = |p: &str| p.to_owned();
    vec![
        (s("1234567"), Some("password_too_short")),
        (s("12345678"), None),
        ("é".repeat(7), Some("password_too_short")), // 14 bytes, 7 characters
        ("é".repeat(8), None),
        ("😀".repeat(7), Some("password_too_short")), // 28 bytes, 7 characters
        ("😀".repeat(8), None),                       // characters, not bytes
        ("a".repeat(1024), None),
        ("a".repeat(1025), Some("password_too_long")),
        ("é".repeat(512), None), // 1024 bytes
        (format!("{}a", "é".repeat(512)), Some("password_too_long")),
        ("😀".repeat(256), None), // 1024 bytes
        ("😀".repeat(257), Some("password_too_long")),
        ("€".repeat(341), None), // 1023 bytes
        ("€".repeat(342), Some("password_too_long")),
        (s("pass\u{0}word"), Some("password_control_character")),
        (s("pass\nword1"), Some("password_control_character")),
        (s("pass\rword1"), Some("password_control_character")),
        (s("pass\tword1"), Some("password_control_character")),
        (s("\u{1b}[31mpassword"), Some("password_control_character")),
        (s("password\u{1f}"), Some("password_control_character")),
        (s("password\u{7f}"), Some("password_control_character")),
        // The contract's control characters are U+0000-U+001F and U+007F only.
        (s("pass\u{85}word"), None),
        (s("pässwörd1"), None),
        (s("пароль-пароль"), None),
        (s("        "), None),
        (s(PASSWORD), None),
    ]
}

#[test]
fn password_policy_defaults() {
    let mut rejections = Vec::new();
    let store = fixture_store();
    for (password, outcome) in policy_cases() {
        let password = q(&password);
        for (kind, body) in keyed_with(&[("password", &password)]) {
            let what = format!("{kind} password {}", truncate(&password, 40));
            match outcome {
                Some(code) => rejections.push(reject(what, body, code)),
                None => {
                    expect_ok(run(&body, &store), &what);
                }
            }
        }
    }
    check_rejections(&rejections);
}

#[test]
fn ascii_only_policy_refuses_non_ascii_passwords() {
    let policy = fast_ascii_only_policy();
    let ascii_only = policy.password_policy();
    let store = fixture_store();
    #[rustfmt::skip]
    let cases: &[(&str, Option<&str>)] = &[
        ("pässwörd1", Some("password_not_ascii")), ("😀😀😀😀😀😀😀😀", Some("password_not_ascii")),
        ("password\u{a0}", Some("password_not_ascii")), ("password1", None), (PASSWORD, None),
        ("short", Some("password_too_short")),
    ];
    for &(password, outcome) in cases {
        for (kind, body) in keyed_with(&[("password", &q(password))]) {
            let what = format!("ASCII-only, {kind} password {password:?}");
            let parsed = DownloadRequest::from_json_with_policy(&body, ascii_only);
            let downloaded = download_json(&body, &store, &policy, &mut OsRandom);
            match outcome {
                Some(code) => {
                    expect_err(parsed, 400, code, &what);
                    expect_err(downloaded, 400, code, &what);
                }
                None => {
                    expect_ok(parsed, &what);
                    expect_ok(downloaded, &what);
                }
            }
        }
        // The default policy accepts every one of them that is long enough.
        if password.chars().count() >= 8 {
            for (kind, body) in keyed_with(&[("password", &q(password))]) {
                expect_ok(
                    DownloadRequest::from_json(&body),
                    &format!("default policy, {kind} {password:?}"),
                );
            }
        }
    }
}
