//! The audit rule: with the audit insert made to fail (a trigger), no download leaves.

use super::*;

/// Makes every audit insert fail (a trigger the service's statements cannot tell from a
/// full disk or a lost permission), or lifts it.
async fn refuse_audit_inserts(db: &TestDb, refuse: bool) {
    let raw = db.raw().await;
    let statements: &[&'static str] = match (db.backend, refuse) {
        (Backend::Sqlite, true) => &[
            "CREATE TRIGGER audit_refused_by_the_test BEFORE INSERT ON audit \
             BEGIN SELECT RAISE(ABORT, 'audit refused by the test'); END",
        ],
        (Backend::Sqlite, false) => &["DROP TRIGGER audit_refused_by_the_test"],
        (Backend::Postgres, true) => &[
            "CREATE FUNCTION audit_refused_by_the_test() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'audit refused by the test'; END; $$",
            "CREATE TRIGGER audit_refused_by_the_test BEFORE INSERT ON audit \
             FOR EACH ROW EXECUTE FUNCTION audit_refused_by_the_test()",
        ],
        (Backend::Postgres, false) => &[
            "DROP TRIGGER audit_refused_by_the_test ON audit",
            "DROP FUNCTION audit_refused_by_the_test()",
        ],
    };
    for sql in statements {
        raw.execute(sql).await.unwrap();
    }
    raw.close().await;
}

async fn no_download_leaves_without_its_audit_row(backend: Backend) {
    let d = deployment(backend).await;
    let server = start(&d.db, "instance-a");
    let http = client(&server);
    post_json(&http, &server, Some(&d.admin), &body(1004, "crt", true))
        .await
        .expect_ok("crt");
    assert_eq!(audit_rows(&d.vault).await.len(), 1);

    refuse_audit_inserts(&d.db, true).await;
    for (token, request) in [
        (&d.admin, body(12345, "pfx", true)),
        (&d.admin, body(1004, "crt", true)),
        (&d.admin, body(1001, "pem", true)),
        // A download without a key is held back too: every 200 has its row.
        (&d.admin, body(12345, "crt", false)),
        (&d.reader, body(1003, "p7b", false)),
    ] {
        let reply = post_json(&http, &server, Some(token), &request).await;
        reply.expect_error(503, &["audit_unavailable"]);
        retry_after(&reply);
        no_backend_text(&reply);
        assert!(
            !reply.body.contains("certificate\":"),
            "a withheld download carries nothing: {}",
            reply.body
        );
    }
    // A refusal carries nothing: it is sent, and its missing row is logged.
    post_json(&http, &server, Some(&d.reader), &body(12345, "pfx", true))
        .await
        .expect_error(403, &["key_export_forbidden"]);
    assert_eq!(audit_rows(&d.vault).await.len(), 1, "no row was written");
    assert!(
        server
            .wait_for_log("audit row not written", 6, Duration::from_secs(5))
            .await,
        "each unwritten row is logged:\n{}",
        server.log_so_far()
    );

    refuse_audit_inserts(&d.db, false).await;
    post_json(&http, &server, Some(&d.admin), &body(12345, "pfx", true))
        .await
        .expect_ok("pfx");
    let rows = audit_rows(&d.vault).await;
    assert_eq!(rows.len(), 2);
    assert_eq!(
        summary(&rows[1]),
        ("admin".into(), 12345, "pfx".into(), true, 200, None)
    );
}

on_both_databases! {
    no_download_leaves_without_its_audit_row: no_download_leaves_without_its_audit_row;
}
