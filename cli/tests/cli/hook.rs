//! `hook install|uninstall` in a real git repository: the hook is written, an existing hook is
//! chained and then restored, and the hook runs `eval --changed --staged`.

use std::path::Path;
use std::process::{Command, Output};

use crate::support::Project;

fn git(project: &Project, args: &[&str]) {
    git_in(&project.root, args);
}

fn git_in(dir: &Path, args: &[&str]) {
    let status = Command::new("git").args(args).current_dir(dir).status().expect("git");
    assert!(status.success(), "git {args:?}");
}

/// `git commit -qm MESSAGE` in `dir`, running the hook.
fn commit(dir: &Path, message: &str) -> Output {
    Command::new("git")
        .args(["commit", "-qm", message])
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("PROMPTOPS_AUTHOR", "tester")
        .output()
        .expect("git commit")
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
    let output = commit(&project.root, "notes before the project is in git");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("nothing to evaluate: the staged files hold no promptops.yaml"), "{stderr}");
    git(&project, &["add", "-A"]);
    assert!(commit(&project.root, "the project").status.success());
    project.write("notes.txt", "hello again\n");
    git(&project, &["add", "notes.txt"]);
    let output = commit(&project.root, "notes");
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
    assert!(!stderr.contains("--changed"), "no flag of `eval` is the problem here: {stderr}");
}

#[test]
fn the_hook_evaluates_the_staged_prompt_not_the_working_copy() {
    let project = repo();
    project.run(&["hook", "install"]).ok();
    git(&project, &["add", "-A"]);
    let first = commit(&project.root, "a passing prompt");
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    // Stage a prompt that fails its suite (the mock only greets prompts that say hello), then
    // put the passing text back in the working copy: the commit would hold the failing one.
    let passing = project.read("prompts/hello.yaml");
    project.write("prompts/hello.yaml", &passing.replace("Say hello to", "Greet"));
    git(&project, &["add", "prompts/hello.yaml"]);
    project.write("prompts/hello.yaml", &passing);
    let output = commit(&project.root, "a failing prompt");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "the failing staged prompt is refused: {stderr}");
    // git hands the hook's stdout to its own stderr.
    assert!(stderr.contains("FAILED 0/1 passed"), "{stderr}");
    assert_eq!(project.read("prompts/hello.yaml"), passing, "the working copy is untouched");
    // And the other way round: a passing staged prompt goes through whatever the working copy says.
    project.write("prompts/hello.yaml", &passing.replace("Say hello to", "Say hello warmly to"));
    git(&project, &["add", "prompts/hello.yaml"]);
    project.write("prompts/hello.yaml", &passing.replace("Say hello to", "Greet"));
    let output = commit(&project.root, "a passing change");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn the_hook_still_works_after_the_repository_moves() {
    let project = repo();
    project.run(&["hook", "install"]).ok();
    let hook = project.read(".git/hooks/pre-commit");
    assert!(!hook.contains(&project.root.display().to_string()), "no absolute project path: {hook}");
    let moved = project.root.with_file_name("moved");
    std::fs::rename(&project.root, &moved).expect("move the repository");
    git_in(&moved, &["add", "-A"]);
    let output = commit(&moved, "after the move");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(!stderr.contains("not inside a promptops project"), "{stderr}");
    std::fs::rename(&moved, &project.root).expect("move back for clean-up");
}

#[test]
fn the_hook_finds_a_project_in_a_subdirectory_of_the_repository() {
    let project = Project::empty();
    git(&project, &["init", "-q"]);
    git(&project, &["config", "user.email", "t@example.com"]);
    git(&project, &["config", "user.name", "t"]);
    let sub = project.root.join("prompts-project");
    project.run(&["init", "prompts-project"]).ok();
    project.run_in(&sub, &["hook", "install"]).ok();
    let hook = project.read(".git/hooks/pre-commit");
    assert!(hook.contains("/'prompts-project' eval --changed --staged"), "{hook}");
    let passing = std::fs::read_to_string(sub.join("prompts/hello.yaml")).expect("read");
    std::fs::write(sub.join("prompts/hello.yaml"), passing.replace("Say hello to", "Greet")).expect("write");
    git(&project, &["add", "-A"]);
    std::fs::write(sub.join("prompts/hello.yaml"), &passing).expect("write");
    let output = commit(&project.root, "a failing prompt in a subdirectory");
    assert_eq!(output.status.code(), Some(1), "{}", String::from_utf8_lossy(&output.stderr));
}
