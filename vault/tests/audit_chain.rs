//! The tamper-evident audit trail: rows chained per writer, signed checkpoints, and
//! `cert-download-vault audit verify`, which names what an owner of the database changed,
//! removed, reordered or cut off. Each tampering is done on a fresh copy of one database
//! with the triggers dropped, as the table's owner could; the verifier runs as an auditor
//! would: the database and the public key, the KEK file gone.

use cert_download_test_support::on_both;
use cert_download_test_support::vault_db as common;

use std::path::{Path, PathBuf};
use std::process::Command;

use cert_download_vault::{AuditEntry, Keyring, Vault, VaultOptions};
use common::{Backend, Raw, TestDb};
use serde_json::Value;
use sqlx::AssertSqlSafe;

/// Rows per writer in the shared database.
const PER_WRITER: i64 = 500;

fn entry(writer: &str, n: i64) -> AuditEntry {
    AuditEntry {
        principal: Some(format!("p{}", n % 7)),
        certificate_id: Some(n),
        format: Some("pfx".into()),
        key_out: n % 2 == 0,
        status: 200,
        client: Some("127.0.0.1".into()),
        instance: Some(writer.to_owned()),
        ..AuditEntry::default()
    }
}

/// Writes `PER_WRITER` rows as `writer` from four concurrent tasks.
async fn write_rows(vault: Vault, writer: &'static str) {
    let mut tasks = Vec::new();
    for t in 0..4 {
        let vault = vault.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..PER_WRITER / 4 {
                vault.record_audit(&entry(writer, n * 4 + t)).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

/// `audit verify` on `url`: its exit code and JSON.
fn verify(url: &str, public_key: &str, checkpoints: Option<&Path>) -> (i32, Value) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cert-download-vault"));
    command.args([
        "audit",
        "verify",
        "--database",
        url,
        "--public-key",
        public_key,
        "--page",
        "97",
    ]);
    if let Some(file) = checkpoints {
        command.arg("--checkpoints").arg(file);
    }
    let output = command.output().unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    let value = serde_json::from_str(text.trim())
        .unwrap_or_else(|e| panic!("{e}: {text} {}", String::from_utf8_lossy(&output.stderr)));
    (output.status.code().unwrap(), value)
}

/// The one problem of a failed verification.
fn only_problem(code: i32, report: &Value) -> &Value {
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["verified"], false, "{report}");
    assert_eq!(report["error"], "audit_broken", "{report}");
    let problems = report["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{report}");
    &problems[0]
}

/// A database made by two writers at once, checkpointed, ready to be copied.
struct Original {
    db: TestDb,
    public_key: String,
    checkpoint_file: PathBuf,
}

async fn original(backend: Backend) -> Original {
    let db = TestDb::new(backend).await;
    db.init().await.close().await;
    // Two instances, each its own pool and process state, writing at once.
    let (a, b) = (db.connect().await, db.connect().await);
    tokio::join!(write_rows(a.clone(), "a"), write_rows(b.clone(), "b"));
    let checkpoint = a.audit_checkpoint("a").await.unwrap();
    let checkpoint_file = db.dir.path().join("checkpoints.jsonl");
    std::fs::write(&checkpoint_file, format!("{}\n", checkpoint.to_line())).unwrap();
    let public_key = a.audit_public_key().unwrap();
    assert_eq!(checkpoint.public_key, public_key);
    assert_eq!(checkpoint.writers.len(), 2);
    assert!(checkpoint.writers.iter().all(|w| w.seq == PER_WRITER));
    a.close().await;
    b.close().await;
    // The auditor holds no KEK.
    std::fs::remove_file(&db.kek_file).unwrap();
    Original {
        db,
        public_key,
        checkpoint_file,
    }
}

/// A fresh copy of the original database with the triggers dropped; returns its URL.
async fn tampered_copy(original: &Original, name: &str, edits: &[String]) -> String {
    let url = match original.db.backend {
        Backend::Sqlite => {
            let file = original.db.dir.path().join(format!("{name}.db"));
            let pool = sqlx::SqlitePool::connect(&original.db.url).await.unwrap();
            sqlx::query(AssertSqlSafe(format!("VACUUM INTO '{}'", file.display())))
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
            format!("sqlite://{}", file.display())
        }
        Backend::Postgres => {
            let source = original.db.url.rsplit('/').next().unwrap().to_owned();
            let copy = format!("{source}_{name}");
            let admin = sqlx::PgPool::connect(&common::postgres_url())
                .await
                .unwrap();
            sqlx::query(AssertSqlSafe(format!(
                "CREATE DATABASE {copy} TEMPLATE {source}"
            )))
            .execute(&admin)
            .await
            .unwrap();
            admin.close().await;
            original.db.url.replace(&source, &copy)
        }
    };
    let drops: &[&str] = match original.db.backend {
        Backend::Sqlite => &[
            "DROP TRIGGER audit_no_update",
            "DROP TRIGGER audit_no_delete",
            "DROP TRIGGER audit_checkpoints_no_update",
            "DROP TRIGGER audit_checkpoints_no_delete",
        ],
        Backend::Postgres => &[
            "DROP TRIGGER audit_no_update_or_delete ON audit",
            "DROP TRIGGER audit_checkpoints_no_update_or_delete ON audit_checkpoints",
        ],
    };
    let statements = drops
        .iter()
        .map(|s| (*s).to_owned())
        .chain(edits.iter().cloned());
    let raw = Raw::connect(original.db.backend, &url).await;
    raw.execute_all(statements).await;
    raw.close().await;
    url
}

/// The stored checkpoint line (the only one) and its id.
async fn stored_checkpoint(url: &str, backend: Backend) -> (i64, String) {
    let sql = "SELECT id, line FROM audit_checkpoints ORDER BY id";
    match backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(url).await.unwrap();
            let row = sqlx::query_as(sql).fetch_one(&pool).await.unwrap();
            pool.close().await;
            row
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            let row = sqlx::query_as(sql).fetch_one(&pool).await.unwrap();
            pool.close().await;
            row
        }
    }
}

fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

async fn two_writers_verify_and_every_tampering_is_named(backend: Backend) {
    let original = original(backend).await;
    let key = &original.public_key;
    let (id, line) = stored_checkpoint(&original.db.url, backend).await;

    // Untouched: verifies, with the KEK file gone.
    let (code, report) = verify(&original.db.url, key, Some(&original.checkpoint_file));
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["verified"], true);
    assert_eq!(report["rows"], 2 * PER_WRITER);
    assert_eq!(report["unchained"], 0);
    assert_eq!(report["checkpoints_table"], 1);
    assert_eq!(report["checkpoints_file"], 1);
    let writers = report["writers"].as_array().unwrap();
    assert_eq!(writers.len(), 2);
    for w in writers {
        assert_eq!(
            (w["rows"].as_i64(), w["last_seq"].as_i64()),
            (Some(PER_WRITER), Some(PER_WRITER))
        );
        assert_eq!(w["vouched_seq"], PER_WRITER);
    }

    // One field of one row changed.
    let url = tampered_copy(
        &original,
        "changed",
        &["UPDATE audit SET principal = 'mallory' WHERE writer = 'a' AND seq = 100".into()],
    )
    .await;
    let (code, report) = verify(&url, key, None);
    let p = only_problem(code, &report);
    assert_eq!(
        (
            p["problem"].as_str(),
            p["writer"].as_str(),
            p["seq"].as_i64()
        ),
        (Some("changed"), Some("a"), Some(100)),
        "{report}"
    );

    // A row deleted from the middle.
    let url = tampered_copy(
        &original,
        "missing",
        &["DELETE FROM audit WHERE writer = 'b' AND seq = 250".into()],
    )
    .await;
    let (code, report) = verify(&url, key, None);
    let p = only_problem(code, &report);
    assert_eq!(
        (
            p["problem"].as_str(),
            p["writer"].as_str(),
            p["seq"].as_i64()
        ),
        (Some("missing"), Some("b"), Some(250)),
        "{report}"
    );

    // Two rows' sequence numbers swapped.
    let url = tampered_copy(
        &original,
        "reordered",
        &[
            "UPDATE audit SET seq = -1 WHERE writer = 'a' AND seq = 300".into(),
            "UPDATE audit SET seq = 300 WHERE writer = 'a' AND seq = 310".into(),
            "UPDATE audit SET seq = 310 WHERE writer = 'a' AND seq = -1".into(),
        ],
    )
    .await;
    let (code, report) = verify(&url, key, None);
    let p = only_problem(code, &report);
    assert_eq!(
        (
            p["problem"].as_str(),
            p["writer"].as_str(),
            p["seq"].as_i64()
        ),
        (Some("reordered"), Some("a"), Some(300)),
        "{report}"
    );
    assert!(
        p["detail"].as_str().unwrap().contains("written as seq 310"),
        "{report}"
    );

    // The last 10 rows deleted: the last checkpoint vouched for them.
    let cut = format!(
        "DELETE FROM audit WHERE writer = 'a' AND seq > {}",
        PER_WRITER - 10
    );
    let url = tampered_copy(&original, "cut", std::slice::from_ref(&cut)).await;
    let (code, report) = verify(&url, key, None);
    let p = only_problem(code, &report);
    assert_eq!(
        (
            p["problem"].as_str(),
            p["writer"].as_str(),
            p["seq"].as_i64()
        ),
        (Some("cut_off"), Some("a"), Some(PER_WRITER - 9)),
        "{report}"
    );
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("table id {id}")),
        "{report}"
    );

    // ... and the checkpoints table cut too: the shipped checkpoint file still tells.
    let url = tampered_copy(
        &original,
        "cut_both",
        &[cut, "DELETE FROM audit_checkpoints".into()],
    )
    .await;
    let (code, report) = verify(&url, key, Some(&original.checkpoint_file));
    let p = only_problem(code, &report);
    assert_eq!(
        (
            p["problem"].as_str(),
            p["writer"].as_str(),
            p["seq"].as_i64()
        ),
        (Some("cut_off"), Some("a"), Some(PER_WRITER - 9)),
        "{report}"
    );
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("checkpoints.jsonl line 1"),
        "{report}"
    );

    // A checkpoint's signature with one byte flipped.
    let mut checkpoint: Value = serde_json::from_str(&line).unwrap();
    let mut signature = base64_decode(checkpoint["signature"].as_str().unwrap());
    signature[10] ^= 0x01;
    checkpoint["signature"] = Value::String(base64_encode(&signature));
    let url = tampered_copy(
        &original,
        "flipped",
        &[format!(
            "UPDATE audit_checkpoints SET line = {} WHERE id = {id}",
            quoted(&checkpoint.to_string())
        )],
    )
    .await;
    let (code, report) = verify(&url, key, None);
    let p = only_problem(code, &report);
    assert_eq!(p["problem"], "bad_signature", "{report}");
    assert_eq!(p["checkpoint"], format!("table id {id}"), "{report}");

    // A checkpoint signed by another key (another vault's), slipped into the table.
    let other = TestDb::new(Backend::Sqlite).await;
    let other_vault = other.init().await;
    let forged = other_vault.audit_checkpoint("a").await.unwrap();
    other_vault.close().await;
    let url = tampered_copy(
        &original,
        "forged",
        &[format!(
            "INSERT INTO audit_checkpoints (at_ms, line) VALUES ({}, {})",
            forged.at_ms,
            quoted(&forged.to_line())
        )],
    )
    .await;
    let (code, report) = verify(&url, key, None);
    let p = only_problem(code, &report);
    assert_eq!(p["problem"], "other_key", "{report}");
    assert!(
        p["checkpoint"].as_str().unwrap().starts_with("table id "),
        "{report}"
    );

    // The original, after all that copying: still whole.
    let (code, report) = verify(&original.db.url, key, None);
    assert_eq!(code, 0, "{report}");
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A restarted instance continues its chain; a new name starts another; rows written
/// before the chain existed are counted as unchained.
async fn restart_continues_and_old_rows_are_unchained(backend: Backend) {
    let db = TestDb::new(backend).await;
    let vault = db.init().await;
    let raw = db.raw().await;
    // As a build before the chain wrote them.
    raw.execute(
        "INSERT INTO audit (at_ms, principal, key_out, status, instance) \
         VALUES (1, 'old', FALSE, 200, 'a')",
    )
    .await
    .unwrap();
    for n in 0..3 {
        vault.record_audit(&entry("a", n)).await.unwrap();
    }
    vault.close().await;
    let vault = db.connect().await;
    for n in 3..5 {
        vault.record_audit(&entry("a", n)).await.unwrap();
    }
    vault.record_audit(&entry("c", 0)).await.unwrap();
    vault
        .record_audit(&AuditEntry {
            instance: None,
            ..entry("x", 0)
        })
        .await
        .unwrap();
    let key = vault.audit_public_key().unwrap();
    vault.close().await;
    assert_eq!(
        raw.count("SELECT COUNT(*) FROM audit WHERE writer = 'a' AND seq BETWEEN 1 AND 5")
            .await,
        5
    );
    raw.close().await;
    let (code, report) = verify(&db.url, &key, None);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["unchained"], 1);
    assert_eq!(report["rows"], 7);
    let seqs: Vec<(String, i64)> = report["writers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["writer"].as_str().unwrap().to_owned(),
                w["last_seq"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seqs,
        [("a".into(), 5), ("c".into(), 1), ("default".into(), 1)]
    );
}

/// Two processes under one instance name (a misconfiguration) still never share or skip a
/// number: the unique index refuses the second, which re-reads the head and retries.
async fn one_name_in_two_processes_shares_no_number(backend: Backend) {
    let db = TestDb::new(backend).await;
    db.init().await.close().await;
    let options = || VaultOptions::default();
    let a = Vault::connect(&db.url, db.keyring(), options())
        .await
        .unwrap();
    let b = Vault::connect(&db.url, db.keyring(), options())
        .await
        .unwrap();
    tokio::join!(write_rows(a.clone(), "same"), write_rows(b.clone(), "same"));
    a.audit_checkpoint("same").await.unwrap();
    let key = a.audit_public_key().unwrap();
    a.close().await;
    b.close().await;
    let (code, report) = verify(&db.url, &key, None);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["writers"][0]["last_seq"], 2 * PER_WRITER);
}

/// `audit public-key` and `audit checkpoint` through the command; `public-key` needs no KEK.
async fn public_key_and_checkpoint_commands(backend: Backend) {
    let db = TestDb::new(backend).await;
    let vault = db.init().await;
    vault.record_audit(&entry("a", 1)).await.unwrap();
    let key = vault.audit_public_key().unwrap();
    vault.close().await;
    let bin = env!("CARGO_BIN_EXE_cert-download-vault");
    let file = db.dir.path().join("cp.jsonl");
    let out = Command::new(bin)
        .args(["audit", "checkpoint", "--database", &db.url, "--kek-file"])
        .arg(&db.kek_file)
        .arg("--file")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["writers"][0]["seq"], 1);
    assert_eq!(line["signer"], "cert-download-vault");
    assert_eq!(std::fs::read_to_string(&file).unwrap().lines().count(), 1);
    std::fs::remove_file(&db.kek_file).unwrap();
    let out = Command::new(bin)
        .args(["audit", "public-key", "--database", &db.url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["public_key"], key);
    let (code, report) = verify(&db.url, &key, Some(&file));
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["checkpoints_table"], 1);
    assert_eq!(report["checkpoints_file"], 1);
}

/// The audit signing key moves to the newest KEK with `rekey`: once the old KEK leaves
/// the file, the vault still opens and signs with the same key.
async fn rekey_moves_the_audit_key(backend: Backend) {
    let db = TestDb::new(backend).await;
    let vault = db.init().await;
    let key = vault.audit_public_key().unwrap();
    vault.close().await;
    Keyring::append_to_file(&db.kek_file).unwrap();
    let vault = db.connect().await;
    vault.rekey(100).await.unwrap();
    vault.close().await;
    let text = std::fs::read_to_string(&db.kek_file).unwrap();
    let newest = text
        .lines()
        .rfind(|l| !l.starts_with('#') && !l.trim().is_empty())
        .unwrap();
    std::fs::write(&db.kek_file, format!("{newest}\n")).unwrap();
    let vault = db.connect().await;
    assert_eq!(vault.audit_public_key().as_deref(), Some(key.as_str()));
    vault.record_audit(&entry("a", 1)).await.unwrap();
    let checkpoint = vault.audit_checkpoint("a").await.unwrap();
    assert_eq!(checkpoint.public_key, key);
    vault.close().await;
    let (code, report) = verify(&db.url, &key, None);
    assert_eq!(code, 0, "{report}");
}

on_both!(
    rekey_moves_the_audit_key,
    two_writers_verify_and_every_tampering_is_named,
    restart_continues_and_old_rows_are_unchained,
    one_name_in_two_processes_shares_no_number,
    public_key_and_checkpoint_commands,
);
