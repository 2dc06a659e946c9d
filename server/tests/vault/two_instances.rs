//! Two instances on one PostgreSQL, set up with the admin command, one SIGKILLed in the
//! middle of a flood: the other keeps answering and every 200 has its audit row.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::io::AsyncWriteExt;

use super::*;

/// Runs the admin command on `db`; its one JSON object, after it exited 0.
fn admin(db: &TestDb, args: &[&str], stdin: Option<&str>) -> serde_json::Value {
    let mut command = Command::new(SERVER.admin_binary());
    command.arg(args[0]);
    let rest = if args[0] == "token" {
        command.arg(args[1]);
        &args[2..]
    } else {
        &args[1..]
    };
    command
        .args(["--database", &db.url, "--kek-file"])
        .arg(&db.kek_file)
        .args(rest)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    if let Some(text) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "admin {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// One request on a connection of its own (so that the client address in the audit row
/// names it): the address it came from and the status, or why none came.
async fn one_request(
    server_addr: SocketAddr,
    token: &str,
    body: &str,
) -> (SocketAddr, Result<u16, String>) {
    let connect = async {
        let tcp = tokio::net::TcpStream::connect(server_addr)
            .await
            .map_err(|e| e.to_string())?;
        let local = tcp.local_addr().map_err(|e| e.to_string())?;
        Ok::<_, String>((tcp, local))
    };
    let (tcp, local) = match connect.await {
        Ok(pair) => pair,
        Err(e) => return ("0.0.0.0:0".parse().unwrap(), Err(e)),
    };
    let result = async {
        let mut tls = raw::tls_over(tcp).await?;
        let length = body.len().to_string();
        let auth = format!("Bearer {token}");
        let head = raw::head(&[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
            ("Content-Length", &length),
            ("Connection", "close"),
        ]);
        tls.write_all(format!("{head}{body}").as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        tls.flush().await.map_err(|e| e.to_string())?;
        let reply = raw::read_reply(&mut tls, Duration::from_secs(60)).await?;
        Ok(reply.status)
    }
    .await;
    (local, result)
}

/// A request of the flood: the instance (`a`, `b`), whether it asked for a key, the
/// client address, the status or why none came, whether it was sent after the SIGKILL.
type Sent = (char, bool, SocketAddr, Result<u16, String>, bool);

#[cfg_attr(
    not(postgres_cluster),
    ignore = "needs PostgreSQL: set CERT_DOWNLOAD_POSTGRES_URL (scripts/test-all starts a throwaway cluster)"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_one_postgres_and_one_killed_mid_flood() {
    let db = TestDb::new(Backend::Postgres).await;
    let demo_dir = repo_dir().join("examples/demo-store");
    admin(&db, &["init"], None);
    db.grant_service_role().await;
    admin(&db, &["import", demo_dir.to_str().unwrap()], None);
    admin(
        &db,
        &["grant", "flood", "--read", "--export", "--all"],
        None,
    );
    admin(&db, &["grant", "victim", "--read", "--all"], None);
    let token = admin(&db, &["token", "create", "flood"], None)["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let victim = admin(&db, &["token", "create", "victim"], None)["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let vault = db.connect().await;

    let (a, b) = (start(&db, "a"), start(&db, "b"));
    // Downloads through both.
    for server in [&a, &b] {
        let http = client(server);
        post_json(&http, server, Some(&token), &body(12345, "pfx", true))
            .await
            .expect_ok("pfx");
        post_json(&http, server, Some(&victim), &body(12345, "crt", false))
            .await
            .expect_ok("crt");
    }
    // Revoked through the admin command (the token on standard input): both refuse.
    let out = admin(&db, &["token", "revoke", "-"], Some(&victim));
    assert_eq!(out["revoked"], true, "{out}");
    for server in [&a, &b] {
        post_json(
            &client(server),
            server,
            Some(&victim),
            &body(12345, "crt", false),
        )
        .await
        .expect_error(401, &["unauthenticated"]);
    }

    // The flood: eight workers, each request on its own connection, alternating between
    // the instances, one in ten with a key; bounded in count and time. Instance a is
    // SIGKILLed once 40 requests have been answered.
    const WORKERS: usize = 8;
    const MAX_REQUESTS: usize = 400;
    const MAX_TIME: Duration = Duration::from_secs(60);
    let results: Arc<Mutex<Vec<Sent>>> = Arc::new(Mutex::new(Vec::new()));
    let killed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sent = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..WORKERS {
        let (results, killed, sent, token) = (
            Arc::clone(&results),
            Arc::clone(&killed),
            Arc::clone(&sent),
            token.clone(),
        );
        let (addr_a, addr_b) = (a.addr, b.addr);
        workers.spawn(async move {
            loop {
                let k = sent.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let b_answered_since_kill = {
                    let r = results.lock().unwrap();
                    r.iter().filter(|x| x.0 == 'b' && x.4).count()
                };
                if k >= MAX_REQUESTS || started.elapsed() > MAX_TIME || b_answered_since_kill >= 60
                {
                    break;
                }
                let (name, addr) = if (k + w) % 2 == 0 {
                    ('a', addr_a)
                } else {
                    ('b', addr_b)
                };
                let keyed = k % 10 == 0;
                let after_kill = killed.load(std::sync::atomic::Ordering::SeqCst);
                let (local, status) = one_request(addr, &token, &body(12345, "crt", keyed)).await;
                results
                    .lock()
                    .unwrap()
                    .push((name, keyed, local, status, after_kill));
            }
        });
    }
    // The killer: once 40 requests are answered, SIGKILL instance a.
    let a_pid = a.pid();
    loop {
        let answered = results.lock().unwrap().len();
        if answered >= 40 || started.elapsed() > MAX_TIME {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let status = Command::new("kill")
        .args(["-KILL", &a_pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    killed.store(true, std::sync::atomic::Ordering::SeqCst);
    while let Some(joined) = workers.join_next().await {
        joined.unwrap();
    }
    let results = results.lock().unwrap().clone();
    assert!(started.elapsed() < MAX_TIME + Duration::from_secs(70));

    let count = |name: char, after: bool, ok: bool| {
        results
            .iter()
            .filter(|r| r.0 == name && r.4 == after && (r.3 == Ok(200)) == ok)
            .count()
    };
    eprintln!(
        "flood: {} requests in {:?}; a: {} ok before the kill, {} failed after; b: {} ok \
         before, {} after, {} failed",
        results.len(),
        started.elapsed(),
        count('a', false, true),
        count('a', true, false),
        count('b', false, true),
        count('b', true, true),
        count('b', false, false) + count('b', true, false),
    );
    // Instance b answered every request it was sent, before and after the kill.
    let b_results: Vec<_> = results.iter().filter(|r| r.0 == 'b').collect();
    let b_after: Vec<_> = b_results.iter().filter(|r| r.4).collect();
    assert!(
        b_after.len() >= 20,
        "b answered {} after the kill",
        b_after.len()
    );
    for r in &b_results {
        assert_eq!(r.3, Ok(200), "instance b: {r:?}");
    }
    // Instance a: its requests after the kill failed (it is gone), none hung.
    let a_after_failed = results
        .iter()
        .filter(|r| r.0 == 'a' && r.4 && r.3.is_err())
        .count();
    assert!(a_after_failed > 0, "nothing was sent to a after the kill?");

    // Every 200 the client got has its audit row: same instance, same client address,
    // key_out as asked. No row is half written: every row is whole and consistent.
    let rows = audit_rows(&vault).await;
    let by_client: std::collections::HashMap<String, &AuditRow> = rows
        .iter()
        .filter_map(|r| r.entry.client.clone().map(|c| (c, r)))
        .collect();
    let mut checked = 0;
    for (name, keyed, local, status, _) in &results {
        if *status != Ok(200) {
            continue;
        }
        let row = by_client
            .get(&local.to_string())
            .unwrap_or_else(|| panic!("no audit row for the 200 to {local} from {name}"));
        let e = &row.entry;
        assert_eq!(
            e.instance.as_deref(),
            Some(name.to_string().as_str()),
            "{row:?}"
        );
        assert_eq!((e.status, e.key_out), (200, *keyed), "{row:?}");
        checked += 1;
    }
    assert!(checked >= 60, "only {checked} 200s");
    for row in &rows {
        let e = &row.entry;
        assert!(matches!(e.instance.as_deref(), Some("a" | "b")), "{row:?}");
        assert!(matches!(e.status, 200 | 401), "{row:?}");
        assert!(
            e.principal.is_some() && e.format.is_some() && e.certificate_id == Some(12345),
            "{row:?}"
        );
        assert!(
            e.client
                .as_deref()
                .unwrap_or("")
                .parse::<SocketAddr>()
                .is_ok(),
            "{row:?}"
        );
        assert_eq!(e.error.is_some(), e.status != 200, "{row:?}");
        assert!(!e.key_out || e.status == 200, "{row:?}");
    }
    // Rows of a may exceed the 200s it sent: a download committed whose answer the kill
    // cut off. Never the reverse (checked above).
    let a_rows = rows
        .iter()
        .filter(|r| r.entry.instance.as_deref() == Some("a"))
        .count();
    let a_ok = results
        .iter()
        .filter(|r| r.0 == 'a' && r.3 == Ok(200))
        .count();
    assert!(a_rows >= a_ok);

    // The audit chains are whole: a's ends at its last committed row (the SIGKILL cut off
    // nothing it had committed), a restarted a continues it, and the checkpoints signed
    // at shutdown vouch for both. Verified with the database and the public key only.
    drop(a);
    let file = db.dir.path().join("checkpoints.jsonl");
    let a = start_on(
        &db,
        None,
        "a",
        &["--audit-checkpoint-file", file.to_str().unwrap()],
    );
    post_json(&client(&a), &a, Some(&token), &body(12345, "crt", false))
        .await
        .expect_ok("crt");
    assert!(a.stop().status.success());
    assert!(b.stop().status.success());
    let key = audit_command(&["public-key", "--database", &db.url], None).1["public_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let (code, report) = audit_command(
        &["verify", "--database", &db.url, "--public-key", &key],
        Some(&file),
    );
    assert_eq!(code, 0, "{report}");
    assert_eq!(
        report["rows"].as_u64(),
        Some(rows.len() as u64 + 1),
        "{report}"
    );
    assert_eq!(report["checkpoints_file"], 1, "{report}");
    let a_chain = report["writers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["writer"] == "a")
        .unwrap();
    assert_eq!(
        a_chain["last_seq"].as_u64(),
        Some(a_rows as u64 + 1),
        "{report}"
    );
    assert_eq!(a_chain["vouched_seq"], a_chain["last_seq"], "{report}");
    vault.close().await;
}

/// `cert-download-vault audit ARGS` (no KEK file), with `--checkpoints FILE` if given: its
/// exit code and JSON.
fn audit_command(args: &[&str], checkpoints: Option<&std::path::Path>) -> (i32, serde_json::Value) {
    let mut command = Command::new(SERVER.admin_binary());
    command.arg("audit").args(args);
    if let Some(file) = checkpoints {
        command.arg("--checkpoints").arg(file);
    }
    let out = command.output().unwrap();
    let value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    (out.status.code().unwrap(), value)
}
