//! SQLite's gateway meters, kept in memory. SQLite serves one replica, so admission need not be a
//! write: measured under load, the per-request transaction spent most of its time not in SQLite
//! but getting to it (handing the worker thread off with `block_in_place`, waiting for the one
//! connection behind the background writers, and for the WAL checkpoint a commit sometimes ran).
//! A scope's row is read from `gateway_meters` the first time this store meets it, so spend and
//! rates survive a restart; reservations and slots belonged to the calls of the process that
//! made them, and do not. Both are leased to their holder, as on PostgreSQL, so a holder that
//! stops renewing gives them back when its lease ends. Settlements change the map and write the
//! rows they touched in the background writer's transaction.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};

use crate::store::gateway::meter::{self, Admission, MeterRequest, MeterSettle, MeterState};

/// One scope: its meter (rates and spend), and what each holder has taken under its lease.
#[derive(Debug, Default, Clone)]
struct Scope {
    state: MeterState,
    leases: HashMap<String, Lease>,
}

/// A holder's calls in flight on one scope and the spend they reserved, until `expires`.
#[derive(Debug, Default, Clone, Copy)]
struct Lease {
    in_flight: i64,
    day: i64,
    day_reserved: i64,
    month: i64,
    month_reserved: i64,
    expires: i64,
}

impl Lease {
    /// What is left of it at `now`: nothing once it has expired, and no reservation of a day or
    /// month that has ended.
    fn at(self, now: DateTime<Utc>) -> Self {
        let (day, month) = (meter::day_of(now), meter::month_of(now));
        if self.expires <= meter::micros(now) {
            return Self { day, month, expires: self.expires, ..Self::default() };
        }
        Self {
            day,
            day_reserved: if self.day == day { self.day_reserved } else { 0 },
            month,
            month_reserved: if self.month == month { self.month_reserved } else { 0 },
            ..self
        }
    }
}

impl Scope {
    /// The meter with the slots and reservations of every unexpired lease.
    fn state_at(&self, now: DateTime<Utc>) -> MeterState {
        let live = self.leases.values().map(|lease| lease.at(now));
        let (in_flight, day_reserved, month_reserved) =
            live.fold((0, 0, 0), |(n, d, m), l| (n + l.in_flight, d + l.day_reserved, m + l.month_reserved));
        MeterState { in_flight, day_reserved, month_reserved, ..self.state }
    }
}

type Key = (String, String);

/// The meters of one store, by tenant and scope key, and the scopes settled since they were last
/// written.
#[derive(Debug, Default)]
pub(super) struct Meters {
    scopes: Mutex<(HashMap<Key, Scope>, HashSet<Key>)>,
}

impl Meters {
    fn lock(&self) -> MutexGuard<'_, (HashMap<Key, Scope>, HashSet<Key>)> {
        // Every change is a whole assignment: a panic elsewhere cannot leave the map half-changed.
        self.scopes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The scope keys of `request` this store has not met yet.
    pub(super) fn unknown(&self, tenant: &str, request: &MeterRequest) -> Vec<String> {
        let guard = self.lock();
        request
            .scopes
            .iter()
            .filter(|s| !guard.0.contains_key(&(tenant.to_owned(), s.key.clone())))
            .map(|s| s.key.clone())
            .collect()
    }

    /// Adds scopes read from the store (their reservations already dropped); one met meanwhile is kept.
    pub(super) fn learn(&self, tenant: &str, rows: Vec<(String, MeterState)>) {
        let mut guard = self.lock();
        for (key, state) in rows {
            guard.0.entry((tenant.to_owned(), key)).or_insert_with(|| Scope { state, leases: HashMap::new() });
        }
    }

    /// Admits `request` on every scope or none ([`meter::admit`]); its slots and reservations are
    /// leased to its holder.
    pub(super) fn admit(&self, tenant: &str, request: &MeterRequest) -> Admission {
        let now = meter::micros(request.now);
        let mut guard = self.lock();
        let scopes = &mut guard.0;
        let keys: Vec<Key> = request.scopes.iter().map(|s| (tenant.to_owned(), s.key.clone())).collect();
        let mut states: Vec<MeterState> =
            keys.iter().map(|key| scopes.get(key).map(|s| s.state_at(request.now)).unwrap_or_default()).collect();
        let outcome = meter::admit(&mut states, request);
        if outcome == Admission::Admitted {
            for ((key, state), limits) in keys.into_iter().zip(states).zip(&request.scopes) {
                let scope = scopes.entry(key).or_default();
                // Slots and reservations live in the leases; the meter keeps rates and spend.
                scope.state = MeterState { in_flight: 0, day_reserved: 0, month_reserved: 0, ..state };
                let budget = limits.daily.is_some() || limits.monthly.is_some();
                if limits.max_parallel.is_some() || budget {
                    let lease = scope.leases.entry(request.holder.clone()).or_default();
                    let held = lease.at(request.now);
                    *lease = Lease {
                        in_flight: held.in_flight + i64::from(limits.max_parallel.is_some()),
                        day_reserved: held.day_reserved + if budget { request.estimate.0 } else { 0 },
                        month_reserved: held.month_reserved + if budget { request.estimate.0 } else { 0 },
                        expires: held.expires.max(now + meter::lease_us()),
                        ..held
                    };
                }
            }
        }
        outcome
    }

    /// Applies settlements (the same arithmetic as PostgreSQL's `SETTLE`), marking the scopes
    /// they touch to be written.
    pub(super) fn settle<'a>(&self, settles: impl IntoIterator<Item = (&'a str, &'a MeterSettle)>) {
        let (scopes, dirty) = &mut *self.lock();
        for (tenant, s) in settles {
            let (now_day, admit_day) = (meter::day_of(s.now), meter::day_of(s.admitted_at));
            let (now_month, admit_month) = (meter::month_of(s.now), meter::month_of(s.admitted_at));
            for limits in &s.scopes {
                let key = (tenant.to_owned(), limits.key.clone());
                let Some(scope) = scopes.get_mut(&key) else { continue };
                if let Some(lease) = scope.leases.get_mut(&s.holder) {
                    let released = |reserved: i64, same: bool| (reserved - if same { s.estimate.0 } else { 0 }).max(0);
                    lease.in_flight = (lease.in_flight - i64::from(limits.max_parallel.is_some())).max(0);
                    lease.day_reserved = released(lease.day_reserved, lease.day == admit_day);
                    lease.month_reserved = released(lease.month_reserved, lease.month == admit_month);
                }
                let m = &mut scope.state;
                m.tpm_tat += meter::tpm_correction(s, limits.tpm);
                m.day_spent = if m.day == now_day { m.day_spent } else { 0 } + s.cost.0;
                m.day = now_day;
                m.month_spent = if m.month == now_month { m.month_spent } else { 0 } + s.cost.0;
                m.month = now_month;
                dirty.insert(key);
            }
        }
    }

    /// The settled scopes not written yet, with their state now; they count as written until
    /// [`Self::unwritten`] says otherwise.
    pub(super) fn to_write(&self) -> Vec<(Key, MeterState)> {
        let (scopes, dirty) = &mut *self.lock();
        dirty.drain().filter_map(|key| scopes.get(&key).map(|scope| (key, scope.state))).collect()
    }

    /// Marks scopes whose write failed to be written again.
    pub(super) fn unwritten(&self, keys: impl IntoIterator<Item = Key>) {
        self.lock().1.extend(keys);
    }

    /// Renews `holder`'s leases until the lease after `now`, and forgets the leases that ended.
    pub(super) fn renew(&self, holder: &str, now: i64) {
        for scope in self.lock().0.values_mut() {
            scope.leases.retain(|_, lease| lease.expires > now);
            if let Some(lease) = scope.leases.get_mut(holder) {
                lease.expires = now + meter::lease_us();
            }
        }
    }
}
