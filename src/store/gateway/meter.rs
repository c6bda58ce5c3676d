//! Admission arithmetic of the gateway's meters, one row per scope (a key, a project, the
//! tenant): requests and tokens per minute as GCRA (a theoretical arrival time that each request
//! pushes forward; a minute's worth may arrive at once), calls in flight (slots leased to the
//! replica holding them, which renews its leases while it lives: a replica that dies keeps its
//! slots only until its lease ends), and daily and monthly budgets that reserve an estimate
//! before the call and settle the real cost after it. A request
//! is admitted only if every scope admits it, and then every scope takes its share: all or
//! nothing, so concurrent requests can never overspend. SQLite applies [`admit`] inside a
//! transaction; PostgreSQL runs the same rules in the `gateway_admit` function (migration 0012), or
//! grants shares of them to a replica with `gateway_lease` (0015, see [`super::share`]).

use std::time::Duration;

use chrono::{DateTime, Datelike, Utc};

use crate::money::Micros;

/// The window of per-minute limits, in microseconds.
pub const WINDOW_US: i64 = 60_000_000;

/// How long a slot of `max_parallel` stays taken unless its holder renews its leases.
pub const LEASE: Duration = Duration::from_secs(30);

/// How often a live holder renews its leases: a third of [`LEASE`], so two renewals may fail.
pub const RENEW_EVERY: Duration = Duration::from_secs(10);

/// [`LEASE`] in microseconds.
pub fn lease_us() -> i64 {
    i64::try_from(LEASE.as_micros()).unwrap_or(i64::MAX)
}

/// The limits of one scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeterScope {
    /// `key:<token id>`, `project:<id>` or `tenant`.
    pub key: String,
    /// Requests per minute.
    pub rpm: Option<u32>,
    /// Tokens per minute.
    pub tpm: Option<u64>,
    /// Calls in flight.
    pub max_parallel: Option<u32>,
    /// Spend per UTC day.
    pub daily: Option<Micros>,
    /// Spend per UTC month.
    pub monthly: Option<Micros>,
}

/// One request asking to be admitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeterRequest {
    /// Every scope that applies.
    pub scopes: Vec<MeterScope>,
    /// Estimated tokens (input estimate plus `max_tokens`).
    pub tokens: u64,
    /// Estimated cost, reserved until settled.
    pub estimate: Micros,
    /// Now.
    pub now: DateTime<Utc>,
    /// Who takes the slots (the replica): its leases end unless it renews them.
    pub holder: String,
}

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeterLimit {
    /// Requests per minute.
    Rpm,
    /// Tokens per minute.
    Tpm,
    /// Calls in flight.
    Parallel,
    /// The daily budget.
    Daily,
    /// The monthly budget.
    Monthly,
}

impl MeterLimit {
    /// The stored and reported name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rpm => "rpm",
            Self::Tpm => "tpm",
            Self::Parallel => "parallel",
            Self::Daily => "daily",
            Self::Monthly => "monthly",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Rpm, Self::Tpm, Self::Parallel, Self::Daily, Self::Monthly].into_iter().find(|l| l.as_str() == text)
    }

    /// Whether this is a budget (spend) rather than a rate.
    pub fn is_budget(self) -> bool {
        matches!(self, Self::Daily | Self::Monthly)
    }
}

/// The outcome of an admission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Admitted: settle it later with [`MeterSettle`].
    Admitted,
    /// Refused by one scope's limit; nothing was taken anywhere.
    Refused {
        /// The scope key.
        scope: String,
        /// The limit.
        limit: MeterLimit,
        /// When a retry could pass (rates and slots; budgets: the next period).
        retry_after: Option<Duration>,
    },
}

/// The settlement of an admitted request: its real tokens and cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeterSettle {
    /// The scopes it was admitted on (with their limits, for the TPM correction).
    pub scopes: Vec<MeterScope>,
    /// The tokens estimated at admission.
    pub tokens_estimate: u64,
    /// The tokens used.
    pub tokens: u64,
    /// The cost reserved at admission.
    pub estimate: Micros,
    /// The real cost.
    pub cost: Micros,
    /// When it was admitted (the reservation belongs to that day and month).
    pub admitted_at: DateTime<Utc>,
    /// Now.
    pub now: DateTime<Utc>,
    /// Who holds its slots.
    pub holder: String,
}

impl MeterSettle {
    /// The settlement of `request`, admitted, at `cost` with the tokens it estimated.
    pub fn of(request: &MeterRequest, cost: Micros) -> Self {
        Self {
            scopes: request.scopes.clone(),
            tokens_estimate: request.tokens,
            tokens: request.tokens,
            estimate: request.estimate,
            cost,
            admitted_at: request.now,
            now: request.now,
            holder: request.holder.clone(),
        }
    }
}

/// The state of one scope's meter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MeterState {
    /// Theoretical arrival time of requests, µs since the epoch.
    pub rpm_tat: i64,
    /// Theoretical arrival time of tokens, µs since the epoch.
    pub tpm_tat: i64,
    /// Calls admitted and not yet settled, on unexpired leases of every holder.
    pub in_flight: i64,
    /// The UTC day the day figures are of (days since the epoch).
    pub day: i64,
    /// Settled spend of that day, µ$.
    pub day_spent: i64,
    /// Spend of that day reserved by calls in flight (on unexpired leases), µ$.
    pub day_reserved: i64,
    /// The month the month figures are of (`year * 12 + month0`).
    pub month: i64,
    /// Settled spend of that month, µ$.
    pub month_spent: i64,
    /// Spend of that month reserved by calls in flight (on unexpired leases), µ$.
    pub month_reserved: i64,
}

/// Microseconds since the epoch.
pub fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

/// Days since the epoch of `at` (UTC).
pub fn day_of(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(86_400)
}

/// `year * 12 + month0` of `at` (UTC).
pub fn month_of(at: DateTime<Utc>) -> i64 {
    i64::from(at.year()) * 12 + i64::from(at.month0())
}

/// The cost in µs of the arrival time of `amount` units at `per_minute`.
pub fn interval_us(amount: u64, per_minute: u64) -> i64 {
    let us = u128::from(amount) * WINDOW_US as u128 / u128::from(per_minute.max(1));
    i64::try_from(us).unwrap_or(i64::MAX)
}

fn wait(us: i64) -> Option<Duration> {
    Some(Duration::from_micros(u64::try_from(us.max(0)).unwrap_or(0)).max(Duration::from_millis(1)))
}

/// Starts a new day or month in `state` if `now` is in a later one.
fn roll(state: &mut MeterState, now: DateTime<Utc>) {
    if state.day != day_of(now) {
        (state.day, state.day_spent, state.day_reserved) = (day_of(now), 0, 0);
    }
    if state.month != month_of(now) {
        (state.month, state.month_spent, state.month_reserved) = (month_of(now), 0, 0);
    }
}

/// Why one scope refuses the request, if it does.
fn refusal(state: &MeterState, scope: &MeterScope, request: &MeterRequest) -> Option<(MeterLimit, Option<Duration>)> {
    let now = micros(request.now);
    if let Some(rpm) = scope.rpm {
        let next = state.rpm_tat.max(now) + interval_us(1, u64::from(rpm));
        if next - now > WINDOW_US {
            return Some((MeterLimit::Rpm, wait(next - now - WINDOW_US)));
        }
    }
    if let Some(tpm) = scope.tpm {
        let base = state.tpm_tat.max(now);
        let next = base.saturating_add(interval_us(request.tokens, tpm));
        // A request larger than a whole minute passes once the bucket is full, never sooner.
        if next - now > WINDOW_US && base > now {
            return Some((MeterLimit::Tpm, wait((next - now - WINDOW_US).min(base - now))));
        }
    }
    if scope.max_parallel.is_some_and(|max| state.in_flight >= i64::from(max)) {
        return Some((MeterLimit::Parallel, wait(1_000_000)));
    }
    let estimate = request.estimate.0;
    if let Some(limit) = scope.daily
        && state.day_spent + state.day_reserved + estimate > limit.0
    {
        let next_day = (state.day + 1) * 86_400 * 1_000_000;
        return Some((MeterLimit::Daily, wait(next_day - now)));
    }
    if let Some(limit) = scope.monthly
        && state.month_spent + state.month_reserved + estimate > limit.0
    {
        return Some((MeterLimit::Monthly, None));
    }
    None
}

/// Admits `request` against `states` (one per scope, in the request's order), changing them only
/// when every scope admits it.
pub fn admit(states: &mut [MeterState], request: &MeterRequest) -> Admission {
    for state in states.iter_mut() {
        roll(state, request.now);
    }
    for (state, scope) in states.iter().zip(&request.scopes) {
        if let Some((limit, retry_after)) = refusal(state, scope, request) {
            return Admission::Refused { scope: scope.key.clone(), limit, retry_after };
        }
    }
    let now = micros(request.now);
    for (state, scope) in states.iter_mut().zip(&request.scopes) {
        if let Some(rpm) = scope.rpm {
            state.rpm_tat = state.rpm_tat.max(now) + interval_us(1, u64::from(rpm));
        }
        if let Some(tpm) = scope.tpm {
            state.tpm_tat = state.tpm_tat.max(now).saturating_add(interval_us(request.tokens, tpm));
        }
        state.in_flight += 1;
        state.day_reserved += request.estimate.0;
        state.month_reserved += request.estimate.0;
    }
    Admission::Admitted
}

/// The change of a scope's TPM arrival time once the real token count of `settle` is known.
pub fn tpm_correction(settle: &MeterSettle, tpm: Option<u64>) -> i64 {
    let Some(tpm) = tpm else { return 0 };
    let (used, estimate) = (settle.tokens, settle.tokens_estimate);
    if used >= estimate { interval_us(used - estimate, tpm) } else { -interval_us(estimate - used, tpm) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> MeterScope {
        MeterScope { key: "key:k".into(), rpm: None, tpm: None, max_parallel: None, daily: None, monthly: None }
    }

    fn request(scopes: Vec<MeterScope>, estimate: i64, now: DateTime<Utc>) -> MeterRequest {
        MeterRequest { scopes, tokens: 100, estimate: Micros(estimate), now, holder: "replica-1".into() }
    }

    #[test]
    fn rpm_admits_a_minutes_worth_then_asks_to_wait() {
        let now = Utc::now();
        let scopes = vec![MeterScope { rpm: Some(5), ..scope() }];
        let mut states = [MeterState::default()];
        for _ in 0..5 {
            assert_eq!(admit(&mut states, &request(scopes.clone(), 0, now)), Admission::Admitted);
        }
        let Admission::Refused { limit, retry_after, .. } = admit(&mut states, &request(scopes, 0, now)) else {
            panic!("the sixth request in a minute was admitted");
        };
        assert_eq!(limit, MeterLimit::Rpm);
        assert_eq!(retry_after, Some(Duration::from_secs(12)));
    }

    #[test]
    fn a_budget_reserves_and_refuses_the_call_that_would_cross_it() {
        let now = Utc::now();
        let scopes = vec![MeterScope { daily: Some(Micros(300)), ..scope() }];
        let mut states = [MeterState::default()];
        for _ in 0..3 {
            assert_eq!(admit(&mut states, &request(scopes.clone(), 100, now)), Admission::Admitted);
        }
        assert!(matches!(
            admit(&mut states, &request(scopes, 100, now)),
            Admission::Refused { limit: MeterLimit::Daily, .. }
        ));
        assert_eq!((states[0].day_reserved, states[0].in_flight), (300, 3));
    }

    #[test]
    fn a_refusal_by_one_scope_takes_nothing_from_the_others() {
        let now = Utc::now();
        let scopes = vec![
            MeterScope { rpm: Some(10), ..scope() },
            MeterScope { key: "tenant".into(), max_parallel: Some(0), ..scope() },
        ];
        let mut states = [MeterState::default(), MeterState::default()];
        let outcome = admit(&mut states, &request(scopes, 50, now));
        assert!(
            matches!(outcome, Admission::Refused { limit: MeterLimit::Parallel, ref scope, .. } if scope == "tenant")
        );
        assert_eq!((states[0].rpm_tat, states[0].day_reserved, states[0].in_flight), (0, 0, 0));
    }

    #[test]
    fn a_new_day_starts_from_zero() {
        let now = Utc::now();
        let mut states =
            [MeterState { day: day_of(now) - 1, day_spent: 1_000, month: month_of(now), ..MeterState::default() }];
        let scopes = vec![MeterScope { daily: Some(Micros(500)), ..scope() }];
        assert_eq!(admit(&mut states, &request(scopes, 100, now)), Admission::Admitted);
        assert_eq!((states[0].day, states[0].day_spent, states[0].day_reserved), (day_of(now), 0, 100));
    }
}
