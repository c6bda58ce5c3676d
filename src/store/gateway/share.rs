//! Shares of rate and budget that one replica leased from a shared store (PostgreSQL), so that
//! most admissions are decided in memory instead of one locked round trip per request. Owns the
//! arithmetic only: what a request can take from the shares it holds, what it must lease, what a
//! grant adds, what a settlement gives back. The store owns the SQL (`gateway_lease`) and when
//! to call it.
//!
//! Why budgets cannot be overspent: a replica spends only what its lease row in the database
//! reserves. Every grant is added here after the database committed it, and every give-back is
//! taken off here before the database hears of it, so what this book thinks it holds is never
//! more than the database reserves for it. A grant is at most an eighth of what remains, and never
//! less than the call asking for it needs: near the limit every call reserves its own estimate,
//! as without shares. Requests and tokens per minute are taken from the meter's GCRA in chunks of
//! at most a tenth of a second's rate, and are usable for [`RATE_HOLD`] only.

use std::collections::HashMap;
use std::time::Duration;

use super::meter::{self, MeterRequest, MeterScope, MeterSettle};

/// How long leased requests and tokens per minute stay usable.
pub const RATE_HOLD: Duration = Duration::from_secs(1);
/// How much sooner than the database this book counts a budget lease as ended (clock skew).
pub const MARGIN: Duration = Duration::from_secs(2);
/// How many calls' worth a grant aims at (then bounded by the fractions above).
pub const CALLS_PER_GRANT: u64 = 256;

fn us(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

/// What one scope needs of a lease: the least that admits the call, and what to aim for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Want {
    /// Requests per minute: (need, want).
    pub requests: (i64, i64),
    /// Tokens per minute.
    pub tokens: (i64, i64),
    /// Daily budget, µ$.
    pub day: (i64, i64),
    /// Monthly budget, µ$.
    pub month: (i64, i64),
}

impl Want {
    fn any(&self) -> bool {
        [self.requests, self.tokens, self.day, self.month].iter().any(|(need, want)| need + want > 0)
    }
}

/// What the database granted one scope.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Grant {
    /// Requests.
    pub requests: i64,
    /// Tokens.
    pub tokens: i64,
    /// Daily budget, µ$.
    pub day: i64,
    /// Monthly budget, µ$.
    pub month: i64,
}

/// One budget column of a share: what the lease row reserves, and how much of it calls in flight
/// use. `keep` is how much may sit unused after a settlement (0 near the limit).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Purse {
    period: i64,
    held: i64,
    in_flight: i64,
    keep: i64,
}

impl Purse {
    fn free(&self) -> i64 {
        self.held - self.in_flight
    }

    /// Starts over when the period changed (the database's row does the same).
    fn roll(&mut self, period: i64) {
        if self.period != period {
            *self = Self { period, ..Self::default() };
        }
    }

    /// A settlement of `estimate` that cost `cost`: what the lease row gives back.
    fn settle(&mut self, period: i64, estimate: i64, cost: i64) -> i64 {
        if self.period != period {
            return cost;
        }
        self.in_flight = (self.in_flight - estimate).max(0);
        let spent = cost.min(self.held);
        self.held -= spent;
        let extra = (self.free() - self.keep).max(0);
        self.held -= extra;
        cost + extra
    }
}

/// The shares of one scope (a meter row) held by one replica.
#[derive(Debug, Clone, Default)]
struct Share {
    requests: i64,
    tokens: i64,
    rate_until: i64,
    day: Purse,
    month: Purse,
    /// When the budget lease ends, as far as this book may count on it.
    valid_until: i64,
    used: bool,
    refilling: bool,
}

impl Share {
    fn refresh(&mut self, now: i64, day: i64, month: i64) {
        if now >= self.rate_until {
            (self.requests, self.tokens) = (0, 0);
        }
        if now >= self.valid_until {
            (self.day.held, self.month.held, self.day.keep, self.month.keep) = (0, 0, 0, 0);
        }
        self.day.roll(day);
        self.month.roll(month);
    }

    /// What to lease ahead of need, if this share runs low: rates down to half of `aim`, budgets
    /// down to half of what they may keep (nothing near the limit, where they keep nothing).
    fn refill(&self, aim: [i64; 4]) -> Want {
        let low = |free: i64, target: i64| if !self.refilling && target > 0 && free < target / 2 { target } else { 0 };
        Want {
            requests: (0, low(self.requests, aim[0])),
            tokens: (0, low(self.tokens, aim[1])),
            day: (0, low(self.day.free(), self.day.keep)),
            month: (0, low(self.month.free(), self.month.keep)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ShareKey {
    holder: String,
    tenant: String,
    key: String,
}

/// What a request took from the shares before asking the database for the rest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Taken {
    per_scope: Vec<Want>,
}

/// What admitting a request from the shares came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Take {
    /// Admitted from the shares; `refill` asks for more ahead of need.
    Admitted {
        /// A lease to make in the background (need 0 everywhere), if shares run low.
        refill: Option<Vec<Want>>,
    },
    /// The shares lack: lease `ask` (per scope, in the request's order), then
    /// [`ShareBook::granted`] or [`ShareBook::refused`] with `taken`.
    Lacking {
        /// What to lease.
        ask: Vec<Want>,
        /// What was taken from the shares meanwhile.
        taken: Taken,
    },
}

/// A give-back of budget to a lease row (settlements and idle shares).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// The tenant.
    pub tenant: String,
    /// The scope key.
    pub key: String,
    /// The holder.
    pub holder: String,
    /// The day and the µ$ given back of it.
    pub day: (i64, i64),
    /// The month and the µ$ given back of it.
    pub month: (i64, i64),
}

/// The shares every replica of this process holds, by holder, tenant and scope.
#[derive(Debug, Default)]
pub struct ShareBook {
    shares: HashMap<ShareKey, Share>,
}

/// What a scope of `request` needs: (requests, tokens, day µ$, month µ$).
fn needs(scope: &MeterScope, request: &MeterRequest) -> [i64; 4] {
    let tokens = i64::try_from(request.tokens).unwrap_or(i64::MAX);
    [
        i64::from(scope.rpm.is_some()),
        if scope.tpm.is_some() { tokens } else { 0 },
        if scope.daily.is_some() { request.estimate.0 } else { 0 },
        if scope.monthly.is_some() { request.estimate.0 } else { 0 },
    ]
}

/// What a grant aims at for `scope`: [`CALLS_PER_GRANT`] calls, at most a tenth of a second of
/// its rates (the database bounds budgets by what remains).
fn aims(scope: &MeterScope, need: [i64; 4]) -> [i64; 4] {
    let calls = i64::try_from(CALLS_PER_GRANT).unwrap_or(i64::MAX);
    let tenth = |per_minute: u64| i64::try_from(per_minute / 600).unwrap_or(i64::MAX);
    [
        scope.rpm.map_or(0, |rpm| tenth(u64::from(rpm)).min(calls).max(need[0])),
        scope.tpm.map_or(0, |tpm| tenth(tpm).min(need[1].saturating_mul(calls)).max(need[1])),
        need[2].saturating_mul(calls),
        need[3].saturating_mul(calls),
    ]
}

impl ShareBook {
    fn key(holder: &str, tenant: &str, key: &str) -> ShareKey {
        ShareKey { holder: holder.to_owned(), tenant: tenant.to_owned(), key: key.to_owned() }
    }

    /// Admits `request` from the shares if they cover it; else takes what they have and says
    /// what to lease.
    pub fn take(&mut self, tenant: &str, request: &MeterRequest) -> Take {
        let (now, day, month) = clock(request);
        let (mut taken, mut ask, mut refill) = (Taken::default(), Vec::new(), Vec::new());
        for scope in &request.scopes {
            let share = self.shares.entry(Self::key(&request.holder, tenant, &scope.key)).or_default();
            share.refresh(now, day, month);
            share.used = true;
            let (need, aim) = (needs(scope, request), aims(scope, needs(scope, request)));
            let got = [
                take_from(&mut share.requests, need[0]),
                take_from(&mut share.tokens, need[1]),
                take_purse(&mut share.day, need[2]),
                take_purse(&mut share.month, need[3]),
            ];
            taken.per_scope.push(Want {
                requests: (got[0], 0),
                tokens: (got[1], 0),
                day: (got[2], 0),
                month: (got[3], 0),
            });
            // A call that must lease anyway tops up what runs low on the way.
            let low = share.refill(aim);
            let lows = [low.requests.1, low.tokens.1, low.day.1, low.month.1];
            let pair = |i: usize| (need[i] - got[i], if need[i] > got[i] { aim[i] } else { lows[i] });
            ask.push(Want { requests: pair(0), tokens: pair(1), day: pair(2), month: pair(3) });
            refill.push(low);
        }
        if ask.iter().any(|w| [w.requests.0, w.tokens.0, w.day.0, w.month.0].iter().any(|n| *n > 0)) {
            return Take::Lacking { ask, taken };
        }
        if !refill.iter().any(Want::any) {
            return Take::Admitted { refill: None };
        }
        self.refilling(tenant, request, true);
        Take::Admitted { refill: Some(refill) }
    }

    /// Marks (or clears) a background lease in progress for the scopes of `request`.
    pub fn refilling(&mut self, tenant: &str, request: &MeterRequest, on: bool) {
        for scope in &request.scopes {
            if let Some(share) = self.shares.get_mut(&Self::key(&request.holder, tenant, &scope.key)) {
                share.refilling = on;
            }
        }
    }

    /// Adds what the database granted (per scope, in the request's order); `asked` is what was
    /// needed of it, which the request now holds in flight.
    pub fn granted(&mut self, tenant: &str, request: &MeterRequest, asked: &[Want], grants: &[Grant]) {
        let (now, day, month) = clock(request);
        for ((scope, want), grant) in request.scopes.iter().zip(asked).zip(grants) {
            let share = self.shares.entry(Self::key(&request.holder, tenant, &scope.key)).or_default();
            share.refresh(now, day, month);
            if grant.requests > 0 || grant.tokens > 0 {
                share.requests += grant.requests - want.requests.0;
                share.tokens += grant.tokens - want.tokens.0;
                share.rate_until = now + us(RATE_HOLD);
            }
            if grant.day > 0 || grant.month > 0 {
                share.valid_until = share.valid_until.max(now + meter::lease_us() - us(MARGIN));
            }
            for (purse, got, need) in
                [(&mut share.day, grant.day, want.day.0), (&mut share.month, grant.month, want.month.0)]
            {
                purse.held += got;
                purse.in_flight += need;
                if got > 0 {
                    purse.keep = got - need;
                }
            }
        }
    }

    /// Gives back what a refused request had taken from the shares.
    pub fn refused(&mut self, tenant: &str, request: &MeterRequest, taken: &Taken) {
        for (scope, got) in request.scopes.iter().zip(&taken.per_scope) {
            if let Some(share) = self.shares.get_mut(&Self::key(&request.holder, tenant, &scope.key)) {
                share.requests += got.requests.0;
                share.tokens += got.tokens.0;
                share.day.in_flight = (share.day.in_flight - got.day.0).max(0);
                share.month.in_flight = (share.month.in_flight - got.month.0).max(0);
            }
        }
    }

    /// Settles a call admitted from shares: what each budgeted scope's lease row gives back
    /// (its cost, and what the share holds beyond what it may keep unused).
    pub fn settle(&mut self, tenant: &str, settle: &MeterSettle) -> Vec<Release> {
        let (day, month) = (meter::day_of(settle.admitted_at), meter::month_of(settle.admitted_at));
        let mut releases = Vec::new();
        for scope in settle.scopes.iter().filter(|s| s.daily.is_some() || s.monthly.is_some()) {
            let (estimate, cost) = (settle.estimate.0, settle.cost.0);
            let key = Self::key(&settle.holder, tenant, &scope.key);
            let (day_back, month_back) = match self.shares.get_mut(&key) {
                Some(share) => (share.day.settle(day, estimate, cost), share.month.settle(month, estimate, cost)),
                None => (cost, cost),
            };
            releases.push(Release {
                tenant: tenant.to_owned(),
                key: scope.key.clone(),
                holder: settle.holder.clone(),
                day: (day, if scope.daily.is_some() { day_back } else { 0 }),
                month: (month, if scope.monthly.is_some() { month_back } else { 0 }),
            });
        }
        releases
    }

    /// The database renewed `holder`'s leases at `now`: shares still valid stay so for another
    /// lease. Those unused since the last renewal give back what is free, so that budget a
    /// replica no longer needs goes to the others.
    pub fn renewed(&mut self, holder: &str, now: i64) -> Vec<Release> {
        let mut releases = Vec::new();
        for (key, share) in self.shares.iter_mut().filter(|(k, _)| k.holder == holder) {
            if now < share.valid_until {
                share.valid_until = now + meter::lease_us() - us(MARGIN);
            }
            if std::mem::take(&mut share.used) {
                continue;
            }
            let back = [&mut share.day, &mut share.month].map(|purse| {
                let free = purse.free().max(0);
                (purse.held, purse.keep) = (purse.held - free, 0);
                (purse.period, free)
            });
            if back.iter().any(|(_, free)| *free > 0) {
                releases.push(Release {
                    tenant: key.tenant.clone(),
                    key: key.key.clone(),
                    holder: key.holder.clone(),
                    day: back[0],
                    month: back[1],
                });
            }
        }
        // A share that holds nothing and has nothing in flight is forgotten.
        self.shares.retain(|k, s| {
            k.holder != holder
                || s.refilling
                || s.requests + s.tokens + s.day.held + s.month.held > 0
                || s.day.in_flight + s.month.in_flight > 0
        });
        releases
    }
}

fn clock(request: &MeterRequest) -> (i64, i64, i64) {
    (meter::micros(request.now), meter::day_of(request.now), meter::month_of(request.now))
}

fn take_from(free: &mut i64, need: i64) -> i64 {
    let got = need.min(*free).max(0);
    *free -= got;
    got
}

fn take_purse(purse: &mut Purse, need: i64) -> i64 {
    let got = need.min(purse.free()).max(0);
    purse.in_flight += got;
    got
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;
    use crate::money::Micros;

    fn budget(daily: i64) -> MeterScope {
        MeterScope {
            key: "key:k".into(),
            rpm: None,
            tpm: None,
            max_parallel: None,
            daily: Some(Micros(daily)),
            monthly: None,
        }
    }

    fn request(scope: MeterScope, estimate: i64, now: DateTime<Utc>) -> MeterRequest {
        MeterRequest { scopes: vec![scope], tokens: 10, estimate: Micros(estimate), now, holder: "replica_1".into() }
    }

    fn settle(request: &MeterRequest, cost: i64) -> MeterSettle {
        MeterSettle::of(request, Micros(cost))
    }

    fn lacking(take: Take) -> (Vec<Want>, Taken) {
        match take {
            Take::Lacking { ask, taken } => (ask, taken),
            Take::Admitted { .. } => panic!("admitted without a lease"),
        }
    }

    fn grant_day(day: i64) -> Vec<Grant> {
        vec![Grant { day, ..Grant::default() }]
    }

    #[test]
    fn a_grant_admits_the_calls_it_covers_without_another_lease() {
        let mut book = ShareBook::default();
        let first = request(budget(1_000_000), 10, Utc::now());
        let (ask, _) = lacking(book.take("acme", &first));
        assert_eq!(ask[0].day, (10, 10 * 256), "needs one call, aims at a chunk");
        book.granted("acme", &first, &ask, &grant_day(100));
        for _ in 0..9 {
            assert!(matches!(book.take("acme", &request(budget(1_000_000), 10, first.now)), Take::Admitted { .. }));
        }
        assert!(matches!(book.take("acme", &request(budget(1_000_000), 10, first.now)), Take::Lacking { .. }));
    }

    #[test]
    fn a_settlement_near_the_limit_gives_back_everything_unspent() {
        let mut book = ShareBook::default();
        let call = request(budget(100), 60, Utc::now());
        let (ask, _) = lacking(book.take("acme", &call));
        // Near the limit the database grants the need only: nothing may sit unused.
        book.granted("acme", &call, &ask, &grant_day(60));
        let back = book.settle("acme", &settle(&call, 30));
        assert_eq!(back[0].day.1, 60, "the cost and the unspent 30");
    }

    #[test]
    fn a_settlement_far_from_the_limit_keeps_the_share() {
        let mut book = ShareBook::default();
        let call = request(budget(1_000_000), 10, Utc::now());
        let (ask, _) = lacking(book.take("acme", &call));
        book.granted("acme", &call, &ask, &grant_day(1_000));
        // The cost, and the estimate's unspent 3: the share keeps its surplus of 990, no more.
        assert_eq!(book.settle("acme", &settle(&call, 7))[0].day.1, 10);
        for _ in 0..99 {
            assert!(matches!(book.take("acme", &request(budget(1_000_000), 10, call.now)), Take::Admitted { .. }));
        }
        assert!(matches!(book.take("acme", &request(budget(1_000_000), 10, call.now)), Take::Lacking { .. }));
    }

    #[test]
    fn a_refused_lease_gives_back_what_the_request_took_from_the_share() {
        let mut book = ShareBook::default();
        let first = request(budget(1_000), 40, Utc::now());
        let (ask, _) = lacking(book.take("acme", &first));
        book.granted("acme", &first, &ask, &grant_day(50));
        // 10 free: the next call of 40 takes it and asks for 30 more; refused, the 10 is free again.
        let second = request(budget(1_000), 40, first.now);
        let (ask, taken) = lacking(book.take("acme", &second));
        assert_eq!(ask[0].day.0, 30);
        book.refused("acme", &second, &taken);
        let (ask, _) = lacking(book.take("acme", &request(budget(1_000), 40, first.now)));
        assert_eq!(ask[0].day.0, 30, "the 10 came back to the share");
    }

    #[test]
    fn a_share_past_its_lease_counts_for_nothing() {
        let mut book = ShareBook::default();
        let first = request(budget(1_000_000), 10, Utc::now());
        let (ask, _) = lacking(book.take("acme", &first));
        book.granted("acme", &first, &ask, &grant_day(1_000));
        let later = first.now + chrono::Duration::from_std(meter::LEASE).expect("lease");
        assert!(matches!(book.take("acme", &request(budget(1_000_000), 10, later)), Take::Lacking { .. }));
    }

    #[test]
    fn an_idle_share_gives_back_what_is_free_at_renewal() {
        let mut book = ShareBook::default();
        let first = request(budget(1_000_000), 10, Utc::now());
        let (ask, _) = lacking(book.take("acme", &first));
        book.granted("acme", &first, &ask, &grant_day(1_000));
        let now = meter::micros(first.now);
        assert!(book.renewed("replica_1", now).is_empty(), "used since the last renewal: kept");
        let back = book.renewed("replica_1", now);
        assert_eq!(back[0].day.1, 990, "all but the call in flight");
    }

    #[test]
    fn rate_shares_hold_a_tenth_of_a_second_and_end_after_a_second() {
        let mut book = ShareBook::default();
        let scope = MeterScope { rpm: Some(6_000), daily: None, ..budget(0) };
        let first = request(scope.clone(), 0, Utc::now());
        let (ask, _) = lacking(book.take("acme", &first));
        assert_eq!(ask[0].requests, (1, 10));
        book.granted("acme", &first, &ask, &[Grant { requests: 10, ..Grant::default() }]);
        for _ in 0..9 {
            assert!(matches!(book.take("acme", &request(scope.clone(), 0, first.now)), Take::Admitted { .. }));
        }
        assert!(matches!(book.take("acme", &request(scope.clone(), 0, first.now)), Take::Lacking { .. }));
        let later = first.now + chrono::Duration::from_std(RATE_HOLD).expect("hold");
        book.granted("acme", &first, &[Want::default()], &[Grant { requests: 5, ..Grant::default() }]);
        assert!(matches!(book.take("acme", &request(scope, 0, later)), Take::Lacking { .. }));
    }
}
