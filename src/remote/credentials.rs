//! The token that reaches a remote. `PROMPTOPS_TOKEN` wins over everything (CI, containers);
//! otherwise the OS keyring holds one token per remote, under `remote:NAME`, put there by
//! `promptops login`. Tokens are never written to a file or shown.

use crate::env;
use crate::secret::{KeyLookup, KeyOrigin, SecretString, Secrets};

use super::RemoteError;

/// The keyring entry of remote `name`'s token.
pub fn keyring_name(remote: &str) -> String {
    format!("remote:{remote}")
}

/// The token of `remote` and where it came from.
pub fn token(secrets: &Secrets, remote: &str) -> Result<(SecretString, KeyOrigin), RemoteError> {
    match secrets.lookup(env::TOKEN, &[&keyring_name(remote)]) {
        KeyLookup::Found(token, origin) => Ok((token, origin)),
        KeyLookup::Missing { keyring_note } => Err(RemoteError::NoToken { remote: remote.to_owned(), keyring_note }),
    }
}

/// Keeps `token` for `remote` in the keyring.
pub fn store(secrets: &Secrets, remote: &str, token: &SecretString) -> Result<(), RemoteError> {
    secrets
        .keyring()
        .set(&keyring_name(remote), token)
        .map_err(|source| RemoteError::Keyring { remote: remote.to_owned(), source })
}

/// Forgets the token of `remote`; returns whether there was one.
pub fn forget(secrets: &Secrets, remote: &str) -> Result<bool, RemoteError> {
    secrets
        .keyring()
        .remove(&keyring_name(remote))
        .map_err(|source| RemoteError::Keyring { remote: remote.to_owned(), source })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::secret::{MemoryKeyring, NoKeyring};

    #[test]
    fn the_environment_token_wins_over_the_keyring() {
        let keyring = MemoryKeyring::default();
        let secrets = Secrets::new(Arc::new(|_| Some("pot_env".to_owned())), Arc::new(keyring));
        store(&secrets, "prod", &SecretString::new("pot_kept")).expect("store");
        let (token, origin) = token(&secrets, "prod").expect("token");
        assert_eq!((token.expose(), origin), ("pot_env", KeyOrigin::Env(env::TOKEN.to_owned())));
    }

    #[test]
    fn a_stored_token_is_per_remote_and_can_be_forgotten() {
        let secrets = Secrets::new(Arc::new(|_| None), Arc::new(MemoryKeyring::default()));
        store(&secrets, "prod", &SecretString::new("pot_prod")).expect("store");
        assert_eq!(token(&secrets, "prod").expect("token").0.expose(), "pot_prod");
        assert!(matches!(token(&secrets, "staging"), Err(RemoteError::NoToken { .. })));
        assert!(forget(&secrets, "prod").expect("forget"));
        assert!(matches!(token(&secrets, "prod"), Err(RemoteError::NoToken { .. })));
    }

    #[test]
    fn no_keyring_says_to_use_the_environment() {
        let secrets = Secrets::new(Arc::new(|_| None), Arc::new(NoKeyring));
        let err = token(&secrets, "prod").expect_err("no token");
        let hints = crate::error::Diagnostic::hints(&err).join("\n");
        assert!(hints.contains("set PROMPTOPS_TOKEN") && hints.contains("no OS keyring"), "{hints}");
    }
}
