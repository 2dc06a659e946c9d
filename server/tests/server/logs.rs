//! What the log says about hostile or broken requests: hyper's own 431 and 400 are logged
//! with the client address (the errors the service writes are the contract's JSON), and
//! one hostile client cannot write more than a few KiB of log a second.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use crate::harness::*;
use crate::raw::*;

async fn connect_tls_or_fail(
    tcp: std::io::Result<tokio::net::TcpStream>,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    connect_tls(tcp?).await
}

/// hyper writes the 431 and the 400 of a malformed request itself (empty body: its README
/// says so); each is logged with the client address, as are a header timeout and a
/// connection dropped mid-body. The errors the service writes (404, 405, 408) are the
/// contract's JSON with `Cache-Control: no-store`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hyper_errors_are_logged_and_ours_are_json_and_no_store() {
    const HEADER_TIMEOUT: Duration = Duration::from_secs(1);
    let server = SERVER.start(&[
        "--header-timeout",
        "1",
        "--body-timeout",
        "1",
        "--request-timeout",
        "5",
    ]);
    let port_of = |s: &tokio_rustls::client::TlsStream<tokio::net::TcpStream>| {
        s.get_ref().0.local_addr().unwrap().port()
    };

    // 431.
    let big = "a".repeat(20_000);
    let mut stream = tls(&server).await;
    let too_large = port_of(&stream);
    let request = head(&[("X-Padding", &big)]);
    let reply = round_trip(&mut stream, request.as_bytes(), "a 20 KB header").await;
    assert_eq!(reply.status, 431);

    // 400 for a request line that is not one.
    let mut stream = tls(&server).await;
    let malformed = port_of(&stream);
    let reply = round_trip(&mut stream, b"NOT AN HTTP REQUEST\r\n\r\n", "not HTTP").await;
    assert_eq!(reply.status, 400);

    // Half a request head, then nothing: closed at the header timeout.
    let mut stream = tls(&server).await;
    let slow_head = port_of(&stream);
    send(
        &mut stream,
        format!("POST {PATH} HTTP/1.1\r\nHost: loc").as_bytes(),
    )
    .await;
    let took = closed_within(&mut stream, HEADER_TIMEOUT + Duration::from_secs(3))
        .await
        .unwrap_or_else(|e| panic!("half a head: {e}"));
    assert!(took < HEADER_TIMEOUT + Duration::from_secs(2), "{took:?}");

    // A connection dropped in the middle of a body.
    let mut stream = tls(&server).await;
    let dropped = port_of(&stream);
    let cut = head(&[
        ("Authorization", BEARER_ADMIN),
        ("Content-Type", JSON),
        ("Content-Length", "1000"),
    ]);
    send(&mut stream, format!("{cut}{{").as_bytes()).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(stream);

    // The service's own errors.
    let client = client(&server);
    let reply = Reply::read(
        client
            .get(server.with_path("/nowhere"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    expect_shaped(&reply, 404, &["not_found"]);
    let reply = Reply::read(client.get(&server.url).send().await.unwrap()).await;
    expect_shaped(&reply, 405, &["method_not_allowed"]);

    tokio::time::sleep(Duration::from_millis(500)).await;
    let log = server.stop().stderr;
    for (port, what) in [
        (too_large, "431 sent by hyper"),
        (malformed, "400 sent by hyper"),
        (slow_head, "header timeout"),
    ] {
        let lines = lines_of_client(&log, port);
        assert!(
            lines.iter().any(|l| l.contains(what)),
            "no log line {what:?} for client port {port}: {lines:?}\n{log}"
        );
    }
    assert!(
        !lines_of_client(&log, dropped).is_empty(),
        "the connection dropped mid-body is not logged:\n{log}"
    );
}

/// For 3 s, one address sends requests with an 8 KiB path, wrong tokens, and TLS
/// handshakes that fail, on three connections at a time: the log grows by at most 4 KiB
/// a second, no line is longer than 600 bytes, and what was left out is counted in summary
/// lines. (The old server wrote every path in full:
/// 15.4 MiB/s from one keep-alive connection; one line per failed handshake.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_hostile_client_writes_a_few_kib_of_log_a_second() {
    const WINDOW: Duration = Duration::from_secs(3);
    const BOUND_PER_SECOND: usize = 4 * 1024;
    const MAX_TRIES: usize = 20_000;
    let server = SERVER.start(&[]);
    let hostile = Ipv4Addr::new(127, 0, 0, 8);
    let before = server.log_so_far().len();
    let long_path = format!(
        "GET /{} HTTP/1.1\r\nHost: localhost\r\n\r\n",
        "a".repeat(8192)
    );
    let wrong = crt_request("Bearer wrong-token-\u{7f}-x", &[]);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for kind in 0..3 {
        let (to, long_path, wrong) = (server.addr, long_path.clone(), wrong.clone());
        tasks.push(tokio::spawn(async move {
            let mut tries = 0;
            while started.elapsed() < WINDOW && tries < MAX_TRIES {
                tries += 1;
                match kind {
                    0 | 1 => {
                        let request = if kind == 0 { &long_path } else { &wrong };
                        let tcp = tcp_from_to(hostile, to).await;
                        if let Ok(mut stream) = connect_tls_or_fail(tcp).await {
                            let _ = tokio::io::AsyncWriteExt::write_all(
                                &mut stream,
                                request.as_bytes(),
                            )
                            .await;
                            let _ = read_reply(&mut stream, Duration::from_secs(2)).await;
                        }
                    }
                    _ => {
                        if let Ok(mut tcp) = tcp_from_to(hostile, to).await {
                            let _ =
                                tokio::io::AsyncWriteExt::write_all(&mut tcp, b"NOT TLS\r\n\r\n")
                                    .await;
                            let _ = closed_within(&mut tcp, Duration::from_secs(2)).await;
                        }
                    }
                }
            }
            tries
        }));
    }
    let mut tries = Vec::new();
    for task in tasks {
        tries.push(task.await.unwrap());
    }
    let took = started.elapsed();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = server.log_so_far()[before..].to_owned();
    let per_second = (log.len() as f64 / took.as_secs_f64()) as usize;
    eprintln!(
        "one hostile address for {took:?} ({tries:?} tries: long paths, wrong tokens, bad handshakes): {} log bytes, {per_second} B/s",
        log.len()
    );
    let longest = log.lines().map(str::len).max().unwrap_or(0);
    assert!(
        longest <= 600,
        "a log line of {longest} bytes: {}",
        log.lines()
            .find(|l| l.len() == longest)
            .unwrap_or_default()
            .chars()
            .take(300)
            .collect::<String>()
    );
    assert!(
        per_second <= BOUND_PER_SECOND,
        "{per_second} log bytes a second from one client (bound {BOUND_PER_SECOND})"
    );
    // What was left out is summed up (every 10 s).
    for summary in [
        "log lines of unauthenticated clients suppressed",
        "TLS handshakes failed",
    ] {
        assert!(
            server
                .wait_for_log(summary, 1, Duration::from_secs(15))
                .await,
            "no summary line {summary:?}:\n{}",
            server.log_so_far()
        );
    }
}
