//! Resolving what push and pull report: conflicts name the local and the server's side the
//! right way round in both directions, labels can be moved by choice (`push --force-label`,
//! `pull --theirs`), and a default remote lets `push` choose among several.

use crate::remote::{Server, project_with_remote, remote};

#[test]
fn label_conflicts_name_both_sides_and_each_direction_can_choose_a_winner() {
    let server = Server::start();
    let first = project_with_remote(&server);
    first.run(&["commit", "-m", "one"]).ok();
    first.write("prompts/hello.yaml", &first.read("prompts/hello.yaml").replace("Say hello", "Say a warm hello"));
    first.run(&["commit", "-m", "two"]).ok();
    first.run(&["label", "set", "hello", "production", "2", "--yes"]).ok();
    assert_eq!(remote(&first, &["push"]).0, 0, "the only remote is used");

    let second = project_with_remote(&server);
    assert_eq!(remote(&second, &["pull"]).0, 0);
    second.run(&["label", "set", "hello", "production", "1", "--yes"]).ok();
    let (code, stdout, stderr) = remote(&second, &["push"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stdout.contains("label `production` points at 1 locally, 2 on the server"), "{stdout}");
    assert!(stderr.contains("hint: to move the server's labels to your versions, push again with `--force-label`"));
    let (code, stdout, stderr) = remote(&second, &["push", "--force-label"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("moved    hello production -> 1 (moved from 2 on the server)"), "{stdout}");
    let (_, labels, _) = remote(&second, &["label", "list", "hello", "--remote", "prod", "--format", "json"]);
    assert!(labels.contains("\"production\"") && labels.contains("\"version\": 1"), "{labels}");

    let (code, stdout, stderr) = remote(&first, &["pull"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stdout.contains("label `production` points at 1 on the server, 2 locally"), "{stdout}");
    assert!(stderr.contains("pull again with `--theirs`"), "{stderr}");
    assert_eq!(remote(&first, &["pull", "--theirs"]).0, 0);
    let local = first.run(&["label", "list", "hello", "--format", "json"]).ok().to_owned();
    assert!(local.contains("\"version\": 1"), "{local}");
}

#[test]
fn a_diverged_version_says_which_side_is_which_and_how_to_get_out() {
    let server = Server::start();
    let first = project_with_remote(&server);
    first.run(&["commit", "-m", "first"]).ok();
    assert_eq!(remote(&first, &["push"]).0, 0);
    let other = project_with_remote(&server);
    other.write("prompts/hello.yaml", &other.read("prompts/hello.yaml").replace("Say hello", "Say hi"));
    other.run(&["commit", "-m", "diverged"]).ok();
    let (code, stdout, stderr) = remote(&other, &["pull"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stdout.contains("on the server,") && stdout.contains("locally)"), "server first in a pull: {stdout}");
    assert!(stderr.contains("versions never change once stored"), "{stderr}");
}

#[test]
fn several_remotes_need_a_default_for_push() {
    let server = Server::start();
    let project = project_with_remote(&server);
    project.run(&["remote", "add", "staging", &server.url, "--project-id", "web"]).ok();
    project.run(&["commit", "-m", "first"]).ok();
    let (code, _, stderr) = remote(&project, &["push"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("hint: choose one with `--remote NAME`, or make one the default"), "{stderr}");
    project.run(&["remote", "default", "prod"]).ok();
    assert!(project.read("promptops.yaml").contains("default: true"));
    let listed = project.run(&["remote", "list", "--format", "csv"]).ok().to_owned();
    assert!(listed.contains("prod,") && listed.contains(",yes"), "{listed}");
    let (code, _, stderr) = remote(&project, &["push"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("push to `prod`"), "{stderr}");
    let unknown = project.run(&["remote", "default", "nope"]);
    assert!(unknown.fails_with(2).contains("nope"), "{}", unknown.stderr);
}
