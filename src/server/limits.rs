//! Rate limits, as token buckets: one per credential (API token, JWT by the token it came from,
//! key pair) for every authenticated request, and one per client address for failed
//! authentications. A spent bucket answers 429 with the seconds until the next request fits.
//! The failure buckets are looked at before credentials are checked, so a client that keeps
//! sending bad tokens or Langfuse secrets is turned away without costing a database query.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Requests per second and burst size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Sustained requests per second.
    pub per_second: f64,
    /// Requests allowed at once.
    pub burst: f64,
}

/// Most buckets kept at once; beyond it, full buckets (which mean the same as no bucket) are
/// dropped, so a client spraying addresses cannot grow the map without bound.
const MAX_BUCKETS: usize = 100_000;

/// Token buckets by key.
#[derive(Debug)]
struct Buckets<K> {
    limit: RateLimit,
    buckets: Mutex<HashMap<K, (f64, Instant)>>,
}

impl<K: Eq + Hash + Clone> Buckets<K> {
    fn new(limit: RateLimit) -> Self {
        Self { limit, buckets: Mutex::new(HashMap::new()) }
    }

    /// The tokens in `key`'s bucket now (a missing bucket is full).
    fn level(&self, tokens: f64, last: Instant, now: Instant) -> f64 {
        (tokens + now.duration_since(last).as_secs_f64() * self.limit.per_second).min(self.limit.burst)
    }

    /// Seconds until `key`'s bucket holds a whole token; `None` when it holds one now.
    fn wait(&self, key: &K) -> Option<u64> {
        let buckets = self.buckets.lock().ok()?;
        let (tokens, last) = buckets.get(key)?;
        self.wait_for(self.level(*tokens, *last, Instant::now()))
    }

    fn wait_for(&self, tokens: f64) -> Option<u64> {
        if tokens >= 1.0 {
            return None;
        }
        let wait = (1.0 - tokens) / self.limit.per_second;
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a small positive number of seconds"
        )]
        Some(wait.ceil().max(1.0) as u64)
    }

    /// Takes a token from `key`'s bucket if it holds one; else the seconds to wait.
    fn take(&self, key: &K) -> Result<(), u64> {
        let now = Instant::now();
        let Ok(mut buckets) = self.buckets.lock() else { return Ok(()) };
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(key) {
            buckets.retain(|_, (tokens, last)| self.level(*tokens, *last, now) < self.limit.burst);
            if buckets.len() >= MAX_BUCKETS {
                tracing::warn!(buckets = buckets.len(), "rate-limit table full: forgetting every bucket");
                buckets.clear();
            }
        }
        let (tokens, last) = buckets.entry(key.clone()).or_insert((self.limit.burst, now));
        *tokens = self.level(*tokens, *last, now);
        *last = now;
        match self.wait_for(*tokens) {
            None => {
                *tokens -= 1.0;
                Ok(())
            }
            Some(wait) => Err(wait),
        }
    }
}

/// Per-credential request limits.
#[derive(Debug)]
pub struct RateLimiter(Buckets<String>);

impl RateLimiter {
    /// Buckets that refill at `limit`.
    pub fn new(limit: RateLimit) -> Self {
        Self(Buckets::new(limit))
    }

    /// Takes one request from `key`'s bucket; `Err(seconds)` to wait when it is empty.
    pub fn check(&self, key: &str) -> Result<(), u64> {
        self.0.take(&key.to_owned())
    }
}

/// Failed authentications allowed per client address: `burst` at once, refilled at `per_second`.
#[derive(Debug)]
pub struct FailureThrottle(Buckets<IpAddr>);

impl FailureThrottle {
    /// Buckets that refill at `limit`.
    pub fn new(limit: RateLimit) -> Self {
        Self(Buckets::new(limit))
    }

    /// `Err(seconds)` when `client` has spent its failures and must wait before trying again.
    pub fn check(&self, client: IpAddr) -> Result<(), u64> {
        self.0.wait(&Self::key(client)).map_or(Ok(()), Err)
    }

    /// Counts one failed authentication from `client`.
    pub fn failed(&self, client: IpAddr) {
        let _ = self.0.take(&Self::key(client));
    }

    /// IPv6 clients are counted by /64, the smallest network a host is usually given, so that
    /// walking through one's own addresses does not buy more attempts.
    fn key(client: IpAddr) -> IpAddr {
        match client {
            IpAddr::V6(v6) => {
                let network = u128::from(v6) & !((1_u128 << 64) - 1);
                IpAddr::V6(network.into())
            }
            IpAddr::V4(_) => client,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_asks_to_wait() {
        let limiter = RateLimiter::new(RateLimit { per_second: 1.0, burst: 3.0 });
        for _ in 0..3 {
            assert_eq!(limiter.check("a"), Ok(()));
        }
        assert_eq!(limiter.check("a"), Err(1));
        assert_eq!(limiter.check("b"), Ok(()), "buckets are per credential");
    }

    #[test]
    fn failures_are_counted_per_address_and_checked_without_spending() {
        let throttle = FailureThrottle::new(RateLimit { per_second: 0.1, burst: 2.0 });
        let (a, b): (IpAddr, IpAddr) = ("203.0.113.1".parse().expect("ip"), "203.0.113.2".parse().expect("ip"));
        for _ in 0..5 {
            assert_eq!(throttle.check(a), Ok(()), "checking alone spends nothing");
        }
        throttle.failed(a);
        assert_eq!(throttle.check(a), Ok(()));
        throttle.failed(a);
        assert_eq!(throttle.check(a), Err(10), "two failures spent the burst; one refills in 10 s");
        assert_eq!(throttle.check(b), Ok(()), "another address is not affected");
    }

    #[test]
    fn ipv6_clients_share_their_64_network() {
        let throttle = FailureThrottle::new(RateLimit { per_second: 0.1, burst: 1.0 });
        throttle.failed("2001:db8:1:2::1".parse().expect("ip"));
        assert!(throttle.check("2001:db8:1:2:ffff::9".parse().expect("ip")).is_err());
        assert!(throttle.check("2001:db8:1:3::1".parse().expect("ip")).is_ok());
    }

    #[test]
    fn the_table_stays_bounded() {
        let buckets: Buckets<u32> = Buckets::new(RateLimit { per_second: 1000.0, burst: 1.0 });
        for key in 0..(MAX_BUCKETS as u32 + 10) {
            let _ = buckets.take(&key);
        }
        assert!(buckets.buckets.lock().expect("lock").len() <= MAX_BUCKETS);
    }
}
