//! The inference service of the server: provider connections kept by the server
//! ([`connection`], [`connections`]: keys sealed by the master key, base URLs behind the SSRF
//! guard of [`ssrf`]), the pool of layered providers built from them ([`pool`]: the same layers
//! as the CLI, shared per replica, with fallbacks), the limits of gateway keys and the budgets of
//! projects and tenants ([`limits`], admitted by the store's meters), and traces written off the
//! request path ([`trace`]). The OpenAI-compatible HTTP face (`/v1`) is the server's; everything
//! here works without HTTP, for server-side runs and the console too.

pub mod connection;
pub mod connections;
pub mod limits;
pub mod pool;
pub mod ssrf;
pub mod trace;

use std::sync::Arc;
use std::time::Duration;

use crate::error::{Diagnostic, ErrorClass};
use crate::provider::ProviderError;
use crate::store::{MeterLimit, StoreError};
use crate::vault::VaultError;

pub use connection::{ConnectionSpec, ConnectionView};
pub use connections::{Connections, rotate_master_key};
pub use limits::{BudgetSpec, GatewaySettings, KeyLimits};
pub use pool::{Answer, Pool, ProjectPool};
pub use ssrf::HostPolicy;
pub use trace::{LossReport, Ticket, TraceWriter, WritesLost};

/// Why a gateway operation failed. Cheap to clone: a connection that cannot be built keeps its
/// error and answers it to every request that names it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GatewayError {
    /// A connection definition is invalid.
    #[error("invalid provider connection: {0}")]
    Spec(connection::SpecProblem),
    /// A field of a request is invalid.
    #[error("{message}")]
    BadField {
        /// The field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The SSRF guard refused a base URL.
    #[error(transparent)]
    Refused(ssrf::Refusal),
    /// The master key is missing, or a key does not open.
    #[error(transparent)]
    Vault(VaultError),
    /// Re-sealing a key failed: nothing was written.
    #[error("the key of connection `{connection}` does not open with the old master key")]
    Rotation {
        /// `tenant/project/id`.
        connection: String,
        /// Why.
        #[source]
        source: VaultError,
    },
    /// No such object.
    #[error("{what} not found")]
    NotFound {
        /// What.
        what: String,
    },
    /// No connection has this id.
    #[error("the model `{model}` does not exist")]
    UnknownModel {
        /// The id asked for.
        model: String,
    },
    /// An HTTP connection that needs a key has none.
    #[error("connection `{connection}` has no API key")]
    NoKey {
        /// The connection.
        connection: String,
    },
    /// The key may not use this model or prompt.
    #[error("this key may not use {what}")]
    NotAllowed {
        /// The model or prompt.
        what: String,
    },
    /// A budget applies and the model has no price, so spend could not be counted.
    #[error("the model of connection `{connection}` has no price, and a budget applies to this key")]
    Unpriced {
        /// The connection.
        connection: String,
    },
    /// A meter refused the request.
    #[error("{} limit of {scope} reached", limit.as_str())]
    Limited {
        /// The scope (`key:…`, `project:…`, `tenant`).
        scope: String,
        /// The limit.
        limit: MeterLimit,
        /// When to retry.
        retry_after: Option<Duration>,
    },
    /// The provider failed (after its retries and fallbacks).
    #[error(transparent)]
    Provider(Arc<ProviderError>),
    /// The store failed.
    #[error(transparent)]
    Store(Arc<StoreError>),
    /// A bug.
    #[error("internal error: {0}")]
    Internal(String),
}

impl GatewayError {
    /// A request field that is invalid.
    pub fn bad_field(field: &str, message: impl Into<String>) -> Self {
        Self::BadField { field: field.to_owned(), message: message.into() }
    }
}

impl From<StoreError> for GatewayError {
    fn from(err: StoreError) -> Self {
        Self::Store(Arc::new(err))
    }
}

impl Diagnostic for GatewayError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Provider(err) => err.class(),
            Self::Store(err) => err.class(),
            Self::Vault(_) | Self::Rotation { .. } | Self::NoKey { .. } => ErrorClass::Config,
            Self::Internal(_) => ErrorClass::Internal,
            _ => ErrorClass::Usage,
        }
    }

    fn hints(&self) -> Vec<String> {
        match self {
            Self::Vault(err) | Self::Rotation { source: err, .. } => err.hints(),
            Self::Provider(err) => err.hints(),
            Self::Store(err) => err.hints(),
            Self::NoKey { connection } => {
                vec![format!("set one: `promptops provider set-key {connection} --remote R`")]
            }
            Self::Unpriced { .. } => vec!["give the connection a `pricing` (USD per million tokens)".to_owned()],
            Self::Refused(_) => vec!["`promptops serve --allow-provider-host HOST` allows an internal host".to_owned()],
            _ => Vec::new(),
        }
    }
}
