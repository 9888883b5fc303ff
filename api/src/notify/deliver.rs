//! Sending queued deliveries: claim the due ones, POST each signed, record
//! the outcome, and schedule the next attempt or give up.

use std::time::Duration;

use hangar_accounts::{AttemptOutcome, DueDelivery};
use hangar_engine::clock::now_ms;
use tokio_util::sync::CancellationToken;

use super::{hosts, sign};
use crate::state::AppState;

const LOOK_EVERY: Duration = Duration::from_millis(250);
/// Deliveries sent at once by one server.
const AT_ONCE: i64 = 16;

pub async fn deliver_periodically(state: AppState, shutdown: CancellationToken) {
    let policy = state.config.webhook_retry;
    let client = match reqwest::Client::builder()
        .timeout(policy.timeout)
        .connect_timeout(policy.timeout.min(Duration::from_secs(3)))
        // A redirect could lead anywhere: the allow-list holds for the URL as given only.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("hangar-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(client) => client,
        Err(e) => {
            tracing::error!("webhooks: cannot build the HTTP client, no events will be delivered: {e}");
            return;
        }
    };
    loop {
        if let Err(e) = deliver_due(&state, &client).await {
            tracing::warn!("webhooks: {e}");
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(LOOK_EVERY) => {}
        }
    }
}

async fn deliver_due(state: &AppState, client: &reqwest::Client) -> Result<(), String> {
    let policy = state.config.webhook_retry;
    let now = now_ms();
    let lease = i64::try_from(policy.timeout.as_millis()).unwrap_or(i64::MAX / 4).saturating_mul(3);
    let due = state.accounts.claim_deliveries(now, now + lease, AT_ONCE).await.map_err(|e| e.to_string())?;
    if due.is_empty() {
        return Ok(());
    }
    let allowed = state.accounts.webhook_hosts().await.map_err(|e| e.to_string())?;
    let sends = due.into_iter().map(|delivery| {
        let allowed = &allowed;
        async move {
            let outcome = attempt(client, &delivery, allowed, policy).await;
            match state.accounts.record_attempt(&delivery, &outcome, now_ms()).await {
                Ok(true) => {}
                Ok(false) => tracing::warn!("webhooks: delivery {} outlived its claim", delivery.delivery.id),
                Err(e) => tracing::warn!("webhooks: cannot record delivery {}: {e}", delivery.delivery.id),
            }
        }
    });
    futures::future::join_all(sends).await;
    Ok(())
}

async fn attempt(
    client: &reqwest::Client,
    due: &DueDelivery,
    allowed: &[String],
    policy: super::RetryPolicy,
) -> AttemptOutcome {
    // The allow-list may have shrunk since the webhook was made.
    if let Err(refusal) = hosts::check(&due.url, allowed) {
        let error = match refusal {
            hosts::Refusal::HostNotAllowed(host) => {
                format!("{host} is no longer an allowed webhook host; an administrator allows hosts in Settings")
            }
            hosts::Refusal::Malformed(reason) => reason,
        };
        return AttemptOutcome::GaveUp { status: None, error };
    }
    let timestamp = now_ms() / 1000;
    let signature = sign::signature(&due.secret, timestamp, due.body.as_bytes());
    let sent = client
        .post(&due.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(sign::TIMESTAMP_HEADER, timestamp.to_string())
        .header(sign::SIGNATURE_HEADER, signature)
        .header(sign::EVENT_HEADER, &due.delivery.event)
        .header(sign::DELIVERY_HEADER, &due.delivery.id)
        .body(due.body.clone())
        .send()
        .await;
    let (status, error) = match sent {
        Ok(reply) if reply.status().is_success() => {
            return AttemptOutcome::Delivered { status: i64::from(reply.status().as_u16()) };
        }
        Ok(reply) => (Some(i64::from(reply.status().as_u16())), format!("the receiver answered {}", reply.status())),
        Err(e) if e.is_timeout() => (None, format!("no answer within {}", humantime_secs(policy.timeout))),
        // Coarse on purpose: the log is the account's, and details of why a
        // connection failed would map the network behind the allowed hosts.
        Err(e) if e.is_connect() => (None, "cannot connect to the receiver".to_owned()),
        Err(e) => {
            tracing::debug!("webhooks: delivery {} failed: {}", due.delivery.id, root_cause(&e));
            (None, "the request failed".to_owned())
        }
    };
    let attempts_made = u32::try_from(due.delivery.attempts).unwrap_or(u32::MAX).saturating_add(1);
    if attempts_made >= policy.attempts {
        return AttemptOutcome::GaveUp { status, error: format!("{error}; gave up after {attempts_made} attempts") };
    }
    let wait = i64::try_from(policy.delay_after(attempts_made).as_millis()).unwrap_or(i64::MAX / 4);
    AttemptOutcome::Retry { status, error, next_at: now_ms().saturating_add(wait) }
}

fn humantime_secs(duration: Duration) -> String {
    format!("{:.1} s", duration.as_secs_f64())
}

fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}
