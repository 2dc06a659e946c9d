//! A download's answer as an [`http::Response`], for any framework built on the `http`
//! crate's types (axum, hyper, warp, actix-web through its `http` conversions).
//!
//! [`response`] writes what the contract and a careful service answer with, in one place:
//!
//! - the status of the download ([`Error::status`], 200 on success);
//! - the contract's JSON body ([`DownloadResponse::to_json`] or [`Error::to_json`]) with
//!   `Content-Type: application/json`;
//! - `Cache-Control: no-store` on every answer: a 200 carries a private key, and no answer
//!   about a certificate belongs in a shared cache;
//! - `WWW-Authenticate: Bearer` on a 401, as RFC 9110 requires of that status (a host that
//!   uses another scheme replaces the header).
//!
//! ```
//! use cert_download::{Error, ErrorKind};
//!
//! let answer = cert_download::http::response(Err(Error::from(ErrorKind::Unauthenticated)));
//! assert_eq!(answer.status(), 401);
//! assert_eq!(answer.headers()["content-type"], "application/json");
//! assert_eq!(answer.headers()["cache-control"], "no-store");
//! assert_eq!(answer.headers()["www-authenticate"], "Bearer");
//! assert!(answer.body().contains(r#""error":"unauthenticated""#));
//! ```
//!
//! The body is a `String`, which `http-body` implements `Body` for; map it into your
//! framework's body type where it wants another (`answer.map(Into::into)`).

use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue, WWW_AUTHENTICATE};
use http::{Response, StatusCode};

use crate::error::Error;
use crate::response::DownloadResponse;

/// The answer to a download: its status, JSON body and headers.
pub fn response(result: Result<DownloadResponse, Error>) -> Response<String> {
    match result {
        Ok(download) => answer(StatusCode::OK, download.to_json()),
        Err(error) => error_response(&error),
    }
}

/// The answer to a refused or failed download (also to a refusal of the host's own, such
/// as `Error::from(ErrorKind::Unauthenticated)` before the body is read).
pub fn error_response(error: &Error) -> Response<String> {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut answer = answer(status, error.to_json());
    if status == StatusCode::UNAUTHORIZED {
        answer
            .headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    answer
}

fn answer(status: StatusCode, body: String) -> Response<String> {
    let mut answer = Response::new(body);
    *answer.status_mut() = status;
    let headers = answer.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    answer
}
