//! Building a binary says nothing about tests: the build scripts set the cfgs that ignore
//! a test whose judge (or PostgreSQL) is missing, and the lines naming what to install are
//! printed only when tests run (the ignore reasons, and `tests/judges.rs`'s summary).
//!
//! The build runs without CERT_DOWNLOAD_POSTGRES_URL, so that at least one thing the tests
//! need is always missing, whatever this machine has; in the same target directory as this
//! test (cargo's own CARGO_TARGET_DIR is inherited), so it is incremental. When the tests
//! run with a cluster given, the server and the vault are rebuilt once without it.

use std::path::Path;
use std::process::Command;

#[test]
fn building_the_server_prints_no_warning_about_tests() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let out = Command::new(cargo)
        .args(["build", "-p", "cert-download-server"])
        .current_dir(workspace)
        .env_remove("CERT_DOWNLOAD_POSTGRES_URL")
        // With `required` a missing cluster fails the build, which is not what is looked at.
        .env_remove("CERT_DOWNLOAD_JUDGES")
        .output()
        .expect("cargo runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "cargo build failed:\n{stderr}");
    let about_tests: Vec<&str> = stderr
        .lines()
        .filter(|line| line.trim_start().starts_with("warning:"))
        .filter(|line| {
            let line = line.to_lowercase();
            ["test", "judge", "postgres", "install"]
                .iter()
                .any(|word| line.contains(word))
        })
        .collect();
    assert!(
        about_tests.is_empty(),
        "building the server binary printed warnings about tests:\n{}",
        about_tests.join("\n")
    );
}
