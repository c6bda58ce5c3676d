//! Conformance cases of [`GatewayStore`]'s leases: a slot of `max_parallel` and a budget
//! reservation are leased to the replica holding them, so a dead replica's come back when its
//! lease ends, while a live replica, renewing its leases, keeps its own.

use chrono::{DateTime, Duration, Utc};
use pretty_assertions::assert_eq;
use std::collections::BTreeMap;

use promptops::access::{Principal, TenantScope};
use promptops::money::Micros;
use promptops::store::gateway::meter::LEASE;
use promptops::store::{Admission, MeterLimit, MeterRequest, MeterScope, MeterSettle};

use super::Backend;

fn one_slot() -> Vec<MeterScope> {
    vec![MeterScope {
        key: "key:tok_1".into(),
        rpm: None,
        tpm: None,
        max_parallel: Some(1),
        daily: None,
        monthly: None,
    }]
}

fn request(holder: &str, now: DateTime<Utc>) -> MeterRequest {
    MeterRequest { scopes: one_slot(), tokens: 10, estimate: Micros::ZERO, now, holder: holder.to_owned() }
}

pub fn acme() -> TenantScope {
    let admin = Principal {
        subject: "root".into(),
        tenant: "acme".into(),
        roles: BTreeMap::new(),
        tenant_admin: true,
        super_admin: false,
    };
    admin.authorize_tenant().expect("tenant admin")
}

async fn admit(b: &Backend, holder: &str, now: DateTime<Utc>) -> Admission {
    let tenant = acme();
    b.store.gateway_admit(&tenant, &request(holder, now)).await.expect("admit")
}

fn refused_for_parallel(outcome: &Admission) -> bool {
    matches!(outcome, Admission::Refused { limit: MeterLimit::Parallel, .. })
}

fn lease() -> Duration {
    Duration::from_std(LEASE).expect("lease")
}

pub async fn a_dead_replicas_slot_comes_back_when_its_lease_ends(b: Backend) {
    let now = Utc::now();
    assert_eq!(admit(&b, "replica_dead", now).await, Admission::Admitted);
    assert!(refused_for_parallel(&admit(&b, "replica_live", now).await), "the slot is taken");
    let almost = now + lease() - Duration::seconds(1);
    b.store.gateway_renew("replica_live", almost).await.expect("renew");
    assert!(refused_for_parallel(&admit(&b, "replica_live", almost).await), "taken until the lease ends");
    // The dead replica never renewed: past its lease, its slot is free.
    let after = now + lease() + Duration::seconds(1);
    b.store.gateway_renew("replica_live", after).await.expect("renew");
    assert_eq!(admit(&b, "replica_live", after).await, Admission::Admitted, "the dead replica's slot came back");
    assert!(refused_for_parallel(&admit(&b, "replica_other", after).await), "one slot, now the live replica's");
}

pub async fn a_live_replica_keeps_its_slot_while_it_renews_and_gives_it_back_when_settled(b: Backend) {
    let now = Utc::now();
    assert_eq!(admit(&b, "replica_live", now).await, Admission::Admitted);
    // Renewed well within each lease, for three leases' time: the slot stays taken throughout.
    let mut at = now;
    for _ in 0..9 {
        at += lease() / 3;
        b.store.gateway_renew("replica_live", at).await.expect("renew");
        assert!(refused_for_parallel(&admit(&b, "replica_other", at).await), "a live replica's slot is kept");
    }
    let tenant = acme();
    let settle = MeterSettle {
        scopes: one_slot(),
        tokens_estimate: 10,
        tokens: 10,
        estimate: Micros::ZERO,
        cost: Micros::ZERO,
        admitted_at: now,
        now: at,
        holder: "replica_live".to_owned(),
    };
    b.store.gateway_flush(&[], &[(tenant, settle)]).await.expect("settle");
    assert_eq!(admit(&b, "replica_other", at).await, Admission::Admitted, "a settled call gives its slot back");
}

/// A daily budget of 100 µ$ and calls estimated at 60: one reservation fits, two do not.
fn budget() -> Vec<MeterScope> {
    vec![MeterScope {
        key: "project:web".into(),
        rpm: None,
        tpm: None,
        max_parallel: None,
        daily: Some(Micros(100)),
        monthly: None,
    }]
}

async fn reserve(b: &Backend, holder: &str, now: DateTime<Utc>) -> Admission {
    let request = MeterRequest { scopes: budget(), tokens: 10, estimate: Micros(60), now, holder: holder.to_owned() };
    b.store.gateway_admit(&acme(), &request).await.expect("admit")
}

fn refused_for_budget(outcome: &Admission) -> bool {
    matches!(outcome, Admission::Refused { limit: MeterLimit::Daily, .. })
}

pub async fn a_dead_replicas_reservation_comes_back_when_its_lease_ends(b: Backend) {
    // Mid-day, so that a lease later is the same day.
    let now = Utc::now().date_naive().and_hms_opt(12, 0, 0).expect("noon").and_utc();
    assert_eq!(reserve(&b, "replica_dead", now).await, Admission::Admitted);
    assert!(refused_for_budget(&reserve(&b, "replica_live", now).await), "the budget is reserved");
    let almost = now + lease() - Duration::seconds(1);
    b.store.gateway_renew("replica_live", almost).await.expect("renew");
    assert!(refused_for_budget(&reserve(&b, "replica_live", almost).await), "reserved until the lease ends");
    let after = now + lease() + Duration::seconds(1);
    b.store.gateway_renew("replica_live", after).await.expect("renew");
    assert_eq!(
        reserve(&b, "replica_live", after).await,
        Admission::Admitted,
        "the dead replica's reservation came back"
    );
    assert!(refused_for_budget(&reserve(&b, "replica_other", after).await), "now the live replica's");
}

pub async fn a_settled_reservation_becomes_spend_and_its_lease_no_longer_holds_it(b: Backend) {
    let now = Utc::now().date_naive().and_hms_opt(12, 0, 0).expect("noon").and_utc();
    assert_eq!(reserve(&b, "replica_live", now).await, Admission::Admitted);
    let settle = MeterSettle {
        scopes: budget(),
        tokens_estimate: 10,
        tokens: 10,
        estimate: Micros(60),
        cost: Micros(30),
        admitted_at: now,
        now,
        holder: "replica_live".to_owned(),
    };
    b.store.gateway_flush(&[], &[(acme(), settle)]).await.expect("settle");
    // 30 spent and nothing reserved: a call estimated at 60 fits, and then no other.
    assert_eq!(reserve(&b, "replica_other", now).await, Admission::Admitted, "the reservation was released");
    assert!(refused_for_budget(&reserve(&b, "replica_third", now).await), "30 spent + 60 reserved + 60 > 100");
    // Past every lease, only the spend remains: the settled call is not forgotten with its lease.
    let after = now + lease() * 2;
    b.store.gateway_renew("replica_third", after).await.expect("renew");
    assert_eq!(reserve(&b, "replica_third", after).await, Admission::Admitted, "30 + 60 fits");
    assert!(refused_for_budget(&reserve(&b, "replica_fourth", after).await), "30 + 60 + 60 does not");
}

/// The scopes of a call by `user` on key `n`: the key, its end user, the project and the
/// tenant, each with a budget, in the order a request lists them (not the rows' order).
fn budgeted(n: usize, user: usize) -> Vec<MeterScope> {
    let budget = |key: String| MeterScope {
        key,
        rpm: None,
        tpm: None,
        max_parallel: Some(1000),
        daily: Some(Micros(1_000_000_000)),
        monthly: None,
    };
    ["key:tok_{n}", "user:tok_{n}:u{user}", "project:web", "tenant"]
        .map(|k| budget(k.replace("{n}", &n.to_string()).replace("{user}", &user.to_string())))
        .to_vec()
}

pub async fn concurrent_admissions_and_settlements_never_deadlock(b: Backend) {
    let store = std::sync::Arc::clone(&b.store);
    let tasks = (0..8).map(|n| {
        let store = std::sync::Arc::clone(&store);
        tokio::spawn(async move {
            let mut admitted = Vec::new();
            for round in 0..40 {
                let now = Utc::now();
                let scopes = budgeted(n, round % 3);
                let request = MeterRequest {
                    scopes: scopes.clone(),
                    tokens: 10,
                    estimate: Micros(5),
                    now,
                    holder: format!("replica_{}", n % 2),
                };
                assert_eq!(store.gateway_admit(&acme(), &request).await.expect("admit"), Admission::Admitted);
                admitted.push(MeterSettle {
                    scopes,
                    tokens_estimate: 10,
                    tokens: 10,
                    estimate: Micros(5),
                    cost: Micros(3),
                    admitted_at: now,
                    now,
                    holder: request.holder,
                });
                // Settle in batches of two, as the writer does: one transaction, several rows.
                if admitted.len() == 2 {
                    let batch: Vec<_> = admitted.drain(..).map(|s| (acme(), s)).collect();
                    store.gateway_flush(&[], &batch).await.expect("settle");
                }
                if round % 10 == 0 {
                    store.gateway_renew(&format!("replica_{}", n % 2), Utc::now()).await.expect("renew");
                }
            }
        })
    });
    for task in futures::future::join_all(tasks).await {
        task.expect("no admission, settlement or renewal failed");
    }
}
