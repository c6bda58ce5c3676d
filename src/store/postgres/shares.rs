//! Gateway admission from shares on PostgreSQL: a request is admitted in memory from the rate and
//! budget its replica leased ([`ShareBook`]); only when a share lacks does it lease more with one
//! `gateway_lease` statement (migration 0015), and a share running low is refilled in the
//! background before it runs out. Requests with `max_parallel` keep one `gateway_admit` per call:
//! a slot is a call, not a chunk. Settlements of shared calls go to the book first (which says
//! what each lease row gives back), then wait in [`Pending`] for the next flush to write them.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::{PostgresStore, backend, col};
use crate::store::gateway::meter::{self, MeterLimit};
use crate::store::gateway::share::{Grant, Release, ShareBook, Take, Want};
use crate::store::{Admission, MeterRequest, MeterScope, MeterSettle, StoreError};

/// The book and the settlements it applied that the database has not yet seen.
#[derive(Debug, Default)]
pub(super) struct Shares {
    book: Mutex<ShareBook>,
    pending: Mutex<Pending>,
}

/// Database work of settlements: spend on meter rows, give-backs to lease rows.
#[derive(Debug, Default)]
pub(super) struct Pending {
    /// (tenant, scope key, TPM correction, day, month, cost) of each meter settled.
    pub meters: Vec<(String, String, i64, i64, i64, i64)>,
    /// Give-backs to lease rows, with the slot (1 or 0) given back with them.
    pub releases: Vec<(Release, i64)>,
}

impl Pending {
    /// Adds the meter work of `settle` (every scope) and its lease rows' give-backs.
    pub fn settle(&mut self, tenant: &str, settle: &MeterSettle) {
        let (day, month) = (meter::day_of(settle.now), meter::month_of(settle.now));
        for scope in &settle.scopes {
            let correction = meter::tpm_correction(settle, scope.tpm);
            self.meters.push((tenant.to_owned(), scope.key.clone(), correction, day, month, settle.cost.0));
        }
    }

    /// Adds the work of a settlement admitted by `gateway_admit`: its slot and its estimate go
    /// back to the lease rows of the scopes that took them.
    pub fn settle_each(&mut self, tenant: &str, settle: &MeterSettle) {
        self.settle(tenant, settle);
        let (day, month) = (meter::day_of(settle.admitted_at), meter::month_of(settle.admitted_at));
        for scope in &settle.scopes {
            let slot = i64::from(scope.max_parallel.is_some());
            if slot == 0 && scope.daily.is_none() && scope.monthly.is_none() {
                continue;
            }
            let release = Release {
                tenant: tenant.to_owned(),
                key: scope.key.clone(),
                holder: settle.holder.clone(),
                day: (day, settle.estimate.0),
                month: (month, settle.estimate.0),
            };
            self.releases.push((release, slot));
        }
    }

    fn append(&mut self, other: Self) {
        self.meters.extend(other.meters);
        self.releases.extend(other.releases);
    }
}

/// Whether a request is admitted from shares (no scope counts calls in flight).
pub(super) fn shared(scopes: &[MeterScope]) -> bool {
    scopes.iter().all(|s| s.max_parallel.is_none())
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shares {
    /// Applies settlements of shared calls to the book and queues their database work.
    pub fn settle<'a>(&self, settles: impl IntoIterator<Item = (&'a str, &'a MeterSettle)>) {
        let mut work = Pending::default();
        for (tenant, settle) in settles {
            let releases = lock(&self.book).settle(tenant, settle);
            work.releases.extend(releases.into_iter().map(|r| (r, 0)));
            work.settle(tenant, settle);
        }
        lock(&self.pending).append(work);
    }

    /// Takes the queued database work (put it back with [`Self::requeue`] if it was not written).
    pub fn drain(&self) -> Pending {
        std::mem::take(&mut *lock(&self.pending))
    }

    /// Puts back work a failed flush did not write: the book already counts it as done.
    pub fn requeue(&self, work: Pending) {
        lock(&self.pending).append(work);
    }

    /// The database renewed `holder`'s leases at `now`: what idle shares give back.
    pub fn renewed(&self, holder: &str, now: i64) -> Vec<Release> {
        lock(&self.book).renewed(holder, now)
    }
}

/// What a lease came to.
enum Leased {
    Granted(Vec<Grant>),
    Refused(Admission),
}

/// A refusal as both admission functions answer it: scope, limit, wait in µs.
pub(super) fn refusal(scope: String, limit: &str, wait: Option<i64>) -> Result<Admission, StoreError> {
    let limit = MeterLimit::parse(limit).ok_or_else(|| StoreError::Decode(format!("meter limit: {limit}")))?;
    let retry_after =
        wait.map(|us| Duration::from_micros(u64::try_from(us.max(0)).unwrap_or(0)).max(Duration::from_millis(1)));
    Ok(Admission::Refused { scope, limit, retry_after })
}

const LEASE: &str = "SELECT * FROM gateway_lease($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
    $15, $16, $17, $18, $19)";

impl PostgresStore {
    /// Admits a request without `max_parallel` from the shares, leasing when they lack.
    pub(super) async fn admit_shared(&self, tenant: &str, request: &MeterRequest) -> Result<Admission, StoreError> {
        let take = lock(&self.shares.book).take(tenant, request);
        let (ask, taken) = match take {
            Take::Admitted { refill } => {
                if let Some(want) = refill {
                    self.refill(tenant, request, want);
                }
                return Ok(Admission::Admitted);
            }
            Take::Lacking { ask, taken } => (ask, taken),
        };
        match self.lease(tenant, request, &ask).await {
            Ok(Leased::Granted(grants)) => {
                lock(&self.shares.book).granted(tenant, request, &ask, &grants);
                Ok(Admission::Admitted)
            }
            outcome => {
                lock(&self.shares.book).refused(tenant, request, &taken);
                match outcome {
                    Ok(Leased::Refused(refused)) => Ok(refused),
                    Err(err) => Err(err),
                    Ok(Leased::Granted(_)) => unreachable!("handled above"),
                }
            }
        }
    }

    /// Leases ahead of need in the background; one refill at a time per share.
    fn refill(&self, tenant: &str, request: &MeterRequest, want: Vec<Want>) {
        let (store, tenant, request) = (self.clone(), tenant.to_owned(), request.clone());
        tokio::spawn(async move {
            match store.lease(&tenant, &request, &want).await {
                Ok(Leased::Granted(grants)) => lock(&store.shares.book).granted(&tenant, &request, &want, &grants),
                Ok(Leased::Refused(_)) => {}
                Err(err) => tracing::warn!(error = %err, "could not refill the gateway's shares"),
            }
            lock(&store.shares.book).refilling(&tenant, &request, false);
        });
    }

    /// One `gateway_lease` for every scope of `request`.
    async fn lease(&self, tenant: &str, request: &MeterRequest, ask: &[Want]) -> Result<Leased, StoreError> {
        let scopes = &request.scopes;
        let keys: Vec<&str> = scopes.iter().map(|s| s.key.as_str()).collect();
        let rpm: Vec<Option<i64>> = scopes.iter().map(|s| s.rpm.map(i64::from)).collect();
        let tpm: Vec<Option<i64>> =
            scopes.iter().map(|s| s.tpm.map(|t| i64::try_from(t).unwrap_or(i64::MAX))).collect();
        let daily: Vec<Option<i64>> = scopes.iter().map(|s| s.daily.map(|m| m.0)).collect();
        let monthly: Vec<Option<i64>> = scopes.iter().map(|s| s.monthly.map(|m| m.0)).collect();
        let column = |pick: fn(&Want) -> i64| -> Vec<i64> { ask.iter().map(pick).collect() };
        let (now, day, month) = (meter::micros(request.now), meter::day_of(request.now), meter::month_of(request.now));
        let client = self.client().await?;
        let statement = client.prepare_cached(LEASE).await.map_err(backend)?;
        let rows = client
            .query(
                &statement,
                &[
                    &tenant,
                    &keys,
                    &rpm,
                    &tpm,
                    &daily,
                    &monthly,
                    &column(|w| w.requests.0),
                    &column(|w| w.requests.1),
                    &column(|w| w.tokens.0),
                    &column(|w| w.tokens.1),
                    &column(|w| w.day.0),
                    &column(|w| w.day.1),
                    &column(|w| w.month.0),
                    &column(|w| w.month.1),
                    &now,
                    &day,
                    &month,
                    &request.holder,
                    &meter::lease_us(),
                ],
            )
            .await
            .map_err(backend)?;
        let mut grants = HashMap::new();
        for row in &rows {
            let key: String = col(row, 0)?;
            if let Some(limit) = col::<Option<String>>(row, 5)? {
                return Ok(Leased::Refused(refusal(key, &limit, col(row, 6)?)?));
            }
            let grant = Grant { requests: col(row, 1)?, tokens: col(row, 2)?, day: col(row, 3)?, month: col(row, 4)? };
            grants.insert(key, grant);
        }
        Ok(Leased::Granted(keys.iter().map(|k| grants.get(*k).copied().unwrap_or_default()).collect()))
    }

    /// Gives back to lease rows, one statement each (each commits alone, so none waits holding
    /// another row).
    pub(super) async fn release(&self, releases: &[Release]) -> Result<(), StoreError> {
        if releases.is_empty() {
            return Ok(());
        }
        let client = self.client().await?;
        let statement = client.prepare_cached(super::gateway::RELEASE).await.map_err(backend)?;
        for r in releases {
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 8] =
                [&r.tenant, &r.key, &r.holder, &0_i64, &r.day.1, &r.day.0, &r.month.0, &r.month.1];
            client.execute(&statement, &params).await.map_err(backend)?;
        }
        Ok(())
    }
}
