//! The metrics listener, scraped after a known set of requests and read by a real
//! Prometheus parser (Python `prometheus_client`'s OpenMetrics parser): the counters equal
//! what the test sent, the histograms counted each download, and no label carries a
//! principal, an id or an address.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::process::{Process, free_port};

/// Reads the exposition with `prometheus_client` and prints every sample as JSON.
const PARSE: &str = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
samples = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        samples.append({"family": family.name, "type": family.type, "name": s.name,
                        "labels": s.labels, "value": s.value})
print(json.dumps(samples))
"#;

struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

fn parse(text: &str) -> Vec<Sample> {
    let mut python = Command::new("python3")
        .args(["-c", PARSE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    python
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = python.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client refused the exposition: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let samples: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    samples
        .into_iter()
        .map(|s| Sample {
            name: s["name"].as_str().unwrap().to_owned(),
            labels: s["labels"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect(),
            value: s["value"].as_f64().unwrap(),
        })
        .collect()
}

/// The value of the sample `name` with exactly `labels`.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let want: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    samples
        .iter()
        .find(|s| s.name == name && s.labels == want)
        .map(|s| s.value)
}

#[cfg_attr(
    not(judge_prometheus_client),
    ignore = "needs Python prometheus_client: scripts/test-all installs it"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_counters_are_the_requests_sent() {
    let metrics_port = free_port();
    let metrics_addr = format!("127.0.0.1:{metrics_port}");
    let server = Process::start(&[
        "--insecure-http",
        "--listen",
        "127.0.0.1:0",
        "--metrics-listen",
        &metrics_addr,
    ]);
    let http = reqwest::Client::new();
    // What the test sent, as the requests family counts it: (status, code, format).
    let mut sent: BTreeMap<(String, String, String), u64> = BTreeMap::new();
    let crt = r#"{"id": 12345, "format": "crt"}"#;
    let pfx = r#"{"id": 12345, "format": "pfx", "password": "securepassword123"}"#;
    let missing = r#"{"id": 999999, "format": "crt"}"#;
    let requests = [
        ("demo-reader-token", crt, "crt"),
        ("demo-reader-token", crt, "crt"),
        ("demo-reader-token", crt, "crt"),
        ("demo-admin-token", pfx, "pfx"),
        ("demo-admin-token", pfx, "pfx"),
        ("demo-reader-token", pfx, "pfx"),
        ("demo-reader-token", missing, "crt"),
        ("a-wrong-token", crt, "-"),
        ("another-wrong-token", crt, "-"),
    ];
    for (token, body, format) in requests {
        let reply = http
            .post(&server.url)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = reply.status().as_u16();
        let json: Value = serde_json::from_str(&reply.text().await.unwrap()).unwrap();
        let code = json["error"].as_str().unwrap_or("-").to_owned();
        *sent
            .entry((status.to_string(), code, format.to_owned()))
            .or_default() += 1;
    }
    // Probes and other paths are not downloads.
    for path in ["/healthz", "/readyz", "/nowhere"] {
        http.get(server.at(path)).send().await.unwrap();
    }
    // The service's own port does not serve the metrics.
    let on_service = http.get(server.at("/metrics")).send().await.unwrap();
    assert_eq!(on_service.status().as_u16(), 404);

    let scrape = http
        .get(format!("http://{metrics_addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(scrape.status().as_u16(), 200);
    assert!(
        scrape.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text"),
    );
    let text = scrape.text().await.unwrap();
    let samples = parse(&text);

    let counted: BTreeMap<(String, String, String), u64> = samples
        .iter()
        .filter(|s| s.name == "cert_download_requests_total")
        .map(|s| {
            (
                (
                    s.labels["status"].clone(),
                    s.labels["code"].clone(),
                    s.labels["format"].clone(),
                ),
                s.value as u64,
            )
        })
        .collect();
    assert_eq!(counted, sent, "requests_total against what was sent");
    assert!(sent.contains_key(&("403".into(), "key_export_forbidden".into(), "pfx".into())));
    assert!(sent.contains_key(&("404".into(), "certificate_not_found".into(), "crt".into())));

    let count = |name: &str, labels: &[(&str, &str)]| value(&samples, name, labels);
    assert_eq!(count("cert_download_auth_failures_total", &[]), Some(2.0));
    assert_eq!(count("cert_download_keys_exported_total", &[]), Some(2.0));
    let histogram = "cert_download_request_duration_seconds_count";
    assert_eq!(
        count(histogram, &[("format", "crt"), ("key", "false")]),
        Some(4.0)
    );
    assert_eq!(
        count(histogram, &[("format", "pfx"), ("key", "true")]),
        Some(3.0)
    );
    assert_eq!(count("cert_download_encode_queue_depth", &[]), Some(0.0));
    assert_eq!(count("cert_download_encode_shed_total", &[]), Some(0.0));
    assert_eq!(
        count("cert_download_tls_handshake_failures_total", &[]),
        Some(0.0)
    );
    assert_eq!(
        count(
            "cert_download_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        Some(1.0)
    );

    // Bounded labels: nothing a client chooses or is.
    for sample in &samples {
        for value in sample.labels.values() {
            for secret in ["reader", "admin", "127.0.0.1", "12345", "999999", "token"] {
                assert!(
                    !value.contains(secret),
                    "{} has a label value {value:?}",
                    sample.name
                );
            }
        }
    }
    server.stop();
}
