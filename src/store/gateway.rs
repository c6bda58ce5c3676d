//! Rows of the inference gateway: provider connections (their definition as JSON and their API
//! key sealed by the server's master key, never in clear), gateway keys (the limits of an API
//! token that may call `/v1`), settings (budgets, whether traces keep content), meters (rate and
//! budget state per key, project and tenant), slots (calls in flight, leased to the replica
//! holding them) and traces. The [`GatewayStore`] sub-trait holds
//! the queries; [`meter`] holds the admission arithmetic that both backends apply.

pub mod meter;
pub mod share;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::access::{Scope, SystemScope, TenantScope};
use crate::money::Micros;
pub use meter::{Admission, MeterLimit, MeterRequest, MeterScope, MeterSettle};

/// A provider connection as stored. The key is sealed; only its hint is ever shown.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionRecord {
    /// The id requests name it by (`fast`).
    pub id: String,
    /// Its definition (the gateway's `ConnectionSpec` as JSON).
    pub spec: serde_json::Value,
    /// The API key sealed by the master key, if one was set.
    pub sealed_key: Option<String>,
    /// The key's last characters, for listings.
    pub key_hint: Option<String>,
    /// Who changed it last.
    pub updated_by: String,
    /// When.
    pub updated_at: DateTime<Utc>,
}

/// A sealed key with the row it belongs to, for re-sealing under a new master key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedRow {
    /// The tenant.
    pub tenant: String,
    /// The project.
    pub project: String,
    /// The connection id.
    pub id: String,
    /// The sealed key as stored.
    pub sealed: String,
}

/// The gateway limits of one API token (what `/v1` lets it do).
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayKeyRecord {
    /// The token's id.
    pub token_id: String,
    /// The tenant.
    pub tenant: String,
    /// The project it calls models for.
    pub project: String,
    /// Its limits and allowed models and prompts (the gateway's `KeyLimits` as JSON).
    pub spec: serde_json::Value,
    /// Who made it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// One gateway request as recorded: who, which prompt and model, tokens, cost, timings, outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TraceRecord {
    /// Increasing number within the project (assigned by the store; the paging cursor).
    pub id: u64,
    /// The id sent to the client in `x-promptops-trace-id`.
    pub trace_id: String,
    /// When the request arrived.
    pub at: DateTime<Utc>,
    /// The gateway key (token id) that made it.
    pub key_id: String,
    /// The managed prompt, if one was named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// The label it was resolved by, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_label: Option<String>,
    /// The version used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_version: Option<u32>,
    /// The connection asked for (`fast`).
    pub model: String,
    /// The connection that answered, when a fallback did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
    /// `chat` or `embeddings`.
    pub endpoint: String,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// Cost.
    pub cost: Micros,
    /// Time to the whole answer, in milliseconds.
    pub latency_ms: u64,
    /// Time to the first streamed token, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<u64>,
    /// Upstream attempts (1 without retries).
    pub attempts: u32,
    /// `hit`, `miss` or `off`.
    pub cache: String,
    /// `ok`, `error`, `refused` or `cancelled`.
    pub status: String,
    /// The HTTP status answered.
    pub http_status: u16,
    /// What went wrong, if anything.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The prompt variables (only when the project keeps content).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variables: Option<serde_json::Value>,
    /// The answer (only when the project keeps content).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

/// Whose gateway settings: a project's, or the whole tenant's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingsOwner<'a> {
    /// One project.
    Project(&'a Scope),
    /// The tenant.
    Tenant(&'a TenantScope),
}

/// Connections, gateway keys, settings, meters and traces.
#[async_trait]
pub trait GatewayStore {
    /// Stores a connection; with `replace` false an existing id is a conflict.
    async fn put_connection(&self, scope: &Scope, record: &ConnectionRecord, replace: bool) -> Result<(), StoreError>;
    /// The project's connections, by id.
    async fn connections(&self, scope: &Scope) -> Result<Vec<ConnectionRecord>, StoreError>;
    /// Removes a connection; `false` if there was none.
    async fn delete_connection(&self, scope: &Scope, id: &str) -> Result<bool, StoreError>;
    /// Sets (or with `None` removes) a connection's sealed key and hint; `false` if there is no such connection.
    async fn set_connection_key(
        &self,
        scope: &Scope,
        id: &str,
        key: Option<(String, String)>,
        actor: &str,
    ) -> Result<bool, StoreError>;
    /// Every sealed key of every tenant (master-key rotation).
    async fn sealed_keys(&self, scope: &SystemScope) -> Result<Vec<SealedRow>, StoreError>;
    /// Replaces sealed keys in one transaction: each row's stored value must still be `from`, or
    /// nothing is written and the answer is a conflict.
    async fn reseal(&self, scope: &SystemScope, rows: &[(SealedRow, String)]) -> Result<(), StoreError>;

    /// Records the gateway limits of a token (the token itself is an account row).
    async fn put_gateway_key(&self, scope: &Scope, record: &GatewayKeyRecord) -> Result<(), StoreError>;
    /// Removes the gateway limits of a token (when creating its token failed).
    async fn delete_gateway_key(&self, scope: &Scope, token_id: &str) -> Result<(), StoreError>;
    /// The gateway keys of a project, newest first.
    async fn gateway_keys(&self, scope: &Scope) -> Result<Vec<GatewayKeyRecord>, StoreError>;
    /// The gateway limits of a token, found by its id once the token is authenticated.
    async fn gateway_key(&self, token_id: &str) -> Result<Option<GatewayKeyRecord>, StoreError>;

    /// A project's or the tenant's gateway settings (JSON), if set.
    async fn gateway_settings(&self, owner: SettingsOwner<'_>) -> Result<Option<serde_json::Value>, StoreError>;
    /// Replaces a project's or the tenant's gateway settings.
    async fn put_gateway_settings(&self, owner: SettingsOwner<'_>, spec: &serde_json::Value) -> Result<(), StoreError>;

    /// Takes rate-limit tokens, a parallel slot and a budget reservation on every scope of the
    /// request, all or none: in one transaction (SQLite), or on PostgreSQL from the shares of
    /// rate and budget the holder leased ([`share`]; one statement when they lack) and, for a
    /// request with `max_parallel`, in one statement. Slots and reservations are leased to the
    /// request's holder until [`meter::LEASE`] after its `now`; only unexpired leases count.
    async fn gateway_admit(&self, scope: &TenantScope, request: &MeterRequest) -> Result<Admission, StoreError>;
    /// Renews the leases of `holder`'s slots until [`meter::LEASE`] after `now`, and forgets
    /// the leases that ended (a replica that stopped renewing: its slots are free again).
    async fn gateway_renew(&self, holder: &str, now: DateTime<Utc>) -> Result<(), StoreError>;
    /// Applies at once the settlements of meters this store keeps in memory (SQLite's), and
    /// answers those left for [`Self::gateway_flush`] to write (by default, all of them). The
    /// background writer calls it once per batch, so that retrying a flush never settles twice.
    fn gateway_settle_in_memory(&self, settles: Vec<(TenantScope, MeterSettle)>) -> Vec<(TenantScope, MeterSettle)> {
        settles
    }
    /// Records traces and settles admissions (reservation replaced by the real cost, slot given
    /// back) in one transaction: the gateway's background writer calls it with a batch. A store
    /// with meters in memory applies `settles` there on every call, and writes the meters
    /// settled since its last successful flush.
    async fn gateway_flush(
        &self,
        traces: &[(Scope, TraceRecord)],
        settles: &[(TenantScope, MeterSettle)],
    ) -> Result<(), StoreError>;
    /// A project's traces, newest first, numbered below `before` when given, at most `limit`.
    async fn traces(&self, scope: &Scope, before: Option<u64>, limit: u32) -> Result<Vec<TraceRecord>, StoreError>;

    /// Grows on every change of connections, gateway keys and settings by any process, so that
    /// servers poll it to drop what they built from them. Carries no tenant data.
    async fn gateway_mark(&self) -> Result<i64, StoreError>;
}

/// The binding a connection's sealed key is tied to (associated data of the seal).
pub fn key_binding(tenant: &str, project: &str, id: &str) -> String {
    format!("{tenant}\u{1f}{project}\u{1f}{id}")
}
