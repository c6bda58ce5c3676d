//! `promptops ab` end to end on offline mock providers whose randomness is seeded: a truly
//! better arm is found better, identical arms are not told apart, judging, planning, stored
//! experiments, CI exit codes, and bad input.

use crate::support::{Project, Run, command};

/// 80 cases `say wordN`; `weak` answers right half the time, `strong` nine times in ten
/// (seeded picks), `same1`/`same2` identically (wrong on every fifth word), `judge` prefers an
/// answer that is not `nope`.
const CONFIG: &str = r#"name: ab-test
providers:
  - id: weak
    kind: mock
    seed: 7
    rules:
      - match: { contains: "Say" }
        replies: ["{{ last_user }}", "nope"]
  - id: strong
    kind: mock
    seed: 7
    rules:
      - match: { contains: "Say" }
        replies: ["{{ last_user }}", "{{ last_user }}", "{{ last_user }}", "{{ last_user }}", "{{ last_user }}",
                  "{{ last_user }}", "{{ last_user }}", "{{ last_user }}", "{{ last_user }}", "nope"]
  - id: same1
    kind: mock
    rules:
      - match: { regex: "word\\d*[05]$" }
        reply: nope
    default: "{{ last_user }}"
  - id: same2
    kind: mock
    rules:
      - match: { regex: "word\\d*[05]$" }
        reply: nope
    default: "{{ last_user }}"
  - id: judge
    kind: mock
    rules:
      - match: { regex: "Answer A:\\s*nope" }
        reply: B
      - match: { regex: "Answer B:\\s*nope" }
        reply: A
    default: tie
defaults: { provider: weak }
"#;

const PROMPT: &str = "description: Repeat a word.\nvariables:\n  word: { type: string }\nmessages:\n  - role: user\n    content: \"Say {{ word }}\"\n";

pub fn project(cases: usize) -> Project {
    let project = Project::empty();
    project.write("promptops.yaml", CONFIG);
    project.write("prompts/echo/word.yaml", PROMPT);
    let rows: String = (1..=cases).map(|i| format!("word{i}\n")).collect();
    project.write("eval-suites/data/words.csv", &format!("word\n{rows}"));
    project.write(
        "eval-suites/words.yaml",
        "targets: [echo/word]\ntests:\n  - dataset: data/words.csv\n    assert:\n      - { type: contains, value: \"{{ word }}\", metric: accuracy }\n",
    );
    project
}

fn ab(project: &Project, args: &[&str]) -> Run {
    let mut cmd = command(&project.root);
    cmd.env("PROMPTOPS_KEYRING", "none").arg("ab").args(args);
    Run::from(cmd.output().expect("run promptops"))
}

fn json(run: &Run) -> serde_json::Value {
    serde_json::from_str(run.ok()).expect("JSON on stdout")
}

#[test]
fn a_truly_better_arm_is_found_better() {
    let project = project(80);
    let run = ab(&project, &["echo/word+weak", "echo/word+strong", "--suite", "words", "--require-better"]);
    let stdout = run.ok();
    assert!(stdout.contains("B beats A on pass rate: +"), "{stdout}");
    assert!(stdout.contains("McNemar p"), "{stdout}");
    assert!(stdout.contains("rule: pass rate is the primary metric"), "{stdout}");
    assert!(stdout.contains("B beats A on metric `accuracy`"), "{stdout}");
    assert!(run.stderr.contains("arm A: echo/word+weak"), "{}", run.stderr);
    // Each arm is an ordinary eval run; the experiment is kept and can be shown again.
    let runs = project.run(&["eval", "list"]);
    assert!(runs.ok().contains("words"), "{}", runs.stdout);
    let listed = ab(&project, &["list"]);
    assert!(listed.ok().contains("B better on pass rate, score, metric `accuracy`"), "{}", listed.stdout);
    let shown = ab(&project, &["show", "1"]);
    assert!(shown.ok().contains("B beats A on pass rate"), "{}", shown.stdout);
    let doc = json(&ab(&project, &["show", "latest", "--format", "json"]));
    assert_eq!(doc["analysis"]["comparisons"][0]["metrics"][0]["decision"], "better");
    assert_eq!(doc["arms"][1]["label"], "echo/word · strong");
}

#[test]
fn identical_arms_are_not_told_apart() {
    let project = project(40);
    // 40 identical cases bound the difference to ±6.3 pts at 90%: a 10-point margin is shown,
    // a 2-point one is not (see the test of non-inferiority without information).
    let run = ab(&project, &["+same1", "+same2", "--suite", "words", "--non-inferiority", "10%"]);
    let stdout = run.ok();
    assert!(stdout.contains("no difference between B and A on pass rate"), "{stdout}");
    assert!(!stdout.contains("beats") && !stdout.contains("is worse"), "{stdout}");
    let gated = ab(&project, &["+same1", "+same2", "--suite", "words", "--require-better"]);
    let stderr = gated.fails_with(1);
    assert!(stderr.contains("--require-better: B is not significantly better than A"), "{stderr}");
    assert!(stderr.contains("look 2 at these arms"), "a second fixed-horizon look is called out: {stderr}");
}

#[test]
fn a_worse_arm_fails_non_inferiority() {
    let project = project(80);
    let run = ab(&project, &["echo/word+strong", "echo/word+weak", "--suite", "words", "--non-inferiority", "0.05"]);
    let stderr = run.fails_with(1);
    assert!(run.stdout.contains("B is worse than A on pass rate"), "{}", run.stdout);
    assert!(stderr.contains("--non-inferiority 5.0 pts: B may be worse than A"), "{stderr}");
}

#[test]
fn non_inferiority_without_information_fails_and_says_how_many_cases_it_needs() {
    // Issue 15, defect 1: three identical cases passed a 2% margin.
    let project = project(3);
    let run = ab(&project, &["+same1", "+same2", "--suite", "words", "--non-inferiority", "2%"]);
    let stderr = run.fails_with(1);
    assert!(stderr.contains("--non-inferiority 2.0 pts: B may be worse than A by up to"), "{stderr}");
    assert!(stderr.contains("about 133 cases would be needed to show it"), "{stderr}");
}

#[test]
fn a_later_sequential_look_keeps_the_first_looks_tuning() {
    // Issue 15, defect 5: re-tuning the sequence to each look's size breaks its validity.
    let project = project(40);
    let first = json(&ab(&project, &["+weak", "+strong", "--suite", "words", "--sequential", "--format", "json"]));
    assert_eq!(first["analysis"]["settings"]["sequential"], 40);
    project.write(
        "eval-suites/data/words.csv",
        &format!("word\n{}", (1..=80).map(|i| format!("word{i}\n")).collect::<String>()),
    );
    let run = ab(&project, &["+weak", "+strong", "--suite", "words", "--sequential", "--format", "json"]);
    assert!(run.stderr.contains("keeping the tuning of experiment 1 (40 cases)"), "{}", run.stderr);
    let second = json(&run);
    assert_eq!(second["analysis"]["settings"]["sequential"], 40);
    assert_eq!(second["analysis"]["arms"][0]["cases"], 80);
}

#[test]
fn the_primary_metric_can_be_named_and_an_unknown_one_is_refused() {
    let project = project(40);
    let doc =
        json(&ab(&project, &["+weak", "+strong", "--suite", "words", "--primary", "accuracy", "--format", "json"]));
    assert_eq!(doc["analysis"]["settings"]["primary"], serde_json::json!({"kind": "named", "name": "accuracy"}));
    let stderr =
        ab(&project, &["+weak", "+strong", "--suite", "words", "--primary", "acuracy"]).fails_with(2).to_owned();
    assert!(stderr.contains("`acuracy` is not a metric of this comparison"), "{stderr}");
    assert!(stderr.contains("hint: the metrics here are"), "{stderr}");
}

#[test]
fn the_judge_sees_both_orders_and_rates_three_arms() {
    let project = project(60);
    let run = ab(&project, &["+weak", "+strong", "+same1", "--suite", "words", "--judge", "judge"]);
    let stdout = run.ok();
    assert!(stdout.contains("the judge prefers B to A"), "{stdout}");
    assert!(stdout.contains("position consistency 100%"), "{stdout}");
    assert!(stdout.contains("Bradley-Terry ratings"), "{stdout}");
    assert!(stdout.contains("Holm-adjusted"), "three arms adjust for two comparisons: {stdout}");
}

#[test]
fn repeats_sequential_and_stored_runs() {
    let project = project(30);
    let doc = json(&ab(
        &project,
        &["+weak", "+strong", "--suite", "words", "--repeat", "3", "--sequential", "--format", "json"],
    ));
    let analysis = &doc["analysis"];
    assert_eq!(analysis["arms"][0]["repeats"], 3);
    let pass = &analysis["comparisons"][0]["metrics"][0];
    assert!(pass["interval_method"].as_str().unwrap().starts_with("confidence sequence"), "{pass}");
    // The same two runs, analysed again from the store.
    let again = ab(&project, &["--runs", "1", "2"]);
    assert!(again.ok().contains("B vs A (paired, 30 cases)"), "{}", again.stdout);
}

#[test]
fn a_sequential_run_stops_once_the_better_arm_is_certain() {
    let project = project(200);
    let run =
        ab(&project, &["+weak", "+strong", "--suite", "words", "--sequential", "--stop-early", "--format", "json"]);
    let doc = json(&run);
    let analysis = &doc["analysis"];
    let looks = &analysis["looks"];
    assert_eq!(looks["stopped_early"], true, "{looks}");
    let cases = looks["cases"].as_u64().unwrap();
    assert!(cases < 200 && cases.is_multiple_of(20), "stops at a look, before the end: {looks}");
    assert_eq!(looks["looks"].as_u64().unwrap(), cases / 20, "a look every tenth of the suite: {looks}");
    assert!(looks["reason"].as_str().unwrap().contains("confidence sequence"), "{looks}");
    assert!(run.stderr.contains("look 1: 20 of 200 cases per arm"), "{}", run.stderr);
    // The analysis is of the cases run, decided by the sequence tuned to the whole suite.
    assert_eq!(analysis["arms"][0]["cases"], cases);
    assert_eq!(analysis["arms"][1]["cases"], cases);
    assert_eq!(analysis["settings"]["sequential"], 200);
    let pass = &analysis["comparisons"][0]["metrics"][0];
    assert_eq!(pass["decision"], "better", "{pass}");
    assert!(pass["interval_method"].as_str().unwrap().starts_with("confidence sequence"), "{pass}");
    // Both runs stopped part-way are kept, as interrupted runs.
    assert_eq!(project.run(&["eval", "list"]).ok().matches("interrupted").count(), 2);
    let shown = ab(&project, &["show", "latest"]);
    assert!(shown.ok().contains(&format!("stopped early after {cases} of 200 cases")), "{}", shown.stdout);
    let stderr = ab(&project, &["+weak", "+strong", "--suite", "words", "--stop-early"]).fails_with(2).to_owned();
    assert!(stderr.contains("--sequential"), "stopping early needs confidence sequences: {stderr}");
}

#[test]
fn runs_over_different_cases_are_compared_unpaired_with_an_explanation() {
    let project = project(30);
    project.run(&["eval", "words", "--provider", "weak"]);
    project.write(
        "eval-suites/data/words.csv",
        &format!("word\n{}", (20..=60).map(|i| format!("word{i}\n")).collect::<String>()),
    );
    project.run(&["eval", "words", "--provider", "strong"]);
    let run = ab(&project, &["--runs", "1", "2"]);
    let stdout = run.ok();
    assert!(stdout.contains("compared as independent samples"), "{stdout}");
    assert!(stdout.contains("B vs A (unpaired)"), "{stdout}");
}

#[test]
fn plan_prints_the_cases_needed() {
    let project = project(2);
    let run = ab(&project, &["plan", "--baseline", "0.60", "--target", "0.70", "--paired", "--discordance", "0.3"]);
    let stdout = run.ok();
    assert!(stdout.contains("356") && stdout.contains("376") && stdout.contains("234"), "{stdout}");
    let stderr =
        ab(&project, &["plan", "--baseline", "0.6", "--target", "0.7", "--power", "1"]).fails_with(2).to_owned();
    assert!(stderr.contains("`power` must be strictly between 0 and 1, got 1"), "{stderr}");
}

#[test]
fn bad_input_is_a_usage_error_with_hints() {
    let project = project(1);
    let stderr = ab(&project, &["echo/wrod", "+weak", "--suite", "words"]).fails_with(2).to_owned();
    assert!(stderr.contains("arm `echo/wrod` is neither a prompt nor a provider"), "{stderr}");
    assert!(stderr.contains("hint: did you mean `echo/word`?"), "{stderr}");
    let stderr = ab(&project, &["+weak", "--suite", "words"]).fails_with(2).to_owned();
    assert!(stderr.contains("needs at least two arms"), "{stderr}");
    let stderr = ab(&project, &["+weak", "+strong", "--suite", "words", "--alpha", "1.5"]).fails_with(2).to_owned();
    assert!(stderr.contains("`alpha` must be strictly between 0 and 1, got 1.5"), "{stderr}");
    let stderr = ab(&project, &["+weak", "+strong"]).fails_with(2).to_owned();
    assert!(stderr.contains("needs `--suite SUITE`"), "{stderr}");
    let stderr = ab(&project, &["+weak", "+nope", "--suite", "words"]).fails_with(2).to_owned();
    assert!(stderr.contains("no provider `nope`"), "{stderr}");
    let stderr = ab(&project, &["+weak", "+strong", "--suite", "words"]).fails_with(2).to_owned();
    assert!(stderr.contains("1 case(s) with a result in every arm; a comparison needs at least 2"), "{stderr}");
    let stderr = ab(&project, &["show", "7"]).fails_with(2).to_owned();
    assert!(stderr.contains("experiment 7 not found"), "{stderr}");
}
