//! `label set|list|rm` and `rollback`.

use crate::support::{Project, TRIAGE};

/// A project with three versions of `support/triage`.
fn project_with_versions() -> Project {
    let project = Project::new();
    for word in ["Classify", "Sort", "Route"] {
        project.write("prompts/support/triage.yaml", &TRIAGE.replace("Classify", word));
        project.run(&["commit", "-m", word]).ok();
    }
    project
}

#[test]
fn labels_are_set_listed_and_removed() {
    let project = project_with_versions();
    assert_eq!(
        project.run(&["label", "set", "support/triage", "staging", "2"]).ok(),
        "support/triage staging: none → @2\n"
    );
    assert_eq!(
        project.run(&["label", "set", "support/triage", "staging", "latest"]).ok(),
        "support/triage staging: @2 → @3\n"
    );
    let list = project.run(&["label", "list", "--format", "csv"]).ok().to_owned();
    assert!(list.starts_with("PROMPT,LABEL,VERSION,UPDATED BY,UPDATED AT\nsupport/triage,staging,3,tester,"), "{list}");
    assert_eq!(project.run(&["label", "rm", "support/triage", "staging"]).ok(), "support/triage staging: @3 → none\n");
    assert!(project.run(&["label", "list"]).ok().is_empty());
}

#[test]
fn protected_labels_need_yes() {
    let project = project_with_versions();
    let run = project.run(&["label", "set", "support/triage", "production", "1"]);
    insta::assert_snapshot!(run.snapshot(), @r"
    exit: 2
    --- stdout
    --- stderr
    error: label `production` of `support/triage` is protected
    hint: pass `--yes` to confirm; protected labels are listed under `labels.protected` in promptops.yaml
    ");
    project.run(&["label", "set", "support/triage", "production", "1", "--yes"]).ok();
    project.run(&["label", "rm", "support/triage", "production"]).fails_with(2);
}

#[test]
fn latest_cannot_be_set_by_hand() {
    let project = project_with_versions();
    let stderr = project.run(&["label", "set", "support/triage", "latest", "1"]).fails_with(2).to_owned();
    assert!(stderr.contains("the `latest` label is automatic"), "{stderr}");
}

#[test]
fn labels_to_missing_versions_or_with_bad_names_are_refused() {
    let project = project_with_versions();
    let stderr = project.run(&["label", "set", "support/triage", "staging", "9"]).fails_with(2).to_owned();
    assert!(stderr.contains("hint: versions of `support/triage`: 1, 2, 3"), "{stderr}");
    let stderr = project.run(&["label", "set", "support/triage", "Prod Env", "1"]).fails_with(2).to_owned();
    assert!(stderr.contains("invalid label `Prod Env`"), "{stderr}");
    let stderr = project.run(&["show", "support/triage@staging"]).fails_with(2).to_owned();
    assert!(stderr.contains("has no label or version hash `staging`"), "{stderr}");
}

#[test]
fn rollback_walks_back_through_the_history() {
    let project = project_with_versions();
    for version in ["1", "2", "3"] {
        project.run(&["label", "set", "support/triage", "production", version, "--yes"]).ok();
    }
    assert_eq!(
        project.run(&["rollback", "support/triage", "--label", "production", "--yes"]).ok(),
        "support/triage production: @3 → @2\n"
    );
    assert_eq!(
        project.run(&["rollback", "support/triage", "--label", "production", "--yes"]).ok(),
        "support/triage production: @2 → @1\n"
    );
    let stderr =
        project.run(&["rollback", "support/triage", "--label", "production", "--yes"]).fails_with(2).to_owned();
    assert!(stderr.contains("has no earlier version than 1"), "{stderr}");
    assert_eq!(
        project.run(&["rollback", "support/triage", "--label", "production", "--to", "3", "--yes"]).ok(),
        "support/triage production: @1 → @3\n"
    );
    let log = project.run(&["log", "support/triage", "--format", "json"]).ok().to_owned();
    let json: serde_json::Value = serde_json::from_str(&log).expect("json");
    assert_eq!(json["moves"][0]["reason"], "rollback");
}

#[test]
fn rollback_of_a_protected_label_needs_yes() {
    let project = project_with_versions();
    project.run(&["label", "set", "support/triage", "production", "1", "--yes"]).ok();
    project.run(&["label", "set", "support/triage", "production", "2", "--yes"]).ok();
    project.run(&["rollback", "support/triage", "--label", "production"]).fails_with(2);
}
