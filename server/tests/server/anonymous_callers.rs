//! A caller without a valid token learns nothing but 401 (not the 400 or 415 a valid
//! request would get) and costs nothing: its body is not read, nor `100 Continue` sent.

use std::time::Duration;

use crate::harness::*;
use crate::raw::*;

/// Without a valid token, whatever the body, the answer is 401: not the 400 that would
/// tell an anonymous caller how to write a valid request, nor a 415.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_anonymous_caller_learns_nothing_but_401() {
    let server = SERVER.start(&[]);
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

/// No token or a wrong one, announcing 1 MiB with `Expect: 100-continue`: the answer is
/// 401 at once, no `100 Continue` before it, and the connection closed; without `Expect`,
/// 64 KiB of the 1 MiB sent and then nothing: 401 at once, not after waiting for the rest.
/// (The old server sent `100 Continue` and read the body first.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_anonymous_body_is_not_read_nor_continued() {
    let server = SERVER.start(&[]);
    for authorization in [None, Some("Bearer wrong-token")] {
        for expect in [true, false] {
            let mut fields = vec![("Content-Type", JSON), ("Content-Length", "1048576")];
            fields.extend(authorization.map(|a| ("Authorization", a)));
            if expect {
                fields.push(("Expect", "100-continue"));
            }
            let mut stream = tls(&server).await;
            send(&mut stream, head(&fields).as_bytes()).await;
            if !expect {
                send(&mut stream, &[b' '; 64 * 1024]).await;
            }
            let what = format!("{authorization:?}, Expect: {expect}");
            let reply = read_reply(&mut stream, Duration::from_secs(3))
                .await
                .unwrap_or_else(|e| panic!("{what}: no answer within 3 s: {e}"));
            assert_eq!(
                reply.status, 401,
                "{what}: the first answer must be the 401, got {reply:?}"
            );
            expect_closing(&reply);
            closed_within(&mut stream, Duration::from_secs(3))
                .await
                .unwrap_or_else(|e| panic!("{what}: {e}"));
        }
    }
}
