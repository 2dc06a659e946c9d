//! Crashes: the admin command killed (SIGKILL) in the middle of `import` and of `rekey`.
//!
//! How "the middle" is reached deterministically: the command works on 400 records, one
//! transaction (import) or one update (rekey) per record; the test polls the database
//! from another connection and kills the process once at least 20 rows are committed,
//! then checks that it did stop short of the end (each record costs a transaction commit
//! and, for import, the key check, so 380 more take far longer than one poll).

use cert_download_test_support::on_both;
use cert_download_test_support::vault_db as common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cert_download::AsyncCertificateStore;
use cert_download_vault::{Keyring, Vault, VaultOptions};
use common::{Backend, Raw, TestDb, id};

const RECORDS: u64 = 400;
const KILL_AFTER: i64 = 20;

fn admin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cert-download-vault"))
}

/// A child process killed when the test ends, however it ends.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run(db: &TestDb, args: &[&str]) -> serde_json::Value {
    let output = admin()
        .args(args)
        .args(["--database", &db.url, "--kek-file"])
        .arg(&db.kek_file)
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "{args:?}: {stdout}");
    serde_json::from_str(&stdout).unwrap()
}

/// Starts `args` and kills it (SIGKILL) once `count` reaches KILL_AFTER.
async fn kill_midway(
    db: &TestDb,
    args: &[&str],
    raw: &Raw,
    count: (&'static str, Option<&str>),
) -> i64 {
    let child = admin()
        .args(args)
        .args(["--database", &db.url, "--kek-file"])
        .arg(&db.kek_file)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = Running(child);
    let start = Instant::now();
    loop {
        let done = raw.count_with(count.0, count.1).await;
        if done >= KILL_AFTER {
            break;
        }
        assert!(
            child.0.try_wait().unwrap().is_none(),
            "{args:?} ended before the kill"
        );
        assert!(start.elapsed() < Duration::from_secs(120), "no progress");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.0.kill().unwrap(); // SIGKILL
    let status = child.0.wait().unwrap();
    assert!(!status.success(), "killed, not finished");
    // A statement the process had sent before it died may still commit on the server
    // (PostgreSQL finishes it): give it a moment before counting.
    tokio::time::sleep(Duration::from_millis(300)).await;
    raw.count_with(count.0, count.1).await
}

/// `RECORDS` records, all the P-256 record 4 of the fixtures under other ids.
fn many_records(dir: &Path) {
    let source = common::fixtures().join("4");
    for n in 1..=RECORDS {
        let target = dir.join(n.to_string());
        std::fs::create_dir(&target).unwrap();
        for file in ["cert.pem", "chain.pem", "key.pem"] {
            std::fs::copy(source.join(file), target.join(file)).unwrap();
        }
    }
}

/// Every record is there with its key, and every key opens.
async fn all_keys_open(vault: &Vault, token: &str, ids: impl Iterator<Item = u64>) {
    let store = vault.caller(token).await.unwrap();
    for n in ids {
        let record = store.certificate(id(n)).await.unwrap();
        let key = store.private_key(id(n)).await.unwrap();
        cert_download_vault::check_record(id(n), &record, Some(&key)).unwrap();
    }
}

async fn import_and_rekey_killed_midway(backend: Backend) {
    let db = TestDb::new(backend).await;
    let records = tempfile::tempdir().unwrap();
    many_records(records.path());
    let dir = records.path().to_str().unwrap();
    run(&db, &["init"]);
    let raw = db.raw().await;

    // import, killed mid-way: no half record, and a second run completes it.
    let committed = kill_midway(
        &db,
        &["import", dir],
        &raw,
        ("SELECT COUNT(*) FROM certificates", None),
    )
    .await;
    assert!(
        committed < RECORDS as i64,
        "the import finished before the kill"
    );
    let keys = raw.count("SELECT COUNT(*) FROM sealed_keys").await;
    assert_eq!(
        keys, committed,
        "every stored certificate has its sealed key"
    );
    let out = run(&db, &["import", dir]);
    assert_eq!(
        out["unchanged"].as_array().unwrap().len() as i64,
        committed,
        "{out}"
    );
    assert_eq!(
        out["inserted"].as_array().unwrap().len() as i64,
        RECORDS as i64 - committed
    );
    assert_eq!(
        raw.count("SELECT COUNT(*) FROM sealed_keys").await,
        RECORDS as i64
    );

    // rekey, killed mid-way while downloads go on: every key opens before and after.
    let old = db.keyring().newest().id().to_owned();
    Keyring::append_to_file(&db.kek_file).unwrap();
    let new = db.keyring().newest().id().to_owned();
    let vault = db.connect().await;
    let token = common::full_access_token(&vault, "a").await;
    let reader = {
        let vault = vault.clone();
        let token = token.clone();
        tokio::spawn(async move {
            let store = vault.caller(&token).await.unwrap();
            let mut served = 0u64;
            for n in (1..=RECORDS).cycle().take(2000) {
                store.private_key(id(n)).await.unwrap();
                served += 1;
            }
            served
        })
    };
    let moved = kill_midway(
        &db,
        &["rekey", "--batch", "7"],
        &raw,
        (
            "SELECT COUNT(*) FROM sealed_keys WHERE kek_id = $1",
            Some(&new),
        ),
    )
    .await;
    assert!(moved < RECORDS as i64, "rekey finished before the kill");
    assert_eq!(
        reader.await.unwrap(),
        2000,
        "downloads went on during rekey"
    );
    // Both KEKs in use now; the vault opens and every key opens.
    let by_kek = raw
        .count("SELECT COUNT(DISTINCT kek_id) FROM sealed_keys")
        .await;
    assert_eq!(by_kek, 2);
    vault.close().await;
    let vault = db.connect().await;
    all_keys_open(&vault, &token, 1..=RECORDS).await;
    vault.close().await;
    // A second run finishes the job.
    let out = run(&db, &["rekey"]);
    assert_eq!(
        out["rewrapped"].as_i64().unwrap(),
        RECORDS as i64 - moved,
        "{out}"
    );
    assert_eq!(out["remaining"], 0, "{out}");
    assert_eq!(out["kek_id"], new.as_str());
    // The old KEK can go: a file with the newest alone opens every key.
    let text = std::fs::read_to_string(&db.kek_file).unwrap();
    let without_old: String = text
        .lines()
        .filter(|l| !l.starts_with(&old))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&db.kek_file, without_old).unwrap();
    let vault = Vault::connect(&db.url, db.keyring(), VaultOptions::default())
        .await
        .unwrap();
    assert_eq!(db.keyring().ids().collect::<Vec<_>>(), [new.as_str()]);
    all_keys_open(&vault, &token, 1..=RECORDS).await;
    raw.close().await;
}

on_both!(import_and_rekey_killed_midway);
