//! API keys: [`SecretString`] (whose `Debug` and `Display` never show the value) and where keys
//! come from. The environment is asked first (CI, containers); then the OS keyring, behind the
//! [`KeyStore`] trait so that tests inject a fake and never touch the real one. A machine with
//! no keyring (no Secret Service daemon, no D-Bus) is a normal, named condition, not a crash.
//! Keys are never written to a file or a log by promptops.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

/// A secret value. Only [`SecretString::expose`] reveals it, at the point of use.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a secret (surrounding whitespace, such as a pasted newline, is removed).
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into().trim().to_owned())
    }

    /// The secret itself, to put in a request header.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(****)")
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

/// Why the keyring could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyringError {
    /// No keyring on this machine (no Secret Service, no D-Bus, or turned off).
    #[error("no OS keyring is available: {0}")]
    Unavailable(String),
    /// The keyring answered with an error.
    #[error("the OS keyring failed: {0}")]
    Failed(String),
}

impl crate::error::Diagnostic for KeyringError {
    fn class(&self) -> crate::error::ErrorClass {
        crate::error::ErrorClass::Config
    }
    fn hints(&self) -> Vec<String> {
        vec![
            "machines without a keyring (CI, containers) pass keys in environment variables instead".to_owned(),
            "e.g. `OPENAI_API_KEY`, or the provider's `api_key_env` in promptops.yaml".to_owned(),
        ]
    }
}

/// Where keys are kept between runs: the OS keyring in production, a map in tests.
pub trait KeyStore: Send + Sync + fmt::Debug {
    /// The key stored under `name` (a provider id or kind).
    fn get(&self, name: &str) -> Result<Option<SecretString>, KeyringError>;
    /// Stores `secret` under `name`, replacing any previous one.
    fn set(&self, name: &str, secret: &SecretString) -> Result<(), KeyringError>;
    /// Removes the key under `name`; returns whether there was one.
    fn remove(&self, name: &str) -> Result<bool, KeyringError>;
}

/// The service name under which promptops keeps keys in the OS keyring.
pub const KEYRING_SERVICE: &str = "promptops";

/// The OS keyring (Secret Service on Linux, Keychain on macOS, Credential Manager on Windows).
#[derive(Debug, Clone, Copy, Default)]
pub struct OsKeyring;

impl OsKeyring {
    fn entry(name: &str) -> Result<keyring::Entry, KeyringError> {
        keyring::Entry::new(KEYRING_SERVICE, name).map_err(convert)
    }

    /// Runs a keyring call on its own thread: the Secret Service client blocks on a private
    /// tokio runtime, which panics (or deadlocks) when called from inside another runtime.
    fn isolated<T: Send>(call: impl FnOnce() -> Result<T, KeyringError> + Send) -> Result<T, KeyringError> {
        std::thread::scope(|scope| {
            scope
                .spawn(call)
                .join()
                .unwrap_or_else(|_| Err(KeyringError::Failed("the keyring call panicked".to_owned())))
        })
    }
}

fn convert(err: keyring::Error) -> KeyringError {
    match err {
        keyring::Error::NoStorageAccess(inner) | keyring::Error::PlatformFailure(inner) => {
            KeyringError::Unavailable(inner.to_string())
        }
        other => KeyringError::Failed(other.to_string()),
    }
}

impl KeyStore for OsKeyring {
    fn get(&self, name: &str) -> Result<Option<SecretString>, KeyringError> {
        Self::isolated(|| match Self::entry(name)?.get_password() {
            Ok(value) => Ok(Some(SecretString::new(value))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(err) => Err(convert(err)),
        })
    }

    fn set(&self, name: &str, secret: &SecretString) -> Result<(), KeyringError> {
        Self::isolated(|| Self::entry(name)?.set_password(secret.expose()).map_err(convert))
    }

    fn remove(&self, name: &str) -> Result<bool, KeyringError> {
        Self::isolated(|| match Self::entry(name)?.delete_credential() {
            Ok(()) => Ok(true),
            Err(keyring::Error::NoEntry) => Ok(false),
            Err(err) => Err(convert(err)),
        })
    }
}

/// A keyring that is never there (`PROMPTOPS_KEYRING=none`, and tests of that case).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoKeyring;

impl NoKeyring {
    fn unavailable() -> KeyringError {
        KeyringError::Unavailable("turned off with PROMPTOPS_KEYRING=none".to_owned())
    }
}

impl KeyStore for NoKeyring {
    fn get(&self, _name: &str) -> Result<Option<SecretString>, KeyringError> {
        Err(Self::unavailable())
    }
    fn set(&self, _name: &str, _secret: &SecretString) -> Result<(), KeyringError> {
        Err(Self::unavailable())
    }
    fn remove(&self, _name: &str) -> Result<bool, KeyringError> {
        Err(Self::unavailable())
    }
}

/// An in-memory keyring for tests.
#[derive(Debug, Clone, Default)]
pub struct MemoryKeyring {
    keys: Arc<Mutex<BTreeMap<String, SecretString>>>,
}

impl KeyStore for MemoryKeyring {
    fn get(&self, name: &str) -> Result<Option<SecretString>, KeyringError> {
        Ok(self.keys.lock().map_err(|_| KeyringError::Failed("poisoned".to_owned()))?.get(name).cloned())
    }
    fn set(&self, name: &str, secret: &SecretString) -> Result<(), KeyringError> {
        self.keys
            .lock()
            .map_err(|_| KeyringError::Failed("poisoned".to_owned()))?
            .insert(name.to_owned(), secret.clone());
        Ok(())
    }
    fn remove(&self, name: &str) -> Result<bool, KeyringError> {
        Ok(self.keys.lock().map_err(|_| KeyringError::Failed("poisoned".to_owned()))?.remove(name).is_some())
    }
}

/// Where a found key came from (for `auth list`; never the key itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOrigin {
    /// An environment variable.
    Env(String),
    /// The keyring entry of this name.
    Keyring(String),
}

impl fmt::Display for KeyOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env(var) => write!(f, "environment (`{var}`)"),
            Self::Keyring(name) => write!(f, "keyring (`{name}`)"),
        }
    }
}

/// The outcome of looking for a key.
#[derive(Debug, Clone)]
pub enum KeyLookup {
    /// Found.
    Found(SecretString, KeyOrigin),
    /// Not set anywhere; `keyring_note` says why the keyring could not be asked, if it could not.
    Missing {
        /// Why the keyring was not usable.
        keyring_note: Option<String>,
    },
}

/// Reads an environment variable; injectable so that tests need not change the process environment.
pub type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// The key sources in order: the environment, then the keyring.
#[derive(Clone)]
pub struct Secrets {
    env: EnvLookup,
    keyring: Arc<dyn KeyStore>,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secrets").field("keyring", &self.keyring).finish_non_exhaustive()
    }
}

impl Secrets {
    /// Keys from `env` and `keyring`.
    pub fn new(env: EnvLookup, keyring: Arc<dyn KeyStore>) -> Self {
        Self { env, keyring }
    }

    /// The process environment and the keyring `PROMPTOPS_KEYRING` selects (`os`, the default, or `none`).
    pub fn from_process() -> Self {
        let keyring: Arc<dyn KeyStore> = match std::env::var(crate::env::KEYRING).as_deref() {
            Ok("none" | "off") => Arc::new(NoKeyring),
            _ => Arc::new(OsKeyring),
        };
        Self::new(Arc::new(|name| std::env::var(name).ok()), keyring)
    }

    /// The keyring, for `auth set-key`/`auth rm`.
    pub fn keyring(&self) -> &Arc<dyn KeyStore> {
        &self.keyring
    }

    /// Looks for a key: `env_var` first, then each keyring name in turn.
    pub fn lookup(&self, env_var: &str, keyring_names: &[&str]) -> KeyLookup {
        if let Some(value) = (self.env)(env_var).filter(|v| !v.trim().is_empty()) {
            return KeyLookup::Found(SecretString::new(value), KeyOrigin::Env(env_var.to_owned()));
        }
        for name in keyring_names {
            match self.keyring.get(name) {
                Ok(Some(secret)) if !secret.is_empty() => {
                    return KeyLookup::Found(secret, KeyOrigin::Keyring((*name).to_owned()));
                }
                Ok(_) => {}
                Err(err) => return KeyLookup::Missing { keyring_note: Some(err.to_string()) },
            }
        }
        KeyLookup::Missing { keyring_note: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_secret() {
        let secret = SecretString::new("sk-very-secret\n");
        assert_eq!(format!("{secret:?}"), "SecretString(****)");
        assert_eq!(format!("{secret}"), "****");
        assert_eq!(secret.expose(), "sk-very-secret");
    }

    #[test]
    fn environment_comes_before_the_keyring() {
        let keyring = MemoryKeyring::default();
        keyring.set("fast", &SecretString::new("from-keyring")).expect("set");
        let env: EnvLookup = Arc::new(|name| (name == "MY_KEY").then(|| "from-env".to_owned()));
        let secrets = Secrets::new(env, Arc::new(keyring));
        let KeyLookup::Found(key, origin) = secrets.lookup("MY_KEY", &["fast"]) else { panic!("found") };
        assert_eq!((key.expose(), origin), ("from-env", KeyOrigin::Env("MY_KEY".into())));
        let KeyLookup::Found(key, origin) = secrets.lookup("OTHER", &["fast"]) else { panic!("found") };
        assert_eq!((key.expose(), origin), ("from-keyring", KeyOrigin::Keyring("fast".into())));
    }

    #[test]
    fn no_keyring_is_a_soft_condition_with_a_note() {
        let secrets = Secrets::new(Arc::new(|_| None), Arc::new(NoKeyring));
        let KeyLookup::Missing { keyring_note } = secrets.lookup("K", &["x"]) else { panic!("missing") };
        assert!(keyring_note.expect("note").contains("no OS keyring"));
    }
}
