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
                @if let Some(plan) = &plan { (dag::svg(plan, &statuses, &map_counts(&detail), lang, |task| format!("#log-{task}"))) }
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

/// For each mapped task with instances: how many have ended, of how many.
fn map_counts(detail: &RunDetail) -> HashMap<String, (usize, usize)> {
    let mut counts: HashMap<String, (usize, usize)> =
        detail.tasks.iter().filter_map(|t| Some((t.task_id.clone(), (0, t.map_size? as usize)))).collect();
    for task in &detail.tasks {
        if let Some((parent, _)) = hangar_engine::parse_instance_id(&task.task_id)
            && let Some(count) = counts.get_mut(parent)
            && finished(&task.status)
        {
            count.0 += 1;
        }
    }
    counts
}

/// The tasks, a mapped task's instances folded under it.
fn tasks(lang: Lang, detail: &RunDetail) -> Markup {
    let counts = map_counts(detail);
    let instances_of = |parent: &str| -> Vec<&TaskView> {
        detail
            .tasks
            .iter()
            .filter(|t| hangar_engine::parse_instance_id(&t.task_id).is_some_and(|(p, _)| p == parent))
            .collect()
    };
    let is_instance =
        |id: &str| hangar_engine::parse_instance_id(id).is_some_and(|(parent, _)| counts.contains_key(parent));
    html! {
        table.runs.tasks {
            (head(lang, &["task", "operator", "status", "attempts", "duration", "outputs"]))
            tbody {
                @for task in detail.tasks.iter().filter(|t| !is_instance(&t.task_id)) {
                    (task_row(lang, &detail.run.id, task))
                    @if let Some((ended, total)) = counts.get(&task.task_id) {
                        tr.instances data-instances-of=(task.task_id) {
                            td colspan="6" {
                                details {
                                    summary { (lang.t("instances")) ": " (ended) " / " (total) }
                                    table.runs.tasks {
                                        tbody {
                                            @for instance in instances_of(&task.task_id) {
                                                (task_row(lang, &detail.run.id, instance))
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
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
/// Room above the bars for the time axis.
const AXIS_H: usize = 20;

/// Each task's time from start to end (or now, while it runs) on one
/// scale, under an axis of elapsed time since the run started.
fn gantt(detail: &RunDetail) -> Markup {
    let now = now_ms();
    let start = detail.run.started_at.or_else(|| detail.tasks.iter().filter_map(|t| t.started_at).min()).unwrap_or(now);
    let end = detail.run.finished_at.unwrap_or(now).max(start + 1);
    let scale = (GANTT_W - LABEL_W - 10.0) / (end - start) as f64;
    let height = AXIS_H + detail.tasks.len().max(1) * ROW_H + 4;
    let step = tick_step(end - start);
    let ticks = (0..).map(|i| i * step).take_while(|t| *t <= end - start);
    html! {
        svg.gantt xmlns="http://www.w3.org/2000/svg" role="img" aria-label="timeline"
            width=(GANTT_W) height=(height) viewBox={ "0 0 " (GANTT_W) " " (height) } {
            @for tick in ticks {
                @let x = format!("{:.1}", LABEL_W + tick as f64 * scale);
                line.tick x1=(x) x2=(x) y1=(AXIS_H - 4) y2=(height) {}
                text.tick x=(x) y="12" text-anchor="middle" { (elapsed(tick, step)) }
            }
            @for (row, task) in detail.tasks.iter().enumerate() {
                @let y = AXIS_H + row * ROW_H + 2;
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

/// The axis step, in milliseconds, for a run of `span_ms`: a round
/// interval giving at most eight ticks.
fn tick_step(span_ms: i64) -> i64 {
    const STEPS_S: [i64; 16] = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200];
    STEPS_S.iter().map(|s| s * 1000).find(|step| span_ms / step <= 8).unwrap_or(86_400_000)
}

/// A tick's label: seconds for short runs, then m:ss and h:mm:ss.
fn elapsed(ms: i64, step: i64) -> String {
    let seconds = ms / 1000;
    if step < 60_000 && seconds < 60 {
        format!("{seconds} s")
    } else if seconds < 3600 {
        format!("{}:{:02}", seconds / 60, seconds % 60)
    } else {
        format!("{}:{:02}:{:02}", seconds / 3600, seconds / 60 % 60, seconds % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_time_axis_has_round_steps_and_at_most_eight_ticks() {
        assert_eq!(tick_step(3_000), 1_000);
        assert_eq!(tick_step(40_000), 5_000);
        assert_eq!(tick_step(9 * 60_000 + 39_000), 120_000);
        for span in [1, 999, 61_000, 3_600_000, 50 * 3_600_000] {
            assert!(span / tick_step(span) <= 8 || tick_step(span) == 86_400_000, "{span}");
        }
    }

    #[test]
    fn ticks_read_as_elapsed_time() {
        assert_eq!(elapsed(30_000, 10_000), "30 s");
        assert_eq!(elapsed(120_000, 120_000), "2:00");
        assert_eq!(elapsed(90_000, 30_000), "1:30");
        assert_eq!(elapsed(3_900_000, 900_000), "1:05:00");
    }
}
