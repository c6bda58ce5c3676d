//! Traces and settlements off the request path. Every gateway request holds a [`Ticket`] from the
//! moment its key is known: whatever way the request ends (an answer, an error, a refusal, or the
//! client hanging up, which drops the ticket), exactly one trace is written and, if the request
//! was admitted, exactly one settlement replaces its budget reservation by the cost of the tokens
//! seen (a call cut short also gets its usage row, which the provider layers never wrote). All
//! go through a bounded channel to one background task that writes them in batches,
//! one transaction per batch ([`TraceWriter`]). A batch the store refuses is tried again a few
//! times, then counted as lost ([`Losses`]): the server shows the count in its metrics and its
//! readiness, and [`TraceWriter::flush`] reports it, since nobody may be reading the logs.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::{mpsc, oneshot};

use crate::access::{Scope, TenantScope};
use crate::money::Micros;
use crate::provider::Usage;
use crate::provider::pricing::Price;
use crate::store::{Admission, MeterRequest, MeterSettle, Store, StoreError, TraceRecord, UsageRecord};

/// Most entries per batch.
const BATCH: usize = 512;
/// Most entries waiting.
const QUEUE: usize = 8 * BATCH;
/// How long the writer gathers before writing a batch.
const GATHER: Duration = Duration::from_millis(5);
/// The waits before each new attempt at a batch the store refused (then it is lost).
const RETRIES: [Duration; 2] = [Duration::from_millis(50), Duration::from_millis(250)];

enum Entry {
    Trace(Box<(Scope, TraceRecord)>),
    Settle(Box<(TenantScope, MeterSettle)>),
    /// The usage of a call cut short, which the provider layers never got to record.
    Usage(Box<(Scope, UsageRecord)>),
    Flush(oneshot::Sender<()>),
}

/// Called with every finished trace (the server counts them in its metrics).
pub type Observer = Arc<dyn Fn(&TraceRecord) + Send + Sync>;

/// The background writer of one server. It also keeps the replica's slot leases alive: the
/// slots its requests hold are leased to its holder id, renewed every
/// [`RENEW_EVERY`](crate::store::gateway::meter::RENEW_EVERY) while the writer lives.
#[derive(Clone)]
pub struct TraceWriter {
    sender: mpsc::Sender<Entry>,
    observer: Option<Observer>,
    losses: Arc<Losses>,
    holder: Arc<str>,
}

/// What the writer could not write since it started, counted per kind, with the last error.
#[derive(Debug, Default)]
pub struct Losses {
    batches: AtomicU64,
    traces: AtomicU64,
    settlements: AtomicU64,
    usage_rows: AtomicU64,
    /// Whether the last write failed (cleared by the next one that succeeds).
    failing: AtomicBool,
    last_error: Mutex<Option<String>>,
}

/// A copy of [`Losses`] at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LossReport {
    /// Batches the store refused after every attempt.
    pub batches: u64,
    /// Traces lost.
    pub traces: u64,
    /// Settlements lost: their reservations (and slots) stay taken until the period ends.
    pub settlements: u64,
    /// Usage rows of cancelled calls lost: `promptops cost` does not see that spend.
    pub usage_rows: u64,
    /// Whether the last write failed.
    pub failing: bool,
    /// The last error, as text.
    pub last_error: Option<String>,
}

impl LossReport {
    /// Whether anything was lost.
    pub fn any(&self) -> bool {
        self.traces + self.settlements + self.usage_rows > 0
    }
}

impl Losses {
    fn lost(&self, err: &StoreError, traces: usize, settlements: usize, usage_rows: usize) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.traces.fetch_add(traces as u64, Ordering::Relaxed);
        self.settlements.fetch_add(settlements as u64, Ordering::Relaxed);
        self.usage_rows.fetch_add(usage_rows as u64, Ordering::Relaxed);
        self.failing.store(true, Ordering::Relaxed);
        // The store's own words (a full disk, a refused row) are in the error's sources.
        let mut text = err.to_string();
        let mut source = std::error::Error::source(err);
        while let Some(cause) = source {
            text = format!("{text}: {cause}");
            source = cause.source();
        }
        *self.last_error.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(text);
    }

    fn report(&self) -> LossReport {
        LossReport {
            batches: self.batches.load(Ordering::Relaxed),
            traces: self.traces.load(Ordering::Relaxed),
            settlements: self.settlements.load(Ordering::Relaxed),
            usage_rows: self.usage_rows.load(Ordering::Relaxed),
            failing: self.failing.load(Ordering::Relaxed),
            last_error: self.last_error.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone(),
        }
    }
}

/// Why [`TraceWriter::flush`] failed: writes were lost since the writer started.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "the gateway's background writer lost {} trace(s), {} settlement(s) and {} usage row(s): {}",
    report.traces,
    report.settlements,
    report.usage_rows,
    report.last_error.as_deref().unwrap_or("unknown error")
)]
pub struct WritesLost {
    /// What was lost.
    pub report: LossReport,
}

impl fmt::Debug for TraceWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceWriter").finish_non_exhaustive()
    }
}

impl TraceWriter {
    /// Starts the writer task on the current runtime.
    pub fn start(store: Arc<dyn Store>, observer: Option<Observer>) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE);
        let losses = Arc::new(Losses::default());
        let holder: Arc<str> = format!("replica_{}", uuid::Uuid::new_v4().simple()).into();
        tokio::spawn(renew(Arc::clone(&store), Arc::clone(&holder), sender.downgrade()));
        tokio::spawn(run(store, receiver, Arc::clone(&losses)));
        Self { sender, observer, losses, holder }
    }

    /// The id this replica's slots are leased to.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Waits until everything queued so far is written (or given up on); fails if any write
    /// was lost since the writer started.
    pub async fn flush(&self) -> Result<(), WritesLost> {
        let (done, wait) = oneshot::channel();
        if self.sender.send(Entry::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
        let report = self.losses();
        if report.any() { Err(WritesLost { report }) } else { Ok(()) }
    }

    /// What was lost since the writer started.
    pub fn losses(&self) -> LossReport {
        self.losses.report()
    }

    /// Queues without waiting (from `Drop`): when the queue is full, a task waits instead.
    fn queue(&self, entry: Entry) {
        if let Err(mpsc::error::TrySendError::Full(entry)) = self.sender.try_send(entry) {
            let sender = self.sender.clone();
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    let _ = sender.send(entry).await;
                });
            }
        }
    }
}

/// Renews the replica's leases until the writer is gone. A renewal that fails is tried again at
/// the next turn; the lease outlasts two of them.
async fn renew(store: Arc<dyn Store>, holder: Arc<str>, alive: mpsc::WeakSender<Entry>) {
    let mut every = tokio::time::interval(crate::store::gateway::meter::RENEW_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    every.tick().await;
    loop {
        every.tick().await;
        if alive.upgrade().is_none() {
            return;
        }
        if let Err(err) = store.gateway_renew(&holder, Utc::now()).await {
            tracing::warn!(error = %err, "could not renew the gateway's slot leases");
        }
    }
}

/// Runs `write` until it succeeds or every retry failed; the last error if none succeeded.
async fn attempt<F, Fut>(mut write: F) -> Result<(), StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), StoreError>>,
{
    let mut outcome = write().await;
    for wait in RETRIES {
        if outcome.is_ok() {
            break;
        }
        tokio::time::sleep(wait).await;
        outcome = write().await;
    }
    outcome
}

async fn run(store: Arc<dyn Store>, mut receiver: mpsc::Receiver<Entry>, losses: Arc<Losses>) {
    let mut batch = Vec::with_capacity(BATCH);
    while receiver.recv_many(&mut batch, BATCH).await > 0 {
        let deadline = tokio::time::Instant::now() + GATHER;
        while batch.len() < BATCH && !batch.iter().any(|e| matches!(e, Entry::Flush(_))) {
            let room = BATCH - batch.len();
            match tokio::time::timeout_at(deadline, receiver.recv_many(&mut batch, room)).await {
                Ok(n) if n > 0 => {}
                _ => break,
            }
        }
        let (mut traces, mut settles, mut usages, mut flushes) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for entry in batch.drain(..) {
            match entry {
                Entry::Trace(trace) => traces.push(*trace),
                Entry::Settle(settle) => settles.push(*settle),
                Entry::Usage(usage) => usages.push(*usage),
                Entry::Flush(done) => flushes.push(done),
            }
        }
        // Settled once, before any attempt: a retried flush must not give a slot back twice.
        let settles = store.gateway_settle_in_memory(settles);
        if !traces.is_empty() || !settles.is_empty() {
            match attempt(|| store.gateway_flush(&traces, &settles)).await {
                Ok(()) => losses.failing.store(false, Ordering::Relaxed),
                Err(err) => {
                    tracing::error!(
                        error = %err, traces = traces.len(), settlements = settles.len(),
                        "gateway traces and settlements lost: the store refused them"
                    );
                    losses.lost(&err, traces.len(), settles.len(), 0);
                }
            }
        }
        // Only cancelled calls land here: few, so one write each.
        for (scope, usage) in usages {
            if let Err(err) = attempt(|| store.record_usage(&scope, std::slice::from_ref(&usage))).await {
                tracing::error!(error = %err, "the usage of a cancelled call was lost: the store refused it");
                losses.lost(&err, 0, 0, 1);
            }
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

/// An admitted request's reservation, settled when its ticket ends.
#[derive(Debug, Clone)]
pub struct Reservation {
    /// The tenant of the meters.
    pub tenant: TenantScope,
    /// What was reserved, and on which scopes.
    pub settle: MeterSettle,
    /// The price of the connection, to cost the tokens of a call that ends early.
    pub price: Option<Price>,
    /// The model asked of the provider, to record such a call's usage under.
    pub model: Option<String>,
}

/// One request's trace in the making. Ending it ([`Ticket::finish`]) or dropping it writes the
/// trace and settles the reservation, once.
pub struct Ticket {
    writer: TraceWriter,
    scope: Scope,
    started: Instant,
    /// The trace being filled in.
    pub trace: TraceRecord,
    reservation: Option<Reservation>,
    seen: String,
    input_estimate: u64,
    done: bool,
}

impl fmt::Debug for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ticket").field("trace_id", &self.trace.trace_id).finish_non_exhaustive()
    }
}

impl Ticket {
    /// Opens the trace of a request made with key `key_id` in `scope`.
    pub fn open(writer: &TraceWriter, scope: Scope, key_id: &str, endpoint: &str, model: &str) -> Self {
        let trace = TraceRecord {
            id: 0,
            trace_id: format!("trc_{}", uuid::Uuid::new_v4().simple()),
            at: Utc::now(),
            key_id: key_id.to_owned(),
            prompt: None,
            prompt_label: None,
            prompt_version: None,
            model: model.to_owned(),
            fallback: None,
            endpoint: endpoint.to_owned(),
            input_tokens: 0,
            output_tokens: 0,
            cost: Micros::ZERO,
            latency_ms: 0,
            ttft_ms: None,
            attempts: 0,
            cache: "off".to_owned(),
            status: "error".to_owned(),
            http_status: 500,
            error: None,
            variables: None,
            output: None,
        };
        Self {
            writer: writer.clone(),
            scope,
            started: Instant::now(),
            trace,
            reservation: None,
            seen: String::new(),
            input_estimate: 0,
            done: false,
        }
    }

    /// Admits the request on the meters of `tenant` and, when admitted, holds the reservation
    /// until the ticket ends (`upstream` is the call's price and model, to charge and record a
    /// call cut short). The store's admission runs in a task of its own, so a request
    /// dropped while the store admits it (the client hung up) leaves no slot or reservation
    /// behind: the task learns the outcome anyway and, finding no one to hand it to, settles it.
    pub async fn admit(
        &mut self,
        store: &Arc<dyn Store>,
        tenant: TenantScope,
        request: MeterRequest,
        (price, model): (Option<Price>, Option<String>),
        input_estimate: u64,
    ) -> Result<Admission, StoreError> {
        let settle = MeterSettle { tokens: 0, ..MeterSettle::of(&request, Micros::ZERO) };
        let (answer, outcome) = oneshot::channel();
        let (store, writer, orphan) = (Arc::clone(store), self.writer.clone(), (tenant.clone(), settle.clone()));
        tokio::spawn(async move {
            let admitted = store.gateway_admit(&orphan.0, &request).await;
            if let Err(Ok(Admission::Admitted)) = answer.send(admitted) {
                let (tenant, mut settle) = orphan;
                settle.now = Utc::now();
                writer.queue(Entry::Settle(Box::new((tenant, settle))));
            }
        });
        // Nothing may await between receiving the outcome and taking the reservation.
        let admitted = outcome.await.map_err(|err| StoreError::Backend(Box::new(err)))?;
        if let Ok(Admission::Admitted) = &admitted {
            self.reservation = Some(Reservation { tenant, settle, price, model });
            self.input_estimate = input_estimate;
        }
        admitted
    }

    /// Notes a piece of streamed text: the first one marks the time to first token, and all of
    /// them are what a call cut short is charged for.
    pub fn saw(&mut self, delta: &str) {
        if self.trace.ttft_ms.is_none() {
            self.trace.ttft_ms = Some(millis(self.started.elapsed()));
        }
        self.seen.push_str(delta);
    }

    /// The text streamed so far.
    pub fn seen(&self) -> &str {
        &self.seen
    }

    /// How long since the request arrived.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Ends with an answer: its usage and cost settle the reservation.
    pub fn succeed(mut self, usage: Usage, cost: Micros, http_status: u16) {
        (self.trace.input_tokens, self.trace.output_tokens, self.trace.cost) =
            (usage.input_tokens, usage.output_tokens, cost);
        self.trace.status = "ok".to_owned();
        self.trace.http_status = http_status;
        self.end();
    }

    /// Ends with a failure (`status` is `error` or `refused`): nothing is charged.
    pub fn fail(mut self, status: &str, http_status: u16, error: String) {
        self.trace.status = status.to_owned();
        self.trace.http_status = http_status;
        self.trace.error = Some(error);
        self.end();
    }

    fn end(&mut self) {
        self.done = true;
        self.trace.latency_ms = millis(self.started.elapsed());
        if let Some(mut reservation) = self.reservation.take() {
            reservation.settle.tokens = self.trace.input_tokens + self.trace.output_tokens;
            reservation.settle.cost = self.trace.cost;
            reservation.settle.now = Utc::now();
            self.writer.queue(Entry::Settle(Box::new((reservation.tenant, reservation.settle))));
        }
        if let Some(observer) = &self.writer.observer {
            observer(&self.trace);
        }
        self.writer.queue(Entry::Trace(Box::new((self.scope.clone(), self.trace.clone()))));
    }
}

impl Drop for Ticket {
    /// The request ended without saying how: the client hung up (or the task was cancelled).
    /// The tokens seen so far are charged.
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let seen = self.seen.len() as u64;
        let usage =
            Usage { input_tokens: self.input_estimate, output_tokens: seen.div_ceil(4), cached_input_tokens: 0 };
        let price = self.reservation.as_ref().and_then(|r| r.price);
        (self.trace.input_tokens, self.trace.output_tokens) = (usage.input_tokens, usage.output_tokens);
        self.trace.cost = price.map_or(Micros::ZERO, |p| p.cost(&usage));
        self.trace.status = "cancelled".to_owned();
        self.trace.http_status = 499;
        self.trace.error = Some("the client closed the connection".to_owned());
        // An admitted call was started: its spend belongs in the ledger `promptops cost` reads.
        if let Some(reservation) = &self.reservation {
            let record = UsageRecord {
                at: Utc::now(),
                provider: self.trace.model.clone(),
                model: reservation.model.clone().unwrap_or_else(|| self.trace.model.clone()),
                prompt: self.trace.prompt.clone(),
                input_tokens: usage.input_tokens,
                output_tokens: usage.output_tokens,
                cached_input_tokens: 0,
                cost: self.trace.cost,
                cache_hit: false,
            };
            self.writer.queue(Entry::Usage(Box::new((self.scope.clone(), record))));
        }
        self.end();
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    //! A slot of `max_parallel` is given back however a request ends: the ticket's owner panics,
    //! or the request is dropped while the store is still admitting it.

    use std::future::Future;
    use std::pin::pin;
    use std::task::Context;

    use super::*;
    use crate::access::SystemScope;
    use crate::store::{MeterScope, SqliteStore};

    async fn store() -> (tempfile::TempDir, Arc<dyn Store>) {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = SqliteStore::open(dir.path().join("gateway.db")).await.expect("open store");
        (dir, Arc::new(store))
    }

    fn one_slot() -> MeterRequest {
        let scope = MeterScope {
            key: "key:tok_1".into(),
            rpm: None,
            tpm: None,
            max_parallel: Some(1),
            daily: None,
            monthly: None,
        };
        MeterRequest {
            scopes: vec![scope],
            tokens: 10,
            estimate: Micros::ZERO,
            now: Utc::now(),
            holder: "replica_1".into(),
        }
    }

    fn tenant() -> TenantScope {
        SystemScope::new().tenant("acme")
    }

    fn ticket(writer: &TraceWriter) -> Ticket {
        Ticket::open(writer, tenant().project("web"), "tok_1", "chat", "fast")
    }

    /// Admits a fresh request until it passes (the slot came back) or a few seconds went by.
    async fn slot_comes_back(store: &Arc<dyn Store>, writer: &TraceWriter) -> bool {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(3) {
            writer.flush().await.expect("nothing lost");
            let mut probe = ticket(writer);
            if probe.admit(store, tenant(), one_slot(), (None, None), 0).await.expect("admit") == Admission::Admitted {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_request_that_panics_gives_its_slot_back() {
        let (_dir, store) = store().await;
        let writer = TraceWriter::start(Arc::clone(&store), None);
        let mut held = ticket(&writer);
        assert_eq!(
            held.admit(&store, tenant(), one_slot(), (None, None), 0).await.expect("admit"),
            Admission::Admitted
        );
        let mut second = ticket(&writer);
        let refused = second.admit(&store, tenant(), one_slot(), (None, None), 0).await.expect("admit");
        assert!(matches!(refused, Admission::Refused { limit: crate::store::MeterLimit::Parallel, .. }));
        let panicked = tokio::spawn(async move {
            let _held = held;
            panic!("a handler bug");
        });
        assert!(panicked.await.is_err(), "the task was meant to panic");
        assert!(slot_comes_back(&store, &writer).await, "the panicked request kept its slot");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_request_dropped_while_admitting_gives_its_slot_back() {
        let (_dir, store) = store().await;
        let writer = TraceWriter::start(Arc::clone(&store), None);
        let mut dropped = ticket(&writer);
        {
            // Start the admission and abandon it at its first wait, as a hung-up request would.
            let mut admitting = pin!(dropped.admit(&store, tenant(), one_slot(), (None, None), 0));
            let waker = futures::task::noop_waker();
            let _ = admitting.as_mut().poll(&mut Context::from_waker(&waker));
        }
        drop(dropped);
        // Let the admission the request left behind finish before anyone else asks for the slot.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(slot_comes_back(&store, &writer).await, "the abandoned admission kept its slot");
    }
}
