//! Beyond the seed: `key_recipient` and `kwp`. Every refusal is a 400 with its own code,
//! given before the store is asked anything; what goes out is opened here with RustCrypto
//! primitives only as a check of shape (the external readers are `interop/`'s).

use super::*;
use cert_download::policy::RecipientDelivery;
use cert_download::{KeyDelivery, KeyFormat, KeyRecipient, RecipientKeyType};

fn recipient_pem(name: &str) -> String {
    let path = manifest_dir().join(format!("tests/fixtures/recipients/{name}.pem"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn recipient_b64(name: &str) -> String {
    use base64::Engine;
    let der = CertificateDer::from_pem_slice(recipient_pem(name).as_bytes()).expect("a PEM cert");
    base64::engine::general_purpose::STANDARD.encode(der.as_ref())
}

/// A download with `policy` that must be refused before the store is asked anything.
#[track_caller]
fn refused_with(policy: &ExportPolicy, v: Value, code: &str, words: &[&str]) {
    let store = TestStore::fixtures();
    let e = expect_err(
        download_json(&body(v.clone()), &store, policy, &mut OsRandom),
        400,
        code,
        &v.to_string(),
    );
    for w in words {
        assert!(
            e.message().contains(w),
            "{code}: {:?} lacks {w:?}",
            e.message()
        );
    }
    assert_eq!(store.calls(), (0, 0), "{code}: the store was asked");
}

#[track_caller]
fn refused(v: Value, code: &str, words: &[&str]) {
    refused_with(&fast_policy(), v, code, words);
}

#[test]
fn password_and_key_recipient_together_are_refused() {
    for format in ["pem", "crt"] {
        refused(
            json!({"id": 1, "format": format, "download_key": true, "password": "long-enough-1",
                   "key_recipient": recipient_pem("rsa2048")}),
            "password_and_key_recipient",
            &["password", "key_recipient"],
        );
    }
    refused(
        json!({"id": 1, "format": "kwp", "password": "long-enough-1",
               "key_recipient": recipient_pem("rsa3072")}),
        "password_and_key_recipient",
        &["both"],
    );
}

#[test]
fn an_unreadable_recipient_is_refused() {
    let garbage_b64 = "MIIBAAAAAAAA";
    for (value, words) in [
        (json!("not a certificate"), &["PEM or Base64"][..]),
        (json!(garbage_b64), &["does not parse"][..]),
        (
            json!("-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n"),
            &["CERTIFICATE block"][..],
        ),
        (json!(""), &["PEM or Base64"][..]),
    ] {
        refused(
            json!({"id": 1, "format": "pem", "download_key": true, "key_recipient": value}),
            "invalid_key_recipient",
            words,
        );
    }
    for value in [json!(1), json!(true), json!(["x"]), json!({"pem": "x"})] {
        refused(
            json!({"id": 1, "format": "crt", "download_key": true, "key_recipient": value}),
            "invalid_key_recipient",
            &["key_recipient must be a string"],
        );
    }
}

#[test]
fn a_recipient_over_the_size_limit_is_refused() {
    use base64::Engine;
    // Base64 of 20 KiB: within the body limit, over the recipient limit.
    let big = base64::engine::general_purpose::STANDARD.encode(vec![0x30u8; 20 * 1024]);
    refused(
        json!({"id": 1, "format": "pem", "download_key": true, "key_recipient": big}),
        "key_recipient_too_large",
        &["16384 bytes"],
    );
}

#[test]
fn unsupported_recipient_keys_are_refused_each_with_its_reason() {
    for (name, code, words) in [
        ("ed25519", "unsupported_key_recipient", &["Ed25519"][..]),
        (
            "p224",
            "unsupported_key_recipient",
            &["curve other than"][..],
        ),
        ("rsa8448", "unsupported_key_recipient", &["8448 bits"][..]),
        (
            "rsa1024",
            "key_recipient_too_small",
            &["1024 bits", "2048"][..],
        ),
    ] {
        for form in [recipient_pem(name), recipient_b64(name)] {
            refused(
                json!({"id": 1, "format": "pem", "download_key": true, "key_recipient": form}),
                code,
                words,
            );
        }
    }
}

#[test]
fn pfx_to_a_recipient_is_refused() {
    refused(
        json!({"id": 1, "format": "pfx", "key_recipient": recipient_pem("rsa2048")}),
        "key_recipient_not_supported",
        &["pfx", "kwp"],
    );
    // Through the Rust API too.
    let recipient = KeyRecipient::from_pem_or_base64(&recipient_pem("rsa2048")).unwrap();
    let password = cert_download::Password::new("long-enough-1", &PasswordPolicy::DEFAULT).unwrap();
    let request = DownloadRequest::pfx(id(1), password).with_key_for(recipient);
    let store = TestStore::fixtures();
    expect_err(
        prepare(request, &store),
        400,
        "key_recipient_not_supported",
        "pfx",
    );
    assert_eq!(store.calls(), (0, 0));
}

#[test]
fn kwp_needs_an_rsa_recipient() {
    refused(
        json!({"id": 1, "format": "kwp"}),
        "key_recipient_required",
        &["kwp", "RSA"],
    );
    refused(
        json!({"id": 1, "format": "kwp", "password": "long-enough-1"}),
        "key_recipient_required",
        &["kwp"],
    );
    for (name, shown) in [
        ("p256", "EC P-256"),
        ("p384", "EC P-384"),
        ("p521", "EC P-521"),
    ] {
        refused(
            json!({"id": 1, "format": "kwp", "key_recipient": recipient_pem(name)}),
            "kwp_requires_rsa",
            &[shown, "RSA-OAEP"],
        );
    }
    refused(
        json!({"id": 1, "format": "kwp", "key_recipient": recipient_pem("rsa1024")}),
        "key_recipient_too_small",
        &["1024"],
    );
    // Through the Rust API too.
    let ec = KeyRecipient::from_pem_or_base64(&recipient_pem("p256")).unwrap();
    let store = TestStore::fixtures();
    expect_err(
        prepare(DownloadRequest::kwp(id(1), ec), &store),
        400,
        "kwp_requires_rsa",
        "kwp to P-256",
    );
    assert_eq!(store.calls(), (0, 0));
}

#[test]
fn the_policy_turns_recipient_delivery_off_or_requires_it() {
    let off = ExportPolicy::builder()
        .all_iterations(1)
        .recipient_delivery(RecipientDelivery::Off)
        .build()
        .unwrap();
    refused_with(
        &off,
        json!({"id": 1, "format": "crt", "download_key": true,
               "key_recipient": recipient_pem("p256")}),
        "key_recipient_not_allowed",
        &["password"],
    );
    refused_with(
        &off,
        json!({"id": 1, "format": "kwp", "key_recipient": recipient_pem("rsa3072")}),
        "key_recipient_not_allowed",
        &[],
    );
    let required = ExportPolicy::builder()
        .all_iterations(1)
        .recipient_delivery(RecipientDelivery::Required)
        .build()
        .unwrap();
    for v in [
        json!({"id": 1, "format": "pfx", "password": "long-enough-1"}),
        json!({"id": 1, "format": "pem", "download_key": true, "password": "long-enough-1"}),
        json!({"id": 1, "format": "crt", "download_key": true, "password": "long-enough-1"}),
    ] {
        refused_with(&required, v, "key_recipient_required", &["key_recipient"]);
    }
    // Without a key, and to a recipient, it serves.
    let store = TestStore::fixtures();
    expect_ok(
        download_json(
            &body(json!({"id": 1, "format": "pem"})),
            &store,
            &required,
            &mut OsRandom,
        ),
        "pem without key",
    );
    expect_ok(
        download_json(
            &body(json!({"id": 1, "format": "pem", "download_key": true,
                         "key_recipient": recipient_pem("p384")})),
            &store,
            &required,
            &mut OsRandom,
        ),
        "pem to a recipient",
    );
    // The least RSA size.
    let strict = ExportPolicy::builder()
        .all_iterations(1)
        .min_recipient_rsa_bits(3072)
        .build()
        .unwrap();
    refused_with(
        &strict,
        json!({"id": 1, "format": "kwp", "key_recipient": recipient_pem("rsa2048")}),
        "key_recipient_too_small",
        &["2048 bits", "3072"],
    );
    expect_ok(
        download_json(
            &body(json!({"id": 1, "format": "kwp", "key_recipient": recipient_pem("rsa3072")})),
            &store,
            &strict,
            &mut OsRandom,
        ),
        "kwp to RSA-3072 under a 3072 floor",
    );
}

#[test]
fn a_recipient_without_a_key_asked_for_is_read_and_ignored() {
    let store = TestStore::fixtures();
    for format in ["pem", "crt", "p7b"] {
        let response = expect_ok(
            run(
                &body(json!({"id": 1, "format": format, "key_recipient": recipient_pem("p256")})),
                &store,
            ),
            format,
        );
        assert!(!response.includes_key(), "{format}");
        assert_eq!(response.key(), None, "{format}");
    }
    assert_eq!(store.calls(), (3, 0), "the key is never asked for");
}

#[test]
fn the_request_says_how_its_key_goes_out() {
    let parse = |v: Value| DownloadRequest::from_json(&body(v)).expect("valid");
    let cms = parse(json!({"id": 1, "format": "pem", "download_key": true,
                           "key_recipient": recipient_b64("p521")}));
    assert_eq!(cms.key_delivery(), Some(KeyDelivery::EnvelopedData));
    assert!(cms.password().is_none());
    let recipient = cms.key_recipient().expect("a recipient");
    assert_eq!(recipient.key_type(), RecipientKeyType::P521);
    let der = CertificateDer::from_pem_slice(recipient_pem("p521").as_bytes()).unwrap();
    use sha2::Digest;
    let want: [u8; 32] = sha2::Sha256::digest(der.as_ref()).into();
    assert_eq!(recipient.sha256_fingerprint(), want);
    assert_eq!(recipient.certificate_der(), der.as_ref());
    let kwp = parse(json!({"id": 1, "format": "KWP", "key_recipient": recipient_pem("rsa3072")}));
    assert_eq!(kwp.format(), Format::Kwp);
    assert_eq!(kwp.key_delivery(), Some(KeyDelivery::RsaAesKeyWrap));
    assert_eq!(
        kwp.key_recipient().unwrap().key_type(),
        RecipientKeyType::Rsa { bits: 3072 }
    );
    let password = parse(json!({"id": 1, "format": "pfx", "password": "long-enough-1"}));
    assert_eq!(password.key_delivery(), Some(KeyDelivery::Password));
    assert_eq!(KeyDelivery::EnvelopedData.as_str(), "cms");
    assert_eq!(KeyDelivery::RsaAesKeyWrap.as_str(), "kwp");
    assert_eq!(KeyDelivery::Password.as_str(), "password");
    let none = parse(json!({"id": 1, "format": "pem", "key_recipient": recipient_pem("p256")}));
    assert_eq!(none.key_delivery(), None);
    // The recipient's Debug shows its type and fingerprint, nothing else.
    let debug = format!("{cms:?}");
    assert!(
        debug.contains("key_recipient: Some(KeyRecipient { key_type: P521"),
        "{debug}"
    );
}

/// The response's shape for each delivery: pem ends in a CMS block, crt carries the CMS
/// DER with `key_format: "cms"`, kwp the wrapped key with `"rsa_aes_key_wrap"` and the
/// chain as PEM.
#[test]
fn recipient_responses_have_the_contract_shape() {
    let store = TestStore::fixtures();
    let pem = expect_ok(
        run(
            &body(json!({"id": 1, "format": "pem", "download_key": true,
                         "key_recipient": recipient_pem("rsa2048")})),
            &store,
        ),
        "pem",
    );
    let text = String::from_utf8(pem.certificate().to_vec()).unwrap();
    assert!(text.ends_with("-----END CMS-----\n"), "{text}");
    assert_eq!(text.matches("-----BEGIN CERTIFICATE-----").count(), 3);
    assert!(!text.contains("PRIVATE KEY"));
    assert!(pem.includes_key());
    assert_eq!(pem.key_format(), None);
    assert_eq!(
        field_names(&pem.to_json()),
        ["certificate", "format"],
        "pem has no key field"
    );

    let crt = expect_ok(
        run(
            &body(json!({"id": 4, "format": "crt", "download_key": "true",
                         "key_recipient": recipient_pem("p256")})),
            &store,
        ),
        "crt",
    );
    assert_eq!(crt.key_format(), Some(KeyFormat::EnvelopedData));
    let json = crt.to_json();
    assert_eq!(
        field_names(&json),
        ["certificate", "format", "key", "key_format"]
    );
    assert_eq!(string_field(&json, "key_format").as_deref(), Some("cms"));
    let info = pkcs12::cms::content_info::ContentInfo::from_der(crt.key().unwrap()).unwrap();
    assert_eq!(info.content_type.to_string(), "1.2.840.113549.1.7.3");

    let kwp = expect_ok(
        run(
            &body(json!({"id": 6, "format": "kwp", "key_recipient": recipient_pem("rsa3072")})),
            &store,
        ),
        "kwp",
    );
    let json = kwp.to_json();
    assert_eq!(
        field_names(&json),
        ["certificate", "format", "key", "key_format"]
    );
    assert_eq!(string_field(&json, "format").as_deref(), Some("kwp"));
    assert_eq!(
        string_field(&json, "key_format").as_deref(),
        Some("rsa_aes_key_wrap")
    );
    let text = String::from_utf8(kwp.certificate().to_vec()).unwrap();
    assert_eq!(text.matches("-----BEGIN CERTIFICATE-----").count(), 3);
    assert!(!text.contains("CMS") && !text.contains("PRIVATE KEY"));
    // 384 bytes of RSA-3072, then RFC 5649 output: 8 bytes more than the key padded to 8.
    let key = kwp.key().unwrap();
    let pkcs8 = fixture_key_der(6).unwrap();
    assert_eq!(key.len(), 384 + pkcs8.len().div_ceil(8) * 8 + 8);
}
