//! A/B experiments over HTTP: an experiment as `ab` records it is uploaded after its runs,
//! listed (paged, filtered by suite), shown; and hostile run and experiment uploads are refused
//! with the JSON error naming the field, writing nothing.

use promptops::ab::experiment::draft;
use promptops::ab::{ArmSample, Settings, analyse};
use promptops::store::CaseStatus;
use serde_json::{Value, json};

use super::runs::{result, upload};
use super::{Backend, TestServer};

/// An experiment of suite `suite` whose two arms are runs `runs`: the first arm passes every
/// other case, the second every case; analysed and drafted by the library as `ab` does.
pub fn experiment(suite: &str, runs: [u64; 2]) -> Value {
    let arms: Vec<ArmSample> = runs
        .iter()
        .enumerate()
        .map(|(index, run)| {
            let mut arm = ArmSample::new("p@production", if index == 0 { "weak" } else { "strong" }, Some(*run));
            for case in 0..8 {
                let pass = index == 1 || case % 2 == 0;
                arm.add(&result(case, if pass { CaseStatus::Pass } else { CaseStatus::Fail }));
            }
            arm
        })
        .collect();
    let analysis = analyse(&arms, &Settings::default()).expect("analysis");
    serde_json::to_value(draft(&analysis, suite, "ci")).expect("json")
}

/// What the RBAC and isolation walks upload (runs 1 and 2 exist in their projects).
pub fn experiment_body() -> Value {
    experiment("smoke", [1, 1])
}

const RUNS: &str = "/api/v1/projects/web/runs";
const EXPERIMENTS: &str = "/api/v1/projects/web/experiments";

pub async fn experiments_are_recorded_listed_filtered_and_shown(b: Backend) {
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    let (runner, viewer) = (acme.token("runner"), acme.token("viewer"));
    for all_pass in [false, true] {
        assert_eq!(server.post(RUNS, runner, upload(all_pass)).await.0, 201);
    }
    let (status, first) = server.post(EXPERIMENTS, runner, experiment("smoke", [1, 2])).await;
    assert_eq!((status, first["id"].as_u64()), (201, Some(1)), "the server numbers experiments: {first}");
    assert_eq!(first["arms"][1]["run"], 2);
    let (status, second) = server.post(EXPERIMENTS, runner, experiment("other", [2, 1])).await;
    assert_eq!((status, second["id"].as_u64()), (201, Some(2)), "{second}");

    let (_, page) = server.get(&format!("{EXPERIMENTS}?limit=1"), viewer).await;
    assert_eq!(page["items"][0]["id"], 2, "newest first: {page}");
    let cursor = page["next_cursor"].as_str().expect("a second page");
    let (_, older) = server.get(&format!("{EXPERIMENTS}?limit=1&cursor={cursor}"), viewer).await;
    assert_eq!((older["items"][0]["id"].as_u64(), older["next_cursor"].is_null()), (Some(1), true));
    let (_, smoke) = server.get(&format!("{EXPERIMENTS}?suite=smoke"), viewer).await;
    let ids: Vec<_> = smoke["items"].as_array().expect("items").iter().map(|e| e["id"].clone()).collect();
    assert_eq!(ids, vec![json!(1)], "{smoke}");

    let (status, shown) = server.get(&format!("{EXPERIMENTS}/1"), viewer).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown, first, "shown as recorded");
    // Floats may lose their last digit in a JSON round trip; the verdicts are text.
    let verdicts = |e: &Value| e["analysis"]["comparisons"][0]["verdicts"].clone();
    assert_eq!(verdicts(&shown), verdicts(&experiment("smoke", [1, 2])), "the analysis travels whole");
    assert!(verdicts(&shown).as_array().is_some_and(|v| !v.is_empty()), "{shown}");
    let (_, latest) = server.get(&format!("{EXPERIMENTS}/latest"), viewer).await;
    assert_eq!(latest["id"], 2);
    let (status, missing) = server.get(&format!("{EXPERIMENTS}/9"), viewer).await;
    assert_eq!((status, missing["error"]["code"].as_str()), (404, Some("unknown_experiment")), "{missing}");
    for reference in ["yesterday", "18446744073709551615", "9223372036854775808"] {
        let (status, bad) = server.get(&format!("{EXPERIMENTS}/{reference}"), viewer).await;
        assert_eq!((status, bad["error"]["code"].as_str()), (400, Some("invalid_parameter")), "{reference}: {bad}");
        let (status, bad) = server.get(&format!("{RUNS}/{reference}"), viewer).await;
        assert_eq!((status, bad["error"]["code"].as_str()), (400, Some("invalid_parameter")), "{reference}: {bad}");
    }
    let (status, bad) = server.get(&format!("{EXPERIMENTS}?cursor=%25%25"), viewer).await;
    assert_eq!((status, bad["error"]["code"].as_str()), (400, Some("invalid_cursor")), "{bad}");

    let (_, log) = server.get("/api/v1/projects/web/audit?action=experiments", acme.token("admin")).await;
    let entries = log["items"].as_array().expect("audit items");
    assert_eq!(entries.len(), 2, "every upload is audited: {log}");
    assert!(entries.iter().all(|e| e["actor"] == "acme-runner" && e["status"] == 201), "{log}");
}

/// An edit that spoils a good body, the error code expected and the path it must name.
type BadBody = (fn(&mut Value), &'static str, &'static str);

/// Sends `body` and expects a 400 with `code` naming `path`.
async fn refused(server: &TestServer, token: &str, path: &str, body: Value, code: &str, at: &str) {
    let (status, err) = server.post(path, token, body).await;
    assert_eq!(
        (status, err["error"]["code"].as_str(), err["error"]["path"].as_str()),
        (400, Some(code), Some(at)),
        "{path}: {err}"
    );
    assert!(err["error"]["message"].is_string() && err["error"]["hint"].is_string(), "{err}");
}

pub async fn hostile_uploads_are_refused_with_the_path_and_write_nothing(b: Backend) {
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    let runner = acme.token("runner");
    let with = |edit: fn(&mut Value)| {
        let mut body = upload(true);
        edit(&mut body);
        body
    };
    let cases: [BadBody; 11] = [
        (|b| b["results"][1]["unit"]["target"] = json!(7), "invalid_run", "results[1].unit.target"),
        (|b| b["results"][2]["unit"]["provider"] = json!(1), "invalid_run", "results[2].unit.provider"),
        (|b| b["results"][2]["unit"] = b["results"][0]["unit"].clone(), "invalid_run", "results[2].unit"),
        (|b| b["run"]["total"] = json!(2), "invalid_run", "results"),
        (|b| b["results"][1]["case_name"] = json!("a\u{0}b"), "invalid_run", "results[1].case_name"),
        (|b| b["results"][0]["vars"] = json!({"k": ["x", "\u{0}"]}), "invalid_run", "results[0].vars.k[1]"),
        (|b| b["run"]["threshold"] = json!(2.5), "invalid_run", "run.threshold"),
        (|b| b["run"]["total"] = json!(u64::MAX), "invalid_run", "run.total"),
        (|b| b["results"][2]["input_tokens"] = json!(1u64 << 62), "invalid_run", "results[2].input_tokens"),
        (|b| b["results"][0]["cost"] = json!(-5), "invalid_run", "results[0].cost"),
        (|b| b["results"][0]["status"] = json!("maybe"), "invalid_json", "results[0].status"),
    ];
    for (edit, code, at) in cases {
        refused(&server, runner, RUNS, with(edit), code, at).await;
    }
    let (_, runs) = server.get(RUNS, runner).await;
    assert_eq!(runs["items"], json!([]), "no refused upload left a run behind: {runs}");

    assert_eq!(server.post(RUNS, runner, upload(true)).await.0, 201);
    let edit = |edit: fn(&mut Value)| {
        let mut body = experiment("smoke", [1, 1]);
        edit(&mut body);
        body
    };
    let cases: [BadBody; 8] = [
        (|b| b["arms"][1]["run"] = json!(42), "invalid_experiment", "arms[1].run"),
        (|b| b["arms"][0]["run"] = json!(u64::MAX), "invalid_experiment", "arms[0].run"),
        (|b| b["analysis"] = json!({"arms": "none"}), "invalid_experiment", "analysis"),
        (|b| b["analysis"] = json!([1, 2]), "invalid_experiment", "analysis"),
        (|b| b["arms"][1]["letter"] = json!("A"), "invalid_experiment", "arms[1].letter"),
        (|b| b["alpha"] = json!(0), "invalid_experiment", "alpha"),
        (|b| b["summary"] = json!("fine\u{0}"), "invalid_experiment", "summary"),
        (|b| b["arms"][0]["run"] = json!("one"), "invalid_json", "arms[0].run"),
    ];
    for (change, code, at) in cases {
        refused(&server, runner, EXPERIMENTS, edit(change), code, at).await;
    }
    let mut one_arm = experiment("smoke", [1, 1]);
    one_arm["arms"].as_array_mut().expect("arms").truncate(1);
    refused(&server, runner, EXPERIMENTS, one_arm, "invalid_experiment", "arms").await;
    let (_, experiments) = server.get(EXPERIMENTS, runner).await;
    assert_eq!(experiments["items"], json!([]), "nothing was recorded: {experiments}");
}
