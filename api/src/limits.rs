//! Per-user (or per-address) rate limiting with a token bucket.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::state::RateLimit;

/// Checks between cleanups of idle keys.
const CLEANUP_EVERY: u64 = 4096;

pub struct RateLimiter {
    limiter: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
    checks: AtomicU64,
}

impl RateLimiter {
    pub fn new(limit: RateLimit) -> Self {
        let per_second = NonZeroU32::new(limit.per_second.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(limit.burst.max(limit.per_second).max(1)).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_second(per_second).allow_burst(burst);
        Self { limiter: governor::RateLimiter::keyed(quota), clock: DefaultClock::default(), checks: AtomicU64::new(0) }
    }

    /// `Ok` when `key` may make a request now, else the seconds to wait.
    ///
    /// # Errors
    /// The whole seconds (at least 1) until the next request is allowed.
    pub fn check(&self, key: &str) -> Result<(), u64> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % CLEANUP_EVERY == CLEANUP_EVERY - 1 {
            self.limiter.retain_recent();
        }
        self.limiter.check_key(&key.to_owned()).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_then_refused_with_a_wait() {
        let limiter = RateLimiter::new(RateLimit { per_second: 1, burst: 3 });
        for _ in 0..3 {
            assert_eq!(limiter.check("alice"), Ok(()));
        }
        let wait = limiter.check("alice").expect_err("over the burst");
        assert!((1..=2).contains(&wait), "{wait}");
        // Another user has their own bucket.
        assert_eq!(limiter.check("bob"), Ok(()));
    }
}
