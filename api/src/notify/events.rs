//! Noticing events: runs that ended and tasks that failed since the last
//! look, turned into one queued delivery per interested webhook.

use std::collections::HashMap;
use std::time::Duration;

use hangar_accounts::{NewDelivery, WebhookRecord};
use hangar_engine::clock::now_ms;
use hangar_engine::store::{RunRecord, TaskRecord};
use hangar_engine::{RunStatus, spec};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::state::AppState;

/// How often the database is asked for new events.
const LOOK_EVERY: Duration = Duration::from_millis(500);
/// Each look reaches this far behind the newest event seen, so an event
/// committed late by another process is not missed; queuing is idempotent.
const OVERLAP_MS: i64 = 60_000;
/// A server that starts catches up on events this old.
const CATCH_UP_MS: i64 = 15 * 60_000;
const BATCH: i64 = 500;

pub async fn notice_periodically(state: AppState, shutdown: CancellationToken) {
    let mut since = now_ms() - CATCH_UP_MS;
    loop {
        match notice(&state, since).await {
            Ok(newest) => since = since.max(newest - OVERLAP_MS),
            Err(e) => tracing::warn!("webhooks: cannot read new events: {e}"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(LOOK_EVERY) => {}
        }
    }
}

/// Queues deliveries for events at or after `since`; returns the time of the newest seen.
async fn notice(state: &AppState, since: i64) -> Result<i64, String> {
    let store = state.engine.store();
    let runs = store.runs_finished_since(since, BATCH).await.map_err(|e| e.to_string())?;
    let failed = store.tasks_failed_since(since, BATCH).await.map_err(|e| e.to_string())?;
    let mut newest = since;
    let mut webhooks: HashMap<String, Vec<WebhookRecord>> = HashMap::new();
    let mut run_cache: HashMap<String, Option<RunRecord>> = HashMap::new();
    for run in runs {
        newest = newest.max(run.finished_at.unwrap_or(since));
        let Some(event) = run_event(run.status) else { continue };
        let body = json!({
            "event": event,
            "at": rfc3339(run.finished_at.unwrap_or_else(now_ms)),
            "run": run_json(&run),
        });
        let key = format!("run:{}:{}", run.id, run.status.as_str());
        queue(state, &mut webhooks, &run, event, &key, None, &body).await?;
        run_cache.insert(run.id.clone(), Some(run));
    }
    for task in failed {
        newest = newest.max(task.finished_at.unwrap_or(since));
        let run = match run_cache.get(&task.run_id) {
            Some(run) => run.clone(),
            None => {
                let run = store.run(&task.run_id).await.map_err(|e| e.to_string())?;
                run_cache.insert(task.run_id.clone(), run.clone());
                run
            }
        };
        let Some(run) = run else { continue };
        let body = json!({
            "event": "task.failed",
            "at": rfc3339(task.finished_at.unwrap_or_else(now_ms)),
            "run": run_json(&run),
            "task": task_json(&task),
        });
        let key = format!("task:{}:{}:{}", task.run_id, task.task_id, task.attempt);
        queue(state, &mut webhooks, &run, "task.failed", &key, Some(&task.task_id), &body).await?;
    }
    Ok(newest)
}

fn run_event(status: RunStatus) -> Option<&'static str> {
    match status {
        RunStatus::Succeeded => Some("run.succeeded"),
        RunStatus::Failed => Some("run.failed"),
        RunStatus::Cancelled => Some("run.cancelled"),
        _ => None,
    }
}

/// Queues one delivery per webhook of the run's owner that wants `event`:
/// by its own events, or because the pipeline's `notify:` names it for it.
async fn queue(
    state: &AppState,
    webhooks: &mut HashMap<String, Vec<WebhookRecord>>,
    run: &RunRecord,
    event: &str,
    key: &str,
    task_id: Option<&str>,
    body: &serde_json::Value,
) -> Result<(), String> {
    // Runs without an owner were started at the CLI by the machine's owner:
    // no account's webhook hears of them.
    let Some(owner) = &run.owner else { return Ok(()) };
    if !webhooks.contains_key(owner) {
        let found = state.accounts.webhooks_of(owner).await.map_err(|e| e.to_string())?;
        webhooks.insert(owner.clone(), found);
    }
    let named = spec::notify_of(&run.spec_text);
    let body = body.to_string();
    for webhook in webhooks.get(owner).map(Vec::as_slice).unwrap_or_default() {
        let wanted = webhook.events.iter().any(|e| e == event)
            || named.iter().any(|n| n.webhook == webhook.name && n.on.iter().any(|e| e == event));
        if !wanted {
            continue;
        }
        let delivery = NewDelivery {
            webhook_id: webhook.id.clone(),
            event_key: key.to_owned(),
            event: event.to_owned(),
            run_id: Some(run.id.clone()),
            task_id: task_id.map(str::to_owned),
            body: body.clone(),
            now: now_ms(),
        };
        state.accounts.enqueue_delivery(&delivery).await.map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

fn run_json(run: &RunRecord) -> serde_json::Value {
    json!({
        "id": run.id,
        "pipeline": run.pipeline,
        "status": run.status.as_str(),
        "error": run.error,
        "params": run.params,
        "created_at": rfc3339(run.created_at),
        "finished_at": run.finished_at.map(rfc3339),
        "path": format!("/api/v1/runs/{}", run.id),
    })
}

fn task_json(task: &TaskRecord) -> serde_json::Value {
    json!({
        "id": task.task_id,
        "operator": task.operator,
        "attempt": task.attempt,
        "error": task.error,
    })
}
