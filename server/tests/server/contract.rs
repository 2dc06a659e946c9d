//! The contract's statuses and bodies, in-process: 400, 401, 403, 404, 405, 415, 500,
//! p7b for readers, and the PFX profile flag.

use axum::http::Method;
use cert_download::MAX_BODY_BYTES;
use cert_download_server::PATH;

use crate::app::App;
use crate::harness::*;
use crate::raw::{BEARER_ADMIN, JSON};
use crate::tools::*;
use crate::{PEM_12345, PFX_12345, demo_leaf};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn invalid_requests_are_400() {
    let app = App::demo();
    let cases: &[(&str, &[&str])] = &[
        (r#"{"id": "12345", "format": "pem""#, &["invalid_json"]),
        ("not json at all", &["invalid_json"]),
        ("[1, 2]", &["invalid_json"]),
        ("", &["invalid_json"]),
        (
            r#"{"id": "12345", "format": "pem", "downloadKey": true}"#,
            &["unknown_field"],
        ),
        (
            r#"{"id": "12345", "format": "pfx"}"#,
            &["password_required"],
        ),
        (
            r#"{"id": "12345", "format": "pfx", "password": ""}"#,
            &["password_required"],
        ),
        (
            r#"{"id": "12345", "format": "crt", "download_key": true}"#,
            &["password_required"],
        ),
        (r#"{"id": "12345"}"#, &["missing_field"]),
        (r#"{"format": "pem"}"#, &["missing_field"]),
        (r#"{"id": "abc", "format": "pem"}"#, &["invalid_id"]),
        (
            r#"{"id": "12345", "format": "p12"}"#,
            &["unsupported_format"],
        ),
        (
            r#"{"id": "12345", "format": "pfx", "password": "short"}"#,
            &["password_too_short"],
        ),
    ];
    for (body, codes) in cases {
        let reply = app.admin(body).await;
        let message = reply.expect_error(400, codes);
        if codes[0] == "unknown_field" {
            assert!(
                message.contains("downloadKey"),
                "the message must name the unknown field: {message}"
            );
        }
        if codes[0] == "unsupported_format" {
            for f in ["pfx", "pem", "crt", "p7b"] {
                assert!(message.contains(f), "the message must list {f}: {message}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unauthenticated_callers_get_401() {
    let app = App::demo();
    // No Authorization header.
    app.post(None, PFX_12345)
        .await
        .expect_error(401, &["unauthenticated"]);
    app.post(None, PEM_12345)
        .await
        .expect_error(401, &["unauthenticated"]);
    // A token that is not in the file, or a prefix/extension of one that is.
    for token in [
        "not-a-demo-token",
        "demo-admin-toke",
        "demo-admin-token2",
        "DEMO-ADMIN-TOKEN",
    ] {
        app.post(Some(token), PEM_12345)
            .await
            .expect_error(401, &["unauthenticated"]);
    }
    // The right token in another scheme, or an empty bearer.
    for authorization in [
        "Basic ZGVtby1hZG1pbi10b2tlbjo=",
        "demo-admin-token",
        "Bearer ",
    ] {
        let fields = [("authorization", authorization), ("content-type", JSON)];
        app.request(Method::POST, PATH, &fields, PEM_12345)
            .await
            .expect_error(401, &["unauthenticated"]);
    }
}

/// RFC 9110 section 15.5.2: "The server generating a 401 response MUST send a
/// WWW-Authenticate header field"; for bearer tokens (RFC 6750 section 3) its scheme is
/// `Bearer`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_401_says_how_to_authenticate() {
    let app = App::demo();
    for token in [None, Some("not-a-demo-token")] {
        let reply = app.post(token, PEM_12345).await;
        reply.expect_error(401, &["unauthenticated"]);
        let challenge = reply.header("www-authenticate").unwrap_or_default();
        assert!(
            challenge
                .split_whitespace()
                .next()
                .is_some_and(|scheme| scheme.eq_ignore_ascii_case("bearer")),
            "a 401 (token {token:?}) must carry `WWW-Authenticate: Bearer ...`, got {:?}",
            reply.headers
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reader_gets_certificates_but_no_keys() {
    let app = App::demo();
    // Anything that would carry the key: 403.
    for body in [
        PFX_12345,
        r#"{"id": "12345", "format": "pfx", "password": "securepassword123", "download_key": false}"#,
        r#"{"id": "12345", "format": "crt", "download_key": true, "password": "keyprotectionpassword"}"#,
        r#"{"id": "1001", "format": "pem", "download_key": "true", "password": "keyprotectionpassword"}"#,
    ] {
        app.reader(body)
            .await
            .expect_error(403, &["key_export_forbidden", "forbidden"]);
    }
    // The certificates themselves: 200, without key material.
    let crt = app
        .reader(r#"{"id": "12345", "format": "crt"}"#)
        .await
        .expect_ok("crt");
    assert_eq!(crt.certificate, demo_leaf("12345"));
    assert!(crt.key.is_none());
    let pem = app.reader(r#"{"id": "12345", "format": "pem", "download_key": false, "password": "ignored-password"}"#,
    )
    .await
    .expect_ok("pem");
    let text = String::from_utf8(pem.certificate).unwrap();
    assert!(!text.contains("PRIVATE KEY"), "a reader got a key:\n{text}");
    let blocks = pem_blocks(&text);
    assert_eq!(blocks[0].1, demo_leaf("12345"));
    assert!(blocks.iter().all(|(label, _)| label == "CERTIFICATE"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unknown_ids_and_missing_keys_are_404() {
    let app = App::demo();
    for body in [
        r#"{"id": "99999", "format": "pem"}"#,
        r#"{"id": 1, "format": "crt"}"#,
        r#"{"id": "9223372036854775807", "format": "pfx", "password": "securepassword123"}"#,
    ] {
        app.admin(body)
            .await
            .expect_error(404, &["certificate_not_found"]);
    }
    // 1003 has no key.pem: a key is asked for and none is stored.
    for body in [
        r#"{"id": "1003", "format": "pfx", "password": "securepassword123"}"#,
        r#"{"id": "1003", "format": "crt", "download_key": true, "password": "keyprotectionpassword"}"#,
    ] {
        app.admin(body).await.expect_error(404, &["key_not_found"]);
    }
    // ... but its certificate is there.
    app.admin(r#"{"id": "1003", "format": "pem"}"#)
        .await
        .expect_ok("pem");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_body_that_is_not_json_is_415() {
    let app = App::demo();
    for content_type in [
        Some("text/plain"),
        None,
        Some("application/x-www-form-urlencoded"),
        Some("application/jsonx"),
    ] {
        let reply = app.post_with(Some(ADMIN), content_type, PEM_12345).await;
        match reply.status {
            415 => reply.expect_error(415, &["unsupported_media_type"]),
            _ => reply.expect_error(400, &["unsupported_media_type", "invalid_json"]),
        };
    }
    // Parameters of the media type are fine.
    app.post_with(
        Some(ADMIN),
        Some("application/json; charset=utf-8"),
        PEM_12345,
    )
    .await
    .expect_ok("pem");
}

/// A store of broken records (copies of fixtures), served with the demo tokens.
fn broken_store_app() -> (App, String) {
    let store = tempfile::tempdir().unwrap();
    for id in ["10", "11", "12", "13", "16", "17", "18"] {
        copy_record(&fixture_record(id), &store.path().join(id));
    }
    copy_record(&demo("12345"), &store.path().join("12345"));
    let store_path = path(store.path()).to_owned();
    let tokens = demo("tokens.json");
    let args = ["--store", &store_path, "--tokens", path(&tokens)];
    (App::start_keeping(&args, vec![store]), store_path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unusable_stored_material_is_500() {
    let (app, store_path) = broken_store_app();
    // The store works: a good record copied in is served.
    app.admin(PEM_12345).await.expect_ok("pem");
    let password = r#""password": "securepassword123""#;
    let cases: &[(&str, &[&str])] = &[
        // 11: an RSA key of another certificate.
        (r#""id": "11", "format": "pfx""#, &["key_mismatch"]),
        (
            r#""id": "11", "format": "crt", "download_key": true"#,
            &["key_mismatch"],
        ),
        // 12: a P-256 key of another certificate.
        (
            r#""id": "12", "format": "pem", "download_key": true"#,
            &["key_mismatch"],
        ),
        // 16: an Ed25519 key for a P-256 certificate.
        (r#""id": "16", "format": "pfx""#, &["key_mismatch"]),
        // 13: the certificate does not parse.
        (r#""id": "13", "format": "crt""#, &["invalid_certificate"]),
        (r#""id": "13", "format": "pfx""#, &["invalid_certificate"]),
        // 17: Ed448 is not supported.
        (r#""id": "17", "format": "pfx""#, &["unsupported_key"]),
        // 18: the key does not parse.
        (r#""id": "18", "format": "pfx""#, &["invalid_key"]),
    ];
    for (fields, codes) in cases {
        let body = format!("{{{fields}, {password}}}");
        let reply = app.admin(&body).await;
        let message = reply.expect_error(500, codes);
        assert!(
            !message.contains(&store_path) && !reply.body.contains("securepassword123"),
            "a 500 must not carry internal details or the password: {}",
            reply.body
        );
    }
    // 10 has no key: that is a 404, not a 500.
    app.admin(r#"{"id": "10", "format": "pfx", "password": "securepassword123"}"#)
        .await
        .expect_error(404, &["key_not_found"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn other_methods_and_paths_get_contract_errors() {
    let app = App::demo();
    let fields = [("authorization", BEARER_ADMIN), ("content-type", JSON)];
    for method in [Method::GET, Method::PUT, Method::DELETE] {
        let reply = app.request(method, PATH, &fields, PEM_12345).await;
        reply.expect_error(405, &["method_not_allowed"]);
        assert!(
            reply.header("allow").is_some_and(|a| a.contains("POST")),
            "a 405 must list the allowed methods (RFC 9110 section 15.5.6): {:?}",
            reply.headers
        );
    }
    for (method, path) in [
        (Method::POST, "/api/certificate/other"),
        (Method::POST, "/api/certificate/download/12345"),
        (Method::GET, "/"),
    ] {
        app.request(method, path, &fields, PEM_12345)
            .await
            .expect_error(404, &["not_found"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn key_material_is_not_cached() {
    let app = App::demo();
    for (body, format) in [
        (PFX_12345, "pfx"),
        (
            r#"{"id": "1001", "format": "pem", "download_key": true, "password": "keyprotectionpassword"}"#,
            "pem",
        ),
        (
            r#"{"id": "1002", "format": "crt", "download_key": true, "password": "keyprotectionpassword"}"#,
            "crt",
        ),
    ] {
        let reply = app.admin(body).await;
        // expect_ok asserts Cache-Control: no-store for key material; say it here too.
        reply.expect_ok(format);
        assert!(
            reply
                .header("cache-control")
                .is_some_and(|v| v.contains("no-store")),
            "{format}: {:?}",
            reply.headers
        );
    }
}

/// p7b goes through the service as the library makes it: to a reader too (it never holds a
/// key), without the root on request, and with `download_key: true` refused as a 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(judge_openssl),
    ignore = "needs the openssl CLI: scripts/test-all installs it"
)]
async fn p7b_reaches_readers_with_or_without_the_root() {
    openssl_bin();
    let app = App::demo();
    let dir = tempfile::tempdir().unwrap();
    for include_root in [true, false] {
        let body = format!(
            r#"{{"id": "12345", "format": "p7b", "include_root": {include_root}, "password": "ignored-password"}}"#
        );
        let p7b = app.reader(&body).await.expect_ok("p7b");
        assert!(p7b.key.is_none());
        let file = write(dir.path(), &format!("{include_root}.p7b"), &p7b.certificate);
        let text = openssl(&[
            "pkcs7",
            "-inform",
            "DER",
            "-print_certs",
            "-in",
            path(&file),
        ]);
        let certs: Vec<Vec<u8>> = pem_blocks(&text).into_iter().map(|(_, d)| d).collect();
        assert_eq!(certs.len(), if include_root { 3 } else { 2 }, "{text}");
        assert!(certs.contains(&demo_leaf("12345")), "{text}");
        let names = |prefix: &str| -> Vec<String> {
            text.lines()
                .filter_map(|l| l.strip_prefix(prefix))
                .map(str::to_owned)
                .collect()
        };
        let self_signed = names("subject=")
            .iter()
            .zip(names("issuer="))
            .filter(|(s, i)| **s == *i)
            .count();
        assert_eq!(self_signed, usize::from(include_root), "the root:\n{text}");
    }
    app.reader(r#"{"id": "12345", "format": "p7b", "download_key": true, "password": "securepassword123"}"#,
    )
    .await
    .expect_error(400, &["key_not_supported"]);
}

/// `--pfx-encryption` sets the profile of requests that name none (a FIPS-minded
/// deployment's PBMAC1 default); a request's own `pfx_encryption` still wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pfx_encryption_flag_sets_the_default_profile() {
    // id-PBMAC1 (1.2.840.113549.1.5.14), DER.
    const PBMAC1: &[u8] = &[
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0e,
    ];
    let app = App::start(&["--pfx-encryption", "aes256_sha256_pbmac1"]);
    let has_pbmac1 = |der: &[u8]| der.windows(PBMAC1.len()).any(|w| w == PBMAC1);
    let default = app.admin(PFX_12345).await.expect_ok("pfx");
    assert!(has_pbmac1(&default.certificate), "the MAC is PBMAC1");
    let named = PFX_12345.replace('}', r#", "pfx_encryption": "aes256_sha256"}"#);
    let named = app.admin(&named).await.expect_ok("pfx");
    assert!(
        !has_pbmac1(&named.certificate),
        "the request's profile wins"
    );
}

/// `--recipient-delivery` and `--min-recipient-rsa-bits` set the export policy's recipient
/// rules: required refuses a key under a password (a keyless download goes on) and a
/// recipient under the smallest RSA size; off refuses every recipient, passwords go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn recipient_delivery_flags_set_the_policy() {
    let recipient = |name: &str| {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("../tests/fixtures/recipients/{name}.pem"));
        std::fs::read_to_string(path).expect("a recipient fixture")
    };
    let kwp = |name: &str| {
        serde_json::json!({"id": "12345", "format": "kwp", "key_recipient": recipient(name)})
            .to_string()
    };
    let required = App::start(&[
        "--recipient-delivery",
        "required",
        "--min-recipient-rsa-bits",
        "3072",
    ]);
    let keyed_pem = r#"{"id": "12345", "format": "pem", "download_key": true, "password": "keyprotectionpassword"}"#;
    for body in [PFX_12345, keyed_pem] {
        required
            .admin(body)
            .await
            .expect_error(400, &["key_recipient_required"]);
    }
    for (keyless, format) in [
        (PEM_12345, "pem"),
        (r#"{"id": "12345", "format": "crt"}"#, "crt"),
    ] {
        required.admin(keyless).await.expect_ok(format);
    }
    required
        .admin(&kwp("rsa2048"))
        .await
        .expect_error(400, &["key_recipient_too_small"]);
    let reply = required.admin(&kwp("rsa3072")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);

    let off = App::start(&["--recipient-delivery", "off"]);
    off.admin(&kwp("rsa3072"))
        .await
        .expect_error(400, &["key_recipient_not_allowed"]);
    off.admin(PFX_12345).await.expect_ok("pfx");
}

/// Exactly 64 KiB is read; over it, the contract's 400 `body_too_large` (never a 413).
/// Whether the client sees it while still sending is `process::a_body_over_64_kib_is_refused`.
#[tokio::test]
async fn a_body_over_64_kib_is_400() {
    let app = App::demo();
    let body = r#"{"id": "12345", "format": "crt"}"#;
    let padded = |size: usize| format!("{body}{}", " ".repeat(size - body.len()));
    app.admin(&padded(MAX_BODY_BYTES)).await.expect_ok("crt");
    app.admin(&padded(MAX_BODY_BYTES + 1))
        .await
        .expect_error(400, &["body_too_large"]);
}

/// Every answer to a request without a valid token, or to another path or method, closes
/// its connection (a client that has not authenticated gets one request per connection);
/// an authenticated refusal does not.
#[tokio::test]
async fn unauthenticated_answers_close_the_connection() {
    let app = App::demo();
    let close = |reply: &Reply| reply.header("connection") == Some("close");
    for reply in [
        app.post(None, PEM_12345).await,
        app.post(Some("wrong"), PEM_12345).await,
        app.request(Method::GET, "/", &[], "").await,
        app.request(Method::GET, PATH, &[("authorization", BEARER_ADMIN)], "")
            .await,
    ] {
        assert!(matches!(reply.status, 401 | 404 | 405), "{reply:?}");
        assert!(close(&reply), "{reply:?}");
    }
    let refused = app.reader(PFX_12345).await;
    refused.expect_error(403, &["key_export_forbidden", "forbidden"]);
    assert!(!close(&refused), "{refused:?}");
    assert!(!close(&app.admin(PEM_12345).await));
}

/// The library's `key_recipient` and `kwp` pass through the service unchanged: a CMS block
/// after the certificates in pem, `"key_format": "cms"` in crt, the wrapped key in kwp, and
/// the library's refusals with their codes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keys_go_to_a_recipient_through_the_service() {
    use base64::Engine;
    let app = App::demo();
    let recipient = |name: &str| {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("../tests/fixtures/recipients/{name}.pem"));
        std::fs::read_to_string(path).expect("a recipient fixture")
    };
    let body = |v: serde_json::Value| v.to_string();
    let b64 = |v: &serde_json::Value| {
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().expect("a string"))
            .expect("Base64")
    };

    let reply = app
        .admin(&body(
            serde_json::json!({"id": "12345", "format": "pem", "download_key": true,
                                        "key_recipient": recipient("p256")}),
        ))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let members = reply.members();
    let text = String::from_utf8(b64(&members[0].1)).unwrap();
    assert!(text.ends_with("-----END CMS-----\n"), "{text}");
    assert!(!text.contains("PRIVATE KEY"), "{text}");

    let reply = app
        .admin(&body(
            serde_json::json!({"id": "12345", "format": "crt", "download_key": true,
                                        "key_recipient": recipient("rsa2048")}),
        ))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let members = reply.members();
    assert_eq!(
        members[3],
        ("key_format".to_owned(), serde_json::json!("cms"))
    );
    assert_eq!(b64(&members[2].1)[..2], [0x30, 0x82], "a DER ContentInfo");

    let reply = app
        .admin(&body(serde_json::json!({"id": "12345", "format": "kwp",
                                        "key_recipient": recipient("rsa3072")})))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let members = reply.members();
    let names: Vec<&str> = members.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["certificate", "format", "key", "key_format"]);
    assert_eq!(members[1].1, "kwp");
    assert_eq!(members[3].1, "rsa_aes_key_wrap");
    assert!(
        b64(&members[2].1).len() > 384,
        "RSA-3072 OAEP, then the wrapped key"
    );

    // A reader may not take the key out, whatever protects it.
    app.reader(&body(serde_json::json!({"id": "12345", "format": "kwp",
                                         "key_recipient": recipient("rsa3072")})))
        .await
        .expect_error(403, &["key_export_forbidden", "forbidden"]);
    for (v, code) in [
        (
            serde_json::json!({"id": "12345", "format": "kwp", "key_recipient": recipient("p256")}),
            "kwp_requires_rsa",
        ),
        (
            serde_json::json!({"id": "12345", "format": "pfx", "key_recipient": recipient("rsa2048")}),
            "key_recipient_not_supported",
        ),
        (
            serde_json::json!({"id": "12345", "format": "pem", "download_key": true,
                               "password": "keyprotectionpassword",
                               "key_recipient": recipient("rsa2048")}),
            "password_and_key_recipient",
        ),
        (
            serde_json::json!({"id": "12345", "format": "pem", "download_key": true,
                               "key_recipient": "not a certificate"}),
            "invalid_key_recipient",
        ),
    ] {
        app.admin(&body(v)).await.expect_error(400, &[code]);
    }
}
