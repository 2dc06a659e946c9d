//! Details of the public API that only a mutation run showed untested (`scripts/mutants`,
//! TESTING.md): the exact text of each `Debug` and `Display`, the password's own text, the
//! legacy flag of each profile, and the messages of refused bodies.

use cert_download::request::FriendlyName;
use cert_download::{DownloadRequest, Format, Password, PasswordPolicy, PfxEncryption};

#[test]
fn a_password_debug_shows_none_of_it() {
    // Its text is not part of the API (the crate's unit tests read it back).
    let text = "pässwörd-😀-\"quoted\"";
    let password = Password::new(text, &PasswordPolicy::default()).unwrap();
    assert_eq!(format!("{password:?}"), "[redacted]");
    let request = DownloadRequest::from_json(
        br#"{"id": 1, "format": "pfx", "password": "pass-in-the-debug"}"#,
    )
    .unwrap();
    let debug = format!("{request:?}");
    assert!(debug.contains("password: Some([redacted])"), "{debug}");
    assert!(!debug.contains("pass-in-the-debug"), "{debug}");
}

#[test]
fn only_the_3des_profile_is_insecure_legacy() {
    for (profile, legacy) in [
        (PfxEncryption::Aes256Sha256, false),
        (PfxEncryption::TripleDesSha1, true),
        (PfxEncryption::Aes256Sha256Pbmac1, false),
    ] {
        assert_eq!(profile.is_insecure_legacy(), legacy, "{profile:?}");
    }
}

#[test]
fn debug_and_display_forms() {
    assert_eq!(
        format!("{:?}", PasswordPolicy::default()),
        "PasswordPolicy { min_chars: 8, max_bytes: 1024, ascii_only: false }"
    );
    assert_eq!(
        format!("{:?}", FriendlyName::new("my key").unwrap()),
        "\"my key\""
    );
    for (format, text) in [
        (Format::Pfx, "pfx"),
        (Format::Pem, "pem"),
        (Format::Crt, "crt"),
        (Format::P7b, "p7b"),
    ] {
        assert_eq!(format.to_string(), text);
    }
}

/// An unknown field's name is quoted in the message, cut at 64 characters (with an
/// ellipsis) so that a body cannot fill the response with it.
#[test]
fn unknown_field_names_are_quoted_and_cut_at_64_characters() {
    let message = |name: &str| {
        let body = format!(r#"{{"id": 1, "format": "crt", "{name}": 1}}"#);
        let error = DownloadRequest::from_json(body.as_bytes()).unwrap_err();
        assert_eq!(error.code(), "unknown_field");
        error.message().to_owned()
    };
    let exact = "n".repeat(64);
    assert!(message(&exact).starts_with(&format!("unknown field \"{exact}\"; ")));
    let long = format!("{exact}x");
    assert!(message(&long).starts_with(&format!("unknown field \"{exact}…\"; ")));
    let short = "é".repeat(40);
    assert!(message(&short).starts_with(&format!("unknown field \"{short}\"; ")));
}

/// A body that is JSON but not an object gets its own message; one that is not JSON at all,
/// another.
#[test]
fn bodies_that_are_not_an_object() {
    for (body, message) in [
        (&b"[1, 2]"[..], "the request body must be a JSON object"),
        (b"\"pfx\"", "the request body must be a JSON object"),
        (b"{\"id\": 1,", "the request body is not valid UTF-8 JSON"),
        (b"\xff", "the request body is not valid UTF-8 JSON"),
    ] {
        let error = DownloadRequest::from_json(body).unwrap_err();
        assert_eq!(
            (error.code(), error.message()),
            ("invalid_json", message),
            "{body:?}"
        );
    }
}
