//! Revocation seen by two instances at once.

use std::time::Instant;

use super::*;

async fn revocation_reaches_every_instance(backend: Backend) {
    let d = deployment(backend).await;
    let (a, b) = (start(&d.db, "a"), start(&d.db, "b"));
    let (http_a, http_b) = (client(&a), client(&b));
    let token = common::full_access_token(&d.vault, "operator").await;
    for (http, server) in [(&http_a, &a), (&http_b, &b)] {
        post_json(http, server, Some(&token), &body(1004, "crt", true))
            .await
            .expect_ok("crt");
    }

    // The export grant taken away: both refuse the key at once, still serve the leaf.
    d.vault
        .revoke("operator", Permission::ExportKey, &Scope::All)
        .await
        .unwrap();
    let revoked = Instant::now();
    for (http, server) in [(&http_a, &a), (&http_b, &b)] {
        post_json(http, server, Some(&token), &body(1004, "crt", true))
            .await
            .expect_error(403, &["key_export_forbidden"]);
        post_json(http, server, Some(&token), &body(1004, "crt", false))
            .await
            .expect_ok("crt");
    }
    // The token revoked: both refuse it on the next request.
    d.vault.revoke_token(&token).await.unwrap();
    for (http, server) in [(&http_a, &a), (&http_b, &b)] {
        post_json(http, server, Some(&token), &body(1004, "crt", false))
            .await
            .expect_error(401, &["unauthenticated"]);
    }
    let took = revoked.elapsed();
    // Six requests, no waiting: the lookups are per request (no cache to expire).
    assert!(took < Duration::from_secs(5), "{took:?}");
    let instances: Vec<_> = audit_rows(&d.vault)
        .await
        .into_iter()
        .map(|r| (r.entry.instance.unwrap_or_default(), r.entry.status))
        .collect();
    assert_eq!(
        instances,
        [
            ("a".to_owned(), 200),
            ("b".to_owned(), 200),
            ("a".to_owned(), 403),
            ("a".to_owned(), 200),
            ("b".to_owned(), 403),
            ("b".to_owned(), 200),
        ]
    );
}

on_both_databases! {
    revocation_reaches_every_instance: revocation_reaches_every_instance;
}
