//! The PKCS#11 modules this process has loaded and their pools of logged-in sessions:
//! loading and (re-)initialising a module, opening a session on a token and logging in with
//! the PIN file's PIN, finding a key by its label, and running one operation on a pooled
//! session, tried again once after a re-initialisation when the token fails (see the
//! [parent module](super)'s documentation).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::object::{Attribute, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use zeroize::Zeroizing;

use super::{TokenError, TokenUri};
use crate::seal::private_file::{self, FileProblem};

/// The largest PIN file read.
const MAX_PIN_FILE: u64 = 4096;
/// The shortest time between two re-initialisations of one module.
const REINIT_INTERVAL: Duration = Duration::from_secs(1);

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
pub(super) struct Module {
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
pub(super) fn module(path: &Path) -> Arc<Module> {
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
    pub(super) fn run<T>(
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

    /// `op` on a new logged-in read-write session of the token `uri` names, closed after:
    /// for the operations that change the token (generating or destroying a key), which do
    /// not go through the pool.
    pub(super) fn with_rw_session<T>(
        &self,
        uri: &TokenUri,
        op: impl FnOnce(&Session) -> Result<T, TokenError>,
    ) -> Result<T, TokenError> {
        self.init(false)?;
        let guard = self.context.read().unwrap_or_else(|e| e.into_inner());
        let context = guard.as_ref().ok_or_else(|| TokenError::Module {
            module: self.shown(),
            cause: "not initialised".into(),
        })?;
        let pooled = self.open_session(context, uri, true)?;
        let result = op(&pooled.session);
        let _ = pooled.session.close();
        result
    }

    /// Drops the pooled sessions (their key handles with them).
    pub(super) fn forget_sessions(&self) {
        self.pool.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// The handle of the one secret key labelled as `uri`'s object in the session's token.
pub(super) fn find_key(session: &Session, uri: &TokenUri) -> Result<ObjectHandle, TokenError> {
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
