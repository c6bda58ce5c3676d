//! Conformance cases of [`GatewayStore`]'s slots: a slot of `max_parallel` is leased to the replica
//! holding it, so a dead replica's slots come back when its lease ends, while a live replica,
//! renewing its leases, keeps its own.

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
