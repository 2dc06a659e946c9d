//! Arbitrary bytes as a request body: never a panic; every refusal is a 400; every accepted
//! body is a request whose fields round-trip through the contract's rules (a key only with
//! a password, never in a p7b).
#![no_main]

use cert_download::{DownloadRequest, Format};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    match DownloadRequest::from_json(body) {
        Err(error) => {
            assert_eq!(error.status(), 400, "{error:?}");
            let json = error.to_json();
            assert!(json.starts_with("{\"status\":400,\"error\":\""), "{json}");
        }
        Ok(request) => {
            assert!(body.len() <= cert_download::MAX_BODY_BYTES);
            assert!((1..=i64::MAX as u64).contains(&request.id().get()));
            // A key leaves exactly for pfx, or when asked; always with a password.
            if request.format() == Format::Pfx {
                assert!(request.includes_key());
            }
            // A p7b never carries a key (download_key true is a 400 key_not_supported).
            if request.format() == Format::P7b {
                assert!(!request.includes_key());
            }
            assert_eq!(request.includes_key(), request.password().is_some());
            if let Some(password) = request.password() {
                assert!(password.secret_str().chars().count() >= 8);
                // The request's Debug shows the password as the same text whatever the
                // password is. (Not "the password is nowhere in the Debug text": other,
                // public fields such as friendly_name may contain it.)
                let other = cert_download::Password::new(
                    "another-password-of-the-policy",
                    &cert_download::PasswordPolicy::default(),
                )
                .expect("a valid password");
                assert_eq!(format!("{password:?}"), format!("{other:?}"));
                assert!(format!("{request:?}").contains(&format!("password: Some({other:?})")));
            }
        }
    }
});
