//! The same PFX (RSA-2048 leaf of record 1 with its 2-certificate chain, AES-256-CBC with
//! PBKDF2-HMAC-SHA256, HMAC-SHA256 MAC) written by this crate, by `p12-keystore` and by
//! OpenSSL 3 through the `openssl` crate, at 1, 2,048 and 10,000 iterations, each against
//! the KDF floor (2 PBKDF2 with the `pbkdf2` crate + 1 PKCS#12 KDF with the `pkcs12` crate)
//! measured in the same run. The others get their material pre-parsed (in their favour):
//! this crate's time includes the store, the parsing and the key check.
//!
//! ```sh
//! cargo bench -p cert-download-perf --bench compare --features compare   # needs libssl-dev, pkg-config
//! ```

mod common;

use cert_download::{ExportPolicy, OsRandom, download_with};
use common::{
    Kind, PASSWORD, bmp, floor_p12_sha256, floor_pbkdf2, interleaved, keep, record, store,
};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkcs12::Pkcs12;
use openssl::pkey::PKey;
use openssl::stack::Stack;
use openssl::x509::X509;
use p12_keystore::{
    Certificate, EncryptionAlgorithm, KeyStore, KeyStoreEntry, MacAlgorithm, PrivateKey,
    PrivateKeyChain,
};
use sha1::{Digest, Sha1};

fn main() {
    let store = store();
    let r = record(1);
    let leaf = r.leaf.to_vec();
    let chain: Vec<Vec<u8>> = r.chain.iter().map(|c| c.to_vec()).collect();
    let pkcs8 = r.key.secret_der().to_vec();
    // Chain in link order: leaf, intermediate, root (record 1 stores root first).
    let mut ordered = vec![leaf.clone()];
    ordered.extend(chain.iter().rev().cloned());

    let os_key = PKey::private_key_from_der(&pkcs8).expect("OpenSSL reads the key");
    let os_leaf = X509::from_der(&leaf).expect("OpenSSL reads the leaf");
    let os_ca = || {
        let mut ca = Stack::new().expect("a stack");
        for c in &ordered[1..] {
            ca.push(X509::from_der(c).expect("OpenSSL reads the chain"))
                .expect("pushed");
        }
        ca
    };

    let ks_key = PrivateKey::from_der(&pkcs8).expect("p12-keystore reads the key");
    let ks_certs: Vec<Certificate> = ordered
        .iter()
        .map(|c| Certificate::from_der(c).expect("p12-keystore reads the chain"))
        .collect();
    let local_key_id = Sha1::digest(&leaf).to_vec();

    let bmp = bmp(PASSWORD);
    println!();
    println!("## The same PFX by three writers (RSA-2048 leaf + 2-certificate chain)");
    println!();
    println!(
        "| iterations | KDF floor (µs) | this crate (µs) | ratio | p12-keystore (µs) | ratio | OpenSSL (µs) | ratio |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for iterations in [1u32, 2048, 10_000] {
        let policy = ExportPolicy::with_iterations(iterations).expect("a policy");
        let mut ours = || {
            keep(download_with(Kind::PfxAes.request(1), &store, &policy, &mut OsRandom).ok());
        };
        let mut keystore = || {
            let mut ks = KeyStore::new();
            ks.add_entry(
                "leaf1.test",
                KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(
                    local_key_id.clone(),
                    ks_key.clone(),
                    ks_certs.clone(),
                )),
            );
            keep(
                ks.writer(PASSWORD)
                    .encryption_algorithm(EncryptionAlgorithm::PbeWithHmacSha256AndAes256)
                    .encryption_iterations(iterations)
                    .mac_algorithm(MacAlgorithm::HmacSha256)
                    .mac_iterations(iterations)
                    .write()
                    .ok(),
            );
        };
        let mut openssl = || {
            let p12 = Pkcs12::builder()
                .name("leaf1.test")
                .pkey(&os_key)
                .cert(&os_leaf)
                .ca(os_ca())
                .key_algorithm(Nid::AES_256_CBC)
                .cert_algorithm(Nid::AES_256_CBC)
                .key_iter(iterations)
                .mac_iter(iterations)
                .mac_md(MessageDigest::sha256())
                .build2(PASSWORD)
                .ok();
            keep(p12.and_then(|p| p.to_der().ok()));
        };
        let mut f_pbkdf2 = || floor_pbkdf2(iterations);
        let mut f_p12 = || floor_p12_sha256(&bmp, iterations);
        let m = interleaved(
            15,
            300_000.0,
            &mut [
                &mut ours,
                &mut keystore,
                &mut openssl,
                &mut f_pbkdf2,
                &mut f_p12,
            ],
        );
        let floor = 2.0 * m[3] + m[4];
        println!(
            "| {iterations} | {:.1} | {:.1} | **{:.3}** | {:.1} | {:.3} | {:.1} | {:.3} |",
            floor / 1e3,
            m[0] / 1e3,
            m[0] / floor,
            m[1] / 1e3,
            m[1] / floor,
            m[2] / 1e3,
            m[2] / floor
        );
    }
}
