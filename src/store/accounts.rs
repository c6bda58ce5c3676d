//! Who may use a server, as stored rows: tenants own projects; principals (users and service
//! accounts) belong to a tenant and hold a [`Role`] per project; API tokens and Langfuse key pairs
//! are kept as SHA-256 hashes only, each with the token it was made with, so that revoking a
//! token revokes everything made with it; the audit log records every write. The
//! [`AccountStore`] sub-trait holds the queries, and the two rules that must hold under
//! concurrent writes: a project keeps an owner, and only an owner changes one. Checking tokens,
//! JWTs and roles is the server's job.

use std::collections::BTreeMap;
use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use super::StoreError;
use crate::access::{Role, Scope, SystemScope, TenantScope};

/// A validated id of a tenant, project or principal: 1–63 lowercase letters, digits, `-` and `_`,
/// starting with a letter or digit, so that it is safe in a URL path segment.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, schemars::JsonSchema)]
#[serde(transparent)]
#[schemars(extend("pattern" = "^[a-z0-9][a-z0-9_-]*$", "minLength" = 1, "maxLength" = 63))]
pub struct Slug(String);

/// Why an id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid id `{0}`: use 1 to 63 lowercase letters, digits, `-` and `_`, starting with a letter or digit")]
pub struct SlugError(pub String);

impl Slug {
    /// Validates and wraps an id.
    pub fn new(text: &str) -> Result<Self, SlugError> {
        let valid = (1..=63).contains(&text.len())
            && text.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            && text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if valid { Ok(Self(text.to_owned())) } else { Err(SlugError(text.to_owned())) }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Slug {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::new(&text).map_err(serde::de::Error::custom)
    }
}

/// A tenant: an organisation owning projects and principals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TenantRecord {
    /// The tenant id.
    pub id: Slug,
    /// A display name.
    pub name: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// A project of a tenant: the unit prompts, labels and runs belong to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ProjectRecord {
    /// The project id (unique in its tenant).
    pub id: Slug,
    /// A display name.
    pub name: String,
    /// Who created it (its first owner).
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// A human user or a service account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PrincipalKind {
    /// A person.
    User,
    /// A machine (CI, an application).
    Service,
}

impl PrincipalKind {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Service => "service",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::User, Self::Service].into_iter().find(|k| k.as_str() == text)
    }
}

/// A principal of a tenant; its name is unique in the tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PrincipalRecord {
    /// The principal's name.
    pub name: Slug,
    /// User or service account.
    pub kind: PrincipalKind,
    /// Administers the tenant.
    pub tenant_admin: bool,
    /// Administers the server (tenants).
    pub super_admin: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// A principal's role on a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MemberRecord {
    /// The principal.
    pub principal: Slug,
    /// Its role.
    pub role: Role,
}

/// A limit a token puts on its principal's rights: at most `role` on `project` (`*`: every project).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TokenScope {
    /// A project id, or `*` for all.
    pub project: String,
    /// The strongest role the token may use there.
    pub role: Role,
}

/// An API token as stored: never the token itself, only its SHA-256 hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TokenRecord {
    /// The token's id (not secret; used to list and revoke it).
    pub id: String,
    /// The principal it acts as.
    pub principal: Slug,
    /// A note saying what it is for.
    pub name: String,
    /// Limits on the principal's rights; empty means all of them.
    pub scopes: Vec<TokenScope>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
    /// The id of the token it was made with (none for a tenant's first token): revoking that
    /// token revokes this one too.
    #[serde(default)]
    pub created_with: Option<String>,
    /// Hex SHA-256 of the token; not sent over the API.
    #[serde(skip)]
    pub hash: String,
}

/// A Langfuse-style key pair: the public key names it, the secret is kept as a SHA-256 hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct KeyPairRecord {
    /// `pk-lf-…`.
    pub public_key: String,
    /// The project it opens.
    pub project: Slug,
    /// The role it acts with.
    pub role: Role,
    /// Who created it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// When it stops working, if ever.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
    /// The id of the token it was made with: revoking that token revokes this key pair too.
    #[serde(default)]
    pub created_with: Option<String>,
    /// Hex SHA-256 of the secret key; not sent over the API.
    #[serde(skip)]
    pub secret_hash: String,
}

/// One audited write: who did what, when, from where, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AuditRecord {
    /// Increasing id (the paging cursor).
    pub id: u64,
    /// The project, for project-level actions.
    pub project: Option<String>,
    /// The principal.
    pub actor: String,
    /// What was done: method and route, `PUT /api/v1/projects/{project}/prompts/{name}/labels/{label}`.
    pub action: String,
    /// The path as requested.
    pub target: String,
    /// The HTTP status of the answer.
    pub status: u16,
    /// The client's address.
    pub client_addr: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// An audit entry about to be written (the id and time are the store's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditDraft {
    /// The project, for project-level actions.
    pub project: Option<String>,
    /// The principal.
    pub actor: String,
    /// Method and route.
    pub action: String,
    /// The path as requested.
    pub target: String,
    /// The HTTP status.
    pub status: u16,
    /// The client's address.
    pub client_addr: String,
}

/// Which audit entries to read: newest first, before `before`, at most `limit`, filtered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only entries with an id below this (the cursor).
    pub before: Option<u64>,
    /// At most this many.
    pub limit: u32,
    /// Only this project.
    pub project: Option<String>,
    /// Only this actor.
    pub actor: Option<String>,
    /// Only actions containing this text.
    pub action: Option<String>,
}

/// Everything an API token grants, as found by its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenGrant {
    /// The tenant.
    pub tenant: String,
    /// The token.
    pub token: TokenRecord,
    /// Its principal.
    pub principal: PrincipalRecord,
    /// The principal's roles by project (every project as owner for a tenant admin).
    pub roles: BTreeMap<String, Role>,
}

/// What a key pair grants, as found by its public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPairGrant {
    /// The tenant.
    pub tenant: String,
    /// The key pair.
    pub key: KeyPairRecord,
    /// Its creator's role on the key's project now (owner for a tenant admin; none if they have
    /// no role there any more): the key never acts above it.
    pub creator_role: Option<Role>,
}

/// How [`AccountStore::authenticate_token`] finds a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKey<'a> {
    /// By the hash of its secret: an API token presented as such.
    Hash(&'a str),
    /// By its id: the `jti` of a JWT exchanged for it, whose signature was checked already.
    Id(&'a str),
}

/// What [`AccountStore::set_member`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberChange {
    /// Done: the principal's role before the change.
    Changed {
        /// Its role before (none: it was no member).
        before: Option<Role>,
    },
    /// Refused, nothing written: the principal is an owner and the change was not made by one.
    OwnerProtected,
    /// Refused, nothing written: the project would be left with no owner.
    LastOwner,
}

/// Tenants, projects, principals, members, tokens, key pairs and the audit log. Every method
/// takes the scope it is confined to, except the two `authenticate_*` lookups (a credential's
/// hash is what identifies its tenant) and the cache-invalidation mark (a number, no data).
#[async_trait]
pub trait AccountStore {
    /// Creates a tenant.
    async fn create_tenant(&self, scope: &SystemScope, id: &Slug, name: &str) -> Result<TenantRecord, StoreError>;
    /// Every tenant.
    async fn tenants(&self, scope: &SystemScope) -> Result<Vec<TenantRecord>, StoreError>;

    /// Creates a project and makes `owner` its owner.
    async fn create_project(
        &self,
        scope: &TenantScope,
        id: &Slug,
        name: &str,
        owner: &str,
    ) -> Result<ProjectRecord, StoreError>;
    /// The tenant's projects, by id.
    async fn projects(&self, scope: &TenantScope) -> Result<Vec<ProjectRecord>, StoreError>;

    /// Creates a principal (or returns the existing one with that name, unchanged, as `Err(Conflict)`).
    async fn create_principal(
        &self,
        scope: &TenantScope,
        name: &Slug,
        kind: PrincipalKind,
        tenant_admin: bool,
        super_admin: bool,
    ) -> Result<PrincipalRecord, StoreError>;
    /// The tenant's principals, by name.
    async fn principals(&self, scope: &TenantScope) -> Result<Vec<PrincipalRecord>, StoreError>;

    /// Gives `principal` `role` on the project (replacing its role), or removes it with `None`,
    /// in one transaction that keeps two rules: an owner is changed or removed only `by_owner`,
    /// and the project keeps at least one owner. Removing a member also revokes the key pairs
    /// it created for the project.
    async fn set_member(
        &self,
        scope: &Scope,
        principal: &Slug,
        role: Option<Role>,
        by_owner: bool,
    ) -> Result<MemberChange, StoreError>;
    /// The project's members, by name.
    async fn members(&self, scope: &Scope) -> Result<Vec<MemberRecord>, StoreError>;

    /// Stores a new token.
    async fn create_token(&self, scope: &TenantScope, token: &TokenRecord) -> Result<(), StoreError>;
    /// The tenant's tokens (of one principal, or all), newest first.
    async fn tokens(&self, scope: &TenantScope, principal: Option<&str>) -> Result<Vec<TokenRecord>, StoreError>;
    /// Revokes a token, every token made with it (transitively) and every key pair made with any
    /// of them, in one transaction; `false` if the tenant has no such token.
    async fn revoke_token(&self, scope: &TenantScope, id: &str) -> Result<bool, StoreError>;
    /// The token found by `key` and what it grants (revoked and expired ones too: the caller checks).
    async fn authenticate_token(&self, key: TokenKey<'_>) -> Result<Option<TokenGrant>, StoreError>;

    /// Stores a new key pair.
    async fn create_key_pair(&self, scope: &Scope, key: &KeyPairRecord) -> Result<(), StoreError>;
    /// The project's key pairs.
    async fn key_pairs(&self, scope: &Scope) -> Result<Vec<KeyPairRecord>, StoreError>;
    /// Revokes a key pair; `false` if the project has no such key.
    async fn revoke_key_pair(&self, scope: &Scope, public_key: &str) -> Result<bool, StoreError>;
    /// The key pair with this public key and its creator's current role (revoked and expired
    /// ones too: the caller checks).
    async fn authenticate_key_pair(&self, public_key: &str) -> Result<Option<KeyPairGrant>, StoreError>;

    /// Appends an audit entry.
    async fn audit(&self, scope: &TenantScope, entry: AuditDraft) -> Result<(), StoreError>;
    /// Reads audit entries, newest first.
    async fn audit_log(&self, scope: &TenantScope, query: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError>;

    /// The id of the newest label move in the database: grows on every move made by any process,
    /// so a server polls it to invalidate its prompt cache. Carries no tenant data.
    async fn label_move_mark(&self) -> Result<i64, StoreError>;

    /// Announcements of label moves and gateway changes made by any process, as they commit;
    /// `None` when the backend has no such channel (SQLite), and the marks are polled alone.
    fn changes(&self) -> Option<super::changes::ChangeFeed> {
        None
    }
}

/// Why a member change is refused before anything is read but the principal's role: an owner
/// is changed or removed, or made, only by an owner.
pub(crate) fn member_refusal(before: Option<Role>, after: Option<Role>, by_owner: bool) -> Option<MemberChange> {
    let touches_owner = before == Some(Role::Owner) || after == Some(Role::Owner);
    (touches_owner && before != after && !by_owner).then_some(MemberChange::OwnerProtected)
}

/// Whether the change takes an owner away, so that another owner must remain.
pub(crate) fn demotes_owner(before: Option<Role>, after: Option<Role>) -> bool {
    before == Some(Role::Owner) && after != Some(Role::Owner)
}

/// The two statements of a revocation, with the backend's placeholders for the tenant, the token
/// id and the time: the token and every token made with it at any depth (a recursive walk down
/// `created_with`), then every key pair made with any of them. The first one's count says
/// whether the token exists.
pub(crate) fn revocation(tenant: &str, id: &str, at: &str) -> [String; 2] {
    let doomed = format!(
        "WITH RECURSIVE doomed(id) AS (
             SELECT id FROM api_tokens WHERE tenant_id = {tenant} AND id = {id}
             UNION
             SELECT t.id FROM api_tokens t JOIN doomed d ON t.created_with = d.id WHERE t.tenant_id = {tenant}
         )"
    );
    [("api_tokens", "id"), ("key_pairs", "created_with")].map(|(table, column)| {
        format!(
            "{doomed} UPDATE {table} SET revoked_at = COALESCE(revoked_at, {at})
             WHERE tenant_id = {tenant} AND {column} IN (SELECT id FROM doomed)"
        )
    })
}

/// The creator's current role on a key pair's project (owner for a tenant admin), and the
/// `FROM` of `key_pairs k` that finds it.
pub(crate) const CREATOR_ROLE: &str = "CASE WHEN p.tenant_admin THEN 'owner' ELSE m.role END
     FROM key_pairs k
     LEFT JOIN principals p ON p.tenant_id = k.tenant_id AND p.name = k.created_by
     LEFT JOIN members m ON m.tenant_id = k.tenant_id AND m.project_id = k.project_id AND m.principal = k.created_by";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_owners_touch_owners() {
        use Role::{Admin, Owner, Viewer};
        for (before, after) in
            [(Some(Owner), Some(Admin)), (Some(Owner), None), (Some(Admin), Some(Owner)), (None, Some(Owner))]
        {
            assert_eq!(
                member_refusal(before, after, false),
                Some(MemberChange::OwnerProtected),
                "{before:?} → {after:?}"
            );
            assert_eq!(member_refusal(before, after, true), None, "{before:?} → {after:?} by an owner");
        }
        assert_eq!(member_refusal(Some(Owner), Some(Owner), false), None, "no change");
        assert_eq!(member_refusal(Some(Admin), Some(Viewer), false), None);
        assert_eq!(member_refusal(None, None, false), None);
    }

    #[test]
    fn only_losing_an_owner_needs_another() {
        assert!(demotes_owner(Some(Role::Owner), None));
        assert!(demotes_owner(Some(Role::Owner), Some(Role::Admin)));
        assert!(!demotes_owner(Some(Role::Owner), Some(Role::Owner)));
        assert!(!demotes_owner(Some(Role::Admin), None));
    }
}
