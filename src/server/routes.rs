//! The route table: every endpoint once, with its method, path, handler and the types its
//! OpenAPI entry is generated from. The router and `schemas/openapi.json` are both built from it.

use axum::routing::{MethodRouter, delete, get, patch, post, put};

use super::handlers::{accounts, experiments, health, langfuse, prompts, runs, sync};
use super::state::AppState;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No credentials (probes, metrics, the OpenAPI document).
    Public,
    /// `Authorization: Bearer` (API token or JWT).
    Bearer,
    /// HTTP Basic with a Langfuse key pair.
    Basic,
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
}

macro_rules! route {
    ($method:ident $verb:literal $path:literal, $access:ident, $handler:path, $summary:literal) => {
        Route { method: $verb, path: $path, summary: $summary, access: Access::$access, handler: || $method($handler) }
    };
}

/// Every route of the server.
pub fn table() -> Vec<Route> {
    vec![
        route!(get "GET" "/healthz", Public, health::healthz, "liveness: 200 while the process runs"),
        route!(get "GET" "/readyz", Public, health::readyz, "readiness: database reachable and migrations current"),
        route!(get "GET" "/metrics", Public, health::metrics, "Prometheus metrics"),
        route!(get "GET" "/api/v1/openapi.json", Public, health::openapi, "this API's OpenAPI 3.1 document"),
        route!(post "POST" "/api/v1/auth/token", Bearer, accounts::exchange, "exchange the API token of the request for a short-lived JWT"),
        route!(get "GET" "/api/v1/tenants", Bearer, accounts::tenants, "list tenants (super-admin)"),
        route!(post "POST" "/api/v1/tenants", Bearer, accounts::create_tenant, "create a tenant and its first admin (super-admin)"),
        route!(get "GET" "/api/v1/projects", Bearer, accounts::projects, "list the caller's projects"),
        route!(post "POST" "/api/v1/projects", Bearer, accounts::create_project, "create a project (tenant admin)"),
        route!(get "GET" "/api/v1/projects/{project}", Bearer, accounts::project, "show a project"),
        route!(get "GET" "/api/v1/principals", Bearer, accounts::principals, "list principals (tenant admin)"),
        route!(post "POST" "/api/v1/principals", Bearer, accounts::create_principal, "create a user or service principal (tenant admin)"),
        route!(get "GET" "/api/v1/tokens", Bearer, accounts::tokens, "list API tokens"),
        route!(post "POST" "/api/v1/tokens", Bearer, accounts::create_token, "create an API token (shown once)"),
        route!(delete "DELETE" "/api/v1/tokens/{id}", Bearer, accounts::revoke_token, "revoke an API token"),
        route!(get "GET" "/api/v1/audit", Bearer, accounts::tenant_audit, "the tenant's audit log (tenant admin)"),
        route!(get "GET" "/api/v1/projects/{project}/members", Bearer, accounts::members, "list members and roles"),
        route!(put "PUT" "/api/v1/projects/{project}/members/{principal}", Bearer, accounts::set_member, "give a principal a role (admin)"),
        route!(delete "DELETE" "/api/v1/projects/{project}/members/{principal}", Bearer, accounts::remove_member, "remove a member (admin)"),
        route!(get "GET" "/api/v1/projects/{project}/keys", Bearer, accounts::key_pairs, "list Langfuse key pairs (admin)"),
        route!(post "POST" "/api/v1/projects/{project}/keys", Bearer, accounts::create_key_pair, "create a Langfuse key pair (admin; secret shown once)"),
        route!(delete "DELETE" "/api/v1/projects/{project}/keys/{public_key}", Bearer, accounts::revoke_key_pair, "revoke a key pair (admin)"),
        route!(get "GET" "/api/v1/projects/{project}/audit", Bearer, accounts::project_audit, "the project's audit log (admin)"),
        route!(get "GET" "/api/v1/projects/{project}/prompts", Bearer, prompts::list, "list prompts (paged; filters prefix, label)"),
        route!(post "POST" "/api/v1/projects/{project}/commits", Bearer, prompts::commit, "commit several prompts at once (editor)"),
        route!(get "GET" "/api/v1/projects/{project}/labels", Bearer, prompts::labels, "where labels point (paged; filter name)"),
        route!(get "GET" "/api/v1/projects/{project}/prompts/{name}", Bearer, prompts::get, "a version by ?version= or ?label= (default latest)"),
        route!(post "POST" "/api/v1/projects/{project}/prompts/{name}", Bearer, prompts::create_version, "create a version (editor)"),
        route!(get "GET" "/api/v1/projects/{project}/prompts/{name}/log", Bearer, prompts::log, "versions, labels and label moves"),
        route!(get "GET" "/api/v1/projects/{project}/prompts/{name}/diff", Bearer, prompts::diff, "diff two versions (?from=&to=)"),
        route!(get "GET" "/api/v1/projects/{project}/prompts/{name}/labels/history", Bearer, prompts::history, "every label move, newest first"),
        route!(put "PUT" "/api/v1/projects/{project}/prompts/{name}/labels/{label}", Bearer, prompts::set_label, "set or move a label (editor; admin for protected labels)"),
        route!(delete "DELETE" "/api/v1/projects/{project}/prompts/{name}/labels/{label}", Bearer, prompts::remove_label, "remove a label (editor; admin for protected labels)"),
        route!(post "POST" "/api/v1/projects/{project}/prompts/{name}/labels/{label}/rollback", Bearer, prompts::rollback, "move a label back (editor; admin for protected labels)"),
        route!(get "GET" "/api/v1/projects/{project}/sync", Bearer, sync::export, "every version and label, for `promptops pull`"),
        route!(post "POST" "/api/v1/projects/{project}/sync", Bearer, sync::import, "apply a pushed bundle: new versions keep their numbers, conflicts are held back (editor; admin for protected labels)"),
        route!(get "GET" "/api/v1/projects/{project}/runs", Bearer, runs::list, "eval runs, newest first (paged; filter suite)"),
        route!(post "POST" "/api/v1/projects/{project}/runs", Bearer, runs::upload, "upload a run and its results (runner)"),
        route!(get "GET" "/api/v1/projects/{project}/runs/compare", Bearer, runs::compare, "compare two runs (?before=&after=)"),
        route!(get "GET" "/api/v1/projects/{project}/runs/{run}", Bearer, runs::show, "a run's report (number or `latest`)"),
        route!(get "GET" "/api/v1/projects/{project}/runs/{run}/results", Bearer, runs::results, "a run's results in unit order (paged; problems_only)"),
        route!(get "GET" "/api/v1/projects/{project}/experiments", Bearer, experiments::list, "A/B experiments, newest first (paged; filter suite)"),
        route!(post "POST" "/api/v1/projects/{project}/experiments", Bearer, experiments::upload, "record an experiment whose arms' runs are uploaded (runner)"),
        route!(get "GET" "/api/v1/projects/{project}/experiments/{experiment}", Bearer, experiments::show, "an experiment with its analysis (number or `latest`)"),
        route!(get "GET" "/api/public/projects", Basic, langfuse::projects, "Langfuse: the key pair's project (auth_check)"),
        route!(get "GET" "/api/public/v2/prompts", Basic, langfuse::list, "Langfuse: list prompts (page, limit, name, label, tag)"),
        route!(post "POST" "/api/public/v2/prompts", Basic, langfuse::create, "Langfuse: create a version (text or chat), with labels"),
        route!(get "GET" "/api/public/v2/prompts/{name}", Basic, langfuse::get, "Langfuse: get by ?label= or ?version= (default production)"),
        route!(patch "PATCH" "/api/public/v2/prompts/{name}/versions/{version}", Basic, langfuse::update_labels, "Langfuse: add labels to a version"),
    ]
}
