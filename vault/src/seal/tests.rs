//! Known answers, tampering and the KEK file's rules, for the sealing.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::*;

fn id(n: u64) -> CertificateId {
    CertificateId::new(n).unwrap()
}

fn kek(byte: u8) -> [u8; KEY_LEN] {
    let mut k = [0u8; KEY_LEN];
    for (i, b) in k.iter_mut().enumerate() {
        *b = byte.wrapping_add(i as u8);
    }
    k
}

fn ring() -> Keyring {
    Keyring::from_keks(vec![("old".into(), kek(0x80)), ("kek-test".into(), kek(0))]).unwrap()
}

fn sample_key() -> PrivateKeyDer<'static> {
    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        b"\x30\x05\x02\x01\x00\x04\x00key".to_vec(),
    ))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Values computed independently with Python `cryptography` 48's AESGCM:
///
/// ```python
/// kek = bytes(range(32)); dek = bytes(range(0x40, 0x60))
/// wn = bytes(range(0xa0, 0xac)); kn = bytes(range(0xb0, 0xbc))
/// idb = (12345).to_bytes(8, "big")
/// wrap_aad = b"cert-download-vault/v1 wrap\0" + idb + bytes([8]) + b"kek-test"
/// key_aad = b"cert-download-vault/v1 key\0" + idb + bytes([1])
/// AESGCM(kek).encrypt(wn, dek, wrap_aad).hex()
/// AESGCM(dek).encrypt(kn, b"\x30\x05\x02\x01\x00\x04\x00key", key_aad).hex()
/// ```
#[test]
fn known_answer() {
    let dek: [u8; KEY_LEN] = core::array::from_fn(|i| 0x40 + i as u8);
    let wn: [u8; NONCE_LEN] = core::array::from_fn(|i| 0xa0 + i as u8);
    let kn: [u8; NONCE_LEN] = core::array::from_fn(|i| 0xb0 + i as u8);
    let sealed = ring()
        .seal_with(id(12345), &sample_key(), &dek, &wn, &kn)
        .unwrap();
    assert_eq!(sealed.kek_id, "kek-test");
    assert_eq!(hex(&sealed.wrapped_key), KAT_WRAPPED);
    assert_eq!(hex(&sealed.ciphertext), KAT_CIPHERTEXT);
    let opened = ring().open(id(12345), &sealed).unwrap();
    assert_eq!(opened.secret_der(), sample_key().secret_der());
}

const KAT_WRAPPED: &str = "a6593e6e018e44f82a2ccd984b378e9120fd0b43c6e2143bc4577cdd23f62b5e94c71e5c523c53df2dc8906f8fbd3096";
const KAT_CIPHERTEXT: &str = "33058284c14eebf25e97831ddc91622632e8477a4f79933a4f67";

#[test]
fn round_trip_every_format_and_fresh_randomness() {
    let ring = ring();
    for key in [
        sample_key(),
        PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(vec![1, 2, 3])),
        PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(vec![4, 5, 6])),
    ] {
        let a = ring.seal(id(7), &key).unwrap();
        let b = ring.seal(id(7), &key).unwrap();
        assert_ne!(
            a.wrapped_key, b.wrapped_key,
            "a fresh data key and nonce each time"
        );
        assert_ne!(a.ciphertext, b.ciphertext);
        let opened = ring.open(id(7), &a).unwrap();
        assert_eq!(opened.secret_der(), key.secret_der());
        assert_eq!(KeyFormat::of(&opened), KeyFormat::of(&key));
    }
}

fn does_not_open(result: Result<PrivateKeyDer<'static>, SealError>) -> SealError {
    match result {
        Ok(_) => panic!("a tampered key opened"),
        Err(e) => e,
    }
}

#[test]
fn every_flipped_bit_of_every_field_is_refused() {
    let ring = ring();
    let sealed = ring.seal(id(9), &sample_key()).unwrap();
    let fields: [fn(&mut SealedKey) -> &mut Vec<u8>; 4] = [
        |s| &mut s.wrap_nonce,
        |s| &mut s.wrapped_key,
        |s| &mut s.key_nonce,
        |s| &mut s.ciphertext,
    ];
    for field in fields {
        for byte in 0..field(&mut sealed.clone()).len() {
            for bit in [0x01u8, 0x80] {
                let mut tampered = sealed.clone();
                field(&mut tampered)[byte] ^= bit;
                let e = does_not_open(ring.open(id(9), &tampered));
                assert!(matches!(e, SealError::DoesNotOpen { .. }), "{e:?}");
            }
        }
    }
    // Truncated and extended fields.
    let mut short = sealed.clone();
    short.ciphertext.truncate(10);
    does_not_open(ring.open(id(9), &short));
    let mut long = sealed.clone();
    long.ciphertext.push(0);
    does_not_open(ring.open(id(9), &long));
    let mut nonce = sealed.clone();
    nonce.key_nonce.pop();
    does_not_open(ring.open(id(9), &nonce));
}

#[test]
fn bound_to_its_record_kek_and_format() {
    let ring = ring();
    let a = ring.seal(id(1), &sample_key()).unwrap();
    let b = ring.seal(id(2), &sample_key()).unwrap();
    // Copied to another record, or two records swapped.
    does_not_open(ring.open(id(2), &a));
    does_not_open(ring.open(id(1), &b));
    // Only the wrapped key swapped in (same KEK).
    let mut mixed = a.clone();
    mixed.wrapped_key = b.wrapped_key.clone();
    mixed.wrap_nonce = b.wrap_nonce.clone();
    does_not_open(ring.open(id(1), &mixed));
    // Relabelled as another KEK the ring holds, or as another key format.
    let mut relabelled = a.clone();
    relabelled.kek_id = "old".into();
    does_not_open(ring.open(id(1), &relabelled));
    let mut reformatted = a.clone();
    reformatted.format = KeyFormat::Sec1;
    does_not_open(ring.open(id(1), &reformatted));
    // A KEK the ring does not hold.
    let mut unknown = a.clone();
    unknown.kek_id = "gone".into();
    assert!(matches!(
        ring.open(id(1), &unknown),
        Err(SealError::UnknownKek(k)) if k == "gone"
    ));
    // The right id, under a wrong KEK of the same id.
    let wrong = Keyring::from_keks(vec![("kek-test".into(), kek(1))]).unwrap();
    does_not_open(wrong.open(id(1), &a));
}

#[test]
fn rewrap_moves_only_the_data_key() {
    let old = Keyring::from_keks(vec![("old".into(), kek(0x80))]).unwrap();
    let sealed = old.seal(id(5), &sample_key()).unwrap();
    assert_eq!(sealed.kek_id, "old");
    let both = ring();
    let new = both
        .rewrap(
            id(5),
            &sealed.kek_id,
            &sealed.wrap_nonce,
            &sealed.wrapped_key,
        )
        .unwrap()
        .unwrap();
    assert_eq!(new.kek_id, "kek-test");
    let moved = SealedKey {
        kek_id: new.kek_id,
        wrap_nonce: new.wrap_nonce,
        wrapped_key: new.wrapped_key,
        ..sealed.clone()
    };
    let again = both.rewrap(id(5), &moved.kek_id, &moved.wrap_nonce, &moved.wrapped_key);
    assert!(again.unwrap().is_none(), "already newest");
    let only_new = Keyring::from_keks(vec![("kek-test".into(), kek(0))]).unwrap();
    assert_eq!(
        only_new.open(id(5), &moved).unwrap().secret_der(),
        sample_key().secret_der()
    );
    // The rewrapped key is bound to its record too.
    does_not_open(only_new.open(id(6), &moved));
}

#[test]
fn check_values() {
    let ring = ring();
    let check = ring.check_value("kek-test").unwrap();
    assert_eq!(ring.verify_check(&check).unwrap(), Some(true));
    let wrong = Keyring::from_keks(vec![("kek-test".into(), kek(1))]).unwrap();
    assert_eq!(wrong.verify_check(&check).unwrap(), Some(false));
    let other = Keyring::from_keks(vec![("other".into(), kek(0))]).unwrap();
    assert_eq!(other.verify_check(&check).unwrap(), None);
    let mut tampered = check.clone();
    tampered.sealed[0] ^= 1;
    assert_eq!(ring.verify_check(&tampered).unwrap(), Some(false));
}

#[test]
fn kek_file_rules() {
    let key = STANDARD.encode(kek(3));
    let ok = format!("# comment\n\nfirst {key}\nsecond {key}\n");
    let ring = Keyring::parse(ok.as_bytes(), "f").unwrap();
    assert_eq!(ring.ids().collect::<Vec<_>>(), ["first", "second"]);
    assert_eq!(ring.newest().id(), "second");
    let bad = |text: String, want: &str| {
        let e = Keyring::parse(text.as_bytes(), "f")
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "{e}");
        assert!(!e.contains(&key), "{e}");
    };
    bad(String::new(), "holds no key-encryption key");
    bad("# only a comment\n".into(), "holds no key-encryption key");
    bad(format!("a {}\n", &key[..20]), "line 1: the key is not");
    bad(
        format!("a {key}\nb {}", &key[..key.len() - 4]),
        "line 2: the key is not 32 bytes",
    );
    bad(format!("a {key}\nb"), "line 2: expected");
    bad(format!("a {key} extra\n"), "line 1: expected");
    bad(format!("a/b {key}\n"), "line 1: an id is");
    bad(
        format!("a {key}\na {key}\n"),
        "line 2: this id is already used",
    );
}

#[cfg(unix)]
#[test]
fn kek_file_permissions_and_creation() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kek");
    let first = Keyring::create_file(&path).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(matches!(
        Keyring::create_file(&path),
        Err(KekFileError::Exists { .. })
    ));
    let second = Keyring::append_to_file(&path).unwrap();
    let ring = Keyring::load(&path).unwrap();
    assert_eq!(
        ring.ids().collect::<Vec<_>>(),
        [first.as_str(), second.as_str()]
    );
    for mode in [0o640, 0o604, 0o660, 0o644, 0o700] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        let got = Keyring::load(&path);
        if mode & 0o077 != 0 {
            let e = got.unwrap_err().to_string();
            assert!(e.contains("accessible by group or others"), "{e}");
        } else {
            got.unwrap();
        }
    }
}

#[test]
fn debug_is_redacted() {
    let secret = kek(0x11);
    let ring = Keyring::from_keks(vec![("visible-id".into(), secret)]).unwrap();
    let shown = format!("{ring:?} {:?}", ring.newest());
    assert!(shown.contains("visible-id"), "{shown}");
    assert!(shown.contains("[redacted]"), "{shown}");
    for needle in [
        hex(&secret),
        STANDARD.encode(secret),
        format!("{:?}", &secret[..4]),
    ] {
        assert!(!shown.contains(&needle), "{shown}");
    }
    // A sealed key's Debug shows ciphertext only: never the key DER.
    let sealed = ring.seal(id(1), &sample_key()).unwrap();
    let shown = format!("{sealed:?}");
    assert!(!shown.contains("107, 101, 121"), "{shown}");
}

#[cfg(unix)]
#[test]
fn kek_file_is_opened_without_following_a_link_and_checked_on_the_open_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kek");
    Keyring::create_file(&path).unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&path, &link).unwrap();
    let e = Keyring::load(&link).unwrap_err();
    assert!(matches!(e, KekFileError::Unsafe { .. }), "{e}");
    assert!(e.to_string().contains("symbolic link"), "{e}");
    // A directory is not a KEK file.
    let e = Keyring::load(dir.path()).unwrap_err();
    assert!(e.to_string().contains("not a regular file"), "{e}");
    // The file itself still loads.
    Keyring::load(&path).unwrap();
}

#[test]
fn token_uris() {
    let uri = TokenUri::parse(
        "pkcs11:token=My%20HSM;object=kek-7;type=secret-key\
         ?pin-source=file:/etc/cd/pin&module-path=/usr/lib/m.so",
    )
    .unwrap();
    assert_eq!(uri.token, "My HSM");
    assert_eq!(uri.object, "kek-7");
    assert_eq!(uri.pin_file, std::path::Path::new("/etc/cd/pin"));
    assert_eq!(uri.module, std::path::Path::new("/usr/lib/m.so"));
    assert_eq!(uri.to_string(), "pkcs11:token=My%20HSM;object=kek-7");
    assert!(matches!(
        KekSource::parse("/etc/cd/kek").unwrap(),
        KekSource::File(_)
    ));
    for (bad, why) in [
        (
            "pkcs11:token=t;object=k?pin-value=1234",
            "pin-value is refused",
        ),
        ("pkcs11:token=t;object=k", "pin-source"),
        ("pkcs11:object=k?pin-source=file:/p", "token="),
        ("pkcs11:token=t?pin-source=file:/p", "object="),
        ("pkcs11:token=t;object=a%20b?pin-source=file:/p", "KEK's id"),
        (
            "pkcs11:token=t;object=k?pin-source=file:relative",
            "ABSOLUTE",
        ),
        (
            "pkcs11:token=t;object=k;type=private?pin-source=file:/p",
            "secret-key",
        ),
        (
            "pkcs11:token=t;object=k;serial=9?pin-source=file:/p",
            "not supported",
        ),
    ] {
        let e = TokenUri::parse(bad).unwrap_err().to_string();
        assert!(e.contains(why), "{bad}: {e}");
        assert!(!e.contains("1234"), "the PIN in an error: {e}");
    }
}

#[test]
fn custody_errors_are_found_through_sources() {
    let e = SealError::Custody {
        kek_id: "k".into(),
        cause: "token gone".into(),
    };
    let id = CertificateId::new(3).unwrap();
    let error = cert_download::StoreError::backend(e).into_error(id);
    assert!(is_custody_unavailable(
        std::error::Error::source(&error).unwrap()
    ));
    let other = cert_download::StoreError::backend(SealError::Random).into_error(id);
    assert!(!is_custody_unavailable(
        std::error::Error::source(&other).unwrap()
    ));
}
