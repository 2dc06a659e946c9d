//! The connection slots: `--max-connections` holds further clients in the listen backlog;
//! `accept` out of file descriptors pauses and logs once (CPU time from
//! `/proc/<pid>/stat`); one address cannot hold every slot; a keep-alive connection ends
//! after its requests (`--max-requests-per-connection`) or its age
//! (`--max-connection-age`).

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use crate::harness::*;
use crate::raw::*;

/// With `--max-connections 4` and four idle connections, a fifth client gets no TLS
/// handshake (it waits in the listen backlog) until one of the four goes; the cap is
/// logged once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_connection_cap_holds_further_connections_in_the_backlog() {
    let server = SERVER.start(&["--max-connections", "4", "--header-timeout", "60"]);
    let mut idle = Vec::new();
    for _ in 0..4 {
        let stream = tls(&server).await;
        idle.push(stream);
    }
    let client = client(&server);
    let waiting = tokio::time::timeout(
        Duration::from_millis(1500),
        client
            .post(&server.url)
            .bearer_auth(ADMIN)
            .header("content-type", JSON)
            .body(CRT_12345)
            .send(),
    )
    .await;
    assert!(
        waiting.is_err(),
        "a fifth connection was served while 4 were open under --max-connections 4: {waiting:?}"
    );
    assert!(
        server
            .wait_for_log("connection cap reached", 1, Duration::from_secs(5))
            .await,
        "{}",
        server.log_so_far()
    );
    // Once while it lasts (a new line each time the cap is reached again).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let log = server.log_so_far();
    assert_eq!(
        log.lines()
            .filter(|l| l.contains("connection cap reached"))
            .count(),
        1,
        "{log}"
    );
    drop(idle);
    let reply = tokio::time::timeout(
        Duration::from_secs(20),
        post_json(&client, &server, Some(ADMIN), CRT_12345),
    )
    .await
    .expect("not served within 20 s of the idle connections closing");
    reply.expect_ok("crt");
}

/// With `ulimit -n 64` and 80 idle connections, `accept` fails with EMFILE: the server
/// pauses between tries (it used 2.48 s of CPU in 5 s) and logs it once (it logged about a
/// million lines in 10 s); once the idle connections go, it serves again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn out_of_file_descriptors_accept_pauses_and_logs_once() {
    const IDLE: usize = 80;
    const WINDOW: Duration = Duration::from_secs(4);
    const CPU_BOUND: Duration = Duration::from_millis(400);
    let server = SERVER.start_limited(
        &[
            "--max-connections",
            "1000",
            "--accept-error-pause",
            "0.5",
            "--header-timeout",
            "60",
        ],
        Vec::new(),
        "info",
        Some(64),
    );
    let pid = server.pid();
    let mut idle = Vec::new();
    for _ in 0..IDLE {
        idle.push(tcp(&server).await);
    }
    assert!(
        server
            .wait_for_log("accept failed", 1, Duration::from_secs(10))
            .await,
        "accept did not fail with {IDLE} connections under ulimit -n 64:\n{}",
        server.log_so_far()
    );
    let cpu_before = cpu_time(pid);
    tokio::time::sleep(WINDOW).await;
    let cpu = cpu_time(pid).saturating_sub(cpu_before);
    let failures = server
        .log_so_far()
        .lines()
        .filter(|l| l.contains("accept failed"))
        .count();
    eprintln!("out of file descriptors: {cpu:?} of CPU in {WINDOW:?}, {failures} log lines");
    assert!(
        cpu < CPU_BOUND,
        "the server used {cpu:?} of CPU in {WINDOW:?} while accept failed (bound {CPU_BOUND:?})"
    );
    assert_eq!(
        failures, 1,
        "accept failures must be logged once per episode"
    );

    drop(idle);
    let reply = tokio::time::timeout(
        Duration::from_secs(20),
        post_json(&client(&server), &server, Some(ADMIN), CRT_12345),
    )
    .await
    .expect("the server did not serve again within 20 s of the idle connections closing");
    reply.expect_ok("crt");
    assert!(
        server.log_so_far().contains("accepting connections again"),
        "{}",
        server.log_so_far()
    );
}

/// One address opens all 100 slots (`--max-connections 100`) and keeps them: a
/// legitimate client from another address must still be served, and a tiny `GET /` (the
/// attacker's way to keep a slot beyond the header timeout) must close its connection.
/// Against the old server the legitimate client waited in the backlog until the attack
/// stopped, and `GET /` left the connection open.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_address_cannot_hold_every_slot() {
    const SLOTS: usize = 100;
    let server = SERVER.start(&["--max-connections", "100", "--header-timeout", "30"]);
    let attacker = Ipv4Addr::new(127, 0, 0, 2);
    let mut held = Vec::new();
    for _ in 0..SLOTS {
        if let Ok(Ok(stream)) =
            tokio::time::timeout(Duration::from_secs(5), tls_from(&server, attacker)).await
        {
            held.push(stream);
        }
    }
    // Another client while the attacker holds what it could get.
    let legit = tokio::time::timeout(Duration::from_secs(10), async {
        let client = client(&server);
        post_json(&client, &server, Some(ADMIN), CRT_12345).await
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "a legitimate client was not served within 10 s while one address held {} connections",
            held.len()
        )
    });
    legit.expect_ok("crt");
    eprintln!("one address got {} of {SLOTS} connections", held.len());
    assert!(
        held.len() <= 64,
        "one address holds {} connections",
        held.len()
    );
    // Keeping a slot with requests to another path: each answer closes its connection.
    for stream in held.iter_mut().take(8) {
        send(stream, b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
        let reply = read_reply(stream, Duration::from_secs(5))
            .await
            .unwrap_or_else(|e| panic!("GET /: {e}"));
        reply.expect_error(404, &["not_found"]);
        expect_closing(&reply);
        closed_within(stream, Duration::from_secs(2))
            .await
            .unwrap_or_else(|e| panic!("the connection of a 404: {e}"));
    }
}

/// `--max-requests-per-connection 3`: the third answer on a connection says `Connection:
/// close` and the connection ends. `--max-connection-age 1`: a connection kept busy with a
/// request every 200 ms ends after about a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keep_alive_connections_end_after_their_requests_or_age() {
    let server = SERVER.start(&["--max-requests-per-connection", "3"]);
    let mut stream = tls(&server).await;
    for i in 1..=3 {
        let request = crt_request(BEARER_ADMIN, &[]);
        let reply = round_trip(&mut stream, request.as_bytes(), &format!("request {i}")).await;
        reply.expect_ok("crt");
        assert_eq!(
            reply.header("connection") == Some("close"),
            i == 3,
            "request {i} of 3: {:?}",
            reply.headers
        );
    }
    closed_within(&mut stream, Duration::from_secs(2))
        .await
        .unwrap_or_else(|e| panic!("after its last request: {e}"));
    drop(server);

    let server = SERVER.start(&["--max-connection-age", "1"]);
    let mut stream = tls(&server).await;
    let opened = Instant::now();
    let mut served = 0;
    while opened.elapsed() < Duration::from_secs(5) {
        if tokio::io::AsyncWriteExt::write_all(
            &mut stream,
            crt_request(BEARER_ADMIN, &[]).as_bytes(),
        )
        .await
        .is_err()
        {
            break;
        }
        match read_reply(&mut stream, Duration::from_secs(5)).await {
            Ok(reply) => {
                reply.expect_ok("crt");
                served += 1;
                if reply.header("connection") == Some("close") {
                    break;
                }
            }
            Err(_) => break,
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let closed = closed_within(&mut stream, Duration::from_secs(2)).await;
    let lived = opened.elapsed();
    eprintln!("a busy connection with a 1 s age lived {lived:?}, {served} requests");
    assert!(closed.is_ok() && served >= 2, "{closed:?}, {served} served");
    assert!(lived < Duration::from_secs(4), "it lived {lived:?}");
}
