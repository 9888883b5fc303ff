//! Sign-in throttling: after a few failures for one account or from one
//! address, each further attempt waits, doubling up to a quarter of an
//! hour. Checking a password costs an argon2 hash, so guessing must not be
//! free, and one address must not lock everyone else out of an account for
//! long, so the wait stays bounded and a success clears it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The longest wait.
const MAX_WAIT: Duration = Duration::from_secs(15 * 60);
/// Entries kept before idle ones are dropped.
const MAX_ENTRIES: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    blocked_until: Option<Instant>,
}

/// Failed sign-ins by key (`account:EMAIL`, `address:IP`).
#[derive(Debug)]
pub struct LoginThrottle {
    allowed: u32,
    failures: Mutex<HashMap<String, Failures>>,
}

impl LoginThrottle {
    /// Allows `allowed` failures per key before waits start.
    pub fn new(allowed: u32) -> Self {
        Self { allowed, failures: Mutex::new(HashMap::new()) }
    }

    /// `Err(seconds)` while any of `keys` must wait.
    ///
    /// # Errors
    /// The whole seconds to wait (at least 1).
    pub fn check(&self, keys: &[String], now: Instant) -> Result<(), u64> {
        let failures = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let wait = keys
            .iter()
            .filter_map(|key| failures.get(key)?.blocked_until)
            .filter(|until| *until > now)
            .map(|until| until - now)
            .max();
        match wait {
            Some(wait) => Err(wait.as_secs().max(1) + u64::from(wait.subsec_nanos() > 0)),
            None => Ok(()),
        }
    }

    /// Records a failure against every key.
    pub fn failed(&self, keys: &[String], now: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if failures.len() >= MAX_ENTRIES {
            failures.retain(|_, f| now.duration_since(f.last) < MAX_WAIT);
        }
        for key in keys {
            let entry = failures.entry(key.clone()).or_insert(Failures { count: 0, last: now, blocked_until: None });
            entry.count = entry.count.saturating_add(1);
            entry.last = now;
            if entry.count > self.allowed {
                let doublings = (entry.count - self.allowed - 1).min(20);
                let wait = Duration::from_secs(1u64 << doublings).min(MAX_WAIT);
                entry.blocked_until = Some(now + wait);
            }
        }
    }

    /// Forgets the failures of `keys` after a successful sign-in.
    pub fn succeeded(&self, keys: &[String]) {
        let mut failures = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for key in keys {
            failures.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_start_after_the_allowed_failures_and_double() {
        let throttle = LoginThrottle::new(3);
        let keys = vec!["account:a@b.c".to_owned(), "address:127.0.0.1".to_owned()];
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(throttle.check(&keys, start), Ok(()));
            throttle.failed(&keys, start);
        }
        assert_eq!(throttle.check(&keys, start), Ok(()), "three failures are allowed");
        throttle.failed(&keys, start);
        assert_eq!(throttle.check(&keys, start), Err(1));
        throttle.failed(&keys, start);
        assert_eq!(throttle.check(&keys, start), Err(2));
        throttle.failed(&keys, start);
        assert_eq!(throttle.check(&keys, start), Err(4));
        assert_eq!(throttle.check(&keys, start + Duration::from_secs(5)), Ok(()));
        // Another address for the same account still waits on the account.
        let elsewhere = vec!["account:a@b.c".to_owned(), "address:10.0.0.9".to_owned()];
        assert!(throttle.check(&elsewhere, start).is_err());
        throttle.succeeded(&keys);
        assert_eq!(throttle.check(&keys, start), Ok(()));
    }

    #[test]
    fn the_wait_is_bounded() {
        let throttle = LoginThrottle::new(0);
        let keys = vec!["account:x".to_owned()];
        let now = Instant::now();
        for _ in 0..100 {
            throttle.failed(&keys, now);
        }
        assert_eq!(throttle.check(&keys, now), Err(MAX_WAIT.as_secs()));
    }
}
