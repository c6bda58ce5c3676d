//! [`RemoteError`]: what can go wrong between the CLI and a server, each with its exit class and
//! the next step to take. The server's own error `code`, `message` and `hint` are kept as sent.

use crate::error::{Diagnostic, ErrorClass, list_names};
use crate::secret::KeyringError;

/// A failure to reach, or be served by, a remote.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// `--remote NAME` names no entry of `remotes:`.
    #[error("no remote named `{name}` in promptops.yaml")]
    UnknownRemote {
        /// The name asked for.
        name: String,
        /// The remotes configured.
        known: Vec<String>,
    },
    /// A remote entry that cannot be used as written.
    #[error("remote `{name}`: {problem}")]
    BadRemote {
        /// The remote.
        name: String,
        /// What is wrong.
        problem: String,
    },
    /// No token in `PROMPTOPS_TOKEN` or the keyring.
    #[error("no token for remote `{remote}`")]
    NoToken {
        /// The remote.
        remote: String,
        /// Why the keyring could not be asked, if it could not.
        keyring_note: Option<String>,
    },
    /// The keyring refused to store or remove a token.
    #[error("cannot keep the token of remote `{remote}` in the OS keyring")]
    Keyring {
        /// The remote.
        remote: String,
        /// Why.
        #[source]
        source: KeyringError,
    },
    /// The server could not be reached, or did not answer in time.
    #[error("cannot reach remote `{remote}` at {url}")]
    Unreachable {
        /// The remote.
        remote: String,
        /// The URL called.
        url: String,
        /// Why.
        #[source]
        source: reqwest::Error,
    },
    /// 401: the token is unknown, expired or revoked.
    #[error("remote `{remote}` rejected the token: {message}")]
    Unauthenticated {
        /// The remote.
        remote: String,
        /// The server's message.
        message: String,
    },
    /// 403: the token's role is too weak.
    #[error("remote `{remote}` refused: {message}")]
    Forbidden {
        /// The remote.
        remote: String,
        /// The server's message.
        message: String,
        /// The server's hint.
        hint: Option<String>,
    },
    /// Any other error answer, with the server's stable code.
    #[error("remote `{remote}` answered {status} `{code}`: {message}")]
    Api {
        /// The remote.
        remote: String,
        /// HTTP status.
        status: u16,
        /// The server's code (`unknown_prompt`, `not_found`, …).
        code: String,
        /// The server's message.
        message: String,
        /// The server's hint.
        hint: Option<String>,
    },
    /// The answer was not what the API promises.
    #[error("remote `{remote}` sent an answer that cannot be read ({url})")]
    Decode {
        /// The remote.
        remote: String,
        /// The URL called.
        url: String,
        /// Why.
        #[source]
        source: reqwest::Error,
    },
    /// A run's event stream kept breaking.
    #[error("{message}")]
    Stream {
        /// What happened.
        message: String,
    },
    /// promptops.yaml could not be rewritten.
    #[error("failed to write `{}`", path.display())]
    Write {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The edited promptops.yaml would not be valid (a bug: nothing was written).
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
}

impl RemoteError {
    /// The remote's name, when the error concerns one.
    fn remote(&self) -> Option<&str> {
        match self {
            Self::UnknownRemote { name, .. } | Self::BadRemote { name, .. } => Some(name),
            Self::NoToken { remote, .. }
            | Self::Keyring { remote, .. }
            | Self::Unreachable { remote, .. }
            | Self::Unauthenticated { remote, .. }
            | Self::Forbidden { remote, .. }
            | Self::Api { remote, .. }
            | Self::Decode { remote, .. } => Some(remote),
            Self::Write { .. } | Self::Config(_) | Self::Stream { .. } => None,
        }
    }
}

impl Diagnostic for RemoteError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::UnknownRemote { .. } | Self::BadRemote { .. } => ErrorClass::Usage,
            Self::NoToken { .. } | Self::Keyring { .. } | Self::Unauthenticated { .. } | Self::Forbidden { .. } => {
                ErrorClass::Config
            }
            Self::Api { status, .. } if (400..500).contains(status) && *status != 429 => ErrorClass::Usage,
            Self::Unreachable { .. } | Self::Api { .. } | Self::Decode { .. } | Self::Stream { .. } => {
                ErrorClass::Upstream
            }
            Self::Write { .. } => ErrorClass::Internal,
            Self::Config(err) => err.class(),
        }
    }

    fn hints(&self) -> Vec<String> {
        let remote = self.remote().unwrap_or("NAME");
        match self {
            Self::UnknownRemote { known, .. } => vec![
                format!("remotes in promptops.yaml: {}", list_names(known)),
                format!("add one with `promptops remote add {remote} URL --project-id PROJECT`"),
            ],
            Self::BadRemote { .. } => {
                vec![format!("fix it with `promptops remote add {remote} URL --project-id PROJECT`")]
            }
            Self::NoToken { keyring_note, .. } => no_token_hints(remote, keyring_note.as_deref()),
            Self::Keyring { .. } => {
                vec!["machines without a keyring (CI, containers) pass the token in PROMPTOPS_TOKEN instead".to_owned()]
            }
            Self::Unreachable { .. } => vec![
                "is the server running, and is the remote's URL right? `promptops remote list` shows it".to_owned(),
                "timeouts and connection errors are retried by running the command again".to_owned(),
            ],
            Self::Unauthenticated { .. } => {
                vec![format!("run `promptops login {remote}` with a valid token (or set PROMPTOPS_TOKEN)")]
            }
            Self::Forbidden { hint, .. } => {
                hint.iter().cloned().chain(["ask an admin of the project for a stronger role".to_owned()]).collect()
            }
            Self::Api { hint, .. } => hint.iter().cloned().collect(),
            Self::Decode { .. } => vec!["the server may run another version of promptops".to_owned()],
            Self::Stream { .. } => {
                vec!["the run goes on on the server: `promptops runs watch N` follows it again".to_owned()]
            }
            Self::Write { .. } => Vec::new(),
            Self::Config(err) => err.hints(),
        }
    }
}

fn no_token_hints(remote: &str, keyring_note: Option<&str>) -> Vec<String> {
    let mut hints = vec![format!("run `promptops login {remote}`, or set PROMPTOPS_TOKEN")];
    if let Some(note) = keyring_note {
        hints.push(format!("{note}; on machines without a keyring (CI, containers) set PROMPTOPS_TOKEN"));
    }
    hints
}
