//! The HTTP wire types of `promptops serve`'s `/api/v1`, defined once for the server and the
//! remote client: request bodies, query parameters and the response shapes that are not store
//! records themselves. Store records ([`crate::store`]) travel as they are. `docs/server.md`
//! lists the routes; `schemas/openapi.json` is generated from these types.

pub mod bounded;
pub mod upload;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::access::Role;
use crate::prompt::PromptName;
pub use bounded::{Days, Note};

use crate::store::{PrincipalKind, ResultRecord, RunRecord, Slug, TokenScope};

/// Default page size of every list.
pub const DEFAULT_LIMIT: u32 = 50;
/// Largest page size of every list.
pub const MAX_LIMIT: u32 = 500;

/// One page of a list: `next_cursor` is passed back as `?cursor=` for the next page, and is
/// absent on the last one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(rename = "PageOf{T}")]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Opaque cursor of the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// `?limit=&cursor=` of every list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PageQuery {
    /// Page size (default 50, at most 500).
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageQuery {
    /// The page size to use.
    pub fn limit(&self) -> u32 {
        self.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
    }
}

/// Filters of `GET /projects/{project}/prompts`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PromptListQuery {
    /// Page size.
    pub limit: Option<u32>,
    /// Cursor.
    pub cursor: Option<String>,
    /// Only names starting with this (a folder: `support/`).
    pub prefix: Option<String>,
    /// Only prompts carrying this label.
    pub label: Option<String>,
}

/// Which version `GET /prompts/{name}` returns: `version`, else `label` (a label or a hash
/// prefix), else the latest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct VersionQuery {
    /// A version number.
    pub version: Option<u32>,
    /// A label (or a version hash prefix).
    pub label: Option<String>,
}

/// `GET /prompts/{name}/diff?from=&to=`: two refs (version number, label or hash prefix; `to`
/// defaults to `latest`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DiffQuery {
    /// The old side.
    pub from: String,
    /// The new side (default `latest`).
    pub to: Option<String>,
}

/// A new version of one prompt: the prompt file's text and the partials it includes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVersion {
    /// The prompt file (YAML) as text.
    pub source: String,
    /// The partials it includes, by include name.
    #[serde(default)]
    pub partials: BTreeMap<String, String>,
    /// The commit message.
    #[serde(default)]
    pub message: String,
}

/// Several prompts committed at once (what `promptops push` sends).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommitRequest {
    /// The commit message.
    #[serde(default)]
    pub message: String,
    /// The prompts.
    pub prompts: Vec<NamedVersion>,
}

/// One prompt of a [`CommitRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NamedVersion {
    /// The prompt.
    pub name: PromptName,
    /// The file's text.
    pub source: String,
    /// Its partials.
    #[serde(default)]
    pub partials: BTreeMap<String, String>,
}

/// `PUT /prompts/{name}/labels/{label}`: point the label at a version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetLabel {
    /// The version.
    pub version: u32,
}

/// `POST /prompts/{name}/labels/{label}/rollback`: move back (to the previous holder, or `to`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rollback {
    /// The version to move to (default: the one held before).
    #[serde(default)]
    pub to: Option<u32>,
}

/// `GET /projects/{project}/labels?name=`: the labels of one prompt or all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LabelQuery {
    /// Only this prompt.
    pub name: Option<PromptName>,
    /// Page size.
    pub limit: Option<u32>,
    /// Cursor.
    pub cursor: Option<String>,
}

/// An access token from `POST /api/v1/auth/token`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AccessToken {
    /// The JWT.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until it expires.
    pub expires_in: u64,
}

/// `POST /api/v1/tenants` (super-admin): a tenant and its first administrator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    /// The tenant id.
    pub id: Slug,
    /// Display name (default: the id; at most 200 characters).
    #[serde(default)]
    pub name: Option<Note>,
    /// The name of its first administrator.
    pub admin: Slug,
}

/// A created tenant, with its administrator's token (shown once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TenantCreated {
    /// The tenant.
    pub tenant: crate::store::TenantRecord,
    /// The administrator's API token.
    pub admin_token: CreatedToken,
}

/// `POST /api/v1/projects`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProject {
    /// The project id.
    pub id: Slug,
    /// Display name (default: the id; at most 200 characters).
    #[serde(default)]
    pub name: Option<Note>,
}

/// `POST /api/v1/principals` (tenant admin).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePrincipal {
    /// The principal's name.
    pub name: Slug,
    /// User (default) or service.
    #[serde(default = "default_kind")]
    pub kind: PrincipalKind,
    /// Whether it administers the tenant.
    #[serde(default)]
    pub tenant_admin: bool,
}

fn default_kind() -> PrincipalKind {
    PrincipalKind::User
}

/// `PUT /projects/{project}/members/{principal}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetMember {
    /// The role.
    pub role: Role,
}

/// `POST /api/v1/tokens`: a token for yourself, or (tenant admin) for another principal.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// What it is for (at most 200 characters).
    #[serde(default)]
    pub name: Note,
    /// The principal it acts as (default: the caller).
    #[serde(default)]
    pub principal: Option<Slug>,
    /// Limits (default: none, the principal's full rights; at most 64). A scoped caller must
    /// give scopes within its own.
    #[serde(default)]
    pub scopes: Vec<TokenScope>,
    /// Lifetime in days, 1 to 3,650 (default: the caller's token's expiry, or none). Never
    /// later than the caller's token.
    #[serde(default)]
    pub expires_in_days: Option<Days>,
}

/// A token as created: the only time its secret is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CreatedToken {
    /// The token's record.
    #[serde(flatten)]
    pub record: crate::store::TokenRecord,
    /// The token: keep it, it is not shown again.
    pub token: String,
}

/// `POST /projects/{project}/keys`: a Langfuse-compatible key pair.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyPair {
    /// The role it acts with (default: viewer; never above yours, nor above its creator's
    /// role when it is used).
    #[serde(default)]
    pub role: Option<Role>,
    /// Lifetime in days, 1 to 3,650 (default: the caller's token's expiry, or none). Never
    /// later than the caller's token.
    #[serde(default)]
    pub expires_in_days: Option<Days>,
}

/// A key pair as created: the only time its secret key is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CreatedKeyPair {
    /// The key pair's record.
    #[serde(flatten)]
    pub record: crate::store::KeyPairRecord,
    /// `sk-lf-…`: keep it, it is not shown again.
    pub secret_key: String,
}

/// Filters of the audit log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AuditListQuery {
    /// Page size.
    pub limit: Option<u32>,
    /// Cursor.
    pub cursor: Option<String>,
    /// Only this actor.
    pub actor: Option<String>,
    /// Only actions containing this text (`labels`, `POST`).
    pub action: Option<String>,
    /// Only this project (tenant-wide log only).
    pub project: Option<String>,
}

/// The data of one event of `GET /projects/{project}/runs/{run}/events`; the event's name says
/// which: `result` (its `id` is the result's position, for `Last-Event-ID`), `progress`, and
/// `done` last.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum RunEvent {
    /// `result`: one result, in the order results were written.
    Result(Box<ResultRecord>),
    /// `progress` and `done`: the run, its totals and its status.
    Run(Box<RunRecord>),
    /// `stopped`, just before `done`: a worker stopped the run because every later call would
    /// fail the same way.
    Stopped(RunStop),
}

/// Why a worker stopped a server-side run (a refused key, a spent budget).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunStop {
    /// The call's error, as the results show it.
    pub message: String,
    /// How to fix its cause.
    pub hints: Vec<String>,
}

/// `POST /projects/{project}/runs`: a run as the CLI stored it, with its results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunUpload {
    /// The run (its id and totals are the server's: the server numbers runs per project).
    pub run: RunRecord,
    /// Its results.
    #[serde(default)]
    pub results: Vec<ResultRecord>,
}

/// Filters of `GET /projects/{project}/runs` and `GET /projects/{project}/experiments`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RunListQuery {
    /// Page size.
    pub limit: Option<u32>,
    /// Cursor.
    pub cursor: Option<String>,
    /// Only runs (experiments) of this suite.
    pub suite: Option<String>,
}

/// Filters of `GET /runs/{run}/results`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ResultListQuery {
    /// Page size.
    pub limit: Option<u32>,
    /// Cursor.
    pub cursor: Option<String>,
    /// Only failures and errors.
    #[serde(default)]
    pub problems_only: bool,
}

/// `GET /runs/compare?before=&after=`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CompareQuery {
    /// The older run (number, or `latest`).
    pub before: String,
    /// The newer run.
    pub after: String,
}

/// `/readyz`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Readiness {
    /// `ready`, or why not: `shutting_down`, `database_unreachable`, `migrations_pending`,
    /// `gateway_writes_failing` (the store refused the gateway's last batch of traces).
    pub status: String,
}
