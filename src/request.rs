//! The download request: its fields, its secrets, and its JSON form.
//!
//! Parsing knows nothing of stores or cryptography. Once a [`DownloadRequest`] exists it is
//! valid: the format is known, and a password within the policy is present exactly when a
//! key is to be exported.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;
use zeroize::Zeroizing;

use crate::error::{Error, ErrorKind};
use crate::policy::{PasswordPolicy, PfxEncryption};

/// The largest request body accepted, in bytes (64 KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The id of a stored certificate: from 1 to 2^63-1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CertificateId(u64);

impl CertificateId {
    /// The largest id, 2^63-1.
    pub const MAX: u64 = i64::MAX as u64;

    /// An id, or `None` when `id` is 0 or above 2^63-1.
    pub const fn new(id: u64) -> Option<Self> {
        if id >= 1 && id <= Self::MAX {
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
}

impl Format {
    /// The lowercase name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Pfx => "pfx",
            Format::Pem => "pem",
            Format::Crt => "crt",
            Format::P7b => "p7b",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Format::Pfx, Format::Pem, Format::Crt, Format::P7b]
            .into_iter()
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
        if policy.is_ascii_only() && !password.is_ascii() {
            return Err(Error::new(
                ErrorKind::PasswordNotAscii,
                "the password must be ASCII (the export policy is ASCII-only)",
            ));
        }
        if password.chars().count() < policy.min_chars() {
            return Err(Error::new(
                ErrorKind::PasswordTooShort,
                format!(
                    "the password must have at least {} characters",
                    policy.min_chars()
                ),
            ));
        }
        if password.len() > policy.max_bytes() {
            return Err(Error::new(
                ErrorKind::PasswordTooLong,
                format!(
                    "the password must have at most {} bytes of UTF-8",
                    policy.max_bytes()
                ),
            ));
        }
        Ok(Self(password))
    }

    /// The password as text.
    pub fn secret_str(&self) -> &str {
        &self.0
    }

    /// The password's UTF-8 bytes, as PBKDF2 takes them.
    pub fn secret_utf8(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// The password as the PKCS#12 KDF takes it: UTF-16BE (with surrogate pairs beyond
    /// U+FFFF) followed by two zero bytes, as OpenSSL, NSS, GnuTLS, Java and Python do.
    pub fn secret_bmp(&self) -> Zeroizing<Vec<u8>> {
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

/// A valid request to download one certificate.
#[derive(Debug)]
pub struct DownloadRequest {
    id: CertificateId,
    format: Format,
    password: Option<Password>,
    include_chain: bool,
    include_root: bool,
    chain_order: ChainOrder,
    friendly_name: Option<FriendlyName>,
    pfx_encryption: Option<PfxEncryption>,
}

impl DownloadRequest {
    /// A PFX download: the key is always in it, so a password is always needed.
    pub fn pfx(id: CertificateId, password: Password) -> Self {
        Self::new(id, Format::Pfx, Some(password))
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

    fn new(id: CertificateId, format: Format, password: Option<Password>) -> Self {
        Self {
            id,
            format,
            password,
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
        self.password = Some(password);
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

    /// Whether the private key goes out (always for pfx).
    pub fn includes_key(&self) -> bool {
        self.password.is_some()
    }

    /// The password that protects the key, when the key goes out.
    pub fn password(&self) -> Option<&Password> {
        self.password.as_ref()
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

    /// Parses and validates a JSON body with the default [`PasswordPolicy`].
    pub fn from_json(body: &[u8]) -> Result<Self, Error> {
        Self::from_json_with_policy(body, &PasswordPolicy::DEFAULT)
    }

    /// Parses and validates a JSON body, checking the password against `policy`.
    ///
    /// Every rule of the contract's request table is applied here, before any store is
    /// asked anything; every failure is a 400 with its own [`ErrorKind`].
    pub fn from_json_with_policy(body: &[u8], policy: &PasswordPolicy) -> Result<Self, Error> {
        if body.len() > MAX_BODY_BYTES {
            return Err(Error::new(
                ErrorKind::BodyTooLarge,
                "the request body is larger than 64 KiB",
            ));
        }
        let fields = RawFields::parse(body)?;
        fields.validate(policy)
    }
}

/// A `password` value as it came, kept in a zeroizing buffer.
enum RawPassword {
    Text(Zeroizing<String>),
    Null,
    NotText,
}

impl<'de> Deserialize<'de> for RawPassword {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawPassword;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawPassword, E> {
                Ok(RawPassword::Text(Zeroizing::new(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<RawPassword, E> {
                Ok(RawPassword::Text(Zeroizing::new(v)))
            }
            fn visit_unit<E: de::Error>(self) -> Result<RawPassword, E> {
                Ok(RawPassword::Null)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<RawPassword, E> {
                Ok(RawPassword::NotText)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<RawPassword, E> {
                Ok(RawPassword::NotText)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<RawPassword, E> {
                Ok(RawPassword::NotText)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<RawPassword, E> {
                Ok(RawPassword::NotText)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<RawPassword, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(RawPassword::NotText)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawPassword, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(RawPassword::NotText)
            }
        }
        d.deserialize_any(V)
    }
}

/// The fields of a body as they came, before any rule but "one JSON object" is applied.
#[derive(Default)]
struct RawFields {
    id: Option<Value>,
    format: Option<Value>,
    download_key: Option<Value>,
    password: Option<RawPassword>,
    include_chain: Option<Value>,
    include_root: Option<Value>,
    chain_order: Option<Value>,
    friendly_name: Option<Value>,
    pfx_encryption: Option<Value>,
    duplicate: Option<String>,
    unknown: Option<String>,
}

const FIELDS: &str = "id, format, download_key, password, include_chain, include_root, \
                      chain_order, friendly_name, pfx_encryption";

/// A field name fit to quote in a message: at most 64 characters, escaped.
fn quote_field(name: &str) -> String {
    let mut short: String = name.chars().take(64).collect();
    if short.len() < name.len() {
        short.push('…');
    }
    format!("{short:?}")
}

impl<'de> Deserialize<'de> for RawFields {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawFields;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawFields, A::Error> {
                let mut fields = RawFields::default();
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    fn put<'de, A: MapAccess<'de>, T: Deserialize<'de>>(
                        map: &mut A,
                        slot: &mut Option<T>,
                        name: &str,
                        duplicate: &mut Option<String>,
                    ) -> Result<(), A::Error> {
                        let value = map.next_value::<T>()?;
                        if slot.is_some() {
                            duplicate.get_or_insert_with(|| name.to_owned());
                        } else {
                            *slot = Some(value);
                        }
                        Ok(())
                    }
                    let dup = &mut fields.duplicate;
                    match key.as_ref() {
                        "id" => put(&mut map, &mut fields.id, "id", dup)?,
                        "format" => put(&mut map, &mut fields.format, "format", dup)?,
                        "download_key" => {
                            put(&mut map, &mut fields.download_key, "download_key", dup)?
                        }
                        "password" => put(&mut map, &mut fields.password, "password", dup)?,
                        "include_chain" => {
                            put(&mut map, &mut fields.include_chain, "include_chain", dup)?
                        }
                        "include_root" => {
                            put(&mut map, &mut fields.include_root, "include_root", dup)?
                        }
                        "chain_order" => {
                            put(&mut map, &mut fields.chain_order, "chain_order", dup)?
                        }
                        "friendly_name" => {
                            put(&mut map, &mut fields.friendly_name, "friendly_name", dup)?
                        }
                        "pfx_encryption" => {
                            put(&mut map, &mut fields.pfx_encryption, "pfx_encryption", dup)?
                        }
                        other => {
                            map.next_value::<IgnoredAny>()?;
                            fields.unknown.get_or_insert_with(|| other.to_owned());
                        }
                    }
                }
                Ok(fields)
            }
        }
        d.deserialize_map(V)
    }
}

fn bad(kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> Error {
    Error::new(kind, message)
}

/// `null` counts as absent for the optional fields.
fn present(v: Option<Value>) -> Option<Value> {
    v.filter(|v| !v.is_null())
}

impl RawFields {
    fn parse(body: &[u8]) -> Result<Self, Error> {
        let mut de = serde_json::Deserializer::from_slice(body);
        let fields = RawFields::deserialize(&mut de).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => bad(
                ErrorKind::InvalidJson,
                "the request body must be a JSON object",
            ),
            _ => bad(
                ErrorKind::InvalidJson,
                "the request body is not valid UTF-8 JSON",
            ),
        })?;
        de.end().map_err(|_| {
            bad(
                ErrorKind::InvalidJson,
                "the request body must be a single JSON object with nothing after it",
            )
        })?;
        Ok(fields)
    }

    fn validate(self, policy: &PasswordPolicy) -> Result<DownloadRequest, Error> {
        if let Some(name) = &self.duplicate {
            return Err(bad(
                ErrorKind::DuplicateField,
                format!("the field {} is given more than once", quote_field(name)),
            ));
        }
        if let Some(name) = &self.unknown {
            return Err(bad(
                ErrorKind::UnknownField,
                format!(
                    "unknown field {}; the fields are {FIELDS}",
                    quote_field(name)
                ),
            ));
        }
        let id = parse_id(self.id)?;
        let format = parse_format(self.format)?;
        let wants_key = match format {
            // The key is always in a PFX: download_key is ignored, whatever its value.
            Format::Pfx => true,
            Format::Pem | Format::Crt => parse_download_key(self.download_key)?,
            // A p7b holds certificates only: a key asked for is refused, not dropped.
            Format::P7b => {
                if parse_download_key(self.download_key)? {
                    return Err(bad(
                        ErrorKind::KeyNotSupported,
                        "the p7b format cannot carry a private key: download_key must be false",
                    ));
                }
                false
            }
        };
        let password = match self.password {
            None | Some(RawPassword::Null) => None,
            Some(RawPassword::NotText) => {
                return Err(bad(ErrorKind::InvalidPassword, "password must be a string"));
            }
            Some(RawPassword::Text(text)) => Some(text),
        };
        let password = if wants_key {
            let Some(text) = password.filter(|p| !p.is_empty()) else {
                let why = match format {
                    Format::Pfx => "a password is required for the pfx format",
                    _ => "a password is required when download_key is true",
                };
                return Err(bad(ErrorKind::PasswordRequired, why));
            };
            // Move the text out without leaving a copy behind.
            let mut text = text;
            Some(Password::new(std::mem::take(&mut *text), policy)?)
        } else {
            // No key goes out: the password is ignored.
            None
        };
        let include_chain = match present(self.include_chain) {
            None => true,
            Some(Value::Bool(b)) => b,
            Some(_) => {
                return Err(bad(
                    ErrorKind::InvalidIncludeChain,
                    "include_chain must be true or false",
                ));
            }
        };
        let include_root = match present(self.include_root) {
            None => true,
            Some(Value::Bool(b)) => b,
            Some(_) => {
                return Err(bad(
                    ErrorKind::InvalidIncludeRoot,
                    "include_root must be true or false",
                ));
            }
        };
        let chain_order = match present(self.chain_order) {
            None => ChainOrder::LeafFirst,
            Some(Value::String(s)) if s == "leaf_first" => ChainOrder::LeafFirst,
            Some(Value::String(s)) if s == "root_first" => ChainOrder::RootFirst,
            Some(_) => {
                return Err(bad(
                    ErrorKind::InvalidChainOrder,
                    "chain_order must be \"leaf_first\" or \"root_first\"",
                ));
            }
        };
        let friendly_name = match present(self.friendly_name) {
            None => None,
            Some(Value::String(s)) => Some(FriendlyName::new(s)?),
            Some(_) => {
                return Err(bad(
                    ErrorKind::InvalidFriendlyName,
                    "friendly_name must be a string",
                ));
            }
        };
        let pfx_encryption = match present(self.pfx_encryption) {
            None => None,
            Some(Value::String(s)) if PfxEncryption::from_name(&s).is_some() => {
                PfxEncryption::from_name(&s)
            }
            Some(_) => {
                return Err(bad(
                    ErrorKind::InvalidPfxEncryption,
                    "pfx_encryption must be \"aes256_sha256\", \"aes256_sha256_pbmac1\" or \
                     \"tripledes_sha1\"",
                ));
            }
        };
        Ok(DownloadRequest {
            id,
            format,
            password,
            include_chain,
            include_root,
            chain_order,
            friendly_name,
            pfx_encryption,
        })
    }
}

fn parse_id(v: Option<Value>) -> Result<CertificateId, Error> {
    const WHY: &str = "id must be an integer from 1 to 9223372036854775807, \
                       or a string of its decimal digits";
    let n = match v {
        None | Some(Value::Null) => return Err(bad(ErrorKind::MissingField, "id is required")),
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                None
            } else {
                s.parse::<u64>().ok()
            }
        }
        Some(_) => None,
    };
    n.and_then(CertificateId::new)
        .ok_or_else(|| bad(ErrorKind::InvalidId, WHY))
}

fn parse_format(v: Option<Value>) -> Result<Format, Error> {
    const WHY: &str = "format must be one of \"pfx\", \"pem\", \"crt\", \"p7b\"";
    match v {
        None | Some(Value::Null) => Err(bad(
            ErrorKind::MissingField,
            "format is required: one of \"pfx\", \"pem\", \"crt\", \"p7b\"",
        )),
        Some(Value::String(s)) => {
            Format::parse(&s).ok_or_else(|| bad(ErrorKind::UnsupportedFormat, WHY))
        }
        Some(_) => Err(bad(ErrorKind::UnsupportedFormat, WHY)),
    }
}

fn parse_download_key(v: Option<Value>) -> Result<bool, Error> {
    match v {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(b),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(true),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(false),
        Some(_) => Err(bad(
            ErrorKind::InvalidDownloadKey,
            "download_key must be true, false, \"true\", \"false\" or null",
        )),
    }
}
