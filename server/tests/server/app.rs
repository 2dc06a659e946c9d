//! The service in-process: the library's router built from command-line arguments, as the
//! binary builds it, and driven with `tower::ServiceExt::oneshot`. No socket, no TLS: what
//! those add is tested against the process (`process.rs`, and the attack tests from
//! `body_timeouts.rs` to `shutdown.rs`).

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, header};
use cert_download_server::{Config, Options, PATH, app};
use clap::Parser;
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::harness::{ADMIN, READER, Reply};

/// The router of a server started with some arguments.
#[derive(Clone)]
pub(crate) struct App {
    router: axum::Router,
    /// The address requests come from.
    pub(crate) peer: SocketAddr,
    /// Directories that must live as long as the router (a temporary store).
    _keep: std::sync::Arc<Vec<tempfile::TempDir>>,
}

impl App {
    /// As `cert-download-server ARGS` would serve it (the demo store and tokens unless the
    /// arguments name others). Inside a tokio runtime.
    pub(crate) fn start(args: &[&str]) -> App {
        Self::start_keeping(args, Vec::new())
    }

    /// Like [`App::start`], keeping `keep` alive as long as the router.
    pub(crate) fn start_keeping(args: &[&str], keep: Vec<tempfile::TempDir>) -> App {
        let options = Options::try_parse_from(
            std::iter::once("cert-download-server").chain(args.iter().copied()),
        )
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        let config = Config::from_options(&options).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        App {
            router: app(config),
            peer: SocketAddr::from(([127, 0, 0, 1], 40000)),
            _keep: std::sync::Arc::new(keep),
        }
    }

    /// The demo store with the default limits.
    pub(crate) fn demo() -> App {
        Self::start(&[])
    }

    /// Sends one request, as from [`App::peer`], and reads the whole answer.
    pub(crate) async fn send(&self, mut request: Request<Body>) -> Reply {
        request.extensions_mut().insert(ConnectInfo(self.peer));
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .unwrap_or_else(|e| match e {});
        let (parts, body) = response.into_parts();
        let bytes = body
            .collect()
            .await
            .expect("an in-process body cannot fail")
            .to_bytes();
        Reply {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    /// `method path` with these header fields and this body.
    pub(crate) async fn request(
        &self,
        method: Method,
        path: &str,
        fields: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> Reply {
        let mut request = Request::builder().method(method).uri(path);
        for (name, value) in fields {
            request = request.header(*name, *value);
        }
        self.send(request.body(body.into()).expect("a valid request"))
            .await
    }

    /// POSTs `body` to the endpoint with `Authorization: Bearer <token>` if given and
    /// `Content-Type` if given.
    pub(crate) async fn post_with(
        &self,
        token: Option<&str>,
        content_type: Option<&str>,
        body: impl Into<Body>,
    ) -> Reply {
        let authorization = token.map(|t| format!("Bearer {t}"));
        let mut fields = Vec::new();
        fields.extend(
            authorization
                .as_deref()
                .map(|a| (header::AUTHORIZATION.as_str(), a)),
        );
        fields.extend(content_type.map(|c| (header::CONTENT_TYPE.as_str(), c)));
        self.request(Method::POST, PATH, &fields, body).await
    }

    /// POSTs `body` as `application/json` with the token if given.
    pub(crate) async fn post(&self, token: Option<&str>, body: &str) -> Reply {
        self.post_with(token, Some("application/json"), body.to_owned())
            .await
    }

    /// POSTs `body` as the demo admin (who may export keys).
    pub(crate) async fn admin(&self, body: &str) -> Reply {
        self.post(Some(ADMIN), body).await
    }

    /// POSTs `body` as the demo reader (who may not).
    pub(crate) async fn reader(&self, body: &str) -> Reply {
        self.post(Some(READER), body).await
    }
}
