//! The server against `helm/contract.json`, the contract with the Helm chart: its paths answer
//! as described, every environment variable it names is one promptops reads, and every metric
//! it names is exposed with its type.

use serde_json::Value;

use super::{Backend, TestServer};

fn contract() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("helm/contract.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("contract")).expect("contract is JSON")
}

#[test]
fn every_contract_variable_is_one_promptops_reads() {
    for var in contract()["env"].as_array().expect("env") {
        let name = var["name"].as_str().expect("name");
        assert!(promptops::env::ALL.contains(&name), "{name} is in helm/contract.json but not in src/env.rs");
    }
}

#[test]
fn the_route_table_serves_the_contract_prefixes() {
    let contract = contract();
    let routes = promptops::server::routes::table();
    for (_, path) in contract["paths"].as_object().expect("paths") {
        let path = path.as_str().expect("path");
        assert!(routes.iter().any(|r| r.path.starts_with(path)), "no route under {path}");
    }
}

pub async fn probes_and_metrics_answer_as_the_contract_says(b: Backend) {
    let server = TestServer::on(b).await;
    let contract = contract();
    for key in ["liveness", "readiness"] {
        let path = contract["paths"][key].as_str().expect("path");
        let response = server.client.get(format!("{}{path}", server.base)).send().await.expect("get");
        assert_eq!(response.status(), 200, "{path}");
    }
    assert_eq!(contract["paths"]["metrics"], "/metrics");
    // One request of each kind first, so that labelled series exist.
    server.get("/api/v1/projects", &server.admin).await;
    let text = server.metrics().await;
    for metric in contract["metrics"].as_array().expect("metrics") {
        let (name, kind) = (metric["name"].as_str().expect("name"), metric["type"].as_str().expect("type"));
        assert!(text.contains(&format!("# TYPE {name} {kind}\n")), "metric {name} ({kind}) missing from /metrics");
    }
    assert!(
        text.contains(r#"promptops_http_requests_total{route="/api/v1/projects",method="GET",status="200"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"promptops_prompt_fetches_total{source="cache"}"#));
}

pub async fn readiness_drops_to_503_when_shutdown_begins(b: Backend) {
    let server = TestServer::on(b).await;
    server.state.begin_shutdown();
    let response = server.client.get(format!("{}/readyz", server.base)).send().await.expect("get");
    assert_eq!(response.status(), 503);
    let health = server.client.get(format!("{}/healthz", server.base)).send().await.expect("get");
    assert_eq!(health.status(), 200, "liveness stays up while draining");
}

#[test]
fn the_openapi_document_matches_the_routes() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/openapi.json");
    let expected = promptops::server::openapi::render();
    if std::env::var_os("PROMPTOPS_UPDATE_SCHEMAS").is_some() {
        std::fs::write(&path, &expected).expect("write");
    }
    let found = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        found == expected,
        "schemas/openapi.json is out of date; run `PROMPTOPS_UPDATE_SCHEMAS=1 cargo test --test integration openapi`"
    );
    let document: Value = serde_json::from_str(&found).expect("JSON");
    assert_eq!(document["openapi"], "3.1.0");
    for route in promptops::server::routes::table() {
        assert!(
            document["paths"][route.path][route.method.to_lowercase()].is_object(),
            "{} {} missing",
            route.method,
            route.path
        );
    }
}

pub async fn the_openapi_document_is_served(b: Backend) {
    let server = TestServer::on(b).await;
    let served: Value = server
        .client
        .get(format!("{}/api/v1/openapi.json", server.base))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(served, promptops::server::openapi::document());
}
