//! Every format with a key, downloaded in-process and opened by the openssl CLI.

use crate::app::App;
use crate::harness::*;
use crate::tools::*;
use crate::{KEYED, PEM_12345, demo_leaf};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(judge_openssl),
    ignore = "needs the openssl CLI: scripts/test-all installs it"
)]
async fn pfx_files_open_in_openssl() {
    openssl_bin();
    let app = App::demo();
    let dir = tempfile::tempdir().unwrap();
    let password = "pfx-Password-42";
    let mut cases: Vec<(&str, &str, &str)> = KEYED
        .iter()
        .map(|(id, cn)| (*id, *cn, "aes256_sha256"))
        .collect();
    cases.push(("12345", "www.example.com", "tripledes_sha1"));
    for (id, cn, encryption) in cases {
        let body = format!(
            r#"{{"id": "{id}", "format": "PFX", "password": "{password}", "pfx_encryption": "{encryption}"}}"#
        );
        let reply = app.admin(&body).await;
        let pfx = reply.expect_ok("pfx").certificate;
        let file = write(dir.path(), &format!("{id}-{encryption}.pfx"), &pfx);
        let pass = format!("pass:{password}");
        let out = openssl(&["pkcs12", "-in", path(&file), "-passin", &pass, "-nodes"]);
        assert!(
            out.contains(&format!("CN = {cn}")) || out.contains(&format!("CN={cn}")),
            "the PFX of {id} does not hold the leaf {cn}:\n{out}"
        );
        let blocks = pem_blocks(&out);
        let certs: Vec<&Vec<u8>> = blocks
            .iter()
            .filter(|(l, _)| l == "CERTIFICATE")
            .map(|(_, d)| d)
            .collect();
        let stored_chain = pem_file_certs(&demo(&format!("{id}/chain.pem")));
        assert_eq!(
            certs.len(),
            1 + stored_chain.len(),
            "leaf and chain in the PFX of {id}"
        );
        assert!(certs.contains(&&demo_leaf(id)), "the leaf of {id}");
        let keys: Vec<&(String, Vec<u8>)> =
            blocks.iter().filter(|(l, _)| l == "PRIVATE KEY").collect();
        assert_eq!(keys.len(), 1, "one key in the PFX of {id}:\n{out}");
        let key_file = write(
            dir.path(),
            &format!("{id}-{encryption}.key.pem"),
            format!(
                "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
                base64_lines(&keys[0].1)
            )
            .as_bytes(),
        );
        assert_eq!(
            key_public_key(&key_file),
            leaf_public_key(id),
            "the key in the PFX of {id} is not the leaf's"
        );
        // A wrong password does not open it: the MAC check refuses it.
        openssl_refuses(
            &[
                "pkcs12",
                "-in",
                path(&file),
                "-passin",
                "pass:wrong-password",
                "-nodes",
            ],
            "Mac verify error",
        );
    }
}

/// The public key of the demo store's leaf `id`, as openssl prints it.
fn leaf_public_key(id: &str) -> String {
    cert_public_key(&demo(&format!("{id}/cert.pem")))
}

/// The DER of each block of a PEM download, in file order.
fn pem_ders(pem: &[u8]) -> Vec<Vec<u8>> {
    pem_blocks(std::str::from_utf8(pem).unwrap())
        .into_iter()
        .map(|(_, der)| der)
        .collect()
}

fn base64_lines(der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    b64.as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(judge_openssl),
    ignore = "needs the openssl CLI: scripts/test-all installs it"
)]
async fn pem_with_key_opens_in_openssl() {
    openssl_bin();
    let app = App::demo();
    let dir = tempfile::tempdir().unwrap();
    let password = "keyprotectionpassword";
    for (id, _) in KEYED {
        let body = format!(
            r#"{{"id": "{id}", "format": "pem", "download_key": true, "password": "{password}"}}"#
        );
        let pem = app.admin(&body).await.expect_ok("pem").certificate;
        let text = String::from_utf8(pem).expect("PEM is text");
        assert!(!text.contains('\r'), "PEM uses LF line ends");
        let blocks = pem_blocks(&text);
        let labels: Vec<&str> = blocks.iter().map(|(l, _)| l.as_str()).collect();
        let stored_chain = pem_file_certs(&demo(&format!("{id}/chain.pem")));
        let mut expected = vec!["CERTIFICATE"; 1 + stored_chain.len()];
        expected.push("ENCRYPTED PRIVATE KEY");
        assert_eq!(labels, expected, "the blocks of {id}:\n{text}");
        assert_eq!(blocks[0].1, demo_leaf(id), "the leaf of {id} comes first");
        for issuer in &stored_chain {
            assert!(
                blocks[1..].iter().any(|(_, der)| der == issuer),
                "a stored issuer of {id} is missing"
            );
        }
        assert!(
            !text.contains("BEGIN PRIVATE KEY"),
            "an unencrypted key in {id}"
        );
        let file = write(dir.path(), &format!("{id}.pem"), text.as_bytes());
        let pass = format!("pass:{password}");
        let public = openssl(&["pkey", "-in", path(&file), "-passin", &pass, "-pubout"]);
        assert_eq!(
            public,
            leaf_public_key(id),
            "the key in the PEM of {id} is not the leaf's"
        );
        // "bad decrypt", or "unsupported" when a wrong key leaves a valid padding: either
        // way openssl cannot read the key.
        openssl_refuses(
            &["pkey", "-in", path(&file), "-passin", "pass:wrong-password"],
            "Could not read key from",
        );
    }
    // 12345's chain.pem is stored root first: leaf_first puts the intermediate right
    // after the leaf, and root_first reverses the whole.
    let chain = pem_file_certs(&demo("12345/chain.pem"));
    let pem = app.admin(PEM_12345).await.expect_ok("pem").certificate;
    let certs = pem_ders(&pem);
    assert_eq!(
        certs,
        [demo_leaf("12345"), chain[1].clone(), chain[0].clone()]
    );
    let pem = app
        .admin(r#"{"id": 12345, "format": "pem", "chain_order": "root_first"}"#)
        .await
        .expect_ok("pem")
        .certificate;
    let certs = pem_ders(&pem);
    assert_eq!(
        certs,
        [chain[0].clone(), chain[1].clone(), demo_leaf("12345")]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(judge_openssl),
    ignore = "needs the openssl CLI: scripts/test-all installs it"
)]
async fn crt_with_key_opens_in_openssl() {
    openssl_bin();
    let app = App::demo();
    let dir = tempfile::tempdir().unwrap();
    let password = "keyprotectionpassword";
    for (id, cn) in KEYED {
        let body = format!(
            r#"{{"id": "{id}", "format": "crt", "download_key": "TRUE", "password": "{password}"}}"#
        );
        let crt = app.admin(&body).await.expect_ok("crt");
        assert_eq!(
            crt.certificate,
            demo_leaf(id),
            "the crt of {id} is its stored leaf"
        );
        let cert_file = write(dir.path(), &format!("{id}.crt"), &crt.certificate);
        let subject = openssl(&[
            "x509",
            "-inform",
            "DER",
            "-in",
            path(&cert_file),
            "-noout",
            "-subject",
        ]);
        assert!(subject.contains(cn), "{subject}");
        let key = crt.key.expect("download_key true gives a key");
        let key_file = write(dir.path(), &format!("{id}.key"), &key);
        let plain_file = decrypt_pkcs8(dir.path(), id, &key, password);
        assert_eq!(
            key_public_key(&plain_file),
            leaf_public_key(id),
            "the crt key of {id} is not the leaf's"
        );
        // PKCS8_decrypt fails on a bad padding and on a decryption that does not decode.
        openssl_refuses(
            &[
                "pkcs8",
                "-inform",
                "DER",
                "-in",
                path(&key_file),
                "-passin",
                "pass:wrong-password",
            ],
            "Error decrypting key",
        );
    }
    // Without download_key: the leaf alone, and no key members.
    let crt = app
        .admin(r#"{"id": "12345", "format": "crt", "password": "ignored-password"}"#)
        .await
        .expect_ok("crt");
    assert_eq!(crt.certificate, demo_leaf("12345"));
    assert!(crt.key.is_none());
}
