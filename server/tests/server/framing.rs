//! How requests are framed on a connection: duplicate header fields, transfer codings
//! other than chunked, malformed chunks and bodies cut short are 400; pipelined requests
//! are answered without Nagle's delay.

use std::time::{Duration, Instant};

use crate::harness::*;
use crate::raw::*;

/// Sends `head` and `body` on a fresh connection and reads the answer.
async fn exchange(server: &Server, head: &str, body: &[u8]) -> Reply {
    let mut stream = tls(server).await;
    send(&mut stream, head.as_bytes()).await;
    round_trip(&mut stream, body, &format!("{head:?}")).await
}

/// Two `Authorization` fields (either order) or two `Content-Type` fields are 400 (the
/// first used to win: valid-then-bad gave 200); `Transfer-Encoding: gzip, chunked` is 400
/// (the gzip was ignored); a malformed chunk size, and a body cut short, are 400
/// `invalid_body` (they were 413 `body_too_large`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ambiguous_headers_other_codings_and_broken_bodies_are_400() {
    let server = SERVER.start(&[]);
    let length = CRT_12345.len().to_string();
    for (first, second) in [
        (BEARER_ADMIN, "Bearer not-a-token"),
        ("Bearer not-a-token", BEARER_ADMIN),
        (BEARER_ADMIN, BEARER_ADMIN),
    ] {
        let head = head(&[
            ("Authorization", first),
            ("Authorization", second),
            ("Content-Type", JSON),
            ("Content-Length", &length),
        ]);
        let reply = exchange(&server, &head, CRT_12345.as_bytes()).await;
        expect_shaped(&reply, 400, &["duplicate_header"]);
    }
    let head_two_types = head(&[
        ("Authorization", BEARER_ADMIN),
        ("Content-Type", JSON),
        ("Content-Type", "text/plain"),
        ("Content-Length", &length),
    ]);
    let reply = exchange(&server, &head_two_types, CRT_12345.as_bytes()).await;
    expect_shaped(&reply, 400, &["duplicate_header"]);

    let chunk = format!("{:x}\r\n{CRT_12345}\r\n0\r\n\r\n", CRT_12345.len());
    let gzip_chunked = head(&[
        ("Authorization", BEARER_ADMIN),
        ("Content-Type", JSON),
        ("Transfer-Encoding", "gzip, chunked"),
    ]);
    let reply = exchange(&server, &gzip_chunked, chunk.as_bytes()).await;
    expect_shaped(&reply, 400, &["unsupported_transfer_coding"]);
    // Plain chunked is fine.
    let chunked = head(&[
        ("Authorization", BEARER_ADMIN),
        ("Content-Type", JSON),
        ("Transfer-Encoding", "chunked"),
    ]);
    exchange(&server, &chunked, chunk.as_bytes())
        .await
        .expect_ok("crt");

    let reply = exchange(&server, &chunked, b"zz\r\n{}\r\n0\r\n\r\n").await;
    expect_shaped(&reply, 400, &["invalid_body"]);

    // A body cut short: 1,000 bytes announced, 10 sent, then the client stops sending.
    let mut stream = tls(&server).await;
    let port = stream.get_ref().0.local_addr().unwrap().port();
    let cut = head(&[
        ("Authorization", BEARER_ADMIN),
        ("Content-Type", JSON),
        ("Content-Length", "1000"),
    ]);
    send(&mut stream, format!("{cut}{{\"id\": 123").as_bytes()).await;
    tokio::io::AsyncWriteExt::shutdown(&mut stream)
        .await
        .unwrap();
    if let Ok(reply) = read_reply(&mut stream, Duration::from_secs(10)).await {
        expect_shaped(&reply, 400, &["invalid_body"]);
    }
    drop(stream);
    let log = server.stop().stderr;
    let lines = lines_of_client(&log, port);
    assert!(
        lines
            .iter()
            .any(|l| l.contains(" request ") && l.contains("status=400")),
        "the cut body must be logged as a 400 with its client address: {lines:?}\n{log}"
    );
    assert!(!log.contains("status=413"), "no 413 any more:\n{log}");
}

/// Ten requests pipelined on one connection, twenty times: the fastest round takes less
/// than 35 ms (about 11 ms in a debug build on a quiet machine; 44 ms before). Without
/// `TCP_NODELAY` each answer after the first waits for the client's delayed ACK, and
/// Linux delays an ACK by at least 40 ms (`TCP_DELACK_MIN`): a round with that wait cannot
/// take less than 40 ms however fast the machine, so any bound under 40 ms tells the two
/// apart. 35 ms leaves room for a machine busy with other work (a fastest round of 27 ms
/// was seen under load), and twenty rounds give it more chances at a quiet one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pipelined_answers_are_not_delayed_by_nagle() {
    const PIPELINED: usize = 10;
    const ROUNDS: usize = 20;
    const BOUND: Duration = Duration::from_millis(35);
    let server = SERVER.start(&[
        "--downloads-per-minute",
        "1000000",
        "--download-burst",
        "100000",
    ]);
    let mut stream = tls(&server).await;
    let request = crt_request(BEARER_ADMIN, &[]).repeat(PIPELINED);
    let mut fastest = Duration::MAX;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        send(&mut stream, request.as_bytes()).await;
        let replies = read_replies(&mut stream, PIPELINED, Duration::from_secs(10))
            .await
            .unwrap_or_else(|e| panic!("pipelined answers: {e}"));
        for reply in replies {
            reply.expect_ok("crt");
        }
        fastest = fastest.min(start.elapsed());
    }
    eprintln!("{PIPELINED} pipelined requests: fastest round {fastest:?}");
    assert!(
        fastest < BOUND,
        "{PIPELINED} pipelined requests took {fastest:?} at best"
    );
}
