//! A PKCS#11 import as an HSM does it, for `tests/recipient.rs`: loads an AES-256 key into
//! a token, `C_UnwrapKey`s a key wrapped with RFC 5649 (`CKM_AES_KEY_WRAP_PAD`) into a
//! non-extractable private key object, and has the token sign a SHA-256 digest with it.
//!
//! A process of its own because SoftHSM2 finds its token directory through the
//! `SOFTHSM2_CONF` environment variable, which a test must not set in its own
//! (multi-threaded) process.
//!
//! `softhsm-import MODULE TOKEN_LABEL PIN AES_KEY_FILE WRAPPED_FILE rsa|ec DIGEST_HEX`
//! prints the signature in hex: PKCS#1 v1.5 (RSA) or DER ECDSA (EC).

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, ObjectClass};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [module, label, pin, aes, wrapped, kind, digest] = args.as_slice() else {
        eprintln!("usage: softhsm-import MODULE LABEL PIN AES_KEY WRAPPED rsa|ec DIGEST_HEX");
        std::process::exit(2);
    };
    let aes = std::fs::read(aes).expect("the AES key file");
    let wrapped = std::fs::read(wrapped).expect("the wrapped key file");
    let digest = unhex(digest);

    let pkcs11 = Pkcs11::new(module).expect("the PKCS#11 module");
    pkcs11
        .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .expect("C_Initialize");
    let slot = pkcs11
        .get_slots_with_token()
        .expect("the slots")
        .into_iter()
        .find(|s| pkcs11.get_token_info(*s).is_ok_and(|t| t.label() == label))
        .expect("the token");
    let session = pkcs11.open_rw_session(slot).expect("a session");
    session
        .login(UserType::User, Some(&AuthPin::from(pin.as_str())))
        .expect("C_Login");
    let kek = session
        .create_object(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Value(aes),
            Attribute::Token(false),
            Attribute::Unwrap(true),
            Attribute::Sensitive(true),
        ])
        .expect("the AES key in the token");
    let key_type = match kind.as_str() {
        "rsa" => KeyType::RSA,
        "ec" => KeyType::EC,
        other => panic!("unknown key kind {other}"),
    };
    let key = session
        .unwrap_key(
            &Mechanism::AesKeyWrapPad,
            kek,
            &wrapped,
            &[
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::KeyType(key_type),
                Attribute::Token(false),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Sign(true),
            ],
        )
        .expect("C_UnwrapKey with CKM_AES_KEY_WRAP_PAD");
    let signature = match key_type {
        KeyType::RSA => {
            // DigestInfo for SHA-256 (RFC 8017 section 9.2, note 1), then the digest.
            let mut info = unhex("3031300d060960864801650304020105000420");
            info.extend_from_slice(&digest);
            session
                .sign(&Mechanism::RsaPkcs, key, &info)
                .expect("C_Sign RSA")
        }
        _ => {
            let raw = session
                .sign(&Mechanism::Ecdsa, key, &digest)
                .expect("C_Sign ECDSA");
            let (r, s) = raw.split_at(raw.len() / 2);
            der_ecdsa(r, s)
        }
    };
    println!("{}", hex(&signature));
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }` from the raw halves.
fn der_ecdsa(r: &[u8], s: &[u8]) -> Vec<u8> {
    fn integer(v: &[u8]) -> Vec<u8> {
        let v = &v[v.iter().take_while(|b| **b == 0).count().min(v.len() - 1)..];
        let mut body = Vec::new();
        if v[0] & 0x80 != 0 {
            body.push(0);
        }
        body.extend_from_slice(v);
        let mut out = vec![0x02];
        out.extend(length(body.len()));
        out.extend(body);
        out
    }
    fn length(n: usize) -> Vec<u8> {
        if n < 0x80 {
            vec![n as u8]
        } else {
            vec![0x81, n as u8]
        }
    }
    let mut body = integer(r);
    body.extend(integer(s));
    let mut out = vec![0x30];
    out.extend(length(body.len()));
    out.extend(body);
    out
}
