//! The server over real HTTP on 127.0.0.1: a server per test on port 0 over a fresh SQLite file,
//! reqwest as the client. Helpers build a tenant with one principal per role.

mod api;
mod contract;
mod langfuse;
mod rbac;
pub mod runs;

use std::sync::Arc;
use std::time::Duration;

use promptops::secret::SecretString;
use promptops::server::auth::{JwtKeys, JwtSettings};
use promptops::server::{self, AppState, ServerConfig};
use reqwest::Method;
use serde_json::{Value, json};

/// A running server and a client for it.
pub struct TestServer {
    pub base: String,
    pub admin: String,
    pub client: reqwest::Client,
    pub state: AppState,
    pub _dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

pub fn config() -> ServerConfig {
    ServerConfig {
        protected_labels: vec!["production".to_owned()],
        jwt: JwtSettings {
            keys: JwtKeys::Hs256(SecretString::new("test-secret")),
            issuer: "promptops".into(),
            audience: "promptops-api".into(),
            lifetime: Duration::from_secs(300),
        },
        rate_limit: None,
        body_limit: 1024 * 1024,
        request_timeout: Duration::from_secs(10),
        cors_origins: Vec::new(),
        cache_poll: Duration::from_millis(100),
    }
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(config()).await
    }

    pub async fn start_with(config: ServerConfig) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("server.db").display());
        Self::start_on(&url, config, dir).await
    }

    pub async fn start_on(url: &str, config: ServerConfig, dir: tempfile::TempDir) -> Self {
        let store = promptops::store::open(url).await.expect("open store");
        let admin = server::bootstrap_admin(store.as_ref(), None, true).await.expect("bootstrap").expect("token");
        let state = AppState::new(Arc::clone(&store), config);
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
        Self { base, admin, client: reqwest::Client::new(), state, _dir: dir, _stop: stop }
    }

    /// Sends a request with a bearer token and an optional JSON body; returns status and JSON.
    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
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
