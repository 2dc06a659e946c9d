//! The request's fields one by one: `id`, missing fields, `format`, `download_key`,
//! `include_chain`, `chain_order`, `friendly_name` and `pfx_encryption`.

use super::*;

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
