//! The real pre-commit framework (PyPI `pre-commit`, pinned in tests/python/requirements.lock)
//! runs this repository's `.pre-commit-hooks.yaml` as docs/ci.md tells users to configure it:
//! a passing prompt is committed, a failing staged one is refused. The framework lives in the
//! venv made by `tests/python/venv.sh` (`.ci/run` makes it); without it the test says it was
//! skipped, and fails under CI so that CI cannot skip it silently.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::Project;

fn venv() -> PathBuf {
    std::env::var_os("PROMPTOPS_PY_VENV").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/promptops-tools/py-venv"),
        PathBuf::from,
    )
}

/// `program ARGS` in `dir` with the venv and the built binary first on PATH.
fn run(dir: &Path, program: &str, args: &[&str], home: &Path) -> Output {
    let bin = Path::new(env!("CARGO_BIN_EXE_promptops")).parent().expect("bin dir").to_owned();
    let path =
        format!("{}:{}:{}", venv().join("bin").display(), bin.display(), std::env::var("PATH").unwrap_or_default());
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("PATH", path)
        .env("PRE_COMMIT_HOME", home)
        .env("PROMPTOPS_AUTHOR", "tester")
        .env("PROMPTOPS_KEYRING", "none")
        .env("NO_COLOR", "1")
        .env_remove("PROMPTOPS_PROJECT")
        .output()
        .unwrap_or_else(|err| panic!("{program}: {err}"))
}

fn git(dir: &Path, args: &[&str], home: &Path) -> Output {
    let output = run(dir, "git", args, home);
    assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    output
}

/// The `.pre-commit-config.yaml` block of docs/ci.md, pointed at `repo`.
fn documented_config(repo: &Path) -> String {
    let docs = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/ci.md")).expect("docs");
    let start = docs.find("# .pre-commit-config.yaml\n").expect("docs/ci.md shows a .pre-commit-config.yaml");
    let end = start + docs[start..].find("```").expect("the block ends");
    let block = &docs[start..end];
    assert!(block.contains("repo: https://github.com/promptops/promptops"), "{block}");
    block.replace("https://github.com/promptops/promptops", &repo.display().to_string())
}

#[test]
fn the_pre_commit_framework_runs_the_documented_hooks() {
    if !venv().join("bin/pre-commit").exists() {
        assert!(std::env::var("CI").is_err(), "CI must run this test: tests/python/venv.sh makes the venv");
        let note =
            format!("skipped: pre-commit framework test (no venv at {}; run tests/python/venv.sh)\n", venv().display());
        let _ = std::io::Write::write_all(&mut std::io::stderr(), note.as_bytes());
        return;
    }
    let home = tempfile::tempdir().expect("pre-commit home");
    // The hooks repository as users reach it: `.pre-commit-hooks.yaml` at the top of a git
    // repository whose default branch is `main`.
    let hooks = tempfile::tempdir().expect("hooks repo");
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.pre-commit-hooks.yaml");
    std::fs::copy(&manifest, hooks.path().join(".pre-commit-hooks.yaml")).expect("copy manifest");
    git(hooks.path(), &["init", "-q", "-b", "main"], home.path());
    git(hooks.path(), &["add", "-A"], home.path());
    git(hooks.path(), &["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "hooks"], home.path());

    let project = Project::new();
    let dir = project.root.as_path();
    git(dir, &["init", "-q"], home.path());
    git(dir, &["config", "user.email", "t@example.com"], home.path());
    git(dir, &["config", "user.name", "t"], home.path());
    project.write(".pre-commit-config.yaml", &documented_config(hooks.path()));
    let installed = run(dir, "pre-commit", &["install"], home.path());
    assert!(installed.status.success(), "{}", String::from_utf8_lossy(&installed.stderr));
    git(dir, &["add", "-A"], home.path());
    let first = run(dir, "git", &["commit", "-qm", "a passing prompt"], home.path());
    let said = |o: &Output| format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(first.status.success(), "{}", said(&first));
    assert!(said(&first).contains("promptops eval") && said(&first).contains("Passed"), "{}", said(&first));

    let passing = project.read("prompts/hello.yaml");
    project.write("prompts/hello.yaml", &passing.replace("Say hello to", "Greet"));
    git(dir, &["add", "prompts/hello.yaml"], home.path());
    let refused = run(dir, "git", &["commit", "-qm", "a failing prompt"], home.path());
    assert!(!refused.status.success(), "the failing prompt is refused: {}", said(&refused));
    assert!(said(&refused).contains("FAILED 0/1 passed"), "{}", said(&refused));
}
