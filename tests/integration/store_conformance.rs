//! One behaviour suite for every [`Store`] backend. SQLite always runs; PostgreSQL runs when
//! `PROMPTOPS_TEST_POSTGRES_URL` is set (and says it was skipped otherwise).

use std::collections::BTreeMap;
use std::sync::Arc;

use pretty_assertions::assert_eq;
use promptops::access::{Action, Principal, Role};
use promptops::money::Micros;
use promptops::prompt::{Label, PromptName};
use promptops::store::{
    AssertionResult, CaseStatus, CheckpointRow, CommitOutcome, ExperimentArm, ExperimentDraft, MoveReason, ResultQuery,
    ResultRecord, RunDraft, RunStatus, RunTarget, Scope, SqliteStore, Store, StoreError, TaskRow, ThreadRecord,
    UnitKey, UsageGroup, UsageRecord, VersionDraft,
};

/// A fresh store of one backend plus the means to open a second handle on the same database
/// (a second process, as far as the backend can tell).
pub struct Backend {
    pub store: Arc<dyn Store>,
    pub reopen: Box<dyn Fn() -> futures::future::BoxFuture<'static, Arc<dyn Store>> + Send + Sync>,
    _dir: tempfile::TempDir,
}

pub async fn sqlite() -> Backend {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("promptops.db");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(path.clone()).await.expect("open"));
    let reopen = Box::new(move || {
        let path = path.clone();
        Box::pin(async move { Arc::new(SqliteStore::open(path).await.expect("reopen")) as Arc<dyn Store> })
            as futures::future::BoxFuture<'static, Arc<dyn Store>>
    });
    Backend { store, reopen, _dir: dir }
}

pub fn scope(tenant: &str, project: &str) -> Scope {
    let principal = Principal {
        subject: "tester".into(),
        tenant: tenant.into(),
        roles: BTreeMap::from([(project.to_owned(), Role::Owner)]),
    };
    principal.authorize(Action::Write, project).expect("owner may write")
}

fn name(text: &str) -> PromptName {
    PromptName::new(text).expect("valid name")
}

fn label(text: &str) -> Label {
    Label::new(text).expect("valid label")
}

pub fn draft(prompt: &str, content: &str) -> VersionDraft {
    VersionDraft {
        name: name(prompt),
        hash: format!("{:x}", md5_like(content)),
        source: content.to_owned(),
        partials: BTreeMap::from([("style.j2".to_owned(), "Be kind.".to_owned())]),
        author: "ada".to_owned(),
        message: format!("commit {content}"),
    }
}

/// A stable, content-derived hex "hash" for test drafts (the store treats hashes as opaque).
fn md5_like(content: &str) -> u128 {
    content.bytes().fold(0xcbf29ce484222325_u128, |h, b| (h ^ u128::from(b)).wrapping_mul(0x100000001b3))
}

fn created(outcomes: &[CommitOutcome]) -> Vec<u32> {
    outcomes
        .iter()
        .filter_map(|o| match o {
            CommitOutcome::Created(m) => Some(m.number),
            CommitOutcome::Unchanged(_) => None,
        })
        .collect()
}

async fn commit_numbers_versions_per_prompt(b: Backend) {
    let s = scope("t", "p");
    let out = b.store.commit(&s, vec![draft("a", "one"), draft("b", "one")]).await.expect("commit");
    assert_eq!(created(&out), vec![1, 1]);
    let out = b.store.commit(&s, vec![draft("a", "two")]).await.expect("commit");
    assert_eq!(created(&out), vec![2]);
    let versions = b.store.versions(&s, &name("a")).await.expect("versions");
    assert_eq!(versions.iter().map(|v| v.number).collect::<Vec<_>>(), vec![1, 2]);
}

async fn commit_skips_unchanged_content(b: Backend) {
    let s = scope("t", "p");
    b.store.commit(&s, vec![draft("a", "one")]).await.expect("commit");
    let out = b.store.commit(&s, vec![draft("a", "one")]).await.expect("commit");
    assert!(matches!(&out[0], CommitOutcome::Unchanged(m) if m.number == 1), "{out:?}");
}

async fn versions_keep_content_and_metadata(b: Backend) {
    let s = scope("t", "p");
    b.store.commit(&s, vec![draft("x/y", "first")]).await.expect("commit");
    let record = b.store.version(&s, &name("x/y"), 1).await.expect("read").expect("exists");
    assert_eq!(record.source, "first");
    assert_eq!(record.partials.get("style.j2").map(String::as_str), Some("Be kind."));
    assert_eq!((record.meta.author.as_str(), record.meta.message.as_str()), ("ada", "commit first"));
    assert!(b.store.version(&s, &name("x/y"), 2).await.expect("read").is_none());
    let latest = b.store.latest(&s, &name("x/y")).await.expect("read").expect("exists");
    assert_eq!(latest.meta.number, 1);
}

async fn hash_prefix_finds_versions(b: Backend) {
    let s = scope("t", "p");
    b.store.commit(&s, vec![draft("a", "one")]).await.expect("commit");
    b.store.commit(&s, vec![draft("a", "two")]).await.expect("commit");
    let v2 = b.store.version(&s, &name("a"), 2).await.expect("read").expect("exists");
    let found = b.store.find_hash_prefix(&s, &name("a"), &v2.meta.hash[..6]).await.expect("find");
    assert_eq!(found.iter().map(|m| m.number).collect::<Vec<_>>(), vec![2]);
    assert!(b.store.find_hash_prefix(&s, &name("a"), "zzzz").await.expect("find").is_empty());
}

async fn prompts_summarise_latest_versions(b: Backend) {
    let s = scope("t", "p");
    b.store.commit(&s, vec![draft("b", "1"), draft("a", "1")]).await.expect("commit");
    b.store.commit(&s, vec![draft("a", "2")]).await.expect("commit");
    let summaries = b.store.prompts(&s).await.expect("list");
    let got: Vec<(String, u32, u32)> =
        summaries.iter().map(|p| (p.latest.name.to_string(), p.latest.number, p.version_count)).collect();
    assert_eq!(got, vec![("a".into(), 2, 2), ("b".into(), 1, 1)]);
}

async fn labels_move_and_record_history(b: Backend) {
    let s = scope("t", "p");
    b.store.commit(&s, vec![draft("a", "1")]).await.expect("commit");
    b.store.commit(&s, vec![draft("a", "2")]).await.expect("commit");
    let prod = label("production");
    let first = b.store.move_label(&s, &name("a"), &prod, Some(1), MoveReason::Set, "ada").await.expect("set");
    assert_eq!((first.from, first.to), (None, Some(1)));
    let second = b.store.move_label(&s, &name("a"), &prod, Some(2), MoveReason::Set, "bob").await.expect("move");
    assert_eq!((second.from, second.to), (Some(1), Some(2)));
    let labels = b.store.labels(&s, Some(&name("a"))).await.expect("labels");
    assert_eq!(labels.len(), 1);
    assert_eq!((labels[0].version, labels[0].updated_by.as_str()), (2, "bob"));
    b.store.move_label(&s, &name("a"), &prod, None, MoveReason::Remove, "ada").await.expect("remove");
    assert!(b.store.labels(&s, None).await.expect("labels").is_empty());
    let history = b.store.label_history(&s, &name("a")).await.expect("history");
    let moves: Vec<(Option<u32>, Option<u32>, MoveReason)> = history.iter().map(|m| (m.from, m.to, m.reason)).collect();
    assert_eq!(
        moves,
        vec![
            (None, Some(1), MoveReason::Set),
            (Some(1), Some(2), MoveReason::Set),
            (Some(2), None, MoveReason::Remove)
        ]
    );
}

async fn label_to_missing_version_fails_and_changes_nothing(b: Backend) {
    let s = scope("t", "p");
    b.store.commit(&s, vec![draft("a", "1")]).await.expect("commit");
    let err = b
        .store
        .move_label(&s, &name("a"), &label("staging"), Some(9), MoveReason::Set, "ada")
        .await
        .expect_err("must fail");
    assert!(matches!(err, StoreError::VersionNotFound { number: 9, .. }), "{err:?}");
    assert!(b.store.labels(&s, None).await.expect("labels").is_empty());
    assert!(b.store.label_history(&s, &name("a")).await.expect("history").is_empty());
}

async fn tenants_and_projects_are_isolated(b: Backend) {
    let (a, other_tenant, other_project) = (scope("t1", "p"), scope("t2", "p"), scope("t1", "q"));
    b.store.commit(&a, vec![draft("secret", "1")]).await.expect("commit");
    b.store.move_label(&a, &name("secret"), &label("production"), Some(1), MoveReason::Set, "ada").await.expect("set");
    for s in [&other_tenant, &other_project] {
        assert!(b.store.prompts(s).await.expect("list").is_empty());
        assert!(b.store.latest(s, &name("secret")).await.expect("read").is_none());
        assert!(b.store.labels(s, None).await.expect("labels").is_empty());
        assert!(b.store.label_history(s, &name("secret")).await.expect("history").is_empty());
        let err = b.store.move_label(s, &name("secret"), &label("production"), Some(1), MoveReason::Set, "eve").await;
        assert!(matches!(err, Err(StoreError::VersionNotFound { .. })));
    }
    // The same name in another tenant starts its own numbering.
    let out = b.store.commit(&other_tenant, vec![draft("secret", "other")]).await.expect("commit");
    assert_eq!(created(&out), vec![1]);
}

async fn concurrent_commits_lose_nothing_and_stay_gapless(b: Backend) {
    let s = scope("t", "p");
    let mut tasks = Vec::new();
    for writer in 0..4 {
        let store = (b.reopen)().await;
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..10 {
                store.commit(&s, vec![draft("shared", &format!("w{writer}-{i}"))]).await.expect("commit");
            }
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    let numbers: Vec<u32> =
        b.store.versions(&s, &name("shared")).await.expect("versions").iter().map(|v| v.number).collect();
    assert_eq!(numbers, (1..=40).collect::<Vec<_>>());
}

fn thread(id: &str, workflow: &str) -> ThreadRecord {
    let now = chrono::Utc::now();
    ThreadRecord {
        id: id.to_owned(),
        workflow: workflow.to_owned(),
        workflow_hash: "abc".to_owned(),
        status: "running".to_owned(),
        step: 0,
        input: "{}".to_owned(),
        parent: None,
        detail: None,
        created_at: now,
        updated_at: now,
    }
}

fn checkpoint(step: u32, tasks: &[&str], snapshot: Option<&str>) -> CheckpointRow {
    CheckpointRow {
        step,
        payload: format!("{{\"step\": {step}}}"),
        snapshot: snapshot.map(ToOwned::to_owned),
        tasks: tasks
            .iter()
            .map(|t| TaskRow { step, task: (*t).to_owned(), payload: format!("writes of {t}") })
            .collect(),
        created_at: chrono::Utc::now(),
    }
}

async fn workflow_threads_are_created_once_and_listed(b: Backend) {
    let s = scope("t", "p");
    assert!(b.store.create_thread(&s, &thread("t1", "essay")).await.expect("create"));
    assert!(!b.store.create_thread(&s, &thread("t1", "other")).await.expect("create"), "ids are unique");
    b.store.create_thread(&s, &thread("t2", "triage")).await.expect("create");
    let essay: Vec<String> =
        b.store.threads(&s, Some("essay")).await.expect("list").into_iter().map(|t| t.id).collect();
    assert_eq!(essay, vec!["t1".to_owned()]);
    assert_eq!(b.store.threads(&s, None).await.expect("list").len(), 2);
    b.store.set_thread_status(&s, "t1", "interrupted", Some("{\"node\": \"review\"}")).await.expect("status");
    let t1 = b.store.thread(&s, "t1").await.expect("read").expect("exists");
    assert_eq!((t1.status.as_str(), t1.detail.as_deref()), ("interrupted", Some("{\"node\": \"review\"}")));
    assert!(b.store.thread(&s, "missing").await.expect("read").is_none());
}

async fn workflow_tasks_survive_until_their_step_commits(b: Backend) {
    let s = scope("t", "p");
    b.store.create_thread(&s, &thread("t1", "essay")).await.expect("create");
    b.store.commit_step(&s, "t1", &checkpoint(0, &[], Some("{}")), "running").await.expect("commit 0");
    // Step 1 fails half way: one task finished and was stored, the other did not.
    b.store.put_task(&s, "t1", &TaskRow { step: 1, task: "a".into(), payload: "A".into() }).await.expect("put");
    let stored = b.store.tasks(&s, "t1", 1).await.expect("tasks");
    assert_eq!(stored.iter().map(|t| t.task.as_str()).collect::<Vec<_>>(), vec!["a"]);
    b.store.commit_step(&s, "t1", &checkpoint(1, &["a", "b"], None), "completed").await.expect("commit 1");
    let thread = b.store.thread(&s, "t1").await.expect("read").expect("exists");
    assert_eq!((thread.step, thread.status.as_str()), (1, "completed"));
    let history = b.store.checkpoints(&s, "t1", 0).await.expect("history");
    assert_eq!(history.iter().map(|c| (c.step, c.tasks.len())).collect::<Vec<_>>(), vec![(0, 0), (1, 2)]);
    assert_eq!(history[1].tasks[0].payload, "writes of a", "the commit's copy replaces the early one");
    assert_eq!(b.store.checkpoints(&s, "t1", 1).await.expect("history").len(), 1);
    assert_eq!(b.store.snapshot_step(&s, "t1", 1).await.expect("snapshot"), Some(0));
}

async fn workflow_forks_copy_history_up_to_a_step(b: Backend) {
    let s = scope("t", "p");
    b.store.create_thread(&s, &thread("t1", "essay")).await.expect("create");
    for step in 0..3 {
        b.store.commit_step(&s, "t1", &checkpoint(step, &["n"], None), "running").await.expect("commit");
    }
    let mut fork = thread("t1-fork", "essay");
    fork.parent = Some(("t1".to_owned(), 1));
    fork.step = 1;
    b.store.fork_thread(&s, "t1", 1, &fork).await.expect("fork");
    let copied = b.store.checkpoints(&s, "t1-fork", 0).await.expect("history");
    assert_eq!(copied.iter().map(|c| c.step).collect::<Vec<_>>(), vec![0, 1]);
    let read = b.store.thread(&s, "t1-fork").await.expect("read").expect("exists");
    assert_eq!(read.parent, Some(("t1".to_owned(), 1)));
    assert!(b.store.fork_thread(&s, "t1", 1, &fork).await.is_err(), "the fork's id is taken");
    assert!(
        b.store.thread_bytes(&s, "t1").await.expect("bytes")
            > b.store.thread_bytes(&s, "t1-fork").await.expect("bytes")
    );
}

async fn workflow_threads_are_isolated(b: Backend) {
    let (a, other) = (scope("t1", "p"), scope("t2", "p"));
    b.store.create_thread(&a, &thread("secret", "essay")).await.expect("create");
    b.store.commit_step(&a, "secret", &checkpoint(0, &["n"], Some("{}")), "running").await.expect("commit");
    assert!(b.store.thread(&other, "secret").await.expect("read").is_none());
    assert!(b.store.threads(&other, None).await.expect("list").is_empty());
    assert!(b.store.checkpoints(&other, "secret", 0).await.expect("history").is_empty());
    assert_eq!(b.store.thread_bytes(&other, "secret").await.expect("bytes"), 0);
    assert!(b.store.create_thread(&other, &thread("secret", "mine")).await.expect("create"), "same id, other tenant");
}

fn run_draft(suite: &str) -> RunDraft {
    RunDraft {
        suite: suite.to_owned(),
        suite_path: format!("eval-suites/{suite}.yaml"),
        description: None,
        plan_hash: "h".to_owned(),
        targets: vec![RunTarget { reference: "a@1".into(), name: "a".into(), version: Some(1), hash: "x".into() }],
        providers: vec!["offline".to_owned()],
        threshold: 0.5,
        total: 3,
        git_commit: Some("abc".to_owned()),
        git_dirty: false,
        actor: "ada".to_owned(),
    }
}

fn result(case: u32, status: CaseStatus) -> ResultRecord {
    ResultRecord {
        unit: UnitKey { target: 0, provider: 0, case, repeat: 0 },
        case_name: format!("case {case}"),
        case_key: format!("k{case}"),
        location: Some("s.yaml:3".to_owned()),
        vars: serde_json::json!({ "ticket": "x" }),
        tags: vec!["t".to_owned()],
        status,
        score: if status == CaseStatus::Pass { 1.0 } else { 0.0 },
        output: Some("out".to_owned()),
        error: None,
        assertions: vec![AssertionResult {
            kind: "contains".into(),
            pass: status == CaseStatus::Pass,
            score: 1.0,
            weight: 1.0,
            metric: None,
            reason: String::new(),
        }],
        latency_ms: 12,
        input_tokens: 10,
        output_tokens: 5,
        cost: Micros(7),
        cached: case == 0,
    }
}

async fn runs_are_numbered_and_keep_their_results(b: Backend) {
    let s = scope("t", "p");
    let first = b.store.create_run(&s, run_draft("triage")).await.expect("create");
    let second = b.store.create_run(&s, run_draft("reply")).await.expect("create");
    assert_eq!((first.id, second.id, first.status), (1, 2, RunStatus::Running));
    assert_eq!(first.draft, run_draft("triage"));
    b.store
        .append_results(&s, 1, vec![result(0, CaseStatus::Pass), result(2, CaseStatus::Error)])
        .await
        .expect("append");
    b.store
        .append_results(&s, 1, vec![result(1, CaseStatus::Fail), result(0, CaseStatus::Pass)])
        .await
        .expect("append");
    let run = b.store.run(&s, 1).await.expect("read").expect("exists");
    let t = run.totals;
    assert_eq!((t.done, t.passed, t.failed, t.errors, t.cached), (3, 1, 1, 1, 1), "a unit stored twice counts once");
    assert_eq!((t.input_tokens, t.output_tokens, t.cost), (30, 15, Micros(21)));
    let all = b.store.results(&s, 1, ResultQuery::default()).await.expect("results");
    assert_eq!(all.iter().map(|r| r.unit.case).collect::<Vec<_>>(), vec![0, 1, 2]);
    assert_eq!(all[0], result(0, CaseStatus::Pass));
    let page = ResultQuery { after: Some(all[0].unit), limit: Some(1), problems_only: false };
    assert_eq!(
        b.store.results(&s, 1, page).await.expect("page").iter().map(|r| r.unit.case).collect::<Vec<_>>(),
        vec![1]
    );
    let problems = ResultQuery { problems_only: true, ..ResultQuery::default() };
    assert_eq!(b.store.results(&s, 1, problems).await.expect("problems").len(), 2);
    let mut units = b.store.done_units(&s, 1).await.expect("units");
    units.sort();
    assert_eq!(units.len(), 3);
    let finished = b.store.set_run_status(&s, 1, RunStatus::Passed).await.expect("finish");
    assert!(finished.finished_at.is_some() && finished.status == RunStatus::Passed);
    let listed: Vec<u64> = b.store.runs(&s, None, 10).await.expect("list").iter().map(|r| r.id).collect();
    assert_eq!(listed, vec![2, 1]);
    let triage: Vec<u64> = b.store.runs(&s, Some("triage"), 10).await.expect("list").iter().map(|r| r.id).collect();
    assert_eq!(triage, vec![1]);
    assert!(matches!(
        b.store.append_results(&s, 9, vec![result(0, CaseStatus::Pass)]).await,
        Err(StoreError::RunNotFound { id: 9 })
    ));
}

async fn runs_are_isolated_by_tenant_and_project(b: Backend) {
    let (a, other) = (scope("t1", "p"), scope("t2", "p"));
    b.store.create_run(&a, run_draft("triage")).await.expect("create");
    b.store.append_results(&a, 1, vec![result(0, CaseStatus::Pass)]).await.expect("append");
    assert!(b.store.run(&other, 1).await.expect("read").is_none());
    assert!(b.store.runs(&other, None, 10).await.expect("list").is_empty());
    assert!(b.store.results(&other, 1, ResultQuery::default()).await.expect("results").is_empty());
    assert!(b.store.append_results(&other, 1, vec![result(1, CaseStatus::Pass)]).await.is_err());
    assert_eq!(b.store.create_run(&other, run_draft("x")).await.expect("create").id, 1, "numbering is per project");
}

async fn cache_entries_are_read_back_until_they_expire(b: Backend) {
    let s = scope("t", "p");
    let now = chrono::Utc::now();
    b.store.cache_put(&s, "k1", "{\"text\":\"a\"}", None).await.expect("put");
    b.store.cache_put(&s, "k2", "short-lived", Some(now + chrono::Duration::seconds(60))).await.expect("put");
    assert_eq!(b.store.cache_get(&s, "k1", now).await.expect("get").as_deref(), Some("{\"text\":\"a\"}"));
    assert_eq!(b.store.cache_get(&s, "k2", now).await.expect("get").as_deref(), Some("short-lived"));
    let later = now + chrono::Duration::seconds(61);
    assert_eq!(b.store.cache_get(&s, "k2", later).await.expect("get"), None, "expired");
    assert_eq!(b.store.cache_get(&s, "missing", now).await.expect("get"), None);
    // A second put replaces the value.
    b.store.cache_put(&s, "k1", "new", None).await.expect("put");
    assert_eq!(b.store.cache_get(&s, "k1", now).await.expect("get").as_deref(), Some("new"));
    assert_eq!(b.store.cache_clear(&s, Some(later)).await.expect("clear"), 1, "only the expired entry");
    assert_eq!(b.store.cache_clear(&s, None).await.expect("clear"), 1);
    assert_eq!(b.store.cache_get(&s, "k1", now).await.expect("get"), None);
}

fn usage(at: chrono::DateTime<chrono::Utc>, provider: &str, model: &str, cost: i64, hit: bool) -> UsageRecord {
    UsageRecord {
        at,
        provider: provider.to_owned(),
        model: model.to_owned(),
        prompt: Some("support/triage".to_owned()),
        input_tokens: if hit { 0 } else { 100 },
        output_tokens: if hit { 0 } else { 20 },
        cached_input_tokens: 0,
        cost: Micros(cost),
        cache_hit: hit,
    }
}

async fn usage_is_summed_by_period_and_grouped(b: Backend) {
    let s = scope("t", "p");
    let day = |d: u32| chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 11, d, 12, 0, 0).single().expect("date");
    let records = vec![
        usage(day(1), "fast", "gpt-4o-mini", 150, false),
        usage(day(1), "claude", "claude-sonnet-4-5", 3_000, false),
        usage(day(2), "fast", "gpt-4o-mini", 250, false),
        usage(day(2), "fast", "gpt-4o-mini", 0, true),
    ];
    b.store.record_usage(&s, &records).await.expect("record");
    assert_eq!(b.store.spend_between(&s, day(1), day(2)).await.expect("spend"), Micros(3_150));
    assert_eq!(b.store.spend_between(&s, day(1), day(3)).await.expect("spend"), Micros(3_400));
    let by_day = b.store.usage_report(&s, None, UsageGroup::Day).await.expect("report");
    let got: Vec<(&str, u64, u64, i64)> =
        by_day.iter().map(|r| (r.key.as_str(), r.requests, r.cache_hits, r.cost.0)).collect();
    assert_eq!(got, vec![("2026-11-01", 2, 0, 3_150), ("2026-11-02", 2, 1, 250)]);
    let by_provider = b.store.usage_report(&s, Some(day(2)), UsageGroup::Provider).await.expect("report");
    assert_eq!(by_provider.len(), 1);
    assert_eq!(
        (by_provider[0].key.as_str(), by_provider[0].input_tokens, by_provider[0].cost),
        ("fast", 100, Micros(250))
    );
    let by_model = b.store.usage_report(&s, None, UsageGroup::Model).await.expect("report");
    assert_eq!(by_model.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(), vec!["claude-sonnet-4-5", "gpt-4o-mini"]);
}

async fn cache_and_usage_are_isolated_by_scope(b: Backend) {
    let (a, other_tenant, other_project) = (scope("t1", "p"), scope("t2", "p"), scope("t1", "q"));
    let now = chrono::Utc::now();
    b.store.cache_put(&a, "key", "secret answer", None).await.expect("put");
    b.store.record_usage(&a, &[usage(now, "fast", "gpt-4o-mini", 999, false)]).await.expect("record");
    for s in [&other_tenant, &other_project] {
        assert_eq!(b.store.cache_get(s, "key", now).await.expect("get"), None);
        assert_eq!(b.store.cache_clear(s, None).await.expect("clear"), 0);
        let day = now - chrono::Duration::days(1);
        assert_eq!(b.store.spend_between(s, day, now + chrono::Duration::days(1)).await.expect("spend"), Micros::ZERO);
        assert!(b.store.usage_report(s, None, UsageGroup::Day).await.expect("report").is_empty());
    }
    assert_eq!(b.store.cache_get(&a, "key", now).await.expect("get").as_deref(), Some("secret answer"));
}

fn experiment(suite: &str, outcome: &str) -> ExperimentDraft {
    ExperimentDraft {
        suite: suite.to_owned(),
        arms: vec![
            ExperimentArm { letter: "A".into(), label: "triage@1 · offline".into(), run: Some(1) },
            ExperimentArm { letter: "B".into(), label: "triage@2 · offline".into(), run: Some(2) },
        ],
        sequential: false,
        alpha: 0.05,
        outcome: outcome.to_owned(),
        summary: "B beats A on pass rate: +8.0 pts [2.1, 13.9]".to_owned(),
        analysis: serde_json::json!({ "comparisons": [{ "challenger": 1, "p": 0.012 }] }),
        actor: "ada".to_owned(),
    }
}

async fn experiments_are_numbered_and_kept_whole(b: Backend) {
    let s = scope("t", "p");
    let first = b.store.create_experiment(&s, experiment("triage", "B better")).await.expect("create");
    let second = b.store.create_experiment(&s, experiment("reply", "no difference")).await.expect("create");
    assert_eq!((first.id, second.id), (1, 2));
    let stored = b.store.experiment(&s, 1).await.expect("read").expect("exists");
    assert_eq!(stored.draft, experiment("triage", "B better"));
    assert_eq!(stored.created_at, first.created_at);
    assert!(b.store.experiment(&s, 3).await.expect("read").is_none());
    let all: Vec<u64> = b.store.experiments(&s, None, 10).await.expect("list").iter().map(|e| e.id).collect();
    assert_eq!(all, vec![2, 1], "newest first");
    let triage: Vec<u64> =
        b.store.experiments(&s, Some("triage"), 10).await.expect("list").iter().map(|e| e.id).collect();
    assert_eq!(triage, vec![1]);
    assert_eq!(b.store.experiments(&s, None, 1).await.expect("list").len(), 1);
    let reopened = (b.reopen)().await;
    assert_eq!(reopened.experiment(&s, 2).await.expect("read").expect("exists").draft.outcome, "no difference");
}

async fn experiments_are_isolated_by_tenant_and_project(b: Backend) {
    let (a, other, sibling) = (scope("t1", "p"), scope("t2", "p"), scope("t1", "q"));
    b.store.create_experiment(&a, experiment("triage", "B better")).await.expect("create");
    for s in [&other, &sibling] {
        assert!(b.store.experiment(s, 1).await.expect("read").is_none());
        assert!(b.store.experiments(s, None, 10).await.expect("list").is_empty());
    }
    assert_eq!(
        b.store.create_experiment(&other, experiment("x", "-")).await.expect("create").id,
        1,
        "numbering is per project"
    );
}

macro_rules! conformance {
    ($($test:ident),* $(,)?) => {
        mod sqlite_backend {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                super::$test(super::sqlite().await).await;
            })*
        }
    };
}

conformance!(
    commit_numbers_versions_per_prompt,
    commit_skips_unchanged_content,
    versions_keep_content_and_metadata,
    hash_prefix_finds_versions,
    prompts_summarise_latest_versions,
    labels_move_and_record_history,
    label_to_missing_version_fails_and_changes_nothing,
    tenants_and_projects_are_isolated,
    concurrent_commits_lose_nothing_and_stay_gapless,
    workflow_threads_are_created_once_and_listed,
    workflow_tasks_survive_until_their_step_commits,
    workflow_forks_copy_history_up_to_a_step,
    workflow_threads_are_isolated,
    runs_are_numbered_and_keep_their_results,
    runs_are_isolated_by_tenant_and_project,
    cache_entries_are_read_back_until_they_expire,
    usage_is_summed_by_period_and_grouped,
    cache_and_usage_are_isolated_by_scope,
    experiments_are_numbered_and_kept_whole,
    experiments_are_isolated_by_tenant_and_project,
);

mod sqlite_only {
    use super::*;

    #[tokio::test]
    async fn corrupted_database_is_refused_untouched() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("promptops.db");
        let garbage = b"this is not a database, just text that happens to be long enough".repeat(20);
        std::fs::write(&path, &garbage).expect("write");
        let err = SqliteStore::open(path.clone()).await.expect_err("must fail");
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
        assert!(std::fs::read(&path).expect("read") == garbage, "the file was changed");
    }

    #[tokio::test]
    async fn newer_schema_is_refused_untouched() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("promptops.db");
        {
            let conn = rusqlite::Connection::open(&path).expect("open");
            conn.pragma_update(None, "user_version", 999).expect("pragma");
        }
        let before = std::fs::read(&path).expect("read");
        let err = SqliteStore::open(path.clone()).await.expect_err("must fail");
        assert!(matches!(err, StoreError::NewerSchema { found: 999, .. }), "{err:?}");
        assert!(std::fs::read(&path).expect("read") == before, "the file was changed");
    }
}
