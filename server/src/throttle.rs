//! Rate limits, as token buckets of `governor` (GCRA): failed authentications per client
//! address and from all addresses together, downloads per principal.
//!
//! Only failures are limited: a valid token is checked first and never refused for others'
//! failures (behind a NAT or a proxy, one guesser would lock everyone out). A failure from
//! an address over its budget, or while all addresses together are over theirs, is
//! answered 429 instead of 401, and its connection closed. `governor` has no way to ask
//! whether a key is over its limit without spending a cell, so the verdict is kept beside
//! it: the address and the instant from which its failures are let through again.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota};

use crate::options::Limits;

/// Entries of the penalty table beyond which expired ones are swept on insert.
const PENALTY_SWEEP: usize = 4096;

#[derive(Debug)]
pub(crate) struct Throttle {
    failures: DefaultKeyedRateLimiter<IpAddr>,
    /// Failures from every address together.
    all_failures: DefaultDirectRateLimiter,
    /// Client addresses over their failure budget, and until when.
    penalties: Mutex<HashMap<IpAddr, Instant>>,
    downloads: DefaultKeyedRateLimiter<String>,
}

fn quota(per_minute: u32, burst: u32) -> Quota {
    let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    Quota::per_minute(per_minute).allow_burst(burst)
}

/// The address a limit is kept for: IPv4 as is, IPv6 by its /64 (one host usually has a
/// whole /64 to pick addresses from), an IPv4-mapped IPv6 address as the IPv4 one.
pub(crate) fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

impl Throttle {
    pub(crate) fn new(limits: &Limits) -> Self {
        Self {
            failures: DefaultKeyedRateLimiter::keyed(quota(
                limits.auth_failures_per_minute,
                limits.auth_failure_burst,
            )),
            all_failures: DefaultDirectRateLimiter::direct(quota(
                limits.auth_failures_per_minute_global,
                limits.auth_failures_per_minute_global.div_ceil(6),
            )),
            penalties: Mutex::new(HashMap::new()),
            downloads: DefaultKeyedRateLimiter::keyed(quota(
                limits.downloads_per_minute,
                limits.download_burst,
            )),
        }
    }

    /// How long `ip` must still wait, if it is over its failure budget.
    fn penalty(&self, ip: IpAddr) -> Option<Duration> {
        let key = client_key(ip);
        let mut penalties = self
            .penalties
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let until = *penalties.get(&key)?;
        let now = Instant::now();
        if until > now {
            Some(until - now)
        } else {
            penalties.remove(&key);
            None
        }
    }

    /// Counts a failed authentication from `ip`: how long to wait when it is over the
    /// budget of its address (which then waits that long before its failures count
    /// again) or of all addresses.
    pub(crate) fn failed(&self, ip: IpAddr) -> Option<Duration> {
        if let Some(wait) = self.penalty(ip) {
            return Some(wait);
        }
        let now = Instant::now();
        let everyone = self.all_failures.check().err();
        let key = client_key(ip);
        let Some(not_until) = self.failures.check_key(&key).err() else {
            return everyone.map(|n| n.wait_time_from(now));
        };
        let wait = not_until.wait_time_from(now);
        let mut penalties = self
            .penalties
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if penalties.len() >= PENALTY_SWEEP {
            penalties.retain(|_, until| *until > now);
        }
        penalties.insert(key, now + wait);
        Some(wait)
    }

    /// Counts a download of `principal`; over its budget, how long to wait.
    pub(crate) fn download(&self, principal: &str) -> Option<Duration> {
        let not_until = self.downloads.check_key(&principal.to_owned()).err()?;
        Some(not_until.wait_time_from(Instant::now()))
    }

    /// Forgets the keys whose buckets are full again (the limiters keep one entry per key
    /// ever seen otherwise).
    pub(crate) fn sweep(&self) {
        self.failures.retain_recent();
        self.failures.shrink_to_fit();
        self.downloads.retain_recent();
        self.downloads.shrink_to_fit();
        let now = Instant::now();
        let mut penalties = self
            .penalties
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        penalties.retain(|_, until| *until > now);
        penalties.shrink_to_fit();
    }
}
