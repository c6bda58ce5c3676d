//! Per-credential rate limits: a token bucket per API token, JWT (by the token it came from) or
//! key pair. A spent bucket answers 429 with the seconds until the next request fits.

use std::collections::HashMap;
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

/// The buckets.
#[derive(Debug)]
pub struct RateLimiter {
    limit: RateLimit,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    /// Buckets that refill at `limit`.
    pub fn new(limit: RateLimit) -> Self {
        Self { limit, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes one request from `key`'s bucket; `Err(seconds)` to wait when it is empty.
    pub fn check(&self, key: &str) -> Result<(), u64> {
        let now = Instant::now();
        let Ok(mut buckets) = self.buckets.lock() else { return Ok(()) };
        let (tokens, last) = buckets.entry(key.to_owned()).or_insert((self.limit.burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.limit.per_second).min(self.limit.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            return Ok(());
        }
        let wait = (1.0 - *tokens) / self.limit.per_second;
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a small positive number of seconds"
        )]
        Err(wait.ceil().max(1.0) as u64)
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
}
