//! A request body that stalls or drips, on loopback: each cut by its timeout (the body
//! timeout for a pause, the whole-request timeout for a drip that never pauses long
//! enough), answered 408 with the contract's JSON and closed. The flags are small (a 1 s
//! body timeout) so that the test takes seconds.

use std::time::{Duration, Instant};

use crate::harness::*;
use crate::raw::*;

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
    let server = SERVER.start(&[
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
