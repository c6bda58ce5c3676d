//! The CI files users copy (issue 18): `action.yml` is valid against the Actions metadata schema
//! and docs/ci.md's GitHub workflow and GitLab job against theirs (SchemaStore's schemas as
//! `check-jsonschema` from PyPI bundles them, so nothing is fetched), and the action's own steps
//! run here as a runner would run them: the install step puts a given binary on the PATH, and
//! the eval step writes its reports, the job summary, annotations and its exit code.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::eval_run::examples;

fn venv() -> PathBuf {
    std::env::var_os("PROMPTOPS_PY_VENV").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/promptops-tools/py-venv"),
        PathBuf::from,
    )
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The YAML block of docs/ci.md that starts with `first_line`.
fn docs_block(first_line: &str) -> String {
    let docs = std::fs::read_to_string(repo().join("docs/ci.md")).expect("docs/ci.md");
    let start = docs.find(first_line).unwrap_or_else(|| panic!("docs/ci.md shows `{first_line}`"));
    let end = start + docs[start..].find("```").expect("the block ends");
    docs[start..end].to_owned()
}

#[test]
fn the_action_and_the_documented_ci_files_match_their_schemas() {
    let checker = venv().join("bin/check-jsonschema");
    if !checker.exists() {
        assert!(std::env::var("CI").is_err(), "CI must run this test: tests/python/venv.sh makes the venv");
        let note = format!(
            "skipped: CI file schemas (no check-jsonschema in {}; run tests/python/venv.sh)\n",
            venv().display()
        );
        let _ = std::io::Write::write_all(&mut std::io::stderr(), note.as_bytes());
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let workflow = dir.path().join("prompts.yml");
    std::fs::write(&workflow, docs_block("# .github/workflows/prompts.yml")).expect("write");
    let gitlab = dir.path().join(".gitlab-ci.yml");
    std::fs::write(&gitlab, docs_block("# .gitlab-ci.yml")).expect("write");
    for (schema, file) in [
        ("vendor.github-actions", repo().join("action.yml")),
        ("vendor.github-workflows", workflow),
        ("vendor.gitlab-ci", gitlab),
    ] {
        let output = Command::new(&checker)
            .args(["--builtin-schema", schema, "--no-cache"])
            .arg(&file)
            .output()
            .expect("check-jsonschema");
        let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(output.status.success(), "{} against {schema}:\n{said}", file.display());
    }
}

/// The `run:` script of the action's step named `name`.
fn step_script(name: &str) -> String {
    let text = std::fs::read_to_string(repo().join("action.yml")).expect("action.yml");
    let action: serde_yaml::Value = serde_yaml::from_str(&text).expect("yaml");
    let steps = action["runs"]["steps"].as_sequence().expect("steps");
    let step = steps.iter().find(|s| s["name"].as_str() == Some(name)).unwrap_or_else(|| panic!("a step `{name}`"));
    step["run"].as_str().expect("a run script").to_owned()
}

/// A runner's files: `$GITHUB_PATH`, `$GITHUB_OUTPUT`, `$GITHUB_STEP_SUMMARY`, `$RUNNER_TEMP`.
struct RunnerFiles {
    dir: tempfile::TempDir,
}

impl RunnerFiles {
    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.file(name)).unwrap_or_else(|err| panic!("{name}: {err}"))
    }

    /// The action's eval step in `project`, with `promptops` from `bin` on the PATH.
    fn eval_step(&self, project: &crate::support::Project, bin: &Path, inputs: [&str; 3]) -> std::process::Output {
        let [suites, args, reports] = inputs;
        Command::new("bash")
            .args(["-c", &step_script("promptops eval")])
            .current_dir(&project.root)
            .env("PATH", format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default()))
            .env("SUITES", suites)
            .env("ARGS", args)
            .env("REPORTS", reports)
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_OUTPUT", self.file("output"))
            .env("GITHUB_STEP_SUMMARY", self.file("summary.md"))
            .env("PROMPTOPS_KEYRING", "none")
            .env("NO_COLOR", "1")
            .env_remove("PROMPTOPS_PROJECT")
            .output()
            .expect("bash")
    }
}

#[test]
fn the_action_installs_a_given_binary_and_evaluates_with_reports() {
    let project = examples();
    let runner = RunnerFiles { dir: tempfile::tempdir().expect("runner dir") };
    let install = Command::new("bash")
        .args(["-c", &step_script("Install promptops")])
        .env("BINARY", env!("CARGO_BIN_EXE_promptops"))
        .env("VERSION", "")
        .env("SOURCE", repo())
        .env("RUNNER_TEMP", runner.dir.path())
        .env("GITHUB_PATH", runner.file("path"))
        .output()
        .expect("bash");
    assert!(install.status.success(), "{}", String::from_utf8_lossy(&install.stderr));
    let bin = runner.file("promptops-bin");
    assert!(bin.join("promptops").is_file());
    let added = runner.read("path");
    assert!(added.lines().next() == Some(bin.to_str().expect("utf-8")), "{added}");

    let eval = runner.eval_step(
        &project,
        &bin,
        ["support-triage summarize-article", "--fail-under 90%", "promptops-eval.xml promptops-eval.md"],
    );
    let said = format!("{}{}", String::from_utf8_lossy(&eval.stdout), String::from_utf8_lossy(&eval.stderr));
    assert!(eval.status.success(), "{said}");
    assert_eq!(runner.read("output"), "exit-code=0\n");
    assert!(project.read("promptops-eval.xml").contains("<testsuites name=\"promptops eval\" tests=\"10\""), "{said}");
    assert!(project.read("promptops-eval.md").contains("✅ **passed** — 10/10 cases passed across 2 suite(s)"));
    assert!(runner.read("summary.md").contains("## promptops eval"));

    // A failing suite: the step fails with promptops' exit code, recorded as the output, and the
    // failures become annotations.
    project.write(
        "eval-suites/failing.yaml",
        "targets: [support/triage]\ntests:\n  - name: never\n    vars: { ticket: x }\n    assert: [{ type: contains, value: nowhere }]\n",
    );
    let failed = runner.eval_step(&project, &bin, ["failing", "", "promptops-eval.xml"]);
    assert_eq!(failed.status.code(), Some(1));
    assert!(runner.read("output").ends_with("exit-code=1\n"));
    let stdout = String::from_utf8_lossy(&failed.stdout);
    assert!(stdout.contains("::error file=eval-suites/failing.yaml,line=3"), "{stdout}");
}
