//! KEKs held in a PKCS#11 token: the URI that names one (RFC 7512), the module loaded at
//! run time, a pool of logged-in sessions, and the two operations the keyring needs
//! (AES-256-GCM encryption and decryption of a data key inside the token).
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

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use zeroize::Zeroizing;

use super::private_file::{self, FileProblem};
use super::{NONCE_LEN, TAG_LEN};

/// The module used when the URI names none and `CERT_DOWNLOAD_PKCS11_MODULE` is unset.
pub const DEFAULT_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
/// The largest PIN file read.
const MAX_PIN_FILE: u64 = 4096;
/// The shortest time between two re-initialisations of one module.
const REINIT_INTERVAL: Duration = Duration::from_secs(1);

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

/// An RFC 7512 PKCS#11 URI naming a KEK: `pkcs11:token=LABEL;object=LABEL` with the query
/// attributes `pin-source=file:PATH` (required) and `module-path=PATH`. `pin-value` is
/// refused: a PIN in a URI ends up in shell histories, process lists and logs.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenUri {
    /// The module (`module-path`, else `CERT_DOWNLOAD_PKCS11_MODULE`, else [`DEFAULT_MODULE`]).
    pub module: PathBuf,
    /// The token's label.
    pub token: String,
    /// The key's label, which is also the KEK's id.
    pub object: String,
    /// The file holding the user PIN (mode 0600, owned by the process's user or root).
    pub pin_file: PathBuf,
}

impl fmt::Debug for TokenUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for TokenUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pkcs11:token={};object={}",
            escape(&self.token),
            escape(&self.object)
        )
    }
}

fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn unescape(value: &str) -> Result<String, TokenError> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| TokenError::Uri("a bad %-escape".into()))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| TokenError::Uri("a value is not UTF-8".into()))
}

impl TokenUri {
    /// Parses `pkcs11:...`. Errors name the attribute, never its value.
    pub fn parse(uri: &str) -> Result<Self, TokenError> {
        let rest = uri
            .strip_prefix("pkcs11:")
            .ok_or_else(|| TokenError::Uri("it does not start with pkcs11:".into()))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut token = None;
        let mut object = None;
        let mut module = None;
        let mut pin_file = None;
        let pairs = path
            .split(';')
            .map(|p| (p, false))
            .chain(query.split('&').map(|p| (p, true)));
        for (pair, in_query) in pairs {
            if pair.is_empty() {
                continue;
            }
            let (name, value) = pair
                .split_once('=')
                .ok_or_else(|| TokenError::Uri(format!("{:?} is not name=value", name_of(pair))))?;
            match (name, in_query) {
                ("pin-value", _) => {
                    return Err(TokenError::Uri(
                        "pin-value is refused: put the PIN in a file (mode 0600) and name it \
                         with ?pin-source=file:PATH"
                            .into(),
                    ));
                }
                ("token", false) => token = Some(unescape(value)?),
                ("object", false) => object = Some(unescape(value)?),
                ("type", false) => {
                    if value != "secret-key" {
                        return Err(TokenError::Uri("type must be secret-key".into()));
                    }
                }
                ("module-path", true) => module = Some(PathBuf::from(unescape(value)?)),
                ("pin-source", true) => {
                    let source = unescape(value)?;
                    let path = source.strip_prefix("file:").unwrap_or(&source);
                    let path = path.strip_prefix("//").unwrap_or(path);
                    if !path.starts_with('/') {
                        return Err(TokenError::Uri(
                            "pin-source must be file:/ABSOLUTE/PATH".into(),
                        ));
                    }
                    pin_file = Some(PathBuf::from(path));
                }
                (other, _) => {
                    return Err(TokenError::Uri(format!(
                        "the attribute {:?} is not supported here (token, object, type; \
                         ?module-path, pin-source)",
                        name_of(other)
                    )));
                }
            }
        }
        let token = token.ok_or_else(|| TokenError::Uri("token=LABEL is missing".into()))?;
        let object = object.ok_or_else(|| TokenError::Uri("object=LABEL is missing".into()))?;
        if !super::kek_file::valid_id(&object) {
            return Err(TokenError::Uri(
                "the object label is the KEK's id: 1 to 64 characters of A-Z a-z 0-9 . _ -".into(),
            ));
        }
        let pin_file = pin_file.ok_or_else(|| {
            TokenError::Uri("?pin-source=file:PATH is missing (the user PIN's file)".into())
        })?;
        let module = module
            .or_else(|| {
                std::env::var_os("CERT_DOWNLOAD_PKCS11_MODULE")
                    .filter(|m| !m.is_empty())
                    .map(PathBuf::from)
            })
            .unwrap_or_else(|| PathBuf::from(DEFAULT_MODULE));
        Ok(Self {
            module,
            token,
            object,
            pin_file,
        })
    }
}

/// An attribute name as it may be shown: at most 32 characters of the name.
fn name_of(pair: &str) -> String {
    pair.split('=')
        .next()
        .unwrap_or("")
        .chars()
        .take(32)
        .collect()
}

/// Reads the PIN file as the KEK file is read (see [`private_file`]).
fn read_pin(path: &Path) -> Result<Zeroizing<String>, TokenError> {
    let shown = path.display().to_string();
    let bytes = private_file::read(path, MAX_PIN_FILE).map_err(|problem| TokenError::PinFile {
        path: shown.clone(),
        problem: problem.to_string(),
    })?;
    let text = std::str::from_utf8(&bytes).map_err(|_| TokenError::PinFile {
        path: shown.clone(),
        problem: FileProblem::Syntax("not UTF-8 text").to_string(),
    })?;
    let pin = text.trim_end_matches(['\n', '\r']);
    if pin.is_empty() {
        return Err(TokenError::PinFile {
            path: shown,
            problem: FileProblem::Syntax("it holds no PIN").to_string(),
        });
    }
    Ok(Zeroizing::new(pin.to_owned()))
}

/// One loaded module: its context (re-made on re-initialisation) and its pooled sessions.
struct Module {
    path: PathBuf,
    /// Operations hold it for reading; re-initialisation for writing, so that no session
    /// is in use while the module is finalised.
    context: RwLock<Option<Pkcs11>>,
    pool: Mutex<Vec<Pooled>>,
    last_init: Mutex<Option<Instant>>,
}

/// A logged-in session on one token, with the handles of the keys it found.
struct Pooled {
    token: String,
    session: Session,
    keys: HashMap<String, ObjectHandle>,
}

/// The modules loaded by this process, by path: a module is initialised once per process.
fn module(path: &Path) -> Arc<Module> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Arc<Module>>>> = OnceLock::new();
    let modules = MODULES.get_or_init(|| Mutex::new(HashMap::new()));
    let mut modules = modules.lock().unwrap_or_else(|e| e.into_inner());
    Arc::clone(modules.entry(path.to_owned()).or_insert_with(|| {
        Arc::new(Module {
            path: path.to_owned(),
            context: RwLock::new(None),
            pool: Mutex::new(Vec::new()),
            last_init: Mutex::new(None),
        })
    }))
}

/// What an operation's failure means.
enum Failure {
    /// The data does not decrypt (a wrong key, a tampered value): not the token's fault.
    Data,
    /// Anything else.
    Token(TokenError),
}

impl Module {
    fn shown(&self) -> String {
        self.path.display().to_string()
    }

    fn load(&self) -> Result<Pkcs11, TokenError> {
        let failed = |e: CkError| TokenError::Module {
            module: self.shown(),
            cause: e.to_string(),
        };
        let context = Pkcs11::new(&self.path).map_err(failed)?;
        match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => Ok(context),
            Err(e) => Err(failed(e)),
        }
    }

    /// Initialises the module if it is not; with `again`, finalises and initialises it
    /// anew (at most once per [`REINIT_INTERVAL`]). The pooled sessions are dropped.
    fn init(&self, again: bool) -> Result<(), TokenError> {
        if !again
            && self
                .context
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .is_some()
        {
            return Ok(());
        }
        let mut context = self.context.write().unwrap_or_else(|e| e.into_inner());
        let mut last = self.last_init.lock().unwrap_or_else(|e| e.into_inner());
        if context.is_some() {
            if !again || last.is_some_and(|at| at.elapsed() < REINIT_INTERVAL) {
                return Ok(());
            }
            // Sessions were opened without close-on-drop: finalising closes them all.
            self.pool.lock().unwrap_or_else(|e| e.into_inner()).clear();
            if let Some(old) = context.take() {
                let _ = old.finalize();
            }
        } else if last.is_some_and(|at| at.elapsed() < REINIT_INTERVAL) {
            // The last try failed less than a second ago: do not load the module for
            // every request while it fails.
            return Err(TokenError::Module {
                module: self.shown(),
                cause: "it failed to initialise less than a second ago".into(),
            });
        }
        *last = Some(Instant::now());
        *context = Some(self.load()?);
        Ok(())
    }

    fn open_session(
        &self,
        context: &Pkcs11,
        uri: &TokenUri,
        rw: bool,
    ) -> Result<Pooled, TokenError> {
        let unavailable = |e: CkError| TokenError::Unavailable {
            token: uri.token.clone(),
            cause: e.to_string(),
        };
        let mut found = None;
        for slot in context.get_slots_with_token().map_err(unavailable)? {
            let Ok(info) = context.get_token_info(slot) else {
                continue;
            };
            if info.label().trim_end() == uri.token {
                found = Some(slot);
                break;
            }
        }
        let slot = found.ok_or_else(|| TokenError::NoToken {
            token: uri.token.clone(),
            module: self.shown(),
        })?;
        let session = if rw {
            context.open_rw_session_no_drop(slot)
        } else {
            context.open_ro_session_no_drop(slot)
        }
        .map_err(unavailable)?;
        let pin = read_pin(&uri.pin_file)?;
        let auth = AuthPin::from(pin.as_str());
        match session.login(UserType::User, Some(&auth)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(CkError::Pkcs11(
                rv @ (RvError::PinIncorrect | RvError::PinLocked | RvError::PinExpired),
                _,
            )) => {
                let _ = session.close();
                return Err(TokenError::Pin {
                    token: uri.token.clone(),
                    pin_file: uri.pin_file.display().to_string(),
                    cause: format!("{rv:?}"),
                });
            }
            Err(e) => {
                let _ = session.close();
                return Err(unavailable(e));
            }
        }
        Ok(Pooled {
            token: uri.token.clone(),
            session,
            keys: HashMap::new(),
        })
    }

    fn take(&self, context: &Pkcs11, uri: &TokenUri) -> Result<Pooled, TokenError> {
        let pooled = {
            let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
            pool.iter()
                .position(|p| p.token == uri.token)
                .map(|i| pool.swap_remove(i))
        };
        match pooled {
            Some(p) => Ok(p),
            None => self.open_session(context, uri, false),
        }
    }

    fn give_back(&self, pooled: Pooled) {
        self.pool
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(pooled);
    }

    /// One try of `op` on a pooled session with the key's handle.
    fn attempt<T>(
        &self,
        uri: &TokenUri,
        op: &dyn Fn(&Session, ObjectHandle) -> Result<T, CkError>,
    ) -> Result<T, Failure> {
        let guard = self.context.read().unwrap_or_else(|e| e.into_inner());
        let Some(context) = guard.as_ref() else {
            return Err(Failure::Token(TokenError::Unavailable {
                token: uri.token.clone(),
                cause: "the module is not initialised".into(),
            }));
        };
        let mut pooled = self.take(context, uri).map_err(Failure::Token)?;
        let handle = match pooled.keys.get(&uri.object) {
            Some(h) => *h,
            None => match find_key(&pooled.session, uri) {
                Ok(h) => {
                    pooled.keys.insert(uri.object.clone(), h);
                    h
                }
                Err(e) => {
                    // A session that answers is kept even when the key is not there.
                    if matches!(e, TokenError::NoObject { .. }) {
                        self.give_back(pooled);
                    }
                    return Err(Failure::Token(e));
                }
            },
        };
        match op(&pooled.session, handle) {
            Ok(value) => {
                self.give_back(pooled);
                Ok(value)
            }
            Err(CkError::Pkcs11(
                RvError::EncryptedDataInvalid
                | RvError::EncryptedDataLenRange
                | RvError::DataLenRange
                | RvError::DataInvalid,
                _,
            )) => {
                self.give_back(pooled);
                Err(Failure::Data)
            }
            // SoftHSM2 2.6.1 answers a GCM tag that does not verify with
            // CKR_GENERAL_ERROR: when the session still finds the key, the data is at fault.
            Err(CkError::Pkcs11(RvError::GeneralError | RvError::FunctionFailed, _))
                if find_key(&pooled.session, uri).is_ok_and(|h| h == handle) =>
            {
                self.give_back(pooled);
                Err(Failure::Data)
            }
            // The session is dropped (not closed: it may be gone already).
            Err(e) => Err(Failure::Token(TokenError::Unavailable {
                token: uri.token.clone(),
                cause: e.to_string(),
            })),
        }
    }

    /// `op` on the token, tried again once after a re-initialisation of the module when
    /// the token failed. `Ok(None)`: the data does not decrypt.
    fn run<T>(
        &self,
        uri: &TokenUri,
        op: &dyn Fn(&Session, ObjectHandle) -> Result<T, CkError>,
    ) -> Result<Option<T>, TokenError> {
        self.init(false)?;
        match self.attempt(uri, op) {
            Ok(v) => return Ok(Some(v)),
            Err(Failure::Data) => return Ok(None),
            Err(Failure::Token(_)) => {}
        }
        self.init(true)?;
        match self.attempt(uri, op) {
            Ok(v) => Ok(Some(v)),
            Err(Failure::Data) => Ok(None),
            Err(Failure::Token(e)) => Err(e),
        }
    }
}

fn find_key(session: &Session, uri: &TokenUri) -> Result<ObjectHandle, TokenError> {
    let found = session
        .find_objects(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::Label(uri.object.as_bytes().to_vec()),
        ])
        .map_err(|e| TokenError::Unavailable {
            token: uri.token.clone(),
            cause: e.to_string(),
        })?;
    match found.as_slice() {
        [one] => Ok(*one),
        other => Err(TokenError::NoObject {
            token: uri.token.clone(),
            object: uri.object.clone(),
            found: other.len(),
        }),
    }
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
    let module = module(&uri.module);
    module.init(false)?;
    let guard = module.context.read().unwrap_or_else(|e| e.into_inner());
    let context = guard.as_ref().ok_or_else(|| TokenError::Module {
        module: module.shown(),
        cause: "not initialised".into(),
    })?;
    let pooled = module.open_session(context, uri, true)?;
    let session = &pooled.session;
    let result = match find_key(session, uri) {
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
    };
    let _ = pooled.session.close();
    result
}

/// Destroys the KEK `uri` names in its token (`C_DestroyObject`): the key is gone for good,
/// and everything it sealed with it. Only [`crate::Vault::retire_kek`] calls it, after it
/// found that nothing needs the key.
pub(crate) fn destroy(uri: &TokenUri) -> Result<(), TokenError> {
    let module = module(&uri.module);
    module.init(false)?;
    let guard = module.context.read().unwrap_or_else(|e| e.into_inner());
    let context = guard.as_ref().ok_or_else(|| TokenError::Module {
        module: module.shown(),
        cause: "not initialised".into(),
    })?;
    let pooled = module.open_session(context, uri, true)?;
    let result = find_key(&pooled.session, uri).and_then(|handle| {
        pooled
            .session
            .destroy_object(handle)
            .map_err(|e| TokenError::Unavailable {
                token: uri.token.clone(),
                cause: e.to_string(),
            })
    });
    let _ = pooled.session.close();
    // Sessions of this process that found the key keep its handle: drop them.
    module
        .pool
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clear();
    result
}
