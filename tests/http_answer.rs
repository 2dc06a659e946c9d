//! `cert_download::http` (the `http` feature): every answer's status, body and headers.

#[path = "contract/support.rs"]
mod support;

use cert_download::{DownloadRequest, Error, ErrorKind, OsRandom, download_with};
use support::*;

#[test]
fn every_error_kind_is_answered_with_its_status_json_and_no_store() {
    for &kind in ErrorKind::ALL {
        let error = Error::from(kind);
        let answer = cert_download::http::error_response(&error);
        assert_eq!(answer.status().as_u16(), error.status(), "{kind:?}");
        assert_eq!(answer.body(), &error.to_json(), "{kind:?}");
        let headers = answer.headers();
        assert_eq!(headers["content-type"], "application/json", "{kind:?}");
        assert_eq!(headers["cache-control"], "no-store", "{kind:?}");
        // WWW-Authenticate exactly on 401, as RFC 9110 asks.
        let challenge = headers.get("www-authenticate").map(|v| v.to_str().unwrap());
        let want = (error.status() == 401).then_some("Bearer");
        assert_eq!(challenge, want, "{kind:?}");
        assert_eq!(
            headers.len(),
            if want.is_some() { 3 } else { 2 },
            "{kind:?}"
        );
    }
}

#[test]
fn a_download_is_answered_200_with_its_json_and_no_store() {
    let store = fixture_memory_store();
    let request = DownloadRequest::pfx(id(1), password());
    let result = download_with(request, &store, &fast_policy(), &mut OsRandom);
    let answer = cert_download::http::response(result);
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["content-type"], "application/json");
    assert_eq!(answer.headers()["cache-control"], "no-store");
    assert!(answer.headers().get("www-authenticate").is_none());
    assert_eq!(
        string_field(answer.body(), "format").as_deref(),
        Some("pfx")
    );

    // A failed download goes out as its error.
    let missing = download_with(
        DownloadRequest::crt(id(MISSING_ID)),
        &store,
        &fast_policy(),
        &mut OsRandom,
    );
    let answer = cert_download::http::response(missing);
    assert_eq!(answer.status(), 404);
    assert!(answer.body().contains(r#""error":"certificate_not_found""#));
}

fn password() -> cert_download::Password {
    cert_download::Password::new(PASSWORD, &cert_download::PasswordPolicy::default())
        .expect("a valid password")
}
