//! promptfoo configs end to end: every project under `tests/data/promptfoo/` is evaluated with
//! `eval -c` against the LLM stub and must give the pass/fail counts its `expected.yaml` states
//! (worked out by hand, in its comments); then `import promptfoo` turns it into a promptops
//! project whose `promptops eval` must give the same verdict for every case. Refused configs
//! must name every problem with file:line:col and write nothing. No test needs Node.

use std::path::{Path, PathBuf};

use promptops_test_support::stub::{BlockingStub, Stub, StubConfig};
use serde_json::Value;

use crate::support::{Run, command};

const PASS: &str = r#"{"pass": true, "score": 1, "reason": "meets the rubric"}"#;
const FAIL: &str = r#"{"pass": false, "score": 0, "reason": "misses the rubric"}"#;

/// A stub that echoes the last user message, and grades rubrics marked `[grade:pass]` or `[grade:fail]`.
fn stub() -> BlockingStub {
    Stub::start_blocking(
        StubConfig::new().echo().when_contains("[grade:pass]", PASS).when_contains("[grade:fail]", FAIL),
    )
}

/// A fixture copied into a temporary directory, `STUB_URL` replaced by the stub's address.
struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    expected: Value,
}

impl Fixture {
    fn new(name: &str, stub: &BlockingStub) -> Self {
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/promptfoo").join(name);
        let dir = tempfile::Builder::new().prefix("promptfoo-fixture").tempdir().expect("tempdir");
        let root = dir.path().join(name);
        copy(&source, &root, &stub.url());
        let expected: Value =
            serde_yaml::from_str(&std::fs::read_to_string(root.join("expected.yaml")).expect("expected.yaml"))
                .expect("yaml");
        Self { _dir: dir, root, expected }
    }

    fn config(&self) -> PathBuf {
        let relative = self.expected["config"].as_str().unwrap_or("promptfooconfig.yaml");
        self.root.join(relative)
    }

    fn run(&self, dir: &Path, args: &[&str]) -> Run {
        let mut cmd = command(dir);
        cmd.env("PROMPTOPS_KEYRING", "none").env_remove("OPENAI_API_KEY").env_remove("ANTHROPIC_API_KEY");
        Run::from(cmd.args(args).output().expect("run promptops"))
    }
}

fn copy(from: &Path, to: &Path, stub_url: &str) {
    if from.is_dir() {
        std::fs::create_dir_all(to).expect("mkdir");
        for entry in std::fs::read_dir(from).expect("read dir") {
            let entry = entry.expect("entry");
            copy(&entry.path(), &to.join(entry.file_name()), stub_url);
        }
    } else {
        let text = std::fs::read_to_string(from).expect("fixture files are text");
        std::fs::write(to, text.replace("STUB_URL", stub_url)).expect("write");
    }
}

/// Every case's verdict, as (target, provider, case, repeat, status), sorted.
fn verdicts(json: &str) -> Vec<(String, String, String, u64, String)> {
    let report: Value = serde_json::from_str(json).expect("json report");
    let mut out = Vec::new();
    for suite in report.as_array().expect("a list of suites") {
        let targets = suite["run"]["targets"].as_array().expect("targets");
        let providers = suite["run"]["providers"].as_array().expect("providers");
        for r in suite["results"].as_array().map(Vec::as_slice).unwrap_or_default() {
            let target =
                targets[r["unit"]["target"].as_u64().expect("target") as usize]["reference"].as_str().expect("ref");
            let provider = providers[r["unit"]["provider"].as_u64().expect("provider") as usize].as_str().expect("id");
            out.push((
                target.to_owned(),
                provider.to_owned(),
                r["case_key"].as_str().expect("key").to_owned(),
                r["unit"]["repeat"].as_u64().expect("repeat"),
                r["status"].as_str().expect("status").to_owned(),
            ));
        }
    }
    out.sort();
    out
}

fn totals(json: &str) -> (u64, u64, u64) {
    let report: Value = serde_json::from_str(json).expect("json report");
    let t = &report[0]["run"]["totals"];
    (t["passed"].as_u64().expect("n"), t["failed"].as_u64().expect("n"), t["errors"].as_u64().expect("n"))
}

fn count(expected: &Value, key: &str) -> u64 {
    expected[key].as_u64().unwrap_or(0)
}

/// Runs a fixture directly and imported, and checks both against its expectations.
fn check(name: &str) {
    let stub = stub();
    let fixture = Fixture::new(name, &stub);
    if let Some(tool) = fixture.expected["needs"].as_str()
        && std::process::Command::new(tool).arg("--version").output().is_err()
    {
        eprintln!("skipped: promptfoo fixture `{name}` ({tool} is not installed)");
        return;
    }
    let config = fixture.config();
    let config = config.to_str().expect("utf-8 path");
    if let Some(refused) = fixture.expected["refused"].as_array() {
        check_refused(&fixture, config, refused);
        let Some(skipped) = fixture.expected.get("skip_unsupported") else { return };
        check_counts(&fixture, config, &["--skip-unsupported"], skipped);
        return;
    }
    check_counts(&fixture, config, &[], &fixture.expected);
}

fn check_refused(fixture: &Fixture, config: &str, refused: &[Value]) {
    let run = fixture.run(&fixture.root, &["eval", "-c", config]);
    let stderr = run.fails_with(2);
    for wanted in refused {
        assert!(stderr.contains(wanted.as_str().expect("text")), "missing `{wanted}` in\n{stderr}");
    }
    let into = fixture.root.join("imported");
    let import = fixture.run(&fixture.root, &["import", "promptfoo", config, "--into", into.to_str().expect("utf-8")]);
    import.fails_with(2);
    assert!(!into.exists(), "a refused import writes nothing");
}

fn check_counts(fixture: &Fixture, config: &str, extra: &[&str], expected: &Value) {
    let mut args = vec!["eval", "-c", config, "--format", "json"];
    args.extend(extra);
    let direct = fixture.run(&fixture.root, &args);
    let want = (count(expected, "passed"), count(expected, "failed"), count(expected, "errors"));
    assert_eq!(totals(&direct.stdout), want, "direct evaluation\n{}", direct.snapshot());
    assert_eq!(direct.code, if want.1 + want.2 > 0 { 1 } else { 0 }, "{}", direct.snapshot());
    let into = fixture.root.join("imported");
    let mut import_args = vec!["import", "promptfoo", config, "--into", into.to_str().expect("utf-8")];
    import_args.extend(extra);
    fixture.run(&fixture.root, &import_args).ok();
    if let Some(dataset) = expected["dataset"].as_str() {
        assert!(into.join(dataset).is_file(), "the dataset is copied to {dataset}");
    }
    let mut cmd = command(&into);
    cmd.env("PROMPTOPS_KEYRING", "none").env("ANTHROPIC_API_KEY", "sk-from-env").env_remove("OPENAI_API_KEY");
    let imported = Run::from(cmd.args(["eval", "--format", "json"]).output().expect("run promptops"));
    assert_eq!(verdicts(&imported.stdout), verdicts(&direct.stdout), "imported\n{}", imported.snapshot());
}

macro_rules! fixtures {
    ($($test:ident => $name:literal,)*) => {$(
        #[test]
        fn $test() {
            check($name);
        }
    )*};
}

fixtures! {
    two_prompts_on_two_providers => "basic-matrix",
    csv_expected_columns_that_both_tools_read_alike_stay_a_dataset => "csv-expected",
    csv_cells_that_need_translating_are_inlined => "csv-inlined",
    default_test_gives_vars_assertions_transform_and_threshold => "default-test",
    file_prompts_split_on_separators_and_globs => "file-prompts",
    chat_prompts_from_json_and_yaml_files => "chat-prompts",
    scenarios_multiply_configs_by_tests => "scenarios",
    tests_from_yaml_jsonl_and_json_files => "test-files",
    file_vars_are_read_and_lists_expand => "vars-files",
    text_assertions_map_with_their_bounds => "assertions-text",
    json_assertions_and_javascript_expressions => "assertions-json",
    model_graded_assertions_use_the_grader => "assertions-model",
    python_assertions_run_through_the_adapter => "python-assert",
    anthropic_ollama_exec_and_echo_providers => "providers-mix",
    unsupported_items_are_listed_or_skipped => "unsupported",
    malformed_yaml_points_at_its_line => "malformed",
    files_outside_the_config_directory_are_refused => "hostile",
}

#[test]
fn promptfoo_json_and_exit_100_when_asked() {
    let stub = stub();
    let fixture = Fixture::new("basic-matrix", &stub);
    let run = fixture.run(
        &fixture.root,
        &[
            "eval",
            "-c",
            "promptfooconfig.yaml",
            "--format",
            "promptfoo-json",
            "-o",
            "results.json",
            "--promptfoo-exit-codes",
        ],
    );
    run.fails_with(100);
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture.root.join("results.json")).expect("results.json"))
            .expect("json");
    let stats = &written["results"]["stats"];
    assert_eq!((stats["successes"].as_u64(), stats["failures"].as_u64()), (Some(4), Some(4)), "{stats}");
    let results = written["results"]["results"].as_array().expect("results");
    assert_eq!(results.len(), 8);
    let formal =
        results.iter().find(|r| r["prompt"]["label"] == "formal" && r["vars"]["topic"] == "cats").expect("formal cats");
    assert_eq!(formal["success"], false);
    assert_eq!(formal["response"]["output"], "Please write formally about cats");
    assert_eq!(formal["gradingResult"]["componentResults"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        serde_json::from_str::<Value>(&run.stdout).expect("stdout is the same document")["results"]["stats"],
        *stats
    );
}

#[test]
fn a_directory_with_a_promptfoo_config_and_no_promptops_yaml_is_evaluated_as_it_is() {
    let stub = stub();
    let fixture = Fixture::new("scenarios", &stub);
    let run = fixture.run(&fixture.root, &["eval", "--format", "json"]);
    assert_eq!(totals(&run.stdout), (3, 1, 0), "{}", run.snapshot());
    assert!(fixture.root.join(".promptops/promptfoo/promptfooconfig/eval-suites/promptfooconfig.yaml").is_file());
}

#[test]
fn watch_refuses_a_promptfoo_config_instead_of_running_once() {
    let stub = stub();
    let fixture = Fixture::new("scenarios", &stub);
    let found = fixture.run(&fixture.root, &["eval", "--watch"]);
    assert_eq!(found.code, 2, "{}", found.snapshot());
    assert!(found.stderr.contains("--watch does not follow a promptfoo config"), "{}", found.snapshot());
    assert!(found.stderr.contains("import promptfoo"), "the hint names the way: {}", found.snapshot());
    let named = fixture.run(&fixture.root, &["eval", "-c", "promptfooconfig.yaml", "--watch"]);
    assert_eq!(named.code, 2, "{}", named.snapshot());
}

#[test]
fn a_literal_api_key_reaches_the_provider_and_is_written_nowhere() {
    let stub = stub();
    let fixture = Fixture::new("providers-mix", &stub);
    fixture.run(&fixture.root, &["eval", "-c", "promptfooconfig.yaml"]).fails_with(1);
    let anthropic = stub.requests_to("/v1/messages");
    assert!(!anthropic.is_empty() && anthropic.iter().all(|r| r.header("x-api-key") == Some("sk-fixture-literal")));
    fixture.run(&fixture.root, &["import", "promptfoo", "--into", "imported"]).ok();
    for dir in [".promptops/promptfoo", "imported"] {
        let mut stack = vec![fixture.root.join(dir)];
        while let Some(path) = stack.pop() {
            if path.is_dir() {
                stack.extend(std::fs::read_dir(&path).expect("dir").map(|e| e.expect("entry").path()));
            } else if let Ok(text) = std::fs::read_to_string(&path) {
                assert!(!text.contains("sk-fixture-literal"), "the key is written in {}", path.display());
            }
        }
    }
    assert!(
        std::fs::read_to_string(fixture.root.join("imported/promptops.yaml"))
            .expect("config")
            .contains("api_key_env: ANTHROPIC_API_KEY")
    );
}

#[test]
fn import_never_overwrites_and_writes_nothing_when_a_file_exists() {
    let stub = stub();
    let fixture = Fixture::new("basic-matrix", &stub);
    std::fs::create_dir_all(fixture.root.join("out/eval-suites")).expect("mkdir");
    std::fs::write(fixture.root.join("out/eval-suites/promptfooconfig.yaml"), "mine\n").expect("write");
    let run = fixture.run(&fixture.root, &["import", "promptfoo", "--into", "out"]);
    let stderr = run.fails_with(2);
    assert!(stderr.contains("exist already") && stderr.contains("eval-suites/promptfooconfig.yaml"), "{stderr}");
    assert!(!fixture.root.join("out/promptops.yaml").exists(), "nothing else was written");
    assert!(!fixture.root.join("out/prompts").exists());
    assert_eq!(
        std::fs::read_to_string(fixture.root.join("out/eval-suites/promptfooconfig.yaml")).expect("kept"),
        "mine\n"
    );
}

#[test]
fn an_unknown_top_level_key_is_named_with_a_suggestion() {
    let stub = stub();
    let fixture = Fixture::new("scenarios", &stub);
    let text = std::fs::read_to_string(fixture.root.join("promptfooconfig.yaml")).expect("config");
    std::fs::write(fixture.root.join("promptfooconfig.yaml"), text.replace("scenarios:", "scenarioz:")).expect("write");
    let stderr = fixture.run(&fixture.root, &["eval", "-c", "promptfooconfig.yaml"]).fails_with(2).to_owned();
    assert!(stderr.contains("promptfooconfig.yaml:3:1: unknown key `scenarioz`"), "{stderr}");
    assert!(stderr.contains("did you mean `scenarios`?"), "{stderr}");
}
