//! Push/pull benchmark (issue 7's target: `push` of 1,000 prompts in under 2 s). Measures a push
//! twice: without the socket (read every version and label from the local SQLite store, encode
//! the bundle as JSON and decode it, then plan and write it into a fresh SQLite store, as the
//! server's sync route does), and end to end over loopback against an in-process `promptops
//! serve` through the CLI's own client (`RemoteRegistry::import`), each round into a new project;
//! plus the idempotent re-push, where every item already exists.
//!
//! Run: `cargo bench --bench sync`.

use std::collections::BTreeMap;

use promptops::access::{Action, LOCAL_PROJECT, Principal};
use promptops::prompt::{Label, PromptName, check_sent};
use promptops::registry::sync::{self, Outcome, SyncBundle};
use promptops::remote::{Client, RemoteRegistry, settings::Remote};
use promptops::secret::SecretString;
use promptops::store::{MoveReason, PromptStore, Scope, SqliteStore, VersionDraft};
use promptops_test_support::bench::measure;

mod common;

const PROMPTS: usize = 1_000;

fn scope() -> Scope {
    Principal::local("bench").authorize(Action::Write, LOCAL_PROJECT).expect("invariant: local scope")
}

async fn seeded(dir: &std::path::Path) -> SqliteStore {
    let store = SqliteStore::open(dir.join("source.db")).await.expect("open source store");
    let drafts = (0..PROMPTS)
        .map(|i| {
            let source = format!(
                "variables:\n  ticket: {{ type: string }}\nmessages:\n  - role: user\n    content: \"Ticket {i}: {{{{ ticket }}}}\"\n"
            );
            let name = PromptName::new(&format!("bench/p{i:04}")).expect("invariant: valid name");
            // A real commit's hash: the server checks pushed hashes against the content.
            let hash = check_sent(name.clone(), source.clone(), BTreeMap::new()).expect("invariant: valid prompt").hash();
            VersionDraft {
                name,
                hash,
                source,
                partials: BTreeMap::new(),
                author: "bench".to_owned(),
                message: "seed".to_owned(),
                created_at: None,
            }
        })
        .collect();
    store.commit(&scope(), drafts).await.expect("seed versions");
    let production = Label::new("production").expect("invariant: valid label");
    for i in (0..PROMPTS).step_by(10) {
        let name = PromptName::new(&format!("bench/p{i:04}")).expect("invariant: valid name");
        store.move_label(&scope(), &name, &production, Some(1), MoveReason::Set, "bench").await.expect("label");
    }
    store
}

async fn push(source: &SqliteStore, target: &SqliteStore) -> usize {
    let bundle = sync::export(source, &scope(), &[]).await.expect("export");
    let wire = serde_json::to_vec(&bundle).expect("encode");
    let bundle: SyncBundle = serde_json::from_slice(&wire).expect("decode");
    let report = sync::apply(target, &scope(), bundle, "bench", sync::Direction::Push).await.expect("apply");
    report.count(Outcome::Created)
}

/// A registry on a new project `name` of the server, as `promptops push --remote` builds it.
async fn remote_project(base: &str, token: &str, name: &str) -> RemoteRegistry {
    let http = reqwest::Client::new();
    let created = http
        .post(format!("{base}/api/v1/projects"))
        .bearer_auth(token)
        .json(&serde_json::json!({"id": name}))
        .send()
        .await
        .expect("create project");
    assert_eq!(created.status(), 201);
    let remote = Remote { name: "bench".to_owned(), url: base.parse().expect("url"), project: name.to_owned() };
    let client = Client::new(remote, SecretString::new(token)).expect("client");
    RemoteRegistry::new(client, "bench".to_owned())
}

async fn push_over_http(source: &SqliteStore, target: &RemoteRegistry) -> usize {
    let bundle = sync::export(source, &scope(), &[]).await.expect("export");
    target.import(&bundle).await.expect("push").count(Outcome::Created)
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let source = runtime.block_on(seeded(dir.path()));
    let mut round = 0;
    measure(&format!("push of {PROMPTS} prompts (1 version each, 100 labels) into an empty store"), 7, || {
        round += 1;
        let target = runtime.block_on(SqliteStore::open(dir.path().join(format!("target{round}.db")))).expect("open");
        let created = runtime.block_on(push(&source, &target));
        assert_eq!(created, PROMPTS + PROMPTS / 10);
    });
    let target = runtime.block_on(SqliteStore::open(dir.path().join("target1.db"))).expect("open");
    measure(&format!("re-push of {PROMPTS} prompts: everything exists, nothing written"), 7, || {
        assert_eq!(runtime.block_on(push(&source, &target)), 0);
    });

    let (base, token) = common::start_server(dir.path());
    let mut round = 0;
    measure(&format!("push of {PROMPTS} prompts over HTTP to promptops serve (loopback)"), 7, || {
        round += 1;
        let target = runtime.block_on(remote_project(&base, &token, &format!("push{round}")));
        assert_eq!(runtime.block_on(push_over_http(&source, &target)), PROMPTS + PROMPTS / 10);
    });
    let target = runtime.block_on(remote_project(&base, &token, "again"));
    runtime.block_on(push_over_http(&source, &target));
    measure(&format!("re-push of {PROMPTS} prompts over HTTP: everything exists"), 7, || {
        assert_eq!(runtime.block_on(push_over_http(&source, &target)), 0);
    });
}
