//! The systemd unit of `server/deploy/`, checked by systemd itself, and held to the
//! hardening its README promises.

use std::process::Command;

use crate::process::repo;

fn unit() -> String {
    std::fs::read_to_string(repo().join("server/deploy/cert-download-server.service"))
        .expect("server/deploy/cert-download-server.service")
}

#[test]
fn the_unit_is_hardened_and_loads_its_secrets_as_credentials() {
    // Continuation lines joined, as systemd reads them.
    let unit = unit().replace("\\\n", " ");
    let settings: Vec<&str> = unit
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && l.contains('='))
        .collect();
    for wanted in [
        "DynamicUser=yes",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "ProtectHome=yes",
        "CapabilityBoundingSet=",
        "LoadCredential=kek:",
        "LoadCredential=tls.key:",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ] {
        assert!(
            settings.iter().any(|s| s.starts_with(wanted)),
            "{wanted} is not set in the unit"
        );
    }
    let exec = settings
        .iter()
        .find(|s| s.starts_with("ExecStart="))
        .expect("ExecStart");
    assert!(exec.contains("${CREDENTIALS_DIRECTORY}/kek"), "{exec}");
    assert!(exec.contains("${CREDENTIALS_DIRECTORY}/tls.key"), "{exec}");
}

#[cfg_attr(
    not(judge_systemd_analyze),
    ignore = "needs systemd-analyze: scripts/test-all installs it (apt-get install systemd)"
)]
#[test]
fn systemd_analyze_verifies_the_unit() {
    // The unit names /usr/local/bin/cert-download-server; systemd checks that it exists,
    // so the copy verified here names the binary of this build.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("cert-download-server.service");
    let unit = unit().replace(
        "/usr/local/bin/cert-download-server",
        env!("CARGO_BIN_EXE_cert-download-server"),
    );
    std::fs::write(&copy, unit).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&copy)
        .env("SYSTEMD_LOG_LEVEL", "warning")
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Lines about other units of this machine are not the unit's.
    let about_it: Vec<&str> = said
        .lines()
        .filter(|l| l.contains("cert-download-server"))
        .collect();
    assert!(
        out.status.success() && about_it.is_empty(),
        "systemd-analyze verify: {said}"
    );
}
