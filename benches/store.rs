//! Benchmarks of the store backends side by side: a commit of 1,000 prompts in one batch (what
//! `promptops push` and `commit` of a whole project do), single-prompt commits one after the
//! other (a transaction's fixed cost), and reads of a prompt's latest version. SQLite always;
//! PostgreSQL when `PROMPTOPS_TEST_POSTGRES_URL` is set (in a schema of its own, dropped after).
//! Run: `PROMPTOPS_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test cargo bench --bench store`;
//! the figures go into `docs/storage.md`.

use std::collections::BTreeMap;
use std::sync::Arc;

use promptops::access::{Action, LOCAL_PROJECT, Principal};
use promptops::prompt::PromptName;
use promptops::store::{self, Scope, Store, VersionDraft};
use promptops_test_support::bench::measure;
use tokio::runtime::Runtime;

const PROMPTS: usize = 1_000;

fn draft(index: usize, round: usize) -> VersionDraft {
    let source =
        format!("messages:\n  - role: user\n    content: 'ticket {{{{ ticket }}}} ({index}, round {round})'\n");
    VersionDraft {
        name: PromptName::new(&format!("bench/prompt-{index:04}")).expect("valid name"),
        hash: format!("{index:08x}{round:08x}"),
        source,
        partials: BTreeMap::new(),
        author: "bench".to_owned(),
        message: format!("round {round}"),
        created_at: None,
    }
}

fn run(rt: &Runtime, backend: &str, store: &Arc<dyn Store>, scope: &Scope) {
    let mut round = 0;
    measure(&format!("{backend}: commit of {PROMPTS} prompts in one batch"), 10, || {
        round += 1;
        let drafts = (0..PROMPTS).map(|i| draft(i, round)).collect();
        rt.block_on(store.commit(scope, drafts)).expect("commit")
    });
    measure(&format!("{backend}: 100 single-prompt commits, one after another"), 5, || {
        round += 1;
        for i in 0..100 {
            rt.block_on(store.commit(scope, vec![draft(i, round)])).expect("commit");
        }
    });
    let name = PromptName::new("bench/prompt-0001").expect("valid name");
    measure(&format!("{backend}: 1,000 reads of a prompt's latest version"), 5, || {
        for _ in 0..1_000 {
            rt.block_on(store.latest(scope, &name)).expect("read");
        }
    });
}

/// A schema of its own in the PostgreSQL database; returns the URL that uses it.
async fn create_schema(base: &str, name: &str) -> String {
    let (client, connection) = tokio_postgres::connect(base, tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(connection);
    client.batch_execute(&format!("CREATE SCHEMA {name}")).await.expect("create schema");
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}options=-c%20search_path%3D{name}")
}

async fn drop_schema(base: &str, name: &str) {
    let (client, connection) = tokio_postgres::connect(base, tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(connection);
    client.batch_execute(&format!("DROP SCHEMA {name} CASCADE")).await.expect("drop schema");
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let scope = Principal::local("bench").authorize(Action::Write, LOCAL_PROJECT).expect("scope");
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = rt.block_on(store::open(&format!("sqlite://{}", dir.path().join("bench.db").display())));
    run(&rt, "sqlite", &sqlite.expect("open sqlite"), &scope);
    let Ok(base) = std::env::var("PROMPTOPS_TEST_POSTGRES_URL") else {
        println!("PROMPTOPS_TEST_POSTGRES_URL is not set: PostgreSQL not measured");
        return;
    };
    let schema = format!("promptops_bench_{}", uuid::Uuid::new_v4().simple());
    let url = rt.block_on(create_schema(&base, &schema));
    let postgres = rt.block_on(store::open(&url)).expect("open postgres");
    run(&rt, "postgres", &postgres, &scope);
    drop(postgres);
    rt.block_on(drop_schema(&base, &schema));
}
