//! The workers of one replica: a claim loop that keeps up to `slots` units in flight, a task per
//! unit (planned once per run, evaluated by the eval engine, its answer cached before its
//! result is sent on), a completer that writes finished units in batches fenced by their lease
//! tokens, and a ticker that renews this replica's leases, drops units it lost, and rescues
//! units whose holders died. Nothing is led: every replica does all of it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore, mpsc};
use tokio::task::AbortHandle;

use super::planner::ServerPlanner;
use crate::api::RunStop;
use crate::eval::Plan;
use crate::eval::backend::CallError;
use crate::store::{ClaimOptions, ClaimedUnit, ResultRecord, Scope, Store, UnitKey, UnitResult};

/// Most finished units written in one transaction.
const BATCH: usize = 256;
/// How long the claim loop waits for more slots to free before claiming for a few.
const CLAIM_GATHER: Duration = Duration::from_millis(5);
/// How long the completer collects more finished units before writing a batch.
const GATHER: Duration = Duration::from_millis(20);

/// A unit evaluated, with the call error that ends its run when every later call would fail
/// the same way (a refused key, a spent budget).
struct Finished {
    unit: UnitResult,
    stop: Option<CallError>,
}

/// How a replica's workers claim and hold units.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Units in flight at once in this replica.
    pub slots: usize,
    /// How long a lease lasts without renewal.
    pub lease: Duration,
    /// How often leases are renewed and expired ones rescued.
    pub renew_every: Duration,
    /// How often an idle replica looks for units.
    pub poll: Duration,
    /// Most units of one tenant running at once, across replicas.
    pub tenant_cap: usize,
    /// Attempts before a unit whose workers keep dying is given up as an error.
    pub max_attempts: u32,
    /// Requeue every running unit at start (SQLite: one replica, so whoever held them is dead).
    pub requeue_at_start: bool,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            slots: 64,
            lease: Duration::from_secs(30),
            renew_every: Duration::from_secs(10),
            poll: Duration::from_millis(500),
            tenant_cap: 256,
            max_attempts: 3,
            requeue_at_start: false,
        }
    }
}

/// Counters of a replica's workers, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerStats {
    /// Units this replica may hold.
    pub slots: u64,
    /// Units it holds now.
    pub busy: u64,
    /// Units it claimed since it started.
    pub claimed: u64,
    /// Units whose results it wrote.
    pub completed: u64,
    /// Units it lost (rescued by another replica, or their run cancelled) before writing them.
    pub lost: u64,
    /// Expired units it gave back to the queue.
    pub rescued: u64,
    /// Claim statements it ran, and their total time in microseconds.
    pub claims: (u64, u64),
}

type HeldKey = (Scope, u64, u64);

fn held_key(unit: &ClaimedUnit) -> HeldKey {
    (unit.scope.clone(), unit.run, unit.unit)
}

/// A unit in flight: its claim, and the task working on it.
struct Held {
    claimed: ClaimedUnit,
    task: AbortHandle,
}

/// One replica's workers.
pub struct Workers {
    store: Arc<dyn Store>,
    planner: Arc<ServerPlanner>,
    settings: WorkerSettings,
    owner: String,
    slots: Arc<Semaphore>,
    held: Mutex<HashMap<HeldKey, Held>>,
    /// Runs a call of which said no later call would succeed, until they are cancelled: their
    /// units claimed meanwhile make no call.
    stopping: Mutex<std::collections::HashSet<(Scope, u64)>>,
    wake: Notify,
    draining: AtomicBool,
    counters: [AtomicU64; 6],
}

impl std::fmt::Debug for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workers").field("owner", &self.owner).field("settings", &self.settings).finish_non_exhaustive()
    }
}

const CLAIMED: usize = 0;
const COMPLETED: usize = 1;
const LOST: usize = 2;
const RESCUED: usize = 3;
const CLAIMS: usize = 4;
const CLAIM_MICROS: usize = 5;

impl Workers {
    /// Starts the workers of this replica (named `owner` in leases).
    pub fn start(
        store: Arc<dyn Store>,
        planner: Arc<ServerPlanner>,
        settings: WorkerSettings,
        owner: String,
    ) -> Arc<Self> {
        let workers = Arc::new(Self {
            store,
            planner,
            slots: Arc::new(Semaphore::new(settings.slots.max(1))),
            settings,
            owner,
            held: Mutex::default(),
            stopping: Mutex::default(),
            wake: Notify::new(),
            draining: AtomicBool::new(false),
            counters: Default::default(),
        });
        let (sender, receiver) = mpsc::channel(workers.settings.slots.max(1) * 2);
        tokio::spawn(Arc::clone(&workers).complete(receiver));
        tokio::spawn(Arc::clone(&workers).tick());
        if let Some(feed) = workers.store.changes() {
            tokio::spawn(wake_on_announcements(Arc::downgrade(&workers), feed));
        }
        tokio::spawn(Arc::clone(&workers).claim(sender));
        workers
    }

    /// Looks for units now (a run was just queued on this replica).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The workers' counters.
    pub fn stats(&self) -> WorkerStats {
        let count = |i: usize| self.counters[i].load(Ordering::Relaxed);
        WorkerStats {
            slots: self.settings.slots as u64,
            busy: self.held().len() as u64,
            claimed: count(CLAIMED),
            completed: count(COMPLETED),
            lost: count(LOST),
            rescued: count(RESCUED),
            claims: (count(CLAIMS), count(CLAIM_MICROS)),
        }
    }

    /// Stops this replica's units of `run` at once (it was cancelled here; other replicas stop
    /// theirs at their next lease renewal).
    pub fn drop_run(&self, scope: &Scope, run: u64) {
        let mut held = self.held();
        held.retain(|(s, r, _), unit| {
            let keep = !(s == scope && *r == run);
            if !keep {
                unit.task.abort();
                self.counters[LOST].fetch_add(1, Ordering::Relaxed);
            }
            keep
        });
    }

    /// Stops claiming, lets the units in flight finish for up to `timeout`, then gives the rest
    /// back to the queue (fenced by their tokens), so that other replicas take them at once.
    pub async fn drain(&self, timeout: Duration) {
        self.draining.store(true, Ordering::SeqCst);
        self.wake.notify_one();
        let deadline = tokio::time::Instant::now() + timeout;
        while !self.held().is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let left: Vec<Held> = self.held().drain().map(|(_, held)| held).collect();
        for held in &left {
            held.task.abort();
        }
        let units: Vec<ClaimedUnit> = left.into_iter().map(|h| h.claimed).collect();
        if !units.is_empty()
            && let Err(err) = self.store.release_units(units).await
        {
            tracing::warn!(error = %err, "could not release units on drain; they return when their leases expire");
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<HeldKey, Held>> {
        self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn stopping(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<(Scope, u64)>> {
        self.stopping.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Claims units whenever slots are free, until the replica drains.
    async fn claim(self: Arc<Self>, sender: mpsc::Sender<Finished>) {
        if self.settings.requeue_at_start {
            match self.store.rescue_units(true).await {
                Ok(n) => self.counters[RESCUED].fetch_add(n, Ordering::Relaxed),
                Err(err) => {
                    tracing::warn!(error = %err, "could not requeue the units of the previous process");
                    0
                }
            };
        }
        while !self.draining.load(Ordering::SeqCst) {
            let free = self.free_slots().await;
            let claimed = if free == 0 { Ok(Vec::new()) } else { self.claim_some(free).await };
            match claimed {
                Ok(units) if !units.is_empty() => {
                    for unit in units {
                        self.spawn(unit, &sender);
                    }
                    continue;
                }
                Ok(_) => {}
                Err(err) => tracing::warn!(error = %err, "claiming units failed; trying again"),
            }
            let _ = tokio::time::timeout(self.settings.poll, self.wake.notified()).await;
        }
    }

    /// The free slots, once enough are free to be worth a claim statement: a sixteenth of them,
    /// or whatever is free [`CLAIM_GATHER`] after the first. Claiming each slot as it frees cost
    /// a statement per unit (200–460 µs each, measured).
    async fn free_slots(&self) -> usize {
        let enough = (self.settings.slots / 16).max(1);
        let deadline = tokio::time::Instant::now() + CLAIM_GATHER;
        loop {
            let free = self.slots.available_permits();
            if free >= enough || free > 0 && tokio::time::Instant::now() >= deadline {
                return free;
            }
            if free == 0 {
                return 0;
            }
            let _ = tokio::time::timeout_at(deadline, self.wake.notified()).await;
        }
    }

    async fn claim_some(&self, free: usize) -> Result<Vec<ClaimedUnit>, crate::store::StoreError> {
        let options = ClaimOptions {
            owner: self.owner.clone(),
            limit: free.min(BATCH),
            lease: self.settings.lease,
            tenant_cap: self.settings.tenant_cap,
        };
        let started = std::time::Instant::now();
        let units = self.store.claim_units(&options).await?;
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.counters[CLAIMS].fetch_add(1, Ordering::Relaxed);
        self.counters[CLAIM_MICROS].fetch_add(micros, Ordering::Relaxed);
        self.counters[CLAIMED].fetch_add(units.len() as u64, Ordering::Relaxed);
        Ok(units)
    }

    fn spawn(self: &Arc<Self>, unit: ClaimedUnit, sender: &mpsc::Sender<Finished>) {
        let Ok(slot) = Arc::clone(&self.slots).try_acquire_owned() else {
            // More claimed than free slots (cannot happen: claims ask for at most the free ones).
            return;
        };
        let (workers, sender, claimed) = (Arc::clone(self), sender.clone(), unit.clone());
        let mut held = self.held();
        let task = tokio::spawn(async move {
            let run = (claimed.scope.clone(), claimed.run);
            if workers.stopping().contains(&run) {
                // Its run is being cancelled, which drops this unit: no call, no result.
                return;
            }
            let (result, stop) = workers.evaluate(&claimed).await;
            if stop.is_some() {
                workers.stopping().insert(run);
            }
            // The model call is over: its slot goes to the next unit now, not after the write,
            // which waits for a batch. The completer's queue is bounded, so writes still pace claims.
            drop(slot);
            workers.wake.notify_one();
            let _ = sender.send(Finished { unit: UnitResult { claimed, result }, stop }).await;
        });
        held.insert(held_key(&unit), Held { claimed: unit, task: task.abort_handle() });
    }

    /// The result of one unit: evaluated, or an error when its run cannot be planned here or its
    /// attempts ran out; and the error that stops its run, if any. Its answer is in the response
    /// cache before it returns.
    async fn evaluate(&self, unit: &ClaimedUnit) -> (ResultRecord, Option<CallError>) {
        let planned = self.planner.plan(&unit.scope, unit.run).await;
        let plan = planned.as_ref().ok().map(|p| p.plan.as_ref());
        if unit.attempt > self.settings.max_attempts {
            let message = format!(
                "the unit was abandoned {} time(s) by workers that stopped; not retried",
                self.settings.max_attempts
            );
            return (error_result(plan, unit.key, message), None);
        }
        let planned = match planned {
            Ok(planned) => planned,
            Err(message) => return (error_result(None, unit.key, message), None),
        };
        let evaluated = crate::eval::runner::evaluate(&planned.plan, unit.key, planned.backend.as_ref()).await;
        if let Err(err) = crate::eval::backend::Backend::flush(planned.backend.as_ref()).await {
            tracing::warn!(error = %err, run = unit.run, "a unit's cache entry or usage row was not written");
        }
        (evaluated.record, evaluated.stop)
    }

    /// Writes finished units in batches; each is written only while its lease holds.
    async fn complete(self: Arc<Self>, mut receiver: mpsc::Receiver<Finished>) {
        let mut batch = Vec::with_capacity(BATCH);
        while receiver.recv_many(&mut batch, BATCH).await > 0 {
            let deadline = tokio::time::Instant::now() + GATHER;
            while batch.len() < BATCH {
                let room = BATCH - batch.len();
                match tokio::time::timeout_at(deadline, receiver.recv_many(&mut batch, room)).await {
                    Ok(n) if n > 0 => {}
                    _ => break,
                }
            }
            let (results, stops): (Vec<UnitResult>, Vec<_>) =
                std::mem::take(&mut batch).into_iter().map(|f| (f.unit, f.stop)).unzip();
            let keys: Vec<HeldKey> = results.iter().map(|r| held_key(&r.claimed)).collect();
            let written: std::collections::HashSet<HeldKey> = match self.store.complete_units(results).await {
                Ok(written) => {
                    self.counters[COMPLETED].fetch_add(written.len() as u64, Ordering::Relaxed);
                    let lost = keys.len() - written.len();
                    self.counters[LOST].fetch_add(lost as u64, Ordering::Relaxed);
                    written.iter().map(held_key).collect()
                }
                // The units stay leased to this replica until their leases expire; then any
                // replica runs them again (their answers come from the cache).
                Err(err) => {
                    tracing::warn!(error = %err, units = keys.len(), "writing finished units failed");
                    Default::default()
                }
            };
            for (key, stop) in keys.iter().zip(stops).filter_map(|(key, stop)| Some((key, stop?))) {
                // A stop whose unit was not written is not this replica's to make (whoever
                // holds the unit now meets the same error), so the run goes on here.
                if written.contains(key) {
                    self.stop_run(key, &stop).await;
                } else {
                    self.go_on_with(key).await;
                }
            }
            let mut held = self.held();
            for key in &keys {
                held.remove(key);
            }
            drop(held);
        }
    }

    /// Ends the run of `key` after its unit's call said no later call would succeed (a refused
    /// key, a spent budget): its other units are dropped everywhere instead of each failing the
    /// same way, and whoever follows the run is told why. Its results so far are kept.
    async fn stop_run(&self, key: &HeldKey, stop: &CallError) {
        let (scope, run, _) = key;
        let reason = RunStop { message: stop.message.clone(), hints: stop.hints.clone() };
        let reason = serde_json::to_string(&reason).unwrap_or_default();
        match self.store.cancel_run(scope, *run, Some(&reason)).await {
            Ok(_) => {
                self.drop_run(scope, *run);
                self.stopping().remove(&(scope.clone(), *run));
            }
            Err(err) => {
                tracing::warn!(error = %err, run, "could not stop a run whose calls are refused; its units run again");
                self.go_on_with(key).await;
            }
        }
    }

    /// Lets the run of `key` go on after a stop that did not happen: its units this replica
    /// skipped (holding them, with no call made) go back to the queue, fenced by their tokens.
    async fn go_on_with(&self, key: &HeldKey) {
        let (scope, run, _) = key;
        let held: Vec<ClaimedUnit> = {
            let held = self.held();
            held.iter().filter(|((s, r, _), _)| s == scope && r == run).map(|(_, h)| h.claimed.clone()).collect()
        };
        self.drop_run(scope, *run);
        self.stopping().remove(&(scope.clone(), *run));
        if !held.is_empty()
            && let Err(err) = self.store.release_units(held).await
        {
            tracing::warn!(error = %err, run, "could not give back the units of a run that goes on");
        }
    }

    /// Every `renew_every`: renews this replica's leases, aborts the units it lost, and rescues
    /// units whose leases expired anywhere.
    async fn tick(self: Arc<Self>) {
        let mut ticker = tokio::time::interval(self.settings.renew_every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !self.draining.load(Ordering::SeqCst) {
            ticker.tick().await;
            self.renew().await;
            match self.store.rescue_units(false).await {
                Ok(n) => {
                    self.counters[RESCUED].fetch_add(n, Ordering::Relaxed);
                }
                Err(err) => tracing::warn!(error = %err, "rescuing expired units failed"),
            }
        }
    }

    async fn renew(&self) {
        let before: Vec<HeldKey> = self.held().keys().cloned().collect();
        let still = match self.store.renew_leases(&self.owner, self.settings.lease).await {
            Ok(units) => units.iter().map(held_key).collect::<std::collections::HashSet<_>>(),
            Err(err) => {
                tracing::warn!(error = %err, "renewing leases failed");
                return;
            }
        };
        let mut held = self.held();
        for key in before.iter().filter(|k| !still.contains(*k)) {
            if let Some(lost) = held.remove(key) {
                lost.task.abort();
                self.counters[LOST].fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Wakes the claim loop whenever another replica announces available units (or the feed
/// reconnected, when some may have been missed); ends with the workers.
async fn wake_on_announcements(workers: std::sync::Weak<Workers>, mut feed: crate::store::changes::ChangeFeed) {
    use crate::store::changes::Change;
    use tokio::sync::broadcast::error::RecvError;
    loop {
        let change = feed.recv().await;
        let Some(workers) = workers.upgrade() else { return };
        match change {
            Ok(Change::Runs | Change::Resync) | Err(RecvError::Lagged(_)) => workers.wake.notify_one(),
            Ok(_) => {}
            Err(RecvError::Closed) => return,
        }
    }
}

/// An error result for `key`, named after its case when the plan is known.
fn error_result(plan: Option<&Plan>, key: UnitKey, message: String) -> ResultRecord {
    let case = plan.and_then(|p| p.cases.get(key.case as usize));
    ResultRecord { error: Some(message), ..crate::eval::runner::unevaluated(case, key) }
}
