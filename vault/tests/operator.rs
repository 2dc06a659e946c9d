//! The operator's subcommands of the admin command, as a script runs them: the listings
//! (principals, grants, certificates, KEKs), certificate deletion, KEK retirement, backup,
//! which subcommands need the KEK file, and where `--database` comes from.

use cert_download_test_support::on_both;
use cert_download_test_support::vault_db as common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::{Backend, DEMO_IDS, TestDb};
use serde_json::Value;

/// Runs the command with `envs` set; its exit code and its standard output as JSON lines.
fn run(args: &[&str], envs: &[(&str, &str)]) -> (i32, Vec<Value>) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cert-download-vault"));
    command.args(args).env_remove("CERT_DOWNLOAD_DATABASE_URL");
    for (k, v) in envs {
        command.env(k, v);
    }
    let output = command.output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let values = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{args:?}: {e}: {l}")))
        .collect();
    (output.status.code().unwrap(), values)
}

/// `args` then `--database URL`, without the KEK file: one JSON object and exit 0.
fn ok(db: &TestDb, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["--database", &db.url]);
    let (code, mut out) = run(&all, &[]);
    assert_eq!((code, out.len()), (0, 1), "{all:?}: {out:?}");
    out.remove(0)
}

/// `args` then `--database URL --kek-file FILE`: one JSON object and exit 0.
fn ok_with_kek(db: &TestDb, args: &[&str]) -> Value {
    let kek = db.kek_file.to_str().unwrap();
    let mut all = args.to_vec();
    all.extend(["--database", &db.url, "--kek-file", kek]);
    let (code, mut out) = run(&all, &[]);
    assert_eq!((code, out.len()), (0, 1), "{all:?}: {out:?}");
    out.remove(0)
}

/// A JSON error object and a non-zero exit; returns it.
fn fails(args: &[&str], envs: &[(&str, &str)]) -> Value {
    let (code, mut out) = run(args, envs);
    assert_ne!(code, 0, "{args:?}: {out:?}");
    assert_eq!(out.len(), 1, "{args:?}: {out:?}");
    let error = out.remove(0);
    assert!(error["message"].is_string(), "{error}");
    error
}

fn message(error: &Value) -> &str {
    error["message"].as_str().unwrap()
}

fn path(p: &Path) -> String {
    p.to_str().unwrap().to_owned()
}

async fn listings_and_deletion_need_no_kek(backend: Backend) {
    let db = TestDb::new(backend).await;
    let demo = path(&common::demo_store());
    ok_with_kek(&db, &["init"]);
    ok_with_kek(&db, &["import", &demo]);

    // Grants and tokens without the KEK file.
    assert_eq!(
        ok(&db, &["principal", "list"])["principals"],
        serde_json::json!([])
    );
    ok(&db, &["grant", "reader", "--read", "--all"]);
    ok(&db, &["grant", "one", "--read", "--export", "12345"]);
    ok(&db, &["token", "create", "reader"]);
    let principals = ok(&db, &["principal", "list"])["principals"].clone();
    let names: Vec<&str> = principals
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["one", "reader"]);
    assert_eq!(principals[0]["grants"], 2);
    assert_eq!(principals[0]["active_tokens"], 0);
    assert_eq!(principals[1]["active_tokens"], 1);

    let grants = ok(&db, &["grant", "list"])["grants"].clone();
    assert_eq!(grants.as_array().unwrap().len(), 3);
    let of_one = ok(&db, &["grant", "list", "one"])["grants"].clone();
    let of_one: Vec<(String, Value)> = of_one
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["permission"].as_str().unwrap().to_owned(),
                g["certificate_id"].clone(),
            )
        })
        .collect();
    assert_eq!(
        of_one,
        [
            ("export_key".to_owned(), Value::from(12345)),
            ("read".to_owned(), Value::from(12345))
        ]
    );
    let all = ok(&db, &["grant", "list", "reader"])["grants"].clone();
    assert_eq!(all[0]["certificate_id"], Value::Null);
    assert_eq!(
        ok(&db, &["grant", "list", "nobody"])["grants"],
        serde_json::json!([])
    );

    // Certificates: every field but key bytes.
    let kek_id = db.keyring().newest().id().to_owned();
    let list = ok(&db, &["certificate", "list"])["certificates"].clone();
    let list = list.as_array().unwrap();
    assert_eq!(
        list.iter()
            .map(|c| c["id"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        DEMO_IDS
    );
    for c in list {
        assert!(c["subject"].as_str().unwrap().contains("CN="), "{c}");
        assert!(c["issuer"].as_str().unwrap().contains("CN="), "{c}");
        assert!(c["not_after"].as_str().unwrap().ends_with('Z'), "{c}");
        assert_eq!(c["sha256"].as_str().unwrap().len(), 64);
        if c["key"] == true {
            assert_eq!(c["kek_id"], kek_id.as_str());
        } else {
            assert_eq!(c["kek_id"], Value::Null);
        }
        let text = c.to_string();
        assert!(
            !text.contains("ciphertext") && !text.contains("wrapped"),
            "{text}"
        );
    }
    let shown = ok(&db, &["certificate", "show", "12345"]);
    assert_eq!(shown["id"], 12345);
    assert_eq!(shown["key"], true);
    assert!(!shown["issuers"].as_array().unwrap().is_empty(), "{shown}");
    assert!(
        shown["issuers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["subject"] == shown["issuer"]),
        "the leaf's issuer is among the stored issuers: {shown}"
    );
    let e = fails(&["certificate", "show", "999", "--database", &db.url], &[]);
    assert_eq!(e["error"], "not_found");

    // Deletion: asks for --yes, then final, and in the audit trail.
    let e = fails(
        &["certificate", "delete", "1004", "--database", &db.url],
        &[],
    );
    assert_eq!(e["error"], "confirmation_needed");
    assert!(message(&e).contains("--yes"), "{e}");
    assert_eq!(
        ok(&db, &["certificate", "list"])["certificates"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    assert_eq!(
        ok(&db, &["certificate", "delete", "1004", "--yes"])["deleted"],
        1004
    );
    let ids: Vec<u64> = ok(&db, &["certificate", "list"])["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [1001, 1002, 1003, 12345]);
    let e = fails(
        &[
            "certificate",
            "delete",
            "1004",
            "--yes",
            "--database",
            &db.url,
        ],
        &[],
    );
    assert_eq!(e["error"], "not_found");
    let (code, audit) = run(&["audit", "--id", "1004", "--database", &db.url], &[]);
    assert_eq!((code, audit.len()), (0, 1), "{audit:?}");
    assert_eq!(audit[0]["error"], "certificate_deleted");
    assert!(
        audit[0]["client"]
            .as_str()
            .unwrap()
            .starts_with("cert-download-vault run by")
    );
    // The key went with it.
    let raw = db.raw().await;
    assert_eq!(
        raw.count_with(
            "SELECT COUNT(*) FROM sealed_keys WHERE certificate_id = 1004",
            None
        )
        .await,
        0
    );
    raw.close().await;

    // What needs the KEKs says so.
    for args in [
        &["import", &demo][..],
        &["rekey"],
        &["kek", "list"],
        &["init"],
    ] {
        let mut all = args.to_vec();
        all.extend(["--database", &db.url]);
        let e = fails(&all, &[]);
        assert_eq!(e["error"], "usage", "{args:?}");
        assert!(message(&e).contains("--kek-file"), "{args:?}: {e}");
    }
    let (code, help) = {
        let output = Command::new(env!("CARGO_BIN_EXE_cert-download-vault"))
            .arg("--help")
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8(output.stdout).unwrap(),
        )
    };
    assert_eq!(code, Some(0));
    assert!(
        help.contains("Need the KEK file (--kek-file): init, import, rekey"),
        "{help}"
    );
    assert!(
        help.contains("Need no KEK: grant, revoke, token, audit, principal"),
        "{help}"
    );
}

async fn kek_list_and_retire(backend: Backend) {
    let db = TestDb::new(backend).await;
    let kek = path(&db.kek_file);
    ok_with_kek(&db, &["init"]);
    ok_with_kek(&db, &["import", &path(&common::demo_store())]);
    let old = db.keyring().newest().id().to_owned();
    let keks = ok_with_kek(&db, &["kek", "list"])["keks"].clone();
    assert_eq!(keks.as_array().unwrap().len(), 1);
    assert_eq!(keks[0]["kek_id"], old.as_str());
    let keys = keks[0]["keys"].as_i64().unwrap();
    assert!(keys >= 4, "{keks}");
    assert_eq!(keks[0]["newest"], true);

    let (code, _) = run(&["kek", "new", "--rotate", &kek], &[]);
    assert_eq!(code, 0);
    let new = db.keyring().newest().id().to_owned();
    // Still wrapping keys: refused, the file unchanged.
    let retire_old = [
        "kek",
        "retire",
        &old,
        "--database",
        &db.url,
        "--kek-file",
        &kek,
    ];
    let e = fails(&retire_old, &[]);
    assert_eq!(e["error"], "kek_in_use");
    assert!(message(&e).contains(&format!("{keys} sealed keys")), "{e}");
    assert!(message(&e).contains("rekey"), "{e}");
    assert_eq!(db.keyring().ids().count(), 2);
    // The newest: refused.
    let e = fails(
        &[
            "kek",
            "retire",
            &new,
            "--database",
            &db.url,
            "--kek-file",
            &kek,
        ],
        &[],
    );
    assert_eq!(e["error"], "kek_in_use");
    assert!(message(&e).contains("newest"), "{e}");
    // Not in the file.
    let e = fails(
        &[
            "kek",
            "retire",
            "kek-nope",
            "--database",
            &db.url,
            "--kek-file",
            &kek,
        ],
        &[],
    );
    assert_eq!(e["error"], "invalid_argument");

    assert_eq!(ok_with_kek(&db, &["rekey"])["remaining"], 0);
    let keks = ok_with_kek(&db, &["kek", "list"])["keks"].clone();
    assert_eq!(keks[0]["keys"], 0);
    assert_eq!(keks[1]["keys"], keys);
    let out = ok_with_kek(&db, &["kek", "retire", &old]);
    assert_eq!(out["retired"], old.as_str());
    assert_eq!(out["kek_ids"], serde_json::json!([new.as_str()]));
    // The line is gone, the file still 0600, and the vault opens with what remains.
    let text = std::fs::read_to_string(&db.kek_file).unwrap();
    assert!(!text.contains(&old), "{text}");
    assert!(
        text.starts_with("# cert-download-vault key-encryption keys"),
        "{text}"
    );
    assert_eq!(
        std::fs::metadata(&db.kek_file)
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    let keks = ok_with_kek(&db, &["kek", "list"])["keks"].clone();
    assert_eq!(keks.as_array().unwrap().len(), 1, "{keks}");
    let vault = db.connect().await;
    let token = vault.create_token("admin", None).await.unwrap().token;
    vault
        .grant(
            "admin",
            cert_download_vault::Permission::Read,
            &cert_download_vault::Scope::All,
        )
        .await
        .unwrap();
    vault
        .grant(
            "admin",
            cert_download_vault::Permission::ExportKey,
            &cert_download_vault::Scope::All,
        )
        .await
        .unwrap();
    let store = vault.caller(&token).await.unwrap();
    cert_download::AsyncCertificateStore::private_key(&store, common::id(12345))
        .await
        .unwrap();
    vault.close().await;

    // The only KEK of the file with a check value: refused, for the vault would not open.
    let fresh = TestDb::new(backend).await;
    let fresh_kek = path(&fresh.kek_file);
    ok_with_kek(&fresh, &["init"]);
    let first = fresh.keyring().newest().id().to_owned();
    run(&["kek", "new", "--rotate", &fresh_kek], &[]);
    let e = fails(
        &[
            "kek",
            "retire",
            &first,
            "--database",
            &fresh.url,
            "--kek-file",
            &fresh_kek,
        ],
        &[],
    );
    assert_eq!(e["error"], "kek_in_use");
    assert!(message(&e).contains("check value"), "{e}");
}

async fn database_from_env_or_file(backend: Backend) {
    let db = TestDb::new(backend).await;
    ok_with_kek(&db, &["init"]);
    let (code, out) = run(
        &["principal", "list"],
        &[("CERT_DOWNLOAD_DATABASE_URL", &db.url)],
    );
    assert_eq!(code, 0, "{out:?}");
    let (code, out) = run(
        &["principal", "list", "--database", "env:VAULT_URL_FOR_TEST"],
        &[("VAULT_URL_FOR_TEST", &db.url)],
    );
    assert_eq!(code, 0, "{out:?}");
    let file = db.dir.path().join("database-url");
    std::fs::write(&file, format!("{}\n", db.url)).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let spec = format!("file:{}", file.display());
    let (code, out) = run(&["principal", "list", "--database", &spec], &[]);
    assert_eq!(code, 0, "{out:?}");
    // The env variable holds a form too.
    let (code, out) = run(
        &["principal", "list"],
        &[("CERT_DOWNLOAD_DATABASE_URL", &spec)],
    );
    assert_eq!(code, 0, "{out:?}");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    let e = fails(&["principal", "list", "--database", &spec], &[]);
    assert_eq!(e["error"], "invalid_argument");
    assert!(
        message(&e).contains("is accessible by group or others (mode 640); chmod 600 it"),
        "{e}"
    );
    let e = fails(
        &[
            "principal",
            "list",
            "--database",
            "env:VAULT_URL_UNSET_FOR_TEST",
        ],
        &[],
    );
    assert!(
        message(&e).contains("VAULT_URL_UNSET_FOR_TEST is not set"),
        "{e}"
    );
    // No --database at all.
    let e = fails(&["principal", "list"], &[]);
    assert_eq!(e["error"], "usage");
}

async fn backup(backend: Backend) {
    let db = TestDb::new(backend).await;
    ok_with_kek(&db, &["init"]);
    ok_with_kek(&db, &["import", &path(&common::demo_store())]);
    let copy = db.dir.path().join("backup.db");
    let copy_arg = path(&copy);
    if backend == Backend::Postgres {
        let e = fails(&["backup", &copy_arg, "--database", &db.url], &[]);
        assert_eq!(e["error"], "sqlite_only");
        assert!(message(&e).contains("pg_dump"), "{e}");
        assert!(!copy.exists());
        return;
    }
    assert_eq!(ok(&db, &["backup", &copy_arg])["backup"], copy_arg.as_str());
    assert_eq!(
        std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // The copy is a vault: it opens with the KEK file and holds the records.
    let (code, out) = run(
        &[
            "certificate",
            "list",
            "--database",
            &format!("sqlite://{copy_arg}"),
            "--kek-file",
            &path(&db.kek_file),
        ],
        &[],
    );
    assert_eq!(code, 0, "{out:?}");
    assert_eq!(
        out[0]["certificates"].as_array().unwrap().len(),
        DEMO_IDS.len()
    );
    // Never over an existing file.
    let e = fails(&["backup", &copy_arg, "--database", &db.url], &[]);
    assert_eq!(e["error"], "create_file");
}

async fn a_missing_sqlite_file_says_to_run_init(backend: Backend) {
    if backend == Backend::Postgres {
        return;
    }
    let db = TestDb::new(backend).await;
    let e = fails(&["principal", "list", "--database", &db.url], &[]);
    assert_eq!(e["error"], "not_initialized");
    assert!(
        message(&e).contains("does not exist: run `cert-download-vault init`"),
        "{e}"
    );
    assert!(!db.file.as_ref().unwrap().exists(), "nothing is created");
}

on_both!(
    listings_and_deletion_need_no_kek,
    kek_list_and_retire,
    database_from_env_or_file,
    backup,
    a_missing_sqlite_file_says_to_run_init,
);

/// A PostgreSQL cluster of the test's own that asks for passwords (SCRAM), since the
/// shared one trusts every local connection; stopped when dropped.
struct PasswordCluster {
    dir: tempfile::TempDir,
    port: u16,
    bin: std::path::PathBuf,
}

impl PasswordCluster {
    /// As the `postgres` user when run as root (initdb refuses root), as oneself otherwise.
    fn command(&self, program: &str) -> Command {
        let tool = self.bin.join(program);
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        if root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(tool);
            c
        } else {
            Command::new(tool)
        }
    }

    fn start(password: &str) -> PasswordCluster {
        let bin = std::path::PathBuf::from(
            std::env::var("CERT_DOWNLOAD_PG_BIN")
                .expect("CERT_DOWNLOAD_PG_BIN names PostgreSQL's bin directory"),
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, password).unwrap();
        std::fs::set_permissions(&pwfile, std::fs::Permissions::from_mode(0o644)).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cluster = PasswordCluster { dir, port, bin };
        let data = cluster.dir.path().join("data");
        let status = cluster
            .command("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-A", "scram-sha-256", "-U", "postgres", "--pwfile"])
            .arg(&pwfile)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "initdb failed");
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            cluster.dir.path().display()
        );
        let status = cluster
            .command("pg_ctl")
            .arg("-D")
            .arg(&data)
            .args(["-o", &options, "-w", "-l"])
            .arg(cluster.dir.path().join("log"))
            .arg("start")
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "pg_ctl start failed");
        cluster
    }
}

impl Drop for PasswordCluster {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "stop"])
            .stdout(std::process::Stdio::null())
            .status();
    }
}

/// PostgreSQL's own password file keeps working beside `--database`'s forms: a URL without
/// a password takes it from `PGPASSFILE`; without it the server refuses the connection.
#[cfg_attr(
    not(postgres_cluster),
    ignore = "needs PostgreSQL: set CERT_DOWNLOAD_POSTGRES_URL and CERT_DOWNLOAD_PG_BIN (scripts/test-all does)"
)]
#[test]
fn pgpassfile_gives_the_password_of_a_url_without_one() {
    let password = "pgpass-test-secret";
    let cluster = PasswordCluster::start(password);
    let home = tempfile::tempdir().unwrap();
    let kek = home.path().join("vault.kek");
    cert_download_vault::Keyring::create_file(&kek).unwrap();
    let kek = path(&kek);
    let url = format!("postgres://postgres@127.0.0.1:{}/postgres", cluster.port);
    let pgpass = home.path().join("pgpass");
    std::fs::write(
        &pgpass,
        format!("127.0.0.1:{}:*:postgres:{password}\n", cluster.port),
    )
    .unwrap();
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).unwrap();
    let home_dir = path(home.path());
    // No password anywhere: refused by the server.
    let e = fails(
        &["init", "--database", &url, "--kek-file", &kek],
        &[("HOME", &home_dir), ("PGPASSFILE", "/nonexistent")],
    );
    assert_eq!(e["error"], "database", "{e}");
    assert!(!message(&e).contains(password), "{e}");
    // With PGPASSFILE: init, and the listings through CERT_DOWNLOAD_DATABASE_URL.
    let pgpass = path(&pgpass);
    let envs = [("HOME", home_dir.as_str()), ("PGPASSFILE", pgpass.as_str())];
    let (code, out) = run(&["init", "--database", &url, "--kek-file", &kek], &envs);
    assert_eq!(code, 0, "{out:?}");
    let mut with_url = envs.to_vec();
    with_url.push(("CERT_DOWNLOAD_DATABASE_URL", &url));
    let (code, out) = run(&["principal", "list"], &with_url);
    assert_eq!(
        (code, &out[0]["principals"]),
        (0, &serde_json::json!([])),
        "{out:?}"
    );
}
