//! `--log-format json`: every line of the binary's log is one JSON object, and the audit
//! line carries the fields the text line carries.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::process::Process;

/// One download by the reader, then the log of the whole run.
async fn one_download(extra: &[&str]) -> String {
    let mut args = vec!["--insecure-http", "--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let server = Process::start(&args);
    let reply = reqwest::Client::new()
        .post(&server.url)
        .bearer_auth("demo-reader-token")
        .header("content-type", "application/json")
        .body(r#"{"id": 12345, "format": "crt"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status().as_u16(), 200);
    server.stop()
}

/// The names of `name=value` fields of a text line after its message.
fn text_fields(line: &str, message: &str) -> BTreeSet<String> {
    let after = line.split_once(message).map_or("", |(_, rest)| rest);
    after
        .split_whitespace()
        .filter_map(|w| w.split_once('=').map(|(k, _)| k.to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_log_lines_are_objects_with_the_text_lines_fields() {
    let json_log = one_download(&["--log-format", "json"]).await;
    let mut lines = Vec::new();
    for line in json_log.lines().filter(|l| !l.trim().is_empty()) {
        let value: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line:?}"));
        let object: Map<String, Value> = value
            .as_object()
            .unwrap_or_else(|| panic!("not an object: {line}"))
            .clone();
        for key in ["timestamp", "level", "target", "message"] {
            assert!(object.contains_key(key), "no {key}: {line}");
        }
        lines.push(object);
    }
    let audit = lines
        .iter()
        .find(|l| l["target"] == "audit" && l["message"] == "download")
        .unwrap_or_else(|| panic!("no audit line in {json_log}"));
    assert_eq!(audit["principal"], "reader");
    assert_eq!(audit["status"], 200);
    assert_eq!(audit["id"], 12345);
    assert_eq!(audit["format"], "crt");
    assert_eq!(audit["level"], "INFO");
    assert!(lines.iter().any(|l| l["message"] == "ready"), "{json_log}");

    let text_log = one_download(&[]).await;
    let text_audit = text_log
        .lines()
        .find(|l| l.contains(" audit: download "))
        .unwrap_or_else(|| panic!("no audit line in {text_log}"));
    let json_fields: BTreeSet<String> = audit
        .keys()
        .filter(|k| !["timestamp", "level", "target", "message"].contains(&k.as_str()))
        .cloned()
        .collect();
    assert_eq!(json_fields, text_fields(text_audit, " audit: download "));
}
