//! KEKs held in a PKCS#11 token: the URI that names one (RFC 7512), the module loaded at
//! run time, a pool of logged-in sessions, and the two operations the keyring needs
//! (AES-256-GCM encryption and decryption of a data key inside the token).
//!
//! The URI is parsed in `pkcs11/uri.rs`, the modules and their sessions are kept in
//! `pkcs11/pool.rs`; this file holds the errors and the operations on a key (encrypt,
//! decrypt, generate, destroy).
//!
//! # Why AES-GCM through `C_Encrypt`/`C_Decrypt`, not `CKM_AES_KEY_WRAP_PAD`
//!
//! SoftHSM2 2.6.1 (the module the tests run against) offers `CKM_AES_GCM` for encryption
//! and decryption and `CKM_AES_KEY_WRAP_PAD` for `C_WrapKey`/`C_UnwrapKey`. Key wrap would
//! need the data key to be a token object (created, wrapped, destroyed; unwrapped into an
//! extractable object, read, destroyed): three to four calls per key, an object in the token
//! for each download, and no associated data. GCM is one call each way, takes the same
//! associated data as the file KEK's wrapping (the certificate id and the KEK id, so a
//! wrapped data key moved to another record or relabelled does not open), and keeps one
//! sealed format for both kinds of KEK. The KEK itself never leaves the token either way;
//! the data key comes to the process in both, as it must to open the key it seals.
//!
//! # The token as a dependency that fails
//!
//! Sessions are pooled per module and token. An operation that fails for any reason but
//! the data (a closed session, a removed token, an object no longer found) is tried once
//! more after the module is re-initialised (`C_Finalize` then `C_Initialize`, at most once
//! a second): SoftHSM2 finds the objects of a token directory that went away and came back
//! only after that. Still failing, it is [`TokenError::Unavailable`], which the keyring
//! reports as [`SealError::Custody`](super::SealError::Custody).

use std::fmt;
use std::sync::Arc;

use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, KeyType, ObjectClass};
use zeroize::Zeroizing;

use super::{NONCE_LEN, TAG_LEN};

mod pool;
mod uri;

use pool::{Module, find_key, module};
pub use uri::{DEFAULT_MODULE, TokenUri};

/// Why a token KEK could not be used. Never holds a PIN or key bytes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The PKCS#11 URI is refused.
    #[error("PKCS#11 URI: {0}")]
    Uri(String),
    /// The PIN file is refused.
    #[error("PIN file {path}: {problem}")]
    PinFile {
        /// The file.
        path: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The module cannot be loaded or initialised.
    #[error("PKCS#11 module {module}: {cause}")]
    Module {
        /// The module's path.
        module: String,
        /// The module's answer.
        cause: String,
    },
    /// No token of that label in the module.
    #[error("no token labelled {token:?} in PKCS#11 module {module}")]
    NoToken {
        /// The label.
        token: String,
        /// The module's path.
        module: String,
    },
    /// The token refused the PIN.
    #[error("token {token:?} refused the PIN of the PIN file {pin_file} ({cause})")]
    Pin {
        /// The token's label.
        token: String,
        /// The PIN file.
        pin_file: String,
        /// The module's answer (never the PIN).
        cause: String,
    },
    /// No AES key of that label in the token (or more than one).
    #[error("token {token:?} holds {found} secret keys labelled {object:?} (one is needed)")]
    NoObject {
        /// The token's label.
        token: String,
        /// The object's label.
        object: String,
        /// How many it holds.
        found: usize,
    },
    /// `kek new --pkcs11` found a key of that label already.
    #[error("token {token:?} already holds a key labelled {object:?}; it is not replaced")]
    Exists {
        /// The token's label.
        token: String,
        /// The object's label.
        object: String,
    },
    /// The token does not answer (removed, closed, failing).
    #[error("token {token:?} does not answer: {cause}")]
    Unavailable {
        /// The token's label.
        token: String,
        /// The module's answer.
        cause: String,
    },
}

/// A KEK in a token: what names it, and the module that reaches it.
pub(crate) struct TokenKek {
    uri: TokenUri,
    module: Arc<Module>,
}

impl fmt::Debug for TokenKek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenKek").field("uri", &self.uri).finish()
    }
}

impl TokenKek {
    /// Reaches the key `uri` names: loads the module, logs in, finds the key. A wrong
    /// module, token, PIN or object is an error here.
    pub(crate) fn open(uri: &TokenUri) -> Result<Self, TokenError> {
        let kek = Self {
            uri: uri.clone(),
            module: module(&uri.module),
        };
        kek.module.run(&kek.uri, &|_, _| Ok(()))?;
        Ok(kek)
    }

    pub(crate) fn uri(&self) -> &TokenUri {
        &self.uri
    }

    /// AES-256-GCM in the token: the ciphertext followed by the 16-byte tag.
    pub(crate) fn encrypt(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, TokenError> {
        let out = self.module.run(&self.uri, &|session, key| {
            let mut iv = *nonce;
            let params = GcmParams::new(&mut iv, aad, (TAG_LEN as u64 * 8).into())?;
            session.encrypt(&Mechanism::AesGcm(params), key, plaintext)
        })?;
        out.filter(|c| c.len() == plaintext.len() + TAG_LEN)
            .ok_or_else(|| TokenError::Unavailable {
                token: self.uri.token.clone(),
                cause: "AES-GCM encryption gave no ciphertext of the expected length".into(),
            })
    }

    /// Opens what [`encrypt`](Self::encrypt) sealed; `Ok(None)` when it does not
    /// authenticate.
    pub(crate) fn decrypt(
        &self,
        nonce: &[u8],
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Option<Zeroizing<Vec<u8>>>, TokenError> {
        if nonce.len() != NONCE_LEN || sealed.len() < TAG_LEN {
            return Ok(None);
        }
        let out = self.module.run(&self.uri, &|session, key| {
            let mut iv = [0u8; NONCE_LEN];
            iv.copy_from_slice(nonce);
            let params = GcmParams::new(&mut iv, aad, (TAG_LEN as u64 * 8).into())?;
            session.decrypt(&Mechanism::AesGcm(params), key, sealed)
        })?;
        Ok(out.map(Zeroizing::new))
    }
}

/// Generates the KEK `uri` names in its token: AES-256, sensitive, never extractable,
/// for encryption and decryption only. Refuses when the token holds a key of that label.
pub(crate) fn generate(uri: &TokenUri) -> Result<(), TokenError> {
    module(&uri.module).with_rw_session(uri, |session| match find_key(session, uri) {
        Ok(_) => Err(TokenError::Exists {
            token: uri.token.clone(),
            object: uri.object.clone(),
        }),
        Err(TokenError::NoObject { found: 0, .. }) => session
            .generate_key(
                &Mechanism::AesKeyGen,
                &[
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(KeyType::AES),
                    Attribute::ValueLen(32u64.into()),
                    Attribute::Token(true),
                    Attribute::Private(true),
                    Attribute::Sensitive(true),
                    Attribute::Extractable(false),
                    Attribute::Encrypt(true),
                    Attribute::Decrypt(true),
                    Attribute::Wrap(false),
                    Attribute::Unwrap(false),
                    Attribute::Sign(false),
                    Attribute::Verify(false),
                    Attribute::Derive(false),
                    Attribute::Label(uri.object.as_bytes().to_vec()),
                    Attribute::Id(uri.object.as_bytes().to_vec()),
                ],
            )
            .map(|_| ())
            .map_err(|e| TokenError::Unavailable {
                token: uri.token.clone(),
                cause: e.to_string(),
            }),
        Err(e) => Err(e),
    })
}

/// Destroys the KEK `uri` names in its token (`C_DestroyObject`): the key is gone for good,
/// and everything it sealed with it. Only [`crate::Vault::retire_kek`] calls it, after it
/// found that nothing needs the key.
pub(crate) fn destroy(uri: &TokenUri) -> Result<(), TokenError> {
    let module = module(&uri.module);
    let result = module.with_rw_session(uri, |session| {
        find_key(session, uri).and_then(|handle| {
            session
                .destroy_object(handle)
                .map_err(|e| TokenError::Unavailable {
                    token: uri.token.clone(),
                    cause: e.to_string(),
                })
        })
    });
    // Sessions of this process that found the key keep its handle: drop them.
    module.forget_sessions();
    result
}
