//! `eval`, `eval list|show|compare` of the real binary: reading runs and their bad input.

use crate::support::Project;

#[test]
fn list_without_runs_says_so() {
    let project = Project::new();
    let run = project.run(&["eval", "list"]);
    insta::assert_snapshot!(run.snapshot(), @r"
    exit: 0
    --- stdout
    --- stderr
    no runs yet: run `promptops eval`
    ");
}

#[test]
fn unknown_runs_and_bad_refs_are_usage_errors() {
    let project = Project::new();
    insta::assert_snapshot!(project.run(&["eval", "show", "9"]).snapshot(), @r"
    exit: 2
    --- stdout
    --- stderr
    error: run 9 not found
    hint: run `promptops eval list` to list runs
    ");
    let stderr = project.run(&["eval", "show", "yesterday"]).fails_with(2).to_owned();
    assert!(stderr.contains("`yesterday` is not a run: expected a run number or `latest`"), "{stderr}");
    let stderr = project.run(&["eval", "compare", "latest", "1"]).fails_with(2).to_owned();
    assert!(stderr.contains("there are no runs yet"), "{stderr}");
}

#[test]
fn unknown_suites_and_report_files_are_named() {
    let project = Project::new();
    project.write("eval-suites/triage.yaml", "targets: [a]\ntests: []\n");
    let stderr = project.run(&["eval", "triag"]).fails_with(2).to_owned();
    assert!(stderr.contains("error: eval suite `triag` not found"), "{stderr}");
    assert!(stderr.contains("hint: did you mean `triage`?"), "{stderr}");
    let stderr = project.run(&["eval", "-o", "report.txt"]).fails_with(2).to_owned();
    assert!(stderr.contains("cannot tell the report format of `report.txt`"), "{stderr}");
    let stderr = project.run(&["eval", "--fail-under", "90"]).fails_with(2).to_owned();
    assert!(stderr.contains("`--fail-under 90` is not a rate"), "{stderr}");
}
