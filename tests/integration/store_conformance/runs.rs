//! Conformance cases of [`RunStore`]: run numbers, results, totals.

use chrono::{TimeZone, Utc};
use pretty_assertions::assert_eq;
use promptops::money::Micros;
use promptops::store::{
    AssertionResult, CaseStatus, ResultQuery, ResultRecord, RunDraft, RunRecord, RunStatus, RunTarget, RunTotals,
    StoreError, UnitKey,
};

use super::{Backend, KEYSET_SUITES, check_keyset_paging, scope};

pub fn run_draft(suite: &str) -> RunDraft {
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
        duration_ms: 15 + u64::from(case),
        input_tokens: 10,
        output_tokens: 5,
        cost: Micros(7),
        cached: case == 0,
    }
}

pub async fn runs_are_numbered_and_keep_their_results(b: Backend) {
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
    let listed: Vec<u64> = b.store.runs(&s, None, None, 10).await.expect("list").iter().map(|r| r.id).collect();
    assert_eq!(listed, vec![2, 1]);
    let triage: Vec<u64> =
        b.store.runs(&s, Some("triage"), None, 10).await.expect("list").iter().map(|r| r.id).collect();
    assert_eq!(triage, vec![1]);
    assert!(matches!(
        b.store.append_results(&s, 9, vec![result(0, CaseStatus::Pass)]).await,
        Err(StoreError::RunNotFound { id: 9 })
    ));
}

pub async fn an_imported_run_is_numbered_anew_and_stored_whole(b: Backend) {
    let s = scope("t", "p");
    b.store.create_run(&s, run_draft("triage")).await.expect("create");
    let started = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).single().expect("a valid time");
    let finished = started + chrono::Duration::seconds(90);
    let uploaded = RunRecord {
        id: 77,
        draft: run_draft("reply"),
        status: RunStatus::Failed,
        started_at: started,
        finished_at: Some(finished),
        totals: RunTotals { done: 999, ..RunTotals::default() },
        owner: None,
    };
    let results = vec![result(0, CaseStatus::Pass), result(1, CaseStatus::Fail), result(0, CaseStatus::Pass)];
    let stored = b.store.import_run(&s, uploaded, results).await.expect("import");
    assert_eq!((stored.id, stored.status, stored.draft.clone()), (2, RunStatus::Failed, run_draft("reply")));
    assert_eq!((stored.started_at, stored.finished_at), (started, Some(finished)), "the run's own times are kept");
    let t = stored.totals;
    assert_eq!((t.done, t.passed, t.failed, t.cost), (2, 1, 1, Micros(14)), "totals are counted, not taken");
    assert_eq!(b.store.run(&s, 2).await.expect("read"), Some(stored));
    assert_eq!(b.store.results(&s, 2, ResultQuery::default()).await.expect("results").len(), 2);
    let other = scope("t2", "p");
    let elsewhere = b.store.run(&s, 2).await.expect("read").expect("exists");
    assert_eq!(b.store.import_run(&other, elsewhere, Vec::new()).await.expect("import").id, 1, "per project");
    assert!(b.store.results(&other, 1, ResultQuery::default()).await.expect("results").is_empty());
}

pub async fn runs_are_isolated_by_tenant_and_project(b: Backend) {
    let (a, other) = (scope("t1", "p"), scope("t2", "p"));
    b.store.create_run(&a, run_draft("triage")).await.expect("create");
    b.store.append_results(&a, 1, vec![result(0, CaseStatus::Pass)]).await.expect("append");
    assert!(b.store.run(&other, 1).await.expect("read").is_none());
    assert!(b.store.runs(&other, None, None, 10).await.expect("list").is_empty());
    assert!(b.store.results(&other, 1, ResultQuery::default()).await.expect("results").is_empty());
    assert!(b.store.append_results(&other, 1, vec![result(1, CaseStatus::Pass)]).await.is_err());
    assert_eq!(b.store.create_run(&other, run_draft("x")).await.expect("create").id, 1, "numbering is per project");
}

pub async fn appending_the_same_results_again_changes_nothing(b: Backend) {
    let s = scope("t", "p");
    b.store.create_run(&s, run_draft("triage")).await.expect("create");
    let batch = vec![result(0, CaseStatus::Pass), result(1, CaseStatus::Fail)];
    b.store.append_results(&s, 1, batch.clone()).await.expect("append");
    let once = b.store.run(&s, 1).await.expect("read").expect("exists");
    // A resumed run, or a writer retrying after a lost acknowledgement, sends the batch again.
    b.store.append_results(&s, 1, batch.clone()).await.expect("append again");
    let mut changed = result(1, CaseStatus::Pass);
    changed.output = Some("a different answer".to_owned());
    b.store.append_results(&s, 1, vec![changed]).await.expect("append a stored unit");
    let twice = b.store.run(&s, 1).await.expect("read").expect("exists");
    assert_eq!(twice.totals, once.totals);
    assert_eq!(b.store.results(&s, 1, ResultQuery::default()).await.expect("results"), batch, "the first write wins");
    b.store.append_results(&s, 1, Vec::new()).await.expect("an empty batch is fine");
}

pub async fn concurrent_appends_keep_totals_equal_to_the_rows(b: Backend) {
    let s = scope("t", "p");
    b.store.create_run(&s, run_draft("triage")).await.expect("create");
    // Overlapping batches: writer w appends cases 5w .. 5w+10, so half of each is a repeat.
    b.concurrently(4, |store, writer| {
        let s = s.clone();
        async move {
            for chunk in (writer * 5..writer * 5 + 10).collect::<Vec<_>>().chunks(3) {
                let batch = chunk.iter().map(|&case| result(case, CaseStatus::Pass)).collect();
                store.append_results(&s, 1, batch).await.expect("append");
            }
        }
    })
    .await;
    let run = b.store.run(&s, 1).await.expect("read").expect("exists");
    let rows = b.store.results(&s, 1, ResultQuery::default()).await.expect("results");
    assert_eq!(rows.len(), 25);
    assert_eq!((run.totals.done, run.totals.passed, run.totals.cost), (25, 25, Micros(25 * 7)));
}

pub async fn concurrent_runs_get_distinct_gapless_numbers(b: Backend) {
    let s = scope("t", "p");
    let ids = b
        .concurrently(4, |store, _| {
            let s = s.clone();
            async move {
                let mut ids = Vec::new();
                for _ in 0..5 {
                    ids.push(store.create_run(&s, run_draft("triage")).await.expect("create").id);
                }
                ids
            }
        })
        .await;
    let mut ids: Vec<u64> = ids.concat();
    ids.sort_unstable();
    assert_eq!(ids, (1..=20).collect::<Vec<_>>());
}

pub async fn runs_list_newest_first_below_a_bound(b: Backend) {
    let s = scope("t", "p");
    for suite in KEYSET_SUITES {
        b.store.create_run(&s, run_draft(suite)).await.expect("create");
    }
    b.store.create_run(&scope("t", "other"), run_draft("triage")).await.expect("create");
    check_keyset_paging(async |suite, before, limit| {
        let list = b.store.runs(&s, suite, before, limit).await.expect("list");
        list.iter().map(|r| r.id).collect()
    })
    .await;
}

/// `claim_run` is a compare-and-set on the owner: of two processes that read the same owner,
/// one takes the run over; a finished run is claimed by nobody; ids beyond `i64::MAX` are
/// refused, not wrapped.
pub async fn a_run_is_claimed_by_one_owner_at_a_time(b: Backend) {
    let s = scope("t", "p");
    let run = b.store.create_run(&s, run_draft("triage")).await.expect("create");
    assert_eq!(run.owner, None);
    assert!(b.store.claim_run(&s, 1, None, "first").await.expect("claim"));
    assert_eq!(b.store.run(&s, 1).await.expect("read").expect("exists").owner.as_deref(), Some("first"));
    b.store.set_run_status(&s, 1, RunStatus::Interrupted).await.expect("interrupt");
    let (a, other) = (b.reopen().await, b.reopen().await);
    let (won, lost) =
        tokio::join!(a.claim_run(&s, 1, Some("first"), "second"), other.claim_run(&s, 1, Some("first"), "third"));
    let (won, lost) = (won.expect("claim"), lost.expect("claim"));
    assert!(won ^ lost, "exactly one of two claims from the same owner succeeds: {won} {lost}");
    let claimed = b.store.run(&s, 1).await.expect("read").expect("exists");
    assert_eq!(claimed.status, RunStatus::Running, "a claimed run runs again");
    assert_eq!(claimed.finished_at, None);
    assert!(!b.store.claim_run(&s, 1, Some("first"), "fourth").await.expect("claim"), "the owner moved on");
    b.store.set_run_status(&s, 1, RunStatus::Passed).await.expect("finish");
    let owner = claimed.owner.as_deref();
    assert!(!b.store.claim_run(&s, 1, owner, "fifth").await.expect("claim"), "a finished run is not claimed");
    assert!(!b.store.claim_run(&s, 9, None, "sixth").await.expect("claim"), "nor a missing one");
    let too_large = b.store.claim_run(&s, u64::MAX, None, "x").await.expect_err("refused");
    assert!(matches!(too_large, StoreError::TooLarge { .. }), "{too_large:?}");
    let err = b.store.append_results(&s, u64::MAX, vec![result(0, CaseStatus::Pass)]).await.expect_err("refused");
    assert!(matches!(err, StoreError::TooLarge { .. }), "{err:?}");
}
