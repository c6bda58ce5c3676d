use chrono::{DateTime, Duration, TimeZone, Utc};

use super::*;
use crate::access::{Action, LOCAL_PROJECT, Principal};
use crate::store::{PromptStore, SqliteStore};

fn name(text: &str) -> PromptName {
    PromptName::new(text).expect("valid name")
}

fn meta(prompt: &str, number: u32, hash: &str) -> VersionMeta {
    VersionMeta {
        name: name(prompt),
        number,
        hash: hash.to_owned(),
        author: "ada".to_owned(),
        message: format!("v{number}"),
        created_at: made(number),
    }
}

/// When version `number` was first made (in the past, to the microsecond as stores keep it).
fn made(number: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, number, 3, 4, 5).single().expect("valid date") + Duration::microseconds(123_456)
}

fn label(prompt: &str, label: &str, version: u32) -> LabelRecord {
    LabelRecord {
        name: name(prompt),
        label: Label::new(label).expect("valid label"),
        version,
        updated_by: "ada".to_owned(),
        updated_at: Utc::now(),
    }
}

/// The text of a valid prompt file saying `body`.
fn source(body: &str) -> String {
    format!("messages:\n  - role: user\n    content: \"{body}\"\n")
}

/// The content hash of [`source`]`(body)`, as a commit computes it.
fn hash(body: &str) -> String {
    crate::prompt::check_sent(name("x"), source(body), Default::default()).expect("valid prompt").hash()
}

fn record(prompt: &str, number: u32, body: &str) -> VersionRecord {
    VersionRecord { meta: meta(prompt, number, &hash(body)), source: source(body), partials: Default::default() }
}

fn outcomes(report: &SyncReport) -> Vec<(String, Option<u32>, Option<String>, Outcome)> {
    report
        .items
        .iter()
        .map(|i| (i.name.to_string(), i.version, i.label.as_ref().map(ToString::to_string), i.outcome))
        .collect()
}

#[test]
fn versions_missing_on_the_target_are_created_and_equal_ones_exist() {
    let source = [meta("a", 1, "h1"), meta("a", 2, "h2")];
    let report = plan(&source, &[], &[meta("a", 1, "h1")], &[], PUSH);
    assert_eq!(
        outcomes(&report),
        vec![("a".into(), Some(1), None, Outcome::Exists), ("a".into(), Some(2), None, Outcome::Created)]
    );
}

#[test]
fn a_different_hash_under_the_same_number_holds_back_the_whole_prompt() {
    let source = [meta("a", 1, "h1"), meta("a", 2, "h2"), meta("b", 1, "x1")];
    let labels = [label("a", "production", 2)];
    let report = plan(&source, &labels, &[meta("a", 1, "other")], &[], PUSH);
    assert_eq!(report.count(Outcome::Conflict), 3, "{report:?}");
    assert_eq!(report.conflicted().into_iter().map(ToString::to_string).collect::<Vec<_>>(), vec!["a"]);
    assert_eq!(outcomes(&report).last(), Some(&("b".into(), Some(1), None, Outcome::Created)));
}

#[test]
fn a_label_pointing_elsewhere_is_a_conflict_and_an_equal_one_exists() {
    let source = [meta("a", 1, "h1"), meta("a", 2, "h2")];
    let both = [meta("a", 1, "h1"), meta("a", 2, "h2")];
    let same = plan(&source, &[label("a", "staging", 2)], &both, &[label("a", "staging", 2)], PUSH);
    assert_eq!(same.count(Outcome::Exists), 3);
    let moved = plan(&source, &[label("a", "staging", 2)], &both, &[label("a", "staging", 1)], PUSH);
    let conflict = moved.items.iter().find(|i| i.label.is_some()).expect("label item");
    assert_eq!(conflict.outcome, Outcome::Conflict);
    assert!(conflict.detail.as_deref().is_some_and(|d| d.contains("points at 2 locally, 1 on the server")));
}

#[test]
fn target_prompts_the_source_lacks_are_left_alone() {
    let report = plan(&[], &[], &[meta("z", 1, "h")], &[label("z", "production", 1)], PUSH);
    assert!(report.items.is_empty());
}

async fn store() -> (tempfile::TempDir, SqliteStore, Scope) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(dir.path().join("p.db")).await.expect("open store");
    let scope = Principal::local("ada").authorize(Action::Write, LOCAL_PROJECT).expect("scope");
    (dir, store, scope)
}

#[tokio::test]
async fn apply_keeps_numbers_authors_messages_and_times_and_is_idempotent() {
    let (_dir, store, scope) = store().await;
    let bundle = SyncBundle {
        versions: vec![record("a", 2, "two"), record("b", 1, "bee"), record("a", 1, "one")],
        labels: vec![label("a", "production", 1)],
        ..SyncBundle::default()
    };
    let first = apply(&store, &scope, bundle.clone(), "bob", Direction::Pull).await.expect("apply");
    assert_eq!(first.count(Outcome::Created), 4);
    let stored = store.versions(&scope, &name("a")).await.expect("versions");
    let kept: Vec<_> = stored
        .iter()
        .map(|v| (v.number, v.hash.clone(), v.author.as_str(), v.message.as_str(), v.created_at))
        .collect();
    assert_eq!(kept, vec![(1, hash("one"), "ada", "v1", made(1)), (2, hash("two"), "ada", "v2", made(2))]);
    let again = apply(&store, &scope, bundle, "bob", Direction::Pull).await.expect("apply again");
    assert_eq!((again.count(Outcome::Created), again.count(Outcome::Exists)), (0, 4));
}

#[tokio::test]
async fn a_dry_run_writes_nothing() {
    let (_dir, store, scope) = store().await;
    let bundle = SyncBundle { versions: vec![record("a", 1, "one")], dry_run: true, ..SyncBundle::default() };
    let report = apply(&store, &scope, bundle, "bob", Direction::Pull).await.expect("apply");
    assert_eq!(report.count(Outcome::Created), 1);
    assert!(store.versions(&scope, &name("a")).await.expect("versions").is_empty());
}

#[tokio::test]
async fn a_conflicting_prompt_is_not_written_at_all() {
    let (_dir, store, scope) = store().await;
    apply(
        &store,
        &scope,
        SyncBundle { versions: vec![record("a", 1, "mine")], ..Default::default() },
        "bob",
        Direction::Pull,
    )
    .await
    .expect("seed");
    let theirs = SyncBundle {
        versions: vec![record("a", 1, "theirs"), record("a", 2, "two")],
        labels: vec![label("a", "production", 2)],
        ..SyncBundle::default()
    };
    let report = apply(&store, &scope, theirs, "bob", Direction::Pull).await.expect("apply");
    assert_eq!(report.count(Outcome::Conflict), 3);
    assert_eq!(store.versions(&scope, &name("a")).await.expect("versions").len(), 1);
    assert!(store.labels(&scope, None).await.expect("labels").is_empty());
}

/// Applies `bundle` to a fresh store; returns the refusal's code and path, and checks that
/// nothing was written.
async fn refused(bundle: SyncBundle) -> (&'static str, String) {
    let (_dir, store, scope) = store().await;
    let err = apply(&store, &scope, bundle, "bob", Direction::Pull).await.expect_err("refused");
    assert!(store.prompts(&scope).await.expect("prompts").is_empty(), "nothing is written");
    assert!(store.labels(&scope, None).await.expect("labels").is_empty(), "no label is set");
    match err {
        RegistryError::BadBundle { code, path, .. } => (code, path),
        other => panic!("unexpected error {other:?}"),
    }
}

#[tokio::test]
async fn a_forged_hash_is_refused_and_names_the_version() {
    let mut forged = record("a", 2, "two");
    forged.meta.hash = format!("abcd{}", &hash("two")[4..]);
    let bundle = SyncBundle { versions: vec![record("a", 1, "one"), forged], ..Default::default() };
    assert_eq!(refused(bundle).await, ("hash_mismatch", "versions[1].hash".to_owned()));
}

#[tokio::test]
async fn an_invalid_source_is_refused_like_a_commit() {
    let mut broken = record("a", 1, "one");
    broken.source = "messages: [".to_owned();
    let bundle = SyncBundle { versions: vec![broken], ..Default::default() };
    assert_eq!(refused(bundle).await, ("invalid_prompt", "versions[0].source".to_owned()));
}

#[tokio::test]
async fn path_like_and_unused_partial_names_are_refused() {
    for partial in ["../../etc/passwd", "unused.j2"] {
        let mut sneaky = record("a", 1, "one");
        sneaky.partials.insert(partial.to_owned(), "x".to_owned());
        let bundle = SyncBundle { versions: vec![sneaky], ..Default::default() };
        assert_eq!(refused(bundle).await, ("invalid_prompt", "versions[0].source".to_owned()), "{partial}");
    }
}

#[tokio::test]
async fn a_gap_in_the_numbers_is_refused_before_anything_is_written() {
    let bundle = SyncBundle { versions: vec![record("a", 1, "one"), record("a", 3, "three")], ..Default::default() };
    assert_eq!(refused(bundle).await, ("invalid_bundle", "versions[1].number".to_owned()));
    let twice = SyncBundle { versions: vec![record("a", 1, "one"), record("a", 1, "one")], ..Default::default() };
    assert_eq!(refused(twice).await, ("invalid_bundle", "versions[1].number".to_owned()));
}

#[tokio::test]
async fn labels_must_name_a_version_that_will_exist_and_not_be_latest() {
    let dangling = SyncBundle {
        versions: vec![record("a", 1, "one")],
        labels: vec![label("a", "staging", 1), label("a", "production", 7)],
        ..SyncBundle::default()
    };
    assert_eq!(refused(dangling).await, ("unknown_version", "labels[1].version".to_owned()));
    let latest = SyncBundle {
        versions: vec![record("a", 1, "one")],
        labels: vec![label("a", "latest", 1)],
        ..SyncBundle::default()
    };
    assert_eq!(refused(latest).await, ("latest_is_automatic", "labels[0].label".to_owned()));
}

#[tokio::test]
async fn a_dry_run_reports_the_same_refusal() {
    let mut forged = record("a", 1, "one");
    forged.meta.hash = hash("other");
    let bundle = SyncBundle { versions: vec![forged], dry_run: true, ..SyncBundle::default() };
    assert_eq!(refused(bundle).await.0, "hash_mismatch");
}

#[tokio::test]
async fn a_pushed_version_is_recorded_as_committed_by_the_pusher_now() {
    let (_dir, store, scope) = store().await;
    let bundle = SyncBundle { versions: vec![record("a", 1, "one")], ..Default::default() };
    let before = Utc::now();
    apply(&store, &scope, bundle, "bob", Direction::Push).await.expect("apply");
    let stored = store.versions(&scope, &name("a")).await.expect("versions");
    assert_eq!(stored[0].author, "bob", "not `ada`, whom the bundle names");
    assert!(stored[0].created_at >= before - Duration::seconds(1), "dated on arrival, not {}", made(1));
}

const PUSH: Rules = Rules { direction: Direction::Push, overwrite_labels: false };

#[test]
fn a_pull_names_the_server_as_the_source_and_the_local_store_as_the_target() {
    let pull = Rules { direction: Direction::Pull, overwrite_labels: false };
    let report = plan(&[meta("a", 1, "theirs00")], &[], &[meta("a", 1, "mine0000")], &[], pull);
    let detail = report.items[0].detail.as_deref().expect("detail");
    assert_eq!(detail, "version 1 differs: theirs00 on the server, mine0000 locally");
}

#[test]
fn overwriting_labels_replaces_a_label_pointing_elsewhere_but_never_a_version() {
    let theirs = Rules { direction: Direction::Pull, overwrite_labels: true };
    let both = [meta("a", 1, "h1"), meta("a", 2, "h2")];
    let report = plan(&both, &[label("a", "production", 1)], &both, &[label("a", "production", 2)], theirs);
    let moved = report.items.iter().find(|i| i.label.is_some()).expect("label item");
    assert_eq!((moved.outcome, moved.detail.as_deref()), (Outcome::Replaced, Some("moved from 2 locally")));
    let diverged = plan(&[meta("a", 1, "x")], &[], &[meta("a", 1, "y")], &[], theirs);
    assert_eq!(diverged.count(Outcome::Conflict), 1, "versions are immutable: still a conflict");
}

#[tokio::test]
async fn pulling_with_overwritten_labels_moves_the_local_label() {
    let (_dir, store, scope) = store().await;
    let versions = vec![record("a", 1, "one"), record("a", 2, "two")];
    let mine =
        SyncBundle { versions: versions.clone(), labels: vec![label("a", "production", 2)], ..SyncBundle::default() };
    apply(&store, &scope, mine, "ada", Direction::Pull).await.expect("seed");
    let theirs = SyncBundle {
        versions,
        labels: vec![label("a", "production", 1)],
        overwrite_labels: true,
        ..SyncBundle::default()
    };
    let report = apply(&store, &scope, theirs, "bob", Direction::Pull).await.expect("apply");
    assert_eq!(report.count(Outcome::Replaced), 1);
    let labels = store.labels(&scope, Some(&name("a"))).await.expect("labels");
    assert_eq!(
        labels.iter().map(|l| (l.label.to_string(), l.version)).collect::<Vec<_>>(),
        vec![("production".to_owned(), 1)]
    );
}
