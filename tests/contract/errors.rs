//! The error table: codes, statuses and bodies.

use super::*;

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
