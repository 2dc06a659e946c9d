//! The body as a whole: unknown and duplicate fields, JSON that is not one object, the
//! 64 KiB limit, deep nesting.

use super::*;

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
