//! `prompt list|new|validate|render` and the prompt file's bad-input errors.

use crate::support::{Project, TRIAGE};

#[test]
fn render_fills_variables_defaults_and_partials() {
    let project = Project::new();
    project.write("prompts/support/triage.yaml", TRIAGE);
    let run = project.run(&["prompt", "render", "support/triage", "--var", "ticket=Refund please"]);
    insta::assert_snapshot!(run.snapshot(), @r"
    exit: 0
    --- stdout
    [system]
    You are friendly and brief. Answer in one sentence.
    Reply in en.
    [user]
    Ticket: Refund please
    --- stderr
    ");
}

#[test]
fn render_reads_a_vars_file_and_prints_json() {
    let project = Project::new();
    project.write("prompts/support/triage.yaml", TRIAGE);
    project.write("vars.yaml", "ticket: from file\nlanguage: de\n");
    let out = project.run(&[
        "prompt",
        "render",
        "support/triage",
        "--vars-file",
        "vars.yaml",
        "--var",
        "language=en",
        "--format",
        "json",
    ]);
    let json: serde_json::Value = serde_json::from_str(out.ok()).expect("json");
    assert_eq!(json["messages"][1]["content"], "Ticket: from file");
    assert_eq!(json["messages"][0]["content"], "You are friendly and brief. Answer in one sentence.\nReply in en.");
}

#[test]
fn render_of_a_stored_version_uses_its_partials() {
    let project = Project::new();
    project.write("prompts/support/triage.yaml", TRIAGE);
    project.run(&["commit", "-m", "first"]).ok();
    project.write("prompts/_partials/house-style.j2", "Changed style.\n");
    let out = project.run(&["prompt", "render", "support/triage@1", "--var", "ticket=x"]).ok().to_owned();
    assert!(out.contains("You are friendly and brief."), "{out}");
}

#[test]
fn render_names_a_missing_variable_and_checks_enums() {
    let project = Project::new();
    project.write("prompts/support/triage.yaml", TRIAGE);
    let run = project.run(&["prompt", "render", "support/triage"]);
    insta::assert_snapshot!(run.snapshot(), @r"
    exit: 2
    --- stdout
    --- stderr
    error: prompt `support/triage` needs variable `ticket`
    hint: pass it with `--var ticket=VALUE` or in a `--vars-file`
    hint: `ticket`: The customer's message
    ");
    let stderr = project
        .run(&["prompt", "render", "support/triage", "--var", "ticket=x", "--var", "language=fr"])
        .fails_with(2)
        .to_owned();
    assert!(stderr.contains("hint: allowed values: \"en\", \"de\""), "{stderr}");
    let stderr = project.run(&["prompt", "render", "support/triage", "--var", "oops"]).fails_with(2).to_owned();
    assert!(stderr.contains("`--var oops` is not NAME=VALUE"), "{stderr}");
}

#[test]
fn validate_reports_unknown_keys_with_a_suggestion() {
    let project = Project::new();
    project.write("prompts/a.yaml", "description: x\nmesages:\n  - { role: user, content: hi }\n");
    let run = project.run(&["prompt", "validate"]);
    insta::assert_snapshot!(run.snapshot(), @r"
    exit: 2
    --- stdout
    --- stderr
    error: prompts/a.yaml:2:1: unknown field `mesages`, expected one of `description`, `model`, `params`, `variables`, `messages`, `response_schema`, `tags`, `type`, `config`
    hint: did you mean `messages`?
    error: 1 problem(s) found in prompt files; nothing was changed
    ");
}

#[test]
fn validate_reports_wrong_types_and_malformed_yaml_with_locations() {
    let project = Project::new();
    project.write("prompts/a.yaml", "messages:\n  - role: robot\n    content: hi\n");
    project.write("prompts/b.yaml", "messages:\n  - role: user\n    content: \"unterminated\n");
    project.write("prompts/c.yaml", "params: { temperature: hot }\nmessages: [{ role: user, content: hi }]\n");
    let stderr = project.run(&["prompt", "validate"]).fails_with(2).to_owned();
    assert!(stderr.contains("prompts/a.yaml:2:11: messages[0].role: unknown variant `robot`"), "{stderr}");
    assert!(
        stderr.contains(
            "prompts/b.yaml:4:1: found unexpected end of stream, while scanning a quoted scalar at line 3 column 14"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("prompts/c.yaml:1:24: params.temperature: invalid type"), "{stderr}");
}

#[test]
fn validate_warns_about_unused_variables_and_missing_partials_fail() {
    let project = Project::new();
    project.write("prompts/a.yaml", "variables:\n  extra: {}\nmessages: [{ role: user, content: hi }]\n");
    let run = project.run(&["prompt", "validate"]);
    assert!(
        run.stderr.contains("warning: prompts/a.yaml:2:3: variable `extra` is declared but never used"),
        "{}",
        run.snapshot()
    );
    project.write("prompts/b.yaml", "messages:\n  - role: user\n    content: '{% include \"house-stile.j2\" %}'\n");
    let stderr = project.run(&["prompt", "validate"]).fails_with(2).to_owned();
    assert!(stderr.contains("prompts/b.yaml:3:27: partial `house-stile.j2` not found"), "{stderr}");
    assert!(stderr.contains("hint: did you mean `house-style.j2`?"), "{stderr}");
}

#[test]
fn invalid_and_duplicate_prompt_names_are_refused() {
    let project = Project::new();
    let stderr = project.run(&["prompt", "new", "Support Triage"]).fails_with(2).to_owned();
    assert!(stderr.contains("invalid prompt name `Support Triage`"), "{stderr}");
    project.write("prompts/dup.yaml", "messages: [{ role: user, content: a }]\n");
    project.write("prompts/dup.yml", "messages: [{ role: user, content: b }]\n");
    let stderr = project.run(&["prompt", "validate"]).fails_with(2).to_owned();
    assert!(stderr.contains("prompt `dup` is defined twice"), "{stderr}");
}

#[test]
fn new_creates_a_valid_prompt_and_refuses_to_overwrite() {
    let project = Project::new();
    assert_eq!(project.run(&["prompt", "new", "support/summary"]).ok(), "prompts/support/summary.yaml\n");
    assert!(
        project
            .read("prompts/support/summary.yaml")
            .starts_with("# yaml-language-server: $schema=../../schemas/prompt.schema.json")
    );
    project.run(&["prompt", "validate", "support/summary"]).ok();
    project.run(&["prompt", "new", "support/summary"]).fails_with(2);
}

#[test]
fn list_joins_files_and_versions() {
    let project = Project::new();
    project.write("prompts/support/triage.yaml", TRIAGE);
    project.run(&["commit", "hello", "-m", "first"]).ok();
    let run = project.run(&["prompt", "list"]);
    insta::assert_snapshot!(run.snapshot(), @r"
    exit: 0
    --- stdout
     PROMPT           LATEST   STATE   LABELS   DESCRIPTION
     hello            1                         Greet someone in the house style.
     support/triage   -        new              Classify a support ticket.
    --- stderr
    ");
}
