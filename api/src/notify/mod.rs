//! Webhook notifications: run ends and task failures POSTed as signed JSON.
//!
//! Two loops in every server, neither in the engine's way: one notices
//! events in the database (whichever process coordinated the run) and
//! queues a delivery per webhook; the other claims due deliveries and
//! sends them, retrying with exponential backoff up to a bound. Both go
//! through the database, so several servers share the work and an event
//! is delivered once.

mod deliver;
mod events;
pub mod hosts;
pub mod sign;

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::state::AppState;

/// How deliveries are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// Wait before the second attempt; doubled before each next one.
    pub backoff: Duration,
    /// How long one attempt may take.
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { attempts: 6, backoff: Duration::from_secs(10), timeout: Duration::from_secs(10) }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt number `attempt` (1-based).
    pub fn delay_after(&self, attempt: u32) -> Duration {
        self.backoff.saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
    }
}

/// Runs both loops, and the delivery log's pruning, until `shutdown`.
pub async fn run(state: AppState, shutdown: CancellationToken) {
    let noticing = events::notice_periodically(state.clone(), shutdown.clone());
    let pruning = prune_periodically(state.clone(), shutdown.clone());
    let delivering = deliver::deliver_periodically(state, shutdown);
    tokio::join!(noticing, delivering, pruning);
}

/// Deletes finished deliveries older than the retention, hourly.
async fn prune_periodically(state: AppState, shutdown: CancellationToken) {
    loop {
        let keep_ms = i64::try_from(state.config.webhook_log_retention.as_millis()).unwrap_or(i64::MAX / 2);
        match state.accounts.prune_deliveries(hangar_engine::clock::now_ms().saturating_sub(keep_ms)).await {
            Ok(0) => {}
            Ok(n) => tracing::info!("webhooks: pruned {n} finished deliveries from the log"),
            Err(e) => tracing::warn!("webhooks: cannot prune the delivery log: {e}"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(Duration::from_secs(3600)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_first_wait() {
        let policy = RetryPolicy { attempts: 5, backoff: Duration::from_secs(10), timeout: Duration::from_secs(1) };
        let waits: Vec<u64> = (1..=4).map(|n| policy.delay_after(n).as_secs()).collect();
        assert_eq!(waits, [10, 20, 40, 80]);
    }
}
