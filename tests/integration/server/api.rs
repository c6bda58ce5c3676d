//! The `/api/v1` prompt and label routes, auth, errors and the audit log, as a client sees them.

use reqwest::Method;
use serde_json::json;

use super::{Backend, TestServer, prompt_source};

const PROMPT: &str = "/api/v1/projects/web/prompts/support%2Ftriage";

pub async fn a_prompt_is_created_fetched_labelled_and_rolled_back(b: Backend) {
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    let editor = acme.token("editor");
    let admin = acme.token("admin");

    let (status, v1) = server.post(PROMPT, editor, json!({"source": prompt_source("one"), "message": "first"})).await;
    assert_eq!((status, v1["outcome"].as_str()), (201, Some("created")), "{v1}");
    let (status, v2) = server.post(PROMPT, editor, json!({"source": prompt_source("two")})).await;
    assert_eq!((status, v2["version"]["number"].as_u64()), (201, Some(2)));
    let (status, same) = server.post(PROMPT, editor, json!({"source": prompt_source("two")})).await;
    assert_eq!((status, same["outcome"].as_str()), (200, Some("unchanged")));

    let (_, latest) = server.get(PROMPT, editor).await;
    assert_eq!((latest["name"].as_str(), latest["number"].as_u64()), (Some("support/triage"), Some(2)));
    assert!(latest["source"].as_str().expect("source").contains("two"));
    let (_, first) = server.get(&format!("{PROMPT}?version=1"), editor).await;
    assert_eq!(first["number"], 1);

    let (status, moved) = server.put(&format!("{PROMPT}/labels/production"), admin, json!({"version": 1})).await;
    assert_eq!((status, moved["to"].as_u64()), (200, Some(1)), "{moved}");
    let (_, by_label) = server.get(&format!("{PROMPT}?label=production"), editor).await;
    assert_eq!(by_label["number"], 1);
    server.put(&format!("{PROMPT}/labels/production"), admin, json!({"version": 2})).await;
    let (_, by_label) = server.get(&format!("{PROMPT}?label=production"), editor).await;
    assert_eq!(by_label["number"], 2, "the cache follows label moves");

    let (status, back) = server.post(&format!("{PROMPT}/labels/production/rollback"), admin, json!({})).await;
    assert_eq!((status, back["to"].as_u64()), (200, Some(1)), "{back}");
    let (_, history) = server.get(&format!("{PROMPT}/labels/history"), editor).await;
    assert_eq!(history.as_array().map(Vec::len), Some(3));
    assert_eq!(history[0]["reason"], "rollback");

    let (_, log) = server.get(&format!("{PROMPT}/log"), editor).await;
    assert_eq!(log["versions"].as_array().map(Vec::len), Some(2));
    let (status, diff) = server.get(&format!("{PROMPT}/diff?from=1&to=2"), editor).await;
    assert_eq!(status, 200, "{diff}");
    assert_eq!(diff[0]["insertions"], 1);

    let (status, removed) =
        server.call(Method::DELETE, &format!("{PROMPT}/labels/production"), Some(admin), None).await;
    assert_eq!((status, removed["to"].is_null()), (200, true), "{removed}");
    let (status, missing) = server.get(&format!("{PROMPT}?label=production"), editor).await;
    assert_eq!((status, missing["error"]["code"].as_str()), (404, Some("unknown_label")));
}

pub async fn lists_are_paged_and_filtered(b: Backend) {
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    let editor = acme.token("editor");
    let prompts: Vec<_> = ["a/one", "a/two", "b/three", "b/four", "c"]
        .iter()
        .map(|name| json!({"name": name, "source": prompt_source(name)}))
        .collect();
    let (status, outcomes) =
        server.post("/api/v1/projects/web/commits", editor, json!({"message": "m", "prompts": prompts})).await;
    assert_eq!((status, outcomes.as_array().map(Vec::len)), (200, Some(5)), "{outcomes}");

    let mut names = Vec::new();
    let mut path = "/api/v1/projects/web/prompts?limit=2".to_owned();
    loop {
        let (status, page) = server.get(&path, editor).await;
        assert_eq!(status, 200, "{page}");
        names.extend(
            page["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|p| p["latest"]["name"].as_str().expect("name").to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/projects/web/prompts?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(names, ["a/one", "a/two", "b/four", "b/three", "c"]);
    let (_, folder) = server.get("/api/v1/projects/web/prompts?prefix=b/", editor).await;
    assert_eq!(folder["items"].as_array().map(Vec::len), Some(2));
    server.put("/api/v1/projects/web/prompts/c/labels/staging", editor, json!({"version": 1})).await;
    let (_, staged) = server.get("/api/v1/projects/web/prompts?label=staging", editor).await;
    assert_eq!(staged["items"][0]["latest"]["name"], "c");
    let (_, labels) = server.get("/api/v1/projects/web/labels?name=c", editor).await;
    assert_eq!(labels["items"][0]["label"], "staging");
}

pub async fn bad_requests_get_one_json_error_shape_with_the_path(b: Backend) {
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    let editor = acme.token("editor");
    let (status, err) =
        server.post("/api/v1/projects/web/commits", editor, json!({"prompts": [{"name": "ok", "source": 3}]})).await;
    assert_eq!((status, err["error"]["code"].as_str()), (400, Some("invalid_json")), "{err}");
    assert_eq!(err["error"]["path"], "prompts[0].source");
    let response = server
        .client
        .post(format!("{}{PROMPT}", server.base))
        .bearer_auth(editor)
        .body("{not json")
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 400);
    let (status, err) = server.post(PROMPT, editor, json!({"source": "messages: [nope"})).await;
    assert_eq!(
        (status, err["error"]["code"].as_str(), err["error"]["path"].as_str()),
        (400, Some("invalid_prompt"), Some("source"))
    );
    let (status, err) =
        server.post("/api/v1/projects/web/prompts/Bad%20Name", editor, json!({"source": prompt_source("x")})).await;
    assert_eq!((status, err["error"]["code"].as_str()), (400, Some("invalid_name")));
    let (status, err) = server.get("/api/v1/projects/web/prompts/nothing", editor).await;
    assert_eq!((status, err["error"]["code"].as_str()), (404, Some("unknown_prompt")));
    assert!(err["error"]["hint"].is_string());
    let (status, err) = server.call(Method::GET, PROMPT, None, None).await;
    assert_eq!((status, err["error"]["code"].as_str()), (401, Some("unauthenticated")));
    let (status, err) = server.get(&format!("{PROMPT}/diff"), editor).await;
    assert_eq!((status, err["error"]["code"].as_str()), (400, Some("invalid_parameter")), "{err}");
    let (status, err) = server.get("/api/v1/nowhere", editor).await;
    assert_eq!((status, err["error"]["code"].as_str()), (404, Some("not_found")));
}

pub async fn a_body_that_is_not_a_json_object_is_refused(b: Backend) {
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    for body in [json!([]), json!(["ci"]), json!("ci"), json!(7)] {
        let (status, err) = server.post("/api/v1/projects/web/keys", &acme.admin, body.clone()).await;
        assert_eq!((status, err["error"]["code"].as_str()), (400, Some("invalid_json")), "{body}: {err}");
    }
    let (_, keys) = server.get("/api/v1/projects/web/keys", &acme.admin).await;
    assert_eq!(keys["items"], json!([]), "nothing was created");
}

pub async fn tokens_exchange_for_jwts_and_revoked_tokens_stop_working(b: Backend) {
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    let (status, created) = server
        .post("/api/v1/tokens", &acme.admin, json!({"name": "ci", "scopes": [{"project": "web", "role": "viewer"}]}))
        .await;
    assert_eq!(status, 201, "{created}");
    let token = created["token"].as_str().expect("token");
    assert!(token.starts_with("pot_"));
    let (status, listed) = server.get("/api/v1/tokens", &acme.admin).await;
    assert_eq!(status, 200);
    assert!(!listed.to_string().contains(token), "a token is shown once, never listed");

    let (status, jwt) = server.post("/api/v1/auth/token", token, json!({})).await;
    assert_eq!((status, jwt["token_type"].as_str()), (200, Some("Bearer")), "{jwt}");
    let access = jwt["access_token"].as_str().expect("jwt");
    let (status, _) = server.get("/api/v1/projects/web/prompts", access).await;
    assert_eq!(status, 200);
    let (status, err) = server.post(PROMPT, access, json!({"source": prompt_source("x")})).await;
    assert_eq!(status, 403, "the token's viewer scope caps the admin's rights: {err}");
    let (status, _) = server.get("/api/v1/projects/web/prompts", "not-a-jwt").await;
    assert_eq!(status, 401);

    let id = created["id"].as_str().expect("id");
    let (status, _) = server.call(Method::DELETE, &format!("/api/v1/tokens/{id}"), Some(&acme.admin), None).await;
    assert_eq!(status, 204);
    let (status, err) = server.get("/api/v1/projects/web/prompts", token).await;
    assert_eq!((status, err["error"]["code"].as_str()), (401, Some("unauthenticated")), "{err}");
}

pub async fn every_write_lands_in_the_audit_log_with_who_and_where(b: Backend) {
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    server.post(PROMPT, acme.token("editor"), json!({"source": prompt_source("x")})).await;
    server.put(&format!("{PROMPT}/labels/production"), acme.token("editor"), json!({"version": 1})).await;
    let (status, log) = server.get("/api/v1/projects/web/audit?limit=2", acme.token("admin")).await;
    assert_eq!(status, 200, "{log}");
    let newest = &log["items"][0];
    assert_eq!(newest["actor"], "acme-editor");
    assert_eq!(newest["status"], 403, "refusals are audited too");
    assert_eq!(newest["action"], "PUT /api/v1/projects/{project}/prompts/{name}/labels/{label}");
    assert!(newest["client_addr"].as_str().expect("addr").starts_with("127.0.0.1:"));
    assert_eq!(log["items"][1]["status"], 201);
    let cursor = log["next_cursor"].as_str().expect("more pages");
    let (_, older) =
        server.get(&format!("/api/v1/projects/web/audit?limit=50&cursor={cursor}"), acme.token("admin")).await;
    assert!(older["items"].as_array().expect("items").iter().all(|e| e["id"].as_u64() < newest["id"].as_u64()));
    let (_, filtered) = server.get("/api/v1/audit?actor=acme-editor", &acme.admin).await;
    assert_eq!(filtered["items"].as_array().map(Vec::len), Some(2));
    let (status, _) = server.get("/api/v1/projects/web/audit", acme.token("editor")).await;
    assert_eq!(status, 403);
}
