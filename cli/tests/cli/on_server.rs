//! `eval --on-server` against a real `promptops serve`: a suite runs on the server's workers
//! through its provider connection (the key lives only there) and reports as a local run of the
//! same suite does; `runs watch` re-attaches to a finished run; a suite the server cannot run
//! as planned is refused before anything is queued.

use promptops_test_support::stub::{Stub, StubConfig};

use crate::eval_run::examples;
use crate::remote::{Server, TOKEN, request};
use crate::support::{Project, Run, command};

/// The example project with remote `prod` and provider `stubbed` on the stub (no key here).
fn project_on(server: &Server, stub_url: &str) -> Project {
    let project = examples();
    let config = project.read("promptops.yaml").replace(
        "  - id: echo\n",
        &format!(
            "  - id: stubbed\n    kind: openai\n    model: gpt-4o-mini\n    base_url: {stub_url}/v1\n  - id: echo\n"
        ),
    );
    project.write("promptops.yaml", &config);
    let added = command(&project.root).args(["remote", "add", "prod", &server.url, "--project-id", "web"]).output();
    assert!(added.expect("run").status.success());
    project
}

/// The server's connection `stubbed`: the same model and endpoint, with the only key.
fn connect(server: &Server, stub_url: &str) {
    let addr = server.url.trim_start_matches("http://");
    let body = serde_json::json!({
        "connection": {"id": "stubbed", "kind": "openai", "model": "gpt-4o-mini", "base_url": format!("{stub_url}/v1")},
        "api_key": "sk-only-on-the-server",
    });
    assert_eq!(request(addr, "POST", "/api/v1/projects/web/providers", &body.to_string()), 201);
}

fn promptops(project: &Project, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = command(&project.root);
    cmd.env("PROMPTOPS_KEYRING", "none").env("PROMPTOPS_TOKEN", TOKEN).env_remove("OPENAI_API_KEY");
    cmd.envs(env.iter().copied());
    Run::from(cmd.args(args).output().expect("run promptops"))
}

/// A JUnit report without what differs between two runs of the same cases: times.
fn junit_without_times(text: &str) -> String {
    let times = regex::Regex::new(r#" (time|timestamp)="[^"]*""#).expect("regex");
    times.replace_all(text, "").into_owned()
}

fn stub() -> promptops_test_support::stub::BlockingStub {
    Stub::start_blocking(
        StubConfig::new()
            .when_contains("charged twice", r#"{"category": "billing", "urgency": "high"}"#)
            .reply(r#"{"category": "other", "urgency": "low"}"#),
    )
}

#[test]
fn a_suite_run_on_the_server_reports_and_exits_as_a_local_run() {
    let stub = stub();
    let server = Server::start_with(&[("PROMPTOPS_ALLOW_PROVIDER_HOSTS", "127.0.0.1")]);
    connect(&server, &stub.url());
    let project = project_on(&server, &stub.url());
    let args = ["eval", "support-triage", "--provider", "stubbed"];

    let local = promptops(&project, &[&args[..], &["-o", "local.xml"]].concat(), &[("OPENAI_API_KEY", "sk-local")]);
    assert_eq!(local.code, 1, "2 of 9 pass: below the threshold\n{}", local.snapshot());
    let without_key = promptops(&project, &args, &[]);
    assert_ne!(without_key.code, 0, "no key here: a local run cannot call the model");

    let on_server =
        promptops(&project, &[&args[..], &["--remote", "prod", "--on-server", "-o", "server.xml"]].concat(), &[]);
    assert_eq!(on_server.code, local.code, "{}", on_server.snapshot());
    assert!(
        on_server.stderr.contains("queued support-triage as run 1 on remote `prod` (9 result(s))"),
        "{}",
        on_server.stderr
    );
    assert_eq!(
        junit_without_times(&project.read("server.xml")),
        junit_without_times(&project.read("local.xml")),
        "the same cases, outputs and verdicts"
    );
    let elapsed = regex::Regex::new(r" · [\d.]+m?s$").expect("regex");
    let summary = |run: &Run| {
        let lines = run.stdout.lines().filter(|l| l.contains("passed"));
        lines.map(|l| elapsed.replace(l, "").into_owned()).collect::<Vec<_>>()
    };
    assert_eq!(summary(&on_server), summary(&local), "{}", on_server.stdout);
    let server_calls = stub.requests_to("/v1/chat/completions");
    assert_eq!(server_calls.len(), 18, "9 calls from here, 9 from the server's workers");
    let keys: Vec<&str> = server_calls.iter().filter_map(|r| r.header("authorization")).collect();
    assert_eq!(keys.iter().filter(|k| k.contains("sk-only-on-the-server")).count(), 9, "{keys:?}");

    let watched = promptops(&project, &["runs", "watch", "1", "--remote", "prod", "--format", "junit"], &[]);
    assert_eq!(watched.code, 1, "{}", watched.snapshot());
    assert_eq!(junit_without_times(&watched.stdout), junit_without_times(&project.read("server.xml")));
}

#[test]
fn a_suite_whose_provider_the_server_lacks_is_refused_before_anything_runs() {
    let stub = stub();
    let server = Server::start_with(&[("PROMPTOPS_ALLOW_PROVIDER_HOSTS", "127.0.0.1")]);
    let project = project_on(&server, &stub.url());
    let refused = promptops(
        &project,
        &["eval", "support-triage", "--provider", "stubbed", "--remote", "prod", "--on-server"],
        &[],
    );
    let stderr = refused.fails_with(2);
    assert!(stderr.contains("problem(s) found planning the suite on the server"), "{stderr}");
    assert!(stderr.contains("provider `stubbed` is not a connection of this project on the server"), "{stderr}");
    assert!(stderr.contains("hint: the server's connections: none"), "{stderr}");
    assert_eq!(stub.request_count(), 0);
}

#[test]
fn a_key_the_provider_refuses_stops_the_server_run_with_one_error_and_exit_3() {
    let stub = Stub::start_blocking(
        StubConfig::new()
            .reply(r#"{"category": "other", "urgency": "low"}"#)
            .require_api_key("sk-right")
            .latency(std::time::Duration::from_millis(50)),
    );
    let server = Server::start_with(&[("PROMPTOPS_ALLOW_PROVIDER_HOSTS", "127.0.0.1"), ("PROMPTOPS_WORKERS", "1")]);
    connect(&server, &stub.url());
    let project = project_on(&server, &stub.url());
    let args = ["eval", "support-triage", "--provider", "stubbed", "--remote", "prod", "--on-server"];
    let stopped = promptops(&project, &args, &[]);
    let stderr = stopped.fails_with(3);
    assert_eq!(stderr.matches("refused the API key").count(), 1, "one message, not one per case: {stderr}");
    assert!(
        stderr.contains("error: run 1 stopped on remote `prod`: provider `stubbed` refused the API key"),
        "{stderr}"
    );
    assert!(stderr.contains("`promptops eval show 1 --remote prod`"), "{stderr}");
    let calls = stub.requests_to("/v1/chat/completions").len();
    assert!(calls <= 3, "{calls} of 9 calls: only those in flight when the first was refused");
    let listed = promptops(&project, &["eval", "list", "--remote", "prod"], &[]);
    assert!(listed.ok().contains("cancelled"), "the run ended, its results kept: {}", listed.stdout);
}

#[test]
fn on_server_without_a_remote_is_a_usage_error() {
    let project = examples();
    let refused = promptops(&project, &["eval", "support-triage", "--on-server"], &[]);
    assert!(refused.fails_with(2).contains("--on-server needs a remote"), "{}", refused.stderr);
    let ab = promptops(&project, &["ab", "+offline", "+offline-lite", "--suite", "support-triage", "--on-server"], &[]);
    assert!(ab.fails_with(2).contains("--on-server needs a remote"), "{}", ab.stderr);
}

/// Mock providers `right` (repeats the word) and `wrong` (answers `nope` for words ending in 0
/// or 5), here and as the server's connections.
const AB_PROVIDERS: &str = r#"[
  {"id": "right", "kind": "mock", "default": "{{ last_user }}"},
  {"id": "wrong", "kind": "mock", "rules": [{"match": {"regex": "word\\d*[05]$"}, "reply": "nope"}], "default": "{{ last_user }}"}
]"#;

fn ab_project(server: &Server) -> Project {
    let project = crate::ab::project(40);
    let providers: Vec<serde_json::Value> = serde_json::from_str(AB_PROVIDERS).expect("json");
    let listed: String = providers.iter().map(|p| format!("  - {p}\n")).collect();
    project
        .write("promptops.yaml", &format!("name: ab-on-server\nproviders:\n{listed}defaults: {{ provider: right }}\n"));
    let addr = server.url.trim_start_matches("http://");
    for connection in providers {
        let body = serde_json::json!({ "connection": connection }).to_string();
        assert_eq!(request(addr, "POST", "/api/v1/projects/web/providers", &body), 201);
    }
    let added = command(&project.root).args(["remote", "add", "prod", &server.url, "--project-id", "web"]).output();
    assert!(added.expect("run").status.success());
    project
}

#[test]
fn an_ab_comparison_run_on_the_server_decides_as_a_local_one() {
    let server = Server::start();
    let project = ab_project(&server);
    let args = ["ab", "+right", "+wrong", "--suite", "words", "--format", "json", "--non-inferiority", "0.01"];

    let local = promptops(&project, &args, &[]);
    let on_server = promptops(&project, &[&args[..], &["--remote", "prod", "--on-server"]].concat(), &[]);
    assert_eq!(local.code, 1, "8 of 40 worse: not non-inferior\n{}", local.snapshot());
    assert_eq!(on_server.code, local.code, "{}", on_server.snapshot());
    for (n, arm) in [(1, "+right"), (2, "+wrong")] {
        let queued = format!("queued words as run {n} on remote `prod` (40 result(s))");
        assert!(on_server.stderr.contains(&queued), "arm {arm}: {}", on_server.stderr);
    }
    let (here, there) = (comparable(&local), comparable(&on_server));
    assert_eq!(there, here, "the same numbers, to the last digit, but for measured latency");

    let shown = promptops(&project, &["ab", "show", "latest", "--remote", "prod", "--format", "json"], &[]);
    let record: serde_json::Value = serde_json::from_str(shown.ok()).expect("json");
    let runs: Vec<_> = record["arms"].as_array().expect("arms").iter().map(|a| a["run"].clone()).collect();
    assert_eq!(runs, vec![serde_json::json!(1), serde_json::json!(2)], "arms name the server's runs");
    let listed = promptops(&project, &["eval", "list", "--remote", "prod"], &[]);
    assert_eq!(listed.ok().matches("words").count(), 2, "{}", listed.stdout);
}

/// `ab --format json`'s analysis without what is measured rather than answered: latency, and
/// the secondary metrics' adjusted p-values and sentences, which latency's p-value shifts.
fn comparable(run: &Run) -> serde_json::Value {
    let mut analysis = serde_json::from_str::<serde_json::Value>(&run.stdout).expect("json")["analysis"].clone();
    for comparison in analysis["comparisons"].as_array_mut().expect("comparisons") {
        let primary = comparison["verdicts"][0].clone();
        comparison["verdicts"] = primary;
        let metrics = comparison["metrics"].as_array_mut().expect("metrics");
        metrics.retain(|m| m["metric"]["kind"] != "latency");
        for secondary in metrics.iter_mut().skip(1) {
            secondary.as_object_mut().expect("metric").remove("adjusted_p");
        }
    }
    analysis
}

#[test]
fn an_arm_naming_another_prompt_runs_that_prompt_on_the_server() {
    let server = Server::start();
    let project = ab_project(&server);
    project.write(
        "prompts/echo/shout.yaml",
        &project.read("prompts/echo/word.yaml").replace("Say {{ word }}", "SAY {{ word }}"),
    );
    let args =
        ["ab", "echo/word", "echo/shout", "--suite", "words", "--format", "json", "--remote", "prod", "--on-server"];
    let compared = promptops(&project, &args, &[]);
    let doc: serde_json::Value = serde_json::from_str(compared.ok()).expect("json");
    let labels: Vec<_> = doc["analysis"]["arms"].as_array().expect("arms").iter().map(|a| a["label"].clone()).collect();
    assert_eq!(labels, ["echo/word · right", "echo/shout · right"], "{doc}");
    let shown = promptops(&project, &["eval", "show", "2", "--remote", "prod", "--format", "json"], &[]);
    assert!(shown.ok().contains("SAY word1"), "the server ran the arm's prompt: {}", shown.stdout);
}

#[test]
fn an_ab_on_the_server_refuses_what_would_call_models_here() {
    let server = Server::start();
    let project = ab_project(&server);
    let base = ["ab", "+right", "+wrong", "--suite", "words", "--remote", "prod", "--on-server"];
    for extra in [&["--judge", "right"][..], &["--sequential", "--stop-early"], &["--no-cache"]] {
        let refused = promptops(&project, &[&base[..], extra].concat(), &[]);
        assert!(refused.fails_with(2).contains("cannot be used with"), "{extra:?}: {}", refused.stderr);
    }
}
