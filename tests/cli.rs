//! The command-line example (`examples/download.rs`) as the contract's last section
//! specifies it: a request on standard input, one JSON object on standard output, exit 0 on
//! success and 1 on any error, `--store DIR`, `--iterations N`.

#[path = "contract/support.rs"]
mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use cert_download::MAX_BODY_BYTES;
use pkcs8::EncryptedPrivateKeyInfoRef;
use serde_json::{Value, json};
use support::*;

/// Builds the example once (`cargo build --example download`) and returns its path, as
/// cargo reports it (so that `CARGO_TARGET_DIR` and friends are honoured).
fn binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let output = Command::new(env!("CARGO"))
            .args([
                "build",
                "--example",
                "download",
                "--message-format=json-render-diagnostics",
            ])
            .current_dir(manifest_dir())
            .stdin(Stdio::null())
            .output()
            .expect("cargo runs");
        assert!(
            output.status.success(),
            "cargo build --example download failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        stdout
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "download")
            .find_map(|m| m["executable"].as_str().map(PathBuf::from))
            .expect("cargo reports the example's executable")
    })
}

/// A tool the test needs: a missing one fails the test with a clear message.
fn require_tool(name: &str) {
    let found = Command::new(name)
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(
        found,
        "this test needs the `{name}` command on PATH; install it (e.g. apt-get install {name})"
    );
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The one JSON object on standard output: its fields in order.
    #[track_caller]
    fn json(&self) -> Vec<(String, Value)> {
        assert!(
            self.stdout.ends_with('\n') && self.stdout.matches('\n').count() == 1,
            "stdout is not one line: {:.300}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        ordered_fields(self.stdout.trim_end())
    }

    #[track_caller]
    fn field(&self, name: &str) -> Value {
        self.json()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("no field {name} in {:.300}", self.stdout))
    }

    /// A success: exit 0; the response object.
    #[track_caller]
    fn ok(&self, what: &str) -> &Self {
        assert_eq!(
            self.code,
            Some(0),
            "{what}: exit code; stdout {:.300}; stderr {}",
            self.stdout,
            self.stderr
        );
        let names: Vec<String> = self.json().into_iter().map(|(k, _)| k).collect();
        assert!(
            names == ["certificate", "format"]
                || names == ["certificate", "format", "key", "key_format"],
            "{what}: response fields {names:?}"
        );
        self
    }

    /// A failure: exit 1; the error body with this status and code.
    #[track_caller]
    fn err(&self, status: u16, code: &str, what: &str) -> &Self {
        assert_eq!(
            self.code,
            Some(1),
            "{what}: exit code; stdout {:.300}; stderr {}",
            self.stdout,
            self.stderr
        );
        let fields = self.json();
        let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            ["status", "error", "message"],
            "{what}: {}",
            self.stdout
        );
        assert_eq!(fields[0].1, Value::from(status), "{what}: {}", self.stdout);
        assert_eq!(fields[1].1, Value::from(code), "{what}: {}", self.stdout);
        self
    }

    /// Decodes a Base64 field.
    #[track_caller]
    fn bytes(&self, name: &str) -> Vec<u8> {
        match self.field(name) {
            Value::String(s) => strict_base64(&s),
            other => panic!("{name} is not a string: {other}"),
        }
    }

    #[track_caller]
    fn no_password(&self, what: &str) {
        for (stream, text) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            assert!(
                !text.contains(PASSWORD) && !text.contains("S3cret-Pa55"),
                "{what}: the password shows on {stream}: {text}"
            );
        }
    }
}

fn run_cli(args: &[&str], stdin: impl Into<Vec<u8>>) -> Run {
    let mut child = Command::new(binary())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the example starts");
    let mut input = child.stdin.take().expect("a stdin pipe");
    let stdin = stdin.into();
    // The example may stop reading after 64 KiB + 1: a broken pipe is expected then.
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let output = child.wait_with_output().expect("the example runs");
    writer.join().expect("the writer thread");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn fixtures_arg() -> String {
    fixture_root().to_str().expect("a UTF-8 path").to_owned()
}

/// Runs against the fixture store with 1,000 iterations.
fn run_fixtures(stdin: impl Into<Vec<u8>>) -> Run {
    let store = fixtures_arg();
    run_cli(&["--store", &store, "--iterations", "1000"], stdin)
}

/// The PBKDF2 iteration count of a DER `EncryptedPrivateKeyInfo`.
fn pbkdf2_iterations(der: &[u8]) -> u32 {
    let info = EncryptedPrivateKeyInfoRef::try_from(der).expect("an EncryptedPrivateKeyInfo");
    info.encryption_algorithm
        .pbes2()
        .and_then(|p| p.kdf.pbkdf2())
        .expect("PBES2 with PBKDF2")
        .iteration_count
}

#[test]
fn every_format_succeeds_with_exit_0_and_one_json_object() {
    for n in [1, 4, 9] {
        for kind in Kind::ALL {
            let what = format!("record {n}, {kind:?}");
            let run = run_fixtures(kind.body(n));
            run.ok(&what);
            run.no_password(&what);
            assert_eq!(run.field("format"), Value::from(kind.format()), "{what}");
            let certificate = run.bytes("certificate");
            match kind {
                Kind::Crt | Kind::CrtKey => {
                    assert_eq!(certificate, fixture_leaf(n), "{what}: the leaf DER");
                }
                Kind::Pem | Kind::PemKey => {
                    let text = String::from_utf8(certificate).expect("PEM text");
                    assert!(text.starts_with("-----BEGIN CERTIFICATE-----\n"), "{what}");
                    assert_eq!(
                        text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"),
                        kind == Kind::PemKey,
                        "{what}"
                    );
                }
                Kind::Pfx => assert_eq!(certificate.first(), Some(&0x30), "{what}: DER"),
                Kind::P7b => {
                    assert_eq!(certificate.first(), Some(&0x30), "{what}: DER");
                    let leaf = fixture_leaf(n);
                    assert!(contains_bytes(&certificate, &leaf), "{what}: the leaf");
                }
            }
            if kind == Kind::CrtKey {
                assert_eq!(run.field("key_format"), Value::from("key"));
                assert_eq!(pbkdf2_iterations(&run.bytes("key")), 1000, "{what}");
            }
        }
    }
}

#[test]
fn iterations_sets_every_count_and_defaults_to_the_policy() {
    let store = fixtures_arg();
    let with = run_cli(
        &["--store", &store, "--iterations", "1000"],
        Kind::CrtKey.body(4),
    );
    with.ok("--iterations 1000");
    assert_eq!(pbkdf2_iterations(&with.bytes("key")), 1000);
    let without = run_cli(&["--store", &store], Kind::CrtKey.body(4));
    without.ok("default iterations");
    assert_eq!(pbkdf2_iterations(&without.bytes("key")), 10_000);
}

#[test]
fn openssl_reads_the_iteration_count_of_the_pfx() {
    require_tool("openssl");
    let dir = tempfile::tempdir().expect("a temporary directory");
    for (encryption, expected) in [
        (
            "aes256_sha256",
            &[
                "MAC: sha256, Iteration 1000",
                "PBES2, PBKDF2, AES-256-CBC, Iteration 1000, PRF hmacWithSHA256",
            ][..],
        ),
        (
            "tripledes_sha1",
            &[
                "MAC: sha1, Iteration 1000",
                "pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 1000",
            ][..],
        ),
    ] {
        let mut request = Kind::Pfx.json(1);
        request["pfx_encryption"] = Value::from(encryption);
        let run = run_fixtures(body(request));
        run.ok(encryption);
        let path = dir.path().join(format!("{encryption}.pfx"));
        std::fs::write(&path, run.bytes("certificate")).expect("write the pfx");
        let info = Command::new("openssl")
            .args([
                "pkcs12",
                "-info",
                "-noout",
                "-passin",
                "env:PFX_PASSWORD",
                "-in",
            ])
            .arg(&path)
            .env("PFX_PASSWORD", PASSWORD)
            .output()
            .expect("openssl runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&info.stdout),
            String::from_utf8_lossy(&info.stderr)
        );
        assert!(info.status.success(), "openssl pkcs12 -info: {text}");
        for line in expected {
            assert!(text.contains(line), "{encryption}: no {line:?} in:\n{text}");
        }
        // A wrong password is refused.
        let wrong = Command::new("openssl")
            .args([
                "pkcs12",
                "-info",
                "-noout",
                "-passin",
                "pass:wrong-password",
                "-in",
            ])
            .arg(&path)
            .output()
            .expect("openssl runs");
        assert!(
            !wrong.status.success(),
            "{encryption}: a wrong password opened it"
        );
    }
}

#[test]
fn pbmac1_goes_through_the_command_line_with_the_policy_iterations() {
    use der::Decode;
    use der::asn1::ObjectIdentifier;
    // id-PBMAC1 (RFC 9879) and id-PBKDF2 (RFC 8018).
    const PBMAC1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.5.14");
    const PBKDF2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.5.12");
    let mut request = Kind::Pfx.json(1);
    request["pfx_encryption"] = Value::from("aes256_sha256_pbmac1");
    let run = run_fixtures(body(request));
    run.ok("pbmac1");
    run.no_password("pbmac1");
    assert_eq!(run.field("format"), Value::from("pfx"));
    let pfx = pkcs12::pfx::Pfx::from_der(&run.bytes("certificate")).expect("a PFX");
    let mac = pfx.mac_data.expect("MacData").mac;
    assert_eq!(mac.algorithm.oid, PBMAC1);
    // PBMAC1-params ::= SEQUENCE { keyDerivationFunc AlgorithmIdentifier, messageAuthScheme
    // AlgorithmIdentifier }; the KDF is PBKDF2 with the policy's MAC count (1000 here).
    let params = mac.algorithm.parameters.expect("PBMAC1-params");
    let params: Vec<spki::AlgorithmIdentifierOwned> = params.decode_as().expect("a SEQUENCE");
    assert_eq!(params[0].oid, PBKDF2);
    let kdf = params[0].parameters.as_ref().expect("PBKDF2-params");
    let kdf: pkcs5::pbes2::Pbkdf2Params = kdf.decode_as().expect("PBKDF2-params");
    assert_eq!(kdf.iteration_count, 1000);
    assert_eq!(kdf.key_length, Some(32));
}

#[test]
fn the_default_store_is_the_demo_store() {
    let fast = ["--iterations", "1000"];
    let ok_cases = [
        json!({"id": "12345", "format": "pfx", "password": "securepassword123"}),
        json!({"id": 12345, "format": "crt", "download_key": "true", "password": PASSWORD}),
        json!({"id": 1001, "format": "pem", "download_key": true, "password": PASSWORD}),
        json!({"id": "1002", "format": "CRT", "download_key": true, "password": PASSWORD}),
        json!({"id": 1003, "format": "pem"}),
        json!({"id": 1003, "format": "crt", "password": PASSWORD}),
        json!({"id": 1004, "format": "pfx", "password": PASSWORD}),
        json!({"id": "12345", "format": "p7b", "include_root": false}),
        json!({"id": 1003, "format": "P7B", "password": PASSWORD}),
    ];
    for request in ok_cases {
        let run = run_cli(&fast, body(request.clone()));
        run.ok(&request.to_string());
        run.no_password(&request.to_string());
    }
    let run = run_cli(
        &fast,
        body(json!({"id": 1003, "format": "pfx", "password": PASSWORD})),
    );
    run.err(404, "key_not_found", "1003 has no key");
    run.no_password("1003");
    run_cli(&fast, Kind::Pem.body(MISSING_ID)).err(
        404,
        "certificate_not_found",
        "not in the demo store",
    );
}

#[test]
fn every_error_exits_1_with_the_error_body_and_no_password() {
    let p = PASSWORD;
    let with = |extra: Value| {
        let mut v = Kind::Pfx.json(1);
        for (k, x) in extra.as_object().expect("an object") {
            v[k] = x.clone();
        }
        body(v)
    };
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("empty stdin", Vec::new(), 400, "invalid_json"),
        (
            "not JSON",
            format!("password={p}").into_bytes(),
            400,
            "invalid_json",
        ),
        (
            "trailing garbage",
            [Kind::Pfx.body(1), format!(" {p}").into_bytes()].concat(),
            400,
            "invalid_json",
        ),
        (
            "unterminated",
            format!(r#"{{"id":1,"format":"pfx","password":"{p}"#).into_bytes(),
            400,
            "invalid_json",
        ),
        (
            "no id",
            body(json!({"format": "pfx", "password": p})),
            400,
            "missing_field",
        ),
        ("id 0", with(json!({"id": 0})), 400, "invalid_id"),
        (
            "id as the password",
            with(json!({"id": p})),
            400,
            "invalid_id",
        ),
        (
            "p12",
            with(json!({"format": "p12"})),
            400,
            "unsupported_format",
        ),
        (
            "typo",
            with(json!({"downloadKey": true})),
            400,
            "unknown_field",
        ),
        (
            "password twice",
            format!(r#"{{"id":1,"format":"pfx","password":"{p}","password":"{p}"}}"#).into_bytes(),
            400,
            "duplicate_field",
        ),
        (
            "no password",
            body(json!({"id": 1, "format": "pfx"})),
            400,
            "password_required",
        ),
        (
            "control character",
            with(json!({"password": format!("{p}\n")})),
            400,
            "password_control_character",
        ),
        (
            "too long",
            with(json!({"password": p.repeat(100)})),
            400,
            "password_too_long",
        ),
        (
            "too short",
            with(json!({"password": "short"})),
            400,
            "password_too_short",
        ),
        (
            "bad friendly_name",
            with(json!({"friendly_name": format!("{p}\u{7}")})),
            400,
            "invalid_friendly_name",
        ),
        (
            "not found",
            Kind::Pfx.body(MISSING_ID),
            404,
            "certificate_not_found",
        ),
        ("no key", Kind::CrtKey.body(10), 404, "key_not_found"),
        ("mismatch", Kind::Pfx.body(11), 500, "key_mismatch"),
        ("mismatch EC", Kind::PemKey.body(12), 500, "key_mismatch"),
        (
            "corrupt certificate",
            Kind::Pem.body(13),
            500,
            "invalid_certificate",
        ),
        ("Ed448", Kind::Pfx.body(17), 500, "unsupported_key"),
        ("corrupt key", Kind::CrtKey.body(18), 500, "invalid_key"),
    ];
    for (what, stdin, status, code) in cases {
        let run = run_fixtures(stdin);
        run.err(status, code, what);
        run.no_password(what);
    }
}

#[test]
fn a_body_over_64_kib_is_400_exit_1() {
    let mut request = Kind::Pfx.json(1);
    request["friendly_name"] = Value::from("x");
    let mut stdin = body(request);
    let tail = stdin.pop().expect("a closing brace");
    stdin.resize(70 * 1024 - 1, b' ');
    stdin.push(tail);
    let run = run_fixtures(stdin);
    run.err(400, "body_too_large", "70 KiB");
    run.no_password("70 KiB");
    // The password past the limit.
    let stdin = format!(
        r#"{{"id":1,"format":"pfx","x":"{}","password":"{PASSWORD}"}}"#,
        "y".repeat(70 * 1024)
    );
    let run = run_fixtures(stdin);
    run.err(400, "body_too_large", "password after 70 KiB");
    run.no_password("password after 70 KiB");
    // Exactly 64 KiB is fine.
    let mut stdin = Kind::Pem.body(1);
    let tail = stdin.pop().expect("a closing brace");
    stdin.resize(MAX_BODY_BYTES - 1, b'\n');
    stdin.push(tail);
    run_fixtures(stdin).ok("64 KiB");
}

#[test]
fn store_option_points_at_any_directory_store() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let empty = dir.path().to_str().expect("UTF-8").to_owned();
    run_cli(&["--store", &empty], Kind::Pem.body(1)).err(
        404,
        "certificate_not_found",
        "empty store",
    );
    // A copy of one fixture record under another id.
    let record = dir.path().join("77");
    std::fs::create_dir(&record).expect("mkdir");
    for file in ["cert.pem", "chain.pem", "key.pem"] {
        std::fs::copy(fixture_root().join("4").join(file), record.join(file)).expect("copy");
    }
    let run = run_cli(
        &["--store", &empty, "--iterations", "1000"],
        Kind::Crt.body(77),
    );
    run.ok("copied record");
    assert_eq!(run.bytes("certificate"), fixture_leaf(4));
}

#[test]
fn bad_arguments_exit_1() {
    let store = fixtures_arg();
    for args in [
        &["--iterations", "0"][..],
        &["--iterations", "300001"],
        &["--iterations", "many"],
        &["--iterations"],
        &["--store"],
        &["--store", &store, "--unknown"],
        &["extra"],
    ] {
        let run = run_cli(args, Kind::Pem.body(1));
        assert_eq!(run.code, Some(1), "{args:?}: {}{}", run.stdout, run.stderr);
        assert!(
            !run.stdout.contains("\"certificate\""),
            "{args:?}: no download with bad arguments"
        );
    }
    // 300,000 is the most .NET accepts, and allowed.
    run_cli(
        &["--store", &store, "--iterations", "300000"],
        Kind::Crt.body(1),
    )
    .ok("300000 iterations");
}
