//! `--drain-delay`: on SIGTERM `/readyz` answers 503 `draining` on new connections while
//! downloads are still served, then accepting stops and the process exits; without a
//! delay, accepting stops at once.

use std::time::{Duration, Instant};

use crate::process::Process;

const CRT: &str = r#"{"id": 12345, "format": "crt"}"#;

async fn readyz(client: &reqwest::Client, server: &Process) -> Result<(u16, String), String> {
    let reply = client
        .get(server.at("/readyz"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = reply.status().as_u16();
    Ok((status, reply.text().await.map_err(|e| e.to_string())?))
}

async fn download(client: &reqwest::Client, server: &Process) -> Result<u16, String> {
    client
        .post(&server.url)
        .bearer_auth("demo-reader-token")
        .header("content-type", "application/json")
        .body(CRT)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .map_err(|e| e.to_string())
}

/// A client that opens a new connection for every request, as a balancer's probe does.
fn fresh_connections() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn during_the_drain_delay_readyz_is_503_and_downloads_are_served() {
    let server = Process::start(&[
        "--insecure-http",
        "--listen",
        "127.0.0.1:0",
        "--drain-delay",
        "3",
    ]);
    let client = fresh_connections();
    assert_eq!(readyz(&client, &server).await.unwrap().0, 200);
    server.signal("TERM");
    let signalled = Instant::now();
    assert!(
        server
            .wait_for("draining: /readyz answers 503", 1, Duration::from_secs(2))
            .await,
        "{}",
        server.log()
    );
    let (status, body) = readyz(&client, &server).await.unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("draining"), "{body}");
    assert_eq!(download(&client, &server).await, Ok(200));
    // Well inside the delay: the accepted connections above are the proof, not the time.
    assert!(
        signalled.elapsed() < Duration::from_secs(3),
        "the machine stalled"
    );

    // After the delay, new connections are refused and the process exits.
    let start = Instant::now();
    loop {
        match readyz(&client, &server).await {
            Err(_) => break,
            Ok((status, body)) => assert_eq!(status, 503, "{body}"),
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "still accepting 10 s after the 3 s delay"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        signalled.elapsed() >= Duration::from_secs(3),
        "accepting stopped before the delay was over"
    );
    let log = server.stop();
    assert!(log.contains("shutting down"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_ends_the_drain_delay() {
    let server = Process::start(&[
        "--insecure-http",
        "--listen",
        "127.0.0.1:0",
        "--drain-delay",
        "60",
    ]);
    let client = fresh_connections();
    server.signal("TERM");
    assert!(
        server
            .wait_for("draining: /readyz answers 503", 1, Duration::from_secs(5))
            .await,
        "{}",
        server.log()
    );
    assert_eq!(readyz(&client, &server).await.unwrap().0, 503);
    server.signal("TERM");
    assert!(
        server
            .wait_for("shutting down", 1, Duration::from_secs(10))
            .await,
        "the second signal did not end the 60 s delay: {}",
        server.log()
    );
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_drain_delay_accepting_stops_at_sigterm() {
    let server = Process::start(&["--insecure-http", "--listen", "127.0.0.1:0"]);
    let client = fresh_connections();
    assert_eq!(download(&client, &server).await, Ok(200));
    let readyz_url = server.at("/readyz");
    let log = server.stop();
    assert!(!log.contains("draining:"), "{log}");
    assert!(client.get(readyz_url).send().await.is_err());
}
