//! `/readyz` on a PostgreSQL vault whose cluster is stopped and started again. The test
//! runs its own throwaway cluster (never the shared one): initdb into a temporary
//! directory, as the `postgres` user when run as root, on a free loopback port.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use cert_download_test_support::vault_db::{create_service_role, url_as_role};
use cert_download_vault::{Keyring, Vault, VaultOptions};

use crate::health::{readyz_until, vault_app};
use crate::process::free_port;

/// PostgreSQL's programs: `CERT_DOWNLOAD_PG_BIN`, or the newest `/usr/lib/postgresql/*/bin`.
fn pg_bin() -> PathBuf {
    if let Some(dir) = std::env::var_os("CERT_DOWNLOAD_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed (/usr/lib/postgresql)")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|d| d.join("initdb").is_file())
        .collect();
    dirs.sort_by_key(|d| {
        d.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
    });
    dirs.pop()
        .expect("an initdb under /usr/lib/postgresql/*/bin")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// A cluster of this test's own, stopped (immediately) when dropped.
struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

impl Cluster {
    fn pg(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if is_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn start() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        if is_root() {
            let owned = Command::new("chown")
                .args(["postgres:", dir.path().to_str().unwrap()])
                .status()
                .unwrap();
            assert!(owned.success());
        }
        let cluster = Cluster {
            dir,
            bin: pg_bin(),
            port: free_port(),
        };
        let init = cluster
            .pg("initdb")
            .args(["-A", "trust", "-U", "postgres", "-D"])
            .arg(cluster.data())
            .output()
            .unwrap();
        assert!(
            init.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&init.stderr)
        );
        cluster.pg_ctl("start");
        cluster
    }

    fn pg_ctl(&self, action: &str) {
        let mut command = self.pg("pg_ctl");
        command
            .arg("-D")
            .arg(self.data())
            .args(["-w", "-m", "fast"]);
        if action == "start" {
            command
                .arg("-l")
                .arg(self.dir.path().join("server.log"))
                .args([
                    "-o",
                    &format!(
                        "-k {} -c listen_addresses=127.0.0.1 -p {} -c fsync=off",
                        self.dir.path().display(),
                        self.port
                    ),
                ]);
        }
        let done = command.arg(action).output().unwrap();
        assert!(
            done.status.success(),
            "pg_ctl {action}: {}",
            String::from_utf8_lossy(&done.stderr)
        );
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self
            .pg("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

#[cfg_attr(
    not(postgres_cluster),
    ignore = "needs PostgreSQL: scripts/test-all installs it (this test starts its own cluster)"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_follows_a_postgresql_cluster_stopped_and_started() {
    let cluster = tokio::task::spawn_blocking(Cluster::start).await.unwrap();
    let keys = tempfile::tempdir().unwrap();
    let kek = keys.path().join("kek");
    Keyring::create_file(&kek).unwrap();
    let vault = Vault::init(
        &cluster.url(),
        Keyring::load(&kek).unwrap(),
        VaultOptions::default(),
    )
    .await
    .unwrap();
    vault.close().await;
    // The service runs as a role that may not change audit rows (the server refuses one
    // that could): the documented grants.
    create_service_role(&cluster.url(), "vault_service").await;
    let service_url = url_as_role(&cluster.url(), "vault_service");
    let router = vault_app(&service_url, kek.to_str().unwrap()).await;
    readyz_until(&router, 200, Duration::ZERO).await;

    let cluster = tokio::task::spawn_blocking(move || {
        cluster.pg_ctl("stop");
        cluster
    })
    .await
    .unwrap();
    // A round of checks answered before the stop may still be fresh: wait it out.
    let body = readyz_until(&router, 503, Duration::from_secs(5)).await;
    for check in ["database", "keyring", "audit"] {
        assert!(
            body["failing"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c == check),
            "{check} not failing: {body}"
        );
    }
    assert_eq!(body["checks"]["draining"], "ok");

    let cluster = tokio::task::spawn_blocking(move || {
        cluster.pg_ctl("start");
        cluster
    })
    .await
    .unwrap();
    readyz_until(&router, 200, Duration::from_secs(15)).await;
    drop(cluster);
}
