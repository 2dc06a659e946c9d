//! The one place that says which tests of the workspace are not run for want of a judge
//! (or of PostgreSQL) and what to install: the build scripts only set the cfgs that ignore
//! them, so that building a binary prints nothing about tests.

use std::io::Write;
use std::path::Path;

use cert_download_test_support::judges;

/// Writes one line per missing judge and package to the terminal (past the test harness's
/// capture, so plain `cargo test` shows it), and fails when `CERT_DOWNLOAD_JUDGES=required`
/// (scripts/test-all), where nothing may be missing.
#[test]
fn tests_not_run_for_want_of_a_judge() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut lines = Vec::new();
    for package in ["interop", "server"] {
        for line in judges::not_run(&workspace.join(package)) {
            lines.push(format!("{package}: {line}"));
        }
    }
    // The vault's tests take the PostgreSQL cfg from its own build script.
    if std::env::var_os("CERT_DOWNLOAD_POSTGRES_URL").is_none_or(|v| v.is_empty()) {
        lines.push(
            "vault: PostgreSQL not given (CERT_DOWNLOAD_POSTGRES_URL unset): the vault's \
             PostgreSQL tests are not run; install: apt-get install postgresql, then run \
             scripts/test-all (it starts a throwaway cluster), or point \
             CERT_DOWNLOAD_POSTGRES_URL at a cluster"
                .to_owned(),
        );
    }
    let mut terminal = std::io::stderr().lock();
    for line in &lines {
        let _ = writeln!(terminal, "warning: {line}");
    }
    let required = std::env::var("CERT_DOWNLOAD_JUDGES").is_ok_and(|v| v == "required");
    assert!(
        !required || lines.is_empty(),
        "CERT_DOWNLOAD_JUDGES=required, but tests are not run:\n{}",
        lines.join("\n")
    );
}
