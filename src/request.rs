//! The download request: its fields, its secrets, and its JSON form.
//!
//! Parsing knows nothing of stores or cryptography. Once a [`DownloadRequest`] exists it is
//! valid: the format is known, and a key that is to be exported has either a password within
//! the policy or a readable recipient certificate (`key_recipient`).
//!
//! The JSON reader ([`DownloadRequest::from_json`]) is the private submodule `json`
//! (src/request/json.rs); this module holds the request's types and the refusals of a
//! request built through the Rust API.
//!
//! # The request body
//!
//! A JSON object, at most 64 KiB. Every rule is checked (400) before the store is asked
//! anything.
//!
//! | field | accepted values | rules |
//! |---|---|---|
//! | `id` | a JSON integer from 1 to 2^63-1, or a string of ASCII digits in that range | anything else: 400 `invalid_id`; missing: 400 `missing_field` |
//! | `format` | `"pfx"`, `"pem"`, `"crt"`, `"p7b"`, `"kwp"`, ASCII case-insensitive | missing: 400 `missing_field`; any other value: 400 `unsupported_format` naming the supported values |
//! | `download_key` | `true`, `false`, `"true"`/`"false"` (case-insensitive), `null`; default false | pfx: ignored whatever its value (the key is always in a PFX); p7b: true is 400 `key_not_supported` (it never carries a key); any other value is 400 `invalid_download_key` |
//! | `password` | a string | required for pfx, and for pem/crt when `download_key` is true, unless `key_recipient` is given: missing, `null` or empty is 400 `password_required`; not a string is 400 `invalid_password`; ignored when no key goes out (always for p7b) |
//! | `key_recipient` | the recipient's X.509 certificate, PEM (one `CERTIFICATE` block) or Base64 of its DER; `null` = absent | instead of `password`: the key is encrypted to this certificate's public key, RSA of 2048 to 8192 bits or EC on P-256, P-384, P-521. pem and crt with `download_key`: CMS `EnvelopedData`; kwp: required (400 `key_recipient_required`), and RSA (400 `kwp_requires_rsa`). With `password` too: 400 `password_and_key_recipient`; pfx: 400 `key_recipient_not_supported` (PKCS#12's public-key privacy mode is read by almost nothing); not a certificate: 400 `invalid_key_recipient`; over 16 KiB of DER: 400 `key_recipient_too_large`; another key type or curve, or RSA over 8192 bits: 400 `unsupported_key_recipient`; RSA under 2048 bits or under the export policy's least size: 400 `key_recipient_too_small`; the export policy has recipient delivery off: 400 `key_recipient_not_allowed` (and where it requires it, a keyed download under a password is 400 `key_recipient_required`). Ignored (once read) when no key goes out. Nothing is encrypted, and the store is not asked, when any of these refuses |
//! | `include_chain` | boolean, default `true` | pfx, pem and p7b: the issuers follow the leaf; crt is always the single leaf |
//! | `include_root` | boolean, default `true`; `null` = absent | pfx, pem and p7b: `false` gives the chain a TLS server sends (RFC 8446 4.4.2, RFC 5246 7.4.2): the leaf, then each issuer that certifies the one before it (issuer links as the guide's "What goes into the files" judges them), without the self-signed root that ends that path; stored certificates that certify nothing on that path (an unrelated CA, a second root) are left out too; a self-signed leaf stays (it is the leaf); crt ignores it; not a boolean is 400 `invalid_include_root` |
//! | `chain_order` | `"leaf_first"` (default) or `"root_first"` | pfx and pem; `root_first` is the exact reverse of `leaf_first`; a p7b's certificates are a DER `SET OF`, in DER order whatever this says (readers order the chain themselves) |
//! | `friendly_name` | string, 1 to 64 characters, no control characters, none beyond U+FFFF | pfx: the friendlyName (alias) of the key and the leaf; default: the leaf's subject CN, else `certificate-<id>` |
//! | `pfx_encryption` | `"aes256_sha256"`, `"aes256_sha256_pbmac1"` or `"tripledes_sha1"`; default: the export policy's, `"aes256_sha256"` unless the host chose another | pfx only |
//!
//! `null` counts as absent for every optional field. An unknown field is a 400
//! `unknown_field` naming it (so that `downloadKey` never silently yields a file without the
//! key); a field given twice is a 400 `duplicate_field`; a body that is not one UTF-8 JSON
//! object is a 400 `invalid_json`, over 64 KiB a 400 `body_too_large`.
//!
//! Password policy ([`PasswordPolicy`], defaults): at least 8 characters, at most 1024 bytes of
//! UTF-8, no control characters (U+0000-U+001F, U+007F): `password_too_short`,
//! `password_too_long`, `password_control_character`. Non-ASCII passwords are allowed and
//! open in OpenSSL, NSS, GnuTLS and Python; Java's PBES2 refuses them, so the policy has an
//! ASCII-only mode (`password_not_ascii`) for deployments whose users open files in Java.
//!
//! # The response
//!
//! | format | `certificate` is the Base64 of | other fields |
//! |---|---|---|
//! | pfx | the PKCS#12 file (DER) with the key, the leaf and (by default) the chain | `"format": "pfx"` |
//! | pem | PEM text: the leaf `CERTIFICATE`, the chain, then with `download_key` one `ENCRYPTED PRIVATE KEY` (under `password`) or one `CMS` block (to `key_recipient`) | `"format": "pem"` |
//! | crt | the leaf certificate (DER) | `"format": "crt"`; with `download_key` also `"key"`: Base64 of the DER `EncryptedPrivateKeyInfo` with `"key_format": "key"`, or of the DER CMS `ContentInfo` (`EnvelopedData`) with `"key_format": "cms"` |
//! | kwp | PEM text: the leaf `CERTIFICATE` and the chain, as pem without a key | `"format": "kwp"`, `"key"`: Base64 of RSA-OAEP (SHA-256, MGF1-SHA-256, empty label) of a fresh AES-256 key, followed by the PKCS#8 `PrivateKeyInfo` under AES key wrap with padding (RFC 5649): PKCS#11's `CKM_RSA_AES_KEY_WRAP` input, as Google Cloud KMS import jobs (`RSA_OAEP_3072_SHA256_AES_256`), Azure Managed HSM BYOK and AWS CloudHSM take it; `"key_format": "rsa_aes_key_wrap"` |
//! | p7b | a DER certs-only PKCS#7 `SignedData` (no signers, `id-data` without content): the leaf and (by default) its chain, in DER (`SET OF`) order, not chain order: `openssl pkcs7 -print_certs` may print an intermediate first. For a TLS server's chain file (nginx, HAProxy) download `pem` instead | `"format": "p7b"` |
//!
//! Fields in that order; Base64 standard alphabet, padded, no line breaks; PEM with LF line
//! ends and 64-character lines.
//!
//! ```json
//! {"certificate": "MIIDq...", "format": "crt", "key": "MIIFH...", "key_format": "key"}
//! ```
//!
//! A refusal is the error body of [`ErrorKind`] (its statuses and codes are
//! listed there). What each file holds, byte for byte, and which consumer opens it are in the
//! [`guide`](crate::guide). The binding specification these rules come from is
//! `docs/contract.md` in the repository.

use std::fmt;

use zeroize::Zeroizing;

use crate::error::{Error, ErrorKind};
use crate::policy::{PasswordPolicy, PfxEncryption};
use crate::recipient::{KeyRecipient, RecipientKeyType};

pub use crate::error::MAX_BODY_BYTES;

mod json;

/// Why a p7b download with the key is refused.
pub(crate) const P7B_CANNOT_CARRY_A_KEY: &str = "the p7b format cannot carry a private key";

/// The refusal of a p7b download with the key (400 `key_not_supported`), for a request built
/// through the Rust API; the JSON parser says which field to change instead.
pub(crate) fn p7b_key_refused() -> Error {
    Error::new(ErrorKind::KeyNotSupported, P7B_CANNOT_CARRY_A_KEY)
}

/// The id of a stored certificate: from 1 to 2^63-1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CertificateId(u64);

impl CertificateId {
    /// The largest id, 2^63-1.
    pub const MAX: CertificateId = CertificateId(i64::MAX as u64);

    /// An id, or `None` when `id` is 0 or above 2^63-1.
    pub const fn new(id: u64) -> Option<Self> {
        if id >= 1 && id <= Self::MAX.0 {
            Some(Self(id))
        } else {
            None
        }
    }

    /// The id as a number.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for CertificateId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// The file format asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// PKCS#12: the key, the leaf and its chain in one password-protected file.
    Pfx,
    /// PEM text: the leaf, its chain and, on request, the encrypted key.
    Pem,
    /// The DER leaf and, on request, the DER `EncryptedPrivateKeyInfo` beside it.
    Crt,
    /// A DER certs-only PKCS#7 `SignedData`: the leaf and its chain, never a key.
    P7b,
    /// For HSM and cloud KMS import: the key encrypted to an RSA recipient in PKCS#11's
    /// `CKM_RSA_AES_KEY_WRAP` layout (RSA-OAEP-SHA-256 of a fresh AES-256 key, then the
    /// PKCS#8 under RFC 5649 key wrap with padding), the leaf and its chain beside it as PEM.
    Kwp,
}

impl Format {
    /// The lowercase name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Pfx => "pfx",
            Format::Pem => "pem",
            Format::Crt => "crt",
            Format::P7b => "p7b",
            Format::Kwp => "kwp",
        }
    }

    /// Every format, in the order messages list them.
    pub const ALL: &'static [Format] = &[
        Format::Pfx,
        Format::Pem,
        Format::Crt,
        Format::P7b,
        Format::Kwp,
    ];

    fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|f| s.eq_ignore_ascii_case(f.as_str()))
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The order of the leaf and its issuers in pfx and pem files (a p7b's certificates are a
/// DER `SET OF`, in DER order).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChainOrder {
    /// The leaf, then its issuer, up to the root (the default).
    #[default]
    LeafFirst,
    /// The exact reverse of [`LeafFirst`](Self::LeafFirst).
    RootFirst,
}

impl ChainOrder {
    /// Every order, in the order messages list them.
    pub const ALL: &'static [ChainOrder] = &[ChainOrder::LeafFirst, ChainOrder::RootFirst];

    /// The name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ChainOrder::LeafFirst => "leaf_first",
            ChainOrder::RootFirst => "root_first",
        }
    }
}

/// The friendlyName of a PFX: 1 to 64 characters, no control characters, none beyond
/// U+FFFF (it is encoded as a BMPString).
#[derive(Clone, PartialEq, Eq)]
pub struct FriendlyName(String);

impl FriendlyName {
    /// Checks and wraps a name.
    pub fn new(name: impl Into<String>) -> Result<Self, Error> {
        let name = name.into();
        let count = name.chars().count();
        if count == 0 || count > 64 {
            return Err(Error::new(
                ErrorKind::InvalidFriendlyName,
                "friendly_name must have from 1 to 64 characters",
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(Error::new(
                ErrorKind::InvalidFriendlyName,
                "friendly_name must not contain control characters",
            ));
        }
        if name.chars().any(|c| u32::from(c) > 0xFFFF) {
            return Err(Error::new(
                ErrorKind::InvalidFriendlyName,
                "friendly_name must not contain characters beyond U+FFFF (it is a BMPString)",
            ));
        }
        Ok(Self(name))
    }

    /// `certificate-<id>`: at most 31 ASCII characters, always a valid name.
    pub(crate) fn for_id(id: CertificateId) -> Self {
        Self(format!("certificate-{id}"))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for FriendlyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// A password that protects an exported key, checked against a [`PasswordPolicy`].
///
/// Its bytes are zeroized on drop. It has no `Clone` and no `PartialEq`, and its `Debug`
/// prints `[redacted]`.
pub struct Password(Zeroizing<String>);

impl Password {
    /// Checks `password` against `policy`.
    pub fn new(password: impl Into<String>, policy: &PasswordPolicy) -> Result<Self, Error> {
        let password = Zeroizing::new(password.into());
        policy.check(&password)?;
        Ok(Self(password))
    }

    /// Checks the password against `policy` (a password is checked against the policy of
    /// its request when built, and against the host's policy again when encoded).
    pub(crate) fn check(&self, policy: &PasswordPolicy) -> Result<(), Error> {
        policy.check(&self.0)
    }

    /// The password as text.
    #[cfg(test)]
    pub(crate) fn secret_str(&self) -> &str {
        &self.0
    }

    /// The password's UTF-8 bytes, as PBKDF2 takes them.
    pub(crate) fn secret_utf8(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// The password as the PKCS#12 KDF takes it: UTF-16BE (with surrogate pairs beyond
    /// U+FFFF) followed by two zero bytes, as OpenSSL, NSS, GnuTLS, Java and Python do.
    pub(crate) fn secret_bmp(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(self.0.len() * 2 + 2));
        for unit in self.0.encode_utf16() {
            out.extend_from_slice(&unit.to_be_bytes());
        }
        out.extend_from_slice(&[0, 0]);
        out
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// How an exported key is protected, as an audit records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyDelivery {
    /// Under a password: PKCS#8 `EncryptedPrivateKeyInfo` (pem, crt) or PKCS#12 (pfx).
    Password,
    /// To a recipient's certificate as CMS `EnvelopedData` (pem, crt).
    EnvelopedData,
    /// To an RSA recipient in PKCS#11's `CKM_RSA_AES_KEY_WRAP` layout (kwp).
    RsaAesKeyWrap,
}

impl KeyDelivery {
    /// The name an audit row records: `password`, `cms`, `kwp`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyDelivery::Password => "password",
            KeyDelivery::EnvelopedData => "cms",
            KeyDelivery::RsaAesKeyWrap => "kwp",
        }
    }
}

/// What protects the key of a request that exports one.
enum KeyProtection {
    Password(Password),
    Recipient(Box<KeyRecipient>),
}

/// A valid request to download one certificate.
pub struct DownloadRequest {
    id: CertificateId,
    format: Format,
    key: Option<KeyProtection>,
    include_chain: bool,
    include_root: bool,
    chain_order: ChainOrder,
    friendly_name: Option<FriendlyName>,
    pfx_encryption: Option<PfxEncryption>,
}

impl DownloadRequest {
    /// A PFX download: the key is always in it, so a password is always needed.
    pub fn pfx(id: CertificateId, password: Password) -> Self {
        Self::new(id, Format::Pfx, Some(KeyProtection::Password(password)))
    }

    /// A kwp download, for HSM and cloud KMS import: the key encrypted to `recipient`,
    /// which must be RSA (a request with another key type is refused with
    /// `kwp_requires_rsa` before the store is asked anything).
    pub fn kwp(id: CertificateId, recipient: KeyRecipient) -> Self {
        Self::new(
            id,
            Format::Kwp,
            Some(KeyProtection::Recipient(Box::new(recipient))),
        )
    }

    /// A PEM download of the leaf and its chain, without the key.
    pub fn pem(id: CertificateId) -> Self {
        Self::new(id, Format::Pem, None)
    }

    /// A CRT download of the leaf, without the key.
    pub fn crt(id: CertificateId) -> Self {
        Self::new(id, Format::Crt, None)
    }

    /// A p7b download of the leaf and its chain: never with a key (a request built with
    /// [`with_key`](Self::with_key) is refused with `key_not_supported` before the store is
    /// asked anything).
    pub fn p7b(id: CertificateId) -> Self {
        Self::new(id, Format::P7b, None)
    }

    fn new(id: CertificateId, format: Format, key: Option<KeyProtection>) -> Self {
        Self {
            id,
            format,
            key,
            include_chain: true,
            include_root: true,
            chain_order: ChainOrder::LeafFirst,
            friendly_name: None,
            pfx_encryption: None,
        }
    }

    /// Adds the private key, encrypted with `password` (pem and crt; a PFX has it already;
    /// a p7b cannot carry one, and the download is refused with `key_not_supported`).
    pub fn with_key(mut self, password: Password) -> Self {
        self.key = Some(KeyProtection::Password(password));
        self
    }

    /// Adds the private key, encrypted to `recipient`'s public key as CMS `EnvelopedData`
    /// (pem and crt; a pfx cannot deliver to a recipient and is refused with
    /// `key_recipient_not_supported`, a p7b with `key_not_supported`, before the store is
    /// asked anything). For kwp, the recipient given to [`kwp`](Self::kwp) is replaced.
    pub fn with_key_for(mut self, recipient: KeyRecipient) -> Self {
        self.key = Some(KeyProtection::Recipient(Box::new(recipient)));
        self
    }

    /// Whether the issuer chain follows the leaf (pfx, pem and p7b; default true).
    pub fn with_chain(mut self, include: bool) -> Self {
        self.include_chain = include;
        self
    }

    /// Whether the chain keeps the self-signed root that ends it (pfx, pem and p7b; default
    /// true). `false` gives the chain a TLS server sends: the leaf, then each issuer that
    /// certifies the one before it (linked by names and key identifiers, as OpenSSL's
    /// `X509_check_issued` links them), without the self-signed root that ends that path;
    /// stored certificates that certify nothing on the path are left out too. A leaf that
    /// is itself self-signed stays.
    pub fn with_root(mut self, include: bool) -> Self {
        self.include_root = include;
        self
    }

    /// The order of the leaf and its issuers (pfx and pem).
    pub fn with_chain_order(mut self, order: ChainOrder) -> Self {
        self.chain_order = order;
        self
    }

    /// The friendlyName of the key and the leaf in a PFX.
    pub fn with_friendly_name(mut self, name: FriendlyName) -> Self {
        self.friendly_name = Some(name);
        self
    }

    /// How a PFX is encrypted (without it, the export policy's
    /// [`pfx_encryption`](crate::ExportPolicy::pfx_encryption)).
    pub fn with_pfx_encryption(mut self, encryption: PfxEncryption) -> Self {
        self.pfx_encryption = Some(encryption);
        self
    }

    /// The certificate's id.
    pub fn id(&self) -> CertificateId {
        self.id
    }

    /// The format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Whether the private key goes out (always for pfx and kwp).
    pub fn includes_key(&self) -> bool {
        self.key.is_some()
    }

    /// The password that protects the key, when the key goes out under a password.
    pub fn password(&self) -> Option<&Password> {
        match &self.key {
            Some(KeyProtection::Password(password)) => Some(password),
            _ => None,
        }
    }

    /// The certificate the key is encrypted to, when the key goes out to a recipient.
    pub fn key_recipient(&self) -> Option<&KeyRecipient> {
        match &self.key {
            Some(KeyProtection::Recipient(recipient)) => Some(recipient),
            _ => None,
        }
    }

    /// How the key goes out, when it does.
    pub fn key_delivery(&self) -> Option<KeyDelivery> {
        match (&self.key, self.format) {
            (None, _) => None,
            (Some(KeyProtection::Password(_)), _) => Some(KeyDelivery::Password),
            (Some(KeyProtection::Recipient(_)), Format::Kwp) => Some(KeyDelivery::RsaAesKeyWrap),
            (Some(KeyProtection::Recipient(_)), _) => Some(KeyDelivery::EnvelopedData),
        }
    }

    /// Whether the issuer chain follows the leaf (pfx, pem and p7b).
    pub fn include_chain(&self) -> bool {
        self.include_chain
    }

    /// Whether the chain keeps the self-signed root that ends it (pfx, pem and p7b).
    pub fn include_root(&self) -> bool {
        self.include_root
    }

    /// The order of the leaf and its issuers.
    pub fn chain_order(&self) -> ChainOrder {
        self.chain_order
    }

    /// The friendlyName asked for, if any.
    pub fn friendly_name(&self) -> Option<&FriendlyName> {
        self.friendly_name.as_ref()
    }

    /// How a PFX is encrypted, when the request names it; `None`: the export policy's
    /// [`pfx_encryption`](crate::ExportPolicy::pfx_encryption) applies.
    pub fn pfx_encryption(&self) -> Option<PfxEncryption> {
        self.pfx_encryption
    }
}

impl fmt::Debug for DownloadRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DownloadRequest")
            .field("id", &self.id)
            .field("format", &self.format)
            .field("password", &self.password())
            .field("key_recipient", &self.key_recipient())
            .field("include_chain", &self.include_chain)
            .field("include_root", &self.include_root)
            .field("chain_order", &self.chain_order)
            .field("friendly_name", &self.friendly_name)
            .field("pfx_encryption", &self.pfx_encryption)
            .finish()
    }
}

/// The refusal of a kwp download without a recipient.
pub(crate) fn kwp_recipient_required() -> Error {
    Error::new(
        ErrorKind::KeyRecipientRequired,
        "the kwp format needs a key_recipient: the RSA certificate of the HSM's or KMS's \
         import key",
    )
}

/// The refusal of a kwp download to a recipient whose key is not RSA.
pub(crate) fn kwp_requires_rsa(key_type: RecipientKeyType) -> Error {
    Error::new(
        ErrorKind::KwpRequiresRsa,
        format!(
            "the kwp format needs an RSA key_recipient (RSA-OAEP); this certificate's key is \
             {key_type}"
        ),
    )
}

/// The refusal of a pfx download to a recipient.
pub(crate) fn pfx_recipient_refused() -> Error {
    Error::new(
        ErrorKind::KeyRecipientNotSupported,
        "the pfx format cannot deliver a key to a key_recipient (PKCS#12's public-key \
         privacy mode is read by almost nothing); use pem, crt with download_key, or kwp",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_keeps_its_text_and_gives_the_kdfs_their_forms() {
        let text = "pässwörd-😀-\"quoted\"";
        let password = Password::new(text, &PasswordPolicy::DEFAULT).unwrap();
        assert_eq!(password.secret_str(), text);
        assert_eq!(password.secret_utf8(), text.as_bytes());
        // UTF-16BE, the emoji as a surrogate pair, then two zero bytes.
        let bmp = Password::new("ab😀cdefg", &PasswordPolicy::DEFAULT).unwrap();
        let want: &[u8] = &[
            0, b'a', 0, b'b', 0xD8, 0x3D, 0xDE, 0x00, 0, b'c', 0, b'd', 0, b'e', 0, b'f', 0, b'g',
            0, 0,
        ];
        assert_eq!(bmp.secret_bmp().as_slice(), want);
    }
}
