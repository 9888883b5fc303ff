//! Training: the training tasks of the reader's runs, and a task's page
//! with its loss and learning-rate curves, tokens/s and checkpoints. A
//! finished task's curves come from its `metrics` output; a running one's
//! from the step lines it logs, and the page script redraws them as new
//! progress arrives on the run's event stream.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use hangar_engine::store::TaskRecord;
use maud::{Markup, html};
use serde_json::{Value, json};

use super::chart::{Series, line_chart};
use super::i18n::Lang;
use super::layout::head;
use super::layout::{human_size, moment, number, status_badge};
use super::{Reader, render};
use crate::auth::extract::PageUser;
use crate::error::{ApiError, ApiResult};
use crate::routes::runs::visible_task;
use crate::state::AppState;

/// The operator whose tasks this section shows.
const TRAIN: &str = "train";

pub async fn list(State(state): State<AppState>, Reader { lang, user }: Reader) -> Response {
    let found = super::recent::tasks(&state, &user, |t| t.operator == TRAIN).await;
    let body = found.map(|found| {
        html! {
            h1 { (lang.t("training")) }
            @if found.is_empty() { p.empty { (lang.t("no_training")) } }
            @else {
                table.runs {
                    (head(lang, &["run", "task", "status", "steps", "loss", "created"]))
                    tbody {
                        @for (run, task) in &found {
                            @let progress = task.progress.as_ref();
                            tr {
                                td { a href={ "/runs/" (run.id) } { code { (run.id) } } " " span.muted { (run.pipeline) } }
                                td { a href={ "/runs/" (run.id) "/tasks/" (task.task_id) "/training" } { (task.task_id) } }
                                td { (status_badge(lang, &task.status.to_string())) }
                                td { @if let Some(p) = progress { (p.done) @if let Some(t) = p.total { " / " (t) } } }
                                td { @if let Some(loss) = progress.and_then(|p| p.metrics.get("loss")) { (number(*loss)) } }
                                td { (moment(run.created_at)) }
                            }
                        }
                    }
                }
            }
        }
    });
    render(lang, &user, "/training", lang.t("training"), body)
}

/// A step of training as the charts need it.
#[derive(Debug, Clone, PartialEq)]
struct Step {
    step: f64,
    loss: f64,
    learning_rate: f64,
    tokens_per_s: f64,
    validation_loss: Option<f64>,
}

pub async fn show(
    State(state): State<AppState>,
    Reader { lang, user }: Reader,
    Path((run, task)): Path<(String, String)>,
) -> Response {
    let body = async {
        let record = visible_task(&state, &user, &run, &task).await?;
        let live = live_parts(&state, lang, &record).await?;
        let checkpoints = checkpoints(&state, &run, &task).await;
        Ok::<_, ApiError>(html! {
            nav.crumbs { a href="/training" { (lang.t("training")) } " › " a href={ "/runs/" (run) } { code { (run) } } " › " (task) }
            h1 { (lang.t("training")) " " code { (task) } }
            section #training data-run=(run) data-task=(task) data-status=(record.status.to_string()) {
                div #training-live { (live) }
            }
            h2 { (lang.t("checkpoints")) }
            @if checkpoints.is_empty() { p.muted { (lang.t("no_checkpoints")) } }
            @else {
                table.records {
                    thead { tr { th scope="col" { (lang.t("checkpoint")) } th scope="col" { (lang.t("files")) } th scope="col" { (lang.t("size")) } } }
                    tbody { @for (name, files, size) in &checkpoints { tr { td { code { (name) } } td { (files) } td { (human_size(*size)) } } } }
                }
            }
        })
    }
    .await;
    render(lang, &user, "/training", &task, body)
}

/// The figures and charts, again, for the page script while the task runs.
pub async fn live(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: Result<PageUser, ApiError>,
    Path((run, task)): Path<(String, String)>,
) -> Response {
    let lang = Lang::of(&headers);
    let Ok(PageUser(user)) = user else {
        return ApiError::unauthorized("sign in again").into_response();
    };
    let parts = async {
        let record = visible_task(&state, &user, &run, &task).await?;
        let html = live_parts(&state, lang, &record).await?;
        Ok::<Value, ApiError>(json!({ "status": record.status.to_string(), "html": html.into_string() }))
    }
    .await;
    match parts {
        Ok(parts) => axum::Json(parts).into_response(),
        Err(err) => err.into_response(),
    }
}

async fn live_parts(state: &AppState, lang: Lang, task: &TaskRecord) -> ApiResult<Markup> {
    let steps = history(state, task).await?;
    let train: Vec<(f64, f64)> = steps.iter().map(|s| (s.step, s.loss)).collect();
    let validation: Vec<(f64, f64)> = steps.iter().filter_map(|s| s.validation_loss.map(|v| (s.step, v))).collect();
    let lr: Vec<(f64, f64)> = steps.iter().map(|s| (s.step, s.learning_rate)).collect();
    let mut speeds: Vec<f64> = steps.iter().map(|s| s.tokens_per_s).filter(|v| v.is_finite() && *v > 0.0).collect();
    speeds.sort_by(f64::total_cmp);
    let median_speed = speeds.get(speeds.len() / 2).copied();
    let progress = task.progress.as_ref();
    Ok(html! {
        dl.figures {
            div { dt { (lang.t("status")) } dd data-figure="status" { (status_badge(lang, &task.status.to_string())) } }
            div { dt { (lang.t("steps")) } dd data-figure="steps" {
                @match (progress, steps.last()) {
                    (Some(p), _) => { (p.done) @if let Some(t) = p.total { " / " (t) } },
                    (None, Some(last)) => (number(last.step)),
                    _ => "—",
                }
            } }
            div { dt { (lang.t("loss")) } dd { @if let Some(last) = steps.last() { (number(last.loss)) } @else { "—" } } }
            div { dt { (lang.t("validation_loss")) } dd { @if let Some(v) = validation.last() { (number(v.1)) } @else { "—" } } }
            div { dt { (lang.t("tokens_per_s")) } dd { @if let Some(v) = median_speed { (number(v.round())) } @else { "—" } } }
        }
        @if steps.is_empty() { p.muted { (lang.t("no_steps_yet")) } }
        @else {
            div.charts {
                (line_chart(lang.t("loss"), lang.t("step"), &[
                    Series { label: lang.t("train_loss"), class: "train", points: &train },
                    Series { label: lang.t("validation_loss"), class: "validation", points: &validation },
                ]))
                (line_chart(lang.t("learning_rate"), lang.t("step"), &[
                    Series { label: lang.t("learning_rate"), class: "lr", points: &lr },
                ]))
            }
        }
    })
}

/// The steps so far: the `metrics` output once there is one, else the
/// step lines of the task's log.
async fn history(state: &AppState, task: &TaskRecord) -> ApiResult<Vec<Step>> {
    if let Some(metrics) = task.outputs.as_ref().and_then(|o| o.get("metrics")).filter(|a| !a.dir) {
        let (rows, _) = super::data::read_lines(state, &metrics.key, 0, usize::MAX).await?;
        let number = |row: &serde_json::Map<String, Value>, key: &str| row.get(key).and_then(Value::as_f64);
        let steps = rows
            .iter()
            .map(|row| Step {
                step: number(row, "step").unwrap_or(f64::NAN),
                loss: number(row, "loss").unwrap_or(f64::NAN),
                learning_rate: number(row, "learning_rate").unwrap_or(f64::NAN),
                tokens_per_s: number(row, "tokens_per_s").unwrap_or(f64::NAN),
                validation_loss: number(row, "validation_loss"),
            })
            .collect();
        return Ok(steps);
    }
    let mut steps = Vec::new();
    let mut after = 0;
    loop {
        let lines = state.store().logs(&task.run_id, Some(&task.task_id), after, 5000).await?;
        let Some(last) = lines.last() else { break };
        after = last.id;
        steps.extend(lines.iter().filter_map(|l| step_line(&l.line)));
        if lines.len() < 5000 {
            break;
        }
    }
    Ok(steps)
}

/// A step line of the train operator's log:
/// `step 12/100: loss 3.1234, lr 3.00e-4, 5120 tokens/s[, validation loss 3.2 (perplexity 24.5)]`.
fn step_line(line: &str) -> Option<Step> {
    let rest = line.strip_prefix("step ")?;
    let (counts, figures) = rest.split_once(": ")?;
    let step = counts.split('/').next()?.trim().parse().ok()?;
    let mut step =
        Step { step, loss: f64::NAN, learning_rate: f64::NAN, tokens_per_s: f64::NAN, validation_loss: None };
    for part in figures.split(", ") {
        let number = |text: &str| text.split_whitespace().next().and_then(|v| v.parse::<f64>().ok());
        if let Some(v) = part.strip_prefix("validation loss ") {
            step.validation_loss = number(v);
        } else if let Some(v) = part.strip_prefix("loss ") {
            step.loss = number(v)?;
        } else if let Some(v) = part.strip_prefix("lr ") {
            step.learning_rate = number(v)?;
        } else if let Some(v) = part.strip_suffix(" tokens/s") {
            step.tokens_per_s = number(v)?;
        }
    }
    step.loss.is_finite().then_some(step)
}

/// The task's checkpoints: `(name, files, bytes)`, oldest first.
async fn checkpoints(state: &AppState, run: &str, task: &str) -> Vec<(String, usize, u64)> {
    let prefix = format!("checkpoints/{run}/{task}/");
    let Ok(files) = state.engine.artifacts().list(&prefix).await else { return Vec::new() };
    let mut grouped: std::collections::BTreeMap<String, (usize, u64)> = std::collections::BTreeMap::new();
    for (key, size) in files {
        let name = key.strip_prefix(&prefix).unwrap_or(&key).split('/').next().unwrap_or_default().to_owned();
        // `latest.json` beside them says which is newest; it is not one.
        if !name.starts_with("step-") {
            continue;
        }
        let entry = grouped.entry(name).or_default();
        entry.0 += 1;
        entry.1 += size;
    }
    grouped.into_iter().map(|(name, (files, size))| (name, files, size)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_lines_of_the_log_become_points() {
        let plain = step_line("step 12/100: loss 3.1234, lr 3.00e-4, 5120 tokens/s").expect("a step");
        assert_eq!(
            plain,
            Step { step: 12.0, loss: 3.1234, learning_rate: 3e-4, tokens_per_s: 5120.0, validation_loss: None }
        );
        let validated =
            step_line("step 50/100: loss 2.5000, lr 1.50e-4, 4000 tokens/s, validation loss 2.7000 (perplexity 14.88)")
                .expect("a step");
        assert_eq!(validated.validation_loss, Some(2.7));
        assert_eq!(step_line("computing on CPU"), None);
        assert_eq!(step_line("step 3/9: nothing"), None);
    }
}
