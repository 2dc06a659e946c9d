//! No plaintext key at rest: after importing a key of every type and encoding, neither the
//! SQLite file (with its WAL and journal) nor a `pg_dump` of the PostgreSQL database holds
//! the key's DER, its PEM body, or any 16-byte window of its private scalar or primes.

use cert_download_test_support::on_both;
use cert_download_test_support::vault_db as common;

use std::collections::HashSet;
use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use cert_download::{CertificateStore, DirectoryStore, PrivateKeyDer};
use common::{Backend, TestDb, id, import_dir};

/// The keys imported: RSA-2048 PKCS#8 and PKCS#1, RSA-4096, P-256 PKCS#8 and SEC1 and
/// without its public key, P-384 PKCS#8 and SEC1, P-521 PKCS#8 and SEC1, Ed25519; and
/// the demo store's (RSA, P-256 SEC1, Ed25519, P-384).
const FIXTURES_WITH_KEYS: [u64; 14] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 14, 15, 19, 20, 21];
const DEMO_WITH_KEYS: [u64; 4] = [1001, 1002, 1004, 12345];

fn rsa_parts(der: &[u8]) -> Vec<Vec<u8>> {
    let k = pkcs1::RsaPrivateKeyRef::try_from(der).unwrap();
    [
        k.private_exponent,
        k.prime1,
        k.prime2,
        k.exponent1,
        k.exponent2,
        k.coefficient,
    ]
    .iter()
    .map(|u| u.as_bytes().to_vec())
    .collect()
}

fn ec_scalar(der: &[u8]) -> Vec<Vec<u8>> {
    vec![
        sec1::EcPrivateKey::try_from(der)
            .unwrap()
            .private_key
            .to_vec(),
    ]
}

/// The secret numbers of a key: RSA's private exponent, primes and CRT values; an EC or
/// Ed25519 private scalar or seed.
fn secret_parts(key: &PrivateKeyDer<'_>) -> Vec<Vec<u8>> {
    match key {
        PrivateKeyDer::Pkcs1(k) => rsa_parts(k.secret_pkcs1_der()),
        PrivateKeyDer::Sec1(k) => ec_scalar(k.secret_sec1_der()),
        PrivateKeyDer::Pkcs8(k) => {
            let info = pkcs8::PrivateKeyInfoRef::try_from(k.secret_pkcs8_der()).unwrap();
            let inner = info.private_key.as_bytes();
            match info.algorithm.oid.to_string().as_str() {
                "1.2.840.113549.1.1.1" => rsa_parts(inner),
                "1.2.840.10045.2.1" => ec_scalar(inner),
                // Ed25519: an OCTET STRING of the 32-byte seed.
                "1.3.101.112" => vec![inner[2..].to_vec()],
                other => panic!("unexpected key algorithm {other}"),
            }
        }
        _ => panic!("unexpected key encoding"),
    }
}

/// What must not be found, and whether any 16-byte window of it counts (`true`) or only
/// the whole: the DER as a whole (it holds the public key, which the certificate holds
/// too), its base64 (the PEM body, as one line and as the file's lines) and the secret
/// numbers by windows.
fn secrets(dir: &std::path::Path, n: u64) -> Vec<(String, Vec<u8>, bool)> {
    let key = DirectoryStore::new(dir)
        .unwrap()
        .private_key(id(n))
        .unwrap();
    let der = key.secret_der().to_vec();
    let pem = std::fs::read_to_string(dir.join(n.to_string()).join("key.pem")).unwrap();
    let mut out = vec![
        (format!("{n}: DER"), der.clone(), false),
        (
            format!("{n}: base64 of the DER"),
            STANDARD.encode(&der).into_bytes(),
            true,
        ),
    ];
    for (i, line) in pem.lines().filter(|l| !l.starts_with("-----")).enumerate() {
        if line.len() >= 16 {
            out.push((format!("{n}: PEM line {i}"), line.as_bytes().to_vec(), true));
        }
    }
    for (i, part) in secret_parts(&key).into_iter().enumerate() {
        assert!(part.len() >= 16, "{n}: part {i} is {} bytes", part.len());
        out.push((format!("{n}: secret number {i}"), part, true));
    }
    out
}

/// Every 16-byte window of the stored bytes.
fn windows(corpus: &[Vec<u8>]) -> HashSet<[u8; 16]> {
    corpus
        .iter()
        .flat_map(|bytes| bytes.windows(16).map(|w| <[u8; 16]>::try_from(w).unwrap()))
        .collect()
}

/// The byte strings of a plain-text pg_dump: the text itself and each `\x...` bytea value
/// decoded.
fn dump_corpus(dump: &[u8]) -> Vec<Vec<u8>> {
    let text = String::from_utf8_lossy(dump);
    let mut out = vec![dump.to_vec()];
    for piece in text.split("\\x").skip(1) {
        let hex: String = piece.chars().take_while(char::is_ascii_hexdigit).collect();
        let bytes: Vec<u8> = (0..hex.len() / 2)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        out.push(bytes);
    }
    out
}

fn pg_dump() -> PathBuf {
    if let Some(dir) = std::env::var_os("CERT_DOWNLOAD_PG_BIN") {
        return PathBuf::from(dir).join("pg_dump");
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin/pg_dump"))
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found.pop().unwrap_or_else(|| PathBuf::from("pg_dump"))
}

/// What the database holds, as bytes.
async fn stored_bytes(db: &TestDb) -> Vec<Vec<u8>> {
    match db.backend {
        Backend::Sqlite => {
            let file = db.file.as_ref().unwrap();
            let mut out = Vec::new();
            for suffix in ["", "-wal", "-journal", "-shm"] {
                let path = PathBuf::from(format!("{}{suffix}", file.display()));
                if let Ok(bytes) = std::fs::read(&path) {
                    out.push(bytes);
                }
            }
            out
        }
        Backend::Postgres => {
            let output = std::process::Command::new(pg_dump())
                .arg("--dbname")
                .arg(&db.url)
                .output()
                .expect("pg_dump runs (CERT_DOWNLOAD_PG_BIN or /usr/lib/postgresql/*/bin)");
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            dump_corpus(&output.stdout)
        }
    }
}

fn assert_absent(corpus: &[Vec<u8>], all: &[(String, Vec<u8>, bool)], when: &str) {
    let stored = windows(corpus);
    assert!(
        stored.len() > 1000,
        "{when}: the corpus is too small to mean anything"
    );
    for (what, secret, by_window) in all {
        if !by_window {
            let found = corpus
                .iter()
                .any(|bytes| bytes.windows(secret.len()).any(|w| w == secret.as_slice()));
            assert!(!found, "{when}: found {what} in the database");
            continue;
        }
        for window in secret.windows(16) {
            assert!(
                !stored.contains(<&[u8; 16]>::try_from(window).unwrap()),
                "{when}: found 16 bytes of {what} in the database"
            );
        }
    }
}

async fn no_plaintext_key_at_rest(backend: Backend) {
    let db = TestDb::new(backend).await;
    let vault = db.init().await;
    let mut all = Vec::new();
    let mut leaves = Vec::new();
    for (dir, ids) in [
        (common::fixtures(), &FIXTURES_WITH_KEYS[..]),
        (common::demo_store(), &DEMO_WITH_KEYS[..]),
    ] {
        let (stored, refused) = import_dir(&vault, &dir, ids).await;
        assert!(refused.is_empty(), "{refused:?}");
        assert_eq!(stored, ids);
        for &n in ids {
            all.extend(secrets(&dir, n));
            leaves.push(
                DirectoryStore::new(&dir)
                    .unwrap()
                    .certificate(id(n))
                    .unwrap()
                    .leaf,
            );
        }
    }
    // The search finds what is stored in the clear: every leaf certificate.
    let corpus = stored_bytes(&db).await;
    let stored = windows(&corpus);
    for leaf in &leaves {
        let w = <&[u8; 16]>::try_from(&leaf.as_ref()[100..116]).unwrap();
        assert!(
            stored.contains(w),
            "the search does not see the stored certificates"
        );
    }
    // And no key, while the vault is open (SQLite: the WAL holds the recent writes) ...
    assert_absent(&corpus, &all, "open");
    // ... nor once it is closed (SQLite: checkpointed into the main file).
    vault.close().await;
    assert_absent(&stored_bytes(&db).await, &all, "closed");
    // Every key still opens.
    let vault = db.connect().await;
    let token = common::full_access_token(&vault, "a").await;
    let store = vault.caller(&token).await.unwrap();
    for n in FIXTURES_WITH_KEYS.iter().chain(&DEMO_WITH_KEYS) {
        cert_download::AsyncCertificateStore::private_key(&store, id(*n))
            .await
            .unwrap();
    }
}

on_both!(no_plaintext_key_at_rest);

/// A new SQLite vault file is its owner's only (0600), and so are the `-wal` and `-shm`
/// files SQLite makes beside it: others on the host read neither sealed keys nor token
/// hashes.
#[tokio::test]
async fn sqlite_files_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let db = TestDb::new(Backend::Sqlite).await;
    let vault = db.init().await;
    let (stored, _) = import_dir(&vault, &common::demo_store(), &DEMO_WITH_KEYS[..1]).await;
    assert_eq!(stored.len(), 1);
    let file = db.file.as_ref().unwrap();
    let mut seen = 0;
    for suffix in ["", "-wal", "-shm"] {
        let path = PathBuf::from(format!("{}{suffix}", file.display()));
        if let Ok(meta) = std::fs::metadata(&path) {
            seen += 1;
            let mode = meta.permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{} has mode {mode:o}", path.display());
        }
    }
    assert!(
        seen >= 2,
        "the database and its WAL exist while the vault is open"
    );
    vault.close().await;
}
