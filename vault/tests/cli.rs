//! The admin command as a script uses it: one JSON object on standard output, a non-zero
//! exit and a JSON error on failure, each step idempotent.

use cert_download_test_support::on_both;
use cert_download_test_support::vault_db as common;

use std::path::Path;
use std::process::{Command, Stdio};

use cert_download::{AsyncCertificateStore, DownloadRequest, prepare_async};
use cert_download_vault::AuditEntry;
use common::{Backend, DEMO_IDS, FIXTURE_IDS, FIXTURES_REFUSED, TestDb, id};
use serde_json::{Value, json};
use sha2::Digest;

/// Runs the command; returns its exit code and its standard output parsed as JSON lines.
fn run_in(args: &[&str], db: Option<&TestDb>, stdin: Option<&str>) -> (i32, Vec<Value>) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cert-download-vault"));
    command.args(args);
    if let Some(db) = db {
        command
            .args(["--database", &db.url, "--kek-file"])
            .arg(&db.kek_file);
    }
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    {
        use std::io::Write;
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    }
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let values = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{args:?}: {e}: {l}")))
        .collect();
    (output.status.code().unwrap(), values)
}

/// One JSON object and exit 0.
fn ok(args: &[&str], db: &TestDb) -> Value {
    let (code, mut out) = run_in(args, Some(db), None);
    assert_eq!((code, out.len()), (0, 1), "{args:?}: {out:?}");
    out.remove(0)
}

/// One JSON error object and a non-zero exit; returns the object.
fn fails(args: &[&str], db: Option<&TestDb>) -> Value {
    let (code, mut out) = run_in(args, db, None);
    assert_ne!(code, 0, "{args:?}: {out:?}");
    assert_eq!(out.len(), 1, "{args:?}: {out:?}");
    let error = out.remove(0);
    assert!(
        error["error"].is_string() && error["message"].is_string(),
        "{error}"
    );
    error
}

fn ids(value: &Value) -> Vec<u64> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect()
}

async fn admin_command(backend: Backend) {
    let db = TestDb::new(backend).await;
    let demo = common::demo_store();
    let fixtures = common::fixtures();
    let path = |p: &Path| p.to_str().unwrap().to_owned();

    // init: idempotent.
    let out = ok(&["init"], &db);
    assert_eq!(out["initialized"], true);
    assert_eq!(out["kek_ids"], json!([db.keyring().newest().id()]));
    ok(&["init"], &db);

    // import: the demo store, then again (unchanged).
    let out = ok(&["import", &path(&demo)], &db);
    assert_eq!(ids(&out["inserted"]), DEMO_IDS);
    assert_eq!(out["rejected"], json!([]));
    let out = ok(&["import", &path(&demo)], &db);
    assert_eq!(ids(&out["unchanged"]), DEMO_IDS);
    // The fixtures: the refused ones listed with the crate's error codes, exit 1.
    let (code, out) = run_in(&["import", &path(&fixtures)], Some(&db), None);
    assert_eq!(code, 1);
    let out = &out[0];
    assert_eq!(out["error"], "records_rejected");
    let rejected: Vec<u64> = out["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_u64().unwrap())
        .collect();
    assert_eq!(rejected, FIXTURES_REFUSED);
    let want: Vec<u64> = FIXTURE_IDS
        .filter(|n| !FIXTURES_REFUSED.contains(n))
        .collect();
    assert_eq!(ids(&out["inserted"]), want);
    let codes: Vec<&str> = out["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["error"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            "key_mismatch",
            "key_mismatch",
            "invalid_certificate",
            "key_mismatch",
            "unsupported_key",
            "invalid_key"
        ]
    );

    // grant and revoke.
    let out = ok(&["grant", "reader", "--read", "--all"], &db);
    assert_eq!(out["added"], 1);
    assert_eq!(ok(&["grant", "reader", "--read", "--all"], &db)["added"], 0);
    assert_eq!(
        ok(&["grant", "admin", "--read", "--export", "--all"], &db)["added"],
        2
    );
    assert_eq!(
        ok(
            &["grant", "one", "--read", "--export", "12345", "1001"],
            &db
        )["added"],
        4
    );
    assert_eq!(
        ok(&["revoke", "one", "--export", "1001"], &db)["removed"],
        1
    );
    assert_eq!(
        ok(&["revoke", "one", "--export", "1001"], &db)["removed"],
        0
    );
    let e = fails(&["grant", "x", "--all"], Some(&db));
    assert_eq!(e["error"], "usage");
    let e = fails(&["grant", "x", "--read"], Some(&db));
    assert_eq!(e["error"], "usage");
    let e = fails(&["grant", "x", "--read", "0"], Some(&db));
    assert_eq!(e["error"], "invalid_argument");

    // tokens: shown once, stored as SHA-256 only.
    let token = ok(&["token", "create", "one"], &db)["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let reader = ok(&["token", "create", "reader", "--expires-in", "3600"], &db);
    assert!(reader["expires_at"].as_i64().unwrap() > 0);
    let vault = db.connect().await;
    let store = vault.caller(&token).await.unwrap();
    assert_eq!(store.principal(), Some("one"));
    store.private_key(id(12345)).await.unwrap();
    assert_eq!(
        format!("{:?}", store.private_key(id(1001)).await.unwrap_err()),
        "KeyExportForbidden"
    );
    assert_eq!(
        format!("{:?}", store.certificate(id(1002)).await.unwrap_err()),
        "NotFound"
    );
    let raw = db.raw().await;
    let hash = sha2::Sha256::digest(token.as_bytes()).to_vec();
    assert_eq!(raw.count("SELECT COUNT(*) FROM tokens").await, 2);
    let stored: Vec<u8> = match &raw {
        common::Raw::Sqlite(p) => {
            sqlx::query_scalar("SELECT hash FROM tokens WHERE principal = 'one'")
                .fetch_one(p)
                .await
                .unwrap()
        }
        common::Raw::Postgres(p) => {
            sqlx::query_scalar("SELECT hash FROM tokens WHERE principal = 'one'")
                .fetch_one(p)
                .await
                .unwrap()
        }
    };
    assert_eq!(stored, hash);
    // Revoked from standard input; again (already); an unknown one fails.
    let (code, out) = run_in(
        &["token", "revoke", "-"],
        Some(&db),
        Some(&format!("{token}\n")),
    );
    assert_eq!(
        (code, &out[0]),
        (0, &json!({"revoked": true, "already_revoked": false}))
    );
    assert_eq!(
        ok(&["token", "revoke", &token], &db)["already_revoked"],
        true
    );
    assert_eq!(
        fails(&["token", "revoke", "cdv_nope"], Some(&db))["error"],
        "unknown_token"
    );
    assert_eq!(
        format!("{:?}", store.certificate(id(12345)).await.unwrap_err()),
        "Unauthenticated"
    );

    // audit: JSON lines, filtered.
    let status = prepare_async(DownloadRequest::crt(id(12345)), &store)
        .await
        .unwrap_err()
        .status();
    for (n, principal, at) in [
        (12345, "one", 1_000_000),
        (1001, "two", 2_000_000),
        (12345, "two", 3_000_000),
    ] {
        vault
            .record_audit(&AuditEntry {
                at_ms: Some(at),
                principal: Some(principal.into()),
                certificate_id: Some(n),
                format: Some("crt".into()),
                status,
                error: Some("unauthenticated".into()),
                client: Some("[::1]:4000".into()),
                instance: Some("cli-test".into()),
                ..AuditEntry::default()
            })
            .await
            .unwrap();
    }
    let (code, lines) = run_in(&["audit"], Some(&db), None);
    assert_eq!((code, lines.len()), (0, 3));
    assert_eq!(lines[0]["time"], "1970-01-01T00:16:40.000Z");
    assert_eq!(lines[0]["client"], "[::1]:4000");
    assert_eq!(lines[0]["status"], 401);
    let (_, lines) = run_in(
        &["audit", "--principal", "two", "--id", "12345"],
        Some(&db),
        None,
    );
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["at_ms"], 3_000_000);
    let (_, lines) = run_in(
        &[
            "audit",
            "--since",
            "1970-01-01T00:30:00Z",
            "--until",
            "3000",
        ],
        Some(&db),
        None,
    );
    assert_eq!(
        lines
            .iter()
            .map(|l| l["at_ms"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        [2_000_000]
    );
    assert_eq!(
        fails(&["audit", "--since", "yesterday"], Some(&db))["error"],
        "invalid_argument"
    );

    // rekey with nothing to do.
    let out = ok(&["rekey"], &db);
    assert_eq!(
        (out["rewrapped"].as_i64(), out["remaining"].as_i64()),
        (Some(0), Some(0))
    );
    vault.close().await;
    raw.close().await;

    // kek new: mode 0600, never overwritten; --rotate appends.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("new-kek");
    let file_arg = path(&file);
    let (code, out) = run_in(&["kek", "new", &file_arg], None, None);
    assert_eq!(code, 0, "{out:?}");
    let first = out[0]["kek_id"].as_str().unwrap().to_owned();
    assert_eq!(fails(&["kek", "new", &file_arg], None)["error"], "kek_file");
    let (code, out) = run_in(&["kek", "new", "--rotate", &file_arg], None, None);
    assert_eq!(code, 0);
    let ring = cert_download_vault::Keyring::load(&file).unwrap();
    assert_eq!(
        ring.ids().collect::<Vec<_>>(),
        [first.as_str(), out[0]["kek_id"].as_str().unwrap()]
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
        // A KEK file others can read is refused by every subcommand.
        std::fs::set_permissions(&db.kek_file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = fails(&["grant", "x", "--read", "--all"], Some(&db));
        assert_eq!(e["error"], "kek_file");
        assert!(e["message"].as_str().unwrap().contains("chmod 600"), "{e}");
        std::fs::set_permissions(&db.kek_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    // Another vault's KEK file: a clear error, no change.
    let e = fails(
        &[
            "grant",
            "x",
            "--read",
            "--all",
            "--database",
            &db.url,
            "--kek-file",
            &file_arg,
        ],
        None,
    );
    assert_eq!(e["error"], "kek_missing", "{e}");
    // Bad URL; no arguments.
    let e = fails(
        &["init", "--database", "mysql://x", "--kek-file", &file_arg],
        None,
    );
    assert_eq!(e["error"], "unsupported_url");
    assert_eq!(fails(&[], None)["error"], "usage");
}

on_both!(admin_command);
