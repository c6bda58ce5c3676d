//! Conformance cases of [`ExperimentStore`]: numbering, round trips, listing, isolation.

use pretty_assertions::assert_eq;
use promptops::store::{ExperimentArm, ExperimentDraft};

use super::{Backend, KEYSET_SUITES, check_keyset_paging, scope};

fn experiment(suite: &str, outcome: &str) -> ExperimentDraft {
    ExperimentDraft {
        suite: suite.to_owned(),
        arms: vec![
            ExperimentArm { letter: "A".into(), label: "triage@1 · offline".into(), run: Some(1) },
            ExperimentArm { letter: "B".into(), label: "triage@2 · offline".into(), run: None },
        ],
        sequential: false,
        alpha: 0.05,
        outcome: outcome.to_owned(),
        summary: "B beats A on pass rate: +8.0 pts [2.1, 13.9]".to_owned(),
        analysis: serde_json::json!({ "comparisons": [{ "challenger": 1, "p": 0.012, "note": "ünïcode ✓" }] }),
        actor: "ada".to_owned(),
    }
}

pub async fn experiments_are_numbered_and_kept_whole(b: Backend) {
    let s = scope("t", "p");
    let first = b.store.create_experiment(&s, experiment("triage", "B better")).await.expect("create");
    let second = b.store.create_experiment(&s, experiment("reply", "no difference")).await.expect("create");
    assert_eq!((first.id, second.id), (1, 2));
    let stored = b.store.experiment(&s, 1).await.expect("read").expect("exists");
    assert_eq!(stored, first, "what is read back is what create returned");
    assert_eq!(stored.draft, experiment("triage", "B better"));
    assert!(b.store.experiment(&s, 3).await.expect("read").is_none());
    let ids = |list: Vec<promptops::store::ExperimentRecord>| list.iter().map(|e| e.id).collect::<Vec<_>>();
    assert_eq!(ids(b.store.experiments(&s, None, None, 10).await.expect("list")), vec![2, 1], "newest first");
    assert_eq!(ids(b.store.experiments(&s, Some("triage"), None, 10).await.expect("list")), vec![1]);
    assert_eq!(ids(b.store.experiments(&s, None, None, 1).await.expect("list")), vec![2]);
    let reopened = b.reopen().await;
    assert_eq!(reopened.experiment(&s, 2).await.expect("read").expect("exists").draft.outcome, "no difference");
}

pub async fn experiments_are_isolated_by_tenant_and_project(b: Backend) {
    let (a, other, sibling) = (scope("t1", "p"), scope("t2", "p"), scope("t1", "q"));
    b.store.create_experiment(&a, experiment("triage", "B better")).await.expect("create");
    for s in [&other, &sibling] {
        assert!(b.store.experiment(s, 1).await.expect("read").is_none());
        assert!(b.store.experiments(s, None, None, 10).await.expect("list").is_empty());
    }
    let theirs = b.store.create_experiment(&other, experiment("x", "-")).await.expect("create");
    assert_eq!(theirs.id, 1, "numbering is per project");
    assert_eq!(b.store.experiment(&a, 1).await.expect("read").expect("exists").draft.suite, "triage");
}

pub async fn concurrent_experiments_get_distinct_gapless_numbers(b: Backend) {
    let s = scope("t", "p");
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let store = b.reopen().await;
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for _ in 0..4 {
                ids.push(store.create_experiment(&s, experiment("triage", "-")).await.expect("create").id);
            }
            ids
        }));
    }
    let mut ids: Vec<u64> = futures::future::try_join_all(tasks).await.expect("tasks").concat();
    ids.sort_unstable();
    assert_eq!(ids, (1..=12).collect::<Vec<_>>());
}

pub async fn experiments_list_newest_first_below_a_bound(b: Backend) {
    let s = scope("t", "p");
    for suite in KEYSET_SUITES {
        b.store.create_experiment(&s, experiment(suite, "-")).await.expect("create");
    }
    b.store.create_experiment(&scope("t", "other"), experiment("triage", "-")).await.expect("create");
    check_keyset_paging(async |suite, before, limit| {
        let list = b.store.experiments(&s, suite, before, limit).await.expect("list");
        list.iter().map(|e| e.id).collect()
    })
    .await;
}
