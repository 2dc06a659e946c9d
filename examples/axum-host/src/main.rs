//! Serves the demo store over plain HTTP on loopback: `cargo run -p
//! cert-download-axum-host`, then POST to http://127.0.0.1:8080/api/certificate/download
//! with `Authorization: Bearer demo-admin-token`. (For TLS, limits and logs, see
//! server.)

use std::collections::HashMap;

use cert_download::ExportPolicy;
use cert_download_axum_host::{Host, app};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let store = concat!(env!("CARGO_MANIFEST_DIR"), "/../demo-store");
    let tokens = HashMap::from([
        ("demo-admin-token".to_owned(), true),
        ("demo-reader-token".to_owned(), false),
    ]);
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!(
        "listening on http://{}/api/certificate/download",
        listener.local_addr()?
    );
    axum::serve(
        listener,
        app(Host::new(store, tokens, ExportPolicy::default())?),
    )
    .await
}
