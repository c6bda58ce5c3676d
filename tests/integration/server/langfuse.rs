//! The Langfuse-compatible API with requests shaped like the Langfuse Python SDK's (5.x): HTTP
//! Basic with a key pair, SDK headers, names with `/` percent-encoded as one segment, `null`
//! for omitted fields, `production` as the default label, additive `newLabels`.

use base64::Engine;
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};

use super::{Backend, TestServer};

pub struct Keys {
    pub public: String,
    pub secret: String,
}

pub async fn keys(server: &TestServer, token: &str, role: &str) -> Keys {
    let (status, created) = server.post("/api/v1/projects/web/keys", token, json!({"role": role})).await;
    assert_eq!(status, 201, "{created}");
    Keys {
        public: created["public_key"].as_str().expect("pk").to_owned(),
        secret: created["secret_key"].as_str().expect("sk").to_owned(),
    }
}

pub fn sdk(server: &TestServer, keys: &Keys, method: Method, path: &str) -> RequestBuilder {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", keys.public, keys.secret));
    server
        .client
        .request(method, format!("{}/api/public{path}", server.base))
        .header("Authorization", format!("Basic {basic}"))
        .header("X-Langfuse-Sdk-Name", "python")
        .header("X-Langfuse-Sdk-Version", "5.0.4")
        .header("X-Langfuse-Public-Key", &keys.public)
}

pub async fn send(request: RequestBuilder) -> (u16, Value) {
    let response = request.send().await.expect("send");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub async fn the_sdk_flow_creates_labels_and_fetches_prompts(b: Backend) {
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    let admin_keys = keys(&server, acme.token("admin"), "admin").await;
    let (status, projects) = send(sdk(&server, &admin_keys, Method::GET, "/projects")).await;
    assert_eq!((status, projects["data"][0]["id"].as_str()), (200, Some("web")), "{projects}");

    let create = json!({"name": "movies/critic", "prompt": "Do you like {{movie}}?", "config": {"model": "openai:gpt-4o", "temperature": 0.2},
        "labels": ["staging"], "tags": ["movies"], "type": null, "commitMessage": null});
    let (status, created) = send(sdk(&server, &admin_keys, Method::POST, "/v2/prompts").json(&create)).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["type"], "text");
    assert_eq!(created["version"], 1);
    assert_eq!(created["prompt"], "Do you like {{movie}}?");
    assert_eq!(created["config"], json!({"temperature": 0.2, "model": "openai:gpt-4o"}));
    assert_eq!(created["labels"], json!(["staging", "latest"]));
    for key in ["type", "name", "version", "prompt", "config", "labels", "tags"] {
        assert!(created.get(key).is_some(), "the SDK requires `{key}`");
    }

    let (status, missing) = send(sdk(&server, &admin_keys, Method::GET, "/v2/prompts/movies%2Fcritic")).await;
    assert_eq!(status, 404, "no version carries `production` yet: {missing}");
    let patch = json!({"newLabels": ["production"]});
    let (status, patched) =
        send(sdk(&server, &admin_keys, Method::PATCH, "/v2/prompts/movies%2Fcritic/versions/1").json(&patch)).await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["labels"], json!(["production", "staging", "latest"]), "labels are additive");
    let (status, fetched) = send(sdk(&server, &admin_keys, Method::GET, "/v2/prompts/movies%2Fcritic")).await;
    assert_eq!((status, fetched["version"].as_u64()), (200, Some(1)), "{fetched}");
    let (_, by_version) = send(sdk(&server, &admin_keys, Method::GET, "/v2/prompts/movies%2Fcritic?version=1")).await;
    assert_eq!(by_version["name"], "movies/critic");

    let chat = json!({"name": "movies/chat", "type": "chat", "prompt": [{"role": "system", "content": "You review {{genre}}."}, {"role": "user", "content": "{{movie}}"}]});
    let (status, created) = send(sdk(&server, &admin_keys, Method::POST, "/v2/prompts").json(&chat)).await;
    assert_eq!((status, created["type"].as_str()), (201, Some("chat")), "{created}");
    let (_, latest) = send(sdk(&server, &admin_keys, Method::GET, "/v2/prompts/movies%2Fchat?label=latest")).await;
    assert_eq!(latest["prompt"][1], json!({"role": "user", "content": "{{movie}}"}));

    let (status, list) = send(sdk(&server, &admin_keys, Method::GET, "/v2/prompts?limit=1&page=2")).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["meta"], json!({"page": 2, "limit": 1, "totalItems": 2, "totalPages": 2}));
    assert_eq!(list["data"][0]["name"], "movies/critic");
    let (_, tagged) = send(sdk(&server, &admin_keys, Method::GET, "/v2/prompts?tag=movies")).await;
    assert_eq!(tagged["data"].as_array().map(Vec::len), Some(1));
}

pub async fn key_pairs_are_checked_and_keep_their_role(b: Backend) {
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    let viewer = keys(&server, acme.token("admin"), "viewer").await;
    let create = json!({"name": "x", "prompt": "hi"});
    let (status, _) = send(sdk(&server, &viewer, Method::POST, "/v2/prompts").json(&create)).await;
    assert_eq!(status, 403, "a viewer key cannot create");
    let editor = keys(&server, acme.token("admin"), "editor").await;
    let (status, _) = send(sdk(&server, &editor, Method::POST, "/v2/prompts").json(&create)).await;
    assert_eq!(status, 201);
    let patch = json!({"newLabels": ["production"]});
    let (status, _) = send(sdk(&server, &editor, Method::PATCH, "/v2/prompts/x/versions/1").json(&patch)).await;
    assert_eq!(status, 403, "protected labels bind key pairs too");
    let wrong = Keys { public: viewer.public.clone(), secret: "sk-lf-wrong".to_owned() };
    let (status, _) = send(sdk(&server, &wrong, Method::GET, "/projects")).await;
    assert_eq!(status, 401);
    let (status, _) = server.call(Method::GET, "/api/public/projects", Some(&acme.admin), None).await;
    assert_eq!(status, 401, "bearer tokens do not open the Langfuse API");
    let path = format!("/api/v1/projects/web/keys/{}", viewer.public);
    let (status, _) = server.call(Method::DELETE, &path, Some(acme.token("admin")), None).await;
    assert_eq!(status, 204);
    let (status, _) = send(sdk(&server, &viewer, Method::GET, "/projects")).await;
    assert_eq!(status, 401, "revoked");
}
