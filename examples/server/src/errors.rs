//! Responses in the contract's error shape, `{"status", "error", "message"}`, always with
//! `Cache-Control: no-store`.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cert_download::Error;

/// The `error` code of an error response, kept beside it for the audit line.
#[derive(Clone, Debug)]
pub(crate) struct ErrorCode(pub(crate) String);

pub(crate) fn json_response(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    // Error bodies are harmless, but one rule for the endpoint is simpler to audit.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// An error body of the contract's shape for the HTTP-level refusals the library does not
/// see (size, framing, media type, method, path, limits).
pub(crate) fn http_error(status: StatusCode, code: &str, message: &str) -> Response {
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
    response.extensions_mut().insert(ErrorCode(code.to_owned()));
    response
}

pub(crate) fn library_error(error: &Error) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = json_response(status, error.to_json());
    response
        .extensions_mut()
        .insert(ErrorCode(error.code().to_owned()));
    if status == StatusCode::UNAUTHORIZED {
        // RFC 9110 §15.5.2: a 401 names the scheme to use (RFC 6750).
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

/// Says that the connection ends after this response: the request's body was not (or not
/// wholly) read, so the next bytes on it are not a request.
pub(crate) fn closing(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// `Retry-After` in whole seconds, at least 1 (RFC 9110 §10.2.3).
pub(crate) fn retry_after(mut response: Response, wait: Duration) -> Response {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
    response
}

/// 429 for a client over one of its rate limits.
pub(crate) fn too_many_requests(message: &str, wait: Duration) -> Response {
    retry_after(
        http_error(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", message),
        wait,
    )
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
    match status {
        StatusCode::REQUEST_TIMEOUT => closing(http_error(
            status,
            "request_timeout",
            "the request was not received and answered within the server's time limit",
        )),
        _ => {
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
            http_error(status, &code, &reason.to_ascii_lowercase())
        }
    }
}
