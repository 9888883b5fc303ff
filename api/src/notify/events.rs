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

/// Where the looks have got to: one cursor per kind of event, and the
/// events already queued inside the overlap, so each is written once.
struct Cursor {
    runs_since: i64,
    tasks_since: i64,
    queued: HashMap<String, i64>,
}

impl Cursor {
    /// Moves a stream's cursor: to the last event when the page was full
    /// (more are waiting), else to the overlap behind the newest seen.
    fn advance(since: i64, newest: i64, full_page: bool) -> i64 {
        if full_page { since.max(newest) } else { since.max(newest - OVERLAP_MS) }
    }

    fn forget_older_than(&mut self, at: i64) {
        self.queued.retain(|_, finished| *finished >= at);
    }
}

pub async fn notice_periodically(state: AppState, shutdown: CancellationToken) {
    let start = now_ms() - CATCH_UP_MS;
    let mut cursor = Cursor { runs_since: start, tasks_since: start, queued: HashMap::new() };
    loop {
        // A full page means more events are waiting: look again at once.
        let more = match notice(&state, &mut cursor).await {
            Ok(more) => more,
            Err(e) => {
                tracing::warn!("webhooks: cannot read new events: {e}");
                false
            }
        };
        if more {
            continue;
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(LOOK_EVERY) => {}
        }
    }
}

/// Queues deliveries for events past the cursors; true when a page was full.
async fn notice(state: &AppState, cursor: &mut Cursor) -> Result<bool, String> {
    let store = state.engine.store();
    let runs = store.runs_finished_since(cursor.runs_since, BATCH).await.map_err(|e| e.to_string())?;
    let failed = store.tasks_failed_since(cursor.tasks_since, BATCH).await.map_err(|e| e.to_string())?;
    let (runs_full, tasks_full) = (runs.len() as i64 >= BATCH, failed.len() as i64 >= BATCH);
    let mut webhooks: HashMap<String, Vec<WebhookRecord>> = HashMap::new();
    let mut run_cache: HashMap<String, Option<RunRecord>> = HashMap::new();
    let mut newest_run = cursor.runs_since;
    for run in runs {
        let finished = run.finished_at.unwrap_or(cursor.runs_since);
        newest_run = newest_run.max(finished);
        let Some(event) = run_event(run.status) else { continue };
        // The end time is part of the key: a run retried and ending again is a new event.
        let key = format!("run:{}:{}:{finished}", run.id, run.status.as_str());
        if cursor.queued.contains_key(&key) {
            continue;
        }
        let body = json!({
            "event": event,
            "at": rfc3339(finished),
            "run": run_json(&run),
        });
        queue(state, &mut webhooks, &run, event, &key, None, &body).await?;
        cursor.queued.insert(key, finished);
        run_cache.insert(run.id.clone(), Some(run));
    }
    let mut newest_task = cursor.tasks_since;
    for task in failed {
        let finished = task.finished_at.unwrap_or(cursor.tasks_since);
        newest_task = newest_task.max(finished);
        let key = format!("task:{}:{}:{}:{finished}", task.run_id, task.task_id, task.attempt);
        if cursor.queued.contains_key(&key) {
            continue;
        }
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
            "at": rfc3339(finished),
            "run": run_json(&run),
            "task": task_json(&task),
        });
        queue(state, &mut webhooks, &run, "task.failed", &key, Some(&task.task_id), &body).await?;
        cursor.queued.insert(key, finished);
    }
    // More is waiting only where a full page moved its cursor on (a page of
    // events all in one millisecond would otherwise be read for ever).
    let more = (runs_full && newest_run > cursor.runs_since) || (tasks_full && newest_task > cursor.tasks_since);
    cursor.runs_since = Cursor::advance(cursor.runs_since, newest_run, runs_full);
    cursor.tasks_since = Cursor::advance(cursor.tasks_since, newest_task, tasks_full);
    cursor.forget_older_than(cursor.runs_since.min(cursor.tasks_since) - OVERLAP_MS);
    Ok(more)
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
