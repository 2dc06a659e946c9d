//! The vault's flags at start: each documented with its default in the service's README,
//! and an unreachable or wrong database, or a KEK file that is not the vault's, refused.

use std::time::Instant;

use super::*;

/// The service's README (`server/README.md`), "Run it as a vault", names every flag of the
/// vault, each with the default the flag has.
#[test]
fn the_readme_states_the_vault_flags_and_their_defaults() {
    use clap::CommandFactory;
    let readme = std::fs::read_to_string(repo_dir().join("server/README.md")).unwrap();
    let section = readme
        .split("\n## Run it as a vault\n")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("a ## Run it as a vault section in server/README.md");
    let command = cert_download_server::Options::command();
    let flags: Vec<&clap::Arg> = command
        .get_arguments()
        .filter(|a| a.get_help_heading().is_some_and(|h| h.starts_with("Vault")))
        .collect();
    assert_eq!(flags.len(), 10, "the vault's flags");
    for arg in flags {
        let flag = format!("--{}", arg.get_long().unwrap());
        assert!(
            section.contains(&format!("`{flag}")),
            "server/README.md does not name {flag}"
        );
        if let [default] = arg.get_default_values() {
            let value = arg.get_value_names().unwrap()[0].as_str();
            let stated = format!("`{flag} {value}` (default {})", default.to_string_lossy());
            assert!(
                section.contains(&stated),
                "server/README.md does not say {stated}"
            );
        }
    }
}

#[test]
fn an_unreachable_or_wrong_vault_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let kek = dir.path().join("kek");
    cert_download_vault::Keyring::create_file(&kek).unwrap();
    let kek = kek.to_str().unwrap();

    // PostgreSQL that does not answer: refused within the acquire timeout, saying so.
    let url = format!(
        "postgres://svc:hunter2-secret@127.0.0.1:{}/vault?password=hunter2-query",
        closed_port()
    );
    let start = Instant::now();
    let stderr = SERVER.refuses_to_start(&[
        "--insecure-http",
        "--database",
        &url,
        "--kek-file",
        kek,
        "--db-acquire-timeout",
        "1",
    ]);
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
    assert!(stderr.contains("cannot be reached"), "{stderr}");
    assert!(
        !stderr.contains("hunter2"),
        "the password is shown: {stderr}"
    );

    // A SQLite file that is not a vault.
    let missing = format!("sqlite://{}", dir.path().join("none.db").display());
    let stderr =
        SERVER.refuses_to_start(&["--insecure-http", "--database", &missing, "--kek-file", kek]);
    assert!(stderr.contains("vault database"), "{stderr}");

    // The flags that go together, and those that do not.
    let stderr = SERVER.refuses_to_start(&["--insecure-http", "--database", &missing]);
    assert!(stderr.contains("--kek-file"), "{stderr}");
    let stderr = SERVER.refuses_to_start(&["--kek-file", kek]);
    assert!(stderr.contains("--database"), "{stderr}");
    let stderr = SERVER.refuses_to_start(&[
        "--database",
        &missing,
        "--kek-file",
        kek,
        "--store",
        dir.path().to_str().unwrap(),
    ]);
    assert!(stderr.contains("--store"), "{stderr}");
    let stderr = SERVER.refuses_to_start(&["--db-timeout", "0"]);
    assert!(stderr.contains("--db-timeout"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_kek_file_that_is_not_the_vaults_is_refused_at_start() {
    let d = deployment(Backend::Sqlite).await;
    let other = d.db.dir.path().join("other-kek");
    cert_download_vault::Keyring::create_file(&other).unwrap();
    let stderr = SERVER.refuses_to_start(&[
        "--listen",
        "127.0.0.1:0",
        "--insecure-http",
        "--database",
        &d.db.url,
        "--kek-file",
        other.to_str().unwrap(),
    ]);
    assert!(stderr.contains("KEK"), "{stderr}");
}
