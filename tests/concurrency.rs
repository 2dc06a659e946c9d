//! Threads sharing one store, thousands of downloads of every format: no panic, every
//! output valid, a sample opened by OpenSSL, and no salt or IV ever used twice.

mod common;

use std::collections::HashSet;
use std::process::Command;
use std::sync::Mutex;

use cert_download::{
    CertificateId, DownloadRequest, DownloadResponse, ExportPolicy, Format, OsRandom, Password,
    PasswordPolicy, PfxEncryption, download_with,
};

const PASSWORD: &str = "concurrent-password";
const THREADS: usize = 4;
const ROUNDS: usize = 50;

fn requests(record: u64) -> Vec<DownloadRequest> {
    let id = CertificateId::new(record).unwrap();
    let pw = || Password::new(PASSWORD, &PasswordPolicy::default()).unwrap();
    vec![
        DownloadRequest::crt(id),
        DownloadRequest::crt(id).with_key(pw()),
        DownloadRequest::pem(id),
        DownloadRequest::pem(id).with_key(pw()),
        DownloadRequest::pfx(id, pw()),
        DownloadRequest::pfx(id, pw()).with_pfx_encryption(PfxEncryption::TripleDesSha1),
    ]
}

/// Checks one output and returns the salts and IVs it used.
fn check(response: &DownloadResponse) -> Vec<Vec<u8>> {
    match response.format() {
        Format::Pfx => {
            let pfx = common::read_pfx(response.certificate(), PASSWORD);
            assert!(pfx.mac_ok);
            assert!(!pfx.key_pkcs8.is_empty());
            let mut used = vec![pfx.mac_salt];
            for der in [&pfx.key_algorithm_der, &pfx.certs_algorithm_der] {
                if pfx.key_algorithm == "1.2.840.113549.1.5.13" {
                    let (salt, iv) = common::pbes2_salt_iv(der);
                    used.extend([salt, iv]);
                } else {
                    used.push(common::pkcs12_pbe_salt(der));
                }
            }
            used
        }
        _ => {
            let key = match response.format() {
                Format::Crt => response.key().map(<[u8]>::to_vec),
                _ => {
                    let text = std::str::from_utf8(response.certificate()).unwrap();
                    text.find("-----BEGIN ENCRYPTED PRIVATE KEY-----")
                        .map(|at| {
                            use base64::Engine;
                            let b64: String = text[at..]
                                .lines()
                                .skip(1)
                                .take_while(|l| !l.starts_with("-----END"))
                                .collect();
                            base64::engine::general_purpose::STANDARD
                                .decode(b64)
                                .unwrap()
                        })
                }
            };
            match key {
                None => vec![],
                Some(der) => {
                    let (pkcs8, alg) = common::decrypt_epki(&der, PASSWORD);
                    assert!(!pkcs8.is_empty());
                    let (salt, iv) = common::pbes2_salt_iv(&alg);
                    vec![salt, iv]
                }
            }
        }
    }
}

#[test]
fn threads_sharing_one_store_get_valid_files_with_fresh_salts() {
    let store = common::fixture_store();
    let policy = ExportPolicy::with_iterations(1).unwrap();
    let seen = Mutex::new(HashSet::<Vec<u8>>::new());
    let samples = Mutex::new(Vec::<Vec<u8>>::new());
    let total = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (store, policy, seen, samples) = (&store, &policy, &seen, &samples);
                scope.spawn(move || {
                    let mut count = 0;
                    for round in 0..ROUNDS {
                        let record = [1, 4, 9, 5][(t + round) % 4];
                        for request in requests(record) {
                            let response =
                                download_with(request, store, policy, &mut OsRandom).unwrap();
                            for value in check(&response) {
                                assert!(
                                    seen.lock().unwrap().insert(value),
                                    "a salt or IV was used twice"
                                );
                            }
                            if round == 0 && response.format() == Format::Pfx {
                                samples
                                    .lock()
                                    .unwrap()
                                    .push(response.certificate().to_vec());
                            }
                            count += 1;
                        }
                    }
                    count
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum::<usize>()
    });
    assert_eq!(total, THREADS * ROUNDS * 6);
    // Every round: 2 (crt key) + 2 (pem key) + 5 (modern pfx) + 3 (legacy pfx).
    assert_eq!(seen.lock().unwrap().len(), THREADS * ROUNDS * 12);

    // A sample of the files opens in OpenSSL 3 (without -legacy).
    let dir = tempfile::tempdir().unwrap();
    for (i, der) in samples.into_inner().unwrap().iter().enumerate() {
        let path = dir.path().join(format!("{i}.pfx"));
        std::fs::write(&path, der).unwrap();
        let out = Command::new("openssl")
            .args(["pkcs12", "-in"])
            .arg(&path)
            .args(["-passin", &format!("pass:{PASSWORD}"), "-nodes"])
            .output()
            .unwrap_or_else(|e| panic!("the openssl CLI is needed (apt-get install openssl): {e}"));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("BEGIN PRIVATE KEY"));
    }
}
