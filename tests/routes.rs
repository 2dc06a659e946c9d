//! The policy a host passes applies on every route: each public way to download (sync,
//! async, a trait-object store, from JSON, from typed values, prepare then encode) gives
//! the same answer under a strict policy as `download_json` does.

#[path = "contract/support.rs"]
mod support;

use cert_download::request::FriendlyName;
use cert_download::store::DynAsyncCertificateStore;
use cert_download::{
    CertificateStore, DownloadRequest, DownloadResponse, Error, ExportPolicy, OsRandom, Password,
    PasswordPolicy, PfxEncryption, download_json, download_with, prepare, prepare_async,
};
use serde_json::json;
use support::*;

fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
        .block_on(future)
}

/// What a route answered: 200 with the format and whether a key went out, or the status
/// and code of the error.
type Answer = Result<(&'static str, bool), (u16, String)>;

fn answer(result: Result<DownloadResponse, Error>) -> Answer {
    result
        .map(|r| (r.format().as_str(), r.includes_key()))
        .map_err(|e| (e.status(), e.code().to_owned()))
}

/// The request of `body` built from typed values, its password checked against the
/// default policy (as a host that builds requests itself would).
fn typed(body: &serde_json::Value) -> Result<DownloadRequest, Error> {
    let id = id(body["id"].as_u64().expect("an id"));
    let password = || {
        let text = body["password"].as_str().expect("a password");
        Password::new(text, &PasswordPolicy::default())
    };
    let mut request = match body["format"].as_str() {
        Some("pfx") => DownloadRequest::pfx(id, password()?),
        Some("pem") => DownloadRequest::pem(id),
        Some("crt") => DownloadRequest::crt(id),
        other => panic!("no typed request for {other:?}"),
    };
    if body["download_key"] == json!(true) {
        request = request.with_key(password()?);
    }
    if let Some(name) = body["friendly_name"].as_str() {
        request = request.with_friendly_name(FriendlyName::new(name)?);
    }
    if let Some(profile) = body["pfx_encryption"].as_str() {
        let profile = PfxEncryption::from_name(profile).expect("a profile");
        request = request.with_pfx_encryption(profile);
    }
    Ok(request)
}

/// Every public route for one body, each answer labelled with its route.
fn every_route(body: &serde_json::Value, policy: &ExportPolicy) -> Vec<(&'static str, Answer)> {
    let bytes = serde_json::to_vec(body).expect("a body");
    let store = fixture_memory_store();
    let remote = Remote(fixture_memory_store());
    let boxed: Box<dyn DynAsyncCertificateStore> = Box::new(Remote(fixture_memory_store()));
    let parsed = || DownloadRequest::from_json(&bytes);
    let encode = |prepared: Result<cert_download::Prepared, Error>| {
        prepared.and_then(|p| p.encode(policy, &mut OsRandom))
    };
    vec![
        (
            "download_json",
            answer(download_json(&bytes, &store, policy, &mut OsRandom)),
        ),
        (
            "from_json_with_policy + download_with",
            answer(
                DownloadRequest::from_json_with_policy(&bytes, policy.password_policy())
                    .and_then(|r| download_with(r, &store, policy, &mut OsRandom)),
            ),
        ),
        (
            "from_json + download_with",
            answer(parsed().and_then(|r| download_with(r, &store, policy, &mut OsRandom))),
        ),
        (
            "from_json + prepare + encode",
            answer(encode(parsed().and_then(|r| prepare(r, &store)))),
        ),
        (
            "from_json + prepare_async + encode",
            answer(encode(block_on(async {
                prepare_async(parsed()?, &remote).await
            }))),
        ),
        (
            "from_json + prepare_async (dyn store) + encode",
            answer(encode(block_on(async {
                prepare_async(parsed()?, &*boxed).await
            }))),
        ),
        (
            "typed + download_with",
            answer(typed(body).and_then(|r| download_with(r, &store, policy, &mut OsRandom))),
        ),
        (
            "typed + from_record + encode",
            answer(encode(typed(body).and_then(|r| {
                let id = r.id();
                let record =
                    CertificateStore::certificate(&store, id).map_err(|e| e.into_error(id))?;
                let key =
                    CertificateStore::private_key(&store, id).map_err(|e| e.into_error(id))?;
                cert_download::Prepared::from_record(r, record, Some(key.into()))
            }))),
        ),
    ]
}

#[test]
fn every_route_gives_download_json_s_answer_under_a_strict_policy() {
    let strict = ExportPolicy::builder()
        .all_iterations(1)
        .mac_iterations(1_000)
        .password_policy(
            PasswordPolicy::builder()
                .min_chars(12)
                .max_bytes(40)
                .ascii_only(true)
                .build()
                .expect("a password policy"),
        )
        .build()
        .expect("a policy");
    let passwords = [
        ("a-good-long-password", None),
        ("pässwörd-long", Some("password_not_ascii")),
        ("short-pass1", Some("password_too_short")),
        (
            "forty-one-bytes-is-one-too-many-for-it-!!",
            Some("password_too_long"),
        ),
        ("tab\tin-the-password", Some("password_control_character")),
    ];
    let mut bodies = Vec::new();
    for (password, _) in passwords {
        bodies.push((
            json!({"id": 1, "format": "pfx", "password": password}),
            password,
        ));
        bodies.push((
            json!({"id": 1, "format": "pfx", "password": password,
                   "pfx_encryption": "aes256_sha256_pbmac1", "friendly_name": "web"}),
            password,
        ));
        for format in ["pem", "crt"] {
            bodies.push((
                json!({"id": 1, "format": format, "download_key": true, "password": password}),
                password,
            ));
        }
    }
    // Without a key, the password is not looked at on any route.
    bodies.push((json!({"id": 1, "format": "pem", "password": "x"}), ""));

    let mut checked = 0;
    for (body, password) in &bodies {
        let want = passwords
            .iter()
            .find(|(p, _)| p == password)
            .and_then(|(_, code)| *code);
        let routes = every_route(body, &strict);
        let (_, first) = &routes[0];
        match want {
            None => assert!(first.is_ok(), "{body}: download_json answered {first:?}"),
            Some(code) => assert_eq!(first, &Err((400, code.to_owned())), "{body}: download_json"),
        }
        for (route, got) in &routes {
            assert_eq!(got, first, "{body}: {route} differs from download_json");
            checked += 1;
        }
    }
    assert_eq!(checked, bodies.len() * 8);
}

/// The issue's case: an ASCII-only policy, a non-ASCII password, the documented async path.
#[test]
fn prepare_then_encode_refuses_what_the_policy_refuses() {
    let ascii_only = fast_ascii_only_policy();
    let body = r#"{"id": 1, "format": "pfx", "password": "pässwörd-long"}"#.as_bytes();
    let request = DownloadRequest::from_json(body).expect("valid under the default policy");
    let prepared = prepare(request, &fixture_memory_store()).expect("prepares");
    let error = prepared
        .encode(&ascii_only, &mut OsRandom)
        .map(|_| ())
        .unwrap_err();
    assert_eq!((error.status(), error.code()), (400, "password_not_ascii"));
    // The same prepared download under the default policy encodes.
    assert!(prepared.encode(&fast_policy(), &mut OsRandom).is_ok());
}
