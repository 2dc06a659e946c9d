//! The service run from a configuration file only (`--config FILE`, no other flag): the
//! vault's database named by a `file:` form, every flag a key, flags over the file,
//! unknown keys refused by name, and `--print-config` with secrets shown as set.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use cert_download::{CertificateId, CertificateStore, DirectoryStore, Zeroizing};
use cert_download_vault::{Keyring, Permission, Scope, Vault, VaultOptions};

use crate::PEM_12345;
use crate::harness::*;

/// A SQLite vault in `dir` holding the demo records, `alice` may read and export them;
/// returns its URL, its KEK file and alice's token.
async fn demo_vault(dir: &Path) -> (String, String, String) {
    let kek = dir.join("vault.kek");
    Keyring::create_file(&kek).unwrap();
    let url = format!("sqlite://{}", dir.join("vault.db").display());
    let vault = Vault::init(&url, Keyring::load(&kek).unwrap(), VaultOptions::default())
        .await
        .unwrap();
    let demo = DirectoryStore::new(demo("")).unwrap();
    let id = CertificateId::new(12345).unwrap();
    let record = demo.certificate(id).unwrap();
    let key = Zeroizing::new(demo.private_key(id).unwrap());
    vault.import(id, &record, Some(&key)).await.unwrap();
    for permission in [Permission::Read, Permission::ExportKey] {
        vault.grant("alice", permission, &Scope::All).await.unwrap();
    }
    let token = vault.create_token("alice", None).await.unwrap().token;
    vault.close().await;
    (url, kek.display().to_string(), token.to_string())
}

fn write_private(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_runs_from_a_config_file_only() {
    let dir = tempfile::tempdir().unwrap();
    let (url, kek, token) = demo_vault(dir.path()).await;
    let url_file = dir.path().join("database-url");
    write_private(&url_file, &format!("{url}\n"));
    // The vault is served with TLS files of its own: the demo certificate and a copy of
    // its key that only the owner may read (the demo store's own key file is refused).
    let (tls_cert, tls_key) = vault_tls_files(dir.path());
    let tls = format!("tls-cert = \"{tls_cert}\"\ntls-key = \"{tls_key}\"\n");
    let config = dir.path().join("server.toml");
    std::fs::write(
        &config,
        format!(
            "# cert-download-server\n\
             {tls}\
             listen = \"127.0.0.1:0\"\n\
             database = \"file:{}\"\n\
             kek-file = \"{kek}\"\n\
             instance = \"from-the-file\"\n\
             max-connections = 16\n\
             db-timeout = 2.5\n\
             trusted-proxy = [\"10.0.0.0/8\"]\n",
            url_file.display()
        ),
    )
    .unwrap();
    let config_arg = config.display().to_string();

    // --print-config: each value and where it came from; the database URL only as set.
    let (status, printed, stderr) = SERVER.run_to_exit(&[
        "--config",
        &config_arg,
        "--max-headers",
        "32",
        "--print-config",
    ]);
    assert!(status.success(), "{stderr}");
    assert!(
        printed.contains("max-connections = 16 # the file"),
        "{printed}"
    );
    assert!(
        printed.contains("max-headers = 32 # the command line"),
        "{printed}"
    );
    assert!(
        printed.contains("instance = \"from-the-file\" # the file"),
        "{printed}"
    );
    assert!(
        printed.contains("database = \"(set)\" # the file"),
        "{printed}"
    );
    assert!(
        printed.contains("header-timeout = 10 # default"),
        "{printed}"
    );
    assert!(
        !printed.contains("database-url") && !printed.contains("sqlite://"),
        "{printed}"
    );

    // Served from the file alone (the harness adds no --listen to a --config).
    let server = SERVER.start(&["--config", &config_arg]);
    let reply = post_json(&client(&server), &server, Some(&token), PEM_12345).await;
    reply.expect_ok("pem");
    let stopped = server.stop();
    assert!(
        stopped.stderr.contains("from-the-file"),
        "{}",
        stopped.stderr
    );

    // An unknown key is refused with its name; so is a world-readable URL file.
    std::fs::write(&config, "listen = \"127.0.0.1:0\"\nmax-conections = 5\n").unwrap();
    let why = SERVER.refuses_to_start(&["--config", &config_arg]);
    assert!(why.contains("unknown key `max-conections`"), "{why}");
    std::fs::write(
        &config,
        format!(
            "{tls}listen = \"127.0.0.1:0\"\ndatabase = \"file:{}\"\nkek-file = \"{kek}\"\n",
            url_file.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&url_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let why = SERVER.refuses_to_start(&["--config", &config_arg]);
    assert!(
        why.contains("accessible by group or others (mode 644)"),
        "{why}"
    );
    assert!(!why.contains("sqlite://"), "{why}");
}

#[test]
fn a_store_root_that_is_not_a_directory_is_refused_at_start() {
    let why = SERVER.refuses_to_start(&[
        "--store",
        "/nonexistent-store-root",
        "--listen",
        "127.0.0.1:0",
    ]);
    assert!(
        why.contains("the store root /nonexistent-store-root"),
        "{why}"
    );
}
