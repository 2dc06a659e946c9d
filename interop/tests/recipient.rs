//! Keys delivered to a recipient, opened by tools nobody here wrote:
//!
//! - CMS `EnvelopedData` (pem's `CMS` block, crt's `key` field): `openssl cms -decrypt
//!   -recip CERT -inkey KEY` then `openssl pkey` gives the stored key, for RSA (2048 and
//!   3072), P-256, P-384 and P-521 recipients and every stored key type; BouncyCastle's
//!   `CMSEnvelopedData` (tests/interop/BcEnveloped.java) gives it too. A wrong recipient key
//!   of the right type is refused by each.
//! - kwp: OpenSSL alone (`pkeyutl -decrypt` RSA-OAEP-SHA-256 of the first modulus-length
//!   bytes, then `enc -d -id-aes256-wrap-pad` of the rest) gives the stored PKCS#8; and
//!   SoftHSM2 imports it (`C_UnwrapKey` with `CKM_AES_KEY_WRAP_PAD` into a non-extractable
//!   private key object, src/bin/softhsm-import.rs), then signs a digest that `openssl`
//!   verifies with the leaf's public key. SoftHSM2 2.6.1 does RSA-OAEP with SHA-1 only, so
//!   the AES key comes out of the RSA-OAEP-SHA-256 step with OpenSSL and is loaded into the
//!   token.

#[allow(dead_code)]
#[path = "interop/mod.rs"]
mod interop;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use fixtures::{KeyKind, RECORDS, fast_policy, fixtures_dir, openssl_normalized_key, tempdir};
use interop::{beyond, fixtures, tools};
use tools::{JAVA, JAVAC, OPENSSL};

/// The recipients every stored key goes to as CMS.
const CMS_RECIPIENTS: [&str; 5] = ["rsa2048", "rsa3072", "p256", "p384", "p521"];
/// The recipients of kwp, with their modulus length in bytes.
const KWP_RECIPIENTS: [(&str, usize); 2] = [("rsa2048", 256), ("rsa3072", 384)];

fn recipient_dir() -> PathBuf {
    fixtures_dir().join("recipients")
}

fn recipient_cert(name: &str) -> PathBuf {
    recipient_dir().join(format!("{name}.pem"))
}

fn recipient_key(name: &str) -> PathBuf {
    recipient_dir().join(format!("{name}.key.pem"))
}

fn stored_key(id: u64) -> PathBuf {
    fixtures_dir().join(format!("store/{id}/key.pem"))
}

fn download(body: Value) -> cert_download::DownloadResponse {
    fixtures::download(&body, &fast_policy())
}

/// The CMS block of a pem download to `recipient`, and the CMS DER of a crt download.
fn cms_of(id: u64, recipient: &str) -> (String, Vec<u8>) {
    let pem_text = recipient_cert(recipient);
    let pem_text = std::fs::read_to_string(pem_text).expect("the recipient certificate");
    let pem = download(json!({"id": id, "format": "pem", "download_key": true,
                              "key_recipient": pem_text}));
    let text = String::from_utf8(pem.certificate().to_vec()).expect("PEM text");
    let at = text.find("-----BEGIN CMS-----").expect("a CMS block");
    assert!(
        text.ends_with("-----END CMS-----\n"),
        "the CMS block comes last"
    );
    let crt = download(json!({"id": id, "format": "crt", "download_key": true,
                              "key_recipient": pem_text}));
    assert_eq!(
        crt.key_format().map(|f| f.as_str()),
        Some("cms"),
        "crt key_format"
    );
    (
        text[at..].to_owned(),
        crt.key().expect("the crt key").to_vec(),
    )
}

/// The private key `openssl cms -decrypt` gets out of `file`, normalized by `openssl pkey`.
fn openssl_cms_key(file: &Path, inform: &str, recipient: &str) -> Vec<u8> {
    let dir = tempdir();
    let out = dir.path().join("key.der");
    OPENSSL
        .cmd()
        .args(["cms", "-decrypt", "-inform", inform, "-in"])
        .arg(file)
        .arg("-recip")
        .arg(recipient_cert(recipient))
        .arg("-inkey")
        .arg(recipient_key(recipient))
        .arg("-out")
        .arg(&out)
        .ok();
    OPENSSL
        .cmd()
        .args(["pkey", "-inform", "DER", "-outform", "DER", "-in"])
        .arg(&out)
        .ok()
        .stdout
}

#[test]
#[cfg_attr(
    not(judge_openssl),
    ignore = "needs the openssl CLI: scripts/test-all installs it"
)]
fn openssl_opens_cms_to_every_recipient_for_every_key_type() {
    let dir = tempdir();
    for recipient in CMS_RECIPIENTS {
        for record in RECORDS {
            let (block, der) = cms_of(record.id, recipient);
            let (stored, _) = openssl_normalized_key(&stored_key(record.id));
            let pem_file = dir.path().join("key.cms.pem");
            std::fs::write(&pem_file, &block).unwrap();
            let der_file = dir.path().join("key.cms.der");
            std::fs::write(&der_file, &der).unwrap();
            for (file, inform) in [(&pem_file, "PEM"), (&der_file, "DER")] {
                assert!(
                    openssl_cms_key(file, inform, recipient) == stored,
                    "record {} to {recipient} ({inform}): openssl gives another key",
                    record.id
                );
            }
        }
    }
}

#[test]
#[cfg_attr(
    not(judge_openssl),
    ignore = "needs the openssl CLI: scripts/test-all installs it"
)]
fn openssl_refuses_cms_with_a_wrong_recipient_key() {
    let dir = tempdir();
    for (recipient, wrong) in [("rsa2048", "wrong-rsa2048"), ("p256", "wrong-p256")] {
        let (_, der) = cms_of(4, recipient);
        let file = dir.path().join("key.cms.der");
        std::fs::write(&file, &der).unwrap();
        let out = OPENSSL
            .cmd()
            .args(["cms", "-decrypt", "-inform", "DER", "-in"])
            .arg(&file)
            .arg("-recip")
            .arg(recipient_cert(recipient))
            .arg("-inkey")
            .arg(recipient_dir().join(format!("{wrong}.key.pem")))
            .run();
        let (stored, _) = openssl_normalized_key(&stored_key(4));
        assert!(!out.status.success(), "{recipient}: opened with {wrong}");
        assert!(
            !out.stdout
                .windows(16)
                .any(|w| stored.windows(16).any(|s| s == w)),
            "{recipient}: key bytes came out with {wrong}"
        );
    }
}

/// The class directory of BcEnveloped.java, compiled once per test run.
fn bc_classes() -> &'static Path {
    static CLASSES: OnceLock<PathBuf> = OnceLock::new();
    CLASSES.get_or_init(|| {
        let dir = beyond::build_dir("interop-bc-enveloped");
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/BcEnveloped.java");
        JAVAC
            .cmd()
            .args(["-cp", BC_CLASSPATH, "-d"])
            .arg(&dir)
            .arg(source)
            .ok();
        dir
    })
}

const BC_CLASSPATH: &str = "/usr/share/java/bcprov.jar:/usr/share/java/bcpkix.jar";

/// BcEnveloped over `files` with the recipient `cert` and `key`: one JSON result a file.
fn bc(cert: &Path, key: &Path, files: &[PathBuf]) -> Vec<Value> {
    let classpath = format!("{}:{BC_CLASSPATH}", bc_classes().display());
    let out = JAVA
        .cmd()
        .args(["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-cp"])
        .arg(classpath)
        .arg("BcEnveloped")
        .arg(cert)
        .arg(key)
        .args(files)
        .ok();
    beyond::json_lines(&out.text(), files.len(), "BcEnveloped")
}

#[test]
#[cfg_attr(
    not(all(judge_bouncycastle, judge_java, judge_openssl)),
    ignore = "needs BouncyCastle (bcprov, bcpkix), Java 17 and openssl: scripts/test-all installs them"
)]
fn bouncycastle_opens_cms_to_every_recipient_and_refuses_a_wrong_key() {
    let dir = tempdir();
    for recipient in CMS_RECIPIENTS {
        let mut files = Vec::new();
        let mut stored = Vec::new();
        for record in RECORDS {
            let (_, der) = cms_of(record.id, recipient);
            let file = dir.path().join(format!("{recipient}-{}.der", record.id));
            std::fs::write(&file, &der).unwrap();
            files.push(file);
            stored.push((record.id, openssl_normalized_key(&stored_key(record.id)).0));
        }
        let results = bc(
            &recipient_cert(recipient),
            &recipient_key(recipient),
            &files,
        );
        for ((id, stored), result) in stored.iter().zip(&results) {
            let content = result["content"]
                .as_str()
                .unwrap_or_else(|| panic!("{recipient} record {id}: BC refused: {result}"));
            let content = STANDARD.decode(content).unwrap();
            // BC gives the PKCS#8 as it was encrypted; openssl pkey normalizes it.
            let file = dir.path().join("bc.der");
            std::fs::write(&file, &content).unwrap();
            let normalized = OPENSSL
                .cmd()
                .args(["pkey", "-inform", "DER", "-outform", "DER", "-in"])
                .arg(&file)
                .ok()
                .stdout;
            assert!(
                normalized == *stored,
                "{recipient} record {id}: another key"
            );
            assert_eq!(
                result["content_encryption"], "2.16.840.1.101.3.4.1.42",
                "AES-256-CBC"
            );
        }
    }
    for (recipient, wrong) in [("rsa2048", "wrong-rsa2048"), ("p256", "wrong-p256")] {
        let (_, der) = cms_of(1, recipient);
        let file = dir.path().join(format!("{recipient}-wrong.der"));
        std::fs::write(&file, &der).unwrap();
        let results = bc(
            &recipient_cert(recipient),
            &recipient_dir().join(format!("{wrong}.key.pem")),
            std::slice::from_ref(&file),
        );
        assert!(
            results[0]["error"].is_string() && results[0]["content"].is_null(),
            "{recipient}: BC opened it with {wrong}: {}",
            results[0]
        );
    }
}

/// A kwp download split as `CKM_RSA_AES_KEY_WRAP` lays it out: the RSA-OAEP block, then
/// the RFC 5649 wrapping; and the AES key OpenSSL gets out of the first part.
fn kwp_parts(dir: &Path, id: u64, recipient: &str, modulus: usize) -> (PathBuf, Vec<u8>) {
    let pem = std::fs::read_to_string(recipient_cert(recipient)).unwrap();
    let response = download(json!({"id": id, "format": "kwp", "key_recipient": pem}));
    assert_eq!(
        response.key_format().map(|f| f.as_str()),
        Some("rsa_aes_key_wrap")
    );
    let blob = response.key().expect("the kwp key");
    let (head, tail) = blob.split_at(modulus);
    let head_file = dir.join("oaep.bin");
    std::fs::write(&head_file, head).unwrap();
    let tail_file = dir.join("wrapped.bin");
    std::fs::write(&tail_file, tail).unwrap();
    let aes = OPENSSL
        .cmd()
        .args(["pkeyutl", "-decrypt", "-inkey"])
        .arg(recipient_key(recipient))
        .args([
            "-pkeyopt",
            "rsa_padding_mode:oaep",
            "-pkeyopt",
            "rsa_oaep_md:sha256",
            "-pkeyopt",
            "rsa_mgf1_md:sha256",
            "-in",
        ])
        .arg(&head_file)
        .ok()
        .stdout;
    assert_eq!(aes.len(), 32, "an AES-256 key");
    (tail_file, aes)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
#[cfg_attr(
    not(judge_openssl),
    ignore = "needs the openssl CLI: scripts/test-all installs it"
)]
fn openssl_unwraps_kwp_to_the_stored_pkcs8() {
    for (recipient, modulus) in KWP_RECIPIENTS {
        for record in RECORDS {
            let dir = tempdir();
            let (wrapped, aes) = kwp_parts(dir.path(), record.id, recipient, modulus);
            let out = dir.path().join("key.der");
            OPENSSL
                .cmd()
                .args(["enc", "-d", "-id-aes256-wrap-pad", "-iv", "A65959A6", "-in"])
                .arg(&wrapped)
                .arg("-out")
                .arg(&out)
                .arg("-K")
                .secret_arg(hex(&aes))
                .ok();
            let normalized = OPENSSL
                .cmd()
                .args(["pkey", "-inform", "DER", "-outform", "DER", "-in"])
                .arg(&out)
                .ok()
                .stdout;
            let (stored, _) = openssl_normalized_key(&stored_key(record.id));
            assert!(
                normalized == stored,
                "record {} to {recipient}: another key",
                record.id
            );
        }
    }
}

#[test]
#[cfg_attr(
    not(all(judge_softhsm, judge_openssl)),
    ignore = "needs SoftHSM2 and openssl: scripts/test-all installs them"
)]
fn softhsm_imports_kwp_and_signs_with_the_leaf_key() {
    let dir = tempdir();
    let tokens = dir.path().join("tokens");
    std::fs::create_dir(&tokens).unwrap();
    let conf = dir.path().join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap();
    let status = std::process::Command::new("softhsm2-util")
        .args([
            "--init-token",
            "--free",
            "--label",
            "kwp-import",
            "--pin",
            "1234",
        ])
        .args(["--so-pin", "123456"])
        .env("SOFTHSM2_CONF", &conf)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("softhsm2-util");
    assert!(status.success(), "softhsm2-util --init-token");
    let message = dir.path().join("message.txt");
    std::fs::write(&message, b"signed inside the token").unwrap();
    let digest = OPENSSL
        .cmd()
        .args(["dgst", "-sha256", "-binary"])
        .arg(&message)
        .ok()
        .stdout;
    // RSA and EC keys of each container (Ed25519: SoftHSM2 2.6.1 cannot unwrap one).
    for (id, kind) in [
        (1, "rsa"),
        (2, "rsa"),
        (3, "rsa"),
        (4, "ec"),
        (5, "ec"),
        (6, "ec"),
        (8, "ec"),
    ] {
        let record = RECORDS.iter().find(|r| r.id == id).unwrap();
        assert_eq!(kind == "rsa", record.key == KeyKind::Rsa);
        let (wrapped, aes) = kwp_parts(dir.path(), id, "rsa3072", 384);
        let aes_file = dir.path().join("aes.bin");
        std::fs::write(&aes_file, &aes).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_softhsm-import"))
            .arg("/usr/lib/softhsm/libsofthsm2.so")
            .args(["kwp-import", "1234"])
            .arg(&aes_file)
            .arg(&wrapped)
            .arg(kind)
            .arg(hex(&digest))
            .env("SOFTHSM2_CONF", &conf)
            .output()
            .expect("softhsm-import");
        assert!(
            out.status.success(),
            "record {id}: the token did not import and sign: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let sig_hex = String::from_utf8(out.stdout).unwrap();
        let sig: Vec<u8> = (0..sig_hex.trim().len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&sig_hex[i..i + 2], 16).unwrap())
            .collect();
        let sig_file = dir.path().join("sig.bin");
        std::fs::write(&sig_file, &sig).unwrap();
        let leaf_pub = dir.path().join("leaf.pub.pem");
        let public = OPENSSL
            .cmd()
            .args(["x509", "-pubkey", "-noout", "-in"])
            .arg(fixtures_dir().join(format!("store/{id}/cert.pem")))
            .ok()
            .stdout;
        std::fs::write(&leaf_pub, public).unwrap();
        let verified = OPENSSL
            .cmd()
            .args(["dgst", "-sha256", "-verify"])
            .arg(&leaf_pub)
            .arg("-signature")
            .arg(&sig_file)
            .arg(&message)
            .ok();
        assert!(verified.text().contains("Verified OK"), "record {id}");
        // A signature over another message does not verify: the check can fail.
        let other = dir.path().join("other.txt");
        std::fs::write(&other, b"not what the token signed").unwrap();
        OPENSSL
            .cmd()
            .args(["dgst", "-sha256", "-verify"])
            .arg(&leaf_pub)
            .arg("-signature")
            .arg(&sig_file)
            .arg(&other)
            .fails_with(1, "Verification failure");
    }
}
