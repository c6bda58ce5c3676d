//! Eval runs over HTTP: a run as the CLI stores it is uploaded, listed, shown, its results paged,
//! and two runs compared.

use chrono::Utc;
use promptops::money::Micros;
use promptops::store::{CaseStatus, ResultRecord, RunDraft, RunRecord, RunStatus, RunTarget, RunTotals, UnitKey};
use serde_json::{Value, json};

use super::{Backend, TestServer};

pub fn result(case: u32, status: CaseStatus) -> ResultRecord {
    ResultRecord {
        unit: UnitKey { target: 0, provider: 0, case, repeat: 0 },
        case_name: format!("case {case}"),
        case_key: format!("k{case}"),
        location: None,
        vars: json!({"n": case}),
        tags: Vec::new(),
        status,
        score: if status == CaseStatus::Pass { 1.0 } else { 0.0 },
        output: Some("answer".to_owned()),
        error: None,
        assertions: Vec::new(),
        latency_ms: 12,
        duration_ms: 15,
        input_tokens: 10,
        output_tokens: 5,
        cost: Micros(7),
        cached: false,
    }
}

/// A finished run of three cases, the second failing unless `all_pass`.
pub fn upload(all_pass: bool) -> Value {
    let draft = RunDraft {
        suite: "smoke".to_owned(),
        suite_path: "eval-suites/smoke.yaml".to_owned(),
        description: None,
        plan_hash: "abc".to_owned(),
        targets: vec![RunTarget {
            reference: "p@production".into(),
            name: "p".into(),
            version: Some(1),
            hash: "h".into(),
        }],
        providers: vec!["openai:gpt-4o".to_owned()],
        threshold: 0.5,
        total: 3,
        git_commit: None,
        git_dirty: false,
        actor: "ci".to_owned(),
    };
    let run = RunRecord {
        id: 99,
        draft,
        status: RunStatus::Passed,
        started_at: Utc::now(),
        finished_at: Some(Utc::now()),
        totals: RunTotals::default(),
        owner: None,
    };
    let middle = if all_pass { CaseStatus::Pass } else { CaseStatus::Fail };
    let results = vec![result(0, CaseStatus::Pass), result(1, middle), result(2, CaseStatus::Pass)];
    json!({"run": run, "results": results})
}

/// What the RBAC and isolation walks upload.
pub fn upload_body() -> Value {
    upload(true)
}

pub async fn runs_are_uploaded_listed_shown_paged_and_compared(b: Backend) {
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    let runner = acme.token("runner");
    let (status, first) = server.post("/api/v1/projects/web/runs", runner, upload(false)).await;
    assert_eq!((status, first["id"].as_u64()), (201, Some(1)), "the server numbers runs: {first}");
    assert_eq!(first["totals"]["failed"], 1);
    let (_, second) = server.post("/api/v1/projects/web/runs", runner, upload(true)).await;
    assert_eq!(second["id"], 2);

    let (_, page) = server.get("/api/v1/projects/web/runs?limit=1", acme.token("viewer")).await;
    assert_eq!(page["items"][0]["id"], 2, "newest first");
    let cursor = page["next_cursor"].as_str().expect("a second page");
    let (_, older) =
        server.get(&format!("/api/v1/projects/web/runs?limit=1&cursor={cursor}"), acme.token("viewer")).await;
    assert_eq!((older["items"][0]["id"].as_u64(), older["next_cursor"].is_null()), (Some(1), true));

    let (status, report) = server.get("/api/v1/projects/web/runs/latest", acme.token("viewer")).await;
    assert_eq!(status, 200, "{report}");
    let (_, results) = server.get("/api/v1/projects/web/runs/1/results?limit=2", acme.token("viewer")).await;
    assert_eq!(results["items"].as_array().map(Vec::len), Some(2));
    let cursor = results["next_cursor"].as_str().expect("more");
    let (_, rest) =
        server.get(&format!("/api/v1/projects/web/runs/1/results?limit=2&cursor={cursor}"), acme.token("viewer")).await;
    assert_eq!(rest["items"][0]["case_key"], "k2");
    let (_, problems) =
        server.get("/api/v1/projects/web/runs/1/results?problems_only=true", acme.token("viewer")).await;
    assert_eq!(problems["items"].as_array().map(Vec::len), Some(1));

    let (status, comparison) =
        server.get("/api/v1/projects/web/runs/compare?before=1&after=2", acme.token("viewer")).await;
    assert_eq!(status, 200, "{comparison}");
    let (status, missing) = server.get("/api/v1/projects/web/runs/7", acme.token("viewer")).await;
    assert_eq!((status, missing["error"]["code"].as_str()), (404, Some("unknown_run")));

    let metrics = server.metrics().await;
    assert!(metrics.contains("promptops_runs_uploaded_total 2"), "{metrics}");
    assert!(
        metrics.contains(r#"promptops_provider_tokens_total{provider="openai",model="gpt-4o",kind="input"} 60"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"promptops_provider_cost_microdollars_total{provider="openai",model="gpt-4o"} 42"#));
}
