//! Reading a request body into one buffer of fixed cap, whatever its framing.
//!
//! Frames are copied into the buffer and dropped at once: a frame hyper hands over is a
//! slice of its read buffer, and keeping frames (as `http_body_util::Collected` does) keeps
//! those buffers alive, about 4 KiB for every body byte that arrives in a TLS record of its
//! own. Copying bounds the memory of a request by the cap, not by the number of records.

use axum::body::Body;
use cert_download::MAX_BODY_BYTES;
use http_body_util::BodyExt;
use tokio::sync::watch;
use zeroize::Zeroizing;

/// Why a body was not read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum BodyFailure {
    /// Over 64 KiB. `drained`: the rest of it was read (up to the drain limit), so the
    /// connection can carry another request.
    TooLarge { drained: bool },
    /// A pause longer than the body timeout.
    Timeout,
    /// The connection ended before the body did.
    Truncated,
    /// The framing is broken (a bad chunk size, say).
    Malformed,
    /// The server began to shut down while the body was still coming: waiting for a
    /// client is not work in flight, and gets no grace period.
    ShuttingDown,
}

/// Reads the body: at most [`MAX_BODY_BYTES`] kept, anything beyond read and dropped until
/// `drain` bytes in all, then [`BodyFailure::TooLarge`].
pub(crate) async fn read(
    mut body: Body,
    declared: Option<u64>,
    drain: u64,
    mut shutdown: watch::Receiver<bool>,
) -> Result<Zeroizing<Vec<u8>>, BodyFailure> {
    let cap = MAX_BODY_BYTES as u64;
    let limit = drain.max(cap);
    if declared.is_some_and(|n| n > limit) {
        return Err(BodyFailure::TooLarge { drained: false });
    }
    // One allocation of the final size: the body holds a password, and a buffer that grew
    // would leave copies behind that are never wiped.
    let capacity = declared.unwrap_or(cap).min(cap) as usize;
    let mut buffer = Zeroizing::new(Vec::with_capacity(capacity));
    let mut seen: u64 = 0;
    loop {
        let frame = tokio::select! {
            frame = body.frame() => frame,
            true = stopping(&mut shutdown) => return Err(BodyFailure::ShuttingDown),
        };
        let Some(frame) = frame else {
            break;
        };
        let frame = frame.map_err(|e| classify(&e))?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        seen = seen.saturating_add(data.len() as u64);
        if seen <= cap {
            buffer.extend_from_slice(&data);
        } else if seen > limit {
            return Err(BodyFailure::TooLarge { drained: false });
        }
    }
    if seen > cap {
        Err(BodyFailure::TooLarge { drained: true })
    } else {
        Ok(buffer)
    }
}

/// Resolves to true when shutdown begins; never, when no one can begin it (the sender
/// gone, as in a host that serves the router without a shutdown of its own).
async fn stopping(shutdown: &mut watch::Receiver<bool>) -> bool {
    let set = shutdown.wait_for(|stopping| *stopping).await.is_ok();
    if !set {
        std::future::pending::<()>().await;
    }
    set
}

/// What a body error was, from the error chain: tower-http's timeout, or hyper's report of
/// an early end or broken framing.
fn classify(error: &(dyn std::error::Error + 'static)) -> BodyFailure {
    let mut current = Some(error);
    while let Some(e) = current {
        if e.is::<tower_http::timeout::TimeoutError>() {
            return BodyFailure::Timeout;
        }
        if let Some(hyper) = e.downcast_ref::<hyper::Error>()
            && hyper.is_incomplete_message()
        {
            return BodyFailure::Truncated;
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::UnexpectedEof
        {
            return BodyFailure::Truncated;
        }
        current = e.source();
    }
    BodyFailure::Malformed
}
