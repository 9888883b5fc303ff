//! A run's page: its DAG coloured by task status, a timeline of the tasks,
//! the tasks with attempts, errors and outputs (sizes, download links), each
//! task's log, and cancel / retry. The page script follows the run's event
//! stream: boxes change colour as events arrive, the timeline and the table
//! are re-rendered here (`/runs/{id}/live`), logs grow line by line.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Response};
use hangar_engine::clock::now_ms;
use maud::{Markup, html};
use serde_json::json;

use super::i18n::Lang;
use super::layout::head;
use super::layout::page;
use super::{Reader, dag};
use crate::auth::extract::PageUser;
use crate::error::ApiError;
use crate::routes::runs::{RunDetail, TaskView, run_detail};
use crate::state::AppState;

pub async fn show(State(state): State<AppState>, Reader { lang, user }: Reader, Path(id): Path<String>) -> Response {
    let (record, detail) = match run_detail(&state, &user, &id).await {
        Ok(found) => found,
        Err(err) => return super::problem(lang, &user, "/runs", &err),
    };
    let plan = hangar_engine::compile_template(&record.spec_path, &record.spec_text, state.engine.registry()).ok();
    let statuses: HashMap<String, String> =
        detail.tasks.iter().map(|t| (t.task_id.clone(), t.status.clone())).collect();
    let run = &detail.run;
    let body = html! {
        section.run data-run=(run.id) {
            header.run-head {
                h1 { (lang.t("run")) " " code { (run.id) } }
                span #run-status class={ "status " (run.status) } { (lang.status(&run.status)) }
                span.muted { (lang.t("pipeline")) ": " a href={ "/pipelines/" (run.pipeline) } { (run.pipeline) } }
                span.muted { (super::layout::moment(run.created_at)) }
                // Both always take their place (disabled when they do not
                // apply), so a change of status never moves the page.
                span.actions {
                    button type="button" data-action="cancel" disabled[finished(&run.status)] { (lang.t("cancel")) }
                    button type="button" data-action="retry" disabled[!retriable(&run.status)] { (lang.t("retry")) }
                }
                span #action-result role="status" {}
            }
            @if let Some(error) = &run.error { p.error { (error) } }
            h2 { (lang.t("graph")) }
            div.scroll {
                @if let Some(plan) = &plan { (dag::svg(plan, &statuses, lang, |task| format!("#log-{task}"))) }
            }
            h2 { (lang.t("timeline")) }
            div #gantt.scroll { (gantt(&detail)) }
            h2 { (lang.t("tasks")) }
            div #tasks { (tasks(lang, &detail)) }
            h2 { (lang.t("logs")) }
            @for task in &detail.tasks {
                details.log id={ "log-" (task.task_id) } data-task=(task.task_id) {
                    summary { (task.task_id) }
                    pre data-log=(task.task_id) tabindex="0" {}
                }
            }
        }
    };
    Html(page(lang, &format!("{} {}", lang.t("run"), run.id), Some(&user), "/runs", body).into_string()).into_response()
}

/// A run that has ended one way or another: nothing to cancel.
fn finished(status: &str) -> bool {
    status.parse::<hangar_engine::RunStatus>().is_ok_and(hangar_engine::RunStatus::is_terminal)
}

/// A run that may be tried again.
fn retriable(status: &str) -> bool {
    matches!(status, "failed" | "cancelled")
}

/// The parts of the page that change as the run goes: timeline, task table, status.
pub async fn live(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: Result<PageUser, ApiError>,
    Path(id): Path<String>,
) -> Response {
    let lang = Lang::of(&headers);
    let Ok(PageUser(user)) = user else {
        return ApiError::unauthorized("sign in again").into_response();
    };
    match run_detail(&state, &user, &id).await {
        Ok((_, detail)) => axum::Json(json!({
            "status": detail.run.status,
            "gantt": gantt(&detail).into_string(),
            "tasks": tasks(lang, &detail).into_string(),
        }))
        .into_response(),
        Err(err) => err.into_response(),
    }
}

fn tasks(lang: Lang, detail: &RunDetail) -> Markup {
    html! {
        table.runs.tasks {
            (head(lang, &["task", "operator", "status", "attempts", "duration", "outputs"]))
            tbody {
                @for task in &detail.tasks { (task_row(lang, &detail.run.id, task)) }
            }
        }
    }
}

fn task_row(lang: Lang, run: &str, task: &TaskView) -> Markup {
    html! {
        tr data-task=(task.task_id) {
            td { (task.task_id) }
            td { (task.operator) }
            td {
                span class={ "status " (task.status) } { (lang.status(&task.status)) }
                @if let Some(error) = &task.error { div.error title=(error) { (error) } }
            }
            td {
                (task.attempt) " / " (task.max_attempts)
                // Earlier attempts and why they failed, when there is more than the last one to tell.
                @if task.attempts.len() > 1 {
                    details.attempts {
                        summary { (lang.t("attempts")) }
                        ol {
                            @for a in &task.attempts {
                                li {
                                    (lang.status(&a.status))
                                    @if let Some(worker) = &a.worker { " · " span.muted { (worker) } }
                                    @if let Some(end) = a.finished_at { " · " (format!("{:.1} s", (end - a.started_at) as f64 / 1000.0)) }
                                    @if let Some(error) = &a.error { div.error { (error) } }
                                }
                            }
                        }
                    }
                }
            }
            td { (task.duration_ms.map(|ms| format!("{:.1} s", ms as f64 / 1000.0)).unwrap_or_default()) }
            td.outputs {
                @for (name, output) in &task.outputs {
                    a href=(output.download) download { (name) } " " span.muted { (super::layout::human_size(output.size)) } " "
                    @if !output.dir && (output.kind == "documents" || output.kind == "records") {
                        a.view href={ "/runs/" (run) "/tasks/" (task.task_id) "/view/" (name) } { "(" (lang.t("view")) ")" } " "
                    }
                }
            }
        }
    }
}

const GANTT_W: f64 = 720.0;
const ROW_H: usize = 22;
const LABEL_W: f64 = 150.0;

/// Each task's time from start to end (or now, while it runs) on one scale.
fn gantt(detail: &RunDetail) -> Markup {
    let now = now_ms();
    let start = detail.run.started_at.or_else(|| detail.tasks.iter().filter_map(|t| t.started_at).min()).unwrap_or(now);
    let end = detail.run.finished_at.unwrap_or(now).max(start + 1);
    let scale = (GANTT_W - LABEL_W) / (end - start) as f64;
    let height = detail.tasks.len().max(1) * ROW_H + 4;
    html! {
        svg.gantt xmlns="http://www.w3.org/2000/svg" role="img" aria-label="timeline"
            width=(GANTT_W) height=(height) viewBox={ "0 0 " (GANTT_W) " " (height) } {
            @for (row, task) in detail.tasks.iter().enumerate() {
                @let y = row * ROW_H + 2;
                text x="0" y=(y + 15) { (task.task_id) }
                @if let Some(began) = task.started_at {
                    @let x = LABEL_W + (began - start).max(0) as f64 * scale;
                    @let w = ((task.finished_at.unwrap_or(now) - began).max(0) as f64 * scale).max(2.0);
                    rect class={ "bar status-" (task.status) } x=(format!("{x:.1}")) y=(y + 3) width=(format!("{w:.1}")) height="16" rx="3" {
                        title { (task.task_id) ": " (task.duration_ms.map(|ms| format!("{:.1} s", ms as f64 / 1000.0)).unwrap_or_default()) }
                    }
                }
            }
        }
    }
}
