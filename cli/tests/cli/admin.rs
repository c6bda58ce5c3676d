//! `promptops admin` against a real `promptops serve`: users, members, tokens and key pairs
//! from the command line, secrets printed once, and the server's rules inherited: a token made
//! for a runner cannot create projects or mint a token for someone else, and a revoked token
//! is refused.

use std::process::Output;

use crate::remote::{Server, TOKEN, project_with_remote};
use crate::support::{Project, command};

fn admin_as(project: &Project, token: &str, args: &[&str]) -> Output {
    command(&project.root).env("PROMPTOPS_TOKEN", token).args([&["admin"][..], args].concat()).output().expect("run")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn an_admin_manages_users_members_tokens_and_keys_and_secrets_show_once() {
    let server = Server::start();
    let project = project_with_remote(&server);
    let ok = |args: &[&str]| {
        let output = admin_as(&project, TOKEN, args);
        assert!(output.status.success(), "{args:?}: {}", text(&output.stderr));
        (text(&output.stdout), text(&output.stderr))
    };
    ok(&["user", "create", "ci", "--service"]);
    ok(&["member", "set", "ci", "runner"]);
    let (members, _) = ok(&["member", "list", "--format", "csv"]);
    assert!(members.contains("ci,runner"), "{members}");

    let (token, stderr) =
        ok(&["token", "create", "--principal", "ci", "--scope", "web=runner", "--expires-in-days", "1"]);
    let token = token.trim().to_owned();
    assert!(token.starts_with("pot_") && !token.contains(' '), "the token alone on stdout: {token}");
    assert!(stderr.contains("the secret is shown this once"), "{stderr}");
    let (listed, _) = ok(&["token", "list", "--format", "json"]);
    assert!(listed.contains("\"ci\"") && !listed.contains(&token), "listings never show a secret: {listed}");

    let (key, _) = ok(&["key", "create", "--role", "viewer"]);
    assert!(key.trim().starts_with("sk-lf-"), "{key}");
    let (keys, _) = ok(&["key", "list"]);
    assert!(keys.contains("pk-lf-") && !keys.contains(key.trim()), "{keys}");
    let (tenants, _) = ok(&["tenant", "list", "--format", "json"]);
    assert!(tenants.contains("\"system\""), "{tenants}");
}

#[test]
fn a_token_can_do_no_more_than_its_principal_and_dies_when_revoked() {
    let server = Server::start();
    let project = project_with_remote(&server);
    assert!(admin_as(&project, TOKEN, &["user", "create", "ci", "--service"]).status.success());
    assert!(admin_as(&project, TOKEN, &["member", "set", "ci", "runner"]).status.success());
    let created = admin_as(&project, TOKEN, &["token", "create", "--principal", "ci", "--format", "json"]);
    let created: serde_json::Value = serde_json::from_slice(&created.stdout).expect("json");
    let (id, token) = (created["id"].as_str().expect("id"), created["token"].as_str().expect("token"));

    let refused = admin_as(&project, token, &["project", "create", "elsewhere"]);
    assert_ne!(refused.status.code(), Some(0), "a runner creates no project");
    assert!(text(&refused.stderr).starts_with("error: "), "{}", text(&refused.stderr));
    let minted = admin_as(&project, token, &["token", "create", "--principal", "admin"]);
    assert_ne!(minted.status.code(), Some(0), "nor a token for the admin: {}", text(&minted.stdout));
    assert!(!text(&minted.stdout).contains("pot_"), "no secret leaks out of a refusal");
    let role = admin_as(&project, token, &["member", "set", "ci", "owner"]);
    assert_ne!(role.status.code(), Some(0), "nor raise its own role");

    assert!(admin_as(&project, TOKEN, &["token", "revoke", id]).status.success());
    let after =
        command(&project.root).env("PROMPTOPS_TOKEN", token).args(["prompt", "list", "--remote", "prod"]).output();
    let after = after.expect("run");
    assert_ne!(after.status.code(), Some(0), "a revoked token is refused");
    assert!(text(&after.stderr).contains("login"), "{}", text(&after.stderr));
}

#[test]
fn admin_needs_a_remote_and_says_how_to_add_one() {
    let project = Project::new();
    let output = admin_as(&project, TOKEN, &["user", "list"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("hint: add one with `promptops remote add"), "{}", text(&output.stderr));
}
