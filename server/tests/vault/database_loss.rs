//! Database loss and recovery (PostgreSQL, through a TCP relay the test cuts): the
//! database gone, silent or frozen in the middle of requests, then back again.

use std::net::SocketAddr;
use std::time::Instant;

use tokio::io::AsyncWriteExt;

use super::*;

/// What the relay between the server and PostgreSQL does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    /// Passes bytes both ways.
    Up,
    /// Closes every connection and refuses new ones (the database is gone).
    Down,
    /// Accepts connections and never answers (a host that vanished from the network).
    Silent,
    /// Keeps every connection open, the pool's established ones included, and stops
    /// passing bytes (a database that hangs in the middle of a query).
    Frozen,
}

/// A loopback TCP relay to PostgreSQL on a fixed port.
struct Relay {
    port: u16,
    target: SocketAddr,
    task: Option<tokio::task::JoinHandle<()>>,
    frozen: tokio::sync::watch::Sender<bool>,
}

/// Copies bytes from `from` to `to`, holding each piece while the relay is frozen.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut frozen: tokio::sync::watch::Receiver<bool>,
) {
    use tokio::io::AsyncReadExt;
    let mut piece = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut piece).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if frozen.wait_for(|f| !*f).await.is_err() || to.write_all(&piece[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

impl Relay {
    async fn new(target: SocketAddr) -> Relay {
        let mut relay = Relay {
            port: closed_port(),
            target,
            task: None,
            frozen: tokio::sync::watch::channel(false).0,
        };
        relay.set(Link::Up).await;
        relay
    }

    async fn set(&mut self, link: Link) {
        if link == Link::Frozen {
            self.frozen.send_replace(true);
            return;
        }
        if let Some(task) = self.task.take() {
            // Aborting the task drops its listener and every connection it holds.
            task.abort();
            let _ = task.await;
        }
        self.frozen.send_replace(false);
        if link == Link::Down {
            return;
        }
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .unwrap();
        let (target, frozen) = (self.target, self.frozen.subscribe());
        self.task = Some(tokio::spawn(async move {
            let mut held = tokio::task::JoinSet::new();
            loop {
                let Ok((inbound, _)) = listener.accept().await else {
                    continue;
                };
                let frozen = frozen.clone();
                held.spawn(async move {
                    if link == Link::Silent {
                        let _keep = inbound;
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                        return;
                    }
                    let Ok(outbound) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    let (in_read, in_write) = inbound.into_split();
                    let (out_read, out_write) = outbound.into_split();
                    tokio::join!(
                        pump(in_read, out_write, frozen.clone()),
                        pump(out_read, in_write, frozen),
                    );
                });
            }
        }));
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// `url` with its host and port replaced by `127.0.0.1:<port>`, and the address it named.
fn through(url: &str, port: u16) -> (String, SocketAddr) {
    let start = url
        .find('@')
        .or_else(|| url.find("://").map(|i| i + 2))
        .unwrap()
        + 1;
    let end = start + url[start..].find('/').unwrap();
    let target = url[start..end]
        .parse()
        .unwrap_or_else(|_| panic!("the test needs a numeric host:port in {url}"));
    (
        format!("{}127.0.0.1:{port}{}", &url[..start], &url[end..]),
        target,
    )
}

/// Sends `n` requests at once; each must be answered 503 `database_unavailable` (with
/// `Retry-After`, without backend text) within `limit`.
async fn all_unavailable(http: &reqwest::Client, server: &Server, token: &str, n: usize) {
    let limit = Duration::from_secs(8);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for k in 0..n {
        let (http, url, token) = (http.clone(), server.url.clone(), token.to_owned());
        let request = if k % 2 == 0 {
            body(12345, "crt", false)
        } else {
            body(12345, "pfx", true)
        };
        tasks.spawn(async move {
            post(&http, &url, Some(&token), Some("application/json"), request).await
        });
    }
    while let Some(reply) = tasks.join_next().await {
        let reply = reply.unwrap();
        reply.expect_error(503, &["database_unavailable"]);
        retry_after(&reply);
        no_backend_text(&reply);
    }
    let took = started.elapsed();
    assert!(took < limit, "{n} requests took {took:?} to be refused");
}

#[cfg_attr(
    not(postgres_cluster),
    ignore = "needs PostgreSQL: set CERT_DOWNLOAD_POSTGRES_URL (scripts/test-all starts a throwaway cluster)"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn database_loss_and_recovery() {
    let d = deployment(Backend::Postgres).await;
    let (_, target) = through(&d.db.service_url(), 0);
    let mut relay = Relay::new(target).await;
    let (url, _) = through(&d.db.service_url(), relay.port);
    // Two connections for up to twelve requests at once: waits are bounded all the same.
    let server = start_on(&d.db, Some(&url), "a", &["--db-max-connections", "2"]);
    let http = client(&server);
    let pid = server.pid();
    post_json(&http, &server, Some(&d.admin), &body(12345, "crt", false))
        .await
        .expect_ok("crt");

    for link in [Link::Down, Link::Silent, Link::Frozen] {
        relay.set(link).await;
        all_unavailable(&http, &server, &d.admin, 12).await;
        relay.set(Link::Up).await;
        // Back without a restart: the pool opens new connections.
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let reply = post_json(&http, &server, Some(&d.admin), &body(12345, "pfx", true)).await;
            if reply.status == 200 {
                reply.expect_ok("pfx");
                break;
            }
            reply.expect_error(503, &["database_unavailable"]);
            assert!(Instant::now() < deadline, "no recovery after {link:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(server.pid(), pid);
    }
    assert!(
        server
            .wait_for_log("the database is unavailable", 1, Duration::from_secs(1))
            .await
            || server.log_so_far().contains("database_unavailable"),
        "the log says why:\n{}",
        server.log_so_far()
    );
    // Every 200 has its row; the 503s that reached the store have theirs only if the
    // database took them (it did not).
    let rows = audit_rows(&d.vault).await;
    let ok: Vec<_> = rows.iter().filter(|r| r.entry.status == 200).collect();
    assert_eq!(ok.len(), 4, "{rows:?}");
    drop(server);
}
