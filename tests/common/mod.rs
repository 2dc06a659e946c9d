//! Shared test support: fixture paths, a pinned random source, and (from the
//! `cert-download-test-support` crate, which the fuzz targets share) a PKCS#12 reader that
//! shares no code with the crate's encoder.
// Each test binary uses a part of this module (and of the reader it re-exports).
#![allow(dead_code, unreachable_pub, unused_imports)]

use std::path::PathBuf;

use cert_download::random::{RandomError, RandomSource};
pub use cert_download_test_support::pfx_reader::*;

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn fixture_store() -> cert_download::DirectoryStore {
    cert_download::DirectoryStore::new(fixtures().join("store")).unwrap()
}

/// Bytes 0, 1, 2, ... from `start`, wrapping: salts and IVs that tests can predict.
pub struct Counter(pub u8);

impl RandomSource for Counter {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), RandomError> {
        for b in dest {
            *b = self.0;
            self.0 = self.0.wrapping_add(1);
        }
        Ok(())
    }
}
