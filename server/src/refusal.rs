//! Answers in the contract's error shape, `{"status", "error", "message"}`, always with
//! `Cache-Control: no-store`; and [`Refusal`], the one type every refusal of the endpoint
//! is (authentication, limits, framing, the library's errors), audited in one place.

use std::borrow::Cow;
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cert_download::Error;

/// A body of JSON with `Cache-Control: no-store` (error bodies are harmless, but one rule
/// for the endpoint is simpler to audit).
pub(crate) fn json_response(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The contract's error body with that status (a 401 also names its scheme).
fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    #[derive(serde::Serialize)]
    struct Body<'a> {
        status: u16,
        error: &'a str,
        message: &'a str,
    }
    let body = Body {
        status: status.as_u16(),
        error: code,
        message,
    };
    let mut response = json_response(status, serde_json::to_string(&body).unwrap_or_default());
    if status == StatusCode::UNAUTHORIZED {
        // RFC 9110 §15.5.2: a 401 names the scheme to use (RFC 6750).
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

/// Why a request is not served, and how the answer says so.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    message: Cow<'static, str>,
    retry_after: Option<Duration>,
    /// The connection ends after the answer: what follows on it is not a request (a body
    /// not read), or not worth reading.
    close: bool,
}

impl Refusal {
    pub(crate) const fn new(status: StatusCode, code: &'static str, message: &'static str) -> Self {
        Self {
            status,
            code,
            message: Cow::Borrowed(message),
            retry_after: None,
            close: false,
        }
    }

    /// 429 for a client over one of its rate limits.
    pub(crate) fn too_many(message: &'static str, wait: Duration) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", message).retry_after(wait)
    }

    /// `Retry-After` in whole seconds, at least 1 (RFC 9110 §10.2.3).
    pub(crate) fn retry_after(mut self, wait: Duration) -> Self {
        self.retry_after = Some(wait);
        self
    }

    /// Closes the connection after the answer.
    pub(crate) fn closing(mut self) -> Self {
        self.close = true;
        self
    }

    pub(crate) fn into_response(self) -> Response {
        let mut response = error_response(self.status, self.code, &self.message);
        if let Some(wait) = self.retry_after {
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        if self.close {
            closing(&mut response);
        }
        response
    }
}

impl From<&Error> for Refusal {
    fn from(error: &Error) -> Self {
        Self {
            status: StatusCode::from_u16(error.status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code: error.code(),
            message: Cow::Owned(error.message().to_owned()),
            retry_after: None,
            close: false,
        }
    }
}

/// Says that the connection ends after this response.
pub(crate) fn closing(response: &mut Response) {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
}

/// 404 for every path but the endpoint's; the connection closes (nothing else to ask
/// for on it, and no reason to keep a slot for it).
pub(crate) async fn not_found() -> Response {
    Refusal::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "the only endpoint is POST /api/certificate/download",
    )
    .closing()
    .into_response()
}

/// 405 for every method but POST (axum adds `Allow`); the connection closes.
pub(crate) async fn method_not_allowed() -> Response {
    Refusal::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "use POST",
    )
    .closing()
    .into_response()
}

/// Gives the contract's body to an error response that a layer made without one (the
/// 408 of tower-http's `TimeoutLayer`); responses of the handler pass unchanged.
pub(crate) async fn shape_bare_errors(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || response.headers().contains_key(header::CONTENT_TYPE)
    {
        return response;
    }
    if status == StatusCode::REQUEST_TIMEOUT {
        return Refusal::new(
            status,
            "request_timeout",
            "the request was not received and answered within the server's time limit",
        )
        .closing()
        .into_response();
    }
    let reason = status.canonical_reason().unwrap_or("error");
    let code: String = reason
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    error_response(status, &code, &reason.to_ascii_lowercase())
}
