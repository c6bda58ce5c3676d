//! What clients send is checked, not trusted (issue 13, findings 3, 11, 12): pushed bundles go
//! through the commit's checks and their hashes are recomputed, the pusher is recorded and the
//! original author kept only as a claim; the Langfuse list survives an unreadable stored version;
//! Langfuse writes check every label before writing anything; uploaded runs are judged by their
//! results and credited to the caller.

use promptops::prompt::{PromptName, check_sent};
use promptops::store::VersionDraft;
use reqwest::Method;
use serde_json::{Value, json};

use super::langfuse::{keys, sdk, send};
use super::runs::upload;
use super::{Backend, Tenant, TestServer, prompt_source};

const PROMPT: &str = "/api/v1/projects/web/prompts/p";
const SYNC: &str = "/api/v1/projects/web/sync";

/// The content hash a commit of `source` gets.
fn hash(source: &str) -> String {
    check_sent(PromptName::new("p").expect("name"), source.to_owned(), Default::default()).expect("valid").hash()
}

/// Version `number` of `p` as a bundle carries it.
fn version(number: u32, source: &str, hash: &str) -> Value {
    json!({"name": "p", "number": number, "hash": hash, "author": "acme-editor", "message": format!("v{number}"),
           "created_at": "2026-01-01T00:00:00Z", "source": source, "partials": {}})
}

/// Pushes `versions` after the stored version 1; returns the answer.
async fn push(server: &TestServer, token: &str, first: &Value, second: Value) -> (u16, Value) {
    server.post(SYNC, token, json!({"versions": [first, second]})).await
}

/// Tenant `acme` whose editor committed version 1 of `p` the normal way, and that version as
/// `/sync` exports it.
async fn first_version(server: &TestServer) -> (Tenant, Value) {
    let acme = server.tenant("acme", "web").await;
    let editor = acme.token("editor");
    assert_eq!(server.post(PROMPT, editor, json!({"source": prompt_source("one")})).await.0, 201);
    let (_, bundle) = server.get(SYNC, editor).await;
    (acme, bundle["versions"][0].clone())
}

pub async fn pushed_versions_are_checked_like_commits(b: Backend) {
    let server = TestServer::on(b).await;
    let (acme, first) = first_version(&server).await;
    let editor = acme.token("editor");
    let first_hash = first["hash"].as_str().expect("hash").to_owned();
    let two = prompt_source("two");

    let forged = format!("{}{}", &first_hash[..8], &hash(&two)[8..]);
    let (status, refused) = push(&server, editor, &first, version(2, &two, &forged)).await;
    assert_eq!((status, refused["error"]["code"].as_str()), (400, Some("hash_mismatch")), "{refused}");
    assert_eq!(refused["error"]["path"], "versions[1].hash");

    let (status, refused) = push(&server, editor, &first, version(2, "messages: [", &hash(&two))).await;
    assert_eq!((status, refused["error"]["code"].as_str()), (400, Some("invalid_prompt")), "{refused}");
    assert_eq!(refused["error"]["path"], "versions[1].source");
    let undeclared = "messages:\n  - role: user\n    content: '{{ who }}'\n";
    let (status, _) = push(&server, editor, &first, version(2, undeclared, &hash(&two))).await;
    assert_eq!(status, 400, "a template with an undeclared variable is refused as a commit refuses it");

    let sneaky = "messages:\n  - role: user\n    content: '{% include \"../../etc/passwd\" %}'\n";
    let mut bad_partial = version(2, sneaky, &hash(&two));
    bad_partial["partials"] = json!({"../../etc/passwd": "root:x:0:0"});
    let (status, refused) = push(&server, editor, &first, bad_partial).await;
    assert_eq!((status, refused["error"]["code"].as_str()), (400, Some("invalid_prompt")), "{refused}");
    assert!(refused["error"]["message"].as_str().is_some_and(|m| m.contains("invalid partial name")), "{refused}");

    let (_, log) = server.get(&format!("{PROMPT}/log"), editor).await;
    assert_eq!(log["versions"].as_array().map(Vec::len), Some(1), "nothing of a refused push is stored: {log}");
    let prefix = &first_hash[..8];
    let (status, fetched) = server.get(&format!("{PROMPT}?label={prefix}"), editor).await;
    assert_eq!((status, fetched["number"].as_u64()), (200, Some(1)), "no ambiguous prefix was made: {fetched}");
    let admin_keys = keys(&server, acme.token("admin"), "viewer").await;
    let (status, list) = send(sdk(&server, &admin_keys, Method::GET, "/v2/prompts")).await;
    assert_eq!((status, list["meta"]["totalItems"].as_u64()), (200, Some(1)), "{list}");
}

pub async fn the_pusher_is_recorded_as_the_author(b: Backend) {
    let server = TestServer::on(b).await;
    let (acme, first) = first_version(&server).await;
    let editor = acme.token("editor");
    let two = prompt_source("two");
    let mut spoofed = version(2, &two, &hash(&two));
    spoofed["author"] = json!("acme-owner");
    spoofed["created_at"] = json!("2001-01-01T00:00:00Z");
    let (status, report) = push(&server, editor, &first, spoofed).await;
    assert_eq!(status, 200, "{report}");
    let (_, log) = server.get(&format!("{PROMPT}/log"), editor).await;
    let newest = &log["versions"][0];
    assert_eq!(newest["number"], 2, "{log}");
    assert_eq!(newest["author"], "acme-editor", "the authenticated pusher is the author of record");
    assert_ne!(newest["created_at"], "2001-01-01T00:00:00Z", "the server's clock dates the version");
}

pub async fn a_push_with_a_dangling_label_writes_nothing(b: Backend) {
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    let one = prompt_source("one");
    let bundle = json!({
        "versions": [version(1, &one, &hash(&one))],
        "labels": [{"name": "p", "label": "staging", "version": 4, "updated_by": "x", "updated_at": "2026-01-01T00:00:00Z"}],
    });
    let (status, refused) = server.post(SYNC, acme.token("editor"), bundle).await;
    assert_eq!((status, refused["error"]["path"].as_str()), (400, Some("labels[0].version")), "{refused}");
    let (_, prompts) = server.get("/api/v1/projects/web/prompts", acme.token("viewer")).await;
    assert_eq!(prompts["items"], json!([]), "the version was not written either");
}

pub async fn the_langfuse_list_survives_an_unreadable_version(b: Backend) {
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    let editor_keys = keys(&server, acme.token("admin"), "editor").await;
    let create = json!({"name": "good", "prompt": "Hello {{who}}"});
    assert_eq!(send(sdk(&server, &editor_keys, Method::POST, "/v2/prompts").json(&create)).await.0, 201);
    // As an older server may have stored it, before pushes were checked.
    let broken = VersionDraft {
        name: PromptName::new("broken").expect("name"),
        hash: "zz".to_owned(),
        source: "messages: [".to_owned(),
        partials: Default::default(),
        author: "acme-editor".to_owned(),
        message: String::new(),
        created_at: None,
    };
    let scope = crate::store_conformance::scope("acme", "web");
    server.backend.store.commit(&scope, vec![broken]).await.expect("stored as is");
    let (status, list) = send(sdk(&server, &editor_keys, Method::GET, "/v2/prompts")).await;
    assert_eq!(status, 200, "{list}");
    let names: Vec<&str> = list["data"].as_array().expect("data").iter().filter_map(|p| p["name"].as_str()).collect();
    assert_eq!(names, vec!["good"]);
    let (status, fetched) = send(sdk(&server, &editor_keys, Method::GET, "/v2/prompts/broken?label=latest")).await;
    assert_eq!((status, fetched["code"].as_str()), (409, Some("unreadable_version")), "{fetched}");
    assert_eq!(fetched["error"], "ConflictError", "errors in Langfuse's shape: {fetched}");
}

pub async fn langfuse_writes_check_every_label_before_writing(b: Backend) {
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    let editor = keys(&server, acme.token("admin"), "editor").await;
    let viewer = acme.token("viewer");
    for (labels, status) in [(json!(["production"]), 403), (json!(["latest"]), 400), (json!(["Bad Label"]), 400)] {
        let create = json!({"name": "x", "prompt": "hi", "labels": labels});
        let (got, body) = send(sdk(&server, &editor, Method::POST, "/v2/prompts").json(&create)).await;
        assert_eq!(got, status, "{labels}: {body}");
        let (_, prompts) = server.get("/api/v1/projects/web/prompts", viewer).await;
        assert_eq!(prompts["items"], json!([]), "a refused create with {labels} committed a version");
    }
    let create = json!({"name": "x", "prompt": "hi"});
    assert_eq!(send(sdk(&server, &editor, Method::POST, "/v2/prompts").json(&create)).await.0, 201);
    let patch = json!({"newLabels": ["staging", "production"]});
    let (status, _) = send(sdk(&server, &editor, Method::PATCH, "/v2/prompts/x/versions/1").json(&patch)).await;
    assert_eq!(status, 403);
    let (_, labels) = server.get("/api/v1/projects/web/labels", viewer).await;
    assert_eq!(labels["items"], json!([]), "`staging` was not moved before `production` was refused");
}

pub async fn uploaded_runs_are_judged_by_their_results_and_credited_to_the_caller(b: Backend) {
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    let runner = acme.token("runner");
    let runs = "/api/v1/projects/web/runs";
    let mut failing = upload(false);
    failing["run"]["threshold"] = json!(0.9);
    failing["run"]["status"] = json!("passed");
    failing["run"]["actor"] = json!("acme-owner");
    let (status, stored) = server.post(runs, runner, failing).await;
    assert_eq!(status, 201, "{stored}");
    assert_eq!((stored["status"].as_str(), stored["actor"].as_str()), (Some("failed"), Some("acme-runner")));

    let mut partial = upload(true);
    partial["results"].as_array_mut().expect("results").pop();
    partial["run"]["finished_at"] = Value::Null;
    let (_, stored) = server.post(runs, runner, partial).await;
    assert_eq!(stored["status"], "interrupted", "two results of three: {stored}");
    assert!(stored["finished_at"].is_string());
    let mut passing = upload(true);
    passing["run"]["status"] = json!("failed");
    let (_, stored) = server.post(runs, runner, passing).await;
    assert_eq!(stored["status"], "passed");

    let mut experiment = super::experiments::experiment("smoke", [1, 3]);
    experiment["actor"] = json!("acme-owner");
    let (status, recorded) = server.post("/api/v1/projects/web/experiments", runner, experiment).await;
    assert_eq!((status, recorded["actor"].as_str()), (201, Some("acme-runner")), "{recorded}");
}
