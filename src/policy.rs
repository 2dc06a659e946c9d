//! The export policy: iteration counts, salt sizes and the password policy.

use std::fmt;

use crate::error::{Error, ErrorKind};
use crate::recipient::{MAX_RECIPIENT_RSA_BITS, MIN_RECIPIENT_RSA_BITS};

/// The highest iteration count this crate encodes: .NET refuses PKCS#12 files above it.
pub const MAX_ITERATIONS: u32 = 300_000;

/// The fewest MAC iterations a [`PfxEncryption::Aes256Sha256Pbmac1`] file is made with:
/// NIST SP 800-132 recommends at least 1,000 PBKDF2 iterations, and this profile is the
/// one sold as every algorithm approved.
pub const MIN_PBMAC1_ITERATIONS: u32 = 1_000;

/// How a PFX is protected: its encryption and its MAC.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PfxEncryption {
    /// PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC) for the key and the certificates, and an
    /// HMAC-SHA256 MAC keyed by the PKCS#12 KDF: what OpenSSL 3 and Java 17 write. The
    /// default.
    #[default]
    Aes256Sha256,
    /// The encryption of [`Aes256Sha256`](Self::Aes256Sha256) with the MAC of RFC 9879
    /// (which obsoletes RFC 9579 and keeps its encoding): PBMAC1, its key from
    /// PBKDF2-HMAC-SHA256 instead of the PKCS#12 KDF, so that every algorithm in the file
    /// is one FIPS 140-3 approves. Made only with at least [`MIN_PBMAC1_ITERATIONS`] MAC
    /// iterations. OpenSSL reads it from 3.4 on (and Python `cryptography` built on it);
    /// OpenSSL 3.0 and Java 17 cannot verify its MAC.
    Aes256Sha256Pbmac1,
    /// **Insecure legacy choice**: `pbeWithSHAAnd3-KeyTripleDES-CBC` and a SHA-1 MAC, for
    /// consumers that cannot read the modern profile (Windows Server 2016 and older, the
    /// macOS Keychain, Java before 8u301). Choose it only for them.
    TripleDesSha1,
}

impl PfxEncryption {
    /// The profile's bit in a set of profiles.
    const fn bit(self) -> u8 {
        match self {
            PfxEncryption::Aes256Sha256 => 1,
            PfxEncryption::Aes256Sha256Pbmac1 => 2,
            PfxEncryption::TripleDesSha1 => 4,
        }
    }

    /// Every profile, in the order messages list them.
    pub const ALL: &'static [Self] = &[
        PfxEncryption::Aes256Sha256,
        PfxEncryption::Aes256Sha256Pbmac1,
        PfxEncryption::TripleDesSha1,
    ];

    /// Whether this is the insecure legacy choice (3DES and a SHA-1 MAC), for hosts that
    /// want to refuse it, warn about it, or audit it.
    ///
    /// ```
    /// use cert_download::PfxEncryption;
    /// assert!(PfxEncryption::TripleDesSha1.is_insecure_legacy());
    /// assert!(!PfxEncryption::default().is_insecure_legacy());
    /// assert!(!PfxEncryption::Aes256Sha256Pbmac1.is_insecure_legacy());
    /// ```
    pub fn is_insecure_legacy(self) -> bool {
        matches!(self, PfxEncryption::TripleDesSha1)
    }

    /// The name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            PfxEncryption::Aes256Sha256 => "aes256_sha256",
            PfxEncryption::Aes256Sha256Pbmac1 => "aes256_sha256_pbmac1",
            PfxEncryption::TripleDesSha1 => "tripledes_sha1",
        }
    }

    /// The profile of a wire name ([`as_str`](Self::as_str)), matched exactly; e.g. for a
    /// host's configuration of [`ExportPolicyBuilder::pfx_encryption`].
    ///
    /// ```
    /// use cert_download::PfxEncryption;
    /// assert_eq!(
    ///     PfxEncryption::from_name("aes256_sha256_pbmac1"),
    ///     Some(PfxEncryption::Aes256Sha256Pbmac1)
    /// );
    /// assert_eq!(PfxEncryption::from_name("rc2_40"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|p| p.as_str() == name)
    }
}

/// Whether a key may go out to a recipient's certificate (`key_recipient`) instead of
/// under a password.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RecipientDelivery {
    /// Keys go out under passwords only: a request with `key_recipient` (or for `kwp`) is
    /// 400 `key_recipient_not_allowed`.
    Off,
    /// A key goes out under a password or to a recipient, as the request asks (the default).
    #[default]
    Allowed,
    /// A key goes out to a recipient only: a keyed download with a password (every pfx,
    /// pem and crt with `download_key`) is 400 `key_recipient_required`. Downloads without
    /// a key are not affected.
    Required,
}

impl RecipientDelivery {
    /// Every setting, in the order messages list them.
    pub const ALL: &'static [Self] = &[
        RecipientDelivery::Off,
        RecipientDelivery::Allowed,
        RecipientDelivery::Required,
    ];

    /// The setting's name, for a host's configuration: `off`, `allowed`, `required`.
    pub fn as_str(self) -> &'static str {
        match self {
            RecipientDelivery::Off => "off",
            RecipientDelivery::Allowed => "allowed",
            RecipientDelivery::Required => "required",
        }
    }

    /// The setting of a name ([`as_str`](Self::as_str)), matched exactly.
    ///
    /// ```
    /// use cert_download::policy::RecipientDelivery;
    /// assert_eq!(RecipientDelivery::from_name("required"), Some(RecipientDelivery::Required));
    /// assert_eq!(RecipientDelivery::from_name("sometimes"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|d| d.as_str() == name)
    }
}

/// An [`ExportPolicy`] or [`PasswordPolicy`] that cannot be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid export policy: {0}")]
pub struct PolicyError(&'static str);

/// What a password must be for a key to be exported with it.
///
/// Defaults: at least 8 characters, at most 1024 bytes of UTF-8, no control characters
/// (U+0000-U+001F, U+007F), non-ASCII allowed. Java's PBES2 refuses non-ASCII passwords:
/// deployments whose users open files in Java turn on
/// [`ascii_only`](PasswordPolicyBuilder::ascii_only).
///
/// Built like [`ExportPolicy`], with [`PasswordPolicy::builder`], and checked when built:
///
/// ```
/// use cert_download::PasswordPolicy;
///
/// let java = PasswordPolicy::builder().min_chars(12).ascii_only(true).build()?;
/// assert_eq!((java.min_chars(), java.max_bytes(), java.is_ascii_only()), (12, 1024, true));
/// assert!(PasswordPolicy::builder().min_chars(0).build().is_err());
/// # Ok::<(), cert_download::policy::PolicyError>(())
/// ```
///
/// The policy a host passes to [`download_json`](crate::download_json),
/// [`download_with`](crate::download_with) or [`Prepared::encode`](crate::Prepared::encode)
/// is applied to every password, also to one checked against another policy when its
/// request was built ([`DownloadRequest::from_json`](crate::DownloadRequest::from_json)
/// checks against the default policy).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PasswordPolicy {
    min_chars: usize,
    max_bytes: usize,
    ascii_only: bool,
}

/// The longest password any policy allows, in bytes of UTF-8.
const MAX_PASSWORD_BYTES: usize = 65_536;

impl PasswordPolicy {
    /// The contract's default policy.
    pub const DEFAULT: Self = Self {
        min_chars: 8,
        max_bytes: 1024,
        ascii_only: false,
    };

    /// A builder starting from the defaults.
    pub fn builder() -> PasswordPolicyBuilder {
        PasswordPolicyBuilder {
            policy: Self::DEFAULT,
        }
    }

    /// The least number of characters (Unicode scalar values).
    pub fn min_chars(&self) -> usize {
        self.min_chars
    }

    /// The most UTF-8 bytes.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Whether only ASCII passwords are accepted.
    pub fn is_ascii_only(&self) -> bool {
        self.ascii_only
    }

    /// Every rule of the policy, in the order their errors take precedence.
    pub(crate) fn check(&self, password: &str) -> Result<(), Error> {
        if password.is_empty() {
            return Err(Error::new(
                ErrorKind::PasswordRequired,
                "an empty password cannot protect a private key",
            ));
        }
        if password.chars().any(|c| c <= '\u{1f}' || c == '\u{7f}') {
            return Err(Error::new(
                ErrorKind::PasswordControlCharacter,
                "the password must not contain control characters",
            ));
        }
        if self.ascii_only && !password.is_ascii() {
            return Err(Error::new(
                ErrorKind::PasswordNotAscii,
                "the password must be ASCII (the export policy is ASCII-only)",
            ));
        }
        if password.chars().count() < self.min_chars {
            return Err(Error::new(
                ErrorKind::PasswordTooShort,
                format!(
                    "the password must have at least {} characters",
                    self.min_chars
                ),
            ));
        }
        if password.len() > self.max_bytes {
            return Err(Error::new(
                ErrorKind::PasswordTooLong,
                format!(
                    "the password must have at most {} bytes of UTF-8",
                    self.max_bytes
                ),
            ));
        }
        Ok(())
    }
}

/// Builds a [`PasswordPolicy`]; [`build`](Self::build) checks it.
#[derive(Clone, Debug)]
pub struct PasswordPolicyBuilder {
    policy: PasswordPolicy,
}

impl PasswordPolicyBuilder {
    /// Sets the least number of characters; at least 1 (a key never leaves without a
    /// password).
    pub fn min_chars(mut self, min_chars: usize) -> Self {
        self.policy.min_chars = min_chars;
        self
    }

    /// Sets the most UTF-8 bytes: at least the least number of characters, at most 65,536.
    pub fn max_bytes(mut self, max_bytes: usize) -> Self {
        self.policy.max_bytes = max_bytes;
        self
    }

    /// Accepts ASCII passwords only (for consumers in Java), or any (the default).
    pub fn ascii_only(mut self, ascii_only: bool) -> Self {
        self.policy.ascii_only = ascii_only;
        self
    }

    /// Checks and returns the policy.
    pub fn build(self) -> Result<PasswordPolicy, PolicyError> {
        let p = self.policy;
        if p.min_chars == 0 {
            return Err(PolicyError("a password must have at least one character"));
        }
        if p.max_bytes < p.min_chars {
            return Err(PolicyError(
                "the longest password must not be shorter than the shortest",
            ));
        }
        if p.max_bytes > MAX_PASSWORD_BYTES {
            return Err(PolicyError(
                "passwords longer than 65,536 bytes are not allowed",
            ));
        }
        Ok(p)
    }
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl fmt::Debug for PasswordPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordPolicy")
            .field("min_chars", &self.min_chars)
            .field("max_bytes", &self.max_bytes)
            .field("ascii_only", &self.ascii_only)
            .finish()
    }
}

/// How keys and files are protected: iteration counts, salt sizes, password policy, and the
/// PFX profile used when a request names none.
///
/// Built with [`ExportPolicy::builder`] and checked when built: every iteration count is
/// from 1 to [`MAX_ITERATIONS`], every salt from 8 to 32 bytes, and a policy whose default
/// profile is PBMAC1 has at least [`MIN_PBMAC1_ITERATIONS`] MAC iterations. (A request
/// that names PBMAC1 under a policy with fewer is refused with a 500
/// `pfx_encryption_unavailable`.)
///
/// A deployment that wants every algorithm in its files FIPS 140-3 approved makes PBMAC1
/// its default:
///
/// ```
/// use cert_download::{ExportPolicy, PfxEncryption};
///
/// let policy = ExportPolicy::builder()
///     .pfx_encryption(PfxEncryption::Aes256Sha256Pbmac1)
///     .build()?;
/// assert_eq!(policy.pfx_encryption(), PfxEncryption::Aes256Sha256Pbmac1);
/// # Ok::<(), cert_download::policy::PolicyError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExportPolicy {
    pbkdf2_iterations: u32,
    mac_iterations: u32,
    legacy_iterations: u32,
    pbkdf2_salt_len: usize,
    mac_salt_len: usize,
    legacy_salt_len: usize,
    password: PasswordPolicy,
    pfx_encryption: PfxEncryption,
    /// The profiles a request may ask for, one bit each ([`PfxEncryption::bit`]).
    allowed_pfx_encryptions: u8,
    recipient_delivery: RecipientDelivery,
    min_recipient_rsa_bits: u32,
}

impl ExportPolicy {
    /// The contract's defaults: 10,000 iterations for PBKDF2 and the MAC (as Java 17
    /// writes), 2,048 for the legacy `tripledes_sha1` profile, 16-byte PBKDF2 salts,
    /// 8-byte MAC and legacy salts, the default [`PasswordPolicy`],
    /// [`PfxEncryption::Aes256Sha256`] for requests that name no PFX profile, every
    /// profile allowed (as the contract has them), and recipient delivery
    /// [allowed](RecipientDelivery::Allowed) to RSA keys of at least 2048 bits.
    pub const DEFAULT: Self = Self {
        pbkdf2_iterations: 10_000,
        mac_iterations: 10_000,
        legacy_iterations: 2_048,
        pbkdf2_salt_len: 16,
        mac_salt_len: 8,
        legacy_salt_len: 8,
        password: PasswordPolicy::DEFAULT,
        pfx_encryption: PfxEncryption::Aes256Sha256,
        allowed_pfx_encryptions: 1 | 2 | 4,
        recipient_delivery: RecipientDelivery::Allowed,
        min_recipient_rsa_bits: MIN_RECIPIENT_RSA_BITS,
    };

    /// A builder starting from the defaults.
    pub fn builder() -> ExportPolicyBuilder {
        ExportPolicyBuilder {
            policy: Self::DEFAULT,
        }
    }

    /// The defaults with every iteration count set to `iterations`.
    pub fn with_iterations(iterations: u32) -> Result<Self, PolicyError> {
        Self::builder().all_iterations(iterations).build()
    }

    /// PBKDF2 iterations of the PBES2 encryptions (encrypted keys, the modern PFX).
    pub fn pbkdf2_iterations(&self) -> u32 {
        self.pbkdf2_iterations
    }

    /// Iterations of the derivation that keys the MAC of the modern PFX: the PKCS#12 KDF,
    /// or PBKDF2 with [`PfxEncryption::Aes256Sha256Pbmac1`].
    pub fn mac_iterations(&self) -> u32 {
        self.mac_iterations
    }

    /// Iterations of every derivation of the legacy `tripledes_sha1` PFX.
    pub fn legacy_iterations(&self) -> u32 {
        self.legacy_iterations
    }

    /// Salt length of each PBKDF2 derivation (PBMAC1's included).
    pub fn pbkdf2_salt_len(&self) -> usize {
        self.pbkdf2_salt_len
    }

    /// Salt length of the modern PFX's MAC keyed by the PKCS#12 KDF.
    pub fn mac_salt_len(&self) -> usize {
        self.mac_salt_len
    }

    /// Salt length of every derivation of the legacy PFX.
    pub fn legacy_salt_len(&self) -> usize {
        self.legacy_salt_len
    }

    /// The password policy.
    pub fn password_policy(&self) -> &PasswordPolicy {
        &self.password
    }

    /// The PFX profile of a request that names none.
    pub fn pfx_encryption(&self) -> PfxEncryption {
        self.pfx_encryption
    }

    /// Whether a request may ask for `profile` (see
    /// [`ExportPolicyBuilder::allowed_pfx_encryptions`]).
    pub fn allows_pfx_encryption(&self, profile: PfxEncryption) -> bool {
        self.allowed_pfx_encryptions & profile.bit() != 0
    }

    /// The profiles a request may ask for, in the order of [`PfxEncryption::ALL`].
    pub fn allowed_pfx_encryptions(&self) -> impl Iterator<Item = PfxEncryption> + '_ {
        PfxEncryption::ALL
            .iter()
            .copied()
            .filter(|p| self.allows_pfx_encryption(*p))
    }

    // `check_request` and `check_pfx_encryption`, this policy's refusals of a request, are
    // in src/download.rs: they read the request, and the request reads this module.

    /// Whether keys may (or must) go out to a recipient's certificate.
    pub fn recipient_delivery(&self) -> RecipientDelivery {
        self.recipient_delivery
    }

    /// The smallest RSA recipient key accepted, in bits (2048 by default; 3072 is what
    /// NIST SP 800-57 asks for protection beyond 2030).
    pub fn min_recipient_rsa_bits(&self) -> u32 {
        self.min_recipient_rsa_bits
    }

    /// Whether this policy can make `profile`: PBMAC1 needs at least
    /// [`MIN_PBMAC1_ITERATIONS`] MAC iterations; the other profiles take any count.
    ///
    /// ```
    /// use cert_download::{ExportPolicy, PfxEncryption};
    ///
    /// let quick = ExportPolicy::with_iterations(100)?;
    /// assert!(!quick.can_make(PfxEncryption::Aes256Sha256Pbmac1));
    /// assert!(quick.can_make(PfxEncryption::Aes256Sha256));
    /// assert!(ExportPolicy::default().can_make(PfxEncryption::Aes256Sha256Pbmac1));
    /// # Ok::<(), cert_download::policy::PolicyError>(())
    /// ```
    pub fn can_make(&self, profile: PfxEncryption) -> bool {
        profile != PfxEncryption::Aes256Sha256Pbmac1 || self.mac_iterations >= MIN_PBMAC1_ITERATIONS
    }
}

impl Default for ExportPolicy {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Builds an [`ExportPolicy`]; [`build`](Self::build) checks it.
#[derive(Clone, Debug)]
pub struct ExportPolicyBuilder {
    policy: ExportPolicy,
}

/// The builder's setters, each of one field of the policy: `name(arg: Type) => field;`.
macro_rules! builder_setters {
    ($($(#[$doc:meta])* $name:ident($arg:ident: $ty:ty) => $field:ident;)*) => {
        $(
            $(#[$doc])*
            pub fn $name(mut self, $arg: $ty) -> Self {
                self.policy.$field = $arg;
                self
            }
        )*
    };
}

impl ExportPolicyBuilder {
    /// Sets every iteration count.
    pub fn all_iterations(self, iterations: u32) -> Self {
        self.pbkdf2_iterations(iterations)
            .mac_iterations(iterations)
            .legacy_iterations(iterations)
    }

    builder_setters! {
        /// Sets the PBKDF2 iterations.
        pbkdf2_iterations(iterations: u32) => pbkdf2_iterations;
        /// Sets the MAC iterations of the modern PFX.
        mac_iterations(iterations: u32) => mac_iterations;
        /// Sets the iterations of the legacy PFX.
        legacy_iterations(iterations: u32) => legacy_iterations;
        /// Sets the PBKDF2 salt length in bytes.
        pbkdf2_salt_len(len: usize) => pbkdf2_salt_len;
        /// Sets the MAC salt length in bytes (8 by default: 16 was reported to fail on macOS).
        mac_salt_len(len: usize) => mac_salt_len;
        /// Sets the salt length of the legacy PFX.
        legacy_salt_len(len: usize) => legacy_salt_len;
        /// Sets the password policy.
        password_policy(policy: PasswordPolicy) => password;
        /// Sets the PFX profile of requests that name none (a request's own `pfx_encryption`
        /// still wins).
        pfx_encryption(profile: PfxEncryption) => pfx_encryption;
        /// Sets whether keys may (or must) go out to a recipient's certificate.
        recipient_delivery(delivery: RecipientDelivery) => recipient_delivery;
        /// Sets the smallest RSA recipient key in bits: from 2048 to 8192.
        min_recipient_rsa_bits(bits: u32) => min_recipient_rsa_bits;
    }

    /// Sets the PFX profiles a request may ask for (default: all three). A request naming
    /// another is refused before the store is asked ([`ExportPolicy::check_request`]). The
    /// default profile ([`pfx_encryption`](Self::pfx_encryption)) must be one of them.
    pub fn allowed_pfx_encryptions(mut self, profiles: &[PfxEncryption]) -> Self {
        self.policy.allowed_pfx_encryptions = profiles.iter().fold(0, |set, p| set | p.bit());
        self
    }

    /// Checks and returns the policy.
    pub fn build(self) -> Result<ExportPolicy, PolicyError> {
        let p = self.policy;
        for n in [p.pbkdf2_iterations, p.mac_iterations, p.legacy_iterations] {
            if n == 0 {
                return Err(PolicyError("an iteration count must be at least 1"));
            }
            if n > MAX_ITERATIONS {
                return Err(PolicyError(
                    "an iteration count must be at most 300,000 (.NET refuses more)",
                ));
            }
        }
        for len in [p.pbkdf2_salt_len, p.mac_salt_len, p.legacy_salt_len] {
            if !(8..=32).contains(&len) {
                return Err(PolicyError("a salt must be from 8 to 32 bytes"));
            }
        }
        if !p.allows_pfx_encryption(p.pfx_encryption) {
            return Err(PolicyError(
                "the default PFX profile must be one of the allowed profiles",
            ));
        }
        if !(MIN_RECIPIENT_RSA_BITS..=MAX_RECIPIENT_RSA_BITS).contains(&p.min_recipient_rsa_bits) {
            return Err(PolicyError(
                "the smallest recipient RSA key must be from 2048 to 8192 bits",
            ));
        }
        if !p.can_make(p.pfx_encryption) {
            return Err(PolicyError(
                "PBMAC1 needs at least 1,000 MAC iterations (NIST SP 800-132)",
            ));
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_contract() {
        let p = ExportPolicy::default();
        assert_eq!(p.pbkdf2_iterations(), 10_000);
        assert_eq!(p.mac_iterations(), 10_000);
        assert_eq!(p.legacy_iterations(), 2_048);
        assert_eq!(p.pbkdf2_salt_len(), 16);
        assert_eq!(p.mac_salt_len(), 8);
        assert_eq!(p.legacy_salt_len(), 8);
        assert_eq!(p.password_policy().min_chars(), 8);
        assert_eq!(p.password_policy().max_bytes(), 1024);
        assert!(!p.password_policy().is_ascii_only());
        assert_eq!(p.pfx_encryption(), PfxEncryption::Aes256Sha256);
        assert_eq!(p.recipient_delivery(), RecipientDelivery::Allowed);
        assert_eq!(p.min_recipient_rsa_bits(), 2048);
        assert_eq!(ExportPolicy::builder().build(), Ok(p));
        for bits in [0, 1024, 2047, 8193] {
            assert!(
                ExportPolicy::builder()
                    .min_recipient_rsa_bits(bits)
                    .build()
                    .is_err()
            );
        }
        for bits in [2048, 3072, 8192] {
            assert!(
                ExportPolicy::builder()
                    .min_recipient_rsa_bits(bits)
                    .build()
                    .is_ok()
            );
        }
    }

    #[test]
    fn iteration_bounds_are_checked_when_built() {
        assert!(ExportPolicy::with_iterations(0).is_err());
        assert!(ExportPolicy::with_iterations(300_001).is_err());
        assert!(ExportPolicy::with_iterations(1).is_ok());
        assert!(ExportPolicy::with_iterations(300_000).is_ok());
        assert!(
            ExportPolicy::builder()
                .mac_iterations(u32::MAX)
                .build()
                .is_err()
        );
    }

    #[test]
    fn the_default_pfx_profile_is_set_by_the_builder() {
        for &profile in PfxEncryption::ALL {
            let p = ExportPolicy::builder().pfx_encryption(profile).build();
            assert_eq!(p.map(|p| p.pfx_encryption()), Ok(profile));
        }
        // Other settings leave it alone.
        let p = ExportPolicy::builder()
            .pfx_encryption(PfxEncryption::Aes256Sha256Pbmac1)
            .all_iterations(5)
            .mac_iterations(1_000)
            .build();
        assert_eq!(
            p.map(|p| p.pfx_encryption()),
            Ok(PfxEncryption::Aes256Sha256Pbmac1)
        );
    }

    #[test]
    fn pbmac1_is_never_made_under_1000_mac_iterations() {
        let pbmac1 = |mac_iterations| {
            ExportPolicy::builder()
                .all_iterations(1)
                .mac_iterations(mac_iterations)
                .pfx_encryption(PfxEncryption::Aes256Sha256Pbmac1)
                .build()
        };
        for n in [1, 2, 999] {
            let e = pbmac1(n).unwrap_err();
            assert!(e.to_string().contains("1,000 MAC iterations"), "{e}");
        }
        for n in [1_000, 1_001, MAX_ITERATIONS] {
            assert_eq!(pbmac1(n).map(|p| p.mac_iterations()), Ok(n));
        }
        // The other counts do not matter to PBMAC1, and the other profiles take any count.
        let quick = ExportPolicy::with_iterations(999).unwrap();
        assert!(!quick.can_make(PfxEncryption::Aes256Sha256Pbmac1));
        assert!(quick.can_make(PfxEncryption::Aes256Sha256));
        assert!(quick.can_make(PfxEncryption::TripleDesSha1));
        // The order of the builder's calls does not matter: build checks the end result.
        let late = ExportPolicy::builder()
            .pfx_encryption(PfxEncryption::Aes256Sha256Pbmac1)
            .mac_iterations(999);
        assert!(late.build().is_err());
    }

    #[test]
    fn wire_names_round_trip_exactly() {
        for &profile in PfxEncryption::ALL {
            assert_eq!(PfxEncryption::from_name(profile.as_str()), Some(profile));
            assert_eq!(
                PfxEncryption::from_name(&profile.as_str().to_uppercase()),
                None
            );
        }
        assert_eq!(PfxEncryption::from_name("aes256_sha256_pbmac"), None);
    }

    #[test]
    fn salt_bounds_are_checked_when_built() {
        assert!(ExportPolicy::builder().pbkdf2_salt_len(7).build().is_err());
        assert!(ExportPolicy::builder().mac_salt_len(33).build().is_err());
        assert!(ExportPolicy::builder().legacy_salt_len(0).build().is_err());
        assert!(ExportPolicy::builder().mac_salt_len(16).build().is_ok());
    }

    #[test]
    fn password_policy_bounds() {
        let policy = |min, max| {
            PasswordPolicy::builder()
                .min_chars(min)
                .max_bytes(max)
                .build()
        };
        assert!(policy(0, 10).is_err());
        assert!(policy(10, 9).is_err());
        assert!(policy(1, 70_000).is_err());
        assert!(policy(1, 65_536).is_ok());
        let p = PasswordPolicy::builder()
            .min_chars(12)
            .max_bytes(64)
            .ascii_only(true)
            .build();
        assert_eq!(p.as_ref().map(|p| p.is_ascii_only()), Ok(true));
        assert_eq!(p.map(|p| (p.min_chars(), p.max_bytes())), Ok((12, 64)));
        assert_eq!(
            PasswordPolicy::builder().build(),
            Ok(PasswordPolicy::DEFAULT)
        );
    }
}
