//! The route table: every endpoint once, with its method, path, handler and the types its
//! OpenAPI entry is generated from. The router and `schemas/openapi.json` are both built from it.

use axum::routing::{MethodRouter, delete, get, patch, post, put};
use schemars::{JsonSchema, Schema, SchemaGenerator};

use super::error::ErrorBody;
use super::gateway::chat;
use super::handlers::{accounts, experiments, health, langfuse, prompts, providers, queue, runs, sync};
use super::state::AppState;
use crate::api::{self, Page};
use crate::eval::compare::Comparison;
use crate::eval::report::RunReport;
use crate::gateway::{ConnectionView, GatewaySettings};
use crate::registry::PromptLog;
use crate::registry::diff::FileDiff;
use crate::registry::sync::{SyncBundle, SyncReport};
use crate::runs::RunSpec;
use crate::store::{
    AuditRecord, CommitOutcome, ExperimentDraft, ExperimentRecord, KeyPairRecord, LabelMove, LabelRecord, MemberRecord,
    PrincipalRecord, ProjectRecord, PromptSummary, ResultRecord, RunRecord, TenantRecord, TokenRecord, TraceRecord,
    UsageRow, VersionRecord,
};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No credentials (probes, the OpenAPI document).
    Public,
    /// The metrics token (`Authorization: Bearer`), or the separate metrics listener.
    Metrics,
    /// `Authorization: Bearer` (API token or JWT).
    Bearer,
    /// HTTP Basic with a Langfuse key pair.
    Basic,
    /// `Authorization: Bearer pog_…` with a gateway key; errors in OpenAI's envelope (`/v1`).
    Gateway,
}

/// One endpoint.
#[derive(Debug)]
pub struct Route {
    /// `GET`, `POST`, `PUT`, `DELETE`, `PATCH`.
    pub method: &'static str,
    /// The axum path (`{param}` segments).
    pub path: &'static str,
    /// One line for the docs.
    pub summary: &'static str,
    /// Credentials.
    pub access: Access,
    /// The handler.
    pub handler: fn() -> MethodRouter<AppState>,
    /// Its query parameters, as the struct they are read into.
    pub query: Option<SchemaFn>,
    /// The JSON body it reads, if any.
    pub request: Option<SchemaFn>,
    /// Its success statuses and what it answers with.
    pub response: (&'static [u16], Body),
}

/// Adds a type's JSON Schema to the generator's definitions and returns a reference to it.
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// The body of a successful answer.
#[derive(Debug, Clone, Copy)]
pub enum Body {
    /// JSON of this schema.
    Json(SchemaFn),
    /// Plain text (Prometheus metrics).
    Text,
    /// No body (204).
    Empty,
    /// Server-sent events of these data schemas (named events, each with an `id`).
    Events(SchemaFn),
}

/// The [`SchemaFn`] of `T`.
pub fn schema<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

/// The error answer every route may give.
pub fn error_schema(generator: &mut SchemaGenerator) -> Schema {
    schema::<ErrorBody>(generator)
}

/// `route!(verb "VERB" "/path", Access, handler, "summary", [query Query,] [in Request,]
/// status[|status] body)` where body is `json Type`, `text` or `empty`.
macro_rules! route {
    ($method:ident $verb:literal $path:literal, $access:ident, $handler:path, $summary:literal,
     $(query $query:ty,)? $(in $request:ty,)? $($status:literal)|+ $kind:ident $($response:ty)?) => {
        Route {
            method: $verb,
            path: $path,
            summary: $summary,
            access: Access::$access,
            handler: || $method($handler),
            query: None::<SchemaFn>$(.or(Some(schema::<$query> as SchemaFn)))?,
            request: None::<SchemaFn>$(.or(Some(schema::<$request> as SchemaFn)))?,
            response: (&[$($status),+], route!(@body $kind $($response)?)),
        }
    };
    (@body json $response:ty) => { Body::Json(schema::<$response>) };
    (@body text) => { Body::Text };
    (@body empty) => { Body::Empty };
    (@body events $response:ty) => { Body::Events(schema::<$response>) };
}

/// Every route of the server.
pub fn table() -> Vec<Route> {
    vec![
        route!(get "GET" "/healthz", Public, health::healthz, "liveness: 200 while the process runs", 200 json api::Readiness),
        route!(get "GET" "/readyz", Public, health::readyz, "readiness: database reachable and migrations current", 200 json api::Readiness),
        route!(get "GET" "/metrics", Metrics, health::metrics, "Prometheus metrics (the metrics token; or the metrics listener)", 200 text),
        route!(get "GET" "/api/v1/openapi.json", Public, health::openapi, "this API's OpenAPI 3.1 document", 200 json serde_json::Value),
        route!(post "POST" "/api/v1/auth/token", Bearer, accounts::exchange, "exchange the API token of the request for a short-lived JWT", 200 json api::AccessToken),
        route!(get "GET" "/api/v1/tenants", Bearer, accounts::tenants, "list tenants (super-admin)", query api::PageQuery, 200 json Page<TenantRecord>),
        route!(post "POST" "/api/v1/tenants", Bearer, accounts::create_tenant, "create a tenant and its first admin (super-admin)", in api::CreateTenant, 201 json api::TenantCreated),
        route!(get "GET" "/api/v1/projects", Bearer, accounts::projects, "list the caller's projects", query api::PageQuery, 200 json Page<ProjectRecord>),
        route!(post "POST" "/api/v1/projects", Bearer, accounts::create_project, "create a project (tenant admin)", in api::CreateProject, 201 json ProjectRecord),
        route!(get "GET" "/api/v1/projects/{project}", Bearer, accounts::project, "show a project", 200 json ProjectRecord),
        route!(get "GET" "/api/v1/principals", Bearer, accounts::principals, "list principals (tenant admin)", query api::PageQuery, 200 json Page<PrincipalRecord>),
        route!(post "POST" "/api/v1/principals", Bearer, accounts::create_principal, "create a user or service principal (tenant admin)", in api::CreatePrincipal, 201 json PrincipalRecord),
        route!(get "GET" "/api/v1/tokens", Bearer, accounts::tokens, "list API tokens", query api::PageQuery, 200 json Page<TokenRecord>),
        route!(post "POST" "/api/v1/tokens", Bearer, accounts::create_token, "create an API token (shown once)", in api::CreateToken, 201 json api::CreatedToken),
        route!(delete "DELETE" "/api/v1/tokens/{id}", Bearer, accounts::revoke_token, "revoke an API token", 204 empty),
        route!(get "GET" "/api/v1/audit", Bearer, accounts::tenant_audit, "the tenant's audit log (tenant admin)", query api::AuditListQuery, 200 json Page<AuditRecord>),
        route!(get "GET" "/api/v1/projects/{project}/members", Bearer, accounts::members, "list members and roles", query api::PageQuery, 200 json Page<MemberRecord>),
        route!(put "PUT" "/api/v1/projects/{project}/members/{principal}", Bearer, accounts::set_member, "give a principal a role (admin)", in api::SetMember, 200 json MemberRecord),
        route!(delete "DELETE" "/api/v1/projects/{project}/members/{principal}", Bearer, accounts::remove_member, "remove a member (admin)", 204 empty),
        route!(get "GET" "/api/v1/projects/{project}/keys", Bearer, accounts::key_pairs, "list Langfuse key pairs (admin)", query api::PageQuery, 200 json Page<KeyPairRecord>),
        route!(post "POST" "/api/v1/projects/{project}/keys", Bearer, accounts::create_key_pair, "create a Langfuse key pair (admin; secret shown once)", in api::CreateKeyPair, 201 json api::CreatedKeyPair),
        route!(delete "DELETE" "/api/v1/projects/{project}/keys/{public_key}", Bearer, accounts::revoke_key_pair, "revoke a key pair (admin)", 204 empty),
        route!(get "GET" "/api/v1/projects/{project}/audit", Bearer, accounts::project_audit, "the project's audit log (admin)", query api::AuditListQuery, 200 json Page<AuditRecord>),
        route!(get "GET" "/api/v1/projects/{project}/prompts", Bearer, prompts::list, "list prompts (paged; filters prefix, label)", query api::PromptListQuery, 200 json Page<PromptSummary>),
        route!(post "POST" "/api/v1/projects/{project}/commits", Bearer, prompts::commit, "commit several prompts at once (editor)", in api::CommitRequest, 200 json Vec<CommitOutcome>),
        route!(get "GET" "/api/v1/projects/{project}/labels", Bearer, prompts::labels, "where labels point (paged; filter name)", query api::LabelQuery, 200 json Page<LabelRecord>),
        route!(get "GET" "/api/v1/projects/{project}/prompts/{name}", Bearer, prompts::get, "a version by ?version= or ?label= (default latest)", query api::VersionQuery, 200 json VersionRecord),
        route!(post "POST" "/api/v1/projects/{project}/prompts/{name}", Bearer, prompts::create_version, "create a version (editor)", in api::NewVersion, 201 | 200 json CommitOutcome),
        route!(get "GET" "/api/v1/projects/{project}/prompts/{name}/log", Bearer, prompts::log, "versions, labels and label moves", 200 json PromptLog),
        route!(get "GET" "/api/v1/projects/{project}/prompts/{name}/diff", Bearer, prompts::diff, "diff two versions (?from=&to=)", query api::DiffQuery, 200 json Vec<FileDiff>),
        route!(get "GET" "/api/v1/projects/{project}/prompts/{name}/labels/history", Bearer, prompts::history, "every label move, newest first", 200 json Vec<LabelMove>),
        route!(put "PUT" "/api/v1/projects/{project}/prompts/{name}/labels/{label}", Bearer, prompts::set_label, "set or move a label (editor; admin for protected labels)", in api::SetLabel, 200 json LabelMove),
        route!(delete "DELETE" "/api/v1/projects/{project}/prompts/{name}/labels/{label}", Bearer, prompts::remove_label, "remove a label (editor; admin for protected labels)", 200 json LabelMove),
        route!(post "POST" "/api/v1/projects/{project}/prompts/{name}/labels/{label}/rollback", Bearer, prompts::rollback, "move a label back (editor; admin for protected labels)", in api::Rollback, 200 json LabelMove),
        route!(get "GET" "/api/v1/projects/{project}/sync", Bearer, sync::export, "every version and label, for `promptops pull`", 200 json SyncBundle),
        route!(post "POST" "/api/v1/projects/{project}/sync", Bearer, sync::import, "apply a pushed bundle: new versions keep their numbers, conflicts are held back (editor; admin for protected labels)", in SyncBundle, 200 json SyncReport),
        route!(get "GET" "/api/v1/projects/{project}/runs", Bearer, runs::list, "eval runs, newest first (paged; filter suite)", query api::RunListQuery, 200 json Page<RunRecord>),
        route!(post "POST" "/api/v1/projects/{project}/runs", Bearer, runs::upload, "upload a run and its results (runner)", in api::RunUpload, 201 json RunRecord),
        route!(get "GET" "/api/v1/projects/{project}/runs/compare", Bearer, runs::compare, "compare two runs (?before=&after=)", query api::CompareQuery, 200 json Comparison),
        route!(get "GET" "/api/v1/projects/{project}/runs/{run}", Bearer, runs::show, "a run's report (number or `latest`)", 200 json RunReport),
        route!(post "POST" "/api/v1/projects/{project}/runs/queue", Bearer, queue::submit, "queue a suite to run on the server's workers (runner; header Idempotency-Key)", in RunSpec, 201|200 json RunRecord),
        route!(post "POST" "/api/v1/projects/{project}/runs/{run}/cancel", Bearer, queue::cancel, "cancel a run on the server: queued units go, running ones stop; results are kept (runner)", 200 json RunRecord),
        route!(get "GET" "/api/v1/projects/{project}/runs/{run}/events", Bearer, queue::events, "a server-side run's results and progress as server-sent events (resume with Last-Event-ID)", 200 events api::RunEvent),
        route!(get "GET" "/api/v1/projects/{project}/runs/{run}/results", Bearer, runs::results, "a run's results in unit order (paged; problems_only)", query api::ResultListQuery, 200 json Page<ResultRecord>),
        route!(get "GET" "/api/v1/projects/{project}/experiments", Bearer, experiments::list, "A/B experiments, newest first (paged; filter suite)", query api::RunListQuery, 200 json Page<ExperimentRecord>),
        route!(post "POST" "/api/v1/projects/{project}/experiments", Bearer, experiments::upload, "record an experiment whose arms' runs are uploaded (runner)", in ExperimentDraft, 201 json ExperimentRecord),
        route!(get "GET" "/api/v1/projects/{project}/experiments/{experiment}", Bearer, experiments::show, "an experiment with its analysis (number or `latest`)", 200 json ExperimentRecord),
        route!(get "GET" "/api/v1/projects/{project}/providers", Bearer, providers::list, "provider connections, never their keys (admin)", 200 json Vec<ConnectionView>),
        route!(post "POST" "/api/v1/projects/{project}/providers", Bearer, providers::create, "add a provider connection, its key sealed by the master key (admin)", in providers::ConnectionBody, 201 json ConnectionView),
        route!(put "PUT" "/api/v1/projects/{project}/providers/{id}", Bearer, providers::replace, "replace a connection, keeping its key unless one is given (admin)", in providers::ConnectionBody, 200 json ConnectionView),
        route!(delete "DELETE" "/api/v1/projects/{project}/providers/{id}", Bearer, providers::remove, "remove a connection (admin)", 204 empty),
        route!(put "PUT" "/api/v1/projects/{project}/providers/{id}/key", Bearer, providers::set_key, "set a connection's API key (admin; answers its last four characters)", in providers::KeyBody, 200 json providers::KeyHint),
        route!(delete "DELETE" "/api/v1/projects/{project}/providers/{id}/key", Bearer, providers::remove_key, "remove a connection's API key (admin)", 204 empty),
        route!(get "GET" "/api/v1/providers", Bearer, providers::tenant_list, "the tenant's own provider connections, which every project may use, never their keys (tenant admin)", 200 json Vec<ConnectionView>),
        route!(post "POST" "/api/v1/providers", Bearer, providers::tenant_create, "add a tenant-wide provider connection; a project's own connection of the same id wins (tenant admin)", in providers::ConnectionBody, 201 json ConnectionView),
        route!(put "PUT" "/api/v1/providers/{connection}", Bearer, providers::tenant_replace, "replace a tenant-wide connection, keeping its key unless one is given (tenant admin)", in providers::ConnectionBody, 200 json ConnectionView),
        route!(delete "DELETE" "/api/v1/providers/{connection}", Bearer, providers::tenant_remove, "remove a tenant-wide connection (tenant admin)", 204 empty),
        route!(put "PUT" "/api/v1/providers/{connection}/key", Bearer, providers::tenant_set_key, "set a tenant-wide connection's API key (tenant admin; answers its last four characters)", in providers::KeyBody, 200 json providers::KeyHint),
        route!(get "GET" "/api/v1/projects/{project}/gateway/keys", Bearer, providers::keys, "gateway keys of the project (admin)", 200 json Vec<providers::GatewayKeyView>),
        route!(post "POST" "/api/v1/projects/{project}/gateway/keys", Bearer, providers::create_key, "create a gateway key, `gateway:invoke` on this project with limits (admin; shown once)", in providers::CreateGatewayKey, 201 json providers::CreatedGatewayKey),
        route!(delete "DELETE" "/api/v1/projects/{project}/gateway/keys/{id}", Bearer, providers::revoke_key, "revoke a gateway key (admin)", 204 empty),
        route!(get "GET" "/api/v1/projects/{project}/gateway/settings", Bearer, providers::project_settings, "the project's gateway budget and content policy (admin)", 200 json GatewaySettings),
        route!(put "PUT" "/api/v1/projects/{project}/gateway/settings", Bearer, providers::set_project_settings, "set the project's gateway budget and content policy (admin)", in GatewaySettings, 200 json GatewaySettings),
        route!(get "GET" "/api/v1/gateway/settings", Bearer, providers::tenant_settings, "the tenant's gateway budget (tenant admin)", 200 json GatewaySettings),
        route!(put "PUT" "/api/v1/gateway/settings", Bearer, providers::set_tenant_settings, "set the tenant's gateway budget (tenant admin)", in GatewaySettings, 200 json GatewaySettings),
        route!(get "GET" "/api/v1/projects/{project}/traces", Bearer, providers::traces, "gateway traces, newest first (paged)", query api::RunListQuery, 200 json Page<TraceRecord>),
        route!(get "GET" "/api/v1/projects/{project}/usage", Bearer, providers::usage, "spend of the project's model calls, gateway included (?since=&by=day|provider|model)", query providers::UsageQuery, 200 json Vec<UsageRow>),
        route!(post "POST" "/v1/chat/completions", Gateway, chat::chat_completions, "OpenAI chat completions (plain or SSE), optionally through a managed prompt", in serde_json::Value, 200 json serde_json::Value),
        route!(post "POST" "/v1/embeddings", Gateway, chat::embeddings, "OpenAI embeddings", in serde_json::Value, 200 json serde_json::Value),
        route!(get "GET" "/v1/models", Gateway, chat::models, "the connections and `prompt:` ids this key may use", 200 json serde_json::Value),
        route!(get "GET" "/api/public/projects", Basic, langfuse::projects, "Langfuse: the key pair's project (auth_check)", 200 json serde_json::Value),
        route!(get "GET" "/api/public/v2/prompts", Basic, langfuse::list, "Langfuse: list prompts (page, limit, name, label, tag, fromUpdatedAt, toUpdatedAt)", query langfuse::ListQuery, 200 json serde_json::Value),
        route!(post "POST" "/api/public/v2/prompts", Basic, langfuse::create, "Langfuse: create a version (text or chat, any JSON config, placeholders, composition references), with labels and tags", in langfuse::CreatePrompt, 201 json serde_json::Value),
        route!(get "GET" "/api/public/v2/prompts/{name}", Basic, langfuse::get, "Langfuse: get by ?label= or ?version= (default production); references resolved unless ?resolve=false", query langfuse::FetchQuery, 200 json serde_json::Value),
        route!(patch "PATCH" "/api/public/v2/prompts/{name}/versions/{version}", Basic, langfuse::update_labels, "Langfuse: add labels to a version", in langfuse::NewLabels, 200 json serde_json::Value),
    ]
}
