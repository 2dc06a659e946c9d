//! The keyring a running vault shares between its requests, which can be swapped for a
//! newer one while they go on: a KEK added to the KEK file (or a token key named anew)
//! after the process started is picked up without a restart. Readers take a snapshot
//! (an `Arc`), so a swap never stops a download half way.

use std::fmt;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use super::Keyring;

/// The shortest time between two re-reads prompted by an unknown KEK id: a sealed key
/// under an id no source holds (a tampered row, a KEK removed too early) must not make
/// every request read the KEK file and log in to the token again.
pub(crate) const RELOAD_INTERVAL: Duration = Duration::from_secs(1);

pub(crate) struct SharedKeyring {
    current: RwLock<Arc<Keyring>>,
    last_reload: Mutex<Option<Instant>>,
}

impl fmt::Debug for SharedKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.current(), f)
    }
}

impl SharedKeyring {
    pub(crate) fn new(keyring: Keyring) -> Self {
        Self {
            current: RwLock::new(Arc::new(keyring)),
            last_reload: Mutex::new(None),
        }
    }

    /// The keyring now.
    pub(crate) fn current(&self) -> Arc<Keyring> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Puts `keyring` in place of the current one.
    pub(crate) fn replace(&self, keyring: Keyring) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(keyring);
    }

    /// Whether a re-read prompted by an unknown KEK may happen now (the last one is at
    /// least [`RELOAD_INTERVAL`] old); if so, marks now as the last one.
    pub(crate) fn reload_due(&self) -> bool {
        let mut last = self.last_reload.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_some_and(|at| at.elapsed() < RELOAD_INTERVAL) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }
}
