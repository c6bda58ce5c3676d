//! Conformance cases of admission by several replicas at once: whatever a backend does to spare
//! round trips (PostgreSQL leases shares of rate and budget to each replica), budgets are never
//! overspent, rates hold across replicas, and a dead replica's share comes back with its lease.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use pretty_assertions::assert_eq;

use promptops::money::Micros;
use promptops::store::gateway::meter::LEASE;
use promptops::store::{Admission, MeterLimit, MeterRequest, MeterScope, MeterSettle, Store};

use super::Backend;
use super::gateway::acme;

fn scope(rpm: Option<u32>, daily: Option<i64>) -> MeterScope {
    MeterScope { key: "key:tok_s".into(), rpm, tpm: None, max_parallel: None, daily: daily.map(Micros), monthly: None }
}

fn request(scope: &MeterScope, estimate: i64, holder: &str, now: DateTime<Utc>) -> MeterRequest {
    MeterRequest { scopes: vec![scope.clone()], tokens: 10, estimate: Micros(estimate), now, holder: holder.to_owned() }
}

/// Admits calls of `estimate` for `holder` until one is refused: how many passed.
async fn admit_until_refused(
    store: &Arc<dyn Store>,
    scope: &MeterScope,
    estimate: i64,
    holder: &str,
    at: DateTime<Utc>,
) -> u64 {
    let mut admitted = 0;
    while admitted < 20_000 {
        match store.gateway_admit(&acme(), &request(scope, estimate, holder, at)).await.expect("admit") {
            Admission::Admitted => admitted += 1,
            Admission::Refused { .. } => return admitted,
        }
    }
    admitted
}

/// Noon today: leases later in a test are the same day.
fn noon() -> DateTime<Utc> {
    Utc::now().date_naive().and_hms_opt(12, 0, 0).expect("noon").and_utc()
}

pub async fn replicas_admitting_at_once_never_overspend_a_budget_of_three_calls(b: Backend) {
    let budget = scope(None, Some(300));
    let now = noon();
    let tasks = (0..60).map(|n| {
        let (store, budget) = (Arc::clone(&b.store), budget.clone());
        tokio::spawn(async move {
            let request = request(&budget, 100, &format!("replica_{}", n % 3), now);
            (store.gateway_admit(&acme(), &request).await.expect("admit"), request)
        })
    });
    let outcomes: Vec<_> = futures::future::join_all(tasks).await.into_iter().map(|t| t.expect("task")).collect();
    let admitted: Vec<&MeterRequest> =
        outcomes.iter().filter(|(a, _)| *a == Admission::Admitted).map(|(_, r)| r).collect();
    assert_eq!(admitted.len(), 3, "three calls' worth, and no more, across three replicas");
    // Settled at their full estimate, as the writer settles them: nothing is left to spend.
    let settles: Vec<_> = admitted.iter().map(|r| (acme(), MeterSettle::of(r, Micros(100)))).collect();
    let rest = b.store.gateway_settle_in_memory(settles);
    b.store.gateway_flush(&[], &rest).await.expect("settle");
    let outcome = b.store.gateway_admit(&acme(), &request(&budget, 1, "replica_new", now)).await.expect("admit");
    assert!(matches!(outcome, Admission::Refused { limit: MeterLimit::Daily, .. }), "{outcome:?}");
}

pub async fn replicas_sharing_a_budget_admit_at_most_what_it_holds_and_strand_under_a_call_each(b: Backend) {
    let budget = scope(None, Some(10_000));
    let now = noon();
    let replicas = 4;
    let tasks = (0..replicas).map(|n| {
        let (store, budget) = (Arc::clone(&b.store), budget.clone());
        tokio::spawn(async move { admit_until_refused(&store, &budget, 10, &format!("replica_{n}"), now).await })
    });
    let admitted: u64 = futures::future::join_all(tasks).await.into_iter().map(|t| t.expect("task")).sum();
    assert!(admitted <= 1_000, "{admitted} calls of 10 admitted on a budget of 10,000");
    assert!(admitted > 1_000 - replicas, "{admitted} admitted: more than a call's worth stranded per replica");
}

pub async fn a_dead_replicas_unused_share_comes_back_when_its_lease_ends(b: Backend) {
    let budget = scope(None, Some(1_000));
    let now = noon();
    let lease = Duration::from_std(LEASE).expect("lease");
    let dead = b.store.gateway_admit(&acme(), &request(&budget, 10, "replica_dead", now)).await.expect("admit");
    assert_eq!(dead, Admission::Admitted);
    let before = admit_until_refused(&b.store, &budget, 10, "replica_live", now).await;
    assert!(before < 100, "{before} admitted beside the dead replica's call on a budget of 100 calls");
    let renewed = now + lease / 2;
    b.store.gateway_renew("replica_live", renewed).await.expect("renew");
    assert_eq!(admit_until_refused(&b.store, &budget, 10, "replica_live", renewed).await, 0, "its share is still held");
    let after = now + lease + Duration::seconds(1);
    b.store.gateway_renew("replica_live", after).await.expect("renew");
    let later = admit_until_refused(&b.store, &budget, 10, "replica_live", after).await;
    assert!(later >= 1, "the dead replica's share never came back");
    assert!(before + later <= 100, "{before} + {later} calls of 10 on a budget of 1,000");
}

pub async fn a_rate_limit_holds_across_replicas_leasing_shares(b: Backend) {
    let rate = scope(Some(6_000), None);
    let now = Utc::now();
    let tasks = (0..3).map(|n| {
        let (store, rate) = (Arc::clone(&b.store), rate.clone());
        tokio::spawn(async move { admit_until_refused(&store, &rate, 0, &format!("replica_{n}"), now).await })
    });
    let admitted: u64 = futures::future::join_all(tasks).await.into_iter().map(|t| t.expect("task")).sum();
    // Never more than a minute's worth; a refill that lands after its replica stopped strands
    // its chunk (at most 10 requests at rpm 6,000) until the share's second ends.
    assert!((6_000 - 3 * 2 * 10..=6_000).contains(&admitted), "{admitted} admitted at rpm 6,000");
    let refused = b.store.gateway_admit(&acme(), &request(&rate, 0, "replica_new", now)).await.expect("admit");
    let Admission::Refused { limit: MeterLimit::Rpm, retry_after: Some(wait), .. } = refused else {
        panic!("not refused for its rate: {refused:?}");
    };
    assert!(wait <= std::time::Duration::from_millis(20), "one request's interval is 10 ms: {wait:?}");
}
