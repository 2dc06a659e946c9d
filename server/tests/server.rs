//! Tests of `server`. Most drive the library's router in-process
//! (`server/app.rs`); those about the socket, TLS, signals and the binary's log start it as
//! a process on an ephemeral loopback port (test-support's `server_harness`, with this
//! binary's own additions in `server/harness.rs`) and talk HTTPS (verified against the demo
//! CA) with reqwest, raw TLS (`server/raw.rs`) and the `curl` CLI. Files
//! are checked with the `openssl` CLI; tests that need a CLI are ignored when it is
//! missing, with the reason.
//!
//! Debug builds: a default PFX costs ~0.4 s of CPU there, and the load tests are sized for
//! it.
//!
//! The attack tests, by concern: `body_timeouts`, `memory`, `connection_caps`, `overload`,
//! `auth_throttling`, `anonymous_callers`, `framing`, `logs`, `shutdown`. Each reproduces
//! an attack on loopback, bounded in count and in time, and asserts the bound; the flags
//! are small (a 1 s body timeout) so that each takes seconds. Where a weakness can be shown
//! with the flags an older server had, the test uses only those, so that against that
//! binary (`CERT_DOWNLOAD_SERVER_BIN=<old binary>`) it fails for the weakness itself; a
//! test of a newer flag fails there because the flag is unknown.

#[path = "server/app.rs"]
mod app;
#[path = "server/harness.rs"]
mod harness;
#[path = "server/raw.rs"]
mod raw;
#[path = "server/tools.rs"]
mod tools;

#[path = "server/anonymous_callers.rs"]
mod anonymous_callers;
#[path = "server/auth_throttling.rs"]
mod auth_throttling;
#[path = "server/body_timeouts.rs"]
mod body_timeouts;
#[path = "server/config_file.rs"]
mod config_file;
#[path = "server/connection_caps.rs"]
mod connection_caps;
#[path = "server/contract.rs"]
mod contract;
#[path = "server/files.rs"]
mod files;
#[path = "server/framing.rs"]
mod framing;
#[path = "server/limits_table.rs"]
mod limits_table;
#[path = "server/load.rs"]
mod load;
#[path = "server/logs.rs"]
mod logs;
#[path = "server/memory.rs"]
mod memory;
#[path = "server/overload.rs"]
mod overload;
#[path = "server/process.rs"]
mod process;
#[path = "server/shutdown.rs"]
mod shutdown;

use harness::*;
use tools::*;

pub(crate) const PFX_12345: &str =
    r#"{"id": "12345", "format": "pfx", "password": "securepassword123"}"#;

pub(crate) const PEM_12345: &str = r#"{"id": 12345, "format": "pem"}"#;

/// The stored leaf of a demo record, DER.
pub(crate) fn demo_leaf(id: &str) -> Vec<u8> {
    let certs = pem_file_certs(&demo(&format!("{id}/cert.pem")));
    assert_eq!(certs.len(), 1, "examples/demo-store/{id}/cert.pem");
    certs.into_iter().next().unwrap()
}

/// The leaf subject CN of each demo record with a key.
pub(crate) const KEYED: [(&str, &str); 4] = [
    ("12345", "www.example.com"),
    ("1001", "api.example.com"),
    ("1002", "ed25519.example.com"),
    ("1004", "p384.example.com"),
];
