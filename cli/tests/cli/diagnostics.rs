//! Messages a new user meets in the first hour: every problem at once, formats a command does
//! not take, undeclared variables named, ignored `--var`s warned about, no Rust type names.

use crate::support::Project;

#[test]
fn one_typo_does_not_hide_the_other_problems_of_a_suite() {
    let project = Project::new();
    project.write(
        "eval-suites/hello.yaml",
        "targets: [hello]\nproviders: [offline, oflline]\ntests:\n  - vars: { name: Ada }\n    assert:\n      - { type: word-count, maxx: 20 }\n      - { type: icontains, value: hello }\n  - vars: { nme: Bob }\n",
    );
    let stderr = project.run(&["eval"]).fails_with(2).to_owned();
    assert!(stderr.contains("eval-suites/hello.yaml:6:") && stderr.contains("unknown field `maxx`"), "{stderr}");
    assert!(stderr.contains("hint: did you mean `max`?"), "{stderr}");
    assert!(stderr.contains("unknown provider `oflline`"), "planning goes on past the typo: {stderr}");
    assert!(stderr.contains("`word-count` needs `min`, `max` or both"), "checked without the misfit: {stderr}");
    assert!(stderr.contains("needs variable `name`"), "{stderr}");
    assert!(stderr.contains("error: 4 problem(s) found in eval suites; no model was called"), "{stderr}");
}

#[test]
fn prompt_validate_prints_json_when_asked() {
    let project = Project::new();
    let valid: serde_json::Value =
        serde_json::from_str(project.run(&["prompt", "validate", "--format", "json"]).ok()).expect("json");
    assert_eq!(valid["valid"], serde_json::json!(["hello"]));
    project.write("prompts/broken.yaml", "messages:\n  - role: user\n    content: \"Hi {{ nme }}\"\n");
    let run = project.run(&["prompt", "validate", "--format", "json"]);
    run.fails_with(2);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    let problem = &report["problems"][0];
    assert_eq!((problem["file"].as_str(), problem["line"].as_u64()), (Some("prompts/broken.yaml"), Some(3)));
    assert!(problem["message"].as_str().is_some_and(|m| m.contains("undeclared variable `nme`")), "{report}");
}

#[test]
fn formats_are_checked_per_command_with_the_closest_suggested() {
    let project = Project::new();
    let stderr = project.run(&["eval", "--format", "xml"]).fails_with(2).to_owned();
    assert!(stderr.contains("error: unknown format `xml`"), "{stderr}");
    assert!(stderr.contains("hint: JUnit XML is `--format junit`"), "{stderr}");
    let stderr = project.run(&["eval", "--format", "mermaid"]).fails_with(2).to_owned();
    assert!(stderr.contains("`eval` does not support --format mermaid"), "{stderr}");
    for command in [&["eval", "--help"][..], &["serve", "--help"]] {
        let help = project.run(command).ok().to_owned();
        assert!(
            !help.contains("mermaid") && !help.contains("Graphviz"),
            "{command:?} lists no drawing formats: {help}"
        );
    }
    assert!(project.run(&["workflow", "draw", "nope", "--format", "dot"]).stderr.contains("nope"));
}

#[test]
fn render_names_an_undeclared_variable() {
    let project = Project::new();
    project.write("prompts/broken.yaml", "messages:\n  - role: user\n    content: \"Hi {{ nme }}\"\n");
    let stderr = project.run(&["prompt", "render", "broken"]).fails_with(2).to_owned();
    assert!(stderr.contains("prompts/broken.yaml:3:1: template uses undeclared variable `nme`"), "{stderr}");
}

#[test]
fn a_var_the_prompt_does_not_declare_is_warned_about_with_a_suggestion() {
    let project = Project::new();
    let run = project.run(&["prompt", "render", "hello", "--var", "name=Ada", "--var", "nme=Bob"]);
    run.ok();
    assert!(
        run.stderr
            .contains("warning: `--var nme` is ignored: `hello` declares no variable `nme`; did you mean `name`?"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_file_of_the_wrong_shape_names_no_rust_type() {
    let project = Project::new();
    project.write("prompts/scalar.yaml", "hello\n");
    let stderr = project.run(&["prompt", "validate"]).fails_with(2).to_owned();
    assert!(stderr.contains("expected a mapping of `key: value` lines"), "{stderr}");
    assert!(!stderr.contains("struct"), "{stderr}");
}

#[test]
fn counts_read_naturally() {
    let project = Project::new();
    project.write(
        "eval-suites/hello.yaml",
        "targets: [hello]\ntests:\n  - vars: { name: Ada }\n    assert: [{ type: script, value: \"sleep 5\", timeout_s: 0.2 }]\n",
    );
    let run = project.run(&["eval"]);
    assert!(run.stdout.contains("threshold 100.0% · 1 error ·"), "{}", run.stdout);
    assert!(!run.stdout.contains("error(s)") && !run.stdout.contains("1 errors"), "{}", run.stdout);
}
