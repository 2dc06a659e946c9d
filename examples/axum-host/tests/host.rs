//! The axum host in process (`tower::ServiceExt::oneshot`): every answer's status, JSON
//! body and headers, and the guide's axum block being this crate's code.

use std::collections::HashMap;

use axum::body::{Body, to_bytes};
use axum::http::{Request, Response, StatusCode};
use cert_download::ExportPolicy;
use cert_download::policy::PasswordPolicy;
use cert_download_axum_host::{Host, app};
use tower::ServiceExt;

const STORE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../demo-store");

fn host() -> Host {
    let tokens = HashMap::from([("admin".to_owned(), true), ("reader".to_owned(), false)]);
    let policy = ExportPolicy::builder()
        .all_iterations(1)
        .password_policy(PasswordPolicy::builder().ascii_only(true).build().unwrap())
        .build()
        .unwrap();
    Host::new(STORE, tokens, policy).unwrap()
}

async fn post(token: Option<&str>, body: impl Into<Body>) -> (Response<Body>, serde_json::Value) {
    let mut request =
        Request::post("/api/certificate/download").header("content-type", "application/json");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = app(host())
        .oneshot(request.body(body.into()).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    let bytes = to_bytes(body, 1 << 20).await.unwrap();
    let json = serde_json::from_slice(&bytes).expect("every answer is JSON");
    (Response::from_parts(parts, Body::empty()), json)
}

#[track_caller]
fn assert_answer(response: &Response<Body>, json: &serde_json::Value, status: u16, code: &str) {
    assert_eq!(response.status().as_u16(), status, "{json}");
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let challenge = response.headers().get("www-authenticate");
    assert_eq!(challenge.is_some(), status == 401, "{json}");
    if status != 200 {
        assert_eq!(json["status"], status, "{json}");
        assert_eq!(json["error"], code, "{json}");
    }
}

const PFX: &str = r#"{"id": "12345", "format": "pfx", "password": "securepassword123"}"#;

#[tokio::test]
async fn a_pfx_for_a_caller_who_may_export_keys() {
    let (response, json) = post(Some("admin"), PFX).await;
    assert_answer(&response, &json, 200, "");
    assert_eq!(json["format"], "pfx");
    assert!(json["certificate"].as_str().unwrap().len() > 1000);
}

#[tokio::test]
async fn no_token_or_an_unknown_one_is_401_with_a_challenge_whatever_the_body() {
    for token in [None, Some("guess")] {
        for body in [PFX, "not json"] {
            let (response, json) = post(token, body).await;
            assert_answer(&response, &json, 401, "unauthenticated");
            assert_eq!(response.headers()["www-authenticate"], "Bearer");
        }
    }
}

#[tokio::test]
async fn a_reader_gets_certificates_and_403_for_keys() {
    let (response, json) = post(Some("reader"), PFX).await;
    assert_answer(&response, &json, 403, "key_export_forbidden");
    let (response, json) = post(Some("reader"), r#"{"id": 12345, "format": "crt"}"#).await;
    assert_answer(&response, &json, 200, "");
    assert_eq!(json["format"], "crt");
}

#[tokio::test]
async fn the_host_s_policy_applies_and_bad_bodies_are_the_contract_s_400s() {
    // The host's policy is ASCII-only.
    let body = r#"{"id": 12345, "format": "pfx", "password": "pässwörd-long"}"#;
    let (response, json) = post(Some("admin"), body).await;
    assert_answer(&response, &json, 400, "password_not_ascii");
    // Over the crate's 64 KiB but under axum's limit: the crate's 400.
    let (response, json) = post(Some("admin"), vec![b' '; 70 * 1024]).await;
    assert_answer(&response, &json, 400, "body_too_large");
    // Over axum's limit too: answered as the crate answers it, not a plain-text 413.
    let (response, json) = post(Some("admin"), vec![b' '; 3 << 20]).await;
    assert_answer(&response, &json, 400, "body_too_large");
    let (response, json) = post(Some("admin"), r#"{"id": 999999, "format": "crt"}"#).await;
    assert_answer(&response, &json, 404, "certificate_not_found");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

/// The guide's axum block (the library's `src/guide.rs`, "An axum host") is the marked
/// region of src/lib.rs, character for character.
#[test]
fn the_guide_s_axum_block_is_this_crate_s_code() {
    let manifest = env!("CARGO_MANIFEST_DIR");
    let source = std::fs::read_to_string(format!("{manifest}/src/lib.rs")).unwrap();
    let guide_source = std::fs::read_to_string(format!("{manifest}/../../src/guide.rs")).unwrap();
    // The guide is module docs: each line is `//!`, then a space unless the line is empty.
    let guide: String = guide_source
        .lines()
        .map(|line| {
            let text = line
                .strip_prefix("//!")
                .expect("src/guide.rs holds only //! lines");
            format!("{}\n", text.strip_prefix(' ').unwrap_or(text))
        })
        .collect();
    let region = source
        .split_once("// guide: begin\n")
        .and_then(|(_, rest)| rest.split_once("// guide: end\n"))
        .map(|(region, _)| region)
        .expect("src/lib.rs marks its guide region");
    let block = guide
        .split_once("<!-- cut from examples/axum-host/src/lib.rs -->\n```rust,ignore\n")
        .and_then(|(_, rest)| rest.split_once("```\n"))
        .map(|(block, _)| block)
        .expect("src/guide.rs has the axum block, marked as cut from the example");
    assert_eq!(
        block, region,
        "src/guide.rs's axum block differs from examples/axum-host/src/lib.rs: copy the region"
    );
}
