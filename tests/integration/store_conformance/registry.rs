//! Conformance cases of [`PromptStore`]: versions, labels and their history.

use pretty_assertions::assert_eq;
use promptops::store::{CommitOutcome, MoveReason, StoreError};

use super::{Backend, created, draft, label, name, scope};

pub async fn commit_numbers_versions_per_prompt(b: Backend) {
    let s = scope("t", "p");
    let out = b.store.commit(&s, vec![draft("a", "one"), draft("b", "one")]).await.expect("commit");
    assert_eq!(created(&out), vec![1, 1]);
    let out = b.store.commit(&s, vec![draft("a", "two")]).await.expect("commit");
    assert_eq!(created(&out), vec![2]);
    let versions = b.store.versions(&s, &name("a")).await.expect("versions");
    assert_eq!(versions.iter().map(|v| v.number).collect::<Vec<_>>(), vec![1, 2]);
}

pub async fn commit_skips_unchanged_content(b: Backend) {
    let s = scope("t", "p");
    b.store.commit(&s, vec![draft("a", "one")]).await.expect("commit");
    let out = b.store.commit(&s, vec![draft("a", "one")]).await.expect("commit");
    assert!(matches!(&out[0], CommitOutcome::Unchanged(m) if m.number == 1), "{out:?}");
}

pub async fn versions_keep_content_and_metadata(b: Backend) {
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

pub async fn a_copied_version_keeps_its_creation_time(b: Backend) {
    let s = scope("t", "p");
    let made = chrono::DateTime::parse_from_rfc3339("2025-03-04T05:06:07.123456Z").expect("time").to_utc();
    let copy = promptops::store::VersionDraft { created_at: Some(made), ..draft("a", "one") };
    let out = b.store.commit(&s, vec![copy, draft("b", "one")]).await.expect("commit");
    assert!(matches!(&out[0], CommitOutcome::Created(m) if m.created_at == made), "{out:?}");
    let record = b.store.version(&s, &name("a"), 1).await.expect("read").expect("exists");
    assert_eq!(record.meta.created_at, made);
    let fresh = b.store.version(&s, &name("b"), 1).await.expect("read").expect("exists");
    assert!(fresh.meta.created_at > made, "a draft without a time is stamped now");
}

pub async fn hash_prefix_finds_versions(b: Backend) {
    let s = scope("t", "p");
    b.store.commit(&s, vec![draft("a", "one")]).await.expect("commit");
    b.store.commit(&s, vec![draft("a", "two")]).await.expect("commit");
    let v2 = b.store.version(&s, &name("a"), 2).await.expect("read").expect("exists");
    let found = b.store.find_hash_prefix(&s, &name("a"), &v2.meta.hash[..6]).await.expect("find");
    assert_eq!(found.iter().map(|m| m.number).collect::<Vec<_>>(), vec![2]);
    assert!(b.store.find_hash_prefix(&s, &name("a"), "zzzz").await.expect("find").is_empty());
}

pub async fn prompts_summarise_latest_versions(b: Backend) {
    let s = scope("t", "p");
    b.store.commit(&s, vec![draft("b", "1"), draft("a", "1")]).await.expect("commit");
    b.store.commit(&s, vec![draft("a", "2")]).await.expect("commit");
    let summaries = b.store.prompts(&s).await.expect("list");
    let got: Vec<(String, u32, u32)> =
        summaries.iter().map(|p| (p.latest.name.to_string(), p.latest.number, p.version_count)).collect();
    assert_eq!(got, vec![("a".into(), 2, 2), ("b".into(), 1, 1)]);
}

pub async fn labels_move_and_record_history(b: Backend) {
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

pub async fn label_to_missing_version_fails_and_changes_nothing(b: Backend) {
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

pub async fn concurrent_commits_lose_nothing_and_stay_gapless(b: Backend) {
    let s = scope("t", "p");
    b.concurrently(4, |store, writer| {
        let s = s.clone();
        async move {
            for i in 0..10 {
                store.commit(&s, vec![draft("shared", &format!("w{writer}-{i}"))]).await.expect("commit");
            }
        }
    })
    .await;
    let numbers: Vec<u32> =
        b.store.versions(&s, &name("shared")).await.expect("versions").iter().map(|v| v.number).collect();
    assert_eq!(numbers, (1..=40).collect::<Vec<_>>());
}

pub async fn commit_chains_drafts_of_one_prompt_in_one_batch(b: Backend) {
    let s = scope("t", "p");
    let out = b.store.commit(&s, vec![draft("a", "1"), draft("a", "2"), draft("a", "2")]).await.expect("commit");
    assert_eq!(created(&out), vec![1, 2]);
    assert!(matches!(&out[2], CommitOutcome::Unchanged(m) if m.number == 2), "{out:?}");
    let latest = b.store.latest(&s, &name("a")).await.expect("read").expect("exists");
    assert_eq!((latest.meta.number, latest.source.as_str()), (2, "2"));
    let stored = b.store.version(&s, &name("a"), 2).await.expect("read").expect("exists");
    assert_eq!(stored.meta, latest.meta, "what commit returned is what was stored");
}

pub async fn concurrent_batches_in_opposite_orders_neither_deadlock_nor_collide(b: Backend) {
    let s = scope("t", "p");
    b.concurrently(4, |store, writer| {
        let s = s.clone();
        async move {
            for i in 0..5 {
                let (x, y) = (draft("x", &format!("x{writer}-{i}")), draft("y", &format!("y{writer}-{i}")));
                let batch = if writer % 2 == 0 { vec![x, y] } else { vec![y, x] };
                store.commit(&s, batch).await.expect("commit");
            }
        }
    })
    .await;
    for prompt in ["x", "y"] {
        let numbers: Vec<u32> =
            b.store.versions(&s, &name(prompt)).await.expect("versions").iter().map(|v| v.number).collect();
        assert_eq!(numbers, (1..=20).collect::<Vec<_>>(), "prompt {prompt}");
    }
}

pub async fn concurrent_label_moves_record_a_chained_history(b: Backend) {
    let s = scope("t", "p");
    for content in ["1", "2", "3", "4"] {
        b.store.commit(&s, vec![draft("a", content)]).await.expect("commit");
    }
    b.concurrently(4, |store, writer| {
        let s = s.clone();
        async move {
            for i in 0..3 {
                let (to, actor) = ((writer + i) % 4 + 1, format!("w{writer}"));
                let prod = label("production");
                store.move_label(&s, &name("a"), &prod, Some(to), MoveReason::Set, &actor).await.expect("move");
            }
        }
    })
    .await;
    let history = b.store.label_history(&s, &name("a")).await.expect("history");
    assert_eq!(history.len(), 12);
    assert_eq!(history[0].from, None);
    for pair in history.windows(2) {
        assert_eq!(pair[1].from, pair[0].to, "each move starts where the previous one ended: {pair:?}");
    }
    let labels = b.store.labels(&s, Some(&name("a"))).await.expect("labels");
    assert_eq!(labels.iter().map(|l| Some(l.version)).collect::<Vec<_>>(), vec![history[11].to]);
}
