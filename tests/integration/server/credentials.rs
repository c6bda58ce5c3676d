//! Credentials over HTTP, as an attacker holding one would try them: a JWT dies with its token and
//! with its principal's role, on this replica at once and on another within the grant cache's
//! lifetime; only API tokens are exchanged; a token mints only narrower, shorter-lived tokens;
//! revoking a token revokes what was made with it; lifetimes and free text are bounded.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::{Value, json};

use super::{Backend, TestServer, prompt_source};

const PROMPTS: &str = "/api/v1/projects/web/prompts";

/// `POST /api/v1/tokens` as `caller`.
pub async fn mint(server: &TestServer, caller: &str, body: Value) -> (u16, Value) {
    server.post("/api/v1/tokens", caller, body).await
}

/// A token made by `caller` with `body`, which must succeed: its secret and id.
pub async fn minted(server: &TestServer, caller: &str, body: Value) -> (String, String) {
    let (status, created) = mint(server, caller, body).await;
    assert_eq!(status, 201, "{created}");
    (created["token"].as_str().expect("token").to_owned(), created["id"].as_str().expect("id").to_owned())
}

/// The JWT `POST /api/v1/auth/token` gives for `token`.
pub async fn exchange(server: &TestServer, token: &str) -> String {
    let (status, answer) = server.post("/api/v1/auth/token", token, json!({})).await;
    assert_eq!(status, 200, "{answer}");
    answer["access_token"].as_str().expect("jwt").to_owned()
}

async fn revoke(server: &TestServer, caller: &str, id: &str) -> u16 {
    server.call(Method::DELETE, &format!("/api/v1/tokens/{id}"), Some(caller), None).await.0
}

fn time(value: &Value) -> Option<DateTime<Utc>> {
    value.as_str().map(|text| text.parse().expect("RFC 3339 time"))
}

pub async fn a_jwt_stops_working_when_its_token_is_revoked(b: Backend) {
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    let (token, id) = minted(&server, &acme.admin, json!({"principal": "acme-editor", "name": "ci"})).await;
    let jwt = exchange(&server, &token).await;
    assert_eq!(server.get(PROMPTS, &jwt).await.0, 200);
    assert_eq!(revoke(&server, &acme.admin, &id).await, 204);
    let (status, err) = server.get(PROMPTS, &jwt).await;
    assert_eq!((status, err["error"]["code"].as_str()), (401, Some("unauthenticated")), "{err}");
    let (status, _) = server.post("/api/v1/auth/token", &jwt, json!({})).await;
    assert_eq!(status, 401, "a dead JWT cannot be exchanged either");
    let (status, _) = mint(&server, &jwt, json!({"name": "escape"})).await;
    assert_eq!(status, 401, "a JWT of a revoked token mints nothing");
}

pub async fn a_jwt_loses_what_its_principal_loses(b: Backend) {
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    let jwt = exchange(&server, acme.token("runner")).await;
    let upload = || server.post("/api/v1/projects/web/runs", &jwt, super::runs::upload_body());
    assert_eq!(upload().await.0, 201);
    let member = "/api/v1/projects/web/members/acme-runner";
    assert_eq!(server.put(member, &acme.admin, json!({"role": "viewer"})).await.0, 200);
    let (status, err) = upload().await;
    assert_eq!(status, 403, "demoted to viewer: {err}");
    assert_eq!(server.get(PROMPTS, &jwt).await.0, 200, "a viewer still reads");
    assert_eq!(server.call(Method::DELETE, member, Some(&acme.admin), None).await.0, 204);
    let (status, err) = server.get(PROMPTS, &jwt).await;
    assert_eq!(status, 404, "removed from the project: {err}");
    assert_eq!(upload().await.0, 404);
    assert_eq!(server.put(member, &acme.admin, json!({"role": "owner"})).await.0, 200);
    assert_eq!(upload().await.0, 201, "restored, but never above the role the JWT was issued with");
    let (status, _) = server.put(&format!("{PROMPTS}/p/labels/production"), &jwt, json!({"version": 1})).await;
    assert_eq!(status, 403, "the JWT said runner: made owner since, it still acts as a runner at most");
}

pub async fn another_replica_sees_a_revocation_within_the_grant_cache_lifetime(b: Backend) {
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    let (token, id) = minted(&server, &acme.admin, json!({"principal": "acme-viewer"})).await;
    let jwt = exchange(&server, &token).await;
    let (replica, _stop) = server.replica().await;
    let get = |credential: String| {
        let (client, url) = (server.client.clone(), format!("{replica}{PROMPTS}"));
        async move { client.get(url).bearer_auth(credential).send().await.expect("get").status().as_u16() }
    };
    assert_eq!((get(token.clone()).await, get(jwt.clone()).await), (200, 200), "both cached on the replica now");
    assert_eq!(revoke(&server, &acme.admin, &id).await, 204);
    let started = Instant::now();
    while (get(token.clone()).await, get(jwt.clone()).await) != (401, 401) {
        assert!(started.elapsed() < Duration::from_secs(4), "the replica kept honouring a revoked token");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn only_api_tokens_are_exchanged_for_jwts(b: Backend) {
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    let jwt = exchange(&server, acme.token("editor")).await;
    let (status, err) = server.post("/api/v1/auth/token", &jwt, json!({})).await;
    assert_eq!((status, err["error"]["code"].as_str()), (403, Some("forbidden")), "{err}");
    assert!(err["error"]["hint"].as_str().is_some_and(|h| h.contains("API token")), "{err}");
}

pub async fn a_jwt_never_outlives_its_token(b: Backend) {
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    let (status, created) = mint(&server, acme.token("editor"), json!({"expires_in_days": 1})).await;
    assert_eq!(status, 201, "{created}");
    let token = created["token"].as_str().expect("token");
    let (_, answer) = server.post("/api/v1/auth/token", token, json!({})).await;
    assert_eq!(answer["expires_in"], 300, "shorter than the token: the server's lifetime");
    let mut short = super::config();
    short.jwt.lifetime = Duration::from_secs(10 * 24 * 3600);
    let long = TestServer::on_with(crate::store_conformance::sqlite().await, short).await;
    let (_, created) = mint(&long, &long.admin, json!({"expires_in_days": 1})).await;
    let (_, answer) = long.post("/api/v1/auth/token", created["token"].as_str().expect("token"), json!({})).await;
    let expires_in = answer["expires_in"].as_u64().expect("expires_in");
    assert!(expires_in <= 24 * 3600, "the JWT is cut at its token's expiry: {answer}");
}

pub async fn a_scoped_expiring_token_mints_only_narrower_shorter_tokens(b: Backend) {
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    let body = json!({"name": "narrow", "scopes": [{"project": "web", "role": "viewer"}], "expires_in_days": 1});
    let (status, parent) = mint(&server, &acme.admin, body).await;
    assert_eq!(status, 201, "{parent}");
    let narrow = parent["token"].as_str().expect("token");
    let limit = time(&parent["expires_at"]).expect("expires");
    for (wider, why) in [
        (json!({"name": "x"}), "no scopes is every right"),
        (json!({"scopes": [{"project": "web", "role": "editor"}]}), "a stronger role"),
        (json!({"scopes": [{"project": "*", "role": "viewer"}]}), "every project"),
        (
            json!({"scopes": [{"project": "web", "role": "viewer"}, {"project": "other", "role": "viewer"}]}),
            "another project",
        ),
        (json!({"principal": "acme-owner", "scopes": [{"project": "web", "role": "viewer"}]}), "another principal"),
    ] {
        let (status, err) = mint(&server, narrow, wider.clone()).await;
        assert_eq!((status, err["error"]["code"].as_str()), (403, Some("forbidden")), "{why}: {wider} gave {err}");
    }
    for body in [
        json!({"scopes": [{"project": "web", "role": "viewer"}]}),
        json!({"scopes": [{"project": "web", "role": "viewer"}], "expires_in_days": 30}),
    ] {
        let (status, child) = mint(&server, narrow, body.clone()).await;
        assert_eq!(status, 201, "{body}: {child}");
        let expires = time(&child["expires_at"]).expect("a child of an expiring token expires");
        assert!(expires <= limit, "{body}: the child outlives its parent ({expires} > {limit})");
        assert_eq!(child["created_with"], parent["id"], "the child names the token that made it");
        let token = child["token"].as_str().expect("token");
        let (status, _) = server.post(&format!("{PROMPTS}/p"), token, json!({"source": prompt_source("x")})).await;
        assert_eq!(status, 403, "the child is a viewer");
    }
}

pub async fn a_token_scoped_to_every_project_as_viewer_cannot_make_an_admin(b: Backend) {
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    let (viewer, _) =
        minted(&server, &acme.admin, json!({"scopes": [{"project": "*", "role": "viewer"}], "expires_in_days": 1}))
            .await;
    let (status, err) = mint(&server, &viewer, json!({"name": "full"})).await;
    assert_eq!(status, 403, "{err}");
    let (status, _) = server.post("/api/v1/principals", &viewer, json!({"name": "mole", "tenant_admin": true})).await;
    assert_eq!(status, 403);
    let (status, _) = server.put("/api/v1/projects/web/members/acme-viewer", &viewer, json!({"role": "owner"})).await;
    assert_eq!(status, 403);
    let (status, _) = server.post("/api/v1/projects/web/keys", &viewer, json!({"role": "viewer"})).await;
    assert_eq!(status, 403);
    let (status, child) = mint(&server, &viewer, json!({"scopes": [{"project": "*", "role": "viewer"}]})).await;
    assert_eq!(status, 201, "an equally narrow token is fine: {child}");
}

pub async fn jwts_mint_no_credentials(b: Backend) {
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    let jwt = exchange(&server, &acme.admin).await;
    let (status, err) = mint(&server, &jwt, json!({"name": "from-jwt"})).await;
    assert_eq!((status, err["error"]["code"].as_str()), (403, Some("forbidden")), "{err}");
    let (status, err) = server.post("/api/v1/projects/web/keys", &jwt, json!({})).await;
    assert_eq!((status, err["error"]["code"].as_str()), (403, Some("forbidden")), "{err}");
    let (status, _) = server.post("/api/v1/principals", &jwt, json!({"name": "by-jwt"})).await;
    assert_eq!(status, 201, "other writes of a tenant admin's JWT are fine");
}

pub async fn a_system_tenant_admin_cannot_mint_for_the_super_admin(b: Backend) {
    let server = TestServer::on(b).await;
    let (status, body) =
        server.post("/api/v1/principals", &server.admin, json!({"name": "ops", "tenant_admin": true})).await;
    assert_eq!(status, 201, "{body}");
    let (ops, _) = minted(&server, &server.admin, json!({"principal": "ops"})).await;
    let (status, err) = mint(&server, &ops, json!({"principal": "admin", "name": "mine now"})).await;
    assert_eq!((status, err["error"]["code"].as_str()), (403, Some("forbidden")), "{err}");
    let (status, _) = server.get("/api/v1/tenants", &ops).await;
    assert_eq!(status, 403, "ops is no super-admin");
    let (status, _) = server.post("/api/v1/principals", &ops, json!({"name": "ops2", "tenant_admin": true})).await;
    assert_eq!(status, 201, "a tenant admin makes tenant admins");
    let (status, _) = mint(&server, &ops, json!({"principal": "ops2"})).await;
    assert_eq!(status, 201, "and tokens for them");
}

pub async fn revoking_a_token_revokes_what_was_made_with_it(b: Backend) {
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    let (parent, parent_id) = minted(&server, &acme.admin, json!({"name": "parent"})).await;
    let (child, _) = minted(&server, &parent, json!({"name": "child"})).await;
    let (grandchild, _) = minted(&server, &child, json!({"name": "grandchild"})).await;
    let (other, _) = minted(&server, &parent, json!({"principal": "acme-viewer"})).await;
    let (status, key) = server.post("/api/v1/projects/web/keys", &child, json!({"role": "viewer"})).await;
    assert_eq!(status, 201, "{key}");
    assert!(key["created_with"].as_str().is_some(), "{key}");
    assert_eq!(revoke(&server, &acme.admin, &parent_id).await, 204);
    for (token, what) in [(&parent, "parent"), (&child, "child"), (&grandchild, "grandchild"), (&other, "for another")]
    {
        assert_eq!(server.get(PROMPTS, token).await.0, 401, "the {what} outlived the revocation");
    }
    let (_, keys) = server.get("/api/v1/projects/web/keys", &acme.admin).await;
    assert!(keys["items"][0]["revoked_at"].is_string(), "the key pair made with the child: {keys}");
    assert_eq!(server.get(PROMPTS, &acme.admin).await.0, 200, "the token that made the parent lives on");
}

pub async fn lifetimes_are_bounded_and_checked(b: Backend) {
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    for days in [json!(0), json!(3651), json!(u32::MAX), json!(-1), json!(1e30)] {
        let (status, err) = mint(&server, &acme.admin, json!({"expires_in_days": days})).await;
        assert_eq!((status, err["error"]["path"].as_str()), (400, Some("expires_in_days")), "{days}: {err}");
        let (status, err) =
            server.post("/api/v1/projects/web/keys", &acme.admin, json!({"expires_in_days": days})).await;
        assert_eq!((status, err["error"]["path"].as_str()), (400, Some("expires_in_days")), "key {days}: {err}");
    }
    let (status, created) = mint(&server, &acme.admin, json!({"expires_in_days": 3650})).await;
    assert_eq!(status, 201, "{created}");
    let (_, tokens) = server.get("/api/v1/tokens", &acme.admin).await;
    // The first admin's token, one per role, and the one above: the refusals stored nothing.
    assert_eq!(tokens["items"].as_array().map(Vec::len), Some(7), "{tokens}");
}

pub async fn free_text_and_scopes_of_account_routes_are_bounded(b: Backend) {
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    let long = "n".repeat(10_000);
    let too_many: Vec<Value> = (0..1000).map(|n| json!({"project": format!("p{n}"), "role": "viewer"})).collect();
    let too_many_names: Vec<String> = (0..65).map(|n| format!("model-{n}")).collect();
    let cases = [
        ("/api/v1/tokens", json!({"name": long}), "name"),
        ("/api/v1/tokens", json!({"name": "ctl\u{0}"}), "name"),
        ("/api/v1/tokens", json!({"scopes": [{"project": "../etc", "role": "viewer"}]}), "scopes[0].project"),
        ("/api/v1/tokens", json!({"scopes": [{"project": long, "role": "viewer"}]}), "scopes[0].project"),
        ("/api/v1/tokens", json!({"scopes": too_many}), "scopes"),
        ("/api/v1/projects", json!({"id": "ok", "name": long}), "name"),
        ("/api/v1/tenants", json!({"id": "ok", "admin": "root", "name": long}), "name"),
        ("/api/v1/projects/web/gateway/keys", json!({"name": long}), "name"),
        ("/api/v1/projects/web/gateway/keys", json!({"name": "ctl\u{7}"}), "name"),
        ("/api/v1/projects/web/gateway/keys", json!({"expires_in_days": 0}), "expires_in_days"),
        ("/api/v1/projects/web/gateway/keys", json!({"limits": {"models": too_many_names}}), "limits.models"),
        ("/api/v1/projects/web/gateway/keys", json!({"limits": {"prompts": [long.clone()]}}), "limits.prompts"),
        ("/api/v1/projects/web/gateway/keys", json!({"limits": {"budget": {"daily_usd": -1.0}}}), "limits.budget"),
        (
            "/api/v1/projects/web/gateway/keys",
            json!({"limits": {"user_budget": {"monthly_usd": -0.5}}}),
            "limits.user_budget",
        ),
        (
            "/api/v1/projects/web/gateway/keys",
            json!({"limits": {"user_budgets": {"ada": {"daily_usd": -0.5}}}}),
            "limits.user_budgets",
        ),
        ("/api/v1/projects/web/gateway/keys", json!({"limits": {"user_budgets": {"": {}}}}), "limits.user_budgets"),
    ];
    for (path, body, at) in cases {
        let caller = if path.ends_with("tenants") { server.admin.clone() } else { acme.admin.clone() };
        let (status, err) = server.post(path, &caller, body).await;
        assert_eq!((status, err["error"]["path"].as_str()), (400, Some(at)), "{path} {at}: {err}");
    }
    let (_, tokens) = server.get("/api/v1/tokens", &acme.admin).await;
    assert!(!tokens.to_string().contains(&long), "nothing was stored");
}

pub async fn jwt_errors_name_no_parser_detail(b: Backend) {
    let server = TestServer::on(b).await;
    for garbage in ["not-a-jwt", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30.AAAA", "eyJ%%%.x.y"] {
        let (status, err) = server.get(PROMPTS, garbage).await;
        assert_eq!(status, 401);
        assert_eq!(err["error"]["message"], "invalid access token", "{garbage}: {err}");
    }
}
