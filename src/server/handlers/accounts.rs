//! Accounts over [`crate::store::AccountStore`]: the token exchange, tenants (super-admin),
//! projects, principals, members and roles, API tokens, Langfuse key pairs, and the audit log.
//! Secrets are generated here, returned once, and stored as hashes; every credential made here is
//! bounded by the one that asked ([`crate::server::bounds`]).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;

use super::paginate;
use crate::access::{Action, Role, Scope, TenantScope};
use crate::api::{
    AccessToken, AuditListQuery, CreateKeyPair, CreatePrincipal, CreateProject, CreateTenant, CreateToken,
    CreatedKeyPair, CreatedToken, Page, PageQuery, SetMember, TenantCreated,
};
use crate::server::auth::{self, Caller, PUBLIC_KEY_PREFIX, SECRET_KEY_PREFIX, TOKEN_PREFIX};
use crate::server::bounds;
use crate::server::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::server::state::AppState;
use crate::store::{
    AuditQuery, AuditRecord, KeyPairRecord, MemberChange, MemberRecord, PrincipalKind, PrincipalRecord, ProjectRecord,
    Slug, Store, TenantRecord, TokenRecord, TokenScope,
};

type ApiResult<T> = Result<Json<T>, ApiError>;
type Created<T> = Result<(StatusCode, Json<T>), ApiError>;

/// `POST /api/v1/auth/token`: exchanges the API token of the request for a short-lived JWT
/// (never a JWT for a JWT: that would let one live forever).
pub async fn exchange(State(state): State<AppState>, caller: Caller) -> ApiResult<AccessToken> {
    bounds::only_api_tokens(&caller, "be exchanged for an access token")?;
    let issued = state.config.jwt.issue(&caller)?;
    Ok(Json(AccessToken { access_token: issued.token, token_type: "Bearer".to_owned(), expires_in: issued.expires_in }))
}

/// A token about to be stored: what [`issue_token`] needs besides the store and scope.
#[derive(Debug)]
pub struct NewToken {
    /// The principal it acts as.
    pub principal: Slug,
    /// What it is for.
    pub name: String,
    /// Its limits.
    pub scopes: Vec<TokenScope>,
    /// When it stops working.
    pub expires_at: Option<chrono::DateTime<Utc>>,
    /// The token it is made with.
    pub created_with: Option<String>,
}

/// Stores a new token and returns it with its secret.
pub async fn issue_token(store: &dyn Store, scope: &TenantScope, new: NewToken) -> Result<CreatedToken, ApiError> {
    let secret = auth::random_secret(TOKEN_PREFIX);
    let record = TokenRecord {
        id: auth::random_id("tok_"),
        principal: new.principal,
        name: new.name,
        scopes: new.scopes,
        created_at: Utc::now(),
        expires_at: new.expires_at,
        revoked_at: None,
        created_with: new.created_with,
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
    bounds::only_api_tokens(&caller, "create a tenant and its admin token")?;
    let name = body.name.map_or_else(|| body.id.to_string(), crate::api::Note::into_inner);
    let tenant = state.store.create_tenant(&system, &body.id, &name).await?;
    let scope = system.tenant(body.id.as_str());
    state.store.create_principal(&scope, &body.admin, PrincipalKind::User, true, false).await?;
    // The root of the new tenant: no parent in another tenant, but no longer-lived than the caller.
    let first = NewToken {
        principal: body.admin,
        name: "first admin".to_owned(),
        scopes: Vec::new(),
        expires_at: caller.expires_at,
        created_with: None,
    };
    let admin_token = issue_token(state.store.as_ref(), &scope, first).await?;
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
    let name = body.name.map_or_else(|| body.id.to_string(), crate::api::Note::into_inner);
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
/// makes, changes or removes an owner, and the last owner stays.
pub async fn set_member(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((project, principal)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<SetMember>,
) -> ApiResult<MemberRecord> {
    let scope = caller.principal.authorize(Action::Admin, &project)?;
    let principal = Slug::new(&principal)?;
    change_member(&state, &caller, &scope, &principal, Some(body.role)).await?;
    Ok(Json(MemberRecord { principal, role: body.role }))
}

/// `DELETE /api/v1/projects/{project}/members/{principal}` (admin): also revokes the key pairs
/// the member created for the project.
pub async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((project, principal)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let scope = caller.principal.authorize(Action::Admin, &project)?;
    change_member(&state, &caller, &scope, &Slug::new(&principal)?, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn change_member(
    state: &AppState,
    caller: &Caller,
    scope: &Scope,
    principal: &Slug,
    role: Option<Role>,
) -> Result<(), ApiError> {
    let by_owner = caller.principal.roles.get(scope.project()) == Some(&Role::Owner);
    match state.store.set_member(scope, principal, role, by_owner).await? {
        MemberChange::Changed { .. } => Ok(()),
        MemberChange::OwnerProtected => Err(ApiError::Forbidden {
            message: "only an owner may make, change or remove an owner".to_owned(),
            hint: Some("ask a project owner".to_owned()),
        }),
        MemberChange::LastOwner => Err(ApiError::Conflict {
            code: "last_owner",
            message: format!("`{principal}` is the last owner of project `{}`", scope.project()),
            hint: Some("make another member owner first".to_owned()),
        }),
    }
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

/// `POST /api/v1/tokens`: a token for the caller, or (tenant admin) for another principal;
/// within the caller's scopes, expiring no later than the caller's token.
pub async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateToken>,
) -> Created<CreatedToken> {
    bounds::check_scope_shape(&body.scopes)?;
    bounds::only_api_tokens(&caller, "create API tokens")?;
    let principal = &caller.principal;
    let own = Slug::new(&principal.subject)?;
    let target = body.principal.unwrap_or_else(|| own.clone());
    let scope = if target == own { TenantScope::new(&principal.tenant) } else { principal.authorize_tenant()? };
    bounds::check_scopes_within(&caller, &body.scopes)?;
    if target != own {
        bounds::check_target(&caller, &principal_record(state.store.as_ref(), &scope, &target).await?)?;
    }
    let new = NewToken {
        principal: target,
        name: body.name.into_inner(),
        scopes: body.scopes,
        expires_at: bounds::expiry(&caller, body.expires_in_days),
        created_with: Some(caller.credential.clone()),
    };
    let created = issue_token(state.store.as_ref(), &scope, new).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

async fn principal_record(store: &dyn Store, scope: &TenantScope, name: &Slug) -> Result<PrincipalRecord, ApiError> {
    let principals = store.principals(scope).await?;
    principals
        .into_iter()
        .find(|p| &p.name == name)
        .ok_or_else(|| ApiError::not_found(format!("principal `{name}` not found")))
}

/// `DELETE /api/v1/tokens/{id}`: revokes one of the caller's tokens (any, for a tenant admin,
/// but a super-admin's only for a super-admin), with every token and key pair made with it.
pub async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let principal = &caller.principal;
    let scope = TenantScope::new(&principal.tenant);
    let only = (!principal.tenant_admin).then_some(principal.subject.as_str());
    let missing = || ApiError::not_found(format!("token `{id}` not found"));
    let token = state.store.tokens(&scope, only).await?.into_iter().find(|t| t.id == id).ok_or_else(missing)?;
    if token.principal.as_str() != principal.subject {
        bounds::check_target(&caller, &principal_record(state.store.as_ref(), &scope, &token.principal).await?)?;
    }
    if !state.store.revoke_token(&scope, &id).await? {
        return Err(missing());
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
/// may not exceed the caller's, nor its expiry the caller's token's; when used, it acts at most
/// with its creator's role of the moment.
pub async fn create_key_pair(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(project): ApiPath<String>,
    ApiJson(body): ApiJson<CreateKeyPair>,
) -> Created<CreatedKeyPair> {
    let scope = caller.principal.authorize(Action::Admin, &project)?;
    bounds::only_api_tokens(&caller, "create key pairs")?;
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
        expires_at: bounds::expiry(&caller, body.expires_in_days),
        revoked_at: None,
        created_with: Some(caller.credential.clone()),
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
    let invalid = || ApiError::bad_request("invalid_cursor", "the cursor is not one this server made", Some("cursor"));
    // Audit ids are database integers: a cursor above i64::MAX is not one this server made.
    let before = super::decode_cursor(query.cursor.as_deref())?
        .map(|c| c.parse::<i64>().ok().and_then(|id| u64::try_from(id).ok()).ok_or_else(invalid))
        .transpose()?;
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
