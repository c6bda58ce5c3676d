//! Members and what they made: only an owner changes or removes an owner, the last owner stays,
//! and a Langfuse key pair is bounded by its creator's current role, dies when its creator leaves
//! the project (for good, even if they come back), and may expire.

use base64::Engine;
use chrono::{Duration, Utc};
use promptops::access::Role;
use promptops::store::{KeyPairRecord, Slug};
use reqwest::Method;
use serde_json::{Value, json};

use super::{Backend, TestServer};

fn member(principal: &str) -> String {
    format!("/api/v1/projects/web/members/{principal}")
}

async fn remove(server: &TestServer, caller: &str, principal: &str) -> (u16, Value) {
    server.call(Method::DELETE, &member(principal), Some(caller), None).await
}

pub async fn only_an_owner_changes_or_removes_an_owner(b: Backend) {
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    let admin = acme.token("admin");
    let (status, err) = server.put(&member("acme-owner"), admin, json!({"role": "viewer"})).await;
    assert_eq!((status, err["error"]["code"].as_str()), (403, Some("forbidden")), "an admin demoting an owner: {err}");
    let (status, err) = remove(&server, admin, "acme-owner").await;
    assert_eq!((status, err["error"]["code"].as_str()), (403, Some("forbidden")), "an admin removing an owner: {err}");
    let (_, members) = server.get("/api/v1/projects/web/members", admin).await;
    assert!(members["items"].as_array().expect("items").contains(&json!({"principal": "acme-owner", "role": "owner"})));
    let (status, _) = server.put(&member("acme-editor"), admin, json!({"role": "admin"})).await;
    assert_eq!(status, 200, "an admin still manages non-owners");
    let owner = acme.token("owner");
    assert_eq!(server.put(&member("acme-viewer"), owner, json!({"role": "owner"})).await.0, 200);
    assert_eq!(
        server.put(&member("acme-viewer"), owner, json!({"role": "editor"})).await.0,
        200,
        "an owner demotes one"
    );
    assert_eq!(server.put(&member("acme-viewer"), owner, json!({"role": "owner"})).await.0, 200);
    assert_eq!(remove(&server, owner, "acme-viewer").await.0, 204, "an owner removes one");
}

pub async fn the_last_owner_cannot_be_removed_or_demoted(b: Backend) {
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    // The project's creator (the tenant admin) and acme-owner own it: remove the creator first.
    let owner = acme.token("owner");
    assert_eq!(remove(&server, owner, "acme-root").await.0, 204);
    for (status, err) in [
        remove(&server, owner, "acme-owner").await,
        server.put(&member("acme-owner"), owner, json!({"role": "admin"})).await,
        remove(&server, &acme.admin, "acme-owner").await,
    ] {
        assert_eq!((status, err["error"]["code"].as_str()), (409, Some("last_owner")), "{err}");
        assert!(err["error"]["hint"].is_string(), "{err}");
    }
    assert_eq!(server.put(&member("acme-admin"), owner, json!({"role": "owner"})).await.0, 200);
    assert_eq!(remove(&server, owner, "acme-owner").await.0, 204, "another owner exists now");
}

struct Keys {
    public: String,
    basic: String,
}

async fn key(server: &TestServer, token: &str, body: Value) -> Keys {
    let (status, created) = server.post("/api/v1/projects/web/keys", token, body).await;
    assert_eq!(status, 201, "{created}");
    let public = created["public_key"].as_str().expect("pk").to_owned();
    let pair = format!("{public}:{}", created["secret_key"].as_str().expect("sk"));
    Keys { public, basic: base64::engine::general_purpose::STANDARD.encode(pair) }
}

async fn langfuse(server: &TestServer, keys: &Keys, method: Method, path: &str, body: Option<Value>) -> u16 {
    let mut request = server
        .client
        .request(method, format!("{}/api/public{path}", server.base))
        .header("Authorization", format!("Basic {}", keys.basic));
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.expect("send").status().as_u16()
}

async fn create_prompt(server: &TestServer, keys: &Keys, name: &str) -> u16 {
    langfuse(server, keys, Method::POST, "/v2/prompts", Some(json!({"name": name, "prompt": "hi"}))).await
}

pub async fn a_key_pair_is_bounded_by_its_creators_current_role(b: Backend) {
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    let keys = key(&server, acme.token("admin"), json!({"role": "admin"})).await;
    assert_eq!(create_prompt(&server, &keys, "a").await, 201);
    let production = json!({"newLabels": ["production"]});
    assert_eq!(
        langfuse(&server, &keys, Method::PATCH, "/v2/prompts/a/versions/1", Some(production.clone())).await,
        200,
        "an admin key moves protected labels"
    );
    assert_eq!(server.put(&member("acme-admin"), &acme.admin, json!({"role": "editor"})).await.0, 200);
    assert_eq!(
        langfuse(&server, &keys, Method::PATCH, "/v2/prompts/a/versions/1", Some(production)).await,
        403,
        "its creator is an editor now, so the key is one too"
    );
    assert_eq!(create_prompt(&server, &keys, "b").await, 201);
    assert_eq!(server.put(&member("acme-admin"), &acme.admin, json!({"role": "viewer"})).await.0, 200);
    assert_eq!(create_prompt(&server, &keys, "c").await, 403, "and a viewer");
    assert_eq!(langfuse(&server, &keys, Method::GET, "/v2/prompts/a", None).await, 200);
}

pub async fn removing_a_member_revokes_their_key_pairs_for_good(b: Backend) {
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    let theirs = key(&server, acme.token("admin"), json!({"role": "editor"})).await;
    let others = key(&server, acme.token("owner"), json!({"role": "editor"})).await;
    assert_eq!(remove(&server, &acme.admin, "acme-admin").await.0, 204);
    assert_eq!(langfuse(&server, &theirs, Method::GET, "/projects", None).await, 401, "gone with its creator");
    assert_eq!(langfuse(&server, &others, Method::GET, "/projects", None).await, 200, "another's key stays");
    let (_, listed) = server.get("/api/v1/projects/web/keys", &acme.admin).await;
    let revoked = listed["items"].as_array().expect("items").iter().find(|k| k["public_key"] == theirs.public.as_str());
    assert!(revoked.is_some_and(|k| k["revoked_at"].is_string()), "listed as revoked: {listed}");
    assert_eq!(server.put(&member("acme-admin"), &acme.admin, json!({"role": "admin"})).await.0, 200);
    assert_eq!(langfuse(&server, &theirs, Method::GET, "/projects", None).await, 401, "coming back revives nothing");
}

pub async fn key_pairs_expire(b: Backend) {
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    let (status, created) = server.post("/api/v1/projects/web/keys", &acme.admin, json!({"expires_in_days": 7})).await;
    assert_eq!(status, 201, "{created}");
    let expires: chrono::DateTime<Utc> = created["expires_at"].as_str().expect("expires_at").parse().expect("time");
    let week = Utc::now() + Duration::days(7);
    assert!((expires - week).num_seconds().abs() < 60, "{expires} is not in a week");
    // A key pair whose expiry has passed, written straight to the store (no one waits a week).
    let scope = crate::store_conformance::scope("acme", "web");
    let secret = "sk-lf-expired";
    let record = KeyPairRecord {
        public_key: "pk-lf-expired".to_owned(),
        project: Slug::new("web").expect("slug"),
        role: Role::Viewer,
        created_by: "acme-root".to_owned(),
        created_at: Utc::now() - Duration::days(2),
        expires_at: Some(Utc::now() - Duration::days(1)),
        revoked_at: None,
        created_with: None,
        secret_hash: promptops::server::auth::hash_secret(secret),
    };
    server.state.store.create_key_pair(&scope, &record).await.expect("stored");
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("pk-lf-expired:{secret}"));
    let expired = Keys { public: record.public_key.clone(), basic };
    assert_eq!(langfuse(&server, &expired, Method::GET, "/projects", None).await, 401);
}

pub async fn a_key_pair_never_outlives_the_token_that_made_it(b: Backend) {
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    let (status, token) = super::credentials::mint(&server, acme.token("admin"), json!({"expires_in_days": 2})).await;
    assert_eq!(status, 201, "{token}");
    let limit: chrono::DateTime<Utc> = token["expires_at"].as_str().expect("expires").parse().expect("time");
    let secret = token["token"].as_str().expect("token");
    for body in [json!({}), json!({"expires_in_days": 30})] {
        let (status, created) = server.post("/api/v1/projects/web/keys", secret, body.clone()).await;
        assert_eq!(status, 201, "{created}");
        let expires: chrono::DateTime<Utc> = created["expires_at"].as_str().expect("expires_at").parse().expect("time");
        assert!(expires <= limit, "{body}: the key outlives the token that made it ({expires} > {limit})");
        assert_eq!(created["created_with"], token["id"], "{created}");
    }
}
