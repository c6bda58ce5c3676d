//! `hook install|uninstall` in a real git repository: the hook is written, an existing hook is
//! chained and then restored, and the hook runs `eval --changed --staged`.

use std::process::Command;

use crate::support::Project;

fn git(project: &Project, args: &[&str]) {
    let status = Command::new("git").args(args).current_dir(&project.root).status().expect("git");
    assert!(status.success(), "git {args:?}");
}

fn repo() -> Project {
    let project = Project::new();
    git(&project, &["init", "-q"]);
    git(&project, &["config", "user.email", "t@example.com"]);
    git(&project, &["config", "user.name", "t"]);
    project
}

#[test]
fn install_chains_an_existing_hook_and_uninstall_restores_it() {
    let project = repo();
    project.write(".git/hooks/pre-commit", "#!/bin/sh\necho mine\n");
    let run = project.run(&["hook", "install"]);
    let stderr = run.ok().to_owned();
    let stderr = format!("{stderr}{}", run.stderr);
    assert!(stderr.contains("the existing hook moved to"), "{stderr}");
    let hook = project.read(".git/hooks/pre-commit");
    assert!(hook.contains("eval --changed --staged"), "{hook}");
    assert_eq!(project.read(".git/hooks/pre-commit.promptops-chained"), "#!/bin/sh\necho mine\n");
    let again = project.run(&["hook", "install"]);
    assert!(again.stderr.contains("updated"), "{}", again.stderr);
    let removed = project.run(&["hook", "uninstall"]);
    assert!(removed.stderr.contains("restored the previous one"), "{}", removed.stderr);
    assert_eq!(project.read(".git/hooks/pre-commit"), "#!/bin/sh\necho mine\n");
    assert!(!project.root.join(".git/hooks/pre-commit.promptops-chained").exists());
    let nothing = project.run(&["hook", "uninstall"]);
    assert!(nothing.stderr.contains("no promptops hook is installed"), "{}", nothing.stderr);
}

#[test]
fn the_hook_passes_when_nothing_relevant_is_staged() {
    let project = repo();
    project.run(&["hook", "install"]).ok();
    project.write("notes.txt", "hello\n");
    git(&project, &["add", "notes.txt"]);
    let output = Command::new("git")
        .args(["commit", "-qm", "notes"])
        .current_dir(&project.root)
        .env("NO_COLOR", "1")
        .output()
        .expect("git commit");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("no eval suite is affected by the changes"), "{stderr}");
}

#[test]
fn install_outside_git_explains() {
    let project = Project::new();
    let stderr = project.run(&["hook", "install"]).fails_with(2).to_owned();
    assert!(stderr.contains("is not inside a git repository"), "{stderr}");
    assert!(stderr.contains("hint: run `git init`"), "{stderr}");
}
