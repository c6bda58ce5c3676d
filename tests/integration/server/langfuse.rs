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

/// A create's status and body, sent by an admin key pair.
async fn create(server: &TestServer, keys: &Keys, body: &Value) -> (u16, Value) {
    send(sdk(server, keys, Method::POST, "/v2/prompts").json(body)).await
}

pub async fn config_is_kept_whole_and_type_and_tags_belong_to_the_name(b: Backend) {
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    let admin = keys(&server, acme.token("admin"), "admin").await;
    let config = json!({"model": "gpt-4o-mini", "temperature": 0.2, "stop": ["\n"], "json_schema": {"type": "object"},
        "supported_languages": ["en", "de"], "nested": {"a": [1, null, true, {"b": "c"}]}, "top_k": 40});
    let body =
        json!({"name": "t", "prompt": "Hi {{who}}", "config": config, "tags": ["a", "b"], "labels": ["staging"]});
    let (status, created) = create(&server, &admin, &body).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["config"], config, "config comes back exactly");
    let (_, listed) = send(sdk(&server, &admin, Method::GET, "/v2/prompts?name=t")).await;
    assert_eq!(listed["data"][0]["lastConfig"], config);
    let (status, native) = server.get("/api/v1/projects/web/prompts/t?version=1", acme.token("admin")).await;
    assert_eq!(status, 200, "{native}");
    assert!(native["source"].as_str().is_some_and(|s| s.contains("supported_languages")), "{native}");

    let (status, second) =
        create(&server, &admin, &json!({"name": "t", "prompt": "Hello {{who}}", "tags": null})).await;
    assert_eq!((status, second["version"].as_u64()), (201, Some(2)), "{second}");
    assert_eq!(second["tags"], json!(["a", "b"]), "a version without tags keeps the prompt's");
    let (status, third) = create(&server, &admin, &json!({"name": "t", "prompt": "Hey {{who}}", "tags": ["c"]})).await;
    assert_eq!((status, third["version"].as_u64()), (201, Some(3)), "{third}");
    let (_, first) = send(sdk(&server, &admin, Method::GET, "/v2/prompts/t?version=1")).await;
    assert_eq!(first["tags"], json!(["c"]), "tags are the prompt's, the same on every version");
    assert_eq!(first["labels"], json!(["staging"]));

    let chat = json!({"name": "t", "type": "chat", "prompt": [{"role": "user", "content": "hi"}]});
    let (status, refused) = create(&server, &admin, &chat).await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["error"], "InvalidRequestError", "{refused}");
    assert!(refused["message"].as_str().is_some_and(|m| m.contains("different prompt type")), "{refused}");
    let (_, latest) = send(sdk(&server, &admin, Method::GET, "/v2/prompts/t?label=latest")).await;
    assert_eq!(latest["version"], 3, "a refused create writes nothing");

    let (status, one) =
        create(&server, &admin, &json!({"name": "c", "type": "chat", "prompt": [{"role": "user", "content": "hi"}]}))
            .await;
    assert_eq!((status, one["type"].as_str()), (201, Some("chat")), "a one-message chat prompt stays chat: {one}");
    let (status, text) = create(&server, &admin, &json!({"name": "c", "prompt": "hi"})).await;
    assert_eq!(status, 400, "a text version of a chat prompt: {text}");

    let (_, all) = send(sdk(&server, &admin, Method::GET, "/v2/prompts?fromUpdatedAt=2000-01-01T00:00:00Z")).await;
    assert_eq!(all["meta"]["totalItems"], 2, "{all}");
    let (_, none) = send(sdk(&server, &admin, Method::GET, "/v2/prompts?toUpdatedAt=2000-01-01T00:00:00Z")).await;
    assert_eq!(none["meta"]["totalItems"], 0, "{none}");
    let (_, future) = send(sdk(&server, &admin, Method::GET, "/v2/prompts?fromUpdatedAt=2999-01-01T00:00:00Z")).await;
    assert_eq!(future["data"], json!([]), "{future}");
}

pub async fn hostile_langfuse_bodies_get_clear_langfuse_errors_and_write_nothing(b: Backend) {
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    let admin = keys(&server, acme.token("admin"), "admin").await;
    let nested = (0..300).fold(json!(1), |inner, _| json!({"x": inner}));
    let huge = json!({"blob": "x".repeat(2 * 1024 * 1024)});
    let cases = [
        (json!({"name": "h", "prompt": "x", "config": [1, 2]}), 400, "config"),
        (json!({"name": "h", "prompt": "x", "config": {"temperature": "hot"}}), 400, "config.temperature"),
        (json!({"name": "h", "prompt": "x", "config": {"max_tokens": -1}}), 400, "config.max_tokens"),
        (json!({"name": "h", "prompt": "x", "config": {"model": 5}}), 400, "config.model"),
        (json!({"name": "h", "prompt": 5}), 400, "prompt"),
        (
            json!({"name": "h", "type": "chat", "prompt": [{"role": "user", "content": "a"}, {"content": "b"}]}),
            400,
            "prompt[1]",
        ),
        (json!({"name": "h", "type": "chat", "prompt": [{"role": "wizard", "content": "b"}]}), 400, "prompt[0]"),
        (json!({"name": "h", "type": "image", "prompt": "x"}), 400, "type"),
        (json!({"name": "h", "type": "chat", "prompt": "x"}), 400, "prompt"),
        (json!({"name": 5, "prompt": "x"}), 400, ""),
        (json!({"name": "h", "prompt": "x", "tags": "a"}), 400, ""),
        (json!({"name": "h", "prompt": "x", "labels": ["latest"]}), 400, "labels"),
        (json!({"name": "h", "prompt": "x", "config": nested}), 400, ""),
        (json!({"name": "h", "prompt": "x", "config": huge}), 413, ""),
    ];
    for (body, want, path) in cases {
        let (status, refused) = create(&server, &admin, &body).await;
        let shown = refused.to_string().chars().take(300).collect::<String>();
        assert_eq!(status, want, "{shown}");
        assert!(refused["message"].as_str().is_some_and(|m| !m.is_empty()), "a message: {shown}");
        assert!(refused["error"].as_str().is_some_and(|e| e.ends_with("Error")), "Langfuse's shape: {shown}");
        if !path.is_empty() {
            assert_eq!(refused["path"], path, "{shown}");
        }
    }
    let malformed = sdk(&server, &admin, Method::POST, "/v2/prompts")
        .header("content-type", "application/json")
        .body("{\"name\": ");
    let (status, refused) = send(malformed).await;
    assert_eq!((status, refused["error"].as_str()), (400, Some("InvalidRequestError")), "{refused}");
    let (status, refused) = send(sdk(&server, &admin, Method::GET, "/v2/prompts?fromUpdatedAt=yesterday")).await;
    assert_eq!((status, refused["error"].as_str()), (400, Some("InvalidRequestError")), "{refused}");
    let (status, missing) = send(sdk(&server, &admin, Method::GET, "/v2/prompts/h")).await;
    assert_eq!((status, missing["error"].as_str()), (404, Some("LangfuseNotFoundError")), "nothing written: {missing}");
    let wrong = Keys { public: admin.public.clone(), secret: "sk-lf-wrong".to_owned() };
    let (status, refused) = send(sdk(&server, &wrong, Method::GET, "/v2/prompts/h")).await;
    assert_eq!((status, refused["error"].as_str()), (401, Some("UnauthorizedError")), "{refused}");
    let (status, refused) =
        send(sdk(&server, &admin, Method::PATCH, "/v2/prompts/h/versions/1").json(&json!({"newLabels": "x"}))).await;
    assert_eq!((status, refused["error"].as_str()), (400, Some("InvalidRequestError")), "{refused}");
}

pub async fn native_prompts_are_served_as_the_sdk_can_use_them(b: Backend) {
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    let token = acme.token("admin");
    let admin = keys(&server, token, "admin").await;
    let source = "model: offline\nvariables:\n  ticket: { type: string }\n  tone: { type: string, default: friendly }\nmessages:\n  - role: system\n    content: '{% include \"voice.j2\" %} Be {{ tone }}.'\n  - role: user\n    content: '{{ ticket }}'\n";
    let body = json!({"source": source, "partials": {"voice.j2": "You are {% include \"name.j2\" %}.", "name.j2": "Acme support"}});
    let (status, created) = server.post("/api/v1/projects/web/prompts/support%2Ftriage", token, body).await;
    assert_eq!(status, 201, "{created}");
    let connection = json!({"connection": {"id": "offline", "kind": "mock", "model": "stub-model-1"}});
    let (status, made) = server.post("/api/v1/projects/web/providers", token, connection).await;
    assert_eq!(status, 201, "{made}");
    let (status, served) = send(sdk(&server, &admin, Method::GET, "/v2/prompts/support%2Ftriage?label=latest")).await;
    assert_eq!(status, 200, "{served}");
    assert_eq!(served["config"]["model"], "stub-model-1", "the provider's model, not its id: {served}");
    assert_eq!(served["prompt"][0]["content"], "You are Acme support. Be {{ tone }}.", "partials expanded: {served}");
    assert_eq!(served["config"]["variable_defaults"], json!({"tone": "friendly"}), "{served}");
    let newer = source.replace("Be {{ tone }}.", "Stay {{ tone }}.");
    let body = json!({"source": newer, "partials": {"voice.j2": "You are {% include \"name.j2\" %}.", "name.j2": "Acme support"}});
    let (status, _) = server.post("/api/v1/projects/web/prompts/support%2Ftriage", token, body).await;
    assert_eq!(status, 201);
    let (_, again) = send(sdk(&server, &admin, Method::GET, "/v2/prompts/support%2Ftriage?label=latest")).await;
    assert_eq!(again["version"], 2, "a commit through this server is served at once, not from memory: {again}");

    let jinja = "variables:\n  vip: { type: boolean }\nmessages:\n  - role: user\n    content: '{% if vip %}Dear customer{% endif %}'\n";
    let (status, _) = server.post("/api/v1/projects/web/prompts/jinja", token, json!({"source": jinja})).await;
    assert_eq!(status, 201);
    let (status, refused) = send(sdk(&server, &admin, Method::GET, "/v2/prompts/jinja?label=latest")).await;
    assert_eq!((status, refused["code"].as_str()), (409, Some("not_langfuse_compatible")), "{refused}");
    assert!(refused["message"].as_str().is_some_and(|m| m.contains("{% if vip %}")), "names the construct: {refused}");
}

pub async fn composition_is_resolved_when_served_and_broken_references_are_named(b: Backend) {
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    let admin = keys(&server, acme.token("admin"), "admin").await;
    let (status, _) =
        create(&server, &admin, &json!({"name": "part", "prompt": "Be {{tone}}.", "labels": ["staging"]})).await;
    assert_eq!(status, 201);
    let whole = json!({"name": "whole", "type": "chat", "prompt": [{"role": "system", "content": "@@@langfusePrompt:name=part|label=staging@@@ Go."}]});
    let (status, created) = create(&server, &admin, &whole).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["prompt"][0]["content"], "Be {{tone}}. Go.", "chat messages are composed too: {created}");
    assert_eq!(created["resolutionGraph"]["dependencies"]["acme:web:whole:1"][0]["name"], "part", "{created}");
    // The gateway renders the same composition from the managed prompt, with the referenced
    // prompt's variables.
    let token = acme.token("admin");
    let connection = json!({"connection": {"id": "echo", "kind": "echo", "model": "echo"}});
    assert_eq!(server.post("/api/v1/projects/web/providers", token, connection).await.0, 201);
    let (_, key) = server.post("/api/v1/projects/web/gateway/keys", token, json!({})).await;
    let key = key["key"].as_str().expect("pog_ key");
    let body = json!({"model": "echo", "messages": [], "prompt_variables": {"tone": "calm"}});
    let request = server.client.post(format!("{}/v1/chat/completions", server.base)).bearer_auth(key);
    let answer: Value = request
        .header("x-promptops-prompt", "whole@latest")
        .json(&body)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let text = answer["choices"][0]["message"]["content"].as_str().unwrap_or_default();
    assert!(text.contains("Be calm. Go."), "{answer}");
    let (status, removed) = server
        .call(Method::DELETE, "/api/v1/projects/web/prompts/part/labels/staging", Some(acme.token("admin")), None)
        .await;
    assert_eq!(status, 200, "{removed}");
    let (status, broken) = send(sdk(&server, &admin, Method::GET, "/v2/prompts/whole?label=latest")).await;
    assert_eq!((status, broken["code"].as_str()), (409, Some("unresolvable_reference")), "{broken}");
    assert!(broken["message"].as_str().is_some_and(|m| m.contains("name=part|label=staging")), "{broken}");
    let (status, raw) = send(sdk(&server, &admin, Method::GET, "/v2/prompts/whole?label=latest&resolve=false")).await;
    assert_eq!((status, raw["resolutionGraph"].clone()), (200, Value::Null), "{raw}");
    for bad in [
        "@@@langfusePrompt:part@@@",
        "@@@langfusePrompt:name=part@@@",
        "@@@langfusePrompt:name=part|label=a|version=1@@@",
        "@@@langfusePrompt:name=part|version=x@@@",
        "@@@langfusePrompt:name=x|label=staging@@@",
    ] {
        let (status, refused) = create(&server, &admin, &json!({"name": "bad", "prompt": bad})).await;
        assert_eq!((status, refused["code"].as_str()), (400, Some("unresolvable_reference")), "{bad}: {refused}");
    }
    let (status, refused) =
        create(&server, &admin, &json!({"name": "self", "prompt": "@@@langfusePrompt:name=self|version=1@@@"})).await;
    assert!(status == 400 && refused["message"].as_str().is_some_and(|m| m.contains("cycle")), "{refused}");
}
