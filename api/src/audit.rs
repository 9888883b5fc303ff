//! Recording security-relevant actions in the audit log, with the address
//! and request id of the request that did them (kept for the request by
//! [`crate::middleware::observe`]), and pruning the log by age.

use std::future::Future;

use hangar_accounts::{NewAudit, Outcome};
use hangar_engine::clock::now_ms;

use crate::auth::CurrentUser;
use crate::state::AppState;

/// Where a request came from.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    pub address: Option<String>,
    pub request_id: Option<String>,
}

tokio::task_local! {
    static REQUEST: RequestContext;
}

/// Runs a request's handling with its context at hand.
pub async fn within<F: Future>(context: RequestContext, handling: F) -> F::Output {
    REQUEST.scope(context, handling).await
}

fn current_request() -> RequestContext {
    REQUEST.try_with(Clone::clone).unwrap_or_default()
}

/// Who did it.
#[derive(Debug, Clone)]
pub enum Actor<'a> {
    User(&'a CurrentUser),
    /// Before signing in: the e-mail address given, if any.
    Anonymous(Option<&'a str>),
    /// An account acting through a form of sign-in not yet complete.
    Account {
        id: &'a str,
        email: &'a str,
    },
}

impl AppState {
    /// Appends one row. A failure to write it is logged, not returned: the
    /// action it describes has already happened.
    pub async fn audit(
        &self,
        actor: Actor<'_>,
        action: &str,
        target: Option<&str>,
        outcome: Outcome,
        reason: Option<&str>,
    ) {
        let request = current_request();
        let (actor, actor_email, key_id) = match actor {
            Actor::User(user) => (user.id.clone(), Some(user.email.clone()), user.key.as_ref().map(|k| k.id.clone())),
            // What someone typed: kept short, it is theirs, not an account's.
            Actor::Anonymous(email) => {
                ("anonymous".to_owned(), email.map(|e| e.trim().to_lowercase().chars().take(254).collect()), None)
            }
            Actor::Account { id, email } => (id.to_owned(), Some(email.to_owned()), None),
        };
        let entry = NewAudit {
            at: now_ms(),
            actor,
            actor_email,
            key_id,
            action: action.to_owned(),
            target: target.map(str::to_owned),
            outcome,
            reason: reason.map(|r| r.chars().take(1000).collect()),
            address: request.address,
            request_id: request.request_id,
        };
        if let Err(err) = self.accounts.record(&entry).await {
            tracing::error!(error = %err, action = %entry.action, actor = %entry.actor, "Could not write the audit log.");
        }
    }

    /// Records an action the user did.
    pub async fn audit_done(&self, user: &CurrentUser, action: &str, target: &str) {
        self.audit(Actor::User(user), action, Some(target), Outcome::Allowed, None).await;
    }

    /// Records the end of a browser session.
    pub async fn audit_signed_out(&self, user: &CurrentUser) {
        self.audit(Actor::User(user), "auth.sign_out", None, Outcome::Allowed, None).await;
    }

    /// Records an attempt the user was refused, and why.
    pub async fn audit_refused(&self, user: &CurrentUser, action: &str, target: &str, reason: &str) {
        self.audit(Actor::User(user), action, Some(target), Outcome::Refused, Some(reason)).await;
    }
}

/// Removes audit rows older than the configured retention, now and then
/// every hour, until `stop`.
pub async fn prune_periodically(state: AppState, stop: tokio_util::sync::CancellationToken) {
    let Some(retention) = state.config.audit_retention else { return };
    let retention_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX / 2);
    loop {
        match state.accounts.prune_audit(now_ms() - retention_ms).await {
            Ok(0) => {}
            Ok(pruned) => tracing::info!(pruned, "Pruned audit rows past their retention."),
            Err(err) => tracing::warn!(error = %err, "Could not prune the audit log."),
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(std::time::Duration::from_secs(3600)) => {}
        }
    }
}
