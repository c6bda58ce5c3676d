//! Budgets: `--max-cost` for one invocation and daily/monthly limits of the project (UTC
//! periods) kept in the store's usage ledger. Before a call, its cost is estimated (input
//! estimate at the input price plus `max_tokens`, or 256, at the output price) and reserved; a
//! call whose reservation would cross a limit is refused before it is sent, so the limit is
//! never overspent by more than one call's estimate error. After the call the reservation is
//! settled with the real cost, and crossing the warning threshold (`warn_at`, default 80%)
//! adds a warning to the response. One [`Budget`] is shared by every provider of a `Providers`.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Datelike, Duration as Days, NaiveDate, TimeZone, Utc};

use super::rate_limit::DEFAULT_OUTPUT_ESTIMATE;
use crate::money::Micros;
use crate::provider::pricing::PriceTable;
use crate::provider::{
    BudgetKind, ChatRequest, ChatResponse, EmbedRequest, EmbedResponse, OnDelta, Provider, ProviderError, ProviderInfo,
};
use crate::store::{Scope, Store};

/// The limits in force.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BudgetLimits {
    /// `--max-cost`.
    pub invocation: Option<Micros>,
    /// `budgets.daily_usd`.
    pub daily: Option<Micros>,
    /// `budgets.monthly_usd`.
    pub monthly: Option<Micros>,
    /// `budgets.warn_at` in thousandths (800 = 80%).
    pub warn_per_mille: u32,
}

impl BudgetLimits {
    /// Whether any limit is set.
    pub fn any(&self) -> bool {
        self.invocation.is_some() || self.daily.is_some() || self.monthly.is_some()
    }
}

#[derive(Debug, Default)]
struct Period {
    start: Option<DateTime<Utc>>,
    /// Spend in the store when the period was loaded.
    stored: Micros,
    /// Spend settled by this process since.
    local: Micros,
}

#[derive(Debug, Default)]
struct State {
    reserved: Micros,
    invocation: Micros,
    day: Period,
    month: Period,
    warned: BTreeSet<&'static str>,
}

/// Spend tracking shared by all providers of one invocation.
pub struct Budget {
    limits: BudgetLimits,
    store: Arc<dyn Store>,
    scope: Scope,
    loading: tokio::sync::Mutex<()>,
    state: Mutex<State>,
}

impl fmt::Debug for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Budget").field("limits", &self.limits).finish_non_exhaustive()
    }
}

/// A reserved estimate; released if dropped unsettled (a failed or cancelled call).
#[derive(Debug)]
pub struct Reservation {
    budget: Arc<Budget>,
    estimate: Micros,
    settled: bool,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.settled {
            let mut state = self.budget.lock();
            state.reserved = state.reserved - self.estimate;
        }
    }
}

fn day_start(now: DateTime<Utc>) -> DateTime<Utc> {
    Utc.from_utc_datetime(&now.date_naive().and_hms_opt(0, 0, 0).expect("invariant: midnight exists"))
}

fn month_start(now: DateTime<Utc>) -> DateTime<Utc> {
    let first = NaiveDate::from_ymd_opt(now.year(), now.month(), 1).expect("invariant: the 1st exists");
    Utc.from_utc_datetime(&first.and_hms_opt(0, 0, 0).expect("invariant: midnight exists"))
}

impl Budget {
    /// Budget tracking over the usage ledger in `store`.
    pub fn new(limits: BudgetLimits, store: Arc<dyn Store>, scope: Scope) -> Self {
        Self { limits, store, scope, loading: tokio::sync::Mutex::new(()), state: Mutex::new(State::default()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reads the store's spend for the current day and month when a new period starts.
    async fn refresh(&self, now: DateTime<Utc>) -> Result<(), ProviderError> {
        let _one_loader = self.loading.lock().await;
        let (day, month) = (day_start(now), month_start(now));
        let (stale_day, stale_month) = {
            let state = self.lock();
            (
                self.limits.daily.is_some() && state.day.start != Some(day),
                self.limits.monthly.is_some() && state.month.start != Some(month),
            )
        };
        if stale_day {
            let stored = self.store.spend_between(&self.scope, day, day + Days::days(1)).await?;
            self.lock().day = Period { start: Some(day), stored, local: Micros::ZERO };
        }
        if stale_month {
            let stored = self.store.spend_between(&self.scope, month, now + Days::days(1)).await?;
            self.lock().month = Period { start: Some(month), stored, local: Micros::ZERO };
        }
        Ok(())
    }

    /// Reserves `estimate`, or refuses if that would cross a limit.
    pub async fn reserve(self: &Arc<Self>, estimate: Micros) -> Result<Reservation, ProviderError> {
        self.refresh(Utc::now()).await?;
        let mut state = self.lock();
        let checks = [
            (BudgetKind::Invocation, self.limits.invocation, state.invocation),
            (BudgetKind::Daily, self.limits.daily, state.day.stored + state.day.local),
            (BudgetKind::Monthly, self.limits.monthly, state.month.stored + state.month.local),
        ];
        for (kind, limit, spent) in checks {
            let Some(limit) = limit else { continue };
            let committed = spent + state.reserved;
            // Refuse when already at the limit, or when this call's estimate would cross it.
            if committed >= limit || committed + estimate > limit {
                return Err(ProviderError::Budget { kind, spent: committed, limit, estimate });
            }
        }
        state.reserved += estimate;
        Ok(Reservation { budget: Arc::clone(self), estimate, settled: false })
    }

    /// Replaces the reservation by the real cost; returns warnings for thresholds just crossed.
    pub fn settle(&self, mut reservation: Reservation, cost: Micros) -> Vec<String> {
        reservation.settled = true;
        let mut state = self.lock();
        state.reserved = state.reserved - reservation.estimate;
        state.invocation += cost;
        state.day.local += cost;
        state.month.local += cost;
        let spent = [
            ("per-invocation", self.limits.invocation, state.invocation),
            ("daily", self.limits.daily, state.day.stored + state.day.local),
            ("monthly", self.limits.monthly, state.month.stored + state.month.local),
        ];
        let mut warnings = Vec::new();
        for (name, limit, spent) in spent {
            let Some(limit) = limit else { continue };
            let threshold = i128::from(limit.0) * i128::from(self.limits.warn_per_mille) / 1000;
            if i128::from(spent.0) >= threshold && state.warned.insert(name) {
                warnings.push(format!(
                    "{name} budget {}% used: {spent} of {limit}",
                    i128::from(spent.0) * 100 / i128::from(limit.0.max(1))
                ));
            }
        }
        warnings
    }

    /// Spent by this invocation so far.
    pub fn invocation_spent(&self) -> Micros {
        self.lock().invocation
    }
}

/// Wraps a provider with budget checks.
#[derive(Debug)]
pub struct BudgetGuard {
    inner: Arc<dyn Provider>,
    budget: Arc<Budget>,
    prices: Arc<PriceTable>,
}

impl BudgetGuard {
    /// Checks calls of `inner` against `budget`.
    pub fn new(inner: Arc<dyn Provider>, budget: Arc<Budget>, prices: Arc<PriceTable>) -> Self {
        Self { inner, budget, prices }
    }

    /// The estimated cost of a request before it is sent.
    pub fn estimate(&self, request: &ChatRequest) -> Micros {
        let Some(price) = self.prices.price(&self.inner.info().model) else { return Micros::ZERO };
        let output = request.params.max_tokens.map_or(DEFAULT_OUTPUT_ESTIMATE, u64::from);
        Micros::for_tokens(request.estimated_input_tokens(), price.input) + Micros::for_tokens(output, price.output)
    }
}

#[async_trait]
impl Provider for BudgetGuard {
    fn info(&self) -> &ProviderInfo {
        self.inner.info()
    }

    async fn chat(&self, request: &ChatRequest, on_delta: Option<OnDelta<'_>>) -> Result<ChatResponse, ProviderError> {
        let reservation = self.budget.reserve(self.estimate(request)).await?;
        let mut response = self.inner.chat(request, on_delta).await?;
        let warnings = self.budget.settle(reservation, response.cost);
        response.warnings.extend(warnings);
        Ok(response)
    }

    async fn embed(&self, request: &EmbedRequest) -> Result<EmbedResponse, ProviderError> {
        let reservation = self.budget.reserve(Micros::ZERO).await?;
        let response = self.inner.embed(request).await?;
        self.budget.settle(reservation, response.cost);
        Ok(response)
    }
}
