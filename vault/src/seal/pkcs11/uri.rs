//! The RFC 7512 URI that names a KEK in a token ([`TokenUri`]): its parsing, with the
//! attributes this crate takes and the ones it refuses (`pin-value`), and its display,
//! which percent-escapes the labels and never shows the PIN file or the module.

use std::fmt;
use std::path::PathBuf;

use super::TokenError;

/// The module used when the URI names none and `CERT_DOWNLOAD_PKCS11_MODULE` is unset.
pub const DEFAULT_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// An RFC 7512 PKCS#11 URI naming a KEK: `pkcs11:token=LABEL;object=LABEL` with the query
/// attributes `pin-source=file:PATH` (required) and `module-path=PATH`. `pin-value` is
/// refused: a PIN in a URI ends up in shell histories, process lists and logs.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenUri {
    /// The module (`module-path`, else `CERT_DOWNLOAD_PKCS11_MODULE`, else [`DEFAULT_MODULE`]).
    pub module: PathBuf,
    /// The token's label.
    pub token: String,
    /// The key's label, which is also the KEK's id.
    pub object: String,
    /// The file holding the user PIN (mode 0600, owned by the process's user or root).
    pub pin_file: PathBuf,
}

impl fmt::Debug for TokenUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for TokenUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pkcs11:token={};object={}",
            escape(&self.token),
            escape(&self.object)
        )
    }
}

fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn unescape(value: &str) -> Result<String, TokenError> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| TokenError::Uri("a bad %-escape".into()))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| TokenError::Uri("a value is not UTF-8".into()))
}

impl TokenUri {
    /// Parses `pkcs11:...`. Errors name the attribute, never its value.
    pub fn parse(uri: &str) -> Result<Self, TokenError> {
        let rest = uri
            .strip_prefix("pkcs11:")
            .ok_or_else(|| TokenError::Uri("it does not start with pkcs11:".into()))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut token = None;
        let mut object = None;
        let mut module = None;
        let mut pin_file = None;
        let pairs = path
            .split(';')
            .map(|p| (p, false))
            .chain(query.split('&').map(|p| (p, true)));
        for (pair, in_query) in pairs {
            if pair.is_empty() {
                continue;
            }
            let (name, value) = pair
                .split_once('=')
                .ok_or_else(|| TokenError::Uri(format!("{:?} is not name=value", name_of(pair))))?;
            match (name, in_query) {
                ("pin-value", _) => {
                    return Err(TokenError::Uri(
                        "pin-value is refused: put the PIN in a file (mode 0600) and name it \
                         with ?pin-source=file:PATH"
                            .into(),
                    ));
                }
                ("token", false) => token = Some(unescape(value)?),
                ("object", false) => object = Some(unescape(value)?),
                ("type", false) => {
                    if value != "secret-key" {
                        return Err(TokenError::Uri("type must be secret-key".into()));
                    }
                }
                ("module-path", true) => module = Some(PathBuf::from(unescape(value)?)),
                ("pin-source", true) => {
                    let source = unescape(value)?;
                    let path = source.strip_prefix("file:").unwrap_or(&source);
                    let path = path.strip_prefix("//").unwrap_or(path);
                    if !path.starts_with('/') {
                        return Err(TokenError::Uri(
                            "pin-source must be file:/ABSOLUTE/PATH".into(),
                        ));
                    }
                    pin_file = Some(PathBuf::from(path));
                }
                (other, _) => {
                    return Err(TokenError::Uri(format!(
                        "the attribute {:?} is not supported here (token, object, type; \
                         ?module-path, pin-source)",
                        name_of(other)
                    )));
                }
            }
        }
        let token = token.ok_or_else(|| TokenError::Uri("token=LABEL is missing".into()))?;
        let object = object.ok_or_else(|| TokenError::Uri("object=LABEL is missing".into()))?;
        if !crate::seal::kek_file::valid_id(&object) {
            return Err(TokenError::Uri(
                "the object label is the KEK's id: 1 to 64 characters of A-Z a-z 0-9 . _ -".into(),
            ));
        }
        let pin_file = pin_file.ok_or_else(|| {
            TokenError::Uri("?pin-source=file:PATH is missing (the user PIN's file)".into())
        })?;
        let module = module
            .or_else(|| {
                std::env::var_os("CERT_DOWNLOAD_PKCS11_MODULE")
                    .filter(|m| !m.is_empty())
                    .map(PathBuf::from)
            })
            .unwrap_or_else(|| PathBuf::from(DEFAULT_MODULE));
        Ok(Self {
            module,
            token,
            object,
            pin_file,
        })
    }
}

/// An attribute name as it may be shown: at most 32 characters of the name.
fn name_of(pair: &str) -> String {
    pair.split('=')
        .next()
        .unwrap_or("")
        .chars()
        .take(32)
        .collect()
}
