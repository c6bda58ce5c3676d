//! The OpenAI-compatible gateway on the server's port: `POST /v1/chat/completions` (plain and
//! SSE), `POST /v1/embeddings` and `GET /v1/models`, authenticated with gateway keys (`pog_…`
//! API tokens whose `gateway:invoke` scope binds them to one project, with their limits). The
//! handlers ([`chat`]) parse the wire format ([`wire`]), resolve a managed prompt ([`prompts`]),
//! admit the request on the meters, call the library's inference pool and answer; a
//! [`Ticket`](crate::gateway::Ticket) writes the trace and settles the budget however the request ends.

pub mod chat;
pub mod prompts;
pub mod wire;

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use super::auth::{self, Caller};
use super::state::AppState;
use crate::access::{Action, Scope, TenantScope};
use crate::gateway::{GatewaySettings, KeyLimits, Pool, TraceWriter};
use crate::prompt::LoadedPrompt;
use crate::store::{SettingsOwner, Store};
use wire::OpenAiError;

/// Prefix of gateway keys: API tokens that only `/v1` accepts.
pub const KEY_PREFIX: &str = "pog_";
/// How long a key's limits and a project's settings are remembered before the store is asked
/// again (this process forgets at once when it changes them).
const TTL: Duration = Duration::from_secs(2);

/// A small map whose entries expire.
#[derive(Debug)]
pub struct TtlCache<K, V> {
    entries: Mutex<HashMap<K, (V, Instant)>>,
}

impl<K, V> Default for TtlCache<K, V> {
    fn default() -> Self {
        Self { entries: Mutex::new(HashMap::new()) }
    }
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.lock().ok()?;
        entries.get(key).filter(|(_, at)| at.elapsed() < TTL).map(|(v, _)| v.clone())
    }

    fn put(&self, key: K, value: V) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() > 10_000 {
                entries.clear();
            }
            entries.insert(key, (value, Instant::now()));
        }
    }

    /// Forgets everything.
    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }
}

/// What the gateway keeps per replica.
#[derive(Debug)]
pub struct GatewayState {
    /// The inference pool.
    pub pool: Arc<Pool>,
    /// The trace writer.
    pub traces: TraceWriter,
    /// Gateway keys' project and limits, by token id.
    pub keys: TtlCache<String, Option<(String, Arc<KeyLimits>)>>,
    /// Settings by (tenant, project); the tenant's under an empty project.
    pub settings: TtlCache<(String, String), Arc<GatewaySettings>>,
    /// Parsed prompt versions by content hash (a version never changes).
    pub parsed: TtlCache<String, Arc<LoadedPrompt>>,
}

impl GatewayState {
    /// Forgets cached keys and settings (after a change made through this process).
    pub fn forget(&self) {
        self.keys.clear();
        self.settings.clear();
        self.pool.invalidate();
    }

    /// The settings of a project (or, with `project` empty, of its tenant).
    pub async fn settings(
        &self,
        store: &dyn Store,
        tenant: &str,
        project: &str,
    ) -> Result<Arc<GatewaySettings>, OpenAiError> {
        let key = (tenant.to_owned(), project.to_owned());
        if let Some(found) = self.settings.get(&key) {
            return Ok(found);
        }
        let tenant_scope = TenantScope::new(tenant);
        let scope = tenant_scope.project(project);
        let owner =
            if project.is_empty() { SettingsOwner::Tenant(&tenant_scope) } else { SettingsOwner::Project(&scope) };
        let found = store
            .gateway_settings(owner)
            .await
            .map_err(|err| OpenAiError::from(crate::gateway::GatewayError::from(err)))?;
        let settings: GatewaySettings = found.and_then(|v| serde_json::from_value(v).ok()).unwrap_or_default();
        let settings = Arc::new(settings);
        self.settings.put(key, Arc::clone(&settings));
        Ok(settings)
    }
}

/// An authenticated gateway caller: the key, its project scope and its limits.
#[derive(Debug, Clone)]
pub struct KeyCaller {
    /// The token id of the key.
    pub key_id: String,
    /// The project it calls for.
    pub scope: Scope,
    /// Its limits.
    pub limits: Arc<KeyLimits>,
    /// Who made it (acts as this principal, capped at runner).
    pub caller: Caller,
}

impl FromRequestParts<AppState> for KeyCaller {
    type Rejection = OpenAiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let value = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("");
        let token = value
            .split_once(' ')
            .filter(|(kind, _)| kind.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or_else(|| OpenAiError::unauthenticated("missing API key: send `Authorization: Bearer pog_…`"))?;
        if !token.starts_with(KEY_PREFIX) {
            return Err(OpenAiError::unauthenticated("this is not a promptops gateway key (`pog_…`)"));
        }
        let caller = auth::api_token(state.store.as_ref(), &state.grants, token)
            .await
            .map_err(|err| OpenAiError::unauthenticated(err.to_string()))?;
        let gateway = &state.gateway;
        let found = match gateway.keys.get(&caller.credential) {
            Some(found) => found,
            None => {
                let record = state
                    .store
                    .gateway_key(&caller.credential)
                    .await
                    .map_err(|err| OpenAiError::from(crate::gateway::GatewayError::from(err)))?;
                let found = record.map(|r| {
                    let limits: KeyLimits = serde_json::from_value(r.spec).unwrap_or_default();
                    (r.project, Arc::new(limits))
                });
                gateway.keys.put(caller.credential.clone(), found.clone());
                found
            }
        };
        let Some((project, limits)) = found else {
            return Err(OpenAiError::unauthenticated("this token has no `gateway:invoke` scope"));
        };
        // The key acts for its creator, capped at runner: a creator who lost the project loses the key.
        let scope = caller
            .principal
            .authorize(Action::Run, &project)
            .map_err(|err| OpenAiError::unauthenticated(format!("the key no longer opens its project: {err}")))?;
        Ok(Self { key_id: caller.credential.clone(), scope, limits, caller })
    }
}
