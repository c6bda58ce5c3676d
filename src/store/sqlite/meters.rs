//! SQLite's gateway meters, kept in memory. SQLite serves one replica, so admission need not be a
//! write: measured under load, the per-request transaction spent most of its time not in SQLite
//! but getting to it (handing the worker thread off with `block_in_place`, waiting for the one
//! connection behind the background writers, and for the WAL checkpoint a commit sometimes ran).
//! A scope's row is read from `gateway_meters` the first time this store meets it, so spend and
//! rates survive a restart; reservations and slots belonged to the calls of the process that
//! made them, and do not. Settlements change the map and write the rows they touched in the
//! background writer's transaction.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::store::gateway::meter::{self, Admission, MeterRequest, MeterSettle, MeterState};

/// One scope: its meter, and the calls in flight of each holder with the end of its lease.
#[derive(Debug, Default, Clone)]
struct Scope {
    state: MeterState,
    slots: HashMap<String, (i64, i64)>,
}

impl Scope {
    fn in_flight(&self, now: i64) -> i64 {
        self.slots.values().filter(|(_, expires)| *expires > now).map(|(n, _)| n).sum()
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
            guard.0.entry((tenant.to_owned(), key)).or_insert_with(|| Scope { state, slots: HashMap::new() });
        }
    }

    /// Admits `request` on every scope or none ([`meter::admit`]); slots are leased to its holder.
    pub(super) fn admit(&self, tenant: &str, request: &MeterRequest) -> Admission {
        let now = meter::micros(request.now);
        let mut guard = self.lock();
        let scopes = &mut guard.0;
        let keys: Vec<Key> = request.scopes.iter().map(|s| (tenant.to_owned(), s.key.clone())).collect();
        let mut states: Vec<MeterState> = keys
            .iter()
            .map(|key| {
                let scope = scopes.get(key).cloned().unwrap_or_default();
                MeterState { in_flight: scope.in_flight(now), ..scope.state }
            })
            .collect();
        let outcome = meter::admit(&mut states, request);
        if outcome == Admission::Admitted {
            for ((key, state), limits) in keys.into_iter().zip(states).zip(&request.scopes) {
                let scope = scopes.entry(key).or_default();
                scope.state = state;
                if limits.max_parallel.is_some() {
                    // A lease of this holder that ran out counted nothing any more: start from zero.
                    let slot = scope.slots.entry(request.holder.clone()).or_insert((0, 0));
                    let held = if slot.1 > now { slot.0 } else { 0 };
                    *slot = (held + 1, slot.1.max(now + meter::lease_us()));
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
                if limits.max_parallel.is_some()
                    && let Some(slot) = scope.slots.get_mut(&s.holder)
                {
                    slot.0 = (slot.0 - 1).max(0);
                }
                let m = &mut scope.state;
                m.tpm_tat += meter::tpm_correction(s, limits.tpm);
                let released = |reserved: i64, same: bool| (reserved - if same { s.estimate.0 } else { 0 }).max(0);
                m.day_reserved = if m.day == now_day { released(m.day_reserved, m.day == admit_day) } else { 0 };
                m.day_spent = if m.day == now_day { m.day_spent } else { 0 } + s.cost.0;
                m.day = now_day;
                m.month_reserved =
                    if m.month == now_month { released(m.month_reserved, m.month == admit_month) } else { 0 };
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
            scope.slots.retain(|_, (_, expires)| *expires > now);
            if let Some(slot) = scope.slots.get_mut(holder) {
                slot.1 = now + meter::lease_us();
            }
        }
    }
}
