//! Overload and abuse by authenticated callers: keyed downloads beyond the encoding queue
//! are 503 at once, and downloads beyond a principal's budget are 429, both with
//! `Retry-After`.

use std::time::{Duration, Instant};

use crate::PFX_12345;
use crate::harness::*;
use crate::raw::*;

/// One encoding thread and a queue of two: of 24 concurrent PFX requests, those beyond
/// the queue are answered 503 (the contract's JSON, `Retry-After`) at once, the rest 200.
/// (500 concurrent PFX clients used to queue, p99 2.45 s, never a 503.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keyed_downloads_beyond_the_queue_get_503_at_once() {
    const CLIENTS: usize = 24;
    const AT_ONCE: Duration = Duration::from_secs(2);
    let server = SERVER.start(&[
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

/// Three downloads at once are allowed for a principal (the burst), the fourth is 429
/// with `Retry-After`; another principal has its own budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn downloads_are_rate_limited_per_principal() {
    let server = SERVER.start(&["--downloads-per-minute", "60", "--download-burst", "3"]);
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
