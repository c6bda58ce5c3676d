//! The gateway's management routes under `/api/v1`: the provider connections of a project (admin)
//! or of a whole tenant (tenant admin) and their keys (a key is sealed before it is stored and never answered, only its last four
//! characters), gateway keys (admin; `pog_…` tokens with the `gateway:invoke` scope of one
//! project), gateway settings of a project (admin) or a tenant (tenant admin), and the traces and
//! usage a project's gateway calls left (viewer). Every write is audited by the middleware.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::newest_first;
use crate::access::{Action, Role, Scope, TenantScope};
use crate::api::{Days, Note, Page, RunListQuery};
use crate::gateway::connections::tenant_wide;
use crate::gateway::{ConnectionSpec, ConnectionView, GatewayError, GatewaySettings, KeyLimits};
use crate::secret::SecretString;
use crate::server::auth::{self, Caller};
use crate::server::bounds;
use crate::server::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::server::gateway::KEY_PREFIX;
use crate::server::state::AppState;
use crate::store::{GatewayKeyRecord, SettingsOwner, Slug, TokenRecord, TokenScope, TraceRecord, UsageGroup, UsageRow};

type ApiResult<T> = Result<Json<T>, ApiError>;

/// The body that creates or replaces a connection.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectionBody {
    /// The definition.
    pub connection: ConnectionSpec,
    /// The API key (sealed at once; never answered).
    #[serde(default)]
    pub api_key: Option<String>,
}

/// The body that sets a connection's key.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyBody {
    /// The API key.
    pub api_key: String,
}

/// A key's hint.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct KeyHint {
    /// `…abcd`.
    pub key: Option<String>,
}

/// The body that creates a gateway key.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGatewayKey {
    /// A note saying what it is for (at most 200 characters).
    #[serde(default)]
    pub name: Option<Note>,
    /// Lifetime in days, 1 to 3,650 (default: no expiry). Never later than the caller's token.
    #[serde(default)]
    pub expires_in_days: Option<Days>,
    /// Rates, calls in flight, budget, allowed models and prompts.
    #[serde(default)]
    pub limits: KeyLimits,
}

/// A gateway key as listed.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GatewayKeyView {
    /// The token id (revoke it here or at `/api/v1/tokens/{id}`).
    pub id: String,
    /// The project it calls models for.
    pub project: String,
    /// Its limits.
    pub limits: KeyLimits,
    /// Who made it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// A gateway key as created: the only time its secret is shown.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CreatedGatewayKey {
    /// The key.
    #[serde(flatten)]
    pub view: GatewayKeyView,
    /// `pog_…`: the API key an OpenAI SDK sends.
    pub key: String,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
}

/// `?since=&by=` of the usage report.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
pub struct UsageQuery {
    /// Only calls at or after this time (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// `day` (default), `provider` or `model`.
    pub by: Option<UsageGroup>,
}

impl From<GatewayError> for ApiError {
    fn from(err: GatewayError) -> Self {
        let message = err.to_string();
        let hint = {
            let hints = crate::error::Diagnostic::hints(&err);
            (!hints.is_empty()).then(|| hints.join("; "))
        };
        match err {
            GatewayError::Spec(problem) => ApiError::BadRequest {
                code: "invalid_connection",
                message,
                hint,
                path: Some(format!("connection.{}", problem.path)),
            },
            GatewayError::BadField { field, .. } => ApiError::BadRequest {
                code: "invalid_connection",
                message,
                hint,
                path: Some(format!("connection.{field}")),
            },
            GatewayError::Refused(_) => ApiError::BadRequest {
                code: "provider_host_refused",
                message,
                hint,
                path: Some("connection.base_url".to_owned()),
            },
            GatewayError::Vault(crate::vault::VaultError::NoMasterKey) => {
                ApiError::Conflict { code: "no_master_key", message, hint }
            }
            GatewayError::NotFound { .. } => ApiError::NotFound { code: "not_found", message, hint },
            GatewayError::Store(store) => match std::sync::Arc::try_unwrap(store) {
                Ok(store) => store.into(),
                Err(shared) => ApiError::Internal(Box::new(GatewayError::Store(shared))),
            },
            other => ApiError::Internal(Box::new(other)),
        }
    }
}

fn api_key(text: Option<String>) -> Result<Option<SecretString>, ApiError> {
    match text.map(SecretString::new) {
        Some(key) if key.is_empty() || key.expose().len() > 4096 => {
            Err(ApiError::bad_request("invalid_key", "an API key is 1 to 4096 characters", Some("api_key")))
        }
        other => Ok(other),
    }
}

/// The connections of `project` (admin), or with `None` the tenant's own (tenant admin).
fn connection_owner(caller: &Caller, project: Option<&str>) -> Result<Scope, ApiError> {
    match project {
        Some(project) => Ok(caller.principal.authorize(Action::Admin, project)?),
        None => Ok(tenant_wide(&caller.principal.authorize_tenant()?)),
    }
}

async fn list_in(state: &AppState, scope: &Scope) -> ApiResult<Vec<ConnectionView>> {
    Ok(Json(state.connections().list(scope).await?))
}

async fn create_in(
    state: &AppState,
    scope: &Scope,
    caller: &Caller,
    body: ConnectionBody,
) -> Result<(StatusCode, Json<ConnectionView>), ApiError> {
    let key = api_key(body.api_key)?;
    let view = state.connections().put(scope, body.connection, key, &caller.principal.subject, false).await?;
    state.gateway.forget();
    Ok((StatusCode::CREATED, Json(view)))
}

async fn replace_in(
    state: &AppState,
    scope: &Scope,
    caller: &Caller,
    id: &str,
    body: ConnectionBody,
) -> ApiResult<ConnectionView> {
    if body.connection.id != id {
        return Err(ApiError::bad_request(
            "invalid_connection",
            "the body's `id` differs from the path's",
            Some("connection.id"),
        ));
    }
    let key = api_key(body.api_key)?;
    let view = state.connections().put(scope, body.connection, key, &caller.principal.subject, true).await?;
    state.gateway.forget();
    Ok(Json(view))
}

async fn remove_in(state: &AppState, scope: &Scope, id: &str) -> Result<StatusCode, ApiError> {
    state.connections().remove(scope, id).await?;
    state.gateway.forget();
    Ok(StatusCode::NO_CONTENT)
}

async fn set_key_in(
    state: &AppState,
    scope: &Scope,
    caller: &Caller,
    id: &str,
    key: Option<String>,
) -> Result<Option<String>, ApiError> {
    let key = api_key(key)?;
    let hint = state.connections().set_key(scope, id, key, &caller.principal.subject).await?;
    state.gateway.forget();
    Ok(hint)
}

/// `GET /projects/{project}/providers` (admin): the project's own connections.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(project): ApiPath<String>,
) -> ApiResult<Vec<ConnectionView>> {
    list_in(&state, &connection_owner(&caller, Some(&project))?).await
}

/// `POST /projects/{project}/providers` (admin).
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(project): ApiPath<String>,
    ApiJson(body): ApiJson<ConnectionBody>,
) -> Result<(StatusCode, Json<ConnectionView>), ApiError> {
    create_in(&state, &connection_owner(&caller, Some(&project))?, &caller, body).await
}

/// `PUT /projects/{project}/providers/{id}` (admin): replaces the definition, keeping the key
/// unless a new one is given.
pub async fn replace(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((project, id)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<ConnectionBody>,
) -> ApiResult<ConnectionView> {
    replace_in(&state, &connection_owner(&caller, Some(&project))?, &caller, &id, body).await
}

/// `DELETE /projects/{project}/providers/{id}` (admin).
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((project, id)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    remove_in(&state, &connection_owner(&caller, Some(&project))?, &id).await
}

/// `PUT /projects/{project}/providers/{id}/key` (admin).
pub async fn set_key(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((project, id)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<KeyBody>,
) -> ApiResult<KeyHint> {
    let scope = connection_owner(&caller, Some(&project))?;
    Ok(Json(KeyHint { key: set_key_in(&state, &scope, &caller, &id, Some(body.api_key)).await? }))
}

/// `DELETE /projects/{project}/providers/{id}/key` (admin).
pub async fn remove_key(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((project, id)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    set_key_in(&state, &connection_owner(&caller, Some(&project))?, &caller, &id, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /providers` (tenant admin): the tenant's own connections, which every project may use.
pub async fn tenant_list(State(state): State<AppState>, caller: Caller) -> ApiResult<Vec<ConnectionView>> {
    list_in(&state, &connection_owner(&caller, None)?).await
}

/// `POST /providers` (tenant admin).
pub async fn tenant_create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<ConnectionBody>,
) -> Result<(StatusCode, Json<ConnectionView>), ApiError> {
    create_in(&state, &connection_owner(&caller, None)?, &caller, body).await
}

/// `PUT /providers/{connection}` (tenant admin).
pub async fn tenant_replace(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ConnectionBody>,
) -> ApiResult<ConnectionView> {
    replace_in(&state, &connection_owner(&caller, None)?, &caller, &id, body).await
}

/// `DELETE /providers/{connection}` (tenant admin).
pub async fn tenant_remove(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    remove_in(&state, &connection_owner(&caller, None)?, &id).await
}

/// `PUT /providers/{connection}/key` (tenant admin).
pub async fn tenant_set_key(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<KeyBody>,
) -> ApiResult<KeyHint> {
    let scope = connection_owner(&caller, None)?;
    Ok(Json(KeyHint { key: set_key_in(&state, &scope, &caller, &id, Some(body.api_key)).await? }))
}

fn key_view(record: GatewayKeyRecord) -> GatewayKeyView {
    GatewayKeyView {
        id: record.token_id,
        project: record.project,
        limits: serde_json::from_value(record.spec).unwrap_or_default(),
        created_by: record.created_by,
        created_at: record.created_at,
    }
}

/// `GET /projects/{project}/gateway/keys` (admin).
pub async fn keys(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(project): ApiPath<String>,
) -> ApiResult<Vec<GatewayKeyView>> {
    let scope = caller.principal.authorize(Action::Admin, &project)?;
    Ok(Json(state.store.gateway_keys(&scope).await?.into_iter().map(key_view).collect()))
}

/// `POST /projects/{project}/gateway/keys` (admin): a `pog_…` token that acts for the caller,
/// capped at runner on this project, and only on `/v1`.
pub async fn create_key(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(project): ApiPath<String>,
    ApiJson(body): ApiJson<CreateGatewayKey>,
) -> Result<(StatusCode, Json<CreatedGatewayKey>), ApiError> {
    let scope = caller.principal.authorize(Action::Admin, &project)?;
    // A gateway key is a credential like any token: made only with an API token, within the
    // caller's scopes, expiring no later than it, and revoked with it.
    bounds::only_api_tokens(&caller, "create gateway keys")?;
    let key_scope = TokenScope { project: project.clone(), role: Role::Runner };
    bounds::check_scopes_within(&caller, std::slice::from_ref(&key_scope))?;
    body.limits.check().map_err(|(message, path)| ApiError::bad_request("invalid_limits", message, Some(path)))?;
    let principal = Slug::new(&caller.principal.subject)?;
    let secret = auth::random_secret(KEY_PREFIX);
    let now = Utc::now();
    let token = TokenRecord {
        id: auth::random_id("tok_"),
        principal,
        name: body.name.map_or_else(|| "gateway key".to_owned(), Note::into_inner),
        scopes: vec![key_scope],
        created_at: now,
        expires_at: bounds::earliest(body.expires_in_days.map(|d| now + d.duration()), caller.expires_at),
        revoked_at: None,
        hash: auth::hash_secret(secret.expose()),
        created_with: Some(caller.credential.clone()),
    };
    let record = GatewayKeyRecord {
        token_id: token.id.clone(),
        tenant: scope.tenant().to_owned(),
        project: project.clone(),
        spec: serde_json::to_value(&body.limits).map_err(|err| ApiError::Internal(Box::new(err)))?,
        created_by: caller.principal.subject.clone(),
        created_at: now,
    };
    // The limits first: a token without them opens nothing, and a failed token takes them away.
    state.store.put_gateway_key(&scope, &record).await?;
    if let Err(err) = state.store.create_token(&TenantScope::new(scope.tenant()), &token).await {
        state.store.delete_gateway_key(&scope, &token.id).await?;
        return Err(err.into());
    }
    state.gateway.forget();
    let expires_at = token.expires_at;
    Ok((
        StatusCode::CREATED,
        Json(CreatedGatewayKey { view: key_view(record), key: secret.expose().to_owned(), expires_at }),
    ))
}

/// `DELETE /projects/{project}/gateway/keys/{id}` (admin): revokes the key's token.
pub async fn revoke_key(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((project, id)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let scope = caller.principal.authorize(Action::Admin, &project)?;
    let known = state.store.gateway_keys(&scope).await?.iter().any(|k| k.token_id == id);
    if !known || !state.store.revoke_token(&TenantScope::new(scope.tenant()), &id).await? {
        return Err(ApiError::not_found(format!("gateway key `{id}` not found")));
    }
    state.grants.clear();
    state.gateway.forget();
    Ok(StatusCode::NO_CONTENT)
}

fn settings_of(value: Option<serde_json::Value>) -> GatewaySettings {
    value.and_then(|v| serde_json::from_value(v).ok()).unwrap_or_default()
}

fn checked(settings: &GatewaySettings) -> Result<serde_json::Value, ApiError> {
    if let Some(budget) = &settings.budget {
        budget.check().map_err(|m| ApiError::bad_request("invalid_settings", m, Some("budget")))?;
    }
    serde_json::to_value(settings).map_err(|err| ApiError::Internal(Box::new(err)))
}

/// `GET /projects/{project}/gateway/settings` (admin).
pub async fn project_settings(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(project): ApiPath<String>,
) -> ApiResult<GatewaySettings> {
    let scope = caller.principal.authorize(Action::Admin, &project)?;
    Ok(Json(settings_of(state.store.gateway_settings(SettingsOwner::Project(&scope)).await?)))
}

/// `PUT /projects/{project}/gateway/settings` (admin).
pub async fn set_project_settings(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(project): ApiPath<String>,
    ApiJson(body): ApiJson<GatewaySettings>,
) -> ApiResult<GatewaySettings> {
    let scope = caller.principal.authorize(Action::Admin, &project)?;
    state.store.put_gateway_settings(SettingsOwner::Project(&scope), &checked(&body)?).await?;
    state.gateway.forget();
    Ok(Json(body))
}

/// `GET /gateway/settings` (tenant admin).
pub async fn tenant_settings(State(state): State<AppState>, caller: Caller) -> ApiResult<GatewaySettings> {
    let scope = caller.principal.authorize_tenant()?;
    Ok(Json(settings_of(state.store.gateway_settings(SettingsOwner::Tenant(&scope)).await?)))
}

/// `PUT /gateway/settings` (tenant admin): the tenant's budget (`keep_content` is per project).
pub async fn set_tenant_settings(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<GatewaySettings>,
) -> ApiResult<GatewaySettings> {
    let scope = caller.principal.authorize_tenant()?;
    state.store.put_gateway_settings(SettingsOwner::Tenant(&scope), &checked(&body)?).await?;
    state.gateway.forget();
    Ok(Json(body))
}

/// `GET /projects/{project}/traces` (viewer): newest first, paged.
pub async fn traces(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(project): ApiPath<String>,
    ApiQuery(query): ApiQuery<RunListQuery>,
) -> ApiResult<Page<TraceRecord>> {
    let scope = caller.principal.authorize(Action::Read, &project)?;
    let store = &state.store;
    Ok(Json(newest_first(&query, |before, limit| store.traces(&scope, before, limit), |t: &TraceRecord| t.id).await?))
}

/// `GET /projects/{project}/usage` (viewer): spend of the project's model calls (the gateway's
/// included), grouped as `promptops cost` groups it.
pub async fn usage(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(project): ApiPath<String>,
    ApiQuery(query): ApiQuery<UsageQuery>,
) -> ApiResult<Vec<UsageRow>> {
    let scope = caller.principal.authorize(Action::Read, &project)?;
    Ok(Json(state.store.usage_report(&scope, query.since, query.by.unwrap_or(UsageGroup::Day)).await?))
}
