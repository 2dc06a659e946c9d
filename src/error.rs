//! The one error type of a download, with its HTTP status and stable code.

use std::borrow::Cow;
use std::fmt;

use serde::Serialize;

/// The largest request body accepted, in bytes (64 KiB).
///
/// Defined here, beside the error that refuses a larger body, so that this module depends
/// on no other; the [`request`](crate::request) module re-exports it.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What went wrong, as a program switches on it.
///
/// Each kind has a fixed HTTP [`status`](ErrorKind::status) and a stable snake_case
/// [`code`](ErrorKind::code) that is sent as the `error` field of the error body.
///
/// # The error body
///
/// Errors are one JSON object, `{"status": 400, "error": "password_required", "message": "..."}`
/// ([`Error::to_json`]), with a stable `error` code. No message ever holds the password, key
/// bytes or a backend's error text. Every rule of the request (400) is checked before the
/// store is asked anything.
///
/// | status | codes |
/// |---|---|
/// | 400 | `body_too_large`, `invalid_json`, `unknown_field`, `duplicate_field`, `missing_field`, `invalid_id`, `unsupported_format`, `invalid_download_key`, `key_not_supported`, `invalid_password`, `password_required`, `password_too_short`, `password_too_long`, `password_control_character`, `password_not_ascii`, `invalid_include_chain`, `invalid_include_root`, `invalid_chain_order`, `invalid_friendly_name`, `invalid_pfx_encryption`, `pfx_encryption_not_allowed`, `password_and_key_recipient`, `invalid_key_recipient`, `key_recipient_too_large`, `unsupported_key_recipient`, `key_recipient_too_small`, `key_recipient_not_supported`, `kwp_requires_rsa`, `key_recipient_required` (kwp without a recipient, or a password where the export policy requires a recipient), `key_recipient_not_allowed` (the export policy has recipient delivery off) |
/// | 401 | `unauthenticated` |
/// | 403 | `forbidden`, `key_export_forbidden` |
/// | 404 | `certificate_not_found`, `key_not_found` |
/// | 500 | `invalid_certificate`, `invalid_chain`, `invalid_key`, `unsupported_key`, `key_mismatch`, `store_failure`, `pfx_encryption_unavailable`, `internal_error` |
///
/// Which request field each 400 is about is in the [`request`](crate::request) module's
/// table; a store answers 401, 403 and 404 through [`StoreError`](crate::StoreError).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The body is over the size limit (64 KiB).
    BodyTooLarge,
    /// The body is not a single UTF-8 JSON object.
    InvalidJson,
    /// The body has a field this API does not know.
    UnknownField,
    /// The body gives the same field twice.
    DuplicateField,
    /// `id` or `format` is missing.
    MissingField,
    /// `id` is not an integer (or a string of digits) from 1 to 2^63-1.
    InvalidId,
    /// `format` is not one of `pfx`, `pem`, `crt`, `p7b`, `kwp`.
    UnsupportedFormat,
    /// `download_key` is not a boolean, `"true"`/`"false"` or `null`.
    InvalidDownloadKey,
    /// A key was asked for in a format that cannot carry one (p7b).
    KeyNotSupported,
    /// `password` is not a string.
    InvalidPassword,
    /// A key is to be exported and no (or an empty) password was given.
    PasswordRequired,
    /// The password has fewer characters than the policy asks for.
    PasswordTooShort,
    /// The password has more UTF-8 bytes than the policy allows.
    PasswordTooLong,
    /// The password holds a control character.
    PasswordControlCharacter,
    /// The policy is ASCII-only and the password is not.
    PasswordNotAscii,
    /// `include_chain` is not a boolean.
    InvalidIncludeChain,
    /// `include_root` is not a boolean.
    InvalidIncludeRoot,
    /// `chain_order` is not `leaf_first` or `root_first`.
    InvalidChainOrder,
    /// `friendly_name` is not a string of 1 to 64 characters without control characters
    /// and within the Basic Multilingual Plane.
    InvalidFriendlyName,
    /// `pfx_encryption` is not `aes256_sha256`, `aes256_sha256_pbmac1` or `tripledes_sha1`.
    InvalidPfxEncryption,
    /// `pfx_encryption` names a profile the host's export policy does not allow (see
    /// `ExportPolicyBuilder::allowed_pfx_encryptions`); the message names the allowed ones.
    PfxEncryptionNotAllowed,
    /// Both `password` and `key_recipient` are given: a key goes out under one or the other.
    PasswordAndKeyRecipient,
    /// `key_recipient` is not an X.509 certificate in PEM or Base64 DER.
    InvalidKeyRecipient,
    /// The `key_recipient` certificate is over the size limit (16 KiB of DER).
    KeyRecipientTooLarge,
    /// The `key_recipient` certificate's key is neither RSA of 2048 to 8192 bits nor EC on
    /// P-256, P-384 or P-521.
    UnsupportedKeyRecipient,
    /// The `key_recipient` certificate's RSA key is smaller than 2048 bits or than the
    /// export policy's least recipient RSA size.
    KeyRecipientTooSmall,
    /// A `key_recipient` was given for a format that cannot deliver to one (pfx).
    KeyRecipientNotSupported,
    /// The `kwp` format was asked for with a recipient whose key is not RSA.
    KwpRequiresRsa,
    /// A `key_recipient` is needed: for `kwp`, or for any key when the export policy
    /// requires recipient delivery.
    KeyRecipientRequired,
    /// A `key_recipient` was given and the export policy has recipient delivery off.
    KeyRecipientNotAllowed,
    /// The store says the caller is not authenticated.
    Unauthenticated,
    /// The caller may not download this certificate.
    Forbidden,
    /// The caller may download the certificate but not export its private key.
    KeyExportForbidden,
    /// No certificate with that id (or the store hides that it exists).
    CertificateNotFound,
    /// A key was asked for and none is stored.
    KeyNotFound,
    /// The stored leaf certificate does not parse.
    InvalidCertificate,
    /// A stored issuer certificate does not parse.
    InvalidChain,
    /// The stored private key does not parse.
    InvalidKey,
    /// The stored private key is of a type this crate cannot check or export.
    UnsupportedKey,
    /// The stored private key does not belong to the stored certificate.
    KeyMismatch,
    /// The host's store failed.
    StoreFailure,
    /// The request names a PFX profile the host's export policy cannot make: PBMAC1 under
    /// a policy with fewer than 1,000 MAC iterations (NIST SP 800-132's least). The request
    /// is valid; the host's configuration is what must change (or the request may name
    /// another profile), so the status is 500.
    PfxEncryptionUnavailable,
    /// Something failed inside the crate (the random source, an encoder).
    Internal,
}

impl ErrorKind {
    /// The HTTP status this kind is answered with.
    pub fn status(self) -> u16 {
        use ErrorKind::*;
        match self {
            BodyTooLarge
            | InvalidJson
            | UnknownField
            | DuplicateField
            | MissingField
            | InvalidId
            | UnsupportedFormat
            | InvalidDownloadKey
            | KeyNotSupported
            | InvalidPassword
            | PasswordRequired
            | PasswordTooShort
            | PasswordTooLong
            | PasswordControlCharacter
            | PasswordNotAscii
            | InvalidIncludeChain
            | InvalidIncludeRoot
            | InvalidChainOrder
            | InvalidFriendlyName
            | InvalidPfxEncryption
            | PfxEncryptionNotAllowed
            | PasswordAndKeyRecipient
            | InvalidKeyRecipient
            | KeyRecipientTooLarge
            | UnsupportedKeyRecipient
            | KeyRecipientTooSmall
            | KeyRecipientNotSupported
            | KwpRequiresRsa
            | KeyRecipientRequired
            | KeyRecipientNotAllowed => 400,
            Unauthenticated => 401,
            Forbidden | KeyExportForbidden => 403,
            CertificateNotFound | KeyNotFound => 404,
            InvalidCertificate
            | InvalidChain
            | InvalidKey
            | UnsupportedKey
            | KeyMismatch
            | StoreFailure
            | PfxEncryptionUnavailable
            | Internal => 500,
        }
    }

    /// The stable snake_case code sent as the `error` field.
    pub fn code(self) -> &'static str {
        use ErrorKind::*;
        match self {
            BodyTooLarge => "body_too_large",
            InvalidJson => "invalid_json",
            UnknownField => "unknown_field",
            DuplicateField => "duplicate_field",
            MissingField => "missing_field",
            InvalidId => "invalid_id",
            UnsupportedFormat => "unsupported_format",
            InvalidDownloadKey => "invalid_download_key",
            KeyNotSupported => "key_not_supported",
            InvalidPassword => "invalid_password",
            PasswordRequired => "password_required",
            PasswordTooShort => "password_too_short",
            PasswordTooLong => "password_too_long",
            PasswordControlCharacter => "password_control_character",
            PasswordNotAscii => "password_not_ascii",
            InvalidIncludeChain => "invalid_include_chain",
            InvalidIncludeRoot => "invalid_include_root",
            InvalidChainOrder => "invalid_chain_order",
            InvalidFriendlyName => "invalid_friendly_name",
            InvalidPfxEncryption => "invalid_pfx_encryption",
            PfxEncryptionNotAllowed => "pfx_encryption_not_allowed",
            PasswordAndKeyRecipient => "password_and_key_recipient",
            InvalidKeyRecipient => "invalid_key_recipient",
            KeyRecipientTooLarge => "key_recipient_too_large",
            UnsupportedKeyRecipient => "unsupported_key_recipient",
            KeyRecipientTooSmall => "key_recipient_too_small",
            KeyRecipientNotSupported => "key_recipient_not_supported",
            KwpRequiresRsa => "kwp_requires_rsa",
            KeyRecipientRequired => "key_recipient_required",
            KeyRecipientNotAllowed => "key_recipient_not_allowed",
            Unauthenticated => "unauthenticated",
            Forbidden => "forbidden",
            KeyExportForbidden => "key_export_forbidden",
            CertificateNotFound => "certificate_not_found",
            KeyNotFound => "key_not_found",
            InvalidCertificate => "invalid_certificate",
            InvalidChain => "invalid_chain",
            InvalidKey => "invalid_key",
            UnsupportedKey => "unsupported_key",
            KeyMismatch => "key_mismatch",
            StoreFailure => "store_failure",
            PfxEncryptionUnavailable => "pfx_encryption_unavailable",
            Internal => "internal_error",
        }
    }

    /// Every kind, for tests and documentation.
    pub const ALL: &'static [ErrorKind] = &[
        ErrorKind::BodyTooLarge,
        ErrorKind::InvalidJson,
        ErrorKind::UnknownField,
        ErrorKind::DuplicateField,
        ErrorKind::MissingField,
        ErrorKind::InvalidId,
        ErrorKind::UnsupportedFormat,
        ErrorKind::InvalidDownloadKey,
        ErrorKind::KeyNotSupported,
        ErrorKind::InvalidPassword,
        ErrorKind::PasswordRequired,
        ErrorKind::PasswordTooShort,
        ErrorKind::PasswordTooLong,
        ErrorKind::PasswordControlCharacter,
        ErrorKind::PasswordNotAscii,
        ErrorKind::InvalidIncludeChain,
        ErrorKind::InvalidIncludeRoot,
        ErrorKind::InvalidChainOrder,
        ErrorKind::InvalidFriendlyName,
        ErrorKind::InvalidPfxEncryption,
        ErrorKind::PfxEncryptionNotAllowed,
        ErrorKind::PasswordAndKeyRecipient,
        ErrorKind::InvalidKeyRecipient,
        ErrorKind::KeyRecipientTooLarge,
        ErrorKind::UnsupportedKeyRecipient,
        ErrorKind::KeyRecipientTooSmall,
        ErrorKind::KeyRecipientNotSupported,
        ErrorKind::KwpRequiresRsa,
        ErrorKind::KeyRecipientRequired,
        ErrorKind::KeyRecipientNotAllowed,
        ErrorKind::Unauthenticated,
        ErrorKind::Forbidden,
        ErrorKind::KeyExportForbidden,
        ErrorKind::CertificateNotFound,
        ErrorKind::KeyNotFound,
        ErrorKind::InvalidCertificate,
        ErrorKind::InvalidChain,
        ErrorKind::InvalidKey,
        ErrorKind::UnsupportedKey,
        ErrorKind::KeyMismatch,
        ErrorKind::StoreFailure,
        ErrorKind::PfxEncryptionUnavailable,
        ErrorKind::Internal,
    ];
}

/// The error of a download: a kind and a message for people.
///
/// The message is written by this crate only. It never holds the password, key bytes, or
/// the text of a host's backend error; a backend error is kept as
/// [`source`](std::error::Error::source) for the host's own logs, and is left out of
/// `Display`, `Debug` and [`to_json`](Error::to_json).
pub struct Error {
    kind: ErrorKind,
    message: Cow<'static, str>,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// The error of a body over [`MAX_BODY_BYTES`], the same whether the crate or the host's
    /// framework refused it.
    pub(crate) fn body_too_large() -> Self {
        Self::new(
            ErrorKind::BodyTooLarge,
            format!(
                "the request body is larger than {} KiB",
                MAX_BODY_BYTES / 1024
            ),
        )
    }

    pub(crate) fn with_source(
        mut self,
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    ) -> Self {
        self.source = Some(source);
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The HTTP status: 400, 401, 403, 404 or 500.
    pub fn status(&self) -> u16 {
        self.kind.status()
    }

    /// The stable snake_case code, the `error` field of the body.
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }

    /// The message for people, the `message` field of the body.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The error body of the contract: `{"status": .., "error": .., "message": ..}`.
    pub fn to_json(&self) -> String {
        #[derive(Serialize)]
        struct Body<'a> {
            status: u16,
            error: &'a str,
            message: &'a str,
        }
        let body = Body {
            status: self.status(),
            error: self.code(),
            message: &self.message,
        };
        // Serializing three plain fields cannot fail; fall back to a fixed body all the same.
        serde_json::to_string(&body).unwrap_or_else(|_| {
            String::from(
                r#"{"status":500,"error":"internal_error","message":"the error could not be serialized"}"#,
            )
        })
    }
}

impl From<ErrorKind> for Error {
    /// An error of `kind` with a generic message, for hosts that refuse a request on their
    /// own grounds but answer in the contract's shape: a caller turned away before the body
    /// is parsed (`ErrorKind::Unauthenticated`, 401), a body the host's framework refused as
    /// too large (`ErrorKind::BodyTooLarge`: the same body as the crate's own 400).
    ///
    /// ```
    /// use cert_download::{Error, ErrorKind};
    ///
    /// let error = Error::from(ErrorKind::Unauthenticated);
    /// assert_eq!(error.to_json(),
    ///     r#"{"status":401,"error":"unauthenticated","message":"authentication is required"}"#);
    /// ```
    fn from(kind: ErrorKind) -> Self {
        let message = match kind {
            // The messages the crate itself gives these kinds.
            ErrorKind::BodyTooLarge => return Self::body_too_large(),
            ErrorKind::Unauthenticated => "authentication is required",
            _ => match kind.status() {
                400 => "the request is invalid",
                403 => "this download is not allowed",
                404 => "not found",
                _ => "the download failed on the server",
            },
        };
        Self::new(kind, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.kind).field("message", &self.message);
        if self.source.is_some() {
            d.field("source", &"[backend error elided]");
        }
        d.finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}
