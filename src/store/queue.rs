//! The queue of server-side runs: a submitted run's spec and units, claimed by the workers of
//! every replica under leases whose per-attempt token fences the write of each result.

use std::time::Duration;

use async_trait::async_trait;

use super::{ResultRecord, RunDraft, RunRecord, Scope, StoreError, UnitKey};

/// The owner recorded on a queued run: the server's workers, whichever replica they are on. It
/// is no process's, so a queued run is never shown as interrupted for lack of one.
pub const QUEUE_OWNER: &str = "queue";

/// A run to put on the queue.
#[derive(Debug, Clone)]
pub struct QueuedRunDraft {
    /// The run record.
    pub draft: RunDraft,
    /// Its units, in the order workers should take them (a unit's index is its position).
    pub units: Vec<UnitKey>,
    /// What the workers plan the run from (opaque to the store).
    pub spec: String,
    /// A retried submission with the same key gets the first run back.
    pub idempotency_key: Option<String>,
}

/// One unit a worker holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClaimedUnit {
    /// The run's scope.
    pub scope: Scope,
    /// The run.
    pub run: u64,
    /// The unit's index in the run's plan.
    pub unit: u64,
    /// What the unit evaluates.
    pub key: UnitKey,
    /// Which attempt this is (1 for the first).
    pub attempt: u32,
    /// The lease's token: only its holder may write the unit's result.
    pub token: String,
}

/// A unit's result, written by the holder of its lease.
#[derive(Debug, Clone)]
pub struct UnitResult {
    /// The unit, as claimed.
    pub claimed: ClaimedUnit,
    /// Its result.
    pub result: ResultRecord,
}

/// How units are claimed.
#[derive(Debug, Clone)]
pub struct ClaimOptions {
    /// The replica claiming (`host:pid:start`).
    pub owner: String,
    /// At most this many units.
    pub limit: usize,
    /// How long a lease lasts without renewal.
    pub lease: Duration,
    /// At most this many running units per tenant, across replicas (fairness).
    pub tenant_cap: usize,
}

/// What one of `waiting` tenants may claim of `left` slots in one round: an even share, so that
/// a tenant with 50,000 queued units leaves room for the next tenant's first ones.
pub(crate) fn fair_share(left: usize, waiting: usize) -> usize {
    left.div_ceil(waiting.max(1))
}

/// A result of a run in the order results were written.
#[derive(Debug, Clone)]
pub struct SequencedResult {
    /// Its position among the run's results, from 1.
    pub seq: u64,
    /// The result.
    pub result: ResultRecord,
}

/// Server-side runs and their units.
#[async_trait]
pub trait QueueStore {
    /// Records a run, its spec and its units (available at once), all in one transaction. With
    /// an idempotency key already used in the scope, returns that run instead (`false`: not new).
    async fn enqueue_run(&self, scope: &Scope, run: QueuedRunDraft) -> Result<(RunRecord, bool), StoreError>;

    /// The spec a queued run was submitted with (none for a run that was uploaded).
    async fn run_spec(&self, scope: &Scope, run: u64) -> Result<Option<String>, StoreError>;

    /// Claims available units whose time has come, oldest first, at most `tenant_cap` running
    /// per tenant, each with a fresh lease token.
    async fn claim_units(&self, options: &ClaimOptions) -> Result<Vec<ClaimedUnit>, StoreError>;

    /// Writes results and removes their units, each only while its lease token still holds;
    /// returns the units whose results were written (the others' leases were lost). A run
    /// whose last unit this was gets its final status.
    async fn complete_units(&self, results: Vec<UnitResult>) -> Result<Vec<ClaimedUnit>, StoreError>;

    /// Extends every lease `owner` holds; the answer lists the units still held (a unit missing
    /// from it was rescued by another replica, or its run cancelled: stop working on it).
    async fn renew_leases(&self, owner: &str, lease: Duration) -> Result<Vec<ClaimedUnit>, StoreError>;

    /// Gives units back to the queue at once (a draining replica), only while their tokens hold.
    async fn release_units(&self, units: Vec<ClaimedUnit>) -> Result<(), StoreError>;

    /// Makes units whose lease expired available again, after `backoff(attempt)`; returns how
    /// many. `all_running` takes every running unit as expired (SQLite at start: whoever held
    /// them is dead). A unit past its attempts is given up by the worker that claims it next.
    async fn rescue_units(&self, all_running: bool) -> Result<u64, StoreError>;

    /// Cancels a run: its queued units go at once, its running ones when their workers see it.
    /// `stopped` says why when a worker stopped it (JSON, kept for whoever follows the run; the
    /// first reason stays). Returns the run.
    async fn cancel_run(&self, scope: &Scope, run: u64, stopped: Option<&str>) -> Result<RunRecord, StoreError>;

    /// Why a worker stopped a queued run, when one did.
    async fn run_stop(&self, scope: &Scope, run: u64) -> Result<Option<String>, StoreError>;

    /// Results of `run` written after position `after`, in order, at most `limit`.
    async fn results_after(
        &self,
        scope: &Scope,
        run: u64,
        after: u64,
        limit: usize,
    ) -> Result<Vec<SequencedResult>, StoreError>;

    /// Units by state (`available`, `running`) over every tenant, for metrics and scaling.
    async fn queue_depth(&self) -> Result<Vec<(String, u64)>, StoreError>;
}
