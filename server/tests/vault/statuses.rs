//! Every status of the contract through the database, each with its audit row.

use std::net::SocketAddr;

use super::*;

/// An audit row as `(principal, id, format, key_out, status, error)`.
type Expected = (
    &'static str,
    i64,
    &'static str,
    bool,
    u16,
    Option<&'static str>,
);

async fn every_status_with_its_audit_row(backend: Backend) {
    let d = deployment(backend).await;
    let server = start(&d.db, "instance-a");
    let http = client(&server);
    let ask = |token: Option<&str>, body: String| {
        let (http, server) = (&http, &server);
        let token = token.map(str::to_owned);
        async move { post_json(http, server, token.as_deref(), &body).await }
    };
    let mut expected: Vec<Expected> = Vec::new();

    // 200 in every format, with and without a key.
    ask(Some(&d.admin), body(12345, "pfx", true))
        .await
        .expect_ok("pfx");
    expected.push(("admin", 12345, "pfx", true, 200, None));
    let pem = ask(Some(&d.admin), body(1001, "pem", true)).await;
    let text = String::from_utf8(pem.expect_ok("pem").certificate).unwrap();
    assert!(
        text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
        "{text}"
    );
    expected.push(("admin", 1001, "pem", true, 200, None));
    let crt = ask(Some(&d.admin), body(1004, "crt", true)).await;
    assert!(crt.expect_ok("crt").key.is_some());
    expected.push(("admin", 1004, "crt", true, 200, None));
    let crt = ask(Some(&d.reader), body(12345, "crt", false)).await;
    let leaf = tools::pem_file_certs(&demo("12345/cert.pem")).remove(0);
    assert_eq!(crt.expect_ok("crt").certificate, leaf, "the stored leaf");
    expected.push(("reader", 12345, "crt", false, 200, None));
    ask(Some(&d.reader), body(1003, "p7b", false))
        .await
        .expect_ok("p7b");
    expected.push(("reader", 1003, "p7b", false, 200, None));

    // 403: a reader asks for a key.
    ask(Some(&d.reader), body(12345, "pfx", true))
        .await
        .expect_error(403, &["key_export_forbidden"]);
    expected.push((
        "reader",
        12345,
        "pfx",
        false,
        403,
        Some("key_export_forbidden"),
    ));
    // 404: no grant answers as no record does (ids cannot be probed).
    let hidden = ask(Some(&d.outsider), body(12345, "crt", false)).await;
    hidden.expect_error(404, &["certificate_not_found"]);
    expected.push((
        "outsider",
        12345,
        "crt",
        false,
        404,
        Some("certificate_not_found"),
    ));
    let absent = ask(Some(&d.admin), body(777, "crt", false)).await;
    absent.expect_error(404, &["certificate_not_found"]);
    expected.push((
        "admin",
        777,
        "crt",
        false,
        404,
        Some("certificate_not_found"),
    ));
    assert_eq!(
        hidden.body.replace("12345", "777"),
        absent.body,
        "a record without a grant must answer as an absent one"
    );
    ask(Some(&d.admin), body(1003, "pem", true))
        .await
        .expect_error(404, &["key_not_found"]);
    expected.push(("admin", 1003, "pem", false, 404, Some("key_not_found")));

    // 500: a sealed key that does not open (a flipped ciphertext byte).
    let raw = d.db.raw().await;
    let mut sealed = raw.sealed(1002).await;
    sealed.ciphertext[0] ^= 1;
    raw.set_sealed(1002, &sealed).await;
    let broken = ask(Some(&d.admin), body(1002, "pfx", true)).await;
    broken.expect_error(500, &["store_failure"]);
    no_backend_text(&broken);
    expected.push(("admin", 1002, "pfx", false, 500, Some("store_failure")));
    // The keyless download of that record still works.
    ask(Some(&d.admin), body(1002, "crt", false))
        .await
        .expect_ok("crt");
    expected.push(("admin", 1002, "crt", false, 200, None));

    // Refused before the store: in the log only, no row.
    ask(None, body(12345, "crt", false))
        .await
        .expect_error(401, &["unauthenticated"]);
    ask(Some("cdv_not-a-token"), body(12345, "crt", false))
        .await
        .expect_error(401, &["unauthenticated"]);
    ask(Some(&d.admin), r#"{"id": 12345}"#.to_owned())
        .await
        .expect_error(400, &["missing_field"]);

    // Revoked: refused on the next request (the token is looked up on every request).
    d.vault.revoke_token(&d.reader).await.unwrap();
    ask(Some(&d.reader), body(12345, "crt", false))
        .await
        .expect_error(401, &["unauthenticated"]);

    let rows = audit_rows(&d.vault).await;
    let got: Vec<_> = rows.iter().map(summary).collect();
    let want: Vec<_> = expected
        .iter()
        .map(|(p, id, f, k, s, e)| {
            (
                p.to_string(),
                *id,
                f.to_string(),
                *k,
                *s,
                e.map(str::to_owned),
            )
        })
        .collect();
    assert_eq!(got, want, "one audit row per download, in order");
    for row in &rows {
        assert_eq!(row.entry.instance.as_deref(), Some("instance-a"));
        let client: SocketAddr = row.entry.client.as_deref().unwrap().parse().unwrap();
        assert!(client.ip().is_loopback(), "{row:?}");
        assert!(row.entry.at_ms.unwrap() > 1_700_000_000_000, "{row:?}");
    }
    let log = server.stop().stderr;
    assert!(!log.contains(PASSWORD), "the log shows a password");
    assert!(!log.contains(&d.admin), "the log shows a token");
    raw.close().await;
}

on_both_databases! {
    every_status_with_its_audit_row: every_status_with_its_audit_row;
}
