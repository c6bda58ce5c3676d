//! `promptops eval` end to end: this repository's example project offline, reports, exit codes,
//! bad suites, provider errors, Ctrl-C and `--resume`, baselines, `--changed`, GitHub Actions,
//! and a suite on an OpenAI-compatible provider served by the LLM stub.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use promptops_test_support::stub::{Fault, Stub, StubConfig};

use crate::support::{Project, Run, command};

/// A temporary copy of this repository's example project (config, prompts, suites).
pub(crate) fn examples() -> Project {
    let project = Project::empty();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for item in ["promptops.yaml", "prompts", "eval-suites", "workflows"] {
        copy(&repo.join(item), &project.root.join(item));
    }
    project
}

fn copy(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).expect("mkdir");
        for entry in std::fs::read_dir(from).expect("read dir") {
            let entry = entry.expect("entry");
            copy(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        std::fs::copy(from, to).expect("copy");
    }
}

/// The binary with no keyring and no inherited API keys or CI variables.
fn eval(project: &Project, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = command(&project.root);
    cmd.env("PROMPTOPS_KEYRING", "none")
        .env_remove("OPENAI_API_KEY")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY");
    for (name, value) in env {
        cmd.env(name, value);
    }
    Run::from(cmd.args(args).output().expect("run promptops"))
}

/// Output with timings masked and column padding collapsed, so snapshots do not depend on speed.
fn stable(text: &str) -> String {
    let timings = regex::Regex::new(r"\b\d+(\.\d+)?(ms|s)\b").expect("regex");
    let padding = regex::Regex::new(r" {2,}").expect("regex");
    let dates = regex::Regex::new(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}").expect("regex");
    let text = timings.replace_all(text, "[T]");
    let text = dates.replace_all(&text, "[DATE]");
    padding.replace_all(&text, "  ").into_owned()
}

#[test]
fn the_example_project_passes_offline() {
    let project = examples();
    let run = eval(&project, &["eval"], &[]);
    assert_eq!(run.code, 0, "{}", run.snapshot());
    insta::assert_snapshot!(stable(&run.stdout), @r"
    essay-refine — The essay loop ends with a critic score of at least 8 within three revisions. (eval-suites/essay-refine.yaml, run 1)
      TARGET  PROVIDER  PASSED  RATE  SCORE  P50  P95  TOKENS  COST
      workflow:essay-refine  workflow  1/1  100.0%  1.00  [T]  [T]  254  $0.00
    PASSED 1/1 passed (100.0%) · threshold 100.0% · $0.00 · [T]

    extract-invoice — Invoice extraction returns typed fields that match the text. (eval-suites/extract-invoice.yaml, run 2)
      TARGET  PROVIDER  PASSED  RATE  SCORE  P50  P95  TOKENS  COST
      extract/invoice  offline  2/2  100.0%  1.00  [T]  [T]  134  $0.00
    PASSED 2/2 passed (100.0%) · threshold 100.0% · $0.00 · [T]

    summarize-article — Summaries are short and keep the article's key points. (eval-suites/summarize-article.yaml, run 3)
      TARGET  PROVIDER  PASSED  RATE  SCORE  P50  P95  TOKENS  COST
      summarize/article  offline  1/1  100.0%  1.00  [T]  [T]  98  $0.00
    PASSED 1/1 passed (100.0%) · threshold 100.0% · $0.00 · [T]

    support-reply — Replies are warm, short, signed, and mention refund timing for billing tickets. (eval-suites/support-reply.yaml, run 4)
      TARGET  PROVIDER  PASSED  RATE  SCORE  P50  P95  TOKENS  COST
      support/reply  offline  3/3  100.0%  0.99  [T]  [T]  244  $0.00
    PASSED 3/3 passed (100.0%) · threshold 100.0% · $0.00 · [T]

    support-triage — Triage puts tickets in the right category, as JSON that matches its schema. (eval-suites/support-triage.yaml, run 5)
      TARGET  PROVIDER  PASSED  RATE  SCORE  P50  P95  TOKENS  COST
      support/triage  offline  9/9  100.0%  1.00  [T]  [T]  899  $0.00
      metrics: accuracy 1.00 (support/triage · offline)
    PASSED 9/9 passed (100.0%) · threshold 100.0% · $0.00 · [T]

    vision-caption — Alt texts are one short sentence that names what is in the image. (eval-suites/vision-caption.yaml, run 6)
      TARGET  PROVIDER  PASSED  RATE  SCORE  P50  P95  TOKENS  COST
      vision/caption  offline  1/1  100.0%  1.00  [T]  [T]  791  $0.00
    PASSED 1/1 passed (100.0%) · threshold 100.0% · $0.00 · [T]

    all 6 suites passed · 17/17 cases passed · $0.00
    ");
    assert_eq!(run.stderr, "", "no progress bar off a terminal");
    let list = eval(&project, &["eval", "list", "--format", "json"], &[]);
    let runs: serde_json::Value = serde_json::from_str(list.ok()).expect("json");
    assert_eq!(runs.as_array().map(Vec::len), Some(6));
    assert_eq!(runs[0]["targets"][0]["name"], "vision/caption");
    assert_eq!(runs[0]["targets"][0]["hash"].as_str().map(str::len), Some(64), "the exact version is kept");
}

#[test]
fn failing_cases_exit_1_with_reasons_and_every_report_format() {
    let project = examples();
    let run = eval(
        &project,
        &["eval", "regressions-demo", "-o", "r.xml", "-o", "r.md", "-o", "r.html", "-o", "r.json", "-o", "r.csv"],
        &[],
    );
    assert_eq!(run.code, 1, "{}", run.snapshot());
    assert!(
        run.stdout.contains(
            "✗ fail feature request is not billing · support/triage · offline  eval-suites/regressions-demo.yaml:13"
        ),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("llm-rubric: The reply is written in English."), "{}", run.stdout);
    assert!(run.stdout.contains("! error a checker that hangs is an error, not a failure"), "{}", run.stdout);
    assert!(run.stdout.contains("script: script `sleep 5` timed out after 0.5s"), "{}", run.stdout);
    assert!(run.stdout.contains("FAILED 1/8 passed (12.5%) · threshold 80.0% · 5 failed · 2 errors"), "{}", run.stdout);
    let junit = project.read("r.xml");
    assert_eq!(junit.matches("<testcase ").count(), 8, "one testcase per case × target × provider");
    assert!(junit.contains("<testsuites name=\"promptops eval\" tests=\"8\" failures=\"5\" errors=\"2\""), "{junit}");
    assert!(project.read("r.md").starts_with("## promptops eval\n\n❌ **failed**"));
    assert!(project.read("r.html").contains("<tr class=\"case error\">"));
    let json: serde_json::Value = serde_json::from_str(&project.read("r.json")).expect("json");
    assert_eq!(json[0]["results"].as_array().map(Vec::len), Some(8));
    assert_eq!(project.read("r.csv").lines().count(), 9);
    for file in ["r.xml", "r.md", "r.html", "r.json", "r.csv"] {
        assert!(run.stderr.contains(&format!("report to {file}")), "{}", run.stderr);
    }
    let lenient = eval(&project, &["eval", "regressions-demo", "--fail-under", "10%"], &[]);
    assert_eq!(lenient.code, 0, "12.5% passes a 10% bar: {}", lenient.snapshot());
    let show = eval(&project, &["eval", "show", "latest", "--failures"], &[]);
    assert!(show.ok().contains("fail answers in five words · support/reply · offline"), "{}", show.stdout);
}

#[test]
fn every_problem_in_every_suite_is_listed_before_any_call() {
    let project = examples();
    project.write(
        "eval-suites/broken.yaml",
        "targets: [support/triag, support/triage]\nproviders: [ofline]\ntests:\n  - vars: { ticket: x }\n    assert:\n      - { type: regex, value: \"(\" }\n  - dataset: data/missing.csv\n",
    );
    project.write("eval-suites/other.yaml", "targets: [summarize/article]\ntests:\n  - vars: { artcle: x }\n");
    let run = eval(&project, &["eval", "broken", "other"], &[]);
    insta::assert_snapshot!(run.snapshot(), @r"
    exit: 2
    --- stdout
    --- stderr
    error: eval-suites/broken.yaml:1:11: prompt `support/triag` not found
    hint: did you mean `support/triage`?
    hint: prompts in this project: `essay/critique`, `essay/draft`, `essay/revise`, `extract/invoice`, `summarize/article`, `summarize/chunk`, `summarize/digest`, `support/reply`, `support/triage`, `vision/caption`
    hint: create it with `promptops prompt new support/triag`
    error: eval-suites/broken.yaml:2:13: unknown provider `ofline`
    hint: did you mean `offline`?
    hint: configured providers: `offline`, `offline-lite`, `judge`, `grader`, `echo`, `fast`, `claude`
    hint: or name one as `kind:model`, e.g. `openai:gpt-4o-mini`
    error: eval-suites/broken.yaml:7:5: dataset `eval-suites/data/missing.csv`: cannot read the dataset: No such file or directory (os error 2)
    hint: dataset paths are relative to the suite file
    error: eval-suites/broken.yaml:6:24: invalid regex `(`: error: unclosed group
    error: eval-suites/other.yaml:3:3: case `#1 artcle=x`: prompt `summarize/article` needs variable `article`
    hint: did you mean `artcle`?
    hint: the case's variables: `artcle`
    error: 5 problem(s) found in eval suites; no model was called
    ");
    assert!(
        !project.root.join(".promptops/promptops.db").exists()
            || eval(&project, &["eval", "list"], &[]).stderr.contains("no runs yet")
    );
}

#[test]
fn provider_errors_alone_exit_3_and_are_counted_apart() {
    let project = examples();
    project.write(
        "eval-suites/down.yaml",
        "targets: [support/triage]\nproviders: [down]\ntests:\n  - vars: { ticket: refund }\n  - vars: { ticket: password }\n",
    );
    let config = project.read("promptops.yaml").replace(
        "  - id: echo\n",
        "  - id: down\n    kind: openai\n    model: gpt-4o-mini\n    base_url: http://127.0.0.1:9/v1\n    limits: { max_retries: 0, timeout_s: 2 }\n  - id: echo\n",
    );
    project.write("promptops.yaml", &config);
    let run = eval(&project, &["eval", "down"], &[("OPENAI_API_KEY", "sk-test")]);
    assert_eq!(run.code, 3, "{}", run.snapshot());
    assert!(run.stdout.contains("FAILED 0/2 passed (0.0%) · threshold 100.0% · 2 errors"), "{}", run.stdout);
    assert!(run.stdout.contains("cannot reach provider `down`"), "{}", run.stdout);
}

#[test]
fn a_baseline_that_does_not_exist_is_a_usage_error() {
    let project = examples();
    let run = eval(&project, &["eval", "vision-caption", "--baseline", "41"], &[]);
    assert_eq!(run.code, 2, "{}", run.snapshot());
    assert!(run.stderr.contains("error: baseline `41` not found: there is no run 41"), "{}", run.stderr);
    let run = eval(&project, &["eval", "vision-caption", "--baseline", "production"], &[]);
    assert!(
        run.stderr
            .contains("baseline `production` not found: no prompt of suite `vision-caption` has a label `production`"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_case_that_passed_in_the_baseline_and_fails_now_fails_the_run() {
    let project = examples();
    eval(&project, &["eval", "support-triage"], &[]).ok();
    let config = project.read("promptops.yaml").replace(
        "reply: '{\"category\": \"billing\", \"urgency\": \"high\"}'",
        "reply: '{\"category\": \"account\", \"urgency\": \"high\"}'",
    );
    project.write("promptops.yaml", &config);
    let run = eval(&project, &["eval", "support-triage", "--baseline", "1", "--fail-under", "50%"], &[]);
    assert_eq!(run.code, 1, "{}", run.snapshot());
    assert!(
        run.stdout.contains("baseline FAILED against run 1: 100.0% → 88.9% (tolerance 0.0%), 1 regressed"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("↓ double charge is urgent billing · support/triage · offline"), "{}", run.stdout);
    let compare = eval(&project, &["eval", "compare", "1", "2"], &[]);
    assert_eq!(compare.code, 1);
    assert!(compare.stdout.contains("regressed (1)"), "{}", compare.stdout);
}

#[test]
fn github_actions_get_annotations_and_a_job_summary() {
    let project = examples();
    let summary = project.root.join("summary.md");
    let run = eval(
        &project,
        &["eval", "regressions-demo"],
        &[("GITHUB_ACTIONS", "true"), ("GITHUB_STEP_SUMMARY", summary.to_str().expect("utf-8"))],
    );
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.contains("::error file=eval-suites/regressions-demo.yaml,line=13,title=promptops%3A feature request is not billing failed"),
        "{}",
        run.stdout
    );
    assert!(project.read("summary.md").contains("### ❌ `regressions-demo`"));
}

#[test]
fn changed_evaluates_only_the_suites_a_change_touches() {
    let project = examples();
    let git = |args: &[&str]| {
        let status =
            Command::new("git").args(args).current_dir(&project.root).stdout(Stdio::null()).status().expect("git");
        assert!(status.success(), "git {args:?}");
    };
    git(&["init", "-q"]);
    git(&["-c", "user.email=t@e", "-c", "user.name=t", "add", "-A"]);
    git(&["-c", "user.email=t@e", "-c", "user.name=t", "commit", "-qm", "examples"]);
    let none = eval(&project, &["eval", "--changed"], &[]);
    assert_eq!((none.code, none.stderr.as_str()), (0, "no eval suite is affected by the changes\n"));
    let text = project.read("prompts/_partials/support-voice.j2");
    project.write("prompts/_partials/support-voice.j2", &format!("{text}Sign every reply.\n"));
    let run = eval(&project, &["eval", "--changed"], &[]);
    assert_eq!(run.code, 0, "{}", run.snapshot());
    let suites: Vec<&str> =
        run.stdout.lines().filter(|l| l.contains("(eval-suites/")).map(|l| l.split(' ').next().unwrap_or("")).collect();
    assert_eq!(suites, vec!["support-reply", "support-triage"], "the partial is used by both support prompts");
    let staged = eval(&project, &["eval", "--staged"], &[]);
    assert_eq!(staged.stderr, "no eval suite is affected by the changes\n");
    let since = eval(&project, &["eval", "--since", "HEAD", "--format", "json"], &[]);
    let runs: serde_json::Value = serde_json::from_str(since.ok()).expect("json");
    assert_eq!(runs.as_array().map(Vec::len), Some(2), "--since counts uncommitted changes too");
}

#[test]
fn a_label_baseline_compares_with_the_run_of_the_labelled_versions() {
    let project = examples();
    eval(&project, &["commit", "-m", "first"], &[]).ok();
    eval(&project, &["label", "set", "support/triage", "production", "1", "--yes"], &[]).ok();
    eval(&project, &["eval", "support-triage"], &[]).ok();
    let config = project.read("promptops.yaml").replace(
        "reply: '{\"category\": \"billing\", \"urgency\": \"high\"}'",
        "reply: '{\"category\": \"other\", \"urgency\": \"high\"}'",
    );
    project.write("promptops.yaml", &config);
    let run = eval(&project, &["eval", "support-triage", "--baseline", "production", "--fail-under", "0%"], &[]);
    assert_eq!(run.code, 1, "{}", run.snapshot());
    assert!(run.stdout.contains("baseline FAILED against run 1"), "{}", run.stdout);
}

#[test]
fn ctrl_c_keeps_finished_cases_and_resume_finishes_the_run() {
    let project = examples();
    let rows: String = (0..40).map(|i| format!("refund {i}\n")).collect();
    project.write("eval-suites/data/slow.csv", &format!("ticket\n{rows}"));
    project.write(
        "eval-suites/slow.yaml",
        "targets: [support/triage]\nproviders: [slow]\nconcurrency: 2\ntests:\n  - dataset: data/slow.csv\n    assert: [{ type: is-json }]\n",
    );
    let config = project.read("promptops.yaml").replace("  - id: echo\n", "  - id: slow\n    kind: mock\n    latency_ms: 100\n    default: '{\"category\": \"billing\", \"urgency\": \"low\"}'\n  - id: echo\n");
    project.write("promptops.yaml", &config);
    let child = command(&project.root)
        .args(["eval", "slow"])
        .env("PROMPTOPS_KEYRING", "none")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(900));
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    let run = Run::from(child.wait_with_output().expect("wait"));
    assert_eq!(run.code, 1, "{}", run.snapshot());
    assert!(run.stderr.contains("interrupted: finishing the cases in flight"), "{}", run.stderr);
    assert!(run.stderr.contains("hint: finish it with `promptops eval --resume 1`"), "{}", run.stderr);
    assert!(run.stdout.contains("INTERRUPTED"), "{}", run.stdout);
    let listed: serde_json::Value =
        serde_json::from_str(eval(&project, &["eval", "list", "--format", "json"], &[]).ok()).expect("json");
    assert_eq!(listed[0]["status"], "interrupted");
    let kept = listed[0]["totals"]["done"].as_u64().expect("done");
    assert!(kept > 0 && kept < 40, "some cases finished before Ctrl-C, not all: {kept}");
    // The run's report and the list count the same way: passed of done, and how far it got.
    let passed = listed[0]["totals"]["passed"].as_u64().expect("passed");
    let verdict = format!("INTERRUPTED {kept} of 40 results made · {passed}/{kept} passed");
    assert!(run.stdout.contains(&verdict), "{verdict}\n{}", run.stdout);
    let table = eval(&project, &["eval", "list"], &[]).ok().to_owned();
    let row = table.lines().nth(1).expect("a row");
    assert!(
        row.contains(&format!("interrupted ({kept} of 40)")) && row.contains(&format!(" {passed}/{kept} ")),
        "{table}"
    );
    // A resumption refused names what changed, and does not send the user after flags.
    let prompt = project.read("prompts/support/triage.yaml");
    project.write("prompts/support/triage.yaml", &prompt.replacen("description: ", "description: Changed. ", 1));
    let refused = eval(&project, &["eval", "--resume", "1"], &[]);
    let stderr = refused.fails_with(2);
    assert!(
        stderr.contains("run 1 of suite `slow` cannot be resumed: `support/triage` changed since it started"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: put the files back as they were") && !stderr.contains("--provider"), "{stderr}");
    project.write("prompts/support/triage.yaml", &prompt);
    let resumed = eval(&project, &["eval", "--resume", "1"], &[]);
    assert_eq!(resumed.code, 0, "{}", resumed.snapshot());
    assert!(resumed.stdout.contains("PASSED 40/40 passed"), "{}", resumed.stdout);
}

#[test]
fn a_suite_runs_on_an_openai_compatible_server_and_a_rerun_is_cached() {
    let stub = Stub::start_blocking(
        StubConfig::new()
            .when_contains("charged twice", r#"{"category": "billing", "urgency": "high"}"#)
            .reply(r#"{"category": "other", "urgency": "low"}"#)
            .fault(Fault::rate_limited(0)),
    );
    let project = examples();
    let config = project.read("promptops.yaml").replace(
        "  - id: echo\n",
        &format!("  - id: stubbed\n    kind: openai\n    model: gpt-4o-mini\n    base_url: {}/v1\n    limits: {{ backoff_ms: 1 }}\n  - id: echo\n", stub.url()),
    );
    project.write("promptops.yaml", &config);
    let args = ["eval", "support-triage", "--provider", "stubbed", "--format", "json"];
    let first = eval(&project, &args, &[("OPENAI_API_KEY", "sk-test")]);
    let report: serde_json::Value = serde_json::from_str(&first.stdout).expect("json");
    let totals = &report[0]["run"]["totals"];
    assert_eq!(
        (totals["passed"].as_u64(), totals["done"].as_u64()),
        (Some(2), Some(9)),
        "the double charge, and the one ticket that is `other`"
    );
    assert!(totals["cost"].as_i64().is_some_and(|c| c > 0), "a priced model: {totals}");
    assert_eq!(stub.requests_to("/v1/chat/completions").len(), 10, "9 cases and one retry after the 429");
    let second: serde_json::Value =
        serde_json::from_str(&eval(&project, &args, &[("OPENAI_API_KEY", "sk-test")]).stdout).expect("json");
    assert_eq!(second[0]["run"]["totals"]["cached"].as_u64(), Some(9));
    assert_eq!(stub.requests_to("/v1/chat/completions").len(), 10, "the re-run is served from the cache");
}

#[test]
fn a_refused_key_stops_the_run_with_one_error_and_exit_3() {
    let stub = Stub::start_blocking(
        StubConfig::new()
            .reply(r#"{"category": "billing", "urgency": "high"}"#)
            .require_api_key("sk-right")
            .latency(Duration::from_millis(50)),
    );
    let project = examples();
    let config = project.read("promptops.yaml").replace(
        "  - id: echo\n",
        &format!(
            "  - id: stubbed\n    kind: openai\n    model: gpt-4o-mini\n    base_url: {}/v1\n  - id: echo\n",
            stub.url()
        ),
    );
    project.write("promptops.yaml", &config);
    let run = eval(
        &project,
        &["eval", "support-triage", "--provider", "stubbed", "-j", "2"],
        &[("OPENAI_API_KEY", "sk-wrong")],
    );
    let stderr = run.fails_with(3);
    assert_eq!(stderr.matches("refused the API key").count(), 1, "one message, not one per case: {stderr}");
    assert!(stderr.contains("error: run 1 stopped: provider `stubbed` refused the API key (HTTP 401)"), "{stderr}");
    assert!(stderr.contains("then `promptops eval --resume 1` evaluates the cases that are left"), "{stderr}");
    let calls = stub.requests_to("/v1/chat/completions").len();
    assert!(calls <= 3, "{calls} calls: only those in flight when the first was refused");
    let resumed =
        eval(&project, &["eval", "--resume", "1", "--provider", "stubbed"], &[("OPENAI_API_KEY", "sk-right")]);
    assert_eq!(resumed.code, 1, "the key is right now: {}", resumed.snapshot());
    assert!(resumed.stdout.contains("FAILED 3/9 passed"), "every case was graded: {}", resumed.stdout);
    assert_eq!(stub.requests_to("/v1/chat/completions").len(), calls + 9, "every case runs once the key is right");
}

#[test]
fn similar_compares_embeddings_from_the_provider() {
    let stub = Stub::start_blocking(StubConfig::new());
    let project = examples();
    let config = project.read("promptops.yaml").replace(
        "  - id: echo\n",
        &format!("  - id: embedder\n    kind: openai\n    model: text-embedding-3-small\n    base_url: {}/v1\n  - id: echo\n", stub.url()),
    );
    project.write("promptops.yaml", &config);
    project.write(
        "eval-suites/meaning.yaml",
        r#"targets: [summarize/article]
providers: [offline]
defaults:
  options: { provider: embedder }
tests:
  - name: keeps the meaning
    vars: { article: "Remote work is here to stay." }
    assert:
      - { type: similar, value: "Remote work is here to stay, and offices are redesigned for collaboration.", threshold: 0.6 }
      - { type: not-similar, value: "Bananas are a yellow fruit rich in potassium.", threshold: 0.6 }
"#,
    );
    let run = eval(&project, &["eval", "meaning"], &[("OPENAI_API_KEY", "sk-test")]);
    assert_eq!(run.code, 0, "{}", run.snapshot());
    assert_eq!(stub.requests_to("/v1/embeddings").len(), 2, "one embedding call per similar assertion");
}

#[test]
fn a_workflow_target_is_checked_before_any_call() {
    let project = examples();
    project.write(
        "eval-suites/essay-refine.yaml",
        "targets: [workflow:essay-refine, workflow:essay-refin]\ntests:\n  - name: no topic\n    vars: { subject: tides }\n    assert: [{ type: is-json }]\n",
    );
    let stderr = eval(&project, &["eval", "essay-refine"], &[]).fails_with(2).to_owned();
    assert!(stderr.contains("workflow target `essay-refin`"), "{stderr}");
    assert!(stderr.contains("case `no topic`: workflow `essay-refine` needs input `topic`"), "{stderr}");
    assert!(eval(&project, &["eval", "list", "--format", "json"], &[]).ok().trim() == "[]", "no run was started");
}

#[test]
fn an_eval_target_is_composed_from_its_references_and_takes_their_variables() {
    let project = examples();
    project.write(
        "prompts/persona.yaml",
        "variables:\n  tone: { type: string }\nmessages:\n  - role: user\n    content: 'You are {{ tone }}.'\n",
    );
    eval(&project, &["commit", "-m", "persona"], &[]).ok();
    eval(&project, &["label", "set", "persona", "production", "1", "--yes"], &[]).ok();
    project.write(
        "prompts/composed.yaml",
        "variables:\n  q: { type: string }\nmessages:\n  - role: user\n    content: '@@@langfusePrompt:name=persona|label=production@@@ Q: {{ q }}'\n",
    );
    project.write(
        "eval-suites/composed.yaml",
        "targets: [composed]\nproviders: [echo]\ntests:\n  - vars: { tone: careful, q: hi }\n    assert: [{ type: contains, value: 'You are careful. Q: hi' }]\n",
    );
    let run = eval(&project, &["eval", "composed"], &[]);
    assert_eq!(run.code, 0, "{}", run.snapshot());
    assert!(run.stdout.contains("1/1 passed"), "{}", run.snapshot());
    project.write(
        "prompts/composed.yaml",
        "messages:\n  - role: user\n    content: '@@@langfusePrompt:name=persona|label=gone@@@'\n",
    );
    let broken = eval(&project, &["eval", "composed"], &[]);
    assert_eq!(broken.code, 2, "{}", broken.snapshot());
    assert!(
        broken
            .stderr
            .contains("prompts/composed.yaml:3:15: `@@@langfusePrompt:name=persona|label=gone@@@` does not resolve"),
        "{}",
        broken.snapshot()
    );
}

#[test]
fn a_bare_eval_leaves_out_manual_suites_and_runs_them_when_named() {
    let project = examples();
    let bare = eval(&project, &["eval"], &[]);
    let stdout = bare.ok();
    assert!(stdout.contains("all 6 suites passed") && !stdout.contains("regressions-demo"), "{stdout}");
    let named = eval(&project, &["eval", "regressions-demo"], &[]);
    named.fails_with(1); // its cases fail on purpose
    assert!(named.snapshot().contains("regressions-demo — "), "{}", named.snapshot());
}

#[test]
fn a_bare_eval_reports_a_manual_suite_that_has_problems_instead_of_leaving_it_out() {
    let project = examples();
    project.write(
        "eval-suites/broken-demo.yaml",
        "manual: true\ntargets: [support/triage]\ntests:\n  - vars: { ticket: x }\n    asert: []\n",
    );
    let stderr = eval(&project, &["eval"], &[]).fails_with(2).to_owned();
    assert!(stderr.contains("eval-suites/broken-demo.yaml:5:5"), "the problem is named where it is: {stderr}");
}
