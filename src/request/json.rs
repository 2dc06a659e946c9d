//! The JSON reader of a request body: [`DownloadRequest::from_json`] and
//! [`DownloadRequest::from_json_with_policy`].
//!
//! The body is read into [`RawFields`] (one slot per [`Field`], a password straight into a
//! zeroizing buffer) and then checked field by field, in the order of [`Field::ALL`], by the
//! rules of the [`request`](super) module's table: every failure is a 400 with its own
//! [`ErrorKind`], before any store is asked anything.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;
use zeroize::Zeroizing;

use super::{
    CertificateId, ChainOrder, DownloadRequest, Format, FriendlyName, KeyProtection,
    MAX_BODY_BYTES, P7B_CANNOT_CARRY_A_KEY, Password, kwp_recipient_required, kwp_requires_rsa,
    pfx_recipient_refused,
};
use crate::error::{Error, ErrorKind};
use crate::policy::{PasswordPolicy, PfxEncryption};
use crate::recipient::{KeyRecipient, RecipientKeyType};

impl DownloadRequest {
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
            return Err(Error::body_too_large());
        }
        let fields = RawFields::parse(body)?;
        fields.validate(policy)
    }
}

/// Declares the fields of a request body once: the [`Field`] that names each in code, its
/// name in the JSON body, and the error kind of a value it does not take. Parsing, the
/// duplicate and unknown-field errors, the list of fields in messages and the order of the
/// checks all come from this one table.
macro_rules! request_fields {
    ($($field:ident: $name:literal => $invalid:ident,)*) => {
        /// A field of the request body.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        enum Field {
            $($field,)*
        }

        impl Field {
            /// Every field, in the order the messages list them and the checks run.
            const ALL: &[Field] = &[$(Field::$field,)*];

            /// The field's name in the JSON body.
            const fn name(self) -> &'static str {
                match self {
                    $(Field::$field => $name,)*
                }
            }

            /// The error of a value this field does not take.
            const fn invalid(self) -> ErrorKind {
                match self {
                    $(Field::$field => ErrorKind::$invalid,)*
                }
            }
        }
    };
}

request_fields! {
    Id: "id" => InvalidId,
    Format: "format" => UnsupportedFormat,
    DownloadKey: "download_key" => InvalidDownloadKey,
    Password: "password" => InvalidPassword,
    KeyRecipient: "key_recipient" => InvalidKeyRecipient,
    IncludeChain: "include_chain" => InvalidIncludeChain,
    IncludeRoot: "include_root" => InvalidIncludeRoot,
    ChainOrder: "chain_order" => InvalidChainOrder,
    FriendlyName: "friendly_name" => InvalidFriendlyName,
    PfxEncryption: "pfx_encryption" => InvalidPfxEncryption,
}

impl Field {
    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|f| f.name() == name)
    }

    /// The error of a value this field does not take: "`name` must be `what`".
    fn must_be(self, what: &str) -> Error {
        Error::new(self.invalid(), format!("{} must be {what}", self.name()))
    }
}

/// A value as it came. Text is kept in a zeroizing buffer (a password is text); arrays,
/// objects and numbers that are not whole and non-negative are not kept, no field takes
/// them.
enum RawValue {
    Null,
    Bool(bool),
    Integer(u64),
    Text(Zeroizing<String>),
    Other,
}

impl From<Value> for RawValue {
    fn from(value: Value) -> Self {
        match value {
            Value::Null => RawValue::Null,
            Value::Bool(b) => RawValue::Bool(b),
            Value::Number(n) => n.as_u64().map_or(RawValue::Other, RawValue::Integer),
            Value::String(s) => RawValue::Text(Zeroizing::new(s)),
            Value::Array(_) | Value::Object(_) => RawValue::Other,
        }
    }
}

/// The password's reader: its text straight into a zeroizing buffer; a value that is not
/// text is skipped.
impl<'de> Deserialize<'de> for RawValue {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawValue;
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawValue, E> {
                Ok(RawValue::Text(Zeroizing::new(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<RawValue, E> {
                Ok(RawValue::Text(Zeroizing::new(v)))
            }
            fn visit_unit<E: de::Error>(self) -> Result<RawValue, E> {
                Ok(RawValue::Null)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawValue, E> {
                Ok(RawValue::Bool(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawValue, E> {
                Ok(u64::try_from(v).map_or(RawValue::Other, RawValue::Integer))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawValue, E> {
                Ok(RawValue::Integer(v))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<RawValue, E> {
                Ok(RawValue::Other)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<RawValue, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(RawValue::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawValue, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(RawValue::Other)
            }
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
        }
        d.deserialize_any(V)
    }
}

/// The fields of a body as they came, before any rule but "one JSON object" is applied:
/// the value of each [`Field`] at its place in [`Field::ALL`].
struct RawFields {
    values: [Option<RawValue>; Field::ALL.len()],
    duplicate: Option<String>,
    unknown: Option<String>,
}

/// A field name fit to quote in a message: at most 64 characters, escaped.
fn quote_field(name: &str) -> String {
    let mut short: String = name.chars().take(64).collect();
    if short.len() < name.len() {
        short.push('…');
    }
    format!("{short:?}")
}

/// `"a", "b" or "c"`: the names a field takes, for a message.
fn either(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => quoted.concat(),
    }
}

/// `"a", "b", "c"`: the names a field takes, for a message.
fn one_of(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    quoted.join(", ")
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
                let mut fields = RawFields {
                    values: std::array::from_fn(|_| None),
                    duplicate: None,
                    unknown: None,
                };
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    let Some(field) = Field::from_name(&key) else {
                        map.next_value::<IgnoredAny>()?;
                        fields.unknown.get_or_insert_with(|| key.into_owned());
                        continue;
                    };
                    let value = if field == Field::Password {
                        // The password never passes through a buffer that is not zeroized.
                        map.next_value::<RawValue>()?
                    } else {
                        RawValue::from(map.next_value::<Value>()?)
                    };
                    let slot = &mut fields.values[field as usize];
                    if slot.is_some() {
                        fields.duplicate.get_or_insert_with(|| key.into_owned());
                    } else {
                        *slot = Some(value);
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

    /// The value of `field`; `null` counts as absent.
    fn take(&mut self, field: Field) -> Option<RawValue> {
        self.values[field as usize]
            .take()
            .filter(|v| !matches!(v, RawValue::Null))
    }

    /// Applies the contract's rules, field by field in the order of [`Field::ALL`].
    fn validate(mut self, policy: &PasswordPolicy) -> Result<DownloadRequest, Error> {
        if let Some(name) = &self.duplicate {
            return Err(bad(
                ErrorKind::DuplicateField,
                format!("the field {} is given more than once", quote_field(name)),
            ));
        }
        if let Some(name) = &self.unknown {
            let names: Vec<&str> = Field::ALL.iter().map(|f| f.name()).collect();
            return Err(bad(
                ErrorKind::UnknownField,
                format!(
                    "unknown field {}; the fields are {}",
                    quote_field(name),
                    names.join(", ")
                ),
            ));
        }
        let id = read_id(self.take(Field::Id))?;
        let format = read_format(self.take(Field::Format))?;
        let wants_key = read_wants_key(format, self.take(Field::DownloadKey))?;
        let password = self.take(Field::Password);
        let recipient = read_key_recipient(self.take(Field::KeyRecipient), format)?;
        let key = match recipient {
            Some(recipient) => {
                if password.is_some() {
                    return Err(bad(
                        ErrorKind::PasswordAndKeyRecipient,
                        "password and key_recipient cannot both be given: the key goes out \
                         under a password or to a recipient, not both",
                    ));
                }
                wants_key.then(|| KeyProtection::Recipient(Box::new(recipient)))
            }
            None if format == Format::Kwp => return Err(kwp_recipient_required()),
            None => {
                read_password(password, format, wants_key, policy)?.map(KeyProtection::Password)
            }
        };
        // A struct expression evaluates its fields in the order written: the checks run
        // in the order of `Field::ALL`.
        Ok(DownloadRequest {
            id,
            format,
            key,
            include_chain: read_bool(Field::IncludeChain, self.take(Field::IncludeChain))?,
            include_root: read_bool(Field::IncludeRoot, self.take(Field::IncludeRoot))?,
            chain_order: read_name(
                Field::ChainOrder,
                self.take(Field::ChainOrder),
                ChainOrder::ALL,
                ChainOrder::as_str,
            )?
            .unwrap_or_default(),
            friendly_name: read_friendly_name(self.take(Field::FriendlyName))?,
            pfx_encryption: read_name(
                Field::PfxEncryption,
                self.take(Field::PfxEncryption),
                PfxEncryption::ALL,
                PfxEncryption::as_str,
            )?,
        })
    }
}

fn read_id(v: Option<RawValue>) -> Result<CertificateId, Error> {
    let n = match v {
        None => return Err(bad(ErrorKind::MissingField, "id is required")),
        Some(RawValue::Integer(n)) => Some(n),
        Some(RawValue::Text(s)) => {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                None
            } else {
                s.parse::<u64>().ok()
            }
        }
        Some(_) => None,
    };
    n.and_then(CertificateId::new).ok_or_else(|| {
        Field::Id.must_be(&format!(
            "an integer from 1 to {}, or a string of its decimal digits",
            CertificateId::MAX
        ))
    })
}

fn read_format(v: Option<RawValue>) -> Result<Format, Error> {
    let unsupported = |names: &[&str]| Field::Format.must_be(&format!("one of {}", one_of(names)));
    let names: Vec<&str> = Format::ALL.iter().map(|f| f.as_str()).collect();
    match v {
        None => Err(bad(
            ErrorKind::MissingField,
            format!("format is required: one of {}", one_of(&names)),
        )),
        Some(RawValue::Text(s)) => Format::parse(&s).ok_or_else(|| unsupported(&names)),
        Some(_) => Err(unsupported(&names)),
    }
}

/// Whether the key goes out: always in a PFX (`download_key` is ignored, whatever its
/// value); never in a p7b (a key asked for is refused, not dropped).
fn read_wants_key(format: Format, download_key: Option<RawValue>) -> Result<bool, Error> {
    let asked = || match download_key {
        None => Ok(false),
        Some(RawValue::Bool(b)) => Ok(b),
        Some(RawValue::Text(s)) if s.eq_ignore_ascii_case("true") => Ok(true),
        Some(RawValue::Text(s)) if s.eq_ignore_ascii_case("false") => Ok(false),
        Some(_) => Err(Field::DownloadKey.must_be("true, false, \"true\", \"false\" or null")),
    };
    match format {
        Format::Pfx | Format::Kwp => Ok(true),
        Format::Pem | Format::Crt => asked(),
        Format::P7b if asked()? => Err(bad(
            ErrorKind::KeyNotSupported,
            format!("{P7B_CANNOT_CARRY_A_KEY}: download_key must be false"),
        )),
        Format::P7b => Ok(false),
    }
}

/// The password, when the key goes out; a password sent without the key is ignored (once
/// it is known to be text).
fn read_password(
    v: Option<RawValue>,
    format: Format,
    wants_key: bool,
    policy: &PasswordPolicy,
) -> Result<Option<Password>, Error> {
    let text = match v {
        None => None,
        Some(RawValue::Text(text)) => Some(text),
        Some(_) => return Err(Field::Password.must_be("a string")),
    };
    if !wants_key {
        return Ok(None);
    }
    let Some(mut text) = text.filter(|p| !p.is_empty()) else {
        let why = match format {
            Format::Pfx => format!("a password is required for the {format} format"),
            _ => "a password is required when download_key is true".to_owned(),
        };
        return Err(bad(ErrorKind::PasswordRequired, why));
    };
    // Move the text out without leaving a copy behind.
    Password::new(std::mem::take(&mut *text), policy).map(Some)
}

/// The recipient certificate, read; refused with pfx, and unless RSA with kwp. A p7b, or
/// pem and crt without the key, ignore it once it is read.
fn read_key_recipient(v: Option<RawValue>, format: Format) -> Result<Option<KeyRecipient>, Error> {
    let recipient = match v {
        None => return Ok(None),
        Some(RawValue::Text(text)) => KeyRecipient::from_pem_or_base64(&text)?,
        Some(_) => {
            return Err(
                Field::KeyRecipient.must_be("a string: an X.509 certificate in PEM or Base64 DER")
            );
        }
    };
    match (format, recipient.key_type()) {
        (Format::Pfx, _) => Err(pfx_recipient_refused()),
        (Format::Kwp, RecipientKeyType::Rsa { .. }) => Ok(Some(recipient)),
        (Format::Kwp, other) => Err(kwp_requires_rsa(other)),
        _ => Ok(Some(recipient)),
    }
}

/// An optional boolean field, true when absent.
fn read_bool(field: Field, v: Option<RawValue>) -> Result<bool, Error> {
    match v {
        None => Ok(true),
        Some(RawValue::Bool(b)) => Ok(b),
        Some(_) => Err(field.must_be("true or false")),
    }
}

/// An optional field that takes one of the wire names of `all`, matched exactly.
fn read_name<T: Copy>(
    field: Field,
    v: Option<RawValue>,
    all: &[T],
    name: fn(T) -> &'static str,
) -> Result<Option<T>, Error> {
    let known = match &v {
        None => return Ok(None),
        Some(RawValue::Text(s)) => all.iter().copied().find(|t| name(*t) == s.as_str()),
        Some(_) => None,
    };
    known.map(Some).ok_or_else(|| {
        let names: Vec<&str> = all.iter().map(|t| name(*t)).collect();
        field.must_be(&either(&names))
    })
}

fn read_friendly_name(v: Option<RawValue>) -> Result<Option<FriendlyName>, Error> {
    match v {
        None => Ok(None),
        Some(RawValue::Text(mut s)) => FriendlyName::new(std::mem::take(&mut *s)).map(Some),
        Some(_) => Err(Field::FriendlyName.must_be("a string")),
    }
}
