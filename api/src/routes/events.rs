//! A run's live events over Server-Sent Events. The stream is built from
//! the database (so it follows runs whose tasks execute in other
//! processes), woken early by this process's own engine events.
//!
//! Events: `run` (status), `task` (status or attempt changed), `progress`,
//! `log` (its `id` is the log line id: reconnecting with `Last-Event-ID`
//! resumes after it), `end` (the run finished and its logs are drained),
//! `error`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::{Stream, StreamExt, stream};
use hangar_engine::EngineEvent;
use serde_json::json;
use tokio::sync::broadcast;

use super::runs::{RunView, visible_run};
use crate::auth::CurrentUser;
use crate::error::{ApiPath, ApiResult};
use crate::state::AppState;

/// How often the database is read when no local event arrives.
const POLL: Duration = Duration::from_millis(500);
const LOG_PAGE: i64 = 500;

struct Watch {
    state: AppState,
    run_id: String,
    /// Per task: status, attempt, progress JSON.
    tasks: HashMap<String, (String, u32, Option<String>)>,
    run_status: Option<String>,
    after_log: i64,
    local: broadcast::Receiver<EngineEvent>,
    started: bool,
    done: bool,
    /// Who is watching, and the run's owner: the reader's right to it is
    /// read again while the stream stays open.
    viewer: String,
    owner: Option<String>,
    checked_at: std::time::Instant,
}

impl Watch {
    /// Whether the viewer may still see the run (not disabled, deleted,
    /// or demoted from the administrator that let them see another's run).
    async fn still_allowed(&mut self) -> bool {
        if self.checked_at.elapsed() < Duration::from_secs(2) {
            return true;
        }
        self.checked_at = std::time::Instant::now();
        match self.state.accounts.user(&self.viewer).await {
            Ok(Some(user)) if !user.disabled => {
                user.role == hangar_engine::TRUSTED_ROLE || self.owner.as_deref() == Some(self.viewer.as_str())
            }
            Ok(_) => false,
            // The database's trouble is not the reader's: keep streaming.
            Err(_) => true,
        }
    }

    async fn wait(&mut self) {
        let deadline = tokio::time::sleep(POLL);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                () = &mut deadline => return,
                received = self.local.recv() => match received {
                    Ok(event) if event.run_id() == self.run_id => {
                        // Let a burst of events land before reading them back.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        return;
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => {
                        (&mut deadline).await;
                        return;
                    }
                },
            }
        }
    }

    async fn step(&mut self) -> Vec<Event> {
        match self.read().await {
            Ok(events) => events,
            Err(err) => {
                tracing::warn!(run = %self.run_id, error = %err, "Run event stream failed.");
                self.done = true;
                vec![event("error", &json!({"message": "reading the run failed; reconnect to resume"}))]
            }
        }
    }

    async fn read(&mut self) -> Result<Vec<Event>, hangar_engine::StoreError> {
        let store = self.state.store();
        let mut out = Vec::new();
        let Some(run) = store.run(&self.run_id).await? else {
            self.done = true;
            return Ok(vec![event("error", &json!({"message": "the run was deleted"}))]);
        };
        let status = run.status.to_string();
        if self.run_status.as_deref() != Some(status.as_str()) {
            out.push(event("run", &RunView::from(&run)));
            self.run_status = Some(status);
        }
        for task in store.tasks(&self.run_id).await? {
            let progress = task.progress.as_ref().and_then(|p| serde_json::to_string(p).ok());
            let now = (task.status.to_string(), task.attempt, progress.clone());
            let before = self.tasks.get(&task.task_id);
            if before.map(|b| (&b.0, b.1)) != Some((&now.0, now.1)) {
                out.push(event(
                    "task",
                    &json!({
                        "task_id": task.task_id, "operator": task.operator, "status": now.0,
                        "attempt": task.attempt, "error": task.error, "started_at": task.started_at,
                        "finished_at": task.finished_at, "outputs": task.outputs,
                    }),
                ));
            }
            if progress.is_some() && before.and_then(|b| b.2.as_ref()) != progress.as_ref() {
                out.push(event("progress", &json!({"task_id": task.task_id, "progress": task.progress})));
            }
            self.tasks.insert(task.task_id.clone(), now);
        }
        let mut drained = false;
        while !drained {
            let lines = store.logs(&self.run_id, None, self.after_log, LOG_PAGE).await?;
            drained = (lines.len() as i64) < LOG_PAGE;
            for line in lines {
                self.after_log = line.id;
                out.push(event("log", &line).id(line.id.to_string()));
            }
        }
        if run.status.is_terminal() {
            out.push(event("end", &json!({"run_id": run.id, "status": run.status.to_string()})));
            self.done = true;
        }
        Ok(out)
    }
}

fn event<T: serde::Serialize>(name: &str, data: &T) -> Event {
    Event::default().event(name).data(serde_json::to_string(data).unwrap_or_else(|_| "null".to_owned()))
}

/// Streams a run's state changes and log lines until it ends.
#[utoipa::path(get, path = "/runs/{id}/events", tag = "runs", security(("bearer" = [])),
    params(("id" = String, Path, description = "Run id"),
           ("Last-Event-ID" = Option<String>, Header, description = "Resume after this log line")),
    responses((status = 200, description = "text/event-stream of run, task, progress, log and end events"),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn stream_events(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let run = visible_run(&state, &user, &id).await?;
    let after_log = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .unwrap_or(0);
    let watch = Watch {
        local: state.engine.subscribe(),
        state,
        run_id: id,
        tasks: HashMap::new(),
        run_status: None,
        after_log,
        started: false,
        done: false,
        viewer: user.id.clone(),
        owner: run.owner,
        checked_at: std::time::Instant::now(),
    };
    let events = stream::unfold(watch, |mut watch| async move {
        if watch.done {
            return None;
        }
        if watch.started {
            watch.wait().await;
        }
        if !watch.still_allowed().await {
            return None;
        }
        watch.started = true;
        let events = watch.step().await;
        Some((stream::iter(events.into_iter().map(Ok)), watch))
    })
    .flatten();
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
