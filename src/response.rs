//! The download response and its JSON form.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::ser::{Serialize, SerializeStruct, Serializer};

use crate::request::Format;

/// What the `key` field beside the file holds (crt with a key, kwp): the response's
/// `key_format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyFormat {
    /// A DER PKCS#8 `EncryptedPrivateKeyInfo` under the password (`"key"`).
    EncryptedPrivateKeyInfo,
    /// A DER CMS `ContentInfo` holding the `EnvelopedData` to the recipient (`"cms"`).
    EnvelopedData,
    /// RSA-OAEP-SHA-256 of an AES-256 key, then the PKCS#8 under RFC 5649 key wrap:
    /// PKCS#11's `CKM_RSA_AES_KEY_WRAP` input (`"rsa_aes_key_wrap"`).
    RsaAesKeyWrap,
}

impl KeyFormat {
    /// The name used on the wire, the `key_format` field.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyFormat::EncryptedPrivateKeyInfo => "key",
            KeyFormat::EnvelopedData => "cms",
            KeyFormat::RsaAesKeyWrap => "rsa_aes_key_wrap",
        }
    }
}

/// A successful download: the file, and for crt with a key or kwp, the key beside it.
///
/// It serializes to the contract's JSON: `certificate`, `format`, then for crt with a key
/// and for kwp `key` and `key_format`, Base64 in the standard alphabet, padded, without
/// line breaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DownloadResponse {
    format: Format,
    certificate: Vec<u8>,
    key: Option<(Vec<u8>, KeyFormat)>,
    includes_key: bool,
}

impl DownloadResponse {
    pub(crate) fn new(
        format: Format,
        certificate: Vec<u8>,
        key: Option<(Vec<u8>, KeyFormat)>,
        includes_key: bool,
    ) -> Self {
        Self {
            format,
            certificate,
            key,
            includes_key,
        }
    }

    /// The format of the file.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The file itself: the PKCS#12 DER, the PEM text (pem, kwp), the DER leaf, or the
    /// PKCS#7 DER.
    pub fn certificate(&self) -> &[u8] {
        &self.certificate
    }

    /// For crt with a key: the DER `EncryptedPrivateKeyInfo` or CMS `EnvelopedData`; for
    /// kwp: the `CKM_RSA_AES_KEY_WRAP` bytes. [`key_format`](Self::key_format) says which.
    pub fn key(&self) -> Option<&[u8]> {
        self.key.as_ref().map(|(key, _)| key.as_slice())
    }

    /// What [`key`](Self::key) holds.
    pub fn key_format(&self) -> Option<KeyFormat> {
        self.key.as_ref().map(|(_, format)| *format)
    }

    /// Whether a private key (encrypted under a password or to a recipient) is in the
    /// response.
    pub fn includes_key(&self) -> bool {
        self.includes_key
    }

    /// The fields of the contract's body, in its order: the one place that says what the
    /// JSON holds, written out by [`to_json`](Self::to_json) and by `Serialize`.
    fn fields(&self) -> impl Iterator<Item = (&'static str, Field<'_>)> {
        let key = self.key.as_ref().map(|(key, format)| {
            [
                ("key", Field::Base64(key)),
                ("key_format", Field::Text(format.as_str())),
            ]
        });
        [
            ("certificate", Field::Base64(&self.certificate)),
            ("format", Field::Text(self.format.as_str())),
        ]
        .into_iter()
        .chain(key.into_iter().flatten())
    }

    /// The response body of the contract.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(64 + self.certificate.len().div_ceil(3) * 4);
        out.push('{');
        for (i, (name, value)) in self.fields().enumerate() {
            if i > 0 {
                out.push(',');
            }
            // Names, Base64 and the wire names need no escaping in JSON.
            out.push('"');
            out.push_str(name);
            out.push_str("\":\"");
            match value {
                Field::Base64(bytes) => STANDARD.encode_string(bytes, &mut out),
                Field::Text(text) => out.push_str(text),
            }
            out.push('"');
        }
        out.push('}');
        out
    }
}

/// A value of the response's JSON: bytes written as Base64, or a fixed ASCII name.
enum Field<'a> {
    Base64(&'a [u8]),
    Text(&'static str),
}

impl Serialize for DownloadResponse {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("DownloadResponse", self.fields().count())?;
        for (name, value) in self.fields() {
            match value {
                Field::Base64(bytes) => s.serialize_field(name, &STANDARD.encode(bytes))?,
                Field::Text(text) => s.serialize_field(name, text)?,
            }
        }
        s.end()
    }
}
