//! `promptops init` and finding the project.

use crate::support::{Project, TRIAGE, command};

#[test]
fn init_scaffolds_a_project_that_validates() {
    let project = Project::empty();
    project.run(&["init", "--name", "acme"]).ok();
    for path in [
        "promptops.yaml",
        "prompts/hello.yaml",
        "prompts/_partials/house-style.j2",
        "schemas/prompt.schema.json",
        "schemas/promptops.schema.json",
        "schemas/eval-suite.schema.json",
        "eval-suites/hello.yaml",
    ] {
        assert!(project.root.join(path).is_file(), "{path} missing");
    }
    assert!(project.root.join("eval-suites").is_dir() && project.root.join("workflows").is_dir());
    assert!(
        project
            .read("promptops.yaml")
            .starts_with("# yaml-language-server: $schema=./schemas/promptops.schema.json\nname: acme\n")
    );
    assert!(
        project.read("prompts/hello.yaml").starts_with("# yaml-language-server: $schema=../schemas/prompt.schema.json")
    );
    assert_eq!(project.read(".gitignore"), ".promptops/\n");
    project.run(&["prompt", "validate"]).ok();
    let eval = project.run(&["eval"]);
    assert!(eval.ok().contains("PASSED 1/1 passed"), "the scaffolded suite passes offline: {}", eval.stdout);
}

#[test]
fn init_keeps_an_existing_gitignore_and_adds_its_entry_once() {
    let project = Project::empty();
    project.write(".gitignore", "target/");
    project.run(&["init"]).ok();
    assert_eq!(project.read(".gitignore"), "target/\n.promptops/\n");
}

#[test]
fn init_refuses_an_existing_project() {
    let project = Project::new();
    let before = project.read("promptops.yaml");
    let stderr = project.run(&["init"]).fails_with(2).to_owned();
    assert!(stderr.contains("is already a promptops project"), "{stderr}");
    assert_eq!(project.read("promptops.yaml"), before);
}

#[test]
fn commands_find_the_project_from_a_subdirectory() {
    let project = Project::new();
    let sub = project.root.join("prompts");
    let run = project.run_in(&sub, &["status"]);
    assert!(run.ok().contains("hello"), "{}", run.snapshot());
}

#[test]
fn outside_a_project_the_error_suggests_init() {
    let project = Project::empty();
    let run = project.run(&["status"]);
    insta::assert_snapshot!(run.snapshot(), @r"
    exit: 2
    --- stdout
    --- stderr
    error: not inside a promptops project (no `promptops.yaml` in `[PROJECT]` or any parent)
    hint: run `promptops init` to create a project here
    hint: or pass `--project DIR` (or set PROMPTOPS_PROJECT)
    ");
}

#[test]
fn project_flag_and_environment_select_the_project() {
    let project = Project::new();
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let root = project.root.to_str().expect("utf-8");
    assert!(project.run_in(elsewhere.path(), &["--project", root, "status"]).ok().contains("hello"));
    let output = command(elsewhere.path()).env("PROMPTOPS_PROJECT", root).arg("status").output().expect("run");
    assert!(String::from_utf8_lossy(&output.stdout).contains("hello"));
}

#[test]
fn help_lists_the_exit_codes() {
    let project = Project::empty();
    let help = project.run(&["--help"]).ok().to_owned();
    assert!(help.contains("Exit codes:\n  0  success\n  1  evaluation below its threshold"), "{help}");
}

#[test]
fn completions_are_generated_for_bash() {
    let project = Project::empty();
    let script = project.run(&["completions", "bash"]).ok().to_owned();
    assert!(script.contains("COMPLETE=\"bash\"") && script.contains("complete -o"), "asks promptops back: {script}");
    let fixed = project.run(&["completions", "bash", "--static"]).ok().to_owned();
    assert!(fixed.contains("_promptops()"), "{fixed}");
}

/// What the shell would offer after `words` (the last one being typed), via the fish protocol.
fn candidates(project: &Project, words: &[&str]) -> Vec<String> {
    let output = command(&project.root)
        .env("COMPLETE", "fish")
        .args([&["--", "promptops"][..], words].concat())
        .output()
        .expect("complete");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout).lines().map(|l| l.split('\t').next().unwrap_or(l).to_owned()).collect()
}

#[test]
fn completion_offers_the_names_of_the_project() {
    let project = Project::new();
    project.write("prompts/support/triage.yaml", TRIAGE);
    project.run(&["remote", "add", "prod", "http://127.0.0.1:9", "--project-id", "web"]).ok();
    project.run(&["eval"]).ok();
    let prompts = candidates(&project, &["log", ""]);
    assert!(prompts.contains(&"hello".to_owned()) && prompts.contains(&"support/triage".to_owned()), "{prompts:?}");
    assert!(candidates(&project, &["eval", "he"]).contains(&"hello".to_owned()));
    let runs = candidates(&project, &["eval", "show", ""]);
    assert!(runs.contains(&"latest".to_owned()) && runs.contains(&"1".to_owned()), "{runs:?}");
    assert_eq!(candidates(&project, &["push", "--remote", ""]), vec!["prod".to_owned()]);
    let workflows = candidates(&project, &["workflow", "run", ""]);
    assert!(workflows.iter().all(|c| c.starts_with('-')), "init makes no workflow, only flags: {workflows:?}");
}

#[test]
fn completion_offers_workflow_and_suite_names() {
    let project = crate::eval_run::examples();
    for command in ["run", "export", "draw", "validate", "threads"] {
        let workflows = candidates(&project, &["workflow", command, ""]);
        assert!(workflows.contains(&"essay-refine".to_owned()), "workflow {command}: {workflows:?}");
    }
    let suites = candidates(&project, &["eval", "support-"]);
    assert!(
        suites.contains(&"support-triage".to_owned()) && suites.contains(&"support-reply".to_owned()),
        "{suites:?}"
    );
}

#[test]
fn schema_prints_a_schema_and_suggests_names() {
    let project = Project::empty();
    let schema: serde_json::Value = serde_json::from_str(project.run(&["schema", "prompt"]).ok()).expect("json");
    assert_eq!(schema["title"], "promptops prompt file");
    let stderr = project.run(&["schema", "promt"]).fails_with(2).to_owned();
    assert!(stderr.contains("did you mean `prompt`"), "{stderr}");
}

#[test]
fn unsupported_format_is_a_usage_error() {
    let project = Project::new();
    let stderr = project.run(&["status", "--format", "junit"]).fails_with(2).to_owned();
    assert!(stderr.contains("`status` does not support --format junit"), "{stderr}");
}

#[test]
fn corrupted_database_is_reported_and_left_alone() {
    let project = Project::new();
    project.write(".promptops/promptops.db", &"not a database ".repeat(100));
    let run = project.run(&["status"]);
    let stderr = run.fails_with(2);
    assert!(stderr.contains("is corrupted or not a promptops database"), "{stderr}");
    assert!(stderr.contains("hint: nothing was changed"), "{stderr}");
    assert_eq!(project.read(".promptops/promptops.db"), "not a database ".repeat(100));
}

#[test]
fn invalid_config_names_file_line_and_suggestion() {
    let project = Project::new();
    project.write("promptops.yaml", "name: x\nprovider:\n  - { id: a, kind: echo }\n");
    let stderr = project.run(&["status"]).fails_with(2).to_owned();
    assert!(stderr.contains("promptops.yaml:2:1: unknown field `provider`"), "{stderr}");
    assert!(stderr.contains("hint: did you mean `providers`?"), "{stderr}");
}
