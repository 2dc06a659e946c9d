//! Attacks on the service, each reproduced on loopback, bounded in count and in time, asserting the bound: a stalled connection is
//! closed within its timeout, memory grows less than a stated figure (`/proc/<pid>/status`),
//! the accept loop does not spin (CPU time from `/proc/<pid>/stat`), overload and abuse get
//! 503/429 with `Retry-After`, one log line where there were a million.
//!
//! The flags are small (a 1 s body timeout) so that each test takes seconds. Memory figures
//! are the peak resident set (`VmHWM`) against the resident set before the attack.

use std::time::{Duration, Instant};

use crate::harness::*;
use crate::raw::*;

const CRT_12345: &str = r#"{"id": 12345, "format": "crt"}"#;
const PFX_12345: &str = r#"{"id": "12345", "format": "pfx", "password": "securepassword123"}"#;
const BEARER_ADMIN: &str = "Bearer demo-admin-token";
const JSON: &str = "application/json";

/// `body` padded with spaces to `size` bytes: still the same JSON request.
fn padded(body: &str, size: usize) -> String {
    format!("{body}{}", " ".repeat(size - body.len()))
}

/// The contract's error body, with `Cache-Control: no-store`.
#[track_caller]
fn expect_shaped(reply: &Reply, status: u16, codes: &[&str]) {
    reply.expect_error(status, codes);
    assert_eq!(
        reply.header("cache-control"),
        Some("no-store"),
        "a {status} must say Cache-Control: no-store: {:?}",
        reply.headers
    );
}

/// `Retry-After` in whole seconds, asserted to be there and at least 1.
#[track_caller]
fn retry_after(reply: &Reply) -> u64 {
    let secs: u64 = reply
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "a {} must carry Retry-After in seconds: {:?}",
                reply.status, reply.headers
            )
        });
    assert!(secs >= 1, "Retry-After: {secs}");
    secs
}

/// Log lines that mention this client port.
fn lines_of_client(log: &str, port: u16) -> Vec<&str> {
    let needle = format!("client=127.0.0.1:{port} ");
    let end = format!("client=127.0.0.1:{port}");
    log.lines()
        .filter(|l| l.contains(&needle) || l.ends_with(&end))
        .collect()
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

// ---------------------------------------------------------------------------------------
// A body that stalls or drips: cut by its timeout
// ---------------------------------------------------------------------------------------

/// 100 connections send headers announcing 1,000 bytes and one byte of body, then nothing:
/// each is answered 408 (the contract's JSON) and closed within the 1 s body timeout (plus
/// slack for a loaded machine). One connection that sends a byte every 0.4 s, never pausing
/// long enough for the body timeout, is cut by the 3 s whole-request timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stalled_or_dripping_body_is_cut_by_its_timeout() {
    const STALLED: usize = 100;
    const BODY_TIMEOUT: Duration = Duration::from_secs(1);
    const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
    const SLACK: Duration = Duration::from_secs(2);
    const GROWTH_MIB: u64 = 32;
    // All from one address: more than the default per-address cap.
    let server = Server::start(&[
        "--body-timeout",
        "1",
        "--request-timeout",
        "3",
        "--max-connections-per-address",
        "1024",
    ]);
    let pid = server.pid();
    let before = rss_kib(pid);
    let head = head(&[
        ("Authorization", BEARER_ADMIN),
        ("Content-Type", JSON),
        ("Content-Length", "1000"),
    ]);
    let mut tasks = Vec::new();
    for _ in 0..STALLED {
        let server_addr = server.addr;
        let head = head.clone();
        let stream = tls(&server).await;
        tasks.push(tokio::spawn(async move {
            let mut stream = stream;
            send(&mut stream, format!("{head}{{").as_bytes()).await;
            let sent = Instant::now();
            let reply = read_reply(&mut stream, BODY_TIMEOUT + SLACK + SLACK).await;
            let answered = sent.elapsed();
            let closed = closed_within(&mut stream, SLACK).await;
            (server_addr, reply, answered, closed)
        }));
    }
    // The drip: one byte every 0.4 s.
    let mut drip = tls(&server).await;
    send(&mut drip, head.as_bytes()).await;
    let dripping = Instant::now();
    let drip_reply = loop {
        match read_reply(&mut drip, Duration::from_millis(400)).await {
            Ok(reply) => break Ok(reply),
            Err(e) if e.contains("no complete response") => {
                if dripping.elapsed() > REQUEST_TIMEOUT + SLACK + SLACK {
                    break Err(format!(
                        "still open after {:?} of a byte every 0.4 s",
                        dripping.elapsed()
                    ));
                }
                if tokio::io::AsyncWriteExt::write_all(&mut drip, b" ")
                    .await
                    .is_err()
                {
                    break Err("the server closed without a response".to_owned());
                }
                let _ = tokio::io::AsyncWriteExt::flush(&mut drip).await;
            }
            Err(e) => break Err(e),
        }
    };
    let drip_took = dripping.elapsed();

    for task in tasks {
        let (_, reply, answered, closed) = task.await.unwrap();
        let reply = reply.unwrap_or_else(|e| {
            panic!(
                "a connection stalled mid-body got no answer within {BODY_TIMEOUT:?} + slack: {e}"
            )
        });
        expect_shaped(&reply, 408, &["request_timeout"]);
        assert_eq!(
            reply.header("connection"),
            Some("close"),
            "{:?}",
            reply.headers
        );
        assert!(
            answered < BODY_TIMEOUT + SLACK,
            "a stalled body was answered after {answered:?} (body timeout {BODY_TIMEOUT:?})"
        );
        closed.unwrap_or_else(|e| panic!("the connection of a stalled body was not closed: {e}"));
    }
    let reply = drip_reply.unwrap_or_else(|e| panic!("the dripping body: {e}"));
    expect_shaped(&reply, 408, &["request_timeout"]);
    assert!(
        drip_took >= REQUEST_TIMEOUT - Duration::from_millis(500)
            && drip_took < REQUEST_TIMEOUT + SLACK,
        "the dripping body was cut after {drip_took:?}, not at the {REQUEST_TIMEOUT:?} request timeout"
    );
    let growth = peak_rss_kib(pid).saturating_sub(before);
    eprintln!(
        "{STALLED} stalled bodies: peak RSS {:.1} MiB over {:.1} MiB",
        mib(growth),
        mib(before)
    );
    assert!(
        growth < GROWTH_MIB * 1024,
        "{STALLED} stalled bodies grew the peak RSS by {:.1} MiB (bound {GROWTH_MIB} MiB)",
        mib(growth)
    );
}

// ---------------------------------------------------------------------------------------
// Memory per body byte sent as 1-byte TLS records
// ---------------------------------------------------------------------------------------

/// Sixteen bodies of 2 KiB, every byte in a TLS record of its own and a millisecond apart
/// (so that the server reads each record by itself, as from a slow link), and one chunked
/// body of 80 KiB (over the cap) in 1-byte records: the small ones are served (200), the
/// big one is 400 `body_too_large`, and the peak resident memory grows by less than
/// 16 MiB. It grew by about 4 KiB per byte: 30 KB on one connection took 118 MB.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_byte_tls_records_cost_no_more_than_the_body_cap() {
    const BODIES: usize = 16;
    const SIZE: usize = 2 * 1024;
    const OVER: usize = 80 * 1024;
    const GROWTH_MIB: u64 = 16;
    let server = Server::start(&["--body-timeout", "10", "--request-timeout", "60"]);
    let pid = server.pid();
    post_json(&client(&server), &server, Some(ADMIN), CRT_12345)
        .await
        .expect_ok("crt");
    let before = rss_kib(pid);
    let started = Instant::now();

    let mut tasks = Vec::new();
    for _ in 0..BODIES {
        let mut stream = tls(&server).await;
        tasks.push(tokio::spawn(async move {
            let length = SIZE.to_string();
            let head = head(&[
                ("Authorization", BEARER_ADMIN),
                ("Content-Type", JSON),
                ("Content-Length", &length),
            ]);
            send(&mut stream, head.as_bytes()).await;
            for byte in padded(CRT_12345, SIZE).as_bytes() {
                send(&mut stream, std::slice::from_ref(byte)).await;
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            read_reply(&mut stream, Duration::from_secs(60)).await
        }));
    }
    let mut chunked = tls(&server).await;
    let over = tokio::spawn(async move {
        let head = head(&[
            ("Authorization", BEARER_ADMIN),
            ("Content-Type", JSON),
            ("Transfer-Encoding", "chunked"),
        ]);
        send(&mut chunked, head.as_bytes()).await;
        send(&mut chunked, format!("{OVER:x}\r\n").as_bytes()).await;
        send_byte_records(&mut chunked, padded(CRT_12345, OVER).as_bytes()).await;
        send(&mut chunked, b"\r\n0\r\n\r\n").await;
        read_reply(&mut chunked, Duration::from_secs(60)).await
    });
    let mut replies = Vec::new();
    for task in tasks {
        replies.push(task.await.unwrap());
    }
    let over = over.await.unwrap();
    let growth = peak_rss_kib(pid).saturating_sub(before);
    eprintln!(
        "{} bytes in 1-byte TLS records in {:?}: peak RSS {:.1} MiB over {:.1} MiB",
        BODIES * SIZE + OVER,
        started.elapsed(),
        mib(growth),
        mib(before)
    );
    assert!(
        growth < GROWTH_MIB * 1024,
        "{} body bytes in 1-byte TLS records grew the peak RSS by {:.1} MiB (bound {GROWTH_MIB} MiB)",
        BODIES * SIZE + OVER,
        mib(growth)
    );
    for reply in replies {
        reply.unwrap_or_else(|e| panic!("{e}")).expect_ok("crt");
    }
    let reply = over.unwrap_or_else(|e| panic!("{e}"));
    expect_shaped(&reply, 400, &["body_too_large"]);
}

// ---------------------------------------------------------------------------------------
// Running out of file descriptors; the connection cap
// ---------------------------------------------------------------------------------------

/// With `ulimit -n 64` and 80 idle connections, `accept` fails with EMFILE: the server
/// pauses between tries (it used 2.48 s of CPU in 5 s) and logs it once (it logged about a
/// million lines in 10 s); once the idle connections go, it serves again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn out_of_file_descriptors_accept_pauses_and_logs_once() {
    const IDLE: usize = 80;
    const WINDOW: Duration = Duration::from_secs(4);
    const CPU_BOUND: Duration = Duration::from_millis(400);
    let server = Server::start_limited(
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

/// With `--max-connections 4` and four idle connections, a fifth client gets no TLS
/// handshake (it waits in the listen backlog) until one of the four goes; the cap is
/// logged once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_connection_cap_holds_further_connections_in_the_backlog() {
    let server = Server::start(&["--max-connections", "4", "--header-timeout", "60"]);
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

// ---------------------------------------------------------------------------------------
// Oversized headers: 431, and no memory held
// ---------------------------------------------------------------------------------------

/// A 20 KB header field is 431 (it was 200), 80 header fields are 431, and 100 connections
/// that each send 100 KB of header are all closed within 3 s, the peak RSS growing by less
/// than 24 MiB (500 such connections took 217 MB, peak 499 MB).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn headers_over_16_kib_or_64_fields_are_431_and_hold_no_memory() {
    const CONNECTIONS: usize = 100;
    const HEADER: usize = 100_000;
    const GROWTH_MIB: u64 = 24;
    let server = Server::start(&[]);
    let pid = server.pid();

    let big = "a".repeat(20_000);
    let mut stream = tls(&server).await;
    let head_20k = head(&[
        ("Authorization", BEARER_ADMIN),
        ("Content-Type", JSON),
        ("X-Padding", &big),
        ("Content-Length", &CRT_12345.len().to_string()),
    ]);
    let request = format!("{head_20k}{CRT_12345}");
    let reply = round_trip(&mut stream, request.as_bytes(), "a 20 KB header").await;
    assert_eq!(reply.status, 431, "a 20 KB header field: {reply:?}");

    let names: Vec<String> = (0..80).map(|i| format!("X-Field-{i}")).collect();
    let mut fields: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "1")).collect();
    let length = CRT_12345.len().to_string();
    fields.extend([
        ("Authorization", BEARER_ADMIN),
        ("Content-Type", JSON),
        ("Content-Length", length.as_str()),
    ]);
    let mut stream = tls(&server).await;
    let request = format!("{}{CRT_12345}", head(&fields));
    let reply = round_trip(&mut stream, request.as_bytes(), "83 header fields").await;
    assert_eq!(reply.status, 431, "83 header fields: {reply:?}");

    let before = rss_kib(pid);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let mut stream = tls(&server).await;
        tasks.push(tokio::spawn(async move {
            let start = format!("POST {PATH} HTTP/1.1\r\nHost: localhost\r\nX-Padding: ");
            let _ = tokio::io::AsyncWriteExt::write_all(&mut stream, start.as_bytes()).await;
            for _ in 0..HEADER / 10_000 {
                let chunk = "b".repeat(10_000);
                if tokio::io::AsyncWriteExt::write_all(&mut stream, chunk.as_bytes())
                    .await
                    .is_err()
                {
                    break;
                }
            }
            let _ = tokio::io::AsyncWriteExt::flush(&mut stream).await;
            closed_within(&mut stream, Duration::from_secs(3)).await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap_or_else(|e| {
            panic!("a connection sending {HEADER} bytes of header was not closed: {e}")
        });
    }
    let growth = peak_rss_kib(pid).saturating_sub(before);
    eprintln!(
        "{CONNECTIONS} connections x {HEADER} bytes of header, closed in {:?}: peak RSS {:.1} MiB over {:.1} MiB",
        started.elapsed(),
        mib(growth),
        mib(before)
    );
    assert!(
        growth < GROWTH_MIB * 1024,
        "big headers grew the peak RSS by {:.1} MiB (bound {GROWTH_MIB} MiB)",
        mib(growth)
    );
}

// ---------------------------------------------------------------------------------------
// The queue of keyed downloads: bounded, 503 beyond it
// ---------------------------------------------------------------------------------------

/// One encoding thread and a queue of two: of 24 concurrent PFX requests, those beyond
/// the queue are answered 503 (the contract's JSON, `Retry-After`) at once, the rest 200.
/// (500 concurrent PFX clients used to queue, p99 2.45 s, never a 503.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keyed_downloads_beyond_the_queue_get_503_at_once() {
    const CLIENTS: usize = 24;
    const AT_ONCE: Duration = Duration::from_secs(2);
    let server = Server::start(&[
        "--encode-threads",
        "1",
        "--encode-queue",
        "2",
        "--downloads-per-minute",
        "1000000",
        "--download-burst",
        "100000",
    ]);
    // Connections first (handshakes are not what is measured), then the requests at once.
    let mut streams = Vec::new();
    for _ in 0..CLIENTS {
        streams.push(tls(&server).await);
    }
    let length = PFX_12345.len().to_string();
    let request = format!(
        "{}{PFX_12345}",
        head(&[
            ("Authorization", BEARER_ADMIN),
            ("Content-Type", JSON),
            ("Content-Length", &length),
        ])
    );
    let mut tasks = Vec::new();
    for mut stream in streams {
        let request = request.clone();
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            send(&mut stream, request.as_bytes()).await;
            let reply = read_reply(&mut stream, Duration::from_secs(120)).await;
            (reply, sent.elapsed())
        }));
    }
    let (mut ok, mut shed) = (Vec::new(), Vec::new());
    for task in tasks {
        let (reply, took) = task.await.unwrap();
        let reply = reply.unwrap_or_else(|e| panic!("{e}"));
        match reply.status {
            200 => {
                reply.expect_ok("pfx");
                ok.push(took);
            }
            _ => {
                expect_shaped(&reply, 503, &["overloaded"]);
                retry_after(&reply);
                shed.push(took);
            }
        }
    }
    ok.sort();
    shed.sort();
    eprintln!(
        "{CLIENTS} PFX at once, 1 thread, queue 2: {} served (slowest {:?}), {} shed (slowest {:?})",
        ok.len(),
        ok.last(),
        shed.len(),
        shed.last()
    );
    assert!(
        !shed.is_empty(),
        "{CLIENTS} concurrent PFX with one thread and a queue of 2: none was shed"
    );
    assert!(!ok.is_empty(), "none was served");
    let slowest_shed = *shed.last().unwrap();
    assert!(
        slowest_shed < AT_ONCE,
        "a 503 took {slowest_shed:?}: it must be answered at once"
    );
}

// ---------------------------------------------------------------------------------------
// Token guessing: failed authentications throttled per address; rate limits
// ---------------------------------------------------------------------------------------

/// Five failures are let through (the burst), then the address gets 429 with
/// `Retry-After` for its failures. The right token from the same address, meanwhile, is
/// served: it is judged first, and the limit is on failures only (behind a NAT one guesser
/// once locked everyone out; this test once asserted that 429). Each log line names
/// the client address. (10,900 guesses/s went through.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_authentications_are_throttled_per_client_address() {
    const GUESSES: usize = 20;
    let server = Server::start(&[
        "--auth-failures-per-minute",
        "30",
        "--auth-failure-burst",
        "5",
    ]);
    let client = client(&server);
    let started = Instant::now();
    let mut statuses = Vec::new();
    let mut wait = 0;
    for i in 0..GUESSES {
        let reply = post_json(&client, &server, Some(&format!("guess-{i}")), CRT_12345).await;
        if reply.status == 401 {
            reply.expect_error(401, &["unauthenticated"]);
        } else {
            expect_shaped(&reply, 429, &["too_many_requests"]);
            wait = retry_after(&reply);
        }
        statuses.push(reply.status);
    }
    let guessed_in = started.elapsed();
    let judged = statuses.iter().filter(|s| **s == 401).count();
    // 5 at once, then one every 2 s.
    let allowed = 5 + (guessed_in.as_secs() / 2) as usize + 1;
    assert!(
        judged <= allowed && statuses.ends_with(&[429, 429]),
        "{GUESSES} guesses in {guessed_in:?}: {statuses:?} (at most {allowed} judged)"
    );
    assert!(
        wait <= 2,
        "Retry-After {wait} s for a budget of one failure per 2 s"
    );
    // The right token, while the address waits for its failures: served.
    post_json(&client, &server, Some(ADMIN), CRT_12345)
        .await
        .expect_ok("crt");
    let reply = post_json(&client, &server, Some("guess-again"), CRT_12345).await;
    expect_shaped(&reply, 429, &["too_many_requests"]);

    let log = server.stop().stderr;
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(" request ") || l.contains(" audit: "))
        .collect();
    assert!(lines.len() > 5, "{log}");
    for line in &lines {
        assert!(
            line.contains("client=127.0.0.1:"),
            "a log line without the client address: {line}"
        );
    }
}

/// Three downloads at once are allowed for a principal (the burst), the fourth is 429
/// with `Retry-After`; another principal has its own budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn downloads_are_rate_limited_per_principal() {
    let server = Server::start(&["--downloads-per-minute", "60", "--download-burst", "3"]);
    let client = client(&server);
    for _ in 0..3 {
        post_json(&client, &server, Some(ADMIN), CRT_12345)
            .await
            .expect_ok("crt");
    }
    let reply = post_json(&client, &server, Some(ADMIN), CRT_12345).await;
    expect_shaped(&reply, 429, &["too_many_requests"]);
    assert_eq!(retry_after(&reply), 1, "one download per second");
    post_json(&client, &server, Some(READER), CRT_12345)
        .await
        .expect_ok("crt");
}

// ---------------------------------------------------------------------------------------
// Duplicate headers, transfer codings, broken bodies, anonymous callers
// ---------------------------------------------------------------------------------------

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
    let server = Server::start(&[]);
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

/// Without a valid token, whatever the body, the answer is 401: not the 400 that would
/// tell an anonymous caller how to write a valid request, nor a 415.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_anonymous_caller_learns_nothing_but_401() {
    let server = Server::start(&[]);
    let client = client(&server);
    let over = padded(CRT_12345, 70 * 1024);
    let cases: [(Option<&str>, Option<&str>, &str); 6] = [
        (None, Some(JSON), r#"{"id": "abc", "format": "pem"}"#),
        (None, Some(JSON), r#"{"id": "12345", "format": "p7x"}"#),
        (None, Some(JSON), r#"{"id": "12345", "downloadKey": true}"#),
        (None, Some(JSON), "not json"),
        (None, Some("text/plain"), CRT_12345),
        (Some("not-a-token"), Some(JSON), r#"{"format": "pem"}"#),
    ];
    for (token, content_type, body) in cases {
        let reply = post(&client, &server.url, token, content_type, body.to_owned()).await;
        expect_shaped(&reply, 401, &["unauthenticated"]);
        assert!(reply.header("www-authenticate").is_some(), "{reply:?}");
    }
    // A body over the cap, sent whole without `Expect: 100-continue`: the server answers
    // 401 from the headers and closes without reading the body, so a client still writing
    // may see its connection reset (the 401 lost with it) instead. Either way it learns
    // nothing but 401; what it must never get is another answer.
    let sent = client
        .post(&server.url)
        .header(reqwest::header::CONTENT_TYPE, JSON)
        .body(over)
        .send()
        .await;
    match sent {
        Ok(response) => {
            let reply = Reply::read(response).await;
            expect_shaped(&reply, 401, &["unauthenticated"]);
        }
        Err(e) => assert!(
            e.is_request() || e.is_connect() || e.is_body(),
            "a reset while sending is the only other outcome: {e:?}"
        ),
    }
    // A body announced far over what is drained is not read at all: the answer (401
    // anonymous, 400 `body_too_large` otherwise) closes the connection, since the rest of
    // the body would follow on it.
    for (authorization, status, code) in [
        (None, 401, "unauthenticated"),
        (Some(BEARER_ADMIN), 400, "body_too_large"),
    ] {
        let mut fields = vec![("Content-Type", JSON), ("Content-Length", "2097152")];
        fields.extend(authorization.map(|a| ("Authorization", a)));
        let mut stream = tls(&server).await;
        let reply = round_trip(&mut stream, head(&fields).as_bytes(), "2 MiB announced").await;
        expect_shaped(&reply, status, &[code]);
        assert_eq!(reply.header("connection"), Some("close"), "{reply:?}");
        closed_within(&mut stream, Duration::from_secs(5))
            .await
            .unwrap_or_else(|e| panic!("2 MiB announced: {e}"));
    }
}

// ---------------------------------------------------------------------------------------
// What hyper answers itself; logs; shutdown with stalled connections
// ---------------------------------------------------------------------------------------

/// hyper writes the 431 and the 400 of a malformed request itself (empty body: its README
/// says so); each is logged with the client address, as are a header timeout and a
/// connection dropped mid-body. The errors the service writes (404, 405, 408) are the
/// contract's JSON with `Cache-Control: no-store`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hyper_errors_are_logged_and_ours_are_json_and_no_store() {
    const HEADER_TIMEOUT: Duration = Duration::from_secs(1);
    let server = Server::start(&[
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

/// SIGTERM with stalled connections (mid-body, mid-head, mid-handshake) and long
/// timeouts, and PFX queued for one encoding thread, as many as make twenty grace periods
/// of work in this build (one PFX is timed first; at least 40, at most 3,000): the stalled bodies
/// are answered 503 `shutting_down` at once (waiting for a client is not work in flight),
/// the rest close, and the server exits once the 1 s grace period for the queued downloads
/// is over, with some of them never served, in a debug build as in a release build. It
/// waited 11 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_with_stalled_connections_exits_within_the_grace_period() {
    const GRACE: Duration = Duration::from_secs(1);
    const BOUND: Duration = Duration::from_secs(4);
    let server = Server::start(&[
        "--shutdown-grace",
        "1",
        "--header-timeout",
        "60",
        "--body-timeout",
        "60",
        "--request-timeout",
        "120",
        "--encode-threads",
        "1",
        "--encode-queue",
        "4096",
        "--max-connections",
        "8192",
        "--max-connections-per-address",
        "8192",
        "--download-burst",
        "4000",
        "--downloads-per-minute",
        "100000",
    ]);
    let length = PFX_12345.len().to_string();
    let pfx = format!(
        "{}{PFX_12345}",
        head(&[
            ("Authorization", BEARER_ADMIN),
            ("Content-Type", JSON),
            ("Content-Length", &length),
        ])
    );
    // One PFX alone sizes the queue: the fastest of three, from the request on an open
    // connection to the reply (the encoding, mostly).
    let mut one_pfx = Duration::MAX;
    for _ in 0..3 {
        let mut one = tls(&server).await;
        let start = Instant::now();
        send(&mut one, pfx.as_bytes()).await;
        read_reply(&mut one, Duration::from_secs(60))
            .await
            .unwrap_or_else(|e| panic!("the timing PFX: {e}"))
            .expect_ok("pfx");
        one_pfx = one_pfx.min(start.elapsed());
    }
    let queued_count =
        ((20.0 * GRACE.as_secs_f64() / one_pfx.as_secs_f64()).ceil() as usize).clamp(40, 3000);
    eprintln!("one PFX took {one_pfx:?}: {queued_count} queued");
    let mut stalled_bodies = Vec::new();
    let mut stalled = Vec::new();
    let cut = head(&[
        ("Authorization", BEARER_ADMIN),
        ("Content-Type", JSON),
        ("Content-Length", "1000"),
    ]);
    for _ in 0..5 {
        let mut body = tls(&server).await;
        send(&mut body, format!("{cut}{{").as_bytes()).await;
        stalled_bodies.push(body);
        let mut head = tls(&server).await;
        send(
            &mut head,
            format!("POST {PATH} HTTP/1.1\r\nHost: lo").as_bytes(),
        )
        .await;
        stalled.push(head);
    }
    let mut handshakes = Vec::new();
    for _ in 0..5 {
        handshakes.push(tcp(&server).await);
    }
    // Every connection first, then every request at once: the queue builds up whatever the
    // speed of the handshakes against the encoding.
    let mut queued = Vec::new();
    for _ in 0..queued_count {
        queued.push(tls(&server).await);
    }
    for stream in &mut queued {
        send(stream, pfx.as_bytes()).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stopped = tokio::task::spawn_blocking(move || server.stop_with("TERM"))
        .await
        .unwrap();
    eprintln!(
        "SIGTERM with 15 stalled connections and {queued_count} queued PFX: exit after {:?}",
        stopped.took
    );
    assert!(
        stopped.status.success(),
        "{}: {}",
        stopped.status,
        stopped.stderr
    );
    assert!(
        stopped.took < BOUND,
        "the server took {:?} to exit on SIGTERM with a {GRACE:?} grace period",
        stopped.took
    );
    for mut stream in stalled_bodies {
        let reply = read_reply(&mut stream, Duration::from_secs(5))
            .await
            .unwrap_or_else(|e| panic!("a body stalled at shutdown: {e}"));
        expect_shaped(&reply, 503, &["shutting_down"]);
        assert_eq!(reply.header("connection"), Some("close"));
    }
    // A queued PFX is served, or cut: its connection closed, or (seen in release builds,
    // where the queue is long) answered 500 `internal_error` when the runtime's shutdown
    // drops the encoding queue with the request still in it.
    let (mut served, mut cut_with_500) = (0, 0);
    for mut stream in queued {
        if let Ok(reply) = read_reply(&mut stream, Duration::from_secs(5)).await {
            if reply.status == 200 {
                reply.expect_ok("pfx");
                served += 1;
            } else {
                expect_shaped(&reply, 500, &["internal_error"]);
                cut_with_500 += 1;
            }
        }
    }
    eprintln!("{cut_with_500} queued PFX were answered 500 at the end of the grace period");
    // The queue is twenty grace periods of work in any build: some of it must be cut.
    assert!(
        served < queued_count,
        "all {queued_count} queued PFX were served: the grace period did not bound the shutdown"
    );
    eprintln!(
        "{served} of the {queued_count} queued PFX were served before the grace period ended"
    );
    drop((stalled, handshakes));
}
