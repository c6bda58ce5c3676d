//! The server over real HTTP on 127.0.0.1: a server per test on port 0, reqwest as the client.
//! Every case runs on SQLite and, when `PROMPTOPS_TEST_POSTGRES_URL` is set, on PostgreSQL (the
//! store conformance suite's fresh backends). Helpers build a tenant with one principal per role.

mod api;
mod contract;
pub mod credentials;
mod escalation;
pub mod experiments;
mod exposure;
mod forged_jwt;
mod gateway;
mod gateway_keys;
mod hardening;
mod inputs;
pub mod langfuse;
mod langfuse_sdk;
mod members;
mod openapi_check;
pub mod python_sdk;
mod queue;
mod rbac;
pub mod runs;

/// Runs each case once per backend, like the store conformance suite.
macro_rules! server_cases {
    ($($module:ident :: $case:ident),* $(,)?) => {
        mod sqlite_backend {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                super::$module::$case(crate::store_conformance::sqlite().await).await;
            })*
        }
        mod postgres_backend {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                if let Some(backend) = crate::store_conformance::postgres(concat!(module_path!(), "::", stringify!($case))).await {
                    super::$module::$case(backend).await;
                }
            })*
        }
    };
}

server_cases! {
    api::a_prompt_is_created_fetched_labelled_and_rolled_back,
    api::lists_are_paged_and_filtered,
    api::bad_requests_get_one_json_error_shape_with_the_path,
    api::a_body_that_is_not_a_json_object_is_refused,
    api::tokens_exchange_for_jwts_and_revoked_tokens_stop_working,
    api::every_write_lands_in_the_audit_log_with_who_and_where,
    contract::probes_and_metrics_answer_as_the_contract_says,
    contract::readiness_drops_to_503_when_shutdown_begins,
    contract::the_openapi_document_is_served,
    langfuse::the_sdk_flow_creates_labels_and_fetches_prompts,
    langfuse::key_pairs_are_checked_and_keep_their_role,
    langfuse::config_is_kept_whole_and_type_and_tags_belong_to_the_name,
    langfuse::hostile_langfuse_bodies_get_clear_langfuse_errors_and_write_nothing,
    langfuse::native_prompts_are_served_as_the_sdk_can_use_them,
    langfuse::composition_is_resolved_when_served_and_broken_references_are_named,
    rbac::every_role_against_every_write_endpoint,
    queue::a_queued_run_is_run_by_the_workers_and_streamed_to_its_end,
    queue::one_idempotency_key_makes_one_run,
    queue::a_stream_resumed_after_any_event_loses_and_repeats_nothing,
    queue::a_cancelled_run_stops_calling_the_model_and_keeps_its_results,
    queue::only_runners_queue_and_hostile_specs_are_refused_naming_the_field,
    queue::an_uploaded_run_streams_as_it_stands_and_ends,
    queue::a_malformed_last_event_id_is_refused_naming_the_header,
    rbac::no_caller_of_another_tenant_sees_tenant_b,
    runs::runs_are_uploaded_listed_shown_paged_and_compared,
    experiments::experiments_are_recorded_listed_filtered_and_shown,
    experiments::hostile_uploads_are_refused_with_the_path_and_write_nothing,
    hardening::label_moves_reach_another_server_on_the_same_database,
    hardening::a_spent_token_bucket_answers_429_with_retry_after,
    hardening::cors_is_closed_unless_origins_are_configured,
    hardening::oversized_bodies_are_refused,
    hardening::an_oversized_body_sent_slowly_is_read_through_and_gets_its_413,
    hardening::a_body_cut_short_is_never_taken_as_whole,
    hardening::no_json_body_makes_a_handler_fail_with_500,
    credentials::a_jwt_stops_working_when_its_token_is_revoked,
    credentials::a_jwt_loses_what_its_principal_loses,
    credentials::another_replica_sees_a_revocation_within_the_grant_cache_lifetime,
    credentials::only_api_tokens_are_exchanged_for_jwts,
    credentials::a_jwt_never_outlives_its_token,
    credentials::a_scoped_expiring_token_mints_only_narrower_shorter_tokens,
    credentials::a_token_scoped_to_every_project_as_viewer_cannot_make_an_admin,
    credentials::jwts_mint_no_credentials,
    credentials::a_system_tenant_admin_cannot_mint_for_the_super_admin,
    credentials::revoking_a_token_revokes_what_was_made_with_it,
    credentials::lifetimes_are_bounded_and_checked,
    credentials::free_text_and_scopes_of_account_routes_are_bounded,
    credentials::jwt_errors_name_no_parser_detail,
    forged_jwt::forged_hs256_jwts_are_refused,
    forged_jwt::a_validly_signed_jwt_gets_no_more_than_its_api_token,
    forged_jwt::forged_rs256_jwts_are_refused,
    members::only_an_owner_changes_or_removes_an_owner,
    members::the_last_owner_cannot_be_removed_or_demoted,
    members::a_key_pair_is_bounded_by_its_creators_current_role,
    members::removing_a_member_revokes_their_key_pairs_for_good,
    members::key_pairs_expire,
    members::a_key_pair_never_outlives_the_token_that_made_it,
    escalation::no_credential_makes_a_stronger_or_longer_lived_one,
    exposure::encoded_ids_are_audited_under_their_decoded_names,
    exposure::refused_writes_are_audited,
    exposure::metrics_need_their_token_on_the_api_port,
    exposure::metrics_can_have_their_own_listener,
    exposure::metrics_labels_are_bounded_and_name_no_tenant,
    exposure::slow_headers_are_cut_off,
    exposure::connections_beyond_the_cap_wait,
    exposure::failed_authentication_is_throttled_per_client,
    exposure::a_forwarded_address_is_believed_only_from_trusted_proxies,
    exposure::a_throttled_write_is_audited,
    exposure::gateway_series_name_no_tenant_and_stay_bounded,
    inputs::pushed_versions_are_checked_like_commits,
    inputs::the_pusher_is_recorded_as_the_author,
    inputs::a_push_with_a_dangling_label_writes_nothing,
    inputs::the_langfuse_list_survives_an_unreadable_version,
    inputs::langfuse_writes_check_every_label_before_writing,
    inputs::uploaded_runs_are_judged_by_their_results_and_credited_to_the_caller,
    gateway::provider_keys_are_sealed_at_rest_and_never_answered,
    gateway::a_rotated_master_key_opens_every_key_and_the_old_one_none,
    gateway::internal_provider_hosts_and_exec_are_refused,
    gateway::without_a_master_key_keys_are_refused_with_a_hint,
    gateway::connections_need_an_admin_and_keys_stay_in_their_tenant,
    gateway::fifty_concurrent_calls_never_overspend_a_budget_of_three,
    gateway::a_client_that_hangs_up_cancels_the_upstream_call,
    gateway::a_hung_up_call_gives_back_its_parallel_slot,
    gateway::a_fallback_answers_plain_and_streamed_calls_and_says_so,
    gateway::only_successful_answers_are_cached,
    gateway::each_end_user_of_a_key_has_a_budget_of_their_own,
    gateway::an_end_user_named_in_the_key_has_that_budget_in_place_of_everyones,
    gateway::a_model_without_a_price_is_refused_where_a_budget_applies,
    gateway::a_refresh_skips_the_cached_answer_and_stores_the_new_one,
    gateway::tenant_wide_connections_need_a_tenant_admin,
    gateway::a_tenant_wide_connection_serves_its_tenants_projects_only,
    gateway::kind_model_names_work_only_where_the_operator_allows_them,
    gateway::traces_the_store_refuses_are_counted_and_shown,
    gateway_keys::a_gateway_key_dies_with_the_token_that_made_it,
    gateway_keys::a_gateway_key_loses_its_project_with_its_creator,
    gateway_keys::guessing_gateway_keys_is_throttled_per_client,
}

/// What only PostgreSQL does: announce changes to other servers (`NOTIFY`). SQLite has no such
/// channel; its replicas poll, as `label_moves_reach_another_server_on_the_same_database` shows.
mod postgres_only {
    macro_rules! postgres_cases {
        ($($module:ident :: $case:ident),* $(,)?) => {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                if let Some(backend) = crate::store_conformance::postgres(concat!(module_path!(), "::", stringify!($case))).await {
                    super::$module::$case(backend).await;
                }
            })*
        };
    }
    postgres_cases! {
        hardening::a_label_move_reaches_a_replica_that_never_polls,
        hardening::a_new_connection_reaches_a_replica_that_never_polls,
        queue::a_queued_run_wakes_the_workers_of_a_replica_that_polls_rarely,
        gateway::two_replicas_never_overspend_a_budget_of_three_between_them,
    }
}

use std::sync::Arc;
use std::time::Duration;

use promptops::secret::SecretString;
use promptops::server::auth::{JwtKeys, JwtSettings};
use promptops::server::listen::ConnectionLimits;
use promptops::server::{self, AppState, ServerConfig};
use reqwest::Method;
use serde_json::{Value, json};

pub use crate::store_conformance::Backend;

/// A running server and a client for it.
pub struct TestServer {
    pub base: String,
    pub admin: String,
    pub client: reqwest::Client,
    pub state: AppState,
    pub backend: Backend,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// The HS256 secret of the test servers (the forged-JWT tests sign with it).
pub const JWT_SECRET: &str = "test-secret-of-at-least-thirty-two-bytes";

pub fn config() -> ServerConfig {
    ServerConfig {
        protected_labels: vec!["production".to_owned()],
        jwt: JwtSettings {
            keys: JwtKeys::hs256(SecretString::new(JWT_SECRET)).expect("long enough"),
            issuer: "promptops".into(),
            audience: "promptops-api".into(),
            lifetime: Duration::from_secs(300),
        },
        rate_limit: None,
        body_limit: 1024 * 1024,
        request_timeout: Duration::from_secs(10),
        cors_origins: Vec::new(),
        cache_poll: Duration::from_millis(100),
        connections: ConnectionLimits::default(),
        auth_failures: None,
        trusted_proxies: Vec::new(),
        metrics_token: Some(SecretString::new(METRICS_TOKEN)),
        master_key: Some(Arc::new(promptops::vault::MasterKey::generate())),
        // The stub LLM listens on loopback; the SSRF tests build a config without this.
        allowed_provider_hosts: vec!["127.0.0.1".to_owned()],
        kind_models: false,
        // Renders in this process: the sandbox's workers are the `promptops` binary, and
        // cli/tests/cli/render_sandbox.rs tests them through it.
        render_sandbox: None,
        workers: None,
    }
}

/// The metrics token of [`config`].
pub const METRICS_TOKEN: &str = "test-metrics-token";

impl TestServer {
    pub async fn on(backend: Backend) -> Self {
        Self::on_with(backend, config()).await
    }

    pub async fn on_with(backend: Backend, config: ServerConfig) -> Self {
        let store = Arc::clone(&backend.store);
        let admin = server::bootstrap_admin(store.as_ref(), None, true).await.expect("bootstrap").expect("token");
        let (base, state, stop) = spawn(store, config).await;
        Self { base, admin, client: reqwest::Client::new(), state, backend, _stop: stop }
    }

    /// Another server process on the same database: its base URL (it stops when the handle drops).
    pub async fn replica(&self) -> (String, tokio::sync::oneshot::Sender<()>) {
        self.replica_with(config()).await
    }

    /// [`Self::replica`] with its own settings.
    pub async fn replica_with(&self, config: ServerConfig) -> (String, tokio::sync::oneshot::Sender<()>) {
        let (base, _, stop) = spawn(self.backend.reopen().await, config).await;
        (base, stop)
    }

    /// Sends a request with a bearer token and an optional JSON body; returns status and JSON,
    /// after checking the answer against the OpenAPI document.
    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
        let mut request = self.client.request(method.clone(), format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = &body {
            request = request.json(body);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        let answer = serde_json::from_str(&text).unwrap_or(Value::String(text));
        openapi_check::check_exchange(&method, path, body.as_ref(), status, &answer);
        (status, answer)
    }

    /// The `/metrics` page, read with the metrics token.
    pub async fn metrics(&self) -> String {
        let response =
            self.client.get(format!("{}/metrics", self.base)).bearer_auth(METRICS_TOKEN).send().await.expect("get");
        assert_eq!(response.status(), 200, "/metrics with the metrics token");
        response.text().await.expect("text")
    }

    pub async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.call(Method::PUT, path, Some(token), Some(body)).await
    }

    /// A tenant with a project and one principal per role; returns their tokens.
    pub async fn tenant(&self, tenant: &str, project: &str) -> Tenant {
        let (status, created) =
            self.post("/api/v1/tenants", &self.admin, json!({"id": tenant, "admin": format!("{tenant}-root")})).await;
        assert_eq!(status, 201, "{created}");
        let admin = created["admin_token"]["token"].as_str().expect("token").to_owned();
        let (status, body) = self.post("/api/v1/projects", &admin, json!({"id": project})).await;
        assert_eq!(status, 201, "{body}");
        let mut roles = Vec::new();
        for role in ["viewer", "runner", "editor", "admin", "owner"] {
            let name = format!("{tenant}-{role}");
            let (status, body) = self.post("/api/v1/principals", &admin, json!({"name": name})).await;
            assert_eq!(status, 201, "{body}");
            let path = format!("/api/v1/projects/{project}/members/{name}");
            let (status, body) = self.put(&path, &admin, json!({"role": role})).await;
            assert_eq!(status, 200, "{body}");
            let (status, body) = self.post("/api/v1/tokens", &admin, json!({"principal": name, "name": "test"})).await;
            assert_eq!(status, 201, "{body}");
            roles.push((role, body["token"].as_str().expect("token").to_owned()));
        }
        Tenant { admin, roles }
    }
}

/// Serves `store` on a fresh port until the returned sender drops.
async fn spawn(
    store: Arc<dyn promptops::store::Store>,
    config: ServerConfig,
) -> (String, AppState, tokio::sync::oneshot::Sender<()>) {
    let state = AppState::new(store, config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = state.clone();
    tokio::spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        server::serve(listener, serving, shutdown, Duration::from_secs(1)).await.expect("serve");
    });
    (base, state, stop)
}

/// A tenant made by [`TestServer::tenant`].
pub struct Tenant {
    pub admin: String,
    pub roles: Vec<(&'static str, String)>,
}

impl Tenant {
    pub fn token(&self, role: &str) -> &str {
        self.roles.iter().find(|(r, _)| *r == role).map(|(_, t)| t.as_str()).expect("role")
    }
}

/// A valid prompt file.
pub fn prompt_source(text: &str) -> String {
    format!(
        "description: test prompt\nmessages:\n  - role: user\n    content: \"{text} {{{{ topic }}}}\"\nvariables:\n  topic:\n    type: string\n"
    )
}
