//! Client certificates (mTLS) registered in the vault: `principal add-cert` and
//! `remove-cert` as an operator runs them, [`Vault::caller_by_client_certificate`] giving
//! the store a token would (the same grants, checked again on every call), and the audit
//! rows' `credential` column, which joins the chain without breaking the rows chained
//! before it existed.

use cert_download_test_support::on_both;
use cert_download_test_support::vault_db as common;

use std::path::Path;
use std::process::Command;

use cert_download::{
    AsyncCertificateStore, CertificateDer, DownloadRequest, ExportPolicy, OsRandom, Password,
    PasswordPolicy, PemObject, prepare_async,
};
use cert_download_vault::{
    AuditEntry, AuditFilter, Permission, Scope, Vault, VaultError, VaultStore,
};
use common::{Backend, DEMO_IDS, TestDb, id, import_dir};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Runs the admin command on `db` without the KEK file (these commands need none); its
/// exit code and the one JSON object it prints.
fn admin(db: &TestDb, args: &[&str]) -> (i32, Value) {
    let output = Command::new(env!("CARGO_BIN_EXE_cert-download-vault"))
        .args(args)
        .args(["--database", &db.url])
        .output()
        .unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    let value = serde_json::from_str(text.trim()).unwrap_or_else(|e| {
        panic!(
            "{args:?}: {e}: {text} {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code().unwrap(), value)
}

/// The admin command's error code, after checking that it failed.
fn refused(db: &TestDb, args: &[&str]) -> (String, String) {
    let (code, value) = admin(db, args);
    assert_ne!(code, 0, "{args:?}: {value}");
    (
        value["error"].as_str().unwrap().to_owned(),
        value["message"].as_str().unwrap().to_owned(),
    )
}

/// A certificate of the demo store, as a client would hold it: its PEM file and the
/// SHA-256 of its DER.
fn client_certificate(n: u64) -> (String, [u8; 32]) {
    let path = common::demo_store().join(format!("{n}/cert.pem"));
    let der = CertificateDer::from_pem_file(&path).unwrap();
    (
        path.to_str().unwrap().to_owned(),
        Sha256::digest(der.as_ref()).into(),
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The status of a download through `store` (200, or the error's status and code).
async fn status(store: &VaultStore, request: DownloadRequest) -> (u16, String) {
    match prepare_async(request, store).await {
        Ok(prepared) => {
            match prepared.encode(&ExportPolicy::with_iterations(1).unwrap(), &mut OsRandom) {
                Ok(_) => (200, "ok".into()),
                Err(e) => (e.status(), e.code().into()),
            }
        }
        Err(e) => (e.status(), e.code().into()),
    }
}

fn password() -> Password {
    Password::new("a-good-password", &PasswordPolicy::DEFAULT).unwrap()
}

/// Register (and every refusal of it), look up, grants, listing, removal.
async fn register_look_up_and_remove(backend: Backend) {
    let db = TestDb::new(backend).await;
    let vault = db.init().await;
    import_dir(&vault, &common::demo_store(), &DEMO_IDS).await;
    let (alice_pem, alice_fp) = client_certificate(1001);
    let (other_pem, other_fp) = client_certificate(1002);
    let alice_fp_text = format!("sha256:{}", hex(&alice_fp));

    // An unknown principal is refused (no principal is created by it).
    let (code, message) = refused(&db, &["principal", "add-cert", "alice", &alice_pem]);
    assert_eq!(code, "unknown_principal", "{message}");
    assert!(message.contains("alice"), "{message}");
    assert!(vault.principals().await.unwrap().is_empty());

    // alice may read 12345 and export nothing; bob exists with no grant.
    vault
        .grant("alice", Permission::Read, &Scope::Ids(vec![id(12345)]))
        .await
        .unwrap();
    vault.create_token("bob", None).await.unwrap();

    // Not a certificate: a private key's PEM, and a file that is no PEM at all.
    let key = common::demo_store().join("12345/key.pem");
    let (code, message) = refused(
        &db,
        &["principal", "add-cert", "alice", key.to_str().unwrap()],
    );
    assert_eq!(code, "not_a_certificate", "{message}");
    let readme = common::demo_store().join("README.md");
    let (code, _) = refused(
        &db,
        &["principal", "add-cert", "alice", readme.to_str().unwrap()],
    );
    assert_eq!(code, "not_a_certificate");
    // DER that is not X.509, through the API.
    assert!(matches!(
        vault
            .add_client_certificate("alice", b"\x30\x03\x02\x01\x00")
            .await,
        Err(VaultError::NotACertificate(_))
    ));

    // Registered: the fingerprint is the SHA-256 of the DER.
    let (code, added) = admin(&db, &["principal", "add-cert", "alice", &alice_pem]);
    assert_eq!(code, 0, "{added}");
    assert_eq!(added["added"]["fingerprint"], alice_fp_text.as_str());
    assert_eq!(added["added"]["principal"], "alice");
    assert!(
        added["added"]["subject"].as_str().unwrap().contains("CN="),
        "{added}"
    );

    // A duplicate, to the same principal or another, is refused and names the holder.
    for principal in ["alice", "bob"] {
        let (code, message) = refused(&db, &["principal", "add-cert", principal, &alice_pem]);
        assert_eq!(code, "duplicate_client_certificate", "{message}");
        assert!(
            message.contains("\"alice\"") && message.contains(&alice_fp_text),
            "{message}"
        );
    }

    // The listing shows the fingerprint under its principal only.
    let (code, list) = admin(&db, &["principal", "list"]);
    assert_eq!(code, 0);
    let listed = |name: &str| -> Vec<String> {
        list["principals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap()["client_certificates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(listed("alice"), vec![alice_fp_text.clone()]);
    assert!(listed("bob").is_empty());

    // The certificate names alice, with alice's grants exactly.
    let store = vault.caller_by_client_certificate(&alice_fp).await.unwrap();
    assert_eq!(store.principal(), Some("alice"));
    assert_eq!(store.credential(), Some("certificate"));
    assert_eq!(status(&store, DownloadRequest::crt(id(12345))).await.0, 200);
    assert_eq!(
        status(&store, DownloadRequest::crt(id(1001))).await,
        (404, "certificate_not_found".into())
    );
    assert_eq!(
        status(&store, DownloadRequest::pfx(id(12345), password())).await,
        (403, "key_export_forbidden".into())
    );
    // A grant added now applies to the store already made (checked on each call).
    vault
        .grant("alice", Permission::ExportKey, &Scope::Ids(vec![id(12345)]))
        .await
        .unwrap();
    assert_eq!(
        status(&store, DownloadRequest::pfx(id(12345), password()))
            .await
            .0,
        200
    );
    // A token of alice's reads the same.
    let token = vault.create_token("alice", None).await.unwrap().token;
    let by_token = vault.caller(&token).await.unwrap();
    assert_eq!(by_token.credential(), Some("token"));
    assert_eq!(
        status(&by_token, DownloadRequest::pfx(id(12345), password()))
            .await
            .0,
        200
    );

    // An unregistered certificate names nobody, and every call is 401.
    let nobody = vault.caller_by_client_certificate(&other_fp).await.unwrap();
    assert_eq!((nobody.principal(), nobody.credential()), (None, None));
    assert_eq!(
        status(&nobody, DownloadRequest::crt(id(12345))).await,
        (401, "unauthenticated".into())
    );

    // remove-cert: of the wrong principal, or an unknown fingerprint, is refused.
    let (code, message) = refused(&db, &["principal", "remove-cert", "bob", &alice_fp_text]);
    assert_eq!(code, "unknown_client_certificate", "{message}");
    let (code, _) = refused(&db, &["principal", "remove-cert", "alice", &other_pem]);
    assert_eq!(code, "unknown_client_certificate");
    let (code, _) = refused(&db, &["principal", "remove-cert", "alice", "sha256:abcd"]);
    assert_eq!(code, "invalid_argument");

    // Removed by fingerprint (openssl's spelling: upper case and colons): the store
    // made before refuses its next call, and a new lookup finds nobody.
    let openssl_style = format!(
        "sha256:{}",
        alice_fp
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":")
    );
    let (code, removed) = admin(&db, &["principal", "remove-cert", "alice", &openssl_style]);
    assert_eq!(code, 0, "{removed}");
    assert_eq!(removed["removed"], alice_fp_text.as_str());
    assert!(matches!(
        AsyncCertificateStore::certificate(&store, id(12345)).await,
        Err(cert_download::StoreError::Unauthenticated)
    ));
    let after = vault.caller_by_client_certificate(&alice_fp).await.unwrap();
    assert_eq!(after.principal(), None);
    // The token is untouched.
    assert_eq!(
        status(&by_token, DownloadRequest::crt(id(12345))).await.0,
        200
    );

    // Registered again, removed by its PEM file.
    let (code, _) = admin(&db, &["principal", "add-cert", "alice", &alice_pem]);
    assert_eq!(code, 0);
    assert_eq!(
        vault
            .caller_by_client_certificate(&alice_fp)
            .await
            .unwrap()
            .principal(),
        Some("alice")
    );
    let (code, _) = admin(&db, &["principal", "remove-cert", "alice", &alice_pem]);
    assert_eq!(code, 0);
    assert!(vault.client_certificates(None).await.unwrap().is_empty());
    vault.close().await;
}

/// The documented canonical encoding of a chained row (crate docs, "Audit chain"), written
/// here from the docs alone, for rows as the build before `credential` stored them.
fn documented_row_hash(columns: &[(&str, Vec<u8>)]) -> [u8; 32] {
    let mut encoding = b"cert-download-vault/v1 audit-row\0".to_vec();
    for (name, value) in columns {
        encoding.push(name.len() as u8);
        encoding.extend_from_slice(name.as_bytes());
        encoding.extend_from_slice(&(value.len() as u32).to_be_bytes());
        encoding.extend_from_slice(value);
    }
    Sha256::digest(&encoding).into()
}

/// Applies migrations 0001 to 0004 only (the schema before client certificates), as the
/// previous build's `init` did, from the same files.
async fn schema_before_client_certificates(db: &TestDb) -> tempfile::TempDir {
    let dialect = match db.backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(dialect);
    let older = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&source).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        if name.as_str() < "0005" {
            std::fs::copy(entry.path(), older.path().join(&name)).unwrap();
        }
    }
    assert_eq!(std::fs::read_dir(older.path()).unwrap().count(), 4);
    let migrator = sqlx::migrate::Migrator::new(older.path()).await.unwrap();
    match db.backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&format!("{}?mode=rwc", db.url))
                .await
                .unwrap();
            migrator.run(&pool).await.unwrap();
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            migrator.run(&pool).await.unwrap();
            pool.close().await;
        }
    }
    older
}

/// Runs `statements` on the database, past the vault.
async fn execute(db: &TestDb, statements: &[String]) {
    let raw = db.raw().await;
    raw.execute_all(statements.iter().cloned()).await;
    raw.close().await;
}

/// `audit verify` with the public key only: its exit code and report.
fn verify(db: &TestDb, public_key: &str) -> (i32, Value) {
    admin(db, &["audit", "verify", "--public-key", public_key])
}

/// Rows chained by the build before `credential` verify after the upgrade, new rows carry
/// the credential and continue the same chain, and the credential is covered by the hash.
async fn credential_column_joins_the_chain(backend: Backend) {
    let db = TestDb::new(backend).await;
    let _older = schema_before_client_certificates(&db).await;
    // Two rows as the previous build chained them, writer "a", computed from the docs.
    let genesis = [0u8; 32];
    let first = documented_row_hash(&[
        ("writer", b"a".to_vec()),
        ("seq", 1i64.to_be_bytes().to_vec()),
        ("prev_hash", genesis.to_vec()),
        ("at_ms", 1000i64.to_be_bytes().to_vec()),
        ("principal", b"alice".to_vec()),
        ("certificate_id", 12345i64.to_be_bytes().to_vec()),
        ("format", b"crt".to_vec()),
        ("key_out", vec![0]),
        ("status", 200i64.to_be_bytes().to_vec()),
        ("instance", b"a".to_vec()),
    ]);
    let second = documented_row_hash(&[
        ("writer", b"a".to_vec()),
        ("seq", 2i64.to_be_bytes().to_vec()),
        ("prev_hash", first.to_vec()),
        ("at_ms", 2000i64.to_be_bytes().to_vec()),
        ("principal", b"bob".to_vec()),
        ("key_out", vec![0]),
        ("status", 403i64.to_be_bytes().to_vec()),
        ("error", b"key_export_forbidden".to_vec()),
        ("instance", b"a".to_vec()),
    ]);
    let blob = |bytes: &[u8]| match backend {
        Backend::Sqlite => format!("X'{}'", hex(bytes)),
        Backend::Postgres => format!("'\\x{}'::bytea", hex(bytes)),
    };
    execute(
        &db,
        &[
            format!(
                "INSERT INTO audit (at_ms, principal, certificate_id, format, key_out, status, \
                 instance, writer, seq, prev_hash, row_hash) VALUES (1000, 'alice', 12345, \
                 'crt', FALSE, 200, 'a', 'a', 1, {}, {})",
                blob(&genesis),
                blob(&first)
            ),
            format!(
                "INSERT INTO audit (at_ms, principal, key_out, status, error, instance, writer, \
                 seq, prev_hash, row_hash) VALUES (2000, 'bob', FALSE, 403, \
                 'key_export_forbidden', 'a', 'a', 2, {}, {})",
                blob(&first),
                blob(&second)
            ),
        ],
    )
    .await;

    // The upgrade (init applies 0005), then rows with each credential, and one without
    // (as the admin command writes its own).
    let vault = db.init().await;
    let entry = |principal: &str, credential: Option<&str>| AuditEntry {
        principal: Some(principal.into()),
        certificate_id: Some(12345),
        format: Some("crt".into()),
        status: 200,
        instance: Some("a".into()),
        credential: credential.map(Into::into),
        ..AuditEntry::default()
    };
    vault
        .record_audit(&entry("alice", Some("certificate")))
        .await
        .unwrap();
    vault
        .record_audit(&entry("alice", Some("token")))
        .await
        .unwrap();
    vault.record_audit(&entry("operator", None)).await.unwrap();
    let rows = vault.audit(&AuditFilter::default()).await.unwrap();
    let credentials: Vec<Option<&str>> =
        rows.iter().map(|r| r.entry.credential.as_deref()).collect();
    assert_eq!(
        credentials,
        [None, None, Some("certificate"), Some("token"), None]
    );
    // The database refuses any other kind.
    let mut bad = entry("mallory", Some("password"));
    bad.instance = Some("other".into());
    assert!(vault.record_audit(&bad).await.is_err());
    let key = vault.audit_public_key().unwrap();
    vault.close().await;

    // The auditor's view: every row verifies, the old ones included, as one chain.
    let (code, report) = verify(&db, &key);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["rows"], 5, "{report}");
    assert_eq!(report["unchained"], 0, "{report}");
    assert_eq!(report["writers"][0]["writer"], "a", "{report}");
    assert_eq!(report["writers"][0]["last_seq"], 5, "{report}");

    // The credential is covered: setting it on an old row, or changing it on a new one,
    // is named as a change of that row (the owner drops the trigger to do it).
    let drop_trigger = match backend {
        Backend::Sqlite => "DROP TRIGGER audit_no_update".to_owned(),
        Backend::Postgres => "DROP TRIGGER audit_no_update_or_delete ON audit".to_owned(),
    };
    execute(
        &db,
        &[
            drop_trigger,
            "UPDATE audit SET credential = 'token' WHERE writer = 'a' AND seq = 3".to_owned(),
        ],
    )
    .await;
    let (code, report) = verify(&db, &key);
    assert_eq!(code, 1, "{report}");
    let problem = &report["problems"][0];
    assert_eq!(
        (&problem["problem"], &problem["writer"], &problem["seq"]),
        (&Value::from("changed"), &Value::from("a"), &Value::from(3)),
        "{report}"
    );
    execute(
        &db,
        &[
            "UPDATE audit SET credential = 'certificate' WHERE writer = 'a' AND seq = 3".to_owned(),
            "UPDATE audit SET credential = 'certificate' WHERE writer = 'a' AND seq = 1".to_owned(),
        ],
    )
    .await;
    let (code, report) = verify(&db, &key);
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["problems"][0]["seq"], 1, "{report}");
    assert_eq!(report["problems"][0]["problem"], "changed", "{report}");
}

/// The service's PostgreSQL role reads the table with the documented grants.
async fn service_role_reads_client_certificates(backend: Backend) {
    let db = TestDb::new(backend).await;
    let vault = db.init().await;
    import_dir(&vault, &common::demo_store(), &DEMO_IDS).await;
    vault
        .grant("alice", Permission::Read, &Scope::All)
        .await
        .unwrap();
    let (pem, fingerprint) = client_certificate(1004);
    let der = CertificateDer::from_pem_file(&pem).unwrap();
    vault
        .add_client_certificate("alice", der.as_ref())
        .await
        .unwrap();
    vault.close().await;
    db.grant_service_role().await;
    let service = Vault::connect(
        &db.service_url(),
        db.keyring(),
        cert_download_vault::VaultOptions::default(),
    )
    .await
    .unwrap();
    service.check_service_role().await.unwrap();
    let store = service
        .caller_by_client_certificate(&fingerprint)
        .await
        .unwrap();
    assert_eq!(store.principal(), Some("alice"));
    assert_eq!(status(&store, DownloadRequest::crt(id(1001))).await.0, 200);
    service.close().await;
}

on_both!(
    register_look_up_and_remove,
    credential_column_joins_the_chain,
    service_role_reads_client_certificates,
);
