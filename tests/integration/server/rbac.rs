//! Authorization as a specification: every role against every write endpoint of a project, and
//! a walk of every route with a token of tenant A aimed at the objects of tenant B.

use base64::Engine;
use promptops::server::routes::{Access, table};
use reqwest::Method;
use serde_json::{Value, json};

use super::{Backend, TestServer, prompt_source};

const ROLES: [&str; 5] = ["viewer", "runner", "editor", "admin", "owner"];

struct WriteCase {
    method: Method,
    path: &'static str,
    body: fn(usize) -> Option<Value>,
    needs: &'static str,
}

fn write_cases() -> Vec<WriteCase> {
    vec![
        WriteCase {
            method: Method::POST,
            path: "/prompts/p",
            body: |n| Some(json!({"source": prompt_source(&format!("v{n}"))})),
            needs: "editor",
        },
        WriteCase { method: Method::POST, path: "/sync", body: |_| Some(json!({"versions": []})), needs: "editor" },
        WriteCase {
            method: Method::POST,
            path: "/commits",
            body: |n| Some(json!({"prompts": [{"name": "q", "source": prompt_source(&format!("q{n}"))}]})),
            needs: "editor",
        },
        WriteCase {
            method: Method::PUT,
            path: "/prompts/p/labels/staging",
            body: |_| Some(json!({"version": 2})),
            needs: "editor",
        },
        WriteCase {
            method: Method::POST,
            path: "/prompts/p/labels/staging/rollback",
            body: |_| Some(json!({"to": 1})),
            needs: "editor",
        },
        WriteCase { method: Method::DELETE, path: "/prompts/p/labels/staging", body: |_| None, needs: "editor" },
        WriteCase {
            method: Method::PUT,
            path: "/prompts/p/labels/production",
            body: |_| Some(json!({"version": 2})),
            needs: "admin",
        },
        WriteCase { method: Method::DELETE, path: "/prompts/p/labels/production", body: |_| None, needs: "admin" },
        WriteCase { method: Method::POST, path: "/keys", body: |_| Some(json!({})), needs: "admin" },
        WriteCase {
            method: Method::PUT,
            path: "/members/acme-viewer",
            body: |_| Some(json!({"role": "viewer"})),
            needs: "admin",
        },
        WriteCase {
            method: Method::POST,
            path: "/providers",
            body: |n| Some(json!({"connection": {"id": format!("c{n}"), "kind": "echo"}})),
            needs: "admin",
        },
        WriteCase {
            method: Method::PUT,
            path: "/providers/shared",
            body: |_| Some(json!({"connection": {"id": "shared", "kind": "echo"}})),
            needs: "admin",
        },
        WriteCase {
            method: Method::PUT,
            path: "/providers/shared/key",
            body: |_| Some(json!({"api_key": "sk-shared-1234"})),
            needs: "admin",
        },
        WriteCase { method: Method::DELETE, path: "/providers/shared/key", body: |_| None, needs: "admin" },
        WriteCase { method: Method::POST, path: "/gateway/keys", body: |_| Some(json!({})), needs: "admin" },
        WriteCase {
            method: Method::PUT,
            path: "/gateway/settings",
            body: |_| Some(json!({"keep_content": true})),
            needs: "admin",
        },
        WriteCase { method: Method::POST, path: "/runs", body: |_| Some(super::runs::upload_body()), needs: "runner" },
        // After `/runs`, so the experiment's runs exist.
        WriteCase {
            method: Method::POST,
            path: "/experiments",
            body: |_| Some(super::experiments::experiment("smoke", [1, 2])),
            needs: "runner",
        },
    ]
}

fn rank(role: &str) -> usize {
    ROLES.iter().position(|r| *r == role).expect("role")
}

pub async fn every_role_against_every_write_endpoint(b: Backend) {
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    let owner = acme.token("owner");
    for n in 1..=2 {
        server
            .post("/api/v1/projects/web/prompts/p", owner, json!({"source": prompt_source(&format!("base{n}"))}))
            .await;
    }
    let shared = json!({"connection": {"id": "shared", "kind": "echo"}});
    assert_eq!(server.post("/api/v1/projects/web/providers", owner, shared).await.0, 201);
    let mut n = 0;
    for case in write_cases() {
        for role in ROLES {
            n += 1;
            // Each case starts from the same labels: staging and production on version 1.
            for label in ["staging", "production"] {
                let (status, body) = server
                    .put(&format!("/api/v1/projects/web/prompts/p/labels/{label}"), owner, json!({"version": 1}))
                    .await;
                assert_eq!(status, 200, "{body}");
            }
            let path = format!("/api/v1/projects/web{}", case.path);
            let (status, body) = server.call(case.method.clone(), &path, Some(acme.token(role)), (case.body)(n)).await;
            let allowed = rank(role) >= rank(case.needs);
            if allowed {
                assert!((200..300).contains(&status), "{role} {} {path}: {status} {body}", case.method);
            } else {
                assert_eq!(
                    (status, body["error"]["code"].as_str()),
                    (403, Some("forbidden")),
                    "{role} {} {path}: {body}",
                    case.method
                );
            }
        }
    }
}

/// A body the route accepts, so that only authorization can refuse it.
fn valid_body(method: &str, path: &str) -> Option<Value> {
    let body = match (method, path.rsplit('/').next().unwrap_or_default()) {
        ("GET" | "DELETE", _) => return None,
        ("PUT", "{label}") => json!({"version": 1}),
        ("PUT", "{principal}") => json!({"role": "viewer"}),
        ("POST", "{name}") => json!({"source": prompt_source("x")}),
        ("POST", "commits") => json!({"prompts": [{"name": "a-own", "source": prompt_source("x")}]}),
        ("POST", "runs") => super::runs::upload_body(),
        ("POST", "queue") => {
            json!({"suite": "eval-suites/s.yaml", "files": {"eval-suites/s.yaml": ""}, "plan_hash": "x"})
        }
        ("POST", "experiments") => super::experiments::experiment_body(),
        ("POST", "sync") => json!({"versions": [], "labels": []}),
        ("POST", "tenants") => json!({"id": "gamma", "admin": "g"}),
        ("POST", "projects") => json!({"id": "web2"}),
        ("POST", "principals") => json!({"name": "zed"}),
        ("POST", "prompts") => json!({"name": "a-own", "prompt": "x"}),
        ("PATCH", _) => json!({"newLabels": ["staging"]}),
        ("POST", "providers") | ("PUT", "{id}") => json!({"connection": {"id": "own", "kind": "echo"}}),
        ("PUT", "key") => json!({"api_key": "sk-own-1234"}),
        _ => json!({}),
    };
    Some(body)
}

/// Every route, aimed at tenant B's objects, with each kind of caller of tenant A (and the
/// server's super-admin, whose tenant is `system`).
pub async fn no_caller_of_another_tenant_sees_tenant_b(b: Backend) {
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    let beta = server.tenant("beta", "beta-app").await;
    let beta = BetaObjects::make(&server, &beta).await;
    let (_, a_key) = server.post("/api/v1/projects/web/keys", acme.token("admin"), json!({"role": "owner"})).await;
    let a_basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        a_key["public_key"].as_str().expect("pk"),
        a_key["secret_key"].as_str().expect("sk")
    ));
    let tenant_admin_jwt = super::credentials::exchange(&server, &acme.admin).await;
    let (status, a_gateway) = server.post("/api/v1/projects/web/gateway/keys", acme.token("admin"), json!({})).await;
    assert_eq!(status, 201, "{a_gateway}");
    gateway_walk(&server, &beta, a_gateway["key"].as_str().expect("pog_ key")).await;
    let callers = [
        ("tenant admin", acme.admin.clone()),
        ("project owner", acme.token("owner").to_owned()),
        ("tenant admin's JWT", tenant_admin_jwt),
        ("super-admin", server.admin.clone()),
    ];
    // What A's requests named: errors and A's own audit log may echo it; anything else of B's is a leak.
    let mut named = String::new();
    for (who, bearer) in callers {
        walk(&server, &beta, who, &bearer, &a_basic, &mut named).await;
    }
}

/// Tenant B's objects, and the texts that would show them leaking.
struct BetaObjects {
    token_id: String,
    connection: String,
    gateway_key: String,
    public_key: String,
    run: String,
    experiment: String,
    markers: Vec<String>,
}

impl BetaObjects {
    async fn make(server: &TestServer, beta: &super::Tenant) -> Self {
        let (_, b_prompt) = server
            .post(
                "/api/v1/projects/beta-app/prompts/secret%2Fplan",
                beta.token("editor"),
                json!({"source": prompt_source("beta-secret-text")}),
            )
            .await;
        assert!(b_prompt["version"]["hash"].is_string(), "{b_prompt}");
        server
            .put(
                "/api/v1/projects/beta-app/prompts/secret%2Fplan/labels/staging",
                beta.token("editor"),
                json!({"version": 1}),
            )
            .await;
        let (_, b_token) = server.post("/api/v1/tokens", &beta.admin, json!({"name": "beta-ci"})).await;
        let (_, b_key) = server.post("/api/v1/projects/beta-app/keys", beta.token("admin"), json!({})).await;
        let (_, b_run) =
            server.post("/api/v1/projects/beta-app/runs", beta.token("runner"), super::runs::upload_body()).await;
        let b_experiment_body = super::experiments::experiment("beta-secret-suite", [1, 1]);
        let (status, b_experiment) =
            server.post("/api/v1/projects/beta-app/experiments", beta.token("runner"), b_experiment_body).await;
        assert_eq!(status, 201, "{b_experiment}");
        let shared = json!({"connection": {"id": "beta-shared-conn", "kind": "echo"}});
        let (status, b_shared) = server.post("/api/v1/providers", &beta.admin, shared).await;
        assert_eq!(status, 201, "{b_shared}");
        let (connection, gateway_key) = Self::gateway(server, beta).await;
        let token_id = b_token["id"].as_str().expect("token id").to_owned();
        let public_key = b_key["public_key"].as_str().expect("key").to_owned();
        let markers = vec![
            "beta-app".to_owned(),
            "beta-secret-text".to_owned(),
            "beta-ci".to_owned(),
            token_id.clone(),
            public_key.clone(),
            b_prompt["version"]["hash"].as_str().expect("hash").to_owned(),
            "beta-secret-suite".to_owned(),
            "beta-shared-conn".to_owned(),
            connection.clone(),
            gateway_key.clone(),
            "beta-gateway-secret".to_owned(),
        ];
        Self {
            token_id,
            connection,
            gateway_key,
            public_key,
            run: b_run["id"].to_string(),
            experiment: b_experiment["id"].to_string(),
            markers,
        }
    }

    /// B's provider connection, a gateway key, and a model call through it (so B has a trace):
    /// the connection's and the key's ids.
    async fn gateway(server: &TestServer, beta: &super::Tenant) -> (String, String) {
        let connection = json!({"connection": {"id": "beta-secret-conn", "kind": "echo"}});
        let (status, body) = server.post("/api/v1/projects/beta-app/providers", beta.token("admin"), connection).await;
        assert_eq!(status, 201, "{body}");
        let name = json!({"name": "beta-gateway-secret"});
        let (status, key) = server.post("/api/v1/projects/beta-app/gateway/keys", beta.token("admin"), name).await;
        assert_eq!(status, 201, "{key}");
        let call = server
            .client
            .post(format!("{}/v1/chat/completions", server.base))
            .bearer_auth(key["key"].as_str().expect("pog_ key"))
            .json(&chat("beta-secret-conn"))
            .send()
            .await
            .expect("send");
        assert_eq!(call.status(), 200, "{}", call.text().await.unwrap_or_default());
        ("beta-secret-conn".to_owned(), key["id"].as_str().expect("key id").to_owned())
    }
}

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hello"}]})
}

/// The `/v1` routes with a gateway key of tenant A: B's connection is no model A may call, and no
/// answer shows anything of B's.
async fn gateway_walk(server: &TestServer, beta: &BetaObjects, a_key: &str) {
    for route in table().iter().filter(|r| r.access == Access::Gateway) {
        let mut request = server
            .client
            .request(
                Method::from_bytes(route.method.as_bytes()).expect("method"),
                format!("{}{}", server.base, route.path),
            )
            .bearer_auth(a_key);
        if route.method == "POST" {
            let body = if route.path.ends_with("embeddings") {
                json!({"model": beta.connection, "input": "hello"})
            } else {
                chat(&beta.connection)
            };
            request = request.json(&body);
        }
        let response = request.send().await.expect("send");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        if route.method == "POST" {
            assert!(matches!(status, 403 | 404), "A's gateway key called B's model: {} {status}: {text}", route.path);
        }
        // A's own request named B's connection; an error may echo that, nothing else of B's.
        for marker in beta.markers.iter().filter(|m| route.method == "GET" || **m != beta.connection) {
            assert!(!text.contains(marker.as_str()), "{} leaked `{marker}`: {text}", route.path);
        }
    }
}

async fn walk(server: &TestServer, beta: &BetaObjects, who: &str, bearer: &str, a_basic: &str, named: &mut String) {
    for route in table().iter().filter(|r| r.access != Access::Public) {
        let path = route
            .path
            .replace("{project}", "beta-app")
            .replace("{name}", "secret%2Fplan")
            .replace("{label}", "staging")
            .replace("{principal}", "beta-editor")
            .replace("/providers/{id}", &format!("/providers/{}", beta.connection))
            .replace("/gateway/keys/{id}", &format!("/gateway/keys/{}", beta.gateway_key))
            .replace("{id}", &beta.token_id)
            .replace("{public_key}", &beta.public_key)
            .replace("{run}", &beta.run)
            .replace("{experiment}", &beta.experiment)
            .replace("{version}", "1")
            + match route.path.rsplit('/').next() {
                Some("diff") => "?from=1",
                Some("compare") => "?before=1&after=1",
                _ => "",
            };
        named.push_str(&path);
        let method = Method::from_bytes(route.method.as_bytes()).expect("method");
        let mut request = server.client.request(method, format!("{}{path}", server.base));
        request = match route.access {
            Access::Basic => request.header("Authorization", format!("Basic {a_basic}")),
            _ => request.bearer_auth(bearer),
        };
        if let Some(body) = valid_body(route.method, route.path) {
            request = request.json(&body);
        }
        let response = request.send().await.expect("send");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        let names_b = path != route.path
            && (route.path.contains("{project}")
                || route.access == Access::Basic && route.path.contains("{name}")
                || route.path.contains("{id}"));
        if names_b {
            assert!(matches!(status, 403 | 404), "{who}: {} {path} answered {status}: {text}", route.method);
        }
        for marker in beta.markers.iter().filter(|m| !named.contains(m.as_str())) {
            assert!(!text.contains(marker.as_str()), "{who}: {} {path} leaked `{marker}`: {text}", route.method);
        }
    }
}
