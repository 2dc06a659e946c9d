//! What a client can make the server hold in memory: a body sent one byte per TLS
//! record, and oversized headers (431). Memory figures are the peak resident set
//! (`VmHWM`, `/proc/<pid>/status`) against the resident set before the attack, each
//! asserted below a stated figure.

use std::time::{Duration, Instant};

use crate::harness::*;
use crate::raw::*;

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
    let server = SERVER.start(&["--body-timeout", "10", "--request-timeout", "60"]);
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

/// A 20 KB header field is 431 (it was 200), 80 header fields are 431, and 100 connections
/// that each send 100 KB of header are all closed within 3 s, the peak RSS growing by less
/// than 24 MiB (500 such connections took 217 MB, peak 499 MB).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn headers_over_16_kib_or_64_fields_are_431_and_hold_no_memory() {
    const CONNECTIONS: usize = 100;
    const HEADER: usize = 100_000;
    const GROWTH_MIB: u64 = 24;
    let server = SERVER.start(&[]);
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
