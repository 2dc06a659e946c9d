//! Building a binary says nothing about tests: the build scripts set the cfgs that ignore
//! a test whose judge (or PostgreSQL) is missing, and the lines naming what to install are
//! printed only when tests run (the ignore reasons, and `tests/judges.rs`'s summary).
//!
//! The build runs without CERT_DOWNLOAD_POSTGRES_URL, so that at least one thing the tests
//! need is always missing, whatever this machine has. It is a `cargo check` (the build
//! scripts run as in a build; no code is generated) in a target directory of its own,
//! `quiet-build` under the tests' one: in the tests' own directory the changed cfgs would
//! rebuild the server's binary under the feet of the server's tests running beside this one,
//! and rebuild it again for the next run.

use std::path::Path;
use std::process::Command;

#[test]
fn building_the_server_prints_no_warning_about_tests() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"))
        .join("quiet-build");
    let out = Command::new(cargo)
        .args(["check", "--locked", "-p", "cert-download-server", "--bins"])
        .current_dir(workspace)
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("CERT_DOWNLOAD_POSTGRES_URL")
        // With `required` a missing cluster fails the build, which is not what is looked at.
        .env_remove("CERT_DOWNLOAD_JUDGES")
        .output()
        .expect("cargo runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "cargo check failed:\n{stderr}");
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
