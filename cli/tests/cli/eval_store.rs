//! `promptops eval` when the store or the process lets it down: writes that fail part-way
//! through a run are reported with what was lost and a non-zero exit; a run whose process was
//! killed shows as interrupted, and only one process resumes it.

use std::process::{Child, Stdio};
use std::time::Duration;

use promptops_test_support::stub::{Stub, StubConfig};

use crate::eval_run::examples;
use crate::support::{Project, Run, command};

/// The example project with a suite `slow` of `cases` cases on a mock provider answering after
/// `latency_ms`, two at a time.
fn slow_project(cases: usize, latency_ms: u64) -> Project {
    let slow = format!(
        "  - id: slow\n    kind: mock\n    latency_ms: {latency_ms}\n    default: '{{\"category\": \"billing\", \"urgency\": \"low\"}}'\n"
    );
    project_with(cases, &slow)
}

/// The example project with a suite `slow` of `cases` cases on the provider `slow` configured
/// by `provider` (a `providers:` entry).
fn project_with(cases: usize, provider: &str) -> Project {
    let project = examples();
    let rows: String = (0..cases).map(|i| format!("refund {i}\n")).collect();
    project.write("eval-suites/data/slow.csv", &format!("ticket\n{rows}"));
    project.write(
        "eval-suites/slow.yaml",
        "targets: [support/triage]\nproviders: [slow]\nconcurrency: 2\ntests:\n  - dataset: data/slow.csv\n    assert: [{ type: is-json }]\n",
    );
    let config = project.read("promptops.yaml").replace("  - id: echo\n", &format!("{provider}  - id: echo\n"));
    project.write("promptops.yaml", &config);
    project
}

fn spawn_eval(project: &Project, args: &[&str]) -> Child {
    command(&project.root)
        .args(args)
        .env("PROMPTOPS_KEYRING", "none")
        .env("OPENAI_API_KEY", "sk-test")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn promptops")
}

/// A connection of our own to the project's store, as another process would open it.
fn database(project: &Project) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(project.root.join(".promptops/promptops.db")).expect("open the store");
    conn.busy_timeout(Duration::from_secs(10)).expect("busy timeout");
    conn
}

fn count(conn: &rusqlite::Connection, sql: &str) -> u64 {
    conn.query_row(sql, [], |row| row.get::<_, i64>(0)).map(|n| u64::try_from(n).expect("a count")).expect("count")
}

/// Waits until the running command has written a first row to `table` (its store may not
/// exist yet), so that what follows happens mid-run however loaded the machine is.
fn wait_for_rows(project: &Project, table: &str) {
    let path = project.root.join(".promptops/promptops.db");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        if path.exists() {
            let rows =
                database(project).query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get::<_, i64>(0));
            if rows.is_ok_and(|n| n > 0) {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("no row in `{table}` after 60 s");
}

/// The store starts refusing usage rows while the run is under way (as a full disk would; a
/// trigger makes it deterministic): the results are kept, the command names how many usage
/// rows were lost, says that budgets undercount, and exits 2.
#[test]
fn usage_rows_the_store_refuses_mid_run_are_reported_and_fail_the_command() {
    let project = slow_project(40, 100);
    let child = spawn_eval(&project, &["eval", "slow"]);
    wait_for_rows(&project, "usage_events");
    database(&project)
        .execute_batch(
            "CREATE TRIGGER full_disk BEFORE INSERT ON usage_events BEGIN SELECT RAISE(FAIL, 'database or disk is full'); END;",
        )
        .expect("add the trigger");
    let run = Run::from(child.wait_with_output().expect("wait"));
    let stderr = run.fails_with(2);
    let conn = database(&project);
    let recorded = count(&conn, "SELECT COUNT(*) FROM usage_events");
    assert!(recorded > 0 && recorded < 40, "some usage rows were written before the store failed: {recorded}");
    let lost = 40 - recorded;
    assert!(stderr.contains("error: run 1 finished, but not everything its calls cost was recorded"), "{stderr}");
    assert!(
        stderr.contains(&format!("caused by: {lost} usage row(s) and 0 cache entries were not recorded")),
        "{stderr}"
    );
    assert!(stderr.contains("database or disk is full"), "the first failure is shown: {stderr}");
    assert!(stderr.contains("hint: budgets and `promptops cost` undercount the spend"), "{stderr}");
    assert!(stderr.contains("hint: its results are stored: `promptops eval show 1`"), "{stderr}");
    assert_eq!(count(&conn, "SELECT COUNT(*) FROM eval_results"), 40, "every result is kept");
}

fn listed(project: &Project) -> serde_json::Value {
    let run = Run::from(command(&project.root).args(["eval", "list", "--format", "json"]).output().expect("list"));
    serde_json::from_str(run.ok()).expect("json")
}

/// `kill -9` of the CLI mid-run against the LLM stub: the run is listed as `interrupted` with
/// the resume hint, not `running` forever; of two processes resuming it at once exactly one
/// proceeds, and the run ends with every result stored once.
#[test]
fn a_killed_run_shows_as_interrupted_and_only_one_process_resumes_it() {
    let stub = Stub::start_blocking(
        StubConfig::new().reply(r#"{"category": "billing", "urgency": "low"}"#).latency(Duration::from_millis(100)),
    );
    let provider = format!("  - id: slow\n    kind: openai\n    model: gpt-4o-mini\n    base_url: {}/v1\n", stub.url());
    let project = project_with(40, &provider);
    let mut child = spawn_eval(&project, &["eval", "slow"]);
    wait_for_rows(&project, "eval_results");
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    let runs = listed(&project);
    assert_eq!(runs[0]["status"], "interrupted", "{runs}");
    let kept = runs[0]["totals"]["done"].as_u64().expect("done");
    assert!(kept > 0 && kept < 40, "killed part-way: {kept}");
    let table = Run::from(command(&project.root).args(["eval", "list"]).output().expect("list"));
    assert!(table.ok().contains(&format!("interrupted ({kept} of 40)")), "{}", table.stdout);
    assert!(table.stderr.contains("hint: finish run 1 with `promptops eval --resume 1`"), "{}", table.stderr);
    let shown = Run::from(command(&project.root).args(["eval", "show", "1"]).output().expect("show"));
    assert!(shown.ok().contains("INTERRUPTED"), "{}", shown.stdout);
    assert!(shown.stderr.contains("hint: finish run 1 with `promptops eval --resume 1`"), "{}", shown.stderr);

    let resumers = [0, 1].map(|_| spawn_eval(&project, &["eval", "--resume", "1"]));
    let mut outcomes: Vec<Run> = resumers.into_iter().map(|c| Run::from(c.wait_with_output().expect("wait"))).collect();
    outcomes.sort_by_key(|run| run.code);
    assert_eq!(outcomes[0].code, 0, "one resumes: {}", outcomes[0].snapshot());
    let refused = outcomes[1].fails_with(2);
    assert!(refused.contains("error: run 1 is being run by another process (pid "), "{refused}");
    assert!(refused.contains("hint: wait for it to finish"), "{refused}");
    let runs = listed(&project);
    assert_eq!((runs[0]["status"].as_str(), runs[0]["totals"]["done"].as_u64()), (Some("passed"), Some(40)));
    let conn = database(&project);
    assert_eq!(count(&conn, "SELECT COUNT(*) FROM eval_results"), 40, "every unit stored once");
}
