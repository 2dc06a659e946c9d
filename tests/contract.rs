//! The contract of `POST /api/certificate/download` (../shared/CONTRACT.md), rule by rule:
//! the request table, the error table, the response shape, the chain order, and the two
//! stores that ship.

#[path = "contract/support.rs"]
mod support;
// The PKCS#12 reader that shares no code with the encoder.
mod common;

use cert_download::request::ChainOrder;
use cert_download::{
    CertificateDer, DirectoryStore, DownloadRequest, ErrorKind, ExportPolicy, Format,
    MAX_BODY_BYTES, OsRandom, PasswordPolicy, PfxEncryption, StoreError, download, download_json,
    prepare,
};
use der::Decode;
use pkcs8::EncryptedPrivateKeyInfoRef;
use pkcs8::pkcs5::pbes2;
use rustls_pki_types::pem::PemObject;
use serde_json::{Value, json};
use support::*;

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// A JSON string literal.
fn q(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

/// An object from raw `(name, JSON value text)` pairs, written as given (so duplicates,
/// big numbers and odd spellings survive).
fn obj(fields: &[(&str, &str)]) -> Vec<u8> {
    let inner: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}:{v}", q(k)))
        .collect();
    format!("{{{}}}", inner.join(",")).into_bytes()
}

/// One request the contract refuses with a 400 and this code.
struct Reject {
    what: String,
    body: Vec<u8>,
    code: &'static str,
}

fn reject(what: impl Into<String>, body: Vec<u8>, code: &'static str) -> Reject {
    Reject {
        what: what.into(),
        body,
        code,
    }
}

/// Every case is a 400 with its code from the parser, and the same 400 from
/// `download_json` with a store that panics when asked anything: the request is validated
/// completely before the store is asked. Returns the errors for further checks.
fn check_rejections(cases: &[Reject]) -> Vec<cert_download::Error> {
    assert!(!cases.is_empty());
    cases
        .iter()
        .map(|c| {
            let what = format!("{} (body {})", c.what, String::from_utf8_lossy(&c.body));
            let what = truncate(&what, 300);
            expect_err(run(&c.body, &PanicStore), 400, c.code, &what);
            expect_err(DownloadRequest::from_json(&c.body), 400, c.code, &what)
        })
        .collect()
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

#[track_caller]
fn accept(body: &[u8]) -> DownloadRequest {
    expect_ok(
        DownloadRequest::from_json(body),
        &truncate(&String::from_utf8_lossy(body), 300),
    )
}

/// The base fields of a key-less pem request for record 1.
const PEM: [(&str, &str); 2] = [("id", "1"), ("format", "\"pem\"")];

fn pem_with(extra: &[(&str, &str)]) -> Vec<u8> {
    let mut fields = PEM.to_vec();
    fields.extend_from_slice(extra);
    obj(&fields)
}

/// The base fields of the three requests that export the key, each with `extra` added.
fn keyed_with(extra: &[(&str, &str)]) -> Vec<(&'static str, Vec<u8>)> {
    let bases: [(&str, Vec<(&str, &str)>); 3] = [
        ("pfx", vec![("id", "1"), ("format", "\"pfx\"")]),
        (
            "pem+key",
            vec![("id", "1"), ("format", "\"pem\""), ("download_key", "true")],
        ),
        (
            "crt+key",
            vec![
                ("id", "1"),
                ("format", "\"crt\""),
                ("download_key", "\"TRUE\""),
            ],
        ),
    ];
    bases
        .into_iter()
        .map(|(name, mut fields)| {
            fields.extend_from_slice(extra);
            (name, obj(&fields))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// id
// ---------------------------------------------------------------------------------------

#[test]
fn id_accepts_integers_and_digit_strings_in_range() {
    #[rustfmt::skip]
    let cases: &[(&str, u64)] = &[
        ("12345", 12345), ("\"12345\"", 12345), ("1", 1), ("\"1\"", 1),
        ("9223372036854775807", 9_223_372_036_854_775_807),
        ("\"9223372036854775807\"", 9_223_372_036_854_775_807),
        // "a string of ASCII digits in that range": leading zeros are still digits.
        ("\"0001\"", 1),
    ];
    for &(raw, expected) in cases {
        let request = accept(&obj(&[("id", raw), ("format", "\"pem\"")]));
        assert_eq!(request.id().get(), expected, "id {raw}");
    }
    // Both spellings reach the store as the same record.
    let store = fixture_store();
    let as_number = expect_ok(
        run(&obj(&[("id", "1"), ("format", "\"crt\"")]), &store),
        "1",
    );
    let as_text = expect_ok(
        run(&obj(&[("id", "\"1\""), ("format", "\"crt\"")]), &store),
        "\"1\"",
    );
    assert_eq!(as_number, as_text);
}

#[test]
fn id_out_of_range_or_of_another_shape_is_400_invalid_id() {
    #[rustfmt::skip]
    let raws = [
        "0", "-1", "-0", "-9223372036854775808",
        "9223372036854775808", // 2^63
        "18446744073709551615", "18446744073709551616", "1.5", "1e3", "1E3", "1.0", "12345.0",
        "\"12a\"", "\"a12\"", "\" 12\"", "\"12 \"", "\"\"", "\"+12\"", "\"-1\"", "\"0\"",
        "\"000\"", "\"9223372036854775808\"", "\"99999999999999999999999999\"", "\"1.5\"",
        "\"1e3\"", "\"0x10\"",
        "\"１２\"", // fullwidth digits are not ASCII digits
        "\"١٢\"",   // Arabic-Indic digits neither
        "true", "false", "[]", "[1]", "{}", "{\"id\":1}",
    ];
    let cases: Vec<_> = raws
        .iter()
        .map(|raw| {
            reject(
                format!("id {raw}"),
                obj(&[("id", raw), ("format", "\"pem\"")]),
                "invalid_id",
            )
        })
        .collect();
    check_rejections(&cases);
}

#[test]
fn numbers_beyond_any_float_are_400() {
    // serde_json refuses these while parsing; any 400 with a request-error code is right.
    for raw in ["1e400", "-1e400"] {
        let body = obj(&[("id", raw), ("format", "\"pem\"")]);
        let e = DownloadRequest::from_json(&body).expect_err(raw);
        assert_eq!(e.status(), 400, "id {raw}: {e:?}");
        assert!(
            ["invalid_id", "invalid_json"].contains(&e.code()),
            "id {raw}: {e:?}"
        );
        assert_error_body(&e);
    }
}

// ---------------------------------------------------------------------------------------
// Missing fields
// ---------------------------------------------------------------------------------------

#[test]
fn missing_id_or_format_is_400_missing_field() {
    let cases = [
        reject("empty object", obj(&[]), "missing_field"),
        reject("no id", obj(&[("format", "\"pem\"")]), "missing_field"),
        reject("no format", obj(&[("id", "1")]), "missing_field"),
        reject(
            "no format, pfx fields",
            obj(&[("id", "1"), ("password", &q(PASSWORD))]),
            "missing_field",
        ),
        // null is absent.
        reject(
            "id null",
            obj(&[("id", "null"), ("format", "\"pem\"")]),
            "missing_field",
        ),
        reject(
            "format null",
            obj(&[("id", "1"), ("format", "null")]),
            "missing_field",
        ),
    ];
    let errors = check_rejections(&cases);
    assert!(errors[1].message().contains("id"), "{:?}", errors[1]);
    assert!(errors[2].message().contains("format"), "{:?}", errors[2]);
}

// ---------------------------------------------------------------------------------------
// format
// ---------------------------------------------------------------------------------------

#[test]
fn format_is_ascii_case_insensitive() {
    #[rustfmt::skip]
    let cases = [
        ("pem", Format::Pem), ("PEM", Format::Pem), ("Pem", Format::Pem), ("pEm", Format::Pem),
        ("crt", Format::Crt), ("CRT", Format::Crt), ("Crt", Format::Crt), ("pfx", Format::Pfx),
        ("PFX", Format::Pfx), ("Pfx", Format::Pfx), ("p7b", Format::P7b), ("P7B", Format::P7b),
        ("P7b", Format::P7b), ("p7B", Format::P7b),
    ];
    for (spelling, format) in cases {
        let body = obj(&[
            ("id", "1"),
            ("format", &q(spelling)),
            ("password", &q(PASSWORD)),
        ]);
        assert_eq!(accept(&body).format(), format, "format {spelling:?}");
        let response = expect_ok(run(&body, &fixture_store()), spelling);
        assert_eq!(response.format(), format);
        assert_eq!(
            string_field(&response.to_json(), "format").as_deref(),
            Some(format.as_str()),
            "the response says the lowercase format"
        );
    }
}

#[test]
fn other_formats_are_400_naming_the_supported_ones() {
    #[rustfmt::skip]
    let raws = [
        "\"p12\"", "\"pkcs12\"", "\"der\"", "\"cer\"", "\"key\"", "\"\"", "\" pem\"",
        "\"pem \"", "\"pém\"", "\"ＰＥＭ\"", "\"pem\\u0000\"", "\"pem,crt\"", "1", "true",
        "[\"pem\"]", "{\"pem\":true}", "\"p7c\"", "\"pkcs7\"", "\"p7\"", "\"p7b \"",
    ];
    let cases: Vec<_> = raws
        .iter()
        .map(|raw| {
            reject(
                format!("format {raw}"),
                obj(&[("id", "1"), ("format", raw), ("password", &q(PASSWORD))]),
                "unsupported_format",
            )
        })
        .collect();
    for e in check_rejections(&cases) {
        for name in ["pfx", "pem", "crt", "p7b"] {
            assert!(e.message().contains(name), "{name} not named in {e:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// download_key
// ---------------------------------------------------------------------------------------

#[test]
fn download_key_spellings_for_pem_and_crt() {
    #[rustfmt::skip]
    let cases: &[(Option<&str>, bool)] = &[
        (None, false), (Some("null"), false), (Some("true"), true), (Some("false"), false),
        (Some("\"true\""), true), (Some("\"TRUE\""), true), (Some("\"True\""), true),
        (Some("\"tRuE\""), true), (Some("\"false\""), false), (Some("\"FALSE\""), false),
        (Some("\"False\""), false),
    ];
    let store = fixture_store();
    for format in ["pem", "crt"] {
        for &(raw, wants_key) in cases {
            let mut fields = vec![
                ("id", "1"),
                (
                    "format",
                    if format == "pem" {
                        "\"pem\""
                    } else {
                        "\"crt\""
                    },
                ),
            ];
            let password = q(PASSWORD);
            fields.push(("password", &password));
            if let Some(raw) = raw {
                fields.push(("download_key", raw));
            }
            let body = obj(&fields);
            let what = format!("{format} download_key {raw:?}");
            assert_eq!(accept(&body).includes_key(), wants_key, "{what}");
            let response = expect_ok(run(&body, &store), &what);
            assert_eq!(response.includes_key(), wants_key, "{what}");
            let json = response.to_json();
            let key_fields = field_names(&json).contains(&"key".to_owned());
            assert_eq!(
                key_fields,
                wants_key && format == "crt",
                "{what}: {json:.100}"
            );
            let text = String::from_utf8_lossy(response.certificate()).into_owned();
            assert_eq!(
                text.contains("ENCRYPTED PRIVATE KEY"),
                wants_key && format == "pem",
                "{what}"
            );
        }
    }
}

#[test]
fn download_key_other_values_are_400_for_pem_and_crt() {
    #[rustfmt::skip]
    let raws = [
        "\"yes\"", "\"no\"", "\"1\"", "\"0\"", "\"\"", "\" true\"", "\"true \"", "\"t\"",
        "\"null\"", "1", "0", "1.0", "[]", "[true]", "{}",
    ];
    let mut cases = Vec::new();
    for format in ["\"pem\"", "\"crt\""] {
        for raw in raws {
            cases.push(reject(
                format!("{format} download_key {raw}"),
                obj(&[
                    ("id", "1"),
                    ("format", format),
                    ("download_key", raw),
                    ("password", &q(PASSWORD)),
                ]),
                "invalid_download_key",
            ));
        }
    }
    check_rejections(&cases);
}

#[test]
fn download_key_is_ignored_for_pfx() {
    #[rustfmt::skip]
    let raws = [
        "\"yes\"", "1", "0", "false", "\"false\"", "null", "[]", "{}", "true", "\"\"",
    ];
    let store = fixture_store();
    for raw in raws {
        let body = obj(&[
            ("id", "1"),
            ("format", "\"pfx\""),
            ("download_key", raw),
            ("password", &q(PASSWORD)),
        ]);
        let request = accept(&body);
        assert!(request.includes_key(), "pfx with download_key {raw}");
        let response = expect_ok(run(&body, &store), raw);
        assert!(response.includes_key(), "pfx with download_key {raw}");
        assert_eq!(response.format(), Format::Pfx);
    }
}

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
    let ascii_only = PasswordPolicy::builder()
        .ascii_only(true)
        .build()
        .expect("a valid password policy");
    let policy = ExportPolicy::builder()
        .all_iterations(1)
        .password_policy(ascii_only.clone())
        .build()
        .expect("a valid policy");
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
            let parsed = DownloadRequest::from_json_with_policy(&body, &ascii_only);
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

// ---------------------------------------------------------------------------------------
// include_chain, chain_order, friendly_name, pfx_encryption
// ---------------------------------------------------------------------------------------

#[test]
fn include_chain_is_a_boolean() {
    for (raw, expected) in [("true", true), ("false", false), ("null", true)] {
        assert_eq!(
            accept(&pem_with(&[("include_chain", raw)])).include_chain(),
            expected,
            "include_chain {raw}"
        );
    }
    assert!(accept(&pem_with(&[])).include_chain(), "default true");
    #[rustfmt::skip]
    let raws = [
        "\"true\"", "\"false\"", "1", "0", "\"yes\"", "\"\"", "[]", "{}",
    ];
    let cases: Vec<_> = raws
        .iter()
        .map(|raw| {
            reject(
                format!("include_chain {raw}"),
                pem_with(&[("include_chain", raw)]),
                "invalid_include_chain",
            )
        })
        .collect();
    check_rejections(&cases);
}

#[test]
fn chain_order_values() {
    for (raw, expected) in [
        ("\"leaf_first\"", ChainOrder::LeafFirst),
        ("\"root_first\"", ChainOrder::RootFirst),
        ("null", ChainOrder::LeafFirst),
    ] {
        assert_eq!(
            accept(&pem_with(&[("chain_order", raw)])).chain_order(),
            expected,
            "chain_order {raw}"
        );
    }
    assert_eq!(accept(&pem_with(&[])).chain_order(), ChainOrder::LeafFirst);
    // Only format is case-insensitive in the contract; the other values are exact.
    #[rustfmt::skip]
    let raws = [
        "\"ROOT_FIRST\"", "\"Leaf_First\"", "\"root-first\"", "\"rootfirst\"", "\"reverse\"",
        "\"\"", "1", "true", "[\"root_first\"]",
    ];
    let cases: Vec<_> = raws
        .iter()
        .map(|raw| {
            reject(
                format!("chain_order {raw}"),
                pem_with(&[("chain_order", raw)]),
                "invalid_chain_order",
            )
        })
        .collect();
    check_rejections(&cases);
}

#[test]
fn pfx_encryption_values() {
    for (raw, expected) in [
        ("\"aes256_sha256\"", Some(PfxEncryption::Aes256Sha256)),
        (
            "\"aes256_sha256_pbmac1\"",
            Some(PfxEncryption::Aes256Sha256Pbmac1),
        ),
        ("\"tripledes_sha1\"", Some(PfxEncryption::TripleDesSha1)),
        // Absent: the export policy's profile (see the test below).
        ("null", None),
    ] {
        for (kind, body) in keyed_with(&[("password", &q(PASSWORD)), ("pfx_encryption", raw)]) {
            assert_eq!(
                accept(&body).pfx_encryption(),
                expected,
                "{kind} pfx_encryption {raw}"
            );
            // PBMAC1 is made with at least 1,000 MAC iterations.
            let policy = ExportPolicy::builder()
                .all_iterations(1)
                .mac_iterations(1_000)
                .build()
                .expect("a policy");
            expect_ok(
                download_json(&body, &fixture_store(), &policy, &mut OsRandom),
                &format!("{kind} {raw}"),
            );
        }
    }
    #[rustfmt::skip]
    let raws = [
        "\"AES256_SHA256\"", "\"aes256\"", "\"aes128_sha256\"", "\"3des\"", "\"tripledes\"",
        "\"rc2_40\"", "\"\"", "1", "false", "{}",
        "\"AES256_SHA256_PBMAC1\"", "\"Aes256_Sha256_Pbmac1\"", "\"aes256_sha256_pbmac\"",
        "\"aes256-sha256-pbmac1\"", "\"pbmac1\"", "\" aes256_sha256_pbmac1\"",
        "[\"aes256_sha256_pbmac1\"]",
    ];
    let mut cases = Vec::new();
    for raw in raws {
        for (kind, body) in keyed_with(&[("password", &q(PASSWORD)), ("pfx_encryption", raw)]) {
            cases.push(reject(
                format!("{kind} pfx_encryption {raw}"),
                body,
                "invalid_pfx_encryption",
            ));
        }
        cases.push(reject(
            format!("pem pfx_encryption {raw}"),
            pem_with(&[("pfx_encryption", raw)]),
            "invalid_pfx_encryption",
        ));
    }
    check_rejections(&cases);
}

/// The MAC algorithm and the number of MacData fields of a PFX.
fn mac_of(pfx: &[u8]) -> (String, usize) {
    use der::Encode;
    use der::asn1::Any;
    let parsed = pkcs12::pfx::Pfx::from_der(pfx).expect("a PFX");
    let mac = parsed.mac_data.expect("a MAC");
    let fields = Vec::<Any>::from_der(&mac.to_der().expect("re-encodes"))
        .expect("MacData")
        .len();
    (mac.mac.algorithm.oid.to_string(), fields)
}

const SHA256: &str = "2.16.840.1.101.3.4.2.1";
const SHA1: &str = "1.3.14.3.2.26";
const PBMAC1: &str = "1.2.840.113549.1.5.14";

#[test]
fn the_export_policy_names_the_pfx_profile_of_requests_that_name_none() {
    let fast = |profile: Option<PfxEncryption>| {
        // PBMAC1 is made with at least 1,000 MAC iterations; the rest as few as possible.
        let builder = ExportPolicy::builder()
            .all_iterations(3)
            .mac_iterations(1_000);
        match profile {
            Some(p) => builder.pfx_encryption(p),
            None => builder,
        }
        .build()
        .expect("a policy")
    };
    for (policy_profile, raw, expected) in [
        // The default policy: aes256_sha256.
        (None, None, SHA256),
        (None, Some("aes256_sha256_pbmac1"), PBMAC1),
        (Some(PfxEncryption::Aes256Sha256Pbmac1), None, PBMAC1),
        (
            Some(PfxEncryption::Aes256Sha256Pbmac1),
            Some("null"),
            PBMAC1,
        ),
        // A request's own value wins over the policy's.
        (
            Some(PfxEncryption::Aes256Sha256Pbmac1),
            Some("aes256_sha256"),
            SHA256,
        ),
        (
            Some(PfxEncryption::Aes256Sha256Pbmac1),
            Some("tripledes_sha1"),
            SHA1,
        ),
        (Some(PfxEncryption::TripleDesSha1), None, SHA1),
        (
            Some(PfxEncryption::TripleDesSha1),
            Some("aes256_sha256_pbmac1"),
            PBMAC1,
        ),
    ] {
        let mut v = Kind::Pfx.json(4);
        match raw {
            Some("null") => v["pfx_encryption"] = Value::Null,
            Some(name) => v["pfx_encryption"] = Value::from(name),
            None => {}
        }
        let what = format!("policy {policy_profile:?}, request {raw:?}");
        let response = expect_ok(
            download_json(
                &body(v),
                &fixture_store(),
                &fast(policy_profile),
                &mut OsRandom,
            ),
            &what,
        );
        let (algorithm, fields) = mac_of(response.certificate());
        assert_eq!(algorithm, expected, "{what}");
        // PBMAC1 leaves MacData.iterations at its DEFAULT 1 (RFC 9879), and DER leaves a
        // DEFAULT value out; the PKCS#12 MAC writes its count (1,000 or 3 here).
        assert_eq!(fields, if expected == PBMAC1 { 2 } else { 3 }, "{what}");
    }
    assert_eq!(
        ExportPolicy::default().pfx_encryption(),
        PfxEncryption::Aes256Sha256
    );
}

#[test]
fn pbmac1_is_a_pfx_value_only() {
    // pem and crt ignore a valid pfx_encryption, as for the other values.
    for format in ["pem", "crt"] {
        let v = json!({"id": 1, "format": format, "pfx_encryption": "aes256_sha256_pbmac1"});
        let response = expect_ok(run(&body(v), &fixture_store()), format);
        assert_eq!(response.format().as_str(), format);
    }
}

#[test]
fn friendly_name_rules() {
    #[rustfmt::skip]
    let ok = [
        "a".to_owned(), "a".repeat(64), "é".repeat(64), "€".repeat(64), "証明書の名前".to_owned(),
        "my server 2025".to_owned(),
    ];
    let store = fixture_store();
    for name in &ok {
        for (kind, body) in keyed_with(&[("password", &q(PASSWORD)), ("friendly_name", &q(name))]) {
            let request = accept(&body);
            assert_eq!(
                request.friendly_name().map(|n| n.as_str()),
                Some(name.as_str()),
                "{kind}"
            );
            expect_ok(run(&body, &store), &format!("{kind} friendly_name {name}"));
        }
    }
    assert!(
        accept(&pem_with(&[("friendly_name", "null")]))
            .friendly_name()
            .is_none()
    );

    #[rustfmt::skip]
    let bad_names = [
        String::new(), "a".repeat(65), "é".repeat(65), "a\u{7}b".to_owned(),
        "tab\there".to_owned(), "new\nline".to_owned(), "del\u{7f}".to_owned(),
        "c1\u{85}control".to_owned(), "😀".to_owned(), "name 😀".to_owned(),
        "\u{10000}".to_owned(),
    ];
    let mut raws: Vec<String> = bad_names.iter().map(|n| q(n)).collect();
    raws.extend(["1", "true", "[]", "[\"name\"]", "{}"].map(str::to_owned));
    let mut cases = Vec::new();
    for raw in &raws {
        for (kind, body) in keyed_with(&[("password", &q(PASSWORD)), ("friendly_name", raw)]) {
            cases.push(reject(
                format!("{kind} friendly_name {raw}"),
                body,
                "invalid_friendly_name",
            ));
        }
        cases.push(reject(
            format!("pem friendly_name {raw}"),
            pem_with(&[("friendly_name", raw)]),
            "invalid_friendly_name",
        ));
    }
    check_rejections(&cases);
}

// ---------------------------------------------------------------------------------------
// Unknown and duplicate fields
// ---------------------------------------------------------------------------------------

#[test]
fn an_unknown_field_is_400_and_named() {
    #[rustfmt::skip]
    let names = [
        "downloadKey", "download-key", "DownloadKey", "Download_Key", "Id", "ID", "Format",
        "pass", "passwd", "includeChain", "chainOrder", "friendlyName", "pfxEncryption", "key",
        "id ", "",
    ];
    let mut cases = Vec::new();
    for name in names {
        for value in ["true", "null", "\"x\"", "{}"] {
            cases.push(reject(
                format!("unknown field {name:?}: {value}"),
                pem_with(&[(name, value), ("password", &q(PASSWORD))]),
                "unknown_field",
            ));
        }
    }
    // The typo of the contract: the key must not silently stay behind.
    cases.push(reject(
        "downloadKey with pfx",
        obj(&[
            ("id", "1"),
            ("format", "\"crt\""),
            ("downloadKey", "true"),
            ("password", &q(PASSWORD)),
        ]),
        "unknown_field",
    ));
    let errors = check_rejections(&cases);
    for (case, e) in cases.iter().zip(&errors) {
        let name = case.what.split('"').nth(1).unwrap_or("downloadKey");
        if !name.is_empty() {
            assert!(
                e.message().contains(name),
                "{}: the message does not name the field: {e:?}",
                case.what
            );
        }
    }
    // A very long name is named without flooding the message.
    let long = "x".repeat(5000);
    let e = expect_err(
        DownloadRequest::from_json(&pem_with(&[(&long, "1")])),
        400,
        "unknown_field",
        "long unknown field",
    );
    assert!(e.message().contains("xxxxxxxx"), "{e:?}");
    assert!(e.message().len() < 1000, "message of {}", e.message().len());
    // A name with quotes and line breaks keeps the body one JSON line.
    let e = expect_err(
        DownloadRequest::from_json(&pem_with(&[("a\"b\nc\u{0}", "1")])),
        400,
        "unknown_field",
        "odd unknown field",
    );
    assert_error_body(&e);
}

#[test]
fn a_field_given_twice_is_400_duplicate_field() {
    let password = q(PASSWORD);
    let cases = [
        (
            "id",
            obj(&[("id", "1"), ("id", "1"), ("format", "\"pem\"")]),
        ),
        (
            "id",
            obj(&[("id", "1"), ("format", "\"pem\""), ("id", "2")]),
        ),
        (
            "format",
            obj(&[("id", "1"), ("format", "\"pem\""), ("format", "\"pem\"")]),
        ),
        (
            "format",
            obj(&[("id", "1"), ("format", "\"pfx\""), ("format", "\"pem\"")]),
        ),
        (
            "download_key",
            pem_with(&[
                ("download_key", "false"),
                ("download_key", "true"),
                ("password", &password),
            ]),
        ),
        (
            "download_key",
            pem_with(&[("download_key", "null"), ("download_key", "null")]),
        ),
        (
            "password",
            obj(&[
                ("id", "1"),
                ("format", "\"pfx\""),
                ("password", &password),
                ("password", &password),
            ]),
        ),
        (
            "password",
            pem_with(&[("password", "null"), ("password", "\"x\"")]),
        ),
        (
            "include_chain",
            pem_with(&[("include_chain", "true"), ("include_chain", "false")]),
        ),
        (
            "chain_order",
            pem_with(&[
                ("chain_order", "\"leaf_first\""),
                ("chain_order", "\"leaf_first\""),
            ]),
        ),
        (
            "friendly_name",
            pem_with(&[("friendly_name", "\"a\""), ("friendly_name", "\"b\"")]),
        ),
        (
            "pfx_encryption",
            pem_with(&[
                ("pfx_encryption", "\"aes256_sha256\""),
                ("pfx_encryption", "\"tripledes_sha1\""),
            ]),
        ),
    ];
    let rejects: Vec<_> = cases
        .iter()
        .map(|(name, body)| reject(format!("{name} twice"), body.clone(), "duplicate_field"))
        .collect();
    let errors = check_rejections(&rejects);
    for ((name, _), e) in cases.iter().zip(&errors) {
        assert!(e.message().contains(name), "{name} not named in {e:?}");
    }
}

// ---------------------------------------------------------------------------------------
// The body as a whole
// ---------------------------------------------------------------------------------------

#[test]
fn a_body_that_is_not_one_utf8_json_object_is_400_invalid_json() {
    let valid = r#"{"id":1,"format":"pem"}"#;
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("empty", b"".to_vec()),
        ("blank", b"  \n ".to_vec()),
        ("text", b"hello".to_vec()),
        ("array", b"[]".to_vec()),
        ("array of the object", format!("[{valid}]").into_bytes()),
        ("string", b"\"{\\\"id\\\":1}\"".to_vec()),
        ("null", b"null".to_vec()),
        ("number", b"12345".to_vec()),
        ("boolean", b"true".to_vec()),
        ("open brace", b"{".to_vec()),
        ("unterminated", valid.as_bytes()[..valid.len() - 1].to_vec()),
        ("trailing garbage", format!("{valid} x").into_bytes()),
        ("trailing brace", format!("{valid}}}").into_bytes()),
        ("trailing comma", format!("{valid},").into_bytes()),
        ("two objects", format!("{valid}{valid}").into_bytes()),
        (
            "two objects, newline",
            format!("{valid}\n{valid}").into_bytes(),
        ),
        ("trailing comment", format!("{valid} // x").into_bytes()),
        (
            "comma before brace",
            br#"{"id":1,"format":"pem",}"#.to_vec(),
        ),
        ("single quotes", b"{'id':1,'format':'pem'}".to_vec()),
        ("bare names", b"{id:1,format:\"pem\"}".to_vec()),
        ("NaN", br#"{"id":NaN,"format":"pem"}"#.to_vec()),
        (
            "invalid UTF-8 in a string",
            b"{\"id\":1,\"format\":\"p\xffem\"}".to_vec(),
        ),
        (
            "invalid UTF-8 in a name",
            b"{\"id\":1,\"format\":\"pem\",\"\xc3\":1}".to_vec(),
        ),
        (
            "invalid UTF-8 before",
            [b"\xff".as_slice(), valid.as_bytes()].concat(),
        ),
        (
            "invalid UTF-8 after",
            [valid.as_bytes(), b"\xff".as_slice()].concat(),
        ),
        (
            "overlong UTF-8",
            b"{\"id\":1,\"format\":\"pem\",\"friendly_name\":\"\xc0\xaf\"}".to_vec(),
        ),
        (
            "lone surrogate escape",
            br#"{"id":1,"format":"pem","friendly_name":"\ud800"}"#.to_vec(),
        ),
        (
            "UTF-16",
            valid
                .encode_utf16()
                .flat_map(u16::to_le_bytes)
                .collect::<Vec<u8>>(),
        ),
        ("NUL after", [valid.as_bytes(), b"\0".as_slice()].concat()),
    ];
    let cases: Vec<_> = bodies
        .into_iter()
        .map(|(what, body)| reject(what, body, "invalid_json"))
        .collect();
    check_rejections(&cases);
    // White space around the object is fine.
    accept(format!(" \n\t{valid}\r\n ").as_bytes());
}

#[test]
fn a_body_over_64_kib_is_400() {
    assert_eq!(MAX_BODY_BYTES, 64 * 1024);
    let padded = |len: usize| {
        let mut body = br#"{"id":1,"format":"pem"}"#.to_vec();
        let tail = body.pop().expect("a closing brace");
        body.resize(len - 1, b' ');
        body.push(tail);
        assert_eq!(body.len(), len);
        body
    };
    // Exactly 64 KiB of valid JSON still parses, and downloads.
    let body = padded(MAX_BODY_BYTES);
    accept(&body);
    expect_ok(run(&body, &fixture_store()), "64 KiB body");

    let password = q(&"p".repeat(70 * 1024));
    let garbage = vec![b'x'; MAX_BODY_BYTES + 1];
    let cases = [
        reject("64 KiB + 1", padded(MAX_BODY_BYTES + 1), "body_too_large"),
        reject("70 KiB", padded(70 * 1024), "body_too_large"),
        reject("1 MiB", padded(1024 * 1024), "body_too_large"),
        reject("64 KiB + 1 of garbage", garbage, "body_too_large"),
        reject(
            "a 70 KiB password",
            obj(&[("id", "1"), ("format", "\"pfx\""), ("password", &password)]),
            "body_too_large",
        ),
    ];
    check_rejections(&cases);
}

#[test]
fn deeply_nested_json_is_400_not_a_crash() {
    let depth = 10_000;
    let arrays = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let objects = format!("{}1{}", "{\"a\":".repeat(8_000), "}".repeat(8_000));
    let unclosed = "[".repeat(depth);
    let mut bodies = Vec::new();
    for field in [
        "x",
        "id",
        "format",
        "download_key",
        "password",
        "friendly_name",
        "include_chain",
    ] {
        for nested in [&arrays, &objects, &unclosed] {
            bodies.push((field, pem_with(&[(field, nested)])));
        }
    }
    bodies.push(("top level", arrays.clone().into_bytes()));
    bodies.push(("top level", objects.clone().into_bytes()));
    for (field, body) in bodies {
        assert!(
            body.len() <= MAX_BODY_BYTES,
            "the body must be under the limit"
        );
        for result in [
            DownloadRequest::from_json(&body).map(|_| ()),
            run(&body, &PanicStore).map(|_| ()),
        ] {
            let e = result.expect_err(field);
            assert_eq!(e.status(), 400, "nested in {field}: {e:?}");
            // The parser's depth limit (invalid_json) or the field's own rule: a 400
            // either way. What matters is that nothing overflows the stack.
            assert!(
                [
                    "invalid_json",
                    "unknown_field",
                    "invalid_id",
                    "unsupported_format",
                    "invalid_download_key",
                    "invalid_password",
                    "invalid_friendly_name",
                    "invalid_include_chain",
                ]
                .contains(&e.code()),
                "nested in {field}: {e:?}"
            );
            assert_error_body(&e);
        }
    }
}

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

type MakeError = fn() -> StoreError;

fn backend_error() -> StoreError {
    StoreError::backend(BACKEND_TEXT)
}

const BACKEND_TEXT: &str =
    "connection to postgres://vault:hunter2@10.20.30.40:5432/certs refused at /srv/secret/path";

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
    let store = DirectoryStore::new(tmp.path());
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
    // A store whose root does not exist answers 404 as well.
    let store = DirectoryStore::new(tmp.path().join("nowhere"));
    expect_err(
        run(&Kind::Crt.body(1), &store),
        404,
        "certificate_not_found",
        "no root",
    );
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

fn pem_certs_of(response: &cert_download::DownloadResponse) -> Vec<Vec<u8>> {
    pem_blocks(response.certificate())
        .into_iter()
        .filter(|(label, _)| label == "CERTIFICATE")
        .map(|(_, der)| der)
        .collect()
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
    let store = DirectoryStore::new(tmp.path());
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

/// The blocks of a PEM text, checking the contract's text rules on the way: LF line ends,
/// lines of at most 64 characters (exactly 64 but the last of a block), nothing between
/// or after the blocks.
fn pem_blocks(pem: &[u8]) -> Vec<(String, Vec<u8>)> {
    let text = std::str::from_utf8(pem).expect("PEM is UTF-8 (ASCII)");
    assert!(text.is_ascii(), "PEM is ASCII");
    assert!(!text.contains('\r'), "LF line ends only");
    assert!(text.ends_with('\n'), "the last line ends with LF");
    let mut blocks = Vec::new();
    let mut lines = text.lines();
    while let Some(begin) = lines.next() {
        let label = begin
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
            .unwrap_or_else(|| panic!("expected a BEGIN line, got {begin:?}"))
            .to_owned();
        let mut body: Vec<&str> = Vec::new();
        loop {
            let line = lines.next().expect("an END line");
            if line == format!("-----END {label}-----") {
                break;
            }
            body.push(line);
        }
        assert!(!body.is_empty(), "{label}: empty block");
        for (i, line) in body.iter().enumerate() {
            assert!(line.len() <= 64, "{label}: a line of {}", line.len());
            if i + 1 < body.len() {
                assert_eq!(line.len(), 64, "{label}: a short line inside the block");
            }
        }
        blocks.push((label, strict_base64(&body.concat())));
    }
    blocks
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

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

#[test]
fn every_error_kind_has_a_distinct_snake_case_code_and_a_contract_status() {
    let mut codes = std::collections::HashSet::new();
    for &kind in ErrorKind::ALL {
        let code = kind.code();
        assert!(codes.insert(code), "{code} is used twice");
        assert!(
            !code.is_empty()
                && code.starts_with(|c: char| c.is_ascii_lowercase())
                && !code.ends_with('_')
                && !code.contains("__")
                && code
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{code} is not snake_case"
        );
        assert!(
            [400, 401, 403, 404, 500].contains(&kind.status()),
            "{kind:?}: status {}",
            kind.status()
        );
    }
    // The codes the contract and this suite rely on exist, with their statuses.
    #[rustfmt::skip]
    let expected = [
        ("password_required", 400), ("unknown_field", 400), ("duplicate_field", 400),
        ("invalid_json", 400), ("body_too_large", 400), ("unauthenticated", 401),
        ("forbidden", 403), ("key_export_forbidden", 403), ("certificate_not_found", 404),
        ("key_not_found", 404), ("key_mismatch", 500), ("unsupported_key", 500),
        ("store_failure", 500), ("key_not_supported", 400), ("invalid_include_root", 400),
        ("pfx_encryption_unavailable", 500),
    ];
    for (code, status) in expected {
        let kind = ErrorKind::ALL
            .iter()
            .find(|k| k.code() == code)
            .unwrap_or_else(|| panic!("no kind with code {code}"));
        assert_eq!(kind.status(), status, "{code}");
    }
}

#[test]
fn error_bodies_are_status_error_message() {
    // Errors of every status, from parsing and from stores.
    let mut errors = vec![
        DownloadRequest::from_json(b"nope").expect_err("invalid"),
        DownloadRequest::from_json(&obj(&[("id", "1"), ("format", "\"pfx\"")]))
            .expect_err("no password"),
    ];
    for (error, kind) in [
        ((|| StoreError::Unauthenticated) as MakeError, Kind::Pem),
        (|| StoreError::Forbidden, Kind::Crt),
        (|| StoreError::NotFound, Kind::Pem),
        (backend_error, Kind::Pfx),
    ] {
        let store = TestStore::fixtures().failing_certificate(error);
        errors.push(run(&kind.body(1), &store).expect_err("a store error"));
    }
    errors.push(run(&Kind::Pfx.body(11), &fixture_store()).expect_err("mismatch"));
    errors.push(run(&Kind::Pfx.body(10), &fixture_store()).expect_err("no key"));
    let statuses: std::collections::BTreeSet<u16> = errors.iter().map(|e| e.status()).collect();
    assert_eq!(
        statuses.into_iter().collect::<Vec<_>>(),
        [400, 401, 403, 404, 500]
    );
    for e in &errors {
        assert_error_body(e);
        assert_eq!(e.to_string(), e.message(), "Display is the message");
    }
    // The contract's example, exactly.
    let e = &errors[1];
    assert_eq!(
        e.to_json(),
        r#"{"status":400,"error":"password_required","message":"a password is required for the pfx format"}"#
    );
}

// ---------------------------------------------------------------------------------------
// Beyond the seed: p7b and include_root
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
