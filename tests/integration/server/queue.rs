//! Server-side runs over HTTP: a spec queued once per Idempotency-Key and run by the server's
//! workers through a connection to the LLM stub, its events streamed and resumed after any
//! event with no gap or duplicate, a cancel that stops paying at once, RBAC, and hostile specs.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use promptops::eval::suite::LoadedSuite;
use promptops::eval::{Overrides, PlanInput, ProjectPrompts, plan};
use promptops::runs::WorkerSettings;
use promptops_test_support::stub::{Stub, StubConfig};
use serde_json::{Value, json};

use super::{TestServer, config};
use crate::eval::Fake;
use crate::store_conformance::Backend;

/// A server whose workers run 4 units at once and look for work every 50 ms.
async fn server(b: Backend) -> TestServer {
    let workers = WorkerSettings { slots: 4, poll: Duration::from_millis(50), ..WorkerSettings::default() };
    TestServer::on_with(b, promptops::server::ServerConfig { workers: Some(workers), ..config() }).await
}

/// The spec of a suite of `cases` cases on provider `stubbed`, with the hash the CLI would plan.
async fn spec(cases: usize) -> Value {
    let mut files = BTreeMap::new();
    files.insert(
        "prompts/t.yaml".to_owned(),
        "messages:\n  - role: user\n    content: 'Ticket {{ n }}'\nvariables:\n  n: { type: number }\n".to_owned(),
    );
    let tests: String = (0..cases).map(|n| format!("  - {{ name: case {n}, vars: {{ n: {n} }} }}\n")).collect();
    let suite = format!(
        "targets: [t]\nproviders: [stubbed]\nthreshold: 0.5\ndefaults:\n  assert:\n    - {{ type: contains, value: Ticket }}\ntests:\n{tests}"
    );
    files.insert("eval-suites/s.yaml".to_owned(), suite);
    let dir = tempfile::tempdir().expect("tempdir");
    for (path, text) in &files {
        let target = dir.path().join(path);
        std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
        std::fs::write(target, text).expect("write");
    }
    let suite = LoadedSuite::read(dir.path(), &dir.path().join("eval-suites/s.yaml")).expect("suite");
    let prompts = ProjectPrompts { prompts_dir: dir.path().join("prompts"), registry: None };
    let fake = Fake { known: vec!["stubbed"], ..Fake::new() };
    let overrides = Overrides::default();
    let input = PlanInput {
        root: dir.path(),
        default_provider: None,
        prompts: &prompts,
        backend: &fake,
        workflows: None,
        overrides: &overrides,
    };
    let planned = plan(&suite, &input).await.expect("plans");
    json!({"suite": "eval-suites/s.yaml", "files": files, "plan_hash": planned.hash})
}

/// Connection `stubbed` of project `web` to `stub`.
async fn connect(server: &TestServer, token: &str, stub: &str) {
    let body = json!({"connection": {"id": "stubbed", "kind": "openai", "model": "gpt-4o-mini", "base_url": format!("{stub}/v1")}, "api_key": "sk-server"});
    let (status, answer) = server.post("/api/v1/projects/web/providers", token, body).await;
    assert_eq!(status, 201, "{answer}");
}

async fn submit(server: &TestServer, token: &str, spec: &Value, key: Option<&str>) -> (u16, Value) {
    let mut request =
        server.client.post(format!("{}/api/v1/projects/web/runs/queue", server.base)).bearer_auth(token).json(spec);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request.send().await.expect("send");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Reads `run`'s event stream after `after`: up to `take` results (all when `None`), as
/// (id, case) pairs, and the `done` event's run if it came.
async fn read_events(
    server: &TestServer,
    token: &str,
    run: u64,
    after: u64,
    take: Option<usize>,
) -> (Vec<(u64, u64)>, Option<Value>) {
    let url = format!("{}/api/v1/projects/web/runs/{run}/events", server.base);
    let response = server
        .client
        .get(url)
        .bearer_auth(token)
        .header("Last-Event-ID", after.to_string())
        .send()
        .await
        .expect("connect");
    assert_eq!(response.status().as_u16(), 200);
    let mut body = response.bytes_stream();
    let (mut buffer, mut results) = (String::new(), Vec::new());
    while let Ok(Some(chunk)) = tokio::time::timeout(Duration::from_secs(20), body.next()).await {
        buffer.push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let field = |name: &str| block.lines().find_map(|l| l.strip_prefix(name)).map(str::trim).map(str::to_owned);
            let data: Value = field("data:").and_then(|d| serde_json::from_str(&d).ok()).unwrap_or(Value::Null);
            match field("event:").as_deref() {
                Some("result") => {
                    let id = field("id:").expect("id").parse().expect("number");
                    results.push((id, data["unit"]["case"].as_u64().expect("case")));
                    if take.is_some_and(|n| results.len() >= n) {
                        return (results, None);
                    }
                }
                Some("done") => return (results, Some(data)),
                _ => {}
            }
        }
    }
    panic!("the stream stopped without `done` after {} result(s)", results.len());
}

pub async fn a_queued_run_is_run_by_the_workers_and_streamed_to_its_end(b: Backend) {
    let stub = Stub::start(StubConfig::new().reply("Ticket handled")).await;
    let server = server(b).await;
    let acme = server.tenant("acme", "web").await;
    connect(&server, acme.token("admin"), &stub.handle().url()).await;
    let (status, run) = submit(&server, acme.token("runner"), &spec(12).await, None).await;
    assert_eq!(status, 201, "{run}");
    assert_eq!((run["status"].as_str(), run["total"].as_u64()), (Some("running"), Some(12)));
    let (results, done) = read_events(&server, acme.token("viewer"), 1, 0, None).await;
    let done = done.expect("done");
    assert_eq!((done["status"].as_str(), done["totals"]["passed"].as_u64()), (Some("passed"), Some(12)), "{done}");
    assert_eq!(results.iter().map(|r| r.0).collect::<Vec<_>>(), (1..=12).collect::<Vec<_>>());
    let mut cases: Vec<u64> = results.iter().map(|r| r.1).collect();
    cases.sort_unstable();
    assert_eq!(cases, (0..12).collect::<Vec<_>>(), "every case once");
    assert_eq!(stub.handle().requests_to("/v1/chat/completions").len(), 12);
    let metrics = server.client.get(format!("{}/metrics", server.base)).bearer_auth(super::METRICS_TOKEN);
    let metrics = metrics.send().await.expect("metrics").text().await.expect("text");
    for line in [
        "promptops_worker_slots 4",
        "promptops_run_units_completed_total 12",
        "promptops_run_units{state=\"available\"} 0",
    ] {
        assert!(metrics.lines().any(|l| l == line), "no `{line}` in:\n{metrics}");
    }
    assert!(metrics.contains("promptops_run_claim_seconds_count"), "{metrics}");
}

pub async fn one_idempotency_key_makes_one_run(b: Backend) {
    let stub = Stub::start(StubConfig::new().reply("Ticket handled")).await;
    let server = server(b).await;
    let acme = server.tenant("acme", "web").await;
    connect(&server, acme.token("admin"), &stub.handle().url()).await;
    let spec = spec(2).await;
    let (first, run) = submit(&server, acme.token("runner"), &spec, Some("ci-build-42")).await;
    let (again, same) = submit(&server, acme.token("runner"), &spec, Some("ci-build-42")).await;
    assert_eq!((first, again), (201, 200), "{same}");
    assert_eq!(run["id"], same["id"]);
    let (other, next) = submit(&server, acme.token("runner"), &spec, Some("ci-build-43")).await;
    assert_eq!((other, next["id"].as_u64()), (201, Some(2)));
}

pub async fn a_stream_resumed_after_any_event_loses_and_repeats_nothing(b: Backend) {
    let stub = Stub::start(StubConfig::new().reply("Ticket handled").latency(Duration::from_millis(30))).await;
    let server = server(b).await;
    let acme = server.tenant("acme", "web").await;
    connect(&server, acme.token("admin"), &stub.handle().url()).await;
    assert_eq!(submit(&server, acme.token("runner"), &spec(60).await, None).await.0, 201);
    let (mut seen, mut after, mut reconnects) = (Vec::new(), 0, 0);
    loop {
        let (results, done) = read_events(&server, acme.token("viewer"), 1, after, Some(3)).await;
        if let Some(last) = results.last() {
            after = last.0;
        }
        seen.extend(results);
        if done.is_some() || seen.len() == 60 {
            break;
        }
        reconnects += 1;
    }
    assert!(reconnects >= 19, "the stream was cut {reconnects} times");
    assert_eq!(seen.iter().map(|r| r.0).collect::<Vec<_>>(), (1..=60).collect::<Vec<_>>(), "no gap, no repeat");
}

pub async fn a_cancelled_run_stops_calling_the_model_and_keeps_its_results(b: Backend) {
    let stub = Stub::start(StubConfig::new().reply("Ticket handled").latency(Duration::from_millis(200))).await;
    let server = server(b).await;
    let acme = server.tenant("acme", "web").await;
    connect(&server, acme.token("admin"), &stub.handle().url()).await;
    assert_eq!(submit(&server, acme.token("runner"), &spec(100).await, None).await.0, 201);
    let (first, _) = read_events(&server, acme.token("viewer"), 1, 0, Some(2)).await;
    assert_eq!(first.len(), 2);
    let (status, viewer) = server.post("/api/v1/projects/web/runs/1/cancel", acme.token("viewer"), json!({})).await;
    assert_eq!(status, 403, "a viewer may not cancel: {viewer}");
    let (status, cancelled) = server.post("/api/v1/projects/web/runs/1/cancel", acme.token("runner"), json!({})).await;
    assert_eq!((status, cancelled["status"].as_str()), (200, Some("cancelled")), "{cancelled}");
    // Units in flight stop at their workers' next lease renewal at the latest.
    let settled = Instant::now();
    let calls = stub.handle().requests_to("/v1/chat/completions").len();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(stub.handle().requests_to("/v1/chat/completions").len(), calls, "no call after the cancel");
    assert!(calls < 20, "{calls} calls: queued units were dropped at once");
    let (kept, done) = read_events(&server, acme.token("viewer"), 1, 0, None).await;
    assert_eq!(done.expect("done")["status"].as_str(), Some("cancelled"));
    assert!(kept.len() >= 2 && kept.len() < 100, "{} result(s) kept", kept.len());
    assert!(settled.elapsed() < Duration::from_secs(5));
    let (status, again) = server.post("/api/v1/projects/web/runs/1/cancel", acme.token("runner"), json!({})).await;
    assert_eq!(status, 200, "cancelling twice is harmless: {again}");
}

pub async fn only_runners_queue_and_hostile_specs_are_refused_naming_the_field(b: Backend) {
    let server = server(b).await;
    let acme = server.tenant("acme", "web").await;
    let valid = spec(1).await;
    assert_eq!(submit(&server, acme.token("viewer"), &valid, None).await.0, 403);
    let runner = acme.token("runner");
    let mut escape = valid.clone();
    escape["files"]["../../etc/passwd"] = json!("x");
    let (status, body) = submit(&server, runner, &escape, None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_spec")), "{body}");
    assert_eq!(body["error"]["path"].as_str(), Some("files.../../etc/passwd"), "{body}");
    let mut no_suite = valid.clone();
    no_suite["suite"] = json!("eval-suites/missing.yaml");
    let (status, body) = submit(&server, runner, &no_suite, None).await;
    assert_eq!((status, body["error"]["path"].as_str()), (400, Some("suite")), "{body}");
    let (status, body) = submit(&server, runner, &valid, Some(&"k".repeat(300))).await;
    assert_eq!((status, body["error"]["path"].as_str()), (400, Some("Idempotency-Key")), "{body}");
    let (status, body) = submit(&server, runner, &json!({"suite": 1}), None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_json")), "{body}");
    let mut scripted = valid.clone();
    let suite = scripted["files"]["eval-suites/s.yaml"].as_str().expect("suite");
    scripted["files"]["eval-suites/s.yaml"] =
        json!(suite.replace("type: contains, value: Ticket", "type: script, value: 'true'"));
    let (status, body) = submit(&server, runner, &scripted, None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_suite")), "no connection yet: {body}");
    // Nothing is called below: every spec is refused while it is planned.
    connect(&server, acme.token("admin"), "http://127.0.0.1:9").await;
    let (status, body) = submit(&server, runner, &scripted, None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("not_on_server")), "{body}");
    let mut changed = valid;
    changed["plan_hash"] = json!("0".repeat(64));
    let (status, body) = submit(&server, runner, &changed, None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("plan_mismatch")), "{body}");
    let (_, runs) = server.call(reqwest::Method::GET, "/api/v1/projects/web/runs", Some(runner), None).await;
    assert_eq!(runs["items"].as_array().map(Vec::len), Some(0), "nothing was queued: {runs}");
}

pub async fn a_queued_run_wakes_the_workers_of_a_replica_that_polls_rarely(b: Backend) {
    let stub = Stub::start(StubConfig::new().reply("Ticket handled")).await;
    // The replica taking the submission runs no units; the other looks for them once a minute.
    let server = TestServer::on_with(b, config()).await;
    let sleepy = WorkerSettings { slots: 4, poll: Duration::from_secs(60), ..WorkerSettings::default() };
    let master_key = server.state.config.master_key.clone();
    let other = promptops::server::ServerConfig { workers: Some(sleepy), master_key, ..config() };
    let (_other, _stop) = server.replica_with(other).await;
    let acme = server.tenant("acme", "web").await;
    connect(&server, acme.token("admin"), &stub.handle().url()).await;
    // Let the other replica's first look for units pass.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    assert_eq!(submit(&server, acme.token("runner"), &spec(3).await, None).await.0, 201);
    let (results, done) = read_events(&server, acme.token("viewer"), 1, 0, None).await;
    assert_eq!((results.len(), done.expect("done")["status"].as_str()), (3, Some("passed")));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "woken by the announcement, not the poll: {:?}",
        started.elapsed()
    );
}

pub async fn an_uploaded_run_streams_as_it_stands_and_ends(b: Backend) {
    let server = server(b).await;
    let acme = server.tenant("acme", "web").await;
    let (status, run) =
        server.post("/api/v1/projects/web/runs", acme.token("runner"), super::runs::upload_body()).await;
    assert_eq!(status, 201, "{run}");
    let id = run["id"].as_u64().expect("id");
    let (results, done) = read_events(&server, acme.token("viewer"), id, 0, None).await;
    assert!(results.is_empty(), "an upload's results were not written by workers: no numbers to stream");
    assert_eq!(done.expect("done")["id"].as_u64(), Some(id));
    let (status, body) =
        server.post(&format!("/api/v1/projects/web/runs/{id}/cancel"), acme.token("runner"), json!({})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("run_ended")), "{body}");
}

pub async fn a_malformed_last_event_id_is_refused_naming_the_header(b: Backend) {
    let server = server(b).await;
    let acme = server.tenant("acme", "web").await;
    let (status, _) = server.post("/api/v1/projects/web/runs", acme.token("runner"), super::runs::upload_body()).await;
    assert_eq!(status, 201);
    for bad in ["abc", "-1", "18446744073709551616"] {
        let response = server
            .client
            .get(format!("{}/api/v1/projects/web/runs/1/events", server.base))
            .bearer_auth(acme.token("viewer"))
            .header("Last-Event-ID", bad)
            .send()
            .await
            .expect("send");
        assert_eq!(response.status().as_u16(), 400, "{bad}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"]["path"].as_str(), Some("Last-Event-ID"), "{bad}: {body}");
    }
}
