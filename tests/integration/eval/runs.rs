//! Running plans: results in the store, verdicts, errors apart from failures, interruption and
//! resume without losing or repeating anything, and runs filled batch by batch.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use promptops::eval::{Cancel, Plan, Progress, RunSettings, Runner};
use promptops::store::{CaseStatus, ResultQuery, RunStatus, SqliteStore, Store};

use super::{Fake, TempProject};
use crate::store_conformance::scope;

const SUITE: &str = r#"targets: [support/triage]
providers: [offline, broken]
threshold: 0.5
defaults:
  assert: [{ type: is-json }]
tests:
  - name: double charge
    vars: { ticket: "I was charged twice" }
    assert:
      - { type: json-path, path: $.category, equals: billing }
  - name: password
    vars: { ticket: "forgot my password" }
    assert:
      - { type: json-path, path: $.category, equals: billing }
  - name: polite
    vars: { ticket: "refund please" }
    assert:
      - { type: llm-rubric, value: "is polite", provider: grader }
  - name: grader garbage
    vars: { ticket: "refund please" }
    assert:
      - { type: llm-rubric, value: "is polite", provider: garbage }
"#;

fn settings(concurrency: usize) -> RunSettings {
    RunSettings { concurrency, actor: "tester".into(), git: None, on_progress: None, cancel: Cancel::default() }
}

async fn store(project: &TempProject) -> Arc<dyn Store> {
    Arc::new(SqliteStore::open(project.path(".promptops/promptops.db")).await.expect("store"))
}

/// `SUITE` planned in `project` against a fresh fake backend, with its store and a runner.
async fn triage(project: &TempProject) -> (Arc<Plan>, Arc<dyn Store>, Runner) {
    let suite = project.suite("triage", SUITE);
    let fake = Arc::new(Fake::new());
    let plan = Arc::new(project.plan(&suite, &fake).await.expect("plans"));
    let store = store(project).await;
    let runner = Runner::new(Arc::clone(&store), scope("local", "default"), fake);
    (plan, store, runner)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_are_stored_with_errors_apart_from_failures() {
    let project = TempProject::new();
    let (plan, store, runner) = triage(&project).await;
    assert_eq!(plan.total(), 8);
    let run = runner.run(Arc::clone(&plan), &settings(4)).await.expect("runs");
    assert_eq!(run.id, 1);
    // offline: 2 pass (double charge, polite), 1 fail (password), 1 error (garbage grader);
    // broken: 4 provider errors.
    assert_eq!((run.totals.passed, run.totals.failed, run.totals.errors), (2, 1, 5));
    assert_eq!(run.status, RunStatus::Failed);
    let results = store.results(&scope("local", "default"), run.id, ResultQuery::default()).await.expect("results");
    assert_eq!(results.len(), 8);
    let garbage =
        results.iter().find(|r| r.case_name == "grader garbage" && r.unit.provider == 0).expect("garbage case");
    assert_eq!(garbage.status, CaseStatus::Error);
    assert!(
        garbage.error.as_deref().is_some_and(|e| e.contains("grader `garbage` answered something that is not")),
        "{garbage:?}"
    );
    let broken = results.iter().find(|r| r.unit.provider == 1).expect("broken");
    assert_eq!(broken.error.as_deref(), Some("provider `broken` answered HTTP 500: boom"));
    let failed = results.iter().find(|r| r.case_name == "password" && r.unit.provider == 0).expect("failure");
    assert_eq!(failed.assertions[1].reason, "$.category: expected `billing`, got \"account\"");
    let problems = store
        .results(&scope("local", "default"), run.id, ResultQuery { problems_only: true, ..ResultQuery::default() })
        .await
        .expect("problems");
    assert_eq!(problems.len(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_run_keeps_what_finished_and_resumes() {
    let project = TempProject::new();
    let rows: String = (0..60).map(|i| format!("refund {i}\n")).collect();
    project.write("eval-suites/data/t.csv", &format!("ticket\n{rows}"));
    let suite = project.suite("many", "targets: [support/triage]\nproviders: [offline]\ntests:\n  - dataset: data/t.csv\n    assert: [{ type: contains, value: billing }]\n");
    let mut slow = Fake::new();
    slow.delay = Duration::from_millis(5);
    let fake = Arc::new(slow);
    let plan = Arc::new(project.plan(&suite, &fake).await.expect("plans"));
    let store = store(&project).await;
    let runner = Runner::new(Arc::clone(&store), scope("local", "default"), Arc::clone(&fake) as _);
    let mut first = settings(4);
    let cancel = first.cancel.clone();
    first.on_progress = Some(Arc::new(move |p: &Progress| {
        if p.totals.done == 10 {
            cancel.cancel();
        }
    }));
    let run = runner.run(Arc::clone(&plan), &first).await.expect("runs");
    assert_eq!(run.status, RunStatus::Interrupted);
    let kept = run.totals.done;
    assert!((10..=14).contains(&kept), "in-flight cases finish: {kept}");
    assert_eq!(store.done_units(&scope("local", "default"), run.id).await.expect("units").len() as u64, kept);
    let calls_before = fake.calls.load(Ordering::SeqCst);
    let resumed = runner.resume(Arc::clone(&plan), run, &settings(4)).await.expect("resumes");
    assert_eq!(resumed.status, RunStatus::Passed);
    assert_eq!(resumed.totals.done, 60);
    assert_eq!(fake.calls.load(Ordering::SeqCst) - calls_before, 60 - kept, "finished cases are not run again");
    let again = runner.resume(plan, resumed, &settings(4)).await.expect_err("finished");
    assert_eq!(again.to_string(), "run 1 has already finished (passed)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_key_stops_the_run_at_once_with_one_error_and_no_error_results() {
    let project = TempProject::new();
    let rows: String = (0..60).map(|i| format!("refund {i}\n")).collect();
    project.write("eval-suites/data/t.csv", &format!("ticket\n{rows}"));
    let suite = project.suite("revoked", "targets: [support/triage]\nproviders: [revoked]\ntests:\n  - dataset: data/t.csv\n    assert: [{ type: contains, value: billing }]\n");
    let fake = Arc::new(Fake::new());
    let plan = Arc::new(project.plan(&suite, &fake).await.expect("plans"));
    let store = store(&project).await;
    let runner = Runner::new(Arc::clone(&store), scope("local", "default"), Arc::clone(&fake) as _);
    let err = runner.run(plan, &settings(4)).await.expect_err("stops");
    assert_eq!(err.to_string(), "run 1 stopped: provider `revoked` refused the API key (HTTP 401): invalid key");
    assert_eq!(promptops::error::Diagnostic::class(&err), promptops::error::ErrorClass::Upstream);
    let hints = promptops::error::Diagnostic::hints(&err);
    assert_eq!(hints, ["set a valid key", "then `promptops eval --resume 1` evaluates the cases that are left"]);
    let calls = fake.calls.load(Ordering::SeqCst);
    assert!(calls <= 8, "{calls} calls: only the cases already in flight");
    let run = store.run(&scope("local", "default"), 1).await.expect("run").expect("stored");
    assert_eq!((run.status, run.totals.done), (RunStatus::Interrupted, 0), "no error result to resume past");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_filled_case_by_case_stays_interrupted_until_every_case_ran() {
    let project = TempProject::new();
    let (plan, store, runner) = triage(&project).await;
    let run = runner.start(&plan, &settings(4)).await.expect("starts");
    assert_eq!(run.totals.done, 0);
    // Cases 2 and 0, each under both providers.
    let run = runner.run_cases(Arc::clone(&plan), run, &[2, 0], &settings(4)).await.expect("runs a batch");
    assert_eq!((run.status, run.totals.done), (RunStatus::Interrupted, 4));
    let mut cases: Vec<u32> =
        store.done_units(&scope("local", "default"), run.id).await.expect("units").iter().map(|u| u.case).collect();
    cases.sort_unstable();
    assert_eq!(cases, vec![0, 0, 2, 2]);
    // The rest; an index past the plan's cases is ignored rather than evaluated.
    let run = runner.run_cases(plan, run, &[1, 3, 9], &settings(4)).await.expect("runs the rest");
    assert_eq!((run.status, run.totals.done), (RunStatus::Failed, 8), "the same verdict as one whole run");
    assert_eq!((run.totals.passed, run.totals.failed, run.totals.errors), (2, 1, 5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_suite_cannot_be_resumed() {
    let project = TempProject::new();
    let text = "targets: [support/triage]\ntests:\n  - vars: { ticket: refund }\n";
    let suite = project.suite("s", text);
    let fake = Arc::new(Fake::new());
    let plan = Arc::new(project.plan(&suite, &fake).await.expect("plans"));
    let store = store(&project).await;
    let runner = Runner::new(Arc::clone(&store), scope("local", "default"), fake.clone());
    let first = settings(1);
    first.cancel.cancel();
    let run = runner.run(plan, &first).await.expect("runs");
    assert_eq!((run.status, run.totals.done), (RunStatus::Interrupted, 0));
    let changed = project.suite("s", &format!("{text}  - vars: {{ ticket: other }}\n"));
    let plan = Arc::new(project.plan(&changed, &fake).await.expect("plans"));
    let err = runner.resume(plan, run, &settings(1)).await.expect_err("changed");
    assert_eq!(
        err.to_string(),
        "run 1 of suite `s` cannot be resumed: it was planned with 1 result and would now make 2 results"
    );
    let hints = promptops::error::Diagnostic::hints(&err);
    assert!(hints[0].contains("`--repeat`, `--tag` and `--filter`"), "a case count points at the flags: {hints:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeats_and_the_provider_matrix_give_one_result_per_unit() {
    let project = TempProject::new();
    let suite = project.suite(
        "matrix",
        "targets: [support/triage]\nproviders: [offline, other]\nrepeat: 3\ntests:\n  - vars: { ticket: refund }\n  - vars: { ticket: password }\n",
    );
    let fake = Arc::new(Fake::new());
    let plan = Arc::new(project.plan(&suite, &fake).await.expect("plans"));
    assert_eq!(plan.total(), 12);
    let units: std::collections::HashSet<_> = (0..plan.total()).map(|i| plan.unit(i)).collect();
    assert_eq!(units.len(), 12, "every unit is distinct");
    let store = store(&project).await;
    let runner = Runner::new(Arc::clone(&store), scope("local", "default"), fake.clone());
    let run = runner.run(plan, &settings(3)).await.expect("runs");
    assert_eq!((run.totals.done, run.status), (12, RunStatus::Passed));
    let results = store.results(&scope("local", "default"), run.id, ResultQuery::default()).await.expect("results");
    let repeats: std::collections::BTreeSet<u32> = results.iter().map(|r| r.unit.repeat).collect();
    assert_eq!(repeats.into_iter().collect::<Vec<_>>(), vec![0, 1, 2]);
    assert_eq!(fake.calls.load(Ordering::SeqCst), 12);
}

/// The report built from the runner's stream (results in any order, concurrency 8) is the one
/// read back from the store: same groups, problems in plan order, the final status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_streamed_report_is_the_stored_report() {
    let project = TempProject::new();
    let (plan, store, runner) = triage(&project).await;
    let streamed = runner.run_with_report(Arc::clone(&plan), &settings(8)).await.expect("runs");
    let stored =
        promptops::eval::report::build(&store, &scope("local", "default"), streamed.run.clone()).await.expect("report");
    assert_eq!(streamed.run.status, RunStatus::Failed);
    assert_eq!(streamed.problems.len(), 6, "1 failure and 5 errors");
    assert_eq!(streamed, stored);
}
