//! [`Connections`]: the provider connections of a project, or of a whole tenant ([`tenant_wide`]),
//! as a use case: add, replace, list,
//! remove, set or clear a key, open keys for the inference pool, and re-seal every key under a
//! new master key. Keys are sealed before they reach the store and opened only in memory; the
//! base URL passes the SSRF guard first. The HTTP handlers, the CLI's `--remote` and (later) the
//! console's settings page are front ends over this.

use std::sync::Arc;

use chrono::Utc;

use super::GatewayError;
use super::connection::{ConnectionSpec, ConnectionView};
use super::ssrf::HostPolicy;
use crate::access::{Scope, SystemScope, TenantScope};
use crate::config::ProviderKind;
use crate::secret::SecretString;
use crate::store::gateway::key_binding;
use crate::store::{ConnectionRecord, Store};
use crate::vault::{MasterKey, VaultError, hint_of, sealed_by};

/// The project id a tenant's own connections are stored under: no project is named by it.
pub const TENANT_WIDE: &str = "";

/// The scope of a tenant's own connections, which every project of the tenant may use (a
/// project's connection of the same id wins).
pub fn tenant_wide(tenant: &TenantScope) -> Scope {
    tenant.project(TENANT_WIDE)
}

/// The connection service of a server.
#[derive(Clone)]
pub struct Connections {
    store: Arc<dyn Store>,
    master: Option<Arc<MasterKey>>,
    policy: Arc<HostPolicy>,
}

impl std::fmt::Debug for Connections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connections")
            .field("master", &self.master)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// A connection with its key opened, ready to build a provider from.
#[derive(Debug, Clone)]
pub struct OpenedConnection {
    /// The definition.
    pub spec: ConnectionSpec,
    /// The key, or why it cannot be used.
    pub key: Result<Option<SecretString>, VaultError>,
}

impl Connections {
    /// Connections in `store`, keys sealed by `master`, base URLs checked by `policy`.
    pub fn new(store: Arc<dyn Store>, master: Option<Arc<MasterKey>>, policy: Arc<HostPolicy>) -> Self {
        Self { store, master, policy }
    }

    /// The SSRF policy.
    pub fn policy(&self) -> &Arc<HostPolicy> {
        &self.policy
    }

    fn master(&self) -> Result<&MasterKey, GatewayError> {
        self.master.as_deref().ok_or(GatewayError::Vault(VaultError::NoMasterKey))
    }

    fn seal(&self, scope: &Scope, id: &str, key: &SecretString) -> Result<(String, String), GatewayError> {
        let binding = key_binding(scope.tenant(), scope.project(), id);
        Ok((self.master()?.seal(key, &binding), hint_of(key)))
    }

    async fn checked(&self, spec: &ConnectionSpec) -> Result<(), GatewayError> {
        spec.check().map_err(GatewayError::Spec)?;
        if let (ProviderKind::Openai | ProviderKind::Anthropic, Some(url)) = (spec.kind, &spec.base_url) {
            crate::provider::http_provider(&spec.to_provider(), None, None, reqwest::Client::new())
                .map_err(|err| GatewayError::bad_field("base_url", err.to_string()))?;
            self.policy.check(url).await.map_err(GatewayError::Refused)?;
        }
        Ok(())
    }

    /// Stores a connection (with `replace`, over an existing one, whose key is kept unless
    /// `key` gives a new one).
    pub async fn put(
        &self,
        scope: &Scope,
        spec: ConnectionSpec,
        key: Option<SecretString>,
        actor: &str,
        replace: bool,
    ) -> Result<ConnectionView, GatewayError> {
        self.checked(&spec).await?;
        let kept = if replace && key.is_none() {
            self.store.connections(scope).await?.into_iter().find(|c| c.id == spec.id)
        } else {
            None
        };
        let (sealed_key, key_hint) = match (&key, kept) {
            (Some(key), _) => {
                let (sealed, hint) = self.seal(scope, &spec.id, key)?;
                (Some(sealed), Some(hint))
            }
            (None, Some(kept)) => (kept.sealed_key, kept.key_hint),
            (None, None) => (None, None),
        };
        let spec_json = serde_json::to_value(&spec).map_err(|err| GatewayError::Internal(err.to_string()))?;
        let record = ConnectionRecord {
            id: spec.id.clone(),
            spec: spec_json,
            sealed_key,
            key_hint: key_hint.clone(),
            updated_by: actor.to_owned(),
            updated_at: Utc::now(),
        };
        self.store.put_connection(scope, &record, replace).await?;
        Ok(ConnectionView { spec, key: key_hint, updated_by: record.updated_by, updated_at: record.updated_at })
    }

    /// The project's connections, never with their keys.
    pub async fn list(&self, scope: &Scope) -> Result<Vec<ConnectionView>, GatewayError> {
        let records = self.store.connections(scope).await?;
        records.iter().map(|r| ConnectionView::of(r).map_err(|err| GatewayError::Internal(err.to_string()))).collect()
    }

    /// Removes a connection.
    pub async fn remove(&self, scope: &Scope, id: &str) -> Result<(), GatewayError> {
        if !self.store.delete_connection(scope, id).await? {
            return Err(GatewayError::NotFound { what: format!("provider connection `{id}`") });
        }
        Ok(())
    }

    /// Sets (or with `None` removes) a connection's key; answers the new hint.
    pub async fn set_key(
        &self,
        scope: &Scope,
        id: &str,
        key: Option<SecretString>,
        actor: &str,
    ) -> Result<Option<String>, GatewayError> {
        let sealed = key.as_ref().filter(|k| !k.is_empty()).map(|k| self.seal(scope, id, k)).transpose()?;
        let hint = sealed.as_ref().map(|(_, hint)| hint.clone());
        if !self.store.set_connection_key(scope, id, sealed, actor).await? {
            return Err(GatewayError::NotFound { what: format!("provider connection `{id}`") });
        }
        Ok(hint)
    }

    /// Every connection of the project with its key opened (or why it cannot be).
    pub async fn open(&self, scope: &Scope) -> Result<Vec<OpenedConnection>, GatewayError> {
        let mut opened = Vec::new();
        for record in self.store.connections(scope).await? {
            let spec: ConnectionSpec = match serde_json::from_value(record.spec.clone()) {
                Ok(spec) => spec,
                Err(err) => {
                    tracing::warn!(connection = %record.id, error = %err, "a stored connection no longer parses");
                    continue;
                }
            };
            let binding = key_binding(scope.tenant(), scope.project(), &record.id);
            let key = match (&record.sealed_key, &self.master) {
                (None, _) => Ok(None),
                (Some(_), None) => Err(VaultError::NoMasterKey),
                (Some(sealed), Some(master)) => master.open(sealed, &binding).map(Some),
            };
            opened.push(OpenedConnection { spec, key });
        }
        Ok(opened)
    }
}

/// Re-seals every provider key in `store` from `old` to `new`, in one transaction: every key is
/// opened first, so one that does not open stops the rotation before anything is written. Keys
/// already sealed by `new` are left alone, so a rotation that was interrupted can be run again.
/// Returns how many keys were re-sealed.
pub async fn rotate_master_key(store: &dyn Store, old: &MasterKey, new: &MasterKey) -> Result<usize, GatewayError> {
    let system = SystemScope::new();
    let mut rows = Vec::new();
    for row in store.sealed_keys(&system).await? {
        if sealed_by(&row.sealed) == Some(new.fingerprint()) {
            continue;
        }
        let binding = key_binding(&row.tenant, &row.project, &row.id);
        let key = old.open(&row.sealed, &binding).map_err(|err| GatewayError::Rotation {
            connection: format!("{}/{}/{}", row.tenant, row.project, row.id),
            source: err,
        })?;
        let sealed = new.seal(&key, &binding);
        rows.push((row, sealed));
    }
    store.reseal(&system, &rows).await?;
    Ok(rows.len())
}
