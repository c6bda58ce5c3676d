//! Conformance cases of [`QueueStore`]: server-side runs queued once, units claimed once under a
//! lease, results written only by the lease's holder, rescue, release, cancel and fairness.

use std::collections::HashSet;
use std::time::Duration;

use pretty_assertions::assert_eq;
use promptops::store::{
    CaseStatus, ClaimOptions, ClaimedUnit, QueuedRunDraft, ResultRecord, RunStatus, Scope, UnitKey, UnitResult,
};

use super::runs::run_draft;
use super::{Backend, scope};

fn queued(key: Option<&str>, units: u32) -> QueuedRunDraft {
    let mut draft = run_draft("triage");
    draft.total = u64::from(units);
    QueuedRunDraft {
        draft,
        units: (0..units).map(|case| UnitKey { target: 0, provider: 0, case, repeat: 0 }).collect(),
        spec: "{\"suite\":\"eval-suites/triage.yaml\"}".to_owned(),
        idempotency_key: key.map(str::to_owned),
    }
}

fn options(owner: &str, limit: usize) -> ClaimOptions {
    ClaimOptions { owner: owner.to_owned(), limit, lease: Duration::from_secs(30), tenant_cap: 1000 }
}

fn passed(unit: &ClaimedUnit) -> UnitResult {
    let result = ResultRecord {
        unit: unit.key,
        case_name: format!("case {}", unit.key.case),
        case_key: format!("k{}", unit.key.case),
        location: None,
        vars: serde_json::json!({}),
        tags: Vec::new(),
        status: CaseStatus::Pass,
        score: 1.0,
        output: Some(format!("by {}", unit.token)),
        error: None,
        assertions: Vec::new(),
        latency_ms: 1,
        duration_ms: 1,
        input_tokens: 1,
        output_tokens: 1,
        cost: promptops::money::Micros(1),
        cached: false,
    };
    UnitResult { claimed: unit.clone(), result }
}

async fn results(b: &Backend, s: &Scope, run: u64) -> Vec<(u64, u32)> {
    let found = b.store.results_after(s, run, 0, 1000).await.expect("results");
    found.into_iter().map(|r| (r.seq, r.result.unit.case)).collect()
}

pub async fn a_queued_run_is_created_once_per_idempotency_key(b: Backend) {
    let s = scope("t", "p");
    let (first, created) = b.store.enqueue_run(&s, queued(Some("k1"), 3)).await.expect("enqueue");
    assert!(created);
    let (again, created) = b.store.enqueue_run(&s, queued(Some("k1"), 3)).await.expect("enqueue again");
    assert!(!created, "the same key gives the first run back");
    assert_eq!(again.id, first.id);
    let (other, created) = b.store.enqueue_run(&s, queued(Some("k2"), 3)).await.expect("another key");
    assert!(created);
    assert_ne!(other.id, first.id);
    let elsewhere = scope("t", "q");
    let (_, created) = b.store.enqueue_run(&elsewhere, queued(Some("k1"), 3)).await.expect("other project");
    assert!(created, "keys are per project");
    assert_eq!(b.store.run_spec(&s, first.id).await.expect("spec").as_deref(), Some(queued(None, 1).spec.as_str()));
    let claimed = b.store.claim_units(&options("a", 100)).await.expect("claim");
    assert_eq!(claimed.len(), 9, "three runs of three units, none twice");
}

pub async fn concurrent_submissions_with_one_key_make_one_run(b: Backend) {
    let s = scope("t", "p");
    let made = b
        .concurrently(6, move |store, _| {
            let s = s.clone();
            async move { store.enqueue_run(&s, queued(Some("same"), 2)).await.expect("enqueue") }
        })
        .await;
    let ids: HashSet<u64> = made.iter().map(|(run, _)| run.id).collect();
    assert_eq!(ids.len(), 1, "one run for one key: {made:?}");
    assert_eq!(made.iter().filter(|(_, created)| *created).count(), 1);
}

pub async fn a_result_is_written_only_by_the_holder_of_its_lease(b: Backend) {
    let s = scope("t", "p");
    let (run, _) = b.store.enqueue_run(&s, queued(None, 3)).await.expect("enqueue");
    let claimed = b.store.claim_units(&options("a", 10)).await.expect("claim");
    assert_eq!(claimed.len(), 3);
    assert!(b.store.claim_units(&options("b", 10)).await.expect("claim").is_empty(), "nothing left to claim");
    let mut forged = claimed[0].clone();
    forged.token = uuid::Uuid::new_v4().to_string();
    assert!(b.store.complete_units(vec![passed(&forged)]).await.expect("complete").is_empty(), "a wrong token");
    let written = b.store.complete_units(claimed.iter().map(passed).collect()).await.expect("complete");
    assert_eq!(written.len(), 3);
    assert!(b.store.complete_units(vec![passed(&claimed[0])]).await.expect("again").is_empty(), "written once");
    assert_eq!(results(&b, &s, run.id).await, vec![(1, 0), (2, 1), (3, 2)], "numbered in write order");
    let stored = b.store.run(&s, run.id).await.expect("run").expect("exists");
    assert_eq!((stored.status, stored.totals.done, stored.totals.passed), (RunStatus::Passed, 3, 3));
}

pub async fn an_expired_lease_is_rescued_and_its_late_holder_is_refused(b: Backend) {
    let s = scope("t", "p");
    let (run, _) = b.store.enqueue_run(&s, queued(None, 1)).await.expect("enqueue");
    let short = ClaimOptions { lease: Duration::ZERO, ..options("stalled", 1) };
    let stale = b.store.claim_units(&short).await.expect("claim").remove(0);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(b.store.rescue_units(false).await.expect("rescue"), 1);
    assert!(b.store.claim_units(&options("b", 1)).await.expect("claim").is_empty(), "rescued units wait a backoff");
    let fresh = loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if let Some(unit) = b.store.claim_units(&options("b", 1)).await.expect("claim").pop() {
            break unit;
        }
    };
    assert_eq!((fresh.unit, fresh.attempt), (stale.unit, 2));
    assert!(b.store.renew_leases("stalled", Duration::from_secs(30)).await.expect("renew").is_empty());
    assert!(b.store.complete_units(vec![passed(&stale)]).await.expect("late").is_empty(), "the late write is refused");
    assert_eq!(b.store.complete_units(vec![passed(&fresh)]).await.expect("complete").len(), 1);
    let stored = b.store.results_after(&s, run.id, 0, 10).await.expect("results");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].result.output.as_deref(), Some(format!("by {}", fresh.token).as_str()));
}

pub async fn a_restart_requeues_every_running_unit_at_once(b: Backend) {
    let s = scope("t", "p");
    b.store.enqueue_run(&s, queued(None, 2)).await.expect("enqueue");
    assert_eq!(b.store.claim_units(&options("dead", 2)).await.expect("claim").len(), 2);
    assert_eq!(b.store.rescue_units(true).await.expect("requeue"), 2);
    let again = b.store.claim_units(&options("alive", 2)).await.expect("claim");
    assert_eq!(again.len(), 2, "no backoff after a restart");
}

pub async fn released_units_are_claimed_again_without_spending_an_attempt(b: Backend) {
    let s = scope("t", "p");
    b.store.enqueue_run(&s, queued(None, 2)).await.expect("enqueue");
    let held = b.store.claim_units(&options("draining", 2)).await.expect("claim");
    b.store.release_units(held.clone()).await.expect("release");
    let taken = b.store.claim_units(&options("peer", 2)).await.expect("claim");
    assert_eq!(taken.iter().map(|u| (u.unit, u.attempt)).collect::<Vec<_>>(), vec![(0, 1), (1, 1)]);
    assert!(b.store.complete_units(held.iter().map(passed).collect()).await.expect("late").is_empty());
}

pub async fn renewal_keeps_held_units_and_a_cancel_takes_them_away(b: Backend) {
    let s = scope("t", "p");
    let (run, _) = b.store.enqueue_run(&s, queued(None, 4)).await.expect("enqueue");
    let held = b.store.claim_units(&options("a", 2)).await.expect("claim");
    assert_eq!(b.store.complete_units(vec![passed(&held[0])]).await.expect("complete").len(), 1);
    let renewed = b.store.renew_leases("a", Duration::from_secs(30)).await.expect("renew");
    assert_eq!(renewed, vec![held[1].clone()], "only the unit still held");
    let cancelled = b.store.cancel_run(&s, run.id, None).await.expect("cancel");
    assert_eq!(cancelled.status, RunStatus::Cancelled);
    assert!(b.store.renew_leases("a", Duration::from_secs(30)).await.expect("renew").is_empty());
    assert!(b.store.claim_units(&options("b", 10)).await.expect("claim").is_empty(), "queued units are gone");
    assert!(b.store.complete_units(vec![passed(&held[1])]).await.expect("late").is_empty());
    assert_eq!(results(&b, &s, run.id).await, vec![(1, 0)], "what finished is kept");
    assert_eq!(b.store.queue_depth().await.expect("depth"), Vec::<(String, u64)>::new(), "no unit rows remain");
}

pub async fn a_run_stopped_by_a_worker_keeps_the_first_reason(b: Backend) {
    let s = scope("t", "p");
    let (run, _) = b.store.enqueue_run(&s, queued(None, 3)).await.expect("enqueue");
    assert_eq!(b.store.run_stop(&s, run.id).await.expect("read"), None, "a queued run has no stop");
    let stopped = b.store.cancel_run(&s, run.id, Some(r#"{"message":"refused","hints":[]}"#)).await.expect("stop");
    assert_eq!(stopped.status, RunStatus::Cancelled);
    b.store.cancel_run(&s, run.id, Some(r#"{"message":"later","hints":[]}"#)).await.expect("again");
    b.store.cancel_run(&s, run.id, None).await.expect("a user's cancel after it");
    let reason = b.store.run_stop(&s, run.id).await.expect("read");
    assert_eq!(reason.as_deref(), Some(r#"{"message":"refused","hints":[]}"#), "the first reason stays");
    assert_eq!(b.store.run_stop(&scope("t", "other"), run.id).await.expect("read"), None, "other projects see none");
}

pub async fn a_tenant_runs_at_most_its_cap_of_units(b: Backend) {
    let (busy, quiet) = (scope("busy", "p"), scope("quiet", "p"));
    b.store.enqueue_run(&busy, queued(None, 10)).await.expect("enqueue");
    b.store.enqueue_run(&quiet, queued(None, 10)).await.expect("enqueue");
    let capped = ClaimOptions { tenant_cap: 3, ..options("a", 100) };
    let first = b.store.claim_units(&capped).await.expect("claim");
    let per_tenant = |units: &[ClaimedUnit], t: &str| units.iter().filter(|u| u.scope.tenant() == t).count();
    assert_eq!((per_tenant(&first, "busy"), per_tenant(&first, "quiet")), (3, 3));
    assert!(b.store.claim_units(&capped).await.expect("claim").is_empty(), "both tenants at their cap");
    b.store
        .complete_units(first.iter().filter(|u| u.scope.tenant() == "busy").map(passed).collect())
        .await
        .expect("complete");
    let next = b.store.claim_units(&capped).await.expect("claim");
    assert_eq!((per_tenant(&next, "busy"), per_tenant(&next, "quiet")), (3, 0));
}

pub async fn waiting_tenants_share_the_free_slots_evenly(b: Backend) {
    let (busy, quiet) = (scope("busy", "p"), scope("quiet", "p"));
    b.store.enqueue_run(&busy, queued(None, 50)).await.expect("enqueue");
    b.store.enqueue_run(&quiet, queued(None, 50)).await.expect("enqueue");
    let first = b.store.claim_units(&options("a", 4)).await.expect("claim");
    let busy_count = first.iter().filter(|u| u.scope.tenant() == "busy").count();
    assert_eq!((busy_count, first.len()), (2, 4), "two slots each, though busy queued first");
}

pub async fn concurrent_claimers_never_share_a_unit(b: Backend) {
    let s = scope("t", "p");
    b.store.enqueue_run(&s, queued(None, 200)).await.expect("enqueue");
    let claimed = b
        .concurrently(4, |store, i| async move {
            let mut mine = Vec::new();
            loop {
                let got = store.claim_units(&options(&format!("r{i}"), 7)).await.expect("claim");
                if got.is_empty() {
                    break mine;
                }
                let written = store.complete_units(got.iter().map(passed).collect()).await.expect("complete");
                assert_eq!(written.len(), got.len(), "a claimer's own units are its to write");
                mine.extend(got.into_iter().map(|u| u.unit));
            }
        })
        .await;
    let all: Vec<u64> = claimed.into_iter().flatten().collect();
    let distinct: HashSet<u64> = all.iter().copied().collect();
    assert_eq!((all.len(), distinct.len()), (200, 200));
    let seqs: Vec<u64> = b.store.results_after(&s, 1, 0, 1000).await.expect("results").iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=200).collect::<Vec<u64>>(), "numbers without gap or repeat");
}
