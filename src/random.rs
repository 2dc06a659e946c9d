//! The random source of salts and IVs, a parameter so that tests can pin them.

use std::fmt;

/// The cause a random source may give, kept for the host's logs.
type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The random source failed.
///
/// It may carry the source's own error as its [`source`](std::error::Error::source); a
/// download that fails this way is a 500 `internal_error` whose
/// [`source`](std::error::Error::source) is this error.
///
/// ```
/// use std::error::Error as _;
/// use cert_download::random::RandomError;
///
/// let error = RandomError::with_source(std::io::Error::other("entropy pool closed"));
/// assert_eq!(error.to_string(), "the random source failed");
/// assert!(error.source().unwrap().to_string().contains("entropy"));
/// assert!(RandomError::new().source().is_none());
/// ```
#[derive(Debug, thiserror::Error)]
#[error("the random source failed")]
pub struct RandomError {
    #[source]
    source: Option<Cause>,
}

impl RandomError {
    /// A failure without a cause.
    pub fn new() -> Self {
        Self { source: None }
    }

    /// A failure caused by `source`.
    pub fn with_source(source: impl Into<Cause>) -> Self {
        Self {
            source: Some(source.into()),
        }
    }
}

impl Default for RandomError {
    fn default() -> Self {
        Self::new()
    }
}

/// Where salts and IVs come from.
///
/// Implementations must be cryptographically secure: every salt and IV of every file comes
/// from here. [`OsRandom`] is the one to use outside tests.
pub trait RandomSource {
    /// Fills `dest` with random bytes.
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), RandomError>;
}

/// The operating system's random source (`getrandom`).
#[derive(Clone, Copy, Default)]
pub struct OsRandom;

impl RandomSource for OsRandom {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), RandomError> {
        getrandom::fill(dest).map_err(RandomError::with_source)
    }
}

impl fmt::Debug for OsRandom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OsRandom")
    }
}

impl<R: RandomSource + ?Sized> RandomSource for &mut R {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), RandomError> {
        (**self).fill(dest)
    }
}
