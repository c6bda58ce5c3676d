//! Escalation as a table: every kind of credential (API token, JWT), narrowed in every way (none,
//! scoped to one project, scoped to every project, expiring), held by a tenant admin, a project
//! admin, an owner or a viewer, tries every write that makes rights or credentials (gateway keys
//! included). The table says which it may do. Then every token it minted tries again everything
//! it was refused: a credential never makes one that can do more, or lives longer, than itself.

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::{Value, json};

use super::credentials::{exchange, minted};
use super::{Backend, Tenant, TestServer, prompt_source};

/// What a credential tries, in the order of the table's columns.
const ACTIONS: [&str; 13] = [
    "mint itself a token without scopes",
    "mint itself a web:viewer token",
    "mint a token for acme-runner",
    "create a tenant-admin principal",
    "create a project",
    "make a member owner",
    "make a member admin",
    "create an owner key pair",
    "create a tenant",
    "exchange itself for a JWT",
    "move the production label",
    "upload a run",
    "create a gateway key",
];

/// One request of an action, numbered `n` so that names never collide.
fn request(action: usize, n: usize) -> (Method, String, Option<Value>) {
    let member = format!("/api/v1/projects/web/members/m{n}");
    match action {
        0 => (Method::POST, "/api/v1/tokens".into(), Some(json!({"name": format!("t{n}")}))),
        1 => (Method::POST, "/api/v1/tokens".into(), Some(json!({"scopes": [{"project": "web", "role": "viewer"}]}))),
        2 => (Method::POST, "/api/v1/tokens".into(), Some(json!({"principal": "acme-runner"}))),
        3 => (Method::POST, "/api/v1/principals".into(), Some(json!({"name": format!("x{n}"), "tenant_admin": true}))),
        4 => (Method::POST, "/api/v1/projects".into(), Some(json!({"id": format!("proj{n}")}))),
        5 => (Method::PUT, member, Some(json!({"role": "owner"}))),
        6 => (Method::PUT, member, Some(json!({"role": "admin"}))),
        7 => (Method::POST, "/api/v1/projects/web/keys".into(), Some(json!({"role": "owner"}))),
        8 => (Method::POST, "/api/v1/tenants".into(), Some(json!({"id": format!("t{n}"), "admin": "root"}))),
        9 => (Method::POST, "/api/v1/auth/token".into(), Some(json!({}))),
        10 => (Method::PUT, "/api/v1/projects/web/prompts/p/labels/production".into(), Some(json!({"version": 1}))),
        11 => (Method::POST, "/api/v1/projects/web/runs".into(), Some(super::runs::upload_body())),
        _ => (Method::POST, "/api/v1/projects/web/gateway/keys".into(), Some(json!({"name": format!("g{n}")}))),
    }
}

/// A credential of the walk: how it is made, its role on `web` and what it may do (`y`/`n` per
/// action, in the order of [`ACTIONS`]).
struct Row {
    name: &'static str,
    role: &'static str,
    allowed: &'static str,
}

const TABLE: [Row; 10] = [
    Row { name: "tenant admin", role: "owner", allowed: "yyyyyyyyny yy y" },
    Row { name: "tenant admin, *:viewer", role: "viewer", allowed: "nynnnnnnny nn n" },
    Row { name: "tenant admin, web:admin", role: "admin", allowed: "nynnnnyyny yy y" },
    Row { name: "tenant admin, expiring", role: "owner", allowed: "yyyyyyyyny yy y" },
    Row { name: "tenant admin JWT", role: "owner", allowed: "nnnyyyynnn yy n" },
    Row { name: "project admin", role: "admin", allowed: "yynnnnyyny yy y" },
    Row { name: "project admin, web:editor", role: "editor", allowed: "nynnnnnnny ny n" },
    Row { name: "project admin JWT", role: "admin", allowed: "nnnnnnynnn yy n" },
    Row { name: "project owner", role: "owner", allowed: "yynnnyyyny yy y" },
    Row { name: "project viewer", role: "viewer", allowed: "yynnnnnnny nn n" },
];

/// The credential a row names, made with the tenant's admin where it needs making, and its expiry.
async fn credential(server: &TestServer, acme: &Tenant, name: &str) -> (String, Option<DateTime<Utc>>) {
    if name == "tenant admin, expiring" {
        let (status, created) = super::credentials::mint(server, &acme.admin, json!({"expires_in_days": 1})).await;
        assert_eq!(status, 201, "{created}");
        return (created["token"].as_str().expect("token").to_owned(), expires_at(&created));
    }
    (secret(server, acme, name).await, None)
}

async fn secret(server: &TestServer, acme: &Tenant, name: &str) -> String {
    let scoped = |principal: &str, project: &str, role: &str| json!({"principal": principal, "scopes": [{"project": project, "role": role}]});
    match name {
        "tenant admin" => acme.admin.clone(),
        "tenant admin, *:viewer" => minted(server, &acme.admin, scoped("acme-root", "*", "viewer")).await.0,
        "tenant admin, web:admin" => minted(server, &acme.admin, scoped("acme-root", "web", "admin")).await.0,
        "tenant admin JWT" => exchange(server, &acme.admin).await,
        "project admin" => acme.token("admin").to_owned(),
        "project admin, web:editor" => minted(server, &acme.admin, scoped("acme-admin", "web", "editor")).await.0,
        "project admin JWT" => exchange(server, acme.token("admin")).await,
        "project owner" => acme.token("owner").to_owned(),
        "project viewer" => acme.token("viewer").to_owned(),
        other => panic!("no credential `{other}`"),
    }
}

const ROLES: [&str; 5] = ["viewer", "runner", "editor", "admin", "owner"];

fn rank(role: &str) -> usize {
    ROLES.iter().position(|r| *r == role).unwrap_or_else(|| panic!("role `{role}`"))
}

/// The walk's state: a counter for fresh names, and a principal `m{n}` made before each action.
struct Walk<'a> {
    server: &'a TestServer,
    acme: &'a Tenant,
    n: usize,
}

impl Walk<'_> {
    /// Tries `action` with `credential`; returns the status and the answer.
    async fn attempt(&mut self, credential: &str, action: usize) -> (u16, Value) {
        self.n += 1;
        let n = self.n;
        let (status, body) =
            self.server.post("/api/v1/principals", &self.acme.admin, json!({"name": format!("m{n}")})).await;
        assert_eq!(status, 201, "{body}");
        let (status, body) = self
            .server
            .put(&format!("/api/v1/projects/web/members/m{n}"), &self.acme.admin, json!({"role": "viewer"}))
            .await;
        assert_eq!(status, 200, "{body}");
        let (method, path, body) = request(action, n);
        self.server.call(method, &path, Some(credential), body).await
    }
}

fn expires_at(created: &Value) -> Option<DateTime<Utc>> {
    created["expires_at"].as_str().map(|t| t.parse().expect("time"))
}

pub async fn no_credential_makes_a_stronger_or_longer_lived_one(b: Backend) {
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    let editor = acme.token("editor");
    server.post("/api/v1/projects/web/prompts/p", editor, json!({"source": prompt_source("p")})).await;
    let mut walk = Walk { server: &server, acme: &acme, n: 0 };
    for row in TABLE {
        let (credential, own_expiry) = credential(&server, &acme, row.name).await;
        let allowed: Vec<bool> = row.allowed.chars().filter(|c| *c != ' ').map(|c| c == 'y').collect();
        assert_eq!(allowed.len(), ACTIONS.len(), "{}", row.name);
        let mut children = Vec::new();
        for (action, what) in ACTIONS.iter().enumerate() {
            let (status, answer) = walk.attempt(&credential, action).await;
            let case = format!("{} tries to {what}", row.name);
            if !allowed[action] {
                assert!(matches!(status, 401 | 403 | 404), "{case}: allowed ({status}) {answer}");
                continue;
            }
            assert!((200..300).contains(&status), "{case}: refused ({status}) {answer}");
            let made =
                answer["token"].as_str().filter(|_| action <= 2).or(answer["key"].as_str().filter(|_| action == 12));
            if let Some(token) = made {
                if let Some(limit) = own_expiry {
                    let expiry = expires_at(&answer).unwrap_or_else(|| panic!("{case}: never expires"));
                    assert!(expiry <= limit, "{case}: it outlives its maker");
                }
                children.push((token.to_owned(), *what));
            }
            if action == 7 {
                let role = answer["role"].as_str().expect("role");
                assert!(rank(role) <= rank(row.role), "{case}: the key pair is {role}, above {}", row.role);
            }
        }
        for (child, made_by) in children {
            for (action, what) in ACTIONS.iter().enumerate().filter(|(a, _)| !allowed[*a]) {
                let (status, answer) = walk.attempt(&child, action).await;
                assert!(
                    matches!(status, 401 | 403 | 404),
                    "{}: the token made by `{made_by}` may {what}, its maker may not ({status}) {answer}",
                    row.name
                );
            }
        }
    }
}
