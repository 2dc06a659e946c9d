//! Hostile stores: every download ends quickly with a 500 (or a documented cap), never a
//! hang or a panic.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use cert_download::store::{MAX_CERTIFICATE_BYTES, MAX_CHAIN_LEN};
use cert_download::{
    CertificateDer, CertificateId, DownloadRequest, DownloadResponse, Error, ExportPolicy,
    MemoryStore, OsRandom, Password, PasswordPolicy, PrivateKeyDer, download_with,
};
use rustls_pki_types::pem::PemObject;

const ID: u64 = 77;

fn id() -> CertificateId {
    CertificateId::new(ID).unwrap()
}

fn password() -> Password {
    Password::new("hostile-store-password", &PasswordPolicy::default()).unwrap()
}

fn certs(path: &Path) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(path)
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn record(
    n: u64,
) -> (
    CertificateDer<'static>,
    Vec<CertificateDer<'static>>,
    PrivateKeyDer<'static>,
) {
    let dir = common::fixtures().join(format!("store/{n}"));
    let leaf = certs(&dir.join("cert.pem")).remove(0);
    let chain = certs(&dir.join("chain.pem"));
    let key = PrivateKeyDer::from_pem_file(dir.join("key.pem")).unwrap();
    (leaf, chain, key)
}

/// Every format, with and without key: the statuses, each within a generous bound.
fn statuses(store: &MemoryStore) -> Vec<u16> {
    let policy = ExportPolicy::with_iterations(1).unwrap();
    let requests = || {
        vec![
            DownloadRequest::crt(id()),
            DownloadRequest::crt(id()).with_key(password()),
            DownloadRequest::pem(id()),
            DownloadRequest::pem(id()).with_key(password()),
            DownloadRequest::pfx(id(), password()),
        ]
    };
    requests()
        .into_iter()
        .map(|request| {
            let start = Instant::now();
            let status = match download_with(request, store, &policy, &mut OsRandom) {
                Ok(_) => 200,
                Err(e) => e.status(),
            };
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "a hostile record took {:?}",
                start.elapsed()
            );
            status
        })
        .collect()
}

/// A download from `store` under the default policy.
fn download(request: DownloadRequest, store: &MemoryStore) -> Result<DownloadResponse, Error> {
    download_with(request, store, &ExportPolicy::default(), &mut OsRandom)
}

fn store_with(
    leaf: CertificateDer<'static>,
    issuers: Vec<CertificateDer<'static>>,
    key: Option<PrivateKeyDer<'static>>,
) -> MemoryStore {
    let mut store = MemoryStore::new();
    store.insert(
        id(),
        cert_download::store::MemoryEntry::new(leaf)
            .with_issuers(issuers)
            .with_key(key),
    );
    store
}

#[test]
fn a_chain_of_ten_thousand_certificates_is_refused_by_the_cap() {
    let (leaf, chain, key) = record(1);
    let issuers: Vec<_> = chain.iter().cycle().take(10_000).cloned().collect();
    let store = store_with(leaf, issuers, Some(key));
    assert_eq!(statuses(&store), [500; 5]);
    let err = download(DownloadRequest::pem(id()), &store).unwrap_err();
    assert_eq!(err.code(), "invalid_chain");
    assert!(err.message().contains(&MAX_CHAIN_LEN.to_string()));
}

#[test]
fn a_chain_just_under_the_cap_of_duplicates_goes_out_once() {
    let (leaf, chain, key) = record(1);
    let issuers: Vec<_> = chain
        .iter()
        .cycle()
        .take(MAX_CHAIN_LEN - 1)
        .cloned()
        .collect();
    let store = store_with(leaf, issuers, Some(key));
    assert_eq!(statuses(&store), [200; 5]);
    let response = download(DownloadRequest::pem(id()), &store).unwrap();
    let text = std::str::from_utf8(response.certificate()).unwrap();
    assert_eq!(text.matches("BEGIN CERTIFICATE").count(), 3);
}

#[test]
fn a_certificate_of_several_megabytes_is_refused_before_parsing() {
    let (_, chain, key) = record(1);
    // A syntactically plausible SEQUENCE of 5 MB.
    let len = 5 * 1024 * 1024;
    let mut big = vec![0x30, 0x84];
    big.extend_from_slice(&(len as u32).to_be_bytes());
    big.resize(6 + len, 0x41);
    let store = store_with(
        CertificateDer::from(big.clone()),
        chain.clone(),
        Some(key.clone_key()),
    );
    assert_eq!(statuses(&store), [500; 5]);

    let (leaf, _, _) = record(1);
    let store = store_with(leaf, vec![CertificateDer::from(big)], Some(key));
    let s = statuses(&store);
    // crt never carries the chain, so its issuers are not parsed; every other format refuses.
    assert_eq!(
        s, [500; 5],
        "the size cap applies to every stored certificate"
    );
    const { assert!(MAX_CERTIFICATE_BYTES < 5 * 1024 * 1024) };
}

/// DER nested 20,000 levels deep, in every place the crate parses.
#[test]
fn der_nested_past_any_sane_depth_is_a_500() {
    let mut nested = vec![0x05, 0x00];
    for _ in 0..20_000 {
        let len = nested.len() as u32;
        let mut outer = vec![0x30, 0x84];
        outer.extend_from_slice(&len.to_be_bytes());
        outer.extend_from_slice(&nested);
        nested = outer;
        if nested.len() > MAX_CERTIFICATE_BYTES - 16 {
            break;
        }
    }
    let (leaf, chain, key) = record(1);
    let deep = CertificateDer::from(nested.clone());
    assert_eq!(
        statuses(&store_with(deep.clone(), chain.clone(), Some(key))),
        [500; 5]
    );
    let s = statuses(&store_with(leaf.clone(), vec![deep], None));
    assert_eq!(
        s,
        [200, 404, 500, 404, 404],
        "crt ignores the chain; pem parses it"
    );
    let deep_key = PrivateKeyDer::Pkcs8(nested.into());
    assert_eq!(
        statuses(&store_with(leaf, chain, Some(deep_key))),
        [200, 500, 200, 500, 500]
    );
}

#[test]
fn a_key_of_another_algorithm_is_a_mismatch() {
    let (leaf, chain, _) = record(4); // P-256 leaf
    let (_, _, rsa_key) = record(1);
    let (_, _, ed_key) = record(9);
    let (_, _, p384_key) = record(6);
    for key in [rsa_key, ed_key, p384_key] {
        let store = store_with(leaf.clone(), chain.clone(), Some(key));
        assert_eq!(statuses(&store), [200, 500, 200, 500, 500]);
        let err = download(DownloadRequest::pfx(id(), password()), &store).unwrap_err();
        assert_eq!(err.code(), "key_mismatch");
    }
}

#[test]
fn empty_and_garbage_material_is_a_500() {
    let (leaf, chain, key) = record(1);
    for bad in [vec![], vec![0x30], vec![0x30, 0x00], vec![0xff; 100]] {
        let cert = CertificateDer::from(bad.clone());
        assert_eq!(
            statuses(&store_with(cert, chain.clone(), Some(key.clone_key()))),
            [500; 5]
        );
        let bad_key = PrivateKeyDer::Sec1(bad.into());
        assert_eq!(
            statuses(&store_with(leaf.clone(), chain.clone(), Some(bad_key))),
            [200, 500, 200, 500, 500]
        );
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("the openssl CLI is needed (apt-get install openssl): {e}"));
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A issued by B, B issued by A: the walk ends, each certificate goes out once.
#[test]
fn a_loop_in_the_issuer_links_ends_the_walk() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for k in ["a", "b", "leaf"] {
        openssl(
            d,
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                &format!("{k}.key"),
            ],
        );
    }
    openssl(
        d,
        &[
            "req",
            "-new",
            "-x509",
            "-key",
            "b.key",
            "-subj",
            "/CN=Loop B",
            "-days",
            "30",
            "-out",
            "b0.pem",
        ],
    );
    openssl(
        d,
        &[
            "req",
            "-new",
            "-key",
            "a.key",
            "-subj",
            "/CN=Loop A",
            "-out",
            "a.csr",
        ],
    );
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "a.csr",
            "-CA",
            "b0.pem",
            "-CAkey",
            "b.key",
            "-set_serial",
            "1",
            "-days",
            "30",
            "-out",
            "a.pem",
        ],
    );
    openssl(
        d,
        &[
            "req",
            "-new",
            "-key",
            "b.key",
            "-subj",
            "/CN=Loop B",
            "-out",
            "b.csr",
        ],
    );
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "b.csr",
            "-CA",
            "a.pem",
            "-CAkey",
            "a.key",
            "-set_serial",
            "2",
            "-days",
            "30",
            "-out",
            "b.pem",
        ],
    );
    openssl(
        d,
        &[
            "req",
            "-new",
            "-key",
            "leaf.key",
            "-subj",
            "/CN=Loop Leaf",
            "-out",
            "leaf.csr",
        ],
    );
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "a.pem",
            "-CAkey",
            "a.key",
            "-set_serial",
            "3",
            "-days",
            "30",
            "-out",
            "leaf.pem",
        ],
    );

    let leaf = certs(&d.join("leaf.pem")).remove(0);
    let a = certs(&d.join("a.pem")).remove(0);
    let b = certs(&d.join("b.pem")).remove(0);
    let key = PrivateKeyDer::from_pem_file(d.join("leaf.key")).unwrap();
    let store = store_with(
        leaf.clone(),
        vec![b.clone(), a.clone(), b.clone()],
        Some(key),
    );
    assert_eq!(statuses(&store), [200; 5]);
    let response = download(DownloadRequest::pem(id()), &store).unwrap();
    let got: Vec<Vec<u8>> = CertificateDer::pem_slice_iter(response.certificate())
        .map(|c| c.unwrap().to_vec())
        .collect();
    assert_eq!(got, [leaf.to_vec(), a.to_vec(), b.to_vec()]);
}
