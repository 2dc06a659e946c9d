//! Logs bounded whatever a client sends: text from the client escaped and cut short
//! ([`shown`]); the lines an anonymous client can cause (request lines of unauthenticated
//! requests, their refusals, connection errors) let through at most `--log-lines-per-second`
//! per client address and ten times that in all, the rest counted and summed up every
//! 10 s ([`summarize`]); failed TLS handshakes only counted. Lines of authenticated
//! requests (the audit trail) are never dropped.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Instant;

use crate::throttle::client_key;

/// The longest piece of client text a line shows.
const SHOWN_CHARS: usize = 64;

/// Client text for a log line: control and non-ASCII characters escaped, cut to 64
/// characters with the length of what was cut.
pub(crate) fn shown(text: &str) -> String {
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == SHOWN_CHARS {
            out.push_str(&format!("...({} bytes)", text.len()));
            break;
        }
        if c.is_ascii_graphic() || c == ' ' {
            out.push(c);
        } else {
            out.extend(c.escape_default());
        }
    }
    out
}

/// Per-address windows beyond which expired ones are dropped.
const SWEEP: usize = 4096;

struct Gate {
    per_second: AtomicU32,
    start: Instant,
    /// Per client address: the second of its window and the lines in it.
    windows: Mutex<HashMap<IpAddr, (u64, u32)>>,
    /// All addresses: the second and the lines in it.
    all: Mutex<(u64, u32)>,
    suppressed: AtomicU64,
    handshakes_failed: AtomicU64,
}

fn gate() -> &'static Gate {
    static GATE: OnceLock<Gate> = OnceLock::new();
    GATE.get_or_init(|| Gate {
        per_second: AtomicU32::new(10),
        start: Instant::now(),
        windows: Mutex::new(HashMap::new()),
        all: Mutex::new((0, 0)),
        suppressed: AtomicU64::new(0),
        handshakes_failed: AtomicU64::new(0),
    })
}

/// Sets the lines per second and address (`--log-lines-per-second`).
pub(crate) fn set_rate(per_second: u32) {
    gate()
        .per_second
        .store(per_second.max(1), Ordering::Relaxed);
}

/// Whether a line caused by `ip` may be written now; if not, it is counted.
pub(crate) fn allow(ip: IpAddr) -> bool {
    let gate = gate();
    let now = gate.start.elapsed().as_secs();
    let limit = gate.per_second.load(Ordering::Relaxed);
    let mine = {
        let mut windows = gate.windows.lock().unwrap_or_else(PoisonError::into_inner);
        if windows.len() >= SWEEP {
            windows.retain(|_, (second, _)| *second == now);
        }
        let window = windows.entry(client_key(ip)).or_insert((now, 0));
        take(window, now, limit)
    };
    let allowed = mine && {
        let mut all = gate.all.lock().unwrap_or_else(PoisonError::into_inner);
        take(&mut all, now, limit.saturating_mul(10))
    };
    if !allowed {
        gate.suppressed.fetch_add(1, Ordering::Relaxed);
    }
    allowed
}

/// One more line in the window of second `now`, if it has room.
fn take(window: &mut (u64, u32), now: u64, limit: u32) -> bool {
    if window.0 != now {
        *window = (now, 0);
    }
    window.1 += 1;
    window.1 <= limit
}

/// Counts a failed TLS handshake (never logged one by one: a client can fail thousands a
/// second).
pub(crate) fn handshake_failed() {
    if let Some(metrics) = crate::metrics::get() {
        metrics.handshake_failed();
    }
    gate().handshakes_failed.fetch_add(1, Ordering::Relaxed);
}

/// Writes what was counted since the last call, if anything: one line each.
pub(crate) fn summarize() {
    let gate = gate();
    let suppressed = gate.suppressed.swap(0, Ordering::Relaxed);
    if suppressed > 0 {
        tracing::warn!(
            suppressed,
            "{suppressed} more log lines of unauthenticated clients suppressed (over --log-lines-per-second)"
        );
    }
    let failed = gate.handshakes_failed.swap(0, Ordering::Relaxed);
    if failed > 0 {
        tracing::info!(failed, "{failed} TLS handshakes failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_text_is_escaped_and_cut() {
        assert_eq!(shown("/api/x"), "/api/x");
        assert_eq!(shown("a\nb\u{1b}[31m\u{e9}"), "a\\nb\\u{1b}[31m\\u{e9}");
        let long = "x".repeat(8192);
        let cut = shown(&long);
        assert!(cut.len() < 100, "{cut}");
        assert!(cut.ends_with("...(8192 bytes)"), "{cut}");
    }

    #[test]
    fn a_window_lets_its_limit_through() {
        let mut window = (7, 0);
        assert!((0..3).all(|_| take(&mut window, 7, 3)));
        assert!(!take(&mut window, 7, 3));
        assert!(take(&mut window, 8, 3), "a new second, a new window");
    }
}
