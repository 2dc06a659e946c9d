//! The contract of `POST /api/certificate/download` (docs/contract.md), rule by rule:
//! the request table, the error table, the response shape, the chain order, and the two
//! stores that ship. One module a concern; the helpers they share are here and in
//! `support.rs` (shared with the secrets, command-line and route tests).

mod support;
// The PKCS#12 reader that shares no code with the encoder.
#[path = "../common/mod.rs"]
mod common;

mod beyond;
mod body;
mod errors;
mod fields;
mod password;
mod recipient;
mod response;
mod store;

use cert_download::request::ChainOrder;
use cert_download::{
    CertificateDer, DirectoryStore, DownloadRequest, ErrorKind, ExportPolicy, Format,
    MAX_BODY_BYTES, OsRandom, PasswordPolicy, PfxEncryption, StoreError, download, download_json,
    prepare,
};
use der::Decode;
use pkcs8::EncryptedPrivateKeyInfoRef;
use pkcs8::pkcs5::pbes2;
use rustls_pki_types::pem::PemObject;
use serde_json::{Value, json};
use support::*;

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// A JSON string literal.
fn q(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

/// An object from raw `(name, JSON value text)` pairs, written as given (so duplicates,
/// big numbers and odd spellings survive).
fn obj(fields: &[(&str, &str)]) -> Vec<u8> {
    let inner: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}:{v}", q(k)))
        .collect();
    format!("{{{}}}", inner.join(",")).into_bytes()
}

/// One request the contract refuses with a 400 and this code.
struct Reject {
    what: String,
    body: Vec<u8>,
    code: &'static str,
}

fn reject(what: impl Into<String>, body: Vec<u8>, code: &'static str) -> Reject {
    Reject {
        what: what.into(),
        body,
        code,
    }
}

/// Every case is a 400 with its code from the parser, and the same 400 from
/// `download_json` with a store that panics when asked anything: the request is validated
/// completely before the store is asked. Returns the errors for further checks.
fn check_rejections(cases: &[Reject]) -> Vec<cert_download::Error> {
    assert!(!cases.is_empty());
    cases
        .iter()
        .map(|c| {
            let what = format!("{} (body {})", c.what, String::from_utf8_lossy(&c.body));
            let what = truncate(&what, 300);
            expect_err(run(&c.body, &PanicStore), 400, c.code, &what);
            expect_err(DownloadRequest::from_json(&c.body), 400, c.code, &what)
        })
        .collect()
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

#[track_caller]
fn accept(body: &[u8]) -> DownloadRequest {
    expect_ok(
        DownloadRequest::from_json(body),
        &truncate(&String::from_utf8_lossy(body), 300),
    )
}

/// The base fields of a key-less pem request for record 1.
const PEM: [(&str, &str); 2] = [("id", "1"), ("format", "\"pem\"")];

fn pem_with(extra: &[(&str, &str)]) -> Vec<u8> {
    let mut fields = PEM.to_vec();
    fields.extend_from_slice(extra);
    obj(&fields)
}

/// The base fields of the three requests that export the key, each with `extra` added.
fn keyed_with(extra: &[(&str, &str)]) -> Vec<(&'static str, Vec<u8>)> {
    let bases: [(&str, Vec<(&str, &str)>); 3] = [
        ("pfx", vec![("id", "1"), ("format", "\"pfx\"")]),
        (
            "pem+key",
            vec![("id", "1"), ("format", "\"pem\""), ("download_key", "true")],
        ),
        (
            "crt+key",
            vec![
                ("id", "1"),
                ("format", "\"crt\""),
                ("download_key", "\"TRUE\""),
            ],
        ),
    ];
    bases
        .into_iter()
        .map(|(name, mut fields)| {
            fields.extend_from_slice(extra);
            (name, obj(&fields))
        })
        .collect()
}

fn pem_certs_of(response: &cert_download::DownloadResponse) -> Vec<Vec<u8>> {
    pem_blocks(response.certificate())
        .into_iter()
        .filter(|(label, _)| label == "CERTIFICATE")
        .map(|(_, der)| der)
        .collect()
}

/// A backend error whose text must never reach a response.
const BACKEND_TEXT: &str =
    "connection to postgres://vault:hunter2@10.20.30.40:5432/certs refused at /srv/secret/path";

type MakeError = fn() -> StoreError;

fn backend_error() -> StoreError {
    StoreError::backend(BACKEND_TEXT)
}

/// The blocks of a PEM text, checking the contract's text rules on the way: LF line ends,
/// lines of at most 64 characters (exactly 64 but the last of a block), nothing between
/// or after the blocks.
fn pem_blocks(pem: &[u8]) -> Vec<(String, Vec<u8>)> {
    let text = std::str::from_utf8(pem).expect("PEM is UTF-8 (ASCII)");
    assert!(text.is_ascii(), "PEM is ASCII");
    assert!(!text.contains('\r'), "LF line ends only");
    assert!(text.ends_with('\n'), "the last line ends with LF");
    let mut blocks = Vec::new();
    let mut lines = text.lines();
    while let Some(begin) = lines.next() {
        let label = begin
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
            .unwrap_or_else(|| panic!("expected a BEGIN line, got {begin:?}"))
            .to_owned();
        let mut body: Vec<&str> = Vec::new();
        loop {
            let line = lines.next().expect("an END line");
            if line == format!("-----END {label}-----") {
                break;
            }
            body.push(line);
        }
        assert!(!body.is_empty(), "{label}: empty block");
        for (i, line) in body.iter().enumerate() {
            assert!(line.len() <= 64, "{label}: a line of {}", line.len());
            if i + 1 < body.len() {
                assert_eq!(line.len(), 64, "{label}: a short line inside the block");
            }
        }
        blocks.push((label, strict_base64(&body.concat())));
    }
    blocks
}
