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

    /// Counts a sign-in attempt against every key *before* the password is
    /// checked (so that a burst of parallel guesses cannot all slip past a
    /// check made before any failure was recorded), or refuses it with the
    /// seconds to wait while any key must wait.
    ///
    /// # Errors
    /// The whole seconds to wait (at least 1).
    pub fn attempt(&self, keys: &[String], now: Instant) -> Result<(), u64> {
        let mut failures = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let wait = keys
            .iter()
            .filter_map(|key| failures.get(key)?.blocked_until)
            .filter(|until| *until > now)
            .map(|until| until - now)
            .max();
        if let Some(wait) = wait {
            return Err(wait.as_secs().max(1) + u64::from(wait.subsec_nanos() > 0));
        }
        if failures.len() >= MAX_ENTRIES {
            failures.retain(|_, f| now.duration_since(f.last) < MAX_WAIT);
        }
        for key in keys {
            let entry = failures.entry(key.clone()).or_insert(Failures { count: 0, last: now, blocked_until: None });
            // Quiet for the longest wait: start counting afresh.
            if now.duration_since(entry.last) >= MAX_WAIT {
                entry.count = 0;
            }
            entry.count = entry.count.saturating_add(1);
            entry.last = now;
            if entry.count > self.allowed {
                let doublings = (entry.count - self.allowed - 1).min(20);
                entry.blocked_until = Some(now + Duration::from_secs(1u64 << doublings).min(MAX_WAIT));
            }
        }
        Ok(())
    }

    /// A counted attempt succeeded: the account starts afresh, and the
    /// address gets back the attempt (so signing in to one's own account
    /// cannot wipe what the address spent guessing others').
    pub fn succeeded(&self, account: &str, address: Option<&str>) {
        let mut failures = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        failures.remove(account);
        if let Some(entry) = address.and_then(|a| failures.get_mut(a)) {
            entry.count = entry.count.saturating_sub(1);
            if entry.count <= self.allowed {
                entry.blocked_until = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_start_after_the_allowed_attempts_and_double() {
        let throttle = LoginThrottle::new(3);
        let keys = vec!["account:a@b.c".to_owned(), "address:127.0.0.1".to_owned()];
        let start = Instant::now();
        for _ in 0..4 {
            assert_eq!(throttle.attempt(&keys, start), Ok(()), "three failures, then the fourth is checked");
        }
        assert_eq!(throttle.attempt(&keys, start), Err(1));
        let later = start + Duration::from_millis(1100);
        assert_eq!(throttle.attempt(&keys, later), Ok(()));
        assert_eq!(throttle.attempt(&keys, later), Err(2));
        // Another address for the same account still waits on the account.
        let elsewhere = vec!["account:a@b.c".to_owned(), "address:10.0.0.9".to_owned()];
        assert!(throttle.attempt(&elsewhere, later).is_err());
        throttle.succeeded("account:a@b.c", Some("address:127.0.0.1"));
        let other = vec!["account:x@b.c".to_owned(), "address:127.0.0.1".to_owned()];
        assert!(throttle.attempt(&other, later).is_err(), "a success does not clear the address");
    }

    #[test]
    fn a_burst_of_parallel_guesses_gets_only_the_allowed_ones_through() {
        let throttle = LoginThrottle::new(5);
        let keys = vec!["account:victim".to_owned()];
        let now = Instant::now();
        let through = (0..100).filter(|_| throttle.attempt(&keys, now).is_ok()).count();
        assert_eq!(through, 6);
    }

    #[test]
    fn the_wait_is_bounded_and_quiet_accounts_start_afresh() {
        let throttle = LoginThrottle::new(0);
        let keys = vec!["account:x".to_owned()];
        let mut now = Instant::now();
        for _ in 0..40 {
            let _ = throttle.attempt(&keys, now);
            now += MAX_WAIT / 2;
        }
        let wait = throttle.attempt(&keys, now).err().unwrap_or(0);
        assert!(wait <= MAX_WAIT.as_secs(), "{wait}");
        assert_eq!(throttle.attempt(&keys, now + MAX_WAIT * 2), Ok(()), "quiet for long: counted afresh");
    }
}
