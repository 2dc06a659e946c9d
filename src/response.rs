//! The download response and its JSON form.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::ser::{Serialize, SerializeStruct, Serializer};

use crate::request::Format;

/// A successful download: the file, and for crt with a key, the encrypted key beside it.
///
/// It serializes to the contract's JSON: `certificate`, `format`, then for crt with a key
/// `key` and `key_format`, Base64 in the standard alphabet, padded, without line breaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DownloadResponse {
    format: Format,
    certificate: Vec<u8>,
    key: Option<Vec<u8>>,
    includes_key: bool,
}

impl DownloadResponse {
    pub(crate) fn new(
        format: Format,
        certificate: Vec<u8>,
        key: Option<Vec<u8>>,
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

    /// The file itself: the PKCS#12 DER, the PEM text, the DER leaf, or the PKCS#7 DER.
    pub fn certificate(&self) -> &[u8] {
        &self.certificate
    }

    /// For crt with a key: the DER `EncryptedPrivateKeyInfo`.
    pub fn key(&self) -> Option<&[u8]> {
        self.key.as_deref()
    }

    /// Whether a (password-encrypted) private key is in the response.
    pub fn includes_key(&self) -> bool {
        self.includes_key
    }

    /// The response body of the contract.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(64 + self.certificate.len().div_ceil(3) * 4);
        out.push_str("{\"certificate\":\"");
        STANDARD.encode_string(&self.certificate, &mut out);
        out.push_str("\",\"format\":\"");
        out.push_str(self.format.as_str());
        out.push('"');
        if let Some(key) = &self.key {
            out.push_str(",\"key\":\"");
            STANDARD.encode_string(key, &mut out);
            out.push_str("\",\"key_format\":\"key\"");
        }
        out.push('}');
        out
    }
}

impl Serialize for DownloadResponse {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let len = if self.key.is_some() { 4 } else { 2 };
        let mut s = serializer.serialize_struct("DownloadResponse", len)?;
        s.serialize_field("certificate", &STANDARD.encode(&self.certificate))?;
        s.serialize_field("format", self.format.as_str())?;
        if let Some(key) = &self.key {
            s.serialize_field("key", &STANDARD.encode(key))?;
            s.serialize_field("key_format", "key")?;
        }
        s.end()
    }
}
