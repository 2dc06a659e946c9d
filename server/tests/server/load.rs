//! Many requests at once, in-process: all served, and a cheap one answered during a PFX
//! flood (the encoding queue, not the sockets; shedding is
//! `overload::keyed_downloads_beyond_the_queue_get_503_at_once`).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::app::App;
use crate::{KEYED, PEM_12345, PFX_12345};

/// Flags that let 64 keyed downloads queue (none shed) and one principal download as
/// much as it likes.
const NO_SHEDDING_NOR_LIMITS: [&str; 6] = [
    "--encode-queue",
    "64",
    "--downloads-per-minute",
    "1000000",
    "--download-burst",
    "100000",
];

/// The k-th request of the concurrent mix: one in eight a PFX, one in eight a PEM with
/// its key, the rest without keys; across the four keyed records.
fn mixed_request(k: usize) -> (String, &'static str) {
    let id = KEYED[k % KEYED.len()].0;
    match k % 8 {
        0 => (
            format!(r#"{{"id": "{id}", "format": "pfx", "password": "securepassword123"}}"#),
            "pfx",
        ),
        4 => (
            format!(
                r#"{{"id": "{id}", "format": "pem", "download_key": true, "password": "keyprotectionpassword"}}"#
            ),
            "pem",
        ),
        1 | 3 | 5 => (format!(r#"{{"id": "{id}", "format": "pem"}}"#), "pem"),
        _ => (format!(r#"{{"id": {id}, "format": "crt"}}"#), "crt"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_requests_from_16_tasks_all_succeed() {
    const TASKS: usize = 16;
    const REQUESTS: usize = 200;
    // Room for every keyed request in the queue, and no rate limit on the one principal:
    // this is about all of them succeeding (shedding and limits have tests of their own).
    let app = App::start(&NO_SHEDDING_NOR_LIMITS);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let mut formats = Vec::new();
            for k in (task..REQUESTS).step_by(TASKS) {
                let (body, format) = mixed_request(k);
                let reply = app.admin(&body).await;
                let download = reply.expect_ok(format);
                match format {
                    "pfx" => assert_eq!(download.certificate[0], 0x30, "a DER PFX"),
                    "crt" => assert_eq!(download.certificate[0], 0x30, "a DER certificate"),
                    _ => assert!(
                        download
                            .certificate
                            .starts_with(b"-----BEGIN CERTIFICATE-----\n")
                    ),
                }
                formats.push(format);
            }
            formats
        }));
    }
    let mut done = 0;
    let mut pfx = 0;
    for task in tasks {
        let formats = task.await.expect("a request task failed");
        done += formats.len();
        pfx += formats.iter().filter(|f| **f == "pfx").count();
    }
    assert_eq!(done, REQUESTS);
    assert!(pfx > 0);
    eprintln!(
        "{REQUESTS} requests ({pfx} pfx) from {TASKS} tasks in {:?}",
        started.elapsed()
    );
}

/// 64 tasks each keep one PFX request in flight, back to back, until the cheap request
/// has been answered: the flood is running by construction while it is asked, however
/// fast or slow a PFX is. The cheap request is not queued behind the flood: it is answered
/// within 30 s, and in less than half the median time a PFX of the same flood took. Each
/// PFX waits for the encoding threads behind up to 63 others (about sixteen encodings on
/// a 2-core machine), and a cheap request queued behind them would wait as long, less its
/// own encoding; measured in the same run, the bound grows with the machine's load as the
/// flood's own times do.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cheap_request_answers_during_a_pfx_flood() {
    const FLOOD: usize = 64;
    // The whole flood queues for the encoding threads (none is shed): the hardest case
    // for the cheap request. A PFX of the flood waits for about FLOOD / threads encodings,
    // more than the default 30 s request timeout on a machine busy with other work (its
    // 408 is not what this test is about: the timeout has tests of its own).
    let flags = [&NO_SHEDDING_NOR_LIMITS[..], &["--request-timeout", "3600"]].concat();
    let app = App::start(&flags);
    let finished = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let pfx_times = Arc::new(Mutex::new(Vec::new()));
    let mut flood = Vec::new();
    for _ in 0..FLOOD {
        let app = app.clone();
        let finished = Arc::clone(&finished);
        let stop = Arc::clone(&stop);
        let pfx_times = Arc::clone(&pfx_times);
        flood.push(tokio::spawn(async move {
            loop {
                let sent = Instant::now();
                let reply = app.admin(PFX_12345).await;
                reply.expect_ok("pfx");
                pfx_times.lock().unwrap().push(sent.elapsed());
                finished.fetch_add(1, Ordering::SeqCst);
                if stop.load(Ordering::SeqCst) {
                    break;
                }
            }
        }));
    }
    // Wait until the flood is being served (a PFX came back), so the encoders are busy
    // and the other requests are queued on them.
    let wait = Instant::now();
    while finished.load(Ordering::SeqCst) == 0 {
        assert!(
            wait.elapsed() < Duration::from_secs(120),
            "no PFX of the flood came back within 120 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // A reader asking for a PEM without key.
    let asked = Instant::now();
    let cheap = tokio::time::timeout(Duration::from_secs(30), app.reader(PEM_12345))
        .await
        .unwrap_or_else(|_| {
            panic!(
                "a PEM without key did not complete within 30 s while {FLOOD} PFX were in flight"
            )
        });
    let took = asked.elapsed();
    stop.store(true, Ordering::SeqCst);
    cheap.expect_ok("pem");
    for task in flood {
        task.await.expect("a PFX of the flood failed");
    }
    let mut pfx_times = std::mem::take(&mut *pfx_times.lock().unwrap());
    pfx_times.sort();
    let median = pfx_times[pfx_times.len() / 2];
    eprintln!(
        "the cheap request took {took:?} during a flood of {FLOOD} PFX in flight ({} served, \
         median {median:?})",
        finished.load(Ordering::SeqCst)
    );
    assert!(
        took < median / 2,
        "the cheap request took {took:?}, a PFX of the flood {median:?} (the median of {}): \
         it waited with the flood",
        pfx_times.len()
    );
}
