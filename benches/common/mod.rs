//! What several benchmarks share: a `promptops serve` running in-process on its own runtime
//! (SQLite, rate limit off), so that the load generator's runtime competes with it as a
//! separate client process would on a 2-core machine.

use std::sync::Arc;
use std::time::Duration;

use promptops::server::auth::{JwtKeys, JwtSettings};
use promptops::server::listen::ConnectionLimits;
use promptops::server::{self, AppState, ServerConfig};

/// The server settings of a benchmark: no rate limit, long timeouts.
fn config() -> ServerConfig {
    ServerConfig {
        protected_labels: vec!["production".to_owned()],
        jwt: JwtSettings {
            keys: JwtKeys::random(),
            issuer: "promptops".into(),
            audience: "promptops-api".into(),
            lifetime: Duration::from_secs(3600),
        },
        rate_limit: None,
        body_limit: 8 << 20, // `promptops serve`'s default
        request_timeout: Duration::from_secs(30),
        cors_origins: Vec::new(),
        cache_poll: Duration::from_millis(500),
        connections: ConnectionLimits::default(),
        auth_failures: None,
        trusted_proxies: Vec::new(),
        metrics_token: None,
        master_key: Some(Arc::new(promptops::vault::MasterKey::generate())),
        allowed_provider_hosts: vec!["127.0.0.1".to_owned()],
        kind_models: false,
        // The gateway bench sends plain models; cli/benches/render_sandbox.rs measures the sandbox.
        render_sandbox: None,
        workers: None,
    }
}

/// Starts the server on SQLite in `dir`; returns its base URL and the admin token.
#[allow(dead_code, reason = "not every benchmark uses every starter")]
pub fn start_server(dir: &std::path::Path) -> (String, String) {
    start_server_at(format!("sqlite://{}", dir.join("bench.db").display()))
}

/// Starts the server on the database at `url`; returns its base URL and the admin token.
#[allow(dead_code, reason = "not every benchmark uses every starter")]
pub fn start_server_at(url: String) -> (String, String) {
    start_server_with(url, |_| {})
}

/// Starts the server on the database at `url` with its settings changed by `change`; returns its
/// base URL and a token of the first admin.
pub fn start_server_with(url: String, change: impl FnOnce(&mut ServerConfig) + Send + 'static) -> (String, String) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        runtime.block_on(async move {
            let store = promptops::store::open(&url).await.expect("store");
            let admin = server::bootstrap_admin(store.as_ref(), None, true).await.expect("bootstrap").expect("token");
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let base = format!("http://{}", listener.local_addr().expect("addr"));
            tx.send((base, admin)).expect("send");
            let mut config = config();
            change(&mut config);
            let state = AppState::new(Arc::clone(&store), config);
            server::serve(listener, state, std::future::pending(), Duration::from_secs(1)).await.expect("serve");
        });
    });
    rx.recv().expect("server started")
}
