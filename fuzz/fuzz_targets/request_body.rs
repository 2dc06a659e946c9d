//! Arbitrary bytes as a request body: never a panic; every refusal is a 400, a body over
//! `MAX_BODY_BYTES` always as `body_too_large` (the corpus runs with `-max_len` above the
//! limit, see .ci/run); every accepted body is a request whose fields round-trip: written
//! back as the contract's JSON and parsed again, it is the same request, and it follows
//! the contract's rules (a key only with a password, never in a p7b).
#![no_main]

use cert_download::{DownloadRequest, Format, MAX_BODY_BYTES};
use libfuzzer_sys::fuzz_target;

/// A JSON string literal of `text`.
fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The request as a body of the contract, every field written out. The password's text is
/// not part of the API: it is taken from the body it was parsed from.
fn canonical(request: &DownloadRequest, body: &[u8]) -> String {
    let mut fields = vec![
        format!("\"id\": \"{}\"", request.id().get()),
        format!("\"format\": \"{}\"", request.format().as_str()),
        format!("\"include_chain\": {}", request.include_chain()),
        format!("\"include_root\": {}", request.include_root()),
        format!("\"chain_order\": \"{}\"", request.chain_order().as_str()),
    ];
    if matches!(request.format(), Format::Crt | Format::Pem) {
        fields.push(format!("\"download_key\": {}", request.includes_key()));
    }
    if request.password().is_some() {
        let parsed: serde_json::Value = serde_json::from_slice(body).expect("an accepted body is JSON");
        let password = parsed["password"].as_str().expect("a password is a string");
        fields.push(format!("\"password\": {}", json_string(password)));
    }
    if let Some(name) = request.friendly_name() {
        fields.push(format!("\"friendly_name\": {}", json_string(name.as_str())));
    }
    if let Some(profile) = request.pfx_encryption() {
        fields.push(format!("\"pfx_encryption\": \"{}\"", profile.as_str()));
    }
    format!("{{{}}}", fields.join(", "))
}

/// Everything a request holds but the password's text (not part of the API), to compare
/// two of them.
fn summary(request: &DownloadRequest) -> String {
    format!(
        "{:?} {:?} {} {:?} {} {} {:?} {:?} {:?}",
        request.id(),
        request.format(),
        request.includes_key(),
        request.password().is_some(),
        request.include_chain(),
        request.include_root(),
        request.chain_order(),
        request.friendly_name().map(|n| n.as_str()),
        request.pfx_encryption(),
    )
}

fuzz_target!(|body: &[u8]| {
    match DownloadRequest::from_json(body) {
        Err(error) => {
            assert_eq!(error.status(), 400, "{error:?}");
            let json = error.to_json();
            assert!(json.starts_with("{\"status\":400,\"error\":\""), "{json}");
            if body.len() > MAX_BODY_BYTES {
                assert_eq!(error.code(), "body_too_large", "{error:?}");
            }
        }
        Ok(request) => {
            assert!(
                body.len() <= MAX_BODY_BYTES,
                "{} bytes accepted",
                body.len()
            );
            assert!((1..=i64::MAX as u64).contains(&request.id().get()));
            // A key leaves exactly for pfx, or when asked; always with a password.
            if request.format() == Format::Pfx {
                assert!(request.includes_key());
            }
            // A p7b never carries a key (download_key true is a 400 key_not_supported).
            if request.format() == Format::P7b {
                assert!(!request.includes_key());
            }
            assert_eq!(request.includes_key(), request.password().is_some());
            if let Some(password) = request.password() {
                // The request's Debug shows the password as the same text whatever the
                // password is. (Not "the password is nowhere in the Debug text": other,
                // public fields such as friendly_name may contain it.)
                let other = cert_download::Password::new(
                    "another-password-of-the-policy",
                    &cert_download::PasswordPolicy::default(),
                )
                .expect("a valid password");
                assert_eq!(format!("{password:?}"), format!("{other:?}"));
                assert!(format!("{request:?}").contains(&format!("password: Some({other:?})")));
            }
            // The round trip: the request written back as the contract's JSON is the same
            // request.
            let json = canonical(&request, body);
            let again = DownloadRequest::from_json(json.as_bytes())
                .unwrap_or_else(|e| panic!("the canonical body {json} is refused: {e:?}"));
            assert_eq!(summary(&again), summary(&request), "{json}");
        }
    }
});
