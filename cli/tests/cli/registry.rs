//! `commit`, `status`, `log`, `diff`, `show`, `checkout`.

use crate::support::{Project, TRIAGE};

fn project_with_triage() -> Project {
    let project = Project::new();
    project.write("prompts/support/triage.yaml", TRIAGE);
    project
}

#[test]
fn commit_creates_versions_and_says_what_was_unchanged() {
    let project = project_with_triage();
    let first = project.run(&["commit", "-m", "first"]);
    insta::assert_snapshot!(first.snapshot(), @r"
    exit: 0
    --- stdout
    created   hello@1 [HASH-8]
    created   support/triage@1 [HASH-8]
    --- stderr
    2 new version(s), 0 unchanged
    ");
    project.write("prompts/support/triage.yaml", &TRIAGE.replace("Classify", "Sort"));
    let second = project.run(&["commit", "-m", "second"]);
    assert!(second.ok().contains("created   support/triage@2"), "{}", second.snapshot());
    assert!(second.stderr.contains("unchanged hello (still @1)"), "{}", second.snapshot());
}

#[test]
fn commit_of_named_prompts_leaves_the_others() {
    let project = project_with_triage();
    project.run(&["commit", "support/triage", "-m", "only triage"]).ok();
    let status = project.run(&["status"]).ok().to_owned();
    assert!(status.contains("hello            new"), "{status}");
}

#[test]
fn commit_of_a_missing_prompt_suggests_close_names() {
    let project = project_with_triage();
    let stderr = project.run(&["commit", "support/triag", "-m", "x"]).fails_with(2).to_owned();
    assert!(stderr.contains("error: prompt `support/triag` not found"), "{stderr}");
    assert!(stderr.contains("hint: did you mean `support/triage`?"), "{stderr}");
}

#[test]
fn commit_lists_every_broken_file_and_commits_nothing() {
    let project = project_with_triage();
    project.write("prompts/bad/yaml.yaml", "messages: [\n");
    project.write("prompts/bad/var.yaml", "messages:\n  - role: user\n    content: \"{{ nope }}\"\n");
    let run = project.run(&["commit", "-m", "x"]);
    let stderr = run.fails_with(2);
    assert!(stderr.contains("prompts/bad/yaml.yaml:2:1:"), "{stderr}");
    assert!(stderr.contains("prompts/bad/var.yaml:3:18: template uses undeclared variable `nope`"), "{stderr}");
    assert!(stderr.contains("2 problem(s) found in prompt files; nothing was changed"), "{stderr}");
    assert!(project.run(&["status"]).ok().contains("support/triage   new"));
}

#[test]
fn commit_needs_a_message() {
    let project = Project::new();
    project.run(&["commit", "-m", "  "]).fails_with(2);
}

#[test]
fn status_shows_every_state_and_labels() {
    let project = project_with_triage();
    project.write("prompts/gone.yaml", "messages: [{ role: user, content: hi }]\n");
    project.run(&["commit", "-m", "first"]).ok();
    project.run(&["label", "set", "support/triage", "staging", "1"]).ok();
    project.write("prompts/support/triage.yaml", &TRIAGE.replace("Classify", "Sort"));
    std::fs::remove_file(project.root.join("prompts/gone.yaml")).expect("rm");
    project.write("prompts/fresh.yaml", "messages: [{ role: user, content: hi }]\n");
    project.write("prompts/hello.yaml", "not: [valid\n");
    let run = project.run(&["status"]);
    insta::assert_snapshot!(run.snapshot(), @r"
    exit: 0
    --- stdout
     PROMPT           STATE      LATEST   LABELS
     fresh            new        -
     gone             deleted    1
     hello            invalid    1
     support/triage   modified   1        staging→1
    --- stderr
    ");
}

#[test]
fn log_shows_versions_labels_and_moves() {
    let project = project_with_triage();
    project.run(&["commit", "-m", "first"]).ok();
    project.write("prompts/support/triage.yaml", &TRIAGE.replace("Classify", "Sort"));
    project.run(&["commit", "-m", "second"]).ok();
    project.run(&["label", "set", "support/triage", "staging", "1"]).ok();
    let run = project.run(&["log", "support/triage"]);
    insta::assert_snapshot!(run.snapshot(), @r"
    exit: 0
    --- stdout
     VERSION   HASH       AUTHOR   DATE                  LABELS    MESSAGE
     2         [HASH-8]   tester   [DATE]                latest    second
     1         [HASH-8]   tester   [DATE]                staging   first

    Label moves:
     DATE                  LABEL     FROM   TO   BY       REASON
     [DATE]                staging   -      1    tester   set
    --- stderr
    ");
    let json: serde_json::Value =
        serde_json::from_str(project.run(&["log", "support/triage", "--format", "json"]).ok()).expect("json");
    assert_eq!(json["versions"][0]["number"], 2);
    assert_eq!(json["moves"][0]["to"], 1);
}

#[test]
fn log_of_an_uncommitted_prompt_says_how_to_commit() {
    let project = project_with_triage();
    let stderr = project.run(&["log", "support/triage"]).fails_with(2).to_owned();
    assert!(stderr.contains("prompt `support/triage` has no committed versions"), "{stderr}");
    assert!(stderr.contains("hint: commit it first with `promptops commit support/triage -m MESSAGE`"), "{stderr}");
}

#[test]
fn diff_shows_working_copy_changes_against_latest() {
    let project = project_with_triage();
    project.run(&["commit", "-m", "first"]).ok();
    project.write("prompts/support/triage.yaml", &TRIAGE.replace("Reply in", "Answer in"));
    let run = project.run(&["diff"]);
    let expected = "--- support/triage@1\n+++ support/triage (working copy)\n@@ -6,6 +6,6 @@\n   - role: system\n     content: |\n       {% include \"house-style.j2\" %}\n-      Reply in {{ language }}.\n+      Answer in {{ language }}.\n   - role: user\n     content: \"Ticket: {{ ticket }}\"\n";
    assert_eq!(run.ok(), expected);
}

#[test]
fn diff_exit_code_stat_and_json() {
    let project = project_with_triage();
    project.run(&["commit", "-m", "first"]).ok();
    assert_eq!(project.run(&["diff", "--exit-code"]).code, 0);
    project.write("prompts/support/triage.yaml", &TRIAGE.replace("Reply in", "Answer in"));
    assert_eq!(project.run(&["diff", "--exit-code"]).code, 1);
    let stat = project.run(&["diff", "--stat"]).ok().to_owned();
    assert!(stat.contains("support/triage (working copy) |    2 +-"), "{stat}");
    assert!(stat.contains("1 file(s) changed, 1 insertion(s)(+), 1 deletion(s)(-)"), "{stat}");
    let json: serde_json::Value = serde_json::from_str(project.run(&["diff", "--format", "json"]).ok()).expect("json");
    assert_eq!(json[0]["insertions"], 1);
}

#[test]
fn diff_between_two_versions_and_a_partial_change() {
    let project = project_with_triage();
    project.run(&["commit", "-m", "first"]).ok();
    project.write("prompts/_partials/house-style.j2", "Be brief.\n");
    project.run(&["commit", "-m", "style"]).ok();
    let run = project.run(&["diff", "support/triage@1", "support/triage@2"]);
    assert!(
        run.ok().contains("--- support/triage@1 partial house-style.j2\n+++ support/triage@2 partial house-style.j2"),
        "{}",
        run.snapshot()
    );
}

#[test]
fn diff_with_an_unknown_version_lists_the_versions() {
    let project = project_with_triage();
    project.run(&["commit", "-m", "first"]).ok();
    let stderr = project.run(&["diff", "support/triage@7"]).fails_with(2).to_owned();
    assert!(stderr.contains("prompt `support/triage` has no version 7"), "{stderr}");
    assert!(stderr.contains("hint: versions of `support/triage`: 1"), "{stderr}");
}

#[test]
fn show_prints_the_stored_file_and_its_metadata() {
    let project = project_with_triage();
    project.run(&["commit", "-m", "first"]).ok();
    project.write("prompts/support/triage.yaml", "messages: [{ role: user, content: changed }]\n");
    let run = project.run(&["show", "support/triage@1"]);
    assert_eq!(run.ok(), TRIAGE);
    assert!(run.stderr.starts_with("support/triage@1 "), "{}", run.snapshot());
    let json: serde_json::Value =
        serde_json::from_str(project.run(&["show", "support/triage", "--format", "json"]).ok()).expect("json");
    assert_eq!(json["number"], 1);
}

#[test]
fn refs_accept_hash_prefixes_and_latest() {
    let project = project_with_triage();
    project.run(&["commit", "-m", "first"]).ok();
    let json: serde_json::Value =
        serde_json::from_str(project.run(&["show", "support/triage@latest", "--format", "json"]).ok()).expect("json");
    let hash = json["hash"].as_str().expect("hash");
    let by_hash = project.run(&["show", &format!("support/triage@{}", &hash[..7])]);
    assert_eq!(by_hash.ok(), TRIAGE);
}

#[test]
fn checkout_restores_a_version_and_guards_uncommitted_work() {
    let project = project_with_triage();
    project.run(&["commit", "-m", "first"]).ok();
    let changed = TRIAGE.replace("Classify", "Sort");
    project.write("prompts/support/triage.yaml", &changed);
    project.run(&["commit", "-m", "second"]).ok();
    project.run(&["checkout", "support/triage@1"]).ok();
    assert_eq!(project.read("prompts/support/triage.yaml"), TRIAGE);
    project.write("prompts/support/triage.yaml", "messages: [{ role: user, content: unsaved }]\n");
    let stderr = project.run(&["checkout", "support/triage@2"]).fails_with(2).to_owned();
    assert!(stderr.contains("`prompts/support/triage.yaml` has uncommitted changes"), "{stderr}");
    assert!(project.read("prompts/support/triage.yaml").contains("unsaved"));
    project.run(&["checkout", "support/triage@2", "--force"]).ok();
    assert_eq!(project.read("prompts/support/triage.yaml"), changed);
}

#[test]
fn checkout_recreates_a_deleted_file() {
    let project = project_with_triage();
    project.run(&["commit", "-m", "first"]).ok();
    std::fs::remove_file(project.root.join("prompts/support/triage.yaml")).expect("rm");
    project.run(&["checkout", "support/triage"]).ok();
    assert_eq!(project.read("prompts/support/triage.yaml"), TRIAGE);
}

#[test]
fn concurrent_commits_from_several_processes_all_land() {
    let project = Project::new();
    for i in 0..6 {
        project.write(&format!("prompts/p{i}.yaml"), &format!("messages: [{{ role: user, content: \"{i}\" }}]\n"));
    }
    let children: Vec<_> = (0..6)
        .map(|i| {
            crate::support::command(&project.root)
                .args(["commit", &format!("p{i}"), "-m", "parallel"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().expect("wait");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }
    let status = project.run(&["status", "--format", "json"]).ok().to_owned();
    let entries: Vec<serde_json::Value> = serde_json::from_str(&status).expect("json");
    let committed = entries.iter().filter(|e| e["state"] == "unchanged" && e["latest"] == 1).count();
    assert_eq!(committed, 6, "{status}");
}

#[test]
fn with_no_user_variable_and_no_git_identity_the_author_is_the_os_account() {
    let project = Project::new();
    let home = tempfile::tempdir().expect("home");
    let account = std::process::Command::new("id").arg("-un").output().expect("id -un");
    let account = String::from_utf8_lossy(&account.stdout).trim().to_owned();
    let output = crate::support::command(&project.root)
        .args(["commit", "-m", "in a container"])
        .env_remove("PROMPTOPS_AUTHOR")
        .env_remove("USER")
        .env_remove("USERNAME")
        .env("HOME", home.path())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .expect("run");
    assert!(output.status.success(), "{output:?}");
    let log = project.run(&["log", "hello", "--format", "json"]).ok().to_owned();
    let log: serde_json::Value = serde_json::from_str(&log).expect("json");
    assert_eq!(log["versions"][0]["author"].as_str(), Some(account.as_str()), "not `unknown`");
}

#[test]
fn config_is_part_of_the_version_shown_and_diffed() {
    let project = Project::new();
    let with = "messages: [{ role: user, content: hi }]\nconfig:\n  supported_languages: [en, de]\n";
    project.write("prompts/app.yaml", with);
    project.run(&["commit", "-m", "first"]).ok();
    assert!(project.run(&["show", "app@1"]).ok().contains("supported_languages: [en, de]"));
    project.write("prompts/app.yaml", &with.replace("[en, de]", "[en, fr]"));
    let diff = project.run(&["diff"]);
    assert!(
        diff.ok().contains("-  supported_languages: [en, de]\n+  supported_languages: [en, fr]"),
        "{}",
        diff.snapshot()
    );
    let second = project.run(&["commit", "-m", "second"]);
    assert!(second.snapshot().contains("app@2"), "a config change is a new version: {}", second.snapshot());
    project.write("prompts/app.yaml", &format!("{with}  temperature: 0.2\n"));
    let refused = project.run(&["commit", "-m", "third"]);
    assert!(refused.snapshot().contains("`config.temperature` is read by promptops"), "{}", refused.snapshot());
}
