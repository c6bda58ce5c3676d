//! [`ProviderError`]: everything that can go wrong between a rendered prompt and an answer, with
//! the class that decides the exit code, whether a retry can help, and hints. Messages never
//! contain API keys: keys are only ever held in [`crate::secret::SecretString`].

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Diagnostic, ErrorClass, did_you_mean, list_names};
use crate::money::Micros;
use crate::store::StoreError;
use crate::yaml::YamlError;

/// Which spending limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetKind {
    /// `--max-cost` for this invocation.
    Invocation,
    /// `budgets.daily_usd`.
    Daily,
    /// `budgets.monthly_usd`.
    Monthly,
}

impl BudgetKind {
    /// The name used in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invocation => "per-invocation (--max-cost)",
            Self::Daily => "daily",
            Self::Monthly => "monthly",
        }
    }
}

/// A failed provider call, or a provider that cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The reference names no configured provider and is not `kind:model`.
    #[error("unknown provider `{wanted}`")]
    Unknown {
        /// What was asked for.
        wanted: String,
        /// The configured ids.
        configured: Vec<String>,
    },
    /// A `kind:model` reference with a kind promptops does not speak.
    #[error("unknown provider kind `{kind}` in `{wanted}`")]
    UnknownKind {
        /// The reference.
        wanted: String,
        /// Its kind part.
        kind: String,
    },
    /// No API key in the environment or the keyring.
    #[error("no API key for provider `{provider}`: `{env_var}` is not set and the keyring has none")]
    MissingKey {
        /// The provider id.
        provider: String,
        /// The variable that was read.
        env_var: String,
        /// The keyring entry name to use with `auth set-key`.
        keyring_name: String,
        /// Why the keyring could not be asked, when it could not.
        keyring_note: Option<String>,
    },
    /// A provider's configuration is wrong (missing model, bad option).
    #[error("provider `{provider}` is misconfigured: {message}")]
    Config {
        /// The provider id.
        provider: String,
        /// What is wrong.
        message: String,
        /// What to do.
        hint: Option<String>,
    },
    /// A configuration mistake with its place in `promptops.yaml` (a mock rule's bad regex).
    #[error(transparent)]
    ConfigFile(#[from] YamlError),
    /// The base URL cannot be used.
    #[error("provider `{provider}` has an invalid base URL `{url}`: {reason}")]
    InvalidBaseUrl {
        /// The provider id.
        provider: String,
        /// The URL as configured.
        url: String,
        /// Why it is invalid.
        reason: String,
    },
    /// 401 or 403: the key is wrong or lacks access. Never retried.
    #[error("provider `{provider}` refused the API key (HTTP {status}): {message}")]
    Auth {
        /// The provider id.
        provider: String,
        /// 401 or 403.
        status: u16,
        /// The API's message.
        message: String,
        /// The variable the key came from, for the hint.
        env_var: Option<String>,
    },
    /// 429: too many requests. Retried after `Retry-After`.
    #[error("provider `{provider}` is rate limiting requests (HTTP 429): {message}")]
    RateLimited {
        /// The provider id.
        provider: String,
        /// The API's message.
        message: String,
        /// The `Retry-After` delay, when given.
        retry_after: Option<Duration>,
    },
    /// Any other HTTP error status. 5xx (and 408/409) are retried.
    #[error("provider `{provider}` answered HTTP {status}: {message}")]
    Status {
        /// The provider id.
        provider: String,
        /// The status code.
        status: u16,
        /// The API's message.
        message: String,
        /// The `Retry-After` delay, when given.
        retry_after: Option<Duration>,
    },
    /// The call took longer than the configured timeout. Retried.
    #[error("provider `{provider}` did not answer within {}s", after.as_secs_f64())]
    Timeout {
        /// The provider id.
        provider: String,
        /// The timeout.
        after: Duration,
    },
    /// The server could not be reached, or the connection broke. Retried.
    #[error("cannot reach provider `{provider}` at `{url}`")]
    Connect {
        /// The provider id.
        provider: String,
        /// The address.
        url: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The answer could not be understood (malformed JSON, unexpected shape).
    #[error("provider `{provider}` sent an answer promptops cannot read: {detail}")]
    BadResponse {
        /// The provider id.
        provider: String,
        /// What was wrong.
        detail: String,
    },
    /// A stream ended before its final event. Retried only if nothing was streamed yet.
    #[error("provider `{provider}` ended the stream early: {detail}")]
    StreamEnded {
        /// The provider id.
        provider: String,
        /// What was missing.
        detail: String,
    },
    /// The prompt declares a response schema and the answer is not JSON matching it.
    #[error("provider `{provider}` answered with {reason}")]
    SchemaMismatch {
        /// The provider id.
        provider: String,
        /// "text that is not JSON", or the schema violation.
        reason: String,
        /// The answer as received (for reports).
        output: String,
    },
    /// An image part cannot be used.
    #[error("image `{source_ref}` cannot be used: {reason}")]
    Image {
        /// The file, URL or (shortened) data URL.
        source_ref: String,
        /// Why.
        reason: String,
    },
    /// An image file could not be read.
    #[error("failed to read image `{}`", path.display())]
    ImageRead {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The `exec` provider's command failed.
    #[error("command of provider `{provider}` failed ({status}): {stderr}")]
    Exec {
        /// The provider id.
        provider: String,
        /// Exit status, or what went wrong.
        status: String,
        /// The end of its stderr.
        stderr: String,
    },
    /// A spending limit would be crossed: the request was not sent.
    #[error("{} budget reached: {spent} spent of {limit}; this request (about {estimate}) was not sent", kind.as_str())]
    Budget {
        /// Which limit.
        kind: BudgetKind,
        /// Already spent (and reserved by calls in flight).
        spent: Micros,
        /// The limit.
        limit: Micros,
        /// The estimated cost of the refused request.
        estimate: Micros,
    },
    /// The provider cannot do this (embeddings on `anthropic`).
    #[error("provider `{provider}` does not support {what}")]
    Unsupported {
        /// The provider id.
        provider: String,
        /// What was asked.
        what: String,
    },
    /// The cache or usage records failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ProviderError {
    /// Whether every later call to the provider fails the same way until someone acts: a refused
    /// or missing key, a configuration error, a spent budget. An eval run stops at the first.
    pub fn stops_run(&self) -> bool {
        matches!(
            self,
            Self::Unknown { .. }
                | Self::UnknownKind { .. }
                | Self::MissingKey { .. }
                | Self::Config { .. }
                | Self::ConfigFile(_)
                | Self::InvalidBaseUrl { .. }
                | Self::Auth { .. }
                | Self::Budget { .. }
        )
    }

    /// Whether trying again can help: 429, 5xx, 408/409, timeouts, connection errors and early
    /// stream ends. Never 401/403, bad requests, schema mismatches or budget refusals.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::RateLimited { .. } | Self::Timeout { .. } | Self::Connect { .. } | Self::StreamEnded { .. } => true,
            Self::Status { status, .. } => *status >= 500 || matches!(status, 408 | 409),
            _ => false,
        }
    }

    /// The delay the provider asked for (`Retry-After`).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } | Self::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Whether this is the provider pushing back (429), which shrinks adaptive concurrency.
    pub fn is_rate_limited(&self) -> bool {
        matches!(self, Self::RateLimited { .. })
    }
}

impl Diagnostic for ProviderError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Unknown { .. } | Self::UnknownKind { .. } | Self::Budget { .. } => ErrorClass::Usage,
            Self::Image { .. } | Self::ImageRead { .. } => ErrorClass::Usage,
            Self::MissingKey { .. }
            | Self::Config { .. }
            | Self::ConfigFile(_)
            | Self::InvalidBaseUrl { .. }
            | Self::Unsupported { .. } => ErrorClass::Config,
            Self::Store(err) => err.class(),
            _ => ErrorClass::Upstream,
        }
    }

    fn hints(&self) -> Vec<String> {
        match self {
            Self::Unknown { wanted, configured } => unknown_hints(wanted, configured),
            Self::UnknownKind { kind, .. } => {
                let kinds = crate::config::ProviderKind::ALL.map(|k| k.as_str());
                let mut hints: Vec<String> = did_you_mean(kind, kinds).into_iter().collect();
                hints.push(format!("kinds: {}", list_names(&kinds)));
                hints
            }
            Self::MissingKey { env_var, keyring_name, keyring_note, .. } => {
                let mut hints = vec![
                    format!("set `{env_var}` in the environment"),
                    format!("or store it in the OS keyring: `promptops auth set-key {keyring_name}`"),
                ];
                hints.extend(keyring_note.iter().map(|n| format!("keyring: {n}")));
                hints
            }
            Self::Config { hint, .. } => hint.iter().cloned().collect(),
            Self::ConfigFile(err) => err.hints(),
            Self::InvalidBaseUrl { .. } => {
                vec!["`base_url` must be an absolute http(s) URL, e.g. `https://api.openai.com/v1`".to_owned()]
            }
            Self::Auth { env_var, provider, .. } => {
                let source = env_var.as_deref().map_or_else(String::new, |v| format!(" (from `{v}` or the keyring)"));
                vec![
                    format!("check the API key{source}; it was not retried"),
                    format!("`promptops provider test {provider}` checks a key with one cheap call"),
                ]
            }
            Self::RateLimited { .. } => {
                vec![
                    "lower `limits.concurrency`, `limits.rpm` or `limits.tpm`, or raise `limits.max_retries`"
                        .to_owned(),
                ]
            }
            Self::Timeout { .. } => vec!["raise `limits.timeout_s` for this provider".to_owned()],
            Self::Connect { .. } => vec!["check `base_url` and that the server is running".to_owned()],
            Self::SchemaMismatch { .. } => {
                vec!["the prompt's `response_schema` asks for JSON; tell the model so in the prompt".to_owned()]
            }
            Self::Image { .. } | Self::ImageRead { .. } => vec![
                "an image is a path inside the project, an http(s) URL or a data URL".to_owned(),
                "copy a file from elsewhere into the project, or inline it as a `data:` URL".to_owned(),
                format!("PNG, JPEG, GIF and WebP up to {} MB", super::image::MAX_IMAGE_BYTES / 1_000_000),
            ],
            Self::Budget { kind: BudgetKind::Invocation, .. } => vec!["raise --max-cost".to_owned()],
            Self::Budget { .. } => vec![
                "raise `budgets` in promptops.yaml, or wait for the period to end".to_owned(),
                "`promptops cost` shows what was spent".to_owned(),
            ],
            Self::Store(err) => err.hints(),
            _ => Vec::new(),
        }
    }
}

/// "Did you mean", the configured ids, and the `kind:model` alternative.
fn unknown_hints(wanted: &str, configured: &[String]) -> Vec<String> {
    let mut hints: Vec<String> = did_you_mean(wanted, configured.iter().map(String::as_str)).into_iter().collect();
    hints.push(format!("configured providers: {}", list_names(configured)));
    hints.push("or name one as `kind:model`, e.g. `openai:gpt-4o-mini`".to_owned());
    hints
}
