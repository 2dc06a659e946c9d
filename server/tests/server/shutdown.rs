//! SIGTERM with stalled connections and queued downloads: stalled bodies are answered 503
//! `shutting_down` at once, and the server exits once its grace period is over.

use std::time::{Duration, Instant};

use crate::PFX_12345;
use crate::harness::*;
use crate::raw::*;

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
    let server = SERVER.start(&[
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
