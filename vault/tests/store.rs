//! The store against real databases: the conformance suite, every status, imports of the
//! demo store and the fixtures, grants and revocation, tampering, the audit trail.

use cert_download_test_support::on_both;
use cert_download_test_support::vault_db as common;

use std::sync::Mutex;
use std::time::Duration;

use cert_download::conformance::{AsyncHarness, Record, Supply, run_async};
use cert_download::{
    AsyncCertificateStore, CertificateId, CertificateRecord, CertificateStore, DirectoryStore,
    DownloadRequest, ExportPolicy, OsRandom, Password, PasswordPolicy, StoreError, prepare_async,
};
use cert_download_vault::{
    AuditEntry, AuditFilter, Keyring, Permission, Scope, Vault, VaultError, VaultOptions,
    VaultStore,
};
use common::{Backend, DEMO_IDS, FIXTURE_IDS, FIXTURES_REFUSED, TestDb, id, import_dir};

struct Harness {
    db: TestDb,
    /// The vault and the tokens of: full access, read only, no grants.
    state: Mutex<Option<(Vault, [String; 3])>>,
}

impl Harness {
    async fn store(&self, which: usize) -> VaultStore {
        let (vault, token) = {
            let state = self.state.lock().unwrap();
            let (vault, tokens) = state.as_ref().expect("full_access runs first");
            (vault.clone(), tokens[which].clone())
        };
        vault.caller(&token).await.unwrap()
    }
}

impl AsyncHarness for Harness {
    type Store = VaultStore;

    async fn full_access(&self, records: &[Record]) -> VaultStore {
        let vault = self.db.init().await;
        for r in records {
            let record = CertificateRecord::new(r.leaf.clone(), r.issuers.clone());
            vault.import(r.id, &record, r.key.as_ref()).await.unwrap();
        }
        Grants(&vault, "full")
            .add(Permission::Read, &Scope::All)
            .await;
        Grants(&vault, "full")
            .add(Permission::ExportKey, &Scope::All)
            .await;
        Grants(&vault, "reader")
            .add(Permission::Read, &Scope::All)
            .await;
        let mut tokens = Vec::new();
        for principal in ["full", "reader", "nobody"] {
            tokens.push(
                vault
                    .create_token(principal, None)
                    .await
                    .unwrap()
                    .token
                    .to_string(),
            );
        }
        let tokens: [String; 3] = tokens.try_into().unwrap();
        *self.state.lock().unwrap() = Some((vault, tokens));
        self.store(0).await
    }

    async fn key_export_denied(&self, _: &[Record]) -> Supply<VaultStore> {
        Supply::Store(self.store(1).await)
    }

    async fn unauthenticated(&self, _: &[Record]) -> Supply<VaultStore> {
        let vault = self.state.lock().unwrap().as_ref().unwrap().0.clone();
        Supply::Store(vault.caller("cdv_no-such-token").await.unwrap())
    }

    async fn forbidden(&self, _: &[Record]) -> Supply<VaultStore> {
        Supply::Store(self.store(2).await)
    }
}

async fn conformance(backend: Backend) {
    let harness = Harness {
        db: TestDb::new(backend).await,
        state: Mutex::new(None),
    };
    let report = run_async(&harness).await.unwrap();
    assert!(report.skipped().is_empty(), "{report:?}");
    assert!(report.checks() > 40, "{report:?}");
}

fn password() -> Password {
    Password::new("a-good-password", &PasswordPolicy::DEFAULT).unwrap()
}

/// The status and code of a download through the store.
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

fn kind<T>(got: Result<T, StoreError>) -> String {
    match got {
        Ok(_) => "Ok".into(),
        Err(e) => format!("{e:?}"),
    }
}

/// One principal's grants, changed through the vault: each change must succeed, and
/// answers how many grants it added or removed.
struct Grants<'a>(&'a Vault, &'a str);

impl Grants<'_> {
    async fn add(&self, permission: Permission, scope: &Scope) -> u64 {
        self.0.grant(self.1, permission, scope).await.unwrap()
    }

    async fn remove(&self, permission: Permission, scope: &Scope) -> u64 {
        self.0.revoke(self.1, permission, scope).await.unwrap()
    }
}

/// The kind of error (or `Ok`) of the store's `certificate` for `id`.
async fn certificate_kind(store: &VaultStore, id: CertificateId) -> String {
    kind(AsyncCertificateStore::certificate(store, id).await)
}

/// The kind of error (or `Ok`) of the store's `private_key` for `id`.
async fn key_kind(store: &VaultStore, id: CertificateId) -> String {
    kind(AsyncCertificateStore::private_key(store, id).await)
}

/// Every answer of the store's table, and grants and tokens changing under a live store.
async fn statuses(backend: Backend) {
    let db = TestDb::new(backend).await;
    let vault = db.init().await;
    // 12345 has a key, 1003 has none.
    let (stored, _) = import_dir(&vault, &common::demo_store(), &DEMO_IDS).await;
    assert_eq!(stored, DEMO_IDS);
    let (with_key, keyless, absent) = (id(12345), id(1003), id(777));

    let alices = Grants(&vault, "alice");
    let alice = vault.create_token("alice", None).await.unwrap().token;
    let store = vault.caller(&alice).await.unwrap();
    assert_eq!(store.principal(), Some("alice"));

    // No grant yet: 404 for an existing id, as for an absent one (ids cannot be probed).
    for n in [with_key, absent] {
        assert_eq!(certificate_kind(&store, n).await, "NotFound");
        assert_eq!(key_kind(&store, n).await, "NotFound");
        assert_eq!(
            status(&store, DownloadRequest::crt(n)).await,
            (404, "certificate_not_found".into())
        );
    }

    // A read grant on one id.
    alices
        .add(Permission::Read, &Scope::Ids(vec![with_key]))
        .await;
    assert_eq!(status(&store, DownloadRequest::crt(with_key)).await.0, 200);
    assert_eq!(status(&store, DownloadRequest::crt(keyless)).await.0, 404);
    assert_eq!(key_kind(&store, with_key).await, "KeyExportForbidden");
    assert_eq!(
        status(&store, DownloadRequest::pfx(with_key, password())).await,
        (403, "key_export_forbidden".into())
    );

    // Export on one id, read on all: the keyless record answers key_not_found.
    alices
        .add(Permission::ExportKey, &Scope::Ids(vec![with_key, keyless]))
        .await;
    alices.add(Permission::Read, &Scope::All).await;
    assert_eq!(
        status(&store, DownloadRequest::pfx(with_key, password()))
            .await
            .0,
        200
    );
    assert_eq!(
        status(&store, DownloadRequest::crt(keyless).with_key(password())).await,
        (404, "key_not_found".into())
    );
    assert_eq!(key_kind(&store, keyless).await, "KeyNotFound");
    assert_eq!(key_kind(&store, absent).await, "NotFound");
    // Revoking the all-grant leaves the single one: 1001 is 404 again, 12345 still readable.
    assert_eq!(
        alices
            .remove(Permission::Read, &Scope::Ids(vec![id(1001)]))
            .await,
        0
    );
    let all_only = Scope::Ids(vec![]);
    assert_eq!(alices.remove(Permission::Read, &all_only).await, 0);
    alices.remove(Permission::Read, &Scope::All).await;
    assert_eq!(status(&store, DownloadRequest::crt(id(1001))).await.0, 404);
    // Export alone (without read) gives nothing.
    alices
        .add(Permission::ExportKey, &Scope::Ids(vec![id(1001)]))
        .await;
    assert_eq!(key_kind(&store, id(1001)).await, "NotFound");
    // Revoking the single read grant: 404 again, at once, for the same store value.
    alices
        .add(Permission::Read, &Scope::Ids(vec![with_key]))
        .await;
    assert_eq!(status(&store, DownloadRequest::crt(with_key)).await.0, 200);
    assert_eq!(
        alices
            .remove(Permission::Read, &Scope::Ids(vec![with_key]))
            .await,
        1
    );
    assert_eq!(status(&store, DownloadRequest::crt(with_key)).await.0, 404);
    // Idempotent: granting twice adds nothing, revoking what is not there removes nothing.
    assert_eq!(alices.add(Permission::Read, &Scope::All).await, 1);
    assert_eq!(alices.add(Permission::Read, &Scope::All).await, 0);
    assert_eq!(status(&store, DownloadRequest::crt(with_key)).await.0, 200);
    // Revoking --all removes the all-grant and the single ones.
    alices
        .add(Permission::Read, &Scope::Ids(vec![with_key]))
        .await;
    assert_eq!(alices.remove(Permission::Read, &Scope::All).await, 2);
    assert_eq!(alices.remove(Permission::Read, &Scope::All).await, 0);
    assert_eq!(status(&store, DownloadRequest::crt(with_key)).await.0, 404);
    alices.add(Permission::Read, &Scope::All).await;

    // Tokens: unknown, revoked (a live store stops at once), expired.
    let unknown = vault.caller("cdv_unknown").await.unwrap();
    assert_eq!(unknown.principal(), None);
    assert_eq!(
        status(&unknown, DownloadRequest::crt(with_key)).await,
        (401, "unauthenticated".into())
    );
    assert_eq!(key_kind(&unknown, with_key).await, "Unauthenticated");
    assert!(vault.revoke_token(&alice).await.unwrap());
    assert!(
        !vault.revoke_token(&alice).await.unwrap(),
        "revoked already"
    );
    assert!(matches!(
        vault.revoke_token("cdv_never").await,
        Err(VaultError::UnknownToken)
    ));
    assert_eq!(status(&store, DownloadRequest::crt(with_key)).await.0, 401);
    assert_eq!(key_kind(&store, with_key).await, "Unauthenticated");
    assert_eq!(vault.caller(&alice).await.unwrap().principal(), None);
    let short = vault
        .create_token("alice", Some(Duration::from_secs(2)))
        .await
        .unwrap();
    assert!(
        short.token.starts_with("cdv_") && short.token.len() == 47,
        "{short:?}"
    );
    assert!(!format!("{short:?}").contains(short.token.as_str()));
    let live = vault.caller(&short.token).await.unwrap();
    assert_eq!(status(&live, DownloadRequest::crt(with_key)).await.0, 200);
    tokio::time::sleep(Duration::from_millis(3100)).await;
    assert_eq!(status(&live, DownloadRequest::crt(with_key)).await.0, 401);
    assert_eq!(vault.caller(&short.token).await.unwrap().principal(), None);
    let expired = vault
        .create_token("alice", Some(Duration::ZERO))
        .await
        .unwrap();
    assert_eq!(
        vault.caller(&expired.token).await.unwrap().principal(),
        None
    );
}

/// `certificate` and a following `private_key` of the same id share one snapshot (one
/// query); the snapshot serves once, for that id only, within a second.
async fn snapshot(backend: Backend) {
    let db = TestDb::new(backend).await;
    let vault = db.init().await;
    import_dir(&vault, &common::demo_store(), &DEMO_IDS).await;
    let bobs = Grants(&vault, "bob");
    bobs.add(Permission::Read, &Scope::All).await;
    bobs.add(Permission::ExportKey, &Scope::Ids(vec![id(12345)]))
        .await;
    let token = vault.create_token("bob", None).await.unwrap().token;
    let store = vault.caller(&token).await.unwrap();
    let key = |n| AsyncCertificateStore::private_key(&store, id(n));
    // Another id's snapshot does not answer for this one.
    AsyncCertificateStore::certificate(&store, id(12345))
        .await
        .unwrap();
    assert_eq!(kind(key(1001).await), "KeyExportForbidden");
    AsyncCertificateStore::certificate(&store, id(1001))
        .await
        .unwrap();
    assert!(key(12345).await.is_ok());
    // The snapshot of a download in flight serves its key once, even if the token is
    // revoked between the two calls; after that, every call asks the database.
    AsyncCertificateStore::certificate(&store, id(12345))
        .await
        .unwrap();
    vault.revoke_token(&token).await.unwrap();
    assert!(key(12345).await.is_ok());
    assert_eq!(kind(key(12345).await), "Unauthenticated");
    assert_eq!(certificate_kind(&store, id(12345)).await, "Unauthenticated");
    // Nor after a failed call, nor after a second.
    let token = vault.create_token("bob", None).await.unwrap().token;
    let store = vault.caller(&token).await.unwrap();
    AsyncCertificateStore::certificate(&store, id(12345))
        .await
        .unwrap();
    assert_eq!(certificate_kind(&store, id(777)).await, "NotFound");
    vault.revoke_token(&token).await.unwrap();
    assert_eq!(key_kind(&store, id(12345)).await, "Unauthenticated");
    let token = vault.create_token("bob", None).await.unwrap().token;
    let store = vault.caller(&token).await.unwrap();
    AsyncCertificateStore::certificate(&store, id(12345))
        .await
        .unwrap();
    bobs.remove(Permission::ExportKey, &Scope::Ids(vec![id(12345)]))
        .await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(key_kind(&store, id(12345)).await, "KeyExportForbidden");
}

/// The demo store and the test fixtures: what the crate's checks accept is stored and
/// comes back as it was read; the rest is refused. A second import changes nothing.
async fn imports(backend: Backend) {
    let db = TestDb::new(backend).await;
    let vault = db.init().await;
    let token = common::full_access_token(&vault, "admin").await;
    let store = vault.caller(&token).await.unwrap();
    for (dir, ids, refused) in [
        (common::demo_store(), DEMO_IDS.to_vec(), vec![]),
        (
            common::fixtures(),
            FIXTURE_IDS.collect::<Vec<_>>(),
            FIXTURES_REFUSED.to_vec(),
        ),
    ] {
        let (stored, was_refused) = import_dir(&vault, &dir, &ids).await;
        assert_eq!(was_refused, refused, "{}", dir.display());
        let source = DirectoryStore::new(&dir).unwrap();
        for n in stored {
            let want = CertificateStore::certificate(&source, id(n)).unwrap();
            let got = AsyncCertificateStore::certificate(&store, id(n))
                .await
                .unwrap();
            assert_eq!(got.leaf, want.leaf, "{n}");
            assert_eq!(got.issuers, want.issuers, "{n}: issuers in stored order");
            match CertificateStore::private_key(&source, id(n)) {
                Ok(key) => {
                    let got = AsyncCertificateStore::private_key(&store, id(n))
                        .await
                        .unwrap();
                    assert_eq!(got.secret_der(), key.secret_der(), "{n}");
                    assert_eq!(
                        std::mem::discriminant(&got),
                        std::mem::discriminant(&key),
                        "{n}: the key's encoding is kept"
                    );
                    assert_eq!(
                        status(&store, DownloadRequest::pfx(id(n), password()))
                            .await
                            .0,
                        200
                    );
                }
                Err(_) => assert_eq!(
                    kind(AsyncCertificateStore::private_key(&store, id(n)).await),
                    "KeyNotFound"
                ),
            }
        }
        for n in refused {
            assert_eq!(
                kind(AsyncCertificateStore::certificate(&store, id(n)).await),
                "NotFound"
            );
        }
        // Again: every record unchanged.
        let source = DirectoryStore::new(&dir).unwrap();
        for n in ids
            .iter()
            .copied()
            .filter(|n| !FIXTURES_REFUSED.contains(n) || dir.ends_with("demo-store"))
        {
            let record = CertificateStore::certificate(&source, id(n)).unwrap();
            let key = CertificateStore::private_key(&source, id(n)).ok();
            let outcome = vault.import(id(n), &record, key.as_ref()).await.unwrap();
            assert_eq!(
                outcome,
                cert_download_vault::ImportOutcome::Unchanged,
                "{n}"
            );
        }
    }
    // Replacing a record: another certificate and key under id 1.
    let source = DirectoryStore::new(common::fixtures()).unwrap();
    let other = CertificateStore::certificate(&source, id(4)).unwrap();
    let other_key = CertificateStore::private_key(&source, id(4)).unwrap();
    let outcome = vault.import(id(1), &other, Some(&other_key)).await.unwrap();
    assert_eq!(outcome, cert_download_vault::ImportOutcome::Replaced);
    let got = AsyncCertificateStore::private_key(&store, id(1))
        .await
        .unwrap();
    assert_eq!(got.secret_der(), other_key.secret_der());
}

/// A sealed key that does not open: a 500 with no key bytes, the cause in the log only.
async fn refused_without_key_bytes(store: &VaultStore, n: u64, secret: &[u8]) {
    let got = AsyncCertificateStore::private_key(store, id(n)).await;
    let error = match got {
        Ok(_) => panic!("a tampered key of {n} opened"),
        Err(e) => e,
    };
    assert!(matches!(error, StoreError::Backend(_)), "{error:?}");
    let cause = std::error::Error::source(&error).unwrap().to_string();
    assert!(
        cause.contains("does not open") || cause.contains("malformed"),
        "{cause}"
    );
    let download = prepare_async(DownloadRequest::pfx(id(n), password()), store).await;
    let e = download.unwrap_err();
    assert_eq!((e.status(), e.code()), (500, "store_failure"));
    let shown = format!("{} {e:?} {} {cause} {error:?}", e.to_json(), e);
    for window in secret.windows(16).step_by(8) {
        let hex: String = window.iter().map(|b| format!("{b:02x}")).collect();
        assert!(!shown.contains(&hex), "{shown}");
    }
}

async fn tampering(backend: Backend) {
    let db = TestDb::new(backend).await;
    let vault = db.init().await;
    let (stored, _) = import_dir(&vault, &common::fixtures(), &[1, 4, 9]).await;
    assert_eq!(stored, [1, 4, 9]);
    let token = common::full_access_token(&vault, "admin").await;
    let store = vault.caller(&token).await.unwrap();
    let secret = |n: u64| {
        CertificateStore::private_key(&DirectoryStore::new(common::fixtures()).unwrap(), id(n))
            .unwrap()
            .secret_der()
            .to_vec()
    };
    let raw = db.raw().await;

    // A flipped byte in each stored field of record 1, one at a time.
    let original = raw.sealed(1).await;
    for field in 0..4 {
        let mut tampered = original.clone();
        let bytes = match field {
            0 => &mut tampered.wrap_nonce,
            1 => &mut tampered.wrapped_key,
            2 => &mut tampered.key_nonce,
            _ => &mut tampered.ciphertext,
        };
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x01;
        raw.set_sealed(1, &tampered).await;
        refused_without_key_bytes(&store, 1, &secret(1)).await;
    }
    // Another key format written over the stored one.
    let mut reformatted = original.clone();
    reformatted.key_format = "pkcs1".into();
    raw.set_sealed(1, &reformatted).await;
    refused_without_key_bytes(&store, 1, &secret(1)).await;
    raw.set_sealed(1, &original).await;
    assert!(
        AsyncCertificateStore::private_key(&store, id(1))
            .await
            .is_ok()
    );

    // Two records' sealed keys swapped; and one copied over another.
    let (four, nine) = (raw.sealed(4).await, raw.sealed(9).await);
    raw.set_sealed(4, &nine).await;
    raw.set_sealed(9, &four).await;
    refused_without_key_bytes(&store, 4, &secret(4)).await;
    refused_without_key_bytes(&store, 9, &secret(9)).await;
    raw.set_sealed(9, &nine).await;
    assert!(
        AsyncCertificateStore::private_key(&store, id(9))
            .await
            .is_ok()
    );
    raw.set_sealed(4, &four).await;
    assert!(
        AsyncCertificateStore::private_key(&store, id(4))
            .await
            .is_ok()
    );
    raw.close().await;
    vault.close().await;

    // A wrong KEK under the right id: refused when the vault opens.
    let right = std::fs::read_to_string(&db.kek_file).unwrap();
    let kek_id = db.keyring().newest().id().to_owned();
    let wrong = Keyring::from_keks(vec![(kek_id.clone(), [7u8; 32])]).unwrap();
    let e = Vault::connect(&db.url, wrong, VaultOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&e, VaultError::KekMismatch(k) if *k == kek_id),
        "{e}"
    );
    // Another KEK file altogether.
    let other = Keyring::from_keks(vec![("kek-other".into(), [7u8; 32])]).unwrap();
    let e = Vault::connect(&db.url, other, VaultOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(e, VaultError::KekMissing { count: 3, .. }), "{e}");
    // A truncated KEK file: refused when read.
    for cut in [right.len() - 10, right.len() / 2, 0] {
        std::fs::write(&db.kek_file, &right[..cut]).unwrap();
        let e = Keyring::load(&db.kek_file).unwrap_err().to_string();
        assert!(
            [
                "not 32 bytes",
                "not base64",
                "no key-encryption key",
                "expected"
            ]
            .iter()
            .any(|w| e.contains(w)),
            "{e}"
        );
    }
    // A file that lost its newest KEK (after a rotation): refused at open, naming the KEK.
    std::fs::write(&db.kek_file, &right).unwrap();
    Keyring::append_to_file(&db.kek_file).unwrap();
    let rotated = db.keyring();
    let vault = Vault::connect(&db.url, rotated, VaultOptions::default())
        .await
        .unwrap();
    let report = vault.rekey(2).await.unwrap();
    assert_eq!((report.rewrapped, report.remaining), (3, 0));
    vault.close().await;
    std::fs::write(&db.kek_file, &right).unwrap();
    let e = Vault::connect(&db.url, db.keyring(), VaultOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(e, VaultError::KekMissing { count: 3, .. }), "{e}");
}

/// Rows go in with every field, come out by filter, and are never changed.
async fn audit(backend: Backend) {
    let db = TestDb::new(backend).await;
    let vault = db.init().await;
    let entry = |at: i64, principal: &str, n: i64, status: u16| AuditEntry {
        at_ms: Some(at),
        principal: Some(principal.into()),
        certificate_id: Some(n),
        format: Some("pfx".into()),
        key_out: status == 200,
        status,
        error: (status != 200).then(|| "key_export_forbidden".into()),
        client: Some("127.0.0.1:50000".into()),
        instance: Some("test-1".into()),
        peer: Some("10.0.0.1:40000".into()),
        pfx_encryption: Some("aes256_sha256".into()),
        // A key to a recipient's certificate on record 1, under a password elsewhere.
        key_delivery: Some(if n == 1 { "cms" } else { "password" }.into()),
        recipient_sha256: (n == 1).then(|| "0123456789abcdef".repeat(4)),
        // bob with a client certificate, alice with a token.
        credential: Some(
            if principal == "bob" {
                "certificate"
            } else {
                "token"
            }
            .into(),
        ),
    };
    vault
        .record_audit(&entry(1000, "alice", 1, 200))
        .await
        .unwrap();
    vault
        .record_audit(&entry(2000, "bob", 2, 403))
        .await
        .unwrap();
    vault
        .record_audit(&entry(3000, "alice", 2, 200))
        .await
        .unwrap();
    let mut now = AuditEntry {
        status: 401,
        error: Some("unauthenticated".into()),
        ..AuditEntry::default()
    };
    vault.record_audit(&now).await.unwrap();
    let all = vault.audit(&AuditFilter::default()).await.unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!(all[1].entry, entry(2000, "bob", 2, 403));
    assert_eq!(all[0].entry, entry(1000, "alice", 1, 200));
    assert_eq!(all[0].entry.key_delivery.as_deref(), Some("cms"));
    assert_eq!(
        all[0].entry.recipient_sha256.as_deref(),
        Some("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
    );
    now.at_ms = all[3].entry.at_ms;
    assert_eq!(all[3].entry, now);
    let filter = |since, until, principal: Option<&str>, id| AuditFilter {
        since_ms: since,
        until_ms: until,
        principal: principal.map(str::to_owned),
        certificate_id: id,
    };
    let ids = |rows: Vec<cert_download_vault::AuditRow>| {
        rows.iter()
            .map(|r| r.entry.at_ms.unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(vault
            .audit(&filter(None, None, Some("alice"), None))
            .await
            .unwrap()),
        [1000, 3000]
    );
    assert_eq!(
        ids(vault
            .audit(&filter(None, None, None, Some(2)))
            .await
            .unwrap()),
        [2000, 3000]
    );
    assert_eq!(
        ids(vault
            .audit(&filter(Some(2000), Some(3000), None, None))
            .await
            .unwrap()),
        [2000]
    );
    assert_eq!(
        ids(vault
            .audit(&filter(Some(1500), None, Some("alice"), Some(2)))
            .await
            .unwrap()),
        [3000]
    );
    // Insert-only, for the owner too.
    let raw = db.raw().await;
    for sql in ["UPDATE audit SET status = 200", "DELETE FROM audit"] {
        let e = raw.execute(sql).await.unwrap_err().to_string();
        assert!(e.contains("insert-only"), "{sql}: {e}");
    }
    assert_eq!(raw.count("SELECT COUNT(*) FROM audit").await, 4);
}

/// A database without the schema, and a vault opened with migrate.
async fn schema(backend: Backend) {
    let db = TestDb::new(backend).await;
    if backend == Backend::Sqlite {
        // No file: not created by connect, and the error says to run init.
        let e = Vault::connect(&db.url, db.keyring(), VaultOptions::default())
            .await
            .unwrap_err();
        assert!(matches!(e, VaultError::NoSuchFile(_)), "{e}");
        assert_eq!(e.code(), "not_initialized", "{e}");
        assert!(
            e.to_string().contains("run `cert-download-vault init`"),
            "{e}"
        );
        assert!(!db.file.as_ref().unwrap().exists());
        std::fs::File::create(db.file.as_ref().unwrap()).unwrap();
    }
    let e = Vault::connect(&db.url, db.keyring(), VaultOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(e, VaultError::NotInitialized), "{e}");
    let vault = Vault::connect(&db.url, db.keyring(), VaultOptions::default().migrate(true))
        .await
        .unwrap();
    vault.close().await;
    // init is idempotent.
    db.init().await.close().await;
    db.init().await.close().await;
    db.connect().await.close().await;
}

on_both!(
    conformance,
    statuses,
    snapshot,
    imports,
    tampering,
    audit,
    schema
);

/// The service role of the crate's documentation: it may read the vault and insert audit
/// rows, and may not change or remove them (nor touch keys or grants).
#[cfg_attr(
    not(postgres_cluster),
    ignore = "needs PostgreSQL: set CERT_DOWNLOAD_POSTGRES_URL (scripts/test-all starts a throwaway cluster)"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_service_role() {
    use sqlx::AssertSqlSafe;
    let db = TestDb::new(Backend::Postgres).await;
    let vault = db.init().await;
    import_dir(&vault, &common::demo_store(), &[12345]).await;
    let token = common::full_access_token(&vault, "svc").await;
    let role = format!("vault_service_{}", std::process::id());
    let raw = db.raw().await;
    let common::Raw::Postgres(pool) = &raw else {
        unreachable!()
    };
    // As the documentation says (the role is cluster-wide: one per test run).
    common::create_service_role(&db.url, &role).await;
    let url = common::url_as_role(&db.url, &role);
    let service = Vault::connect(&url, db.keyring(), VaultOptions::default())
        .await
        .unwrap();
    let store = service.caller(&token).await.unwrap();
    assert_eq!(
        status(&store, DownloadRequest::pfx(id(12345), password()))
            .await
            .0,
        200
    );
    service
        .record_audit(&AuditEntry {
            status: 200,
            key_out: true,
            ..AuditEntry::default()
        })
        .await
        .unwrap();
    // It signs checkpoints of the audit chains (the service does every minute).
    service.audit_checkpoint("svc").await.unwrap();
    let service_pool = sqlx::PgPool::connect(&url).await.unwrap();
    for sql in [
        "UPDATE audit SET status = 500",
        "DELETE FROM audit",
        "TRUNCATE audit",
        "DELETE FROM audit_checkpoints",
        "UPDATE audit_signing_keys SET kek_id = 'x'",
        "UPDATE sealed_keys SET kek_id = 'x'",
        "DELETE FROM grants",
        "INSERT INTO grants (principal, permission, certificate_id, granted_at) VALUES ('svc', 'read', 1, 0)",
    ] {
        let e = sqlx::query(sql)
            .execute(&service_pool)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("permission denied"), "{sql}: {e}");
    }
    assert_eq!(raw.count("SELECT COUNT(*) FROM audit").await, 1);
    service_pool.close().await;
    service.close().await;
    for sql in [format!("DROP OWNED BY {role}"), format!("DROP ROLE {role}")] {
        sqlx::query(AssertSqlSafe(sql)).execute(pool).await.unwrap();
    }
}
