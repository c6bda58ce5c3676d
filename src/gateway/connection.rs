//! What a provider connection is: the definition a project stores on the server (the same fields
//! as a provider in `promptops.yaml`, plus its price, its fallbacks and whether its answers are
//! cached), checked before it is stored, and what listings show of it (never the key).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::{Limits, MockRule, PriceConfig, ProviderConfig, ProviderKind};
use crate::prompt::ModelParams;
use crate::store::ConnectionRecord;

/// A provider connection as the API takes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectionSpec {
    /// The name requests use as `model` (`fast`): 1 to 64 letters, digits, `-`, `_` and `.`.
    pub id: String,
    /// The wire protocol: `openai`, `anthropic`, or the offline `mock` and `echo` (never `exec`).
    pub kind: ProviderKind,
    /// The model asked of the provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The API's base URL; must not point at an internal address unless the operator allows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Extra HTTP headers sent with every request.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Default model parameters.
    #[serde(default, skip_serializing_if = "ModelParams::is_empty")]
    pub params: ModelParams,
    /// Concurrency, rate limits, timeout and retries toward the provider (per server replica).
    #[serde(default)]
    pub limits: Limits,
    /// Azure OpenAI's `api-version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// USD per million tokens of `model`, when the built-in table lacks it or is wrong for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing: Option<PriceConfig>,
    /// Connections tried in order when this one fails before its first byte, after its retries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fallbacks: Vec<String>,
    /// Whether answers are cached unless a request says otherwise (`x-promptops-cache`).
    #[serde(default)]
    pub cache: bool,
    /// `mock`: scripted answers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<MockRule>,
    /// `mock`: the answer when no rule matches (a template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// `mock`: added latency per request, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
}

/// Why a connection definition is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SpecProblem {
    /// The field at fault.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

fn problem(path: &str, message: impl Into<String>) -> SpecProblem {
    SpecProblem { path: path.to_owned(), message: message.into() }
}

/// Whether `id` may name a connection.
pub fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && !id.starts_with("prompt")
}

impl ConnectionSpec {
    /// Checks what can be checked without the network (the base URL's address is the guard's).
    pub fn check(&self) -> Result<(), SpecProblem> {
        if !valid_id(&self.id) {
            return Err(problem(
                "id",
                format!(
                    "`{}` cannot name a connection: use 1 to 64 letters, digits, `-`, `_` and `.`, not starting with `prompt`",
                    self.id
                ),
            ));
        }
        match self.kind {
            ProviderKind::Exec => {
                return Err(problem(
                    "kind",
                    "`exec` providers run commands on the host and are never allowed on the server",
                ));
            }
            ProviderKind::Openai | ProviderKind::Anthropic if self.model.is_none() => {
                return Err(problem("model", "an HTTP provider needs `model`"));
            }
            _ => {}
        }
        if self.fallbacks.iter().any(|f| f == &self.id) {
            return Err(problem("fallbacks", "a connection cannot fall back to itself"));
        }
        if let Some(price) = &self.pricing
            && [price.input, price.output].iter().chain(price.cached_input.as_ref()).any(|p| !p.is_finite() || *p < 0.0)
        {
            return Err(problem("pricing", "prices are non-negative USD per million tokens"));
        }
        for (name, value) in &self.headers {
            let header = reqwest::header::HeaderName::from_bytes(name.as_bytes());
            let sensitive = ["host", "authorization", "api-key", "x-api-key", "content-length", "transfer-encoding"];
            if header.is_err() || reqwest::header::HeaderValue::from_str(value).is_err() {
                return Err(problem(&format!("headers.{name}"), "not a valid HTTP header"));
            }
            if sensitive.contains(&name.to_ascii_lowercase().as_str()) {
                return Err(problem(
                    &format!("headers.{name}"),
                    "this header is set by promptops; the key goes in `set-key`",
                ));
            }
        }
        Ok(())
    }

    /// The provider definition the inference layers are built from.
    pub fn to_provider(&self) -> ProviderConfig {
        ProviderConfig {
            id: self.id.clone(),
            kind: self.kind,
            model: self.model.clone(),
            base_url: self.base_url.clone(),
            api_key_env: None,
            headers: self.headers.clone(),
            params: self.params.clone(),
            limits: self.limits.clone(),
            api_version: self.api_version.clone(),
            latency_ms: self.latency_ms,
            rules: self.rules.clone(),
            default: self.default.clone(),
            seed: None,
            command: Vec::new(),
        }
    }
}

/// A connection as listings show it: its definition and the last characters of its key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ConnectionView {
    /// The definition.
    #[serde(flatten)]
    pub spec: ConnectionSpec,
    /// `…abcd` when a key is set; the key itself is never returned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Who changed it last.
    pub updated_by: String,
    /// When.
    pub updated_at: DateTime<Utc>,
}

impl ConnectionView {
    /// The view of a stored record; a record whose definition no longer parses is reported.
    pub fn of(record: &ConnectionRecord) -> Result<Self, serde_json::Error> {
        Ok(Self {
            spec: serde_json::from_value(record.spec.clone())?,
            key: record.key_hint.clone(),
            updated_by: record.updated_by.clone(),
            updated_at: record.updated_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: ProviderKind) -> ConnectionSpec {
        serde_json::from_value(serde_json::json!({"id": "fast", "kind": kind, "model": "gpt-4o-mini"})).expect("spec")
    }

    #[test]
    fn exec_connections_and_odd_ids_are_refused() {
        assert_eq!(spec(ProviderKind::Exec).check().unwrap_err().path, "kind");
        let mut odd = spec(ProviderKind::Openai);
        odd.id = "prompt:x".into();
        assert_eq!(odd.check().unwrap_err().path, "id");
        assert!(spec(ProviderKind::Openai).check().is_ok());
    }

    #[test]
    fn headers_cannot_carry_credentials_or_break_requests() {
        let mut bad = spec(ProviderKind::Openai);
        bad.headers.insert("Authorization".into(), "Bearer x".into());
        assert_eq!(bad.check().unwrap_err().path, "headers.Authorization");
        let mut broken = spec(ProviderKind::Openai);
        broken.headers.insert("x-ok".into(), "line\nbreak".into());
        assert!(broken.check().is_err());
    }
}
