//! Accounts over [`crate::store::AccountStore`]: the token exchange, tenants (super-admin),
//! projects, principals, members and roles, API tokens, Langfuse key pairs, and the audit log.
//! Secrets are generated here, returned once, and stored as hashes.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;

use super::paginate;
use crate::access::{Action, Role, TenantScope};
use crate::api::{
    AccessToken, AuditListQuery, CreateKeyPair, CreatePrincipal, CreateProject, CreateTenant, CreateToken,
    CreatedKeyPair, CreatedToken, Page, PageQuery, SetMember, TenantCreated,
};
use crate::server::auth::{self, Caller, PUBLIC_KEY_PREFIX, SECRET_KEY_PREFIX, TOKEN_PREFIX};
use crate::server::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::server::state::AppState;
use crate::store::{
    AuditQuery, AuditRecord, KeyPairRecord, MemberRecord, PrincipalKind, PrincipalRecord, ProjectRecord, Slug, Store,
    TenantRecord, TokenRecord, TokenScope,
};

type ApiResult<T> = Result<Json<T>, ApiError>;
type Created<T> = Result<(StatusCode, Json<T>), ApiError>;

/// `POST /api/v1/auth/token`: exchanges the API token of the request for a short-lived JWT.
pub async fn exchange(State(state): State<AppState>, caller: Caller) -> ApiResult<AccessToken> {
    let jwt = &state.config.jwt;
    Ok(Json(AccessToken {
        access_token: jwt.issue(&caller)?,
        token_type: "Bearer".to_owned(),
        expires_in: jwt.lifetime.as_secs(),
    }))
}

/// Stores a new token for `principal` and returns it with its secret.
pub async fn issue_token(
    store: &dyn Store,
    scope: &TenantScope,
    principal: Slug,
    name: String,
    scopes: Vec<TokenScope>,
    expires_in_days: Option<u32>,
) -> Result<CreatedToken, ApiError> {
    let secret = auth::random_secret(TOKEN_PREFIX);
    let now = Utc::now();
    let record = TokenRecord {
        id: auth::random_id("tok_"),
        principal,
        name,
        scopes,
        created_at: now,
        expires_at: expires_in_days.map(|days| now + chrono::Duration::days(i64::from(days))),
        revoked_at: None,
        hash: auth::hash_secret(secret.expose()),
    };
    store.create_token(scope, &record).await?;
    Ok(CreatedToken { record, token: secret.expose().to_owned() })
}

/// `GET /api/v1/tenants` (super-admin).
pub async fn tenants(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<Page<TenantRecord>> {
    let system = caller.principal.authorize_system()?;
    let tenants = state.store.tenants(&system).await?;
    Ok(Json(paginate(tenants, query.limit, query.cursor.as_deref(), |t| t.id.to_string())?))
}

/// `POST /api/v1/tenants` (super-admin): a tenant, its first administrator and its token.
pub async fn create_tenant(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateTenant>,
) -> Created<TenantCreated> {
    let system = caller.principal.authorize_system()?;
    let name = body.name.unwrap_or_else(|| body.id.to_string());
    let tenant = state.store.create_tenant(&system, &body.id, &name).await?;
    let scope = system.tenant(body.id.as_str());
    state.store.create_principal(&scope, &body.admin, PrincipalKind::User, true, false).await?;
    let admin_token =
        issue_token(state.store.as_ref(), &scope, body.admin, "first admin".to_owned(), Vec::new(), None).await?;
    Ok((StatusCode::CREATED, Json(TenantCreated { tenant, admin_token })))
}

/// `GET /api/v1/projects`: the caller's projects (every project for a tenant admin).
pub async fn projects(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<Page<ProjectRecord>> {
    let scope = TenantScope::new(&caller.principal.tenant);
    let mut projects = state.store.projects(&scope).await?;
    projects.retain(|p| caller.principal.roles.contains_key(p.id.as_str()));
    Ok(Json(paginate(projects, query.limit, query.cursor.as_deref(), |p| p.id.to_string())?))
}

/// `GET /api/v1/projects/{project}`.
pub async fn project(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(project): ApiPath<String>,
) -> ApiResult<ProjectRecord> {
    let scope = caller.principal.authorize(Action::Read, &project)?;
    let projects = state.store.projects(&TenantScope::new(scope.tenant())).await?;
    let found = projects.into_iter().find(|p| p.id.as_str() == project);
    Ok(Json(found.ok_or_else(|| ApiError::not_found(format!("project `{project}` not found")))?))
}

/// `POST /api/v1/projects` (tenant admin): the caller becomes its owner.
pub async fn create_project(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateProject>,
) -> Created<ProjectRecord> {
    let scope = caller.principal.authorize_tenant()?;
    let name = body.name.unwrap_or_else(|| body.id.to_string());
    let project = state.store.create_project(&scope, &body.id, &name, &caller.principal.subject).await?;
    Ok((StatusCode::CREATED, Json(project)))
}

/// `GET /api/v1/principals` (tenant admin).
pub async fn principals(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<Page<PrincipalRecord>> {
    let scope = caller.principal.authorize_tenant()?;
    let principals = state.store.principals(&scope).await?;
    Ok(Json(paginate(principals, query.limit, query.cursor.as_deref(), |p| p.name.to_string())?))
}

/// `POST /api/v1/principals` (tenant admin).
pub async fn create_principal(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreatePrincipal>,
) -> Created<PrincipalRecord> {
    let scope = caller.principal.authorize_tenant()?;
    let principal = state.store.create_principal(&scope, &body.name, body.kind, body.tenant_admin, false).await?;
    Ok((StatusCode::CREATED, Json(principal)))
}

/// `GET /api/v1/projects/{project}/members`.
pub async fn members(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(project): ApiPath<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<Page<MemberRecord>> {
    let scope = caller.principal.authorize(Action::Read, &project)?;
    let members = state.store.members(&scope).await?;
    Ok(Json(paginate(members, query.limit, query.cursor.as_deref(), |m| m.principal.to_string())?))
}

/// `PUT /api/v1/projects/{project}/members/{principal}` (admin): gives a role. Only an owner
/// may make owners.
pub async fn set_member(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((project, principal)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<SetMember>,
) -> ApiResult<MemberRecord> {
    let scope = caller.principal.authorize(Action::Admin, &project)?;
    if body.role == Role::Owner && caller.principal.roles.get(&project) != Some(&Role::Owner) {
        return Err(ApiError::Forbidden {
            message: "only an owner may make owners".to_owned(),
            hint: Some("ask a project owner".to_owned()),
        });
    }
    let principal = Slug::new(&principal)?;
    state.store.set_member(&scope, &principal, Some(body.role)).await?;
    Ok(Json(MemberRecord { principal, role: body.role }))
}

/// `DELETE /api/v1/projects/{project}/members/{principal}` (admin).
pub async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((project, principal)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let scope = caller.principal.authorize(Action::Admin, &project)?;
    state.store.set_member(&scope, &Slug::new(&principal)?, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/tokens`: the caller's tokens (every token of the tenant for a tenant admin).
pub async fn tokens(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<Page<TokenRecord>> {
    let principal = &caller.principal;
    let scope = TenantScope::new(&principal.tenant);
    let only = (!principal.tenant_admin).then_some(principal.subject.as_str());
    let tokens = state.store.tokens(&scope, only).await?;
    Ok(Json(paginate(tokens, query.limit, query.cursor.as_deref(), |t| t.id.clone())?))
}

/// `POST /api/v1/tokens`: a token for the caller, or (tenant admin) for another principal.
pub async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateToken>,
) -> Created<CreatedToken> {
    let principal = &caller.principal;
    let own = Slug::new(&principal.subject)?;
    let target = body.principal.unwrap_or_else(|| own.clone());
    let scope = if target == own { TenantScope::new(&principal.tenant) } else { principal.authorize_tenant()? };
    let created =
        issue_token(state.store.as_ref(), &scope, target, body.name, body.scopes, body.expires_in_days).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// `DELETE /api/v1/tokens/{id}`: revokes one of the caller's tokens (any, for a tenant admin).
pub async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let principal = &caller.principal;
    let scope = TenantScope::new(&principal.tenant);
    let only = (!principal.tenant_admin).then_some(principal.subject.as_str());
    let owned = state.store.tokens(&scope, only).await?.iter().any(|t| t.id == id);
    if !owned || !state.store.revoke_token(&scope, &id).await? {
        return Err(ApiError::not_found(format!("token `{id}` not found")));
    }
    state.grants.clear();
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/projects/{project}/keys` (admin): the project's Langfuse key pairs.
pub async fn key_pairs(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(project): ApiPath<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<Page<KeyPairRecord>> {
    let scope = caller.principal.authorize(Action::Admin, &project)?;
    let keys = state.store.key_pairs(&scope).await?;
    Ok(Json(paginate(keys, query.limit, query.cursor.as_deref(), |k| k.public_key.clone())?))
}

/// `POST /api/v1/projects/{project}/keys` (admin): a key pair, the secret shown once. Its role
/// may not exceed the caller's.
pub async fn create_key_pair(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(project): ApiPath<String>,
    ApiJson(body): ApiJson<CreateKeyPair>,
) -> Created<CreatedKeyPair> {
    let scope = caller.principal.authorize(Action::Admin, &project)?;
    let have = caller.principal.roles.get(&project).copied().unwrap_or(Role::Viewer);
    let role = body.role.unwrap_or(Role::Viewer).min(have);
    let public = auth::random_secret(PUBLIC_KEY_PREFIX);
    let secret = auth::random_secret(SECRET_KEY_PREFIX);
    let record = KeyPairRecord {
        public_key: public.expose().to_owned(),
        project: Slug::new(&project)?,
        role,
        created_by: caller.principal.subject.clone(),
        created_at: Utc::now(),
        revoked_at: None,
        secret_hash: auth::hash_secret(secret.expose()),
    };
    state.store.create_key_pair(&scope, &record).await?;
    Ok((StatusCode::CREATED, Json(CreatedKeyPair { record, secret_key: secret.expose().to_owned() })))
}

/// `DELETE /api/v1/projects/{project}/keys/{public_key}` (admin).
pub async fn revoke_key_pair(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((project, public_key)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let scope = caller.principal.authorize(Action::Admin, &project)?;
    if !state.store.revoke_key_pair(&scope, &public_key).await? {
        return Err(ApiError::not_found(format!("key `{public_key}` not found")));
    }
    Ok(StatusCode::NO_CONTENT)
}

fn audit_query(query: &AuditListQuery, project: Option<String>) -> Result<AuditQuery, ApiError> {
    let before =
        super::decode_cursor(query.cursor.as_deref())?.map(|c| c.parse::<u64>()).transpose().map_err(|_| {
            ApiError::bad_request("invalid_cursor", "the cursor is not one this server made", Some("cursor"))
        })?;
    Ok(AuditQuery {
        before,
        limit: PageQuery { limit: query.limit, cursor: None }.limit(),
        project,
        actor: query.actor.clone(),
        action: query.action.clone(),
    })
}

fn audit_page(entries: Vec<AuditRecord>, limit: u32) -> Page<AuditRecord> {
    let next_cursor = (entries.len() == limit as usize)
        .then(|| entries.last().map(|e| super::encode_cursor(&e.id.to_string())))
        .flatten();
    Page { items: entries, next_cursor }
}

/// `GET /api/v1/audit` (tenant admin): the tenant's audit log, newest first.
pub async fn tenant_audit(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<AuditListQuery>,
) -> ApiResult<Page<AuditRecord>> {
    let scope = caller.principal.authorize_tenant()?;
    let audit = audit_query(&query, query.project.clone())?;
    let entries = state.store.audit_log(&scope, &audit).await?;
    Ok(Json(audit_page(entries, audit.limit)))
}

/// `GET /api/v1/projects/{project}/audit` (admin): the project's audit log, newest first.
pub async fn project_audit(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(project): ApiPath<String>,
    ApiQuery(query): ApiQuery<AuditListQuery>,
) -> ApiResult<Page<AuditRecord>> {
    let scope = caller.principal.authorize(Action::Admin, &project)?;
    let audit = audit_query(&query, Some(project))?;
    let entries = state.store.audit_log(&TenantScope::new(scope.tenant()), &audit).await?;
    Ok(Json(audit_page(entries, audit.limit)))
}
