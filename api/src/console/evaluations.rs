//! Evaluations: the reports of the reader's evaluate tasks, one report with
//! its metric table, gate and per-item examples, and two reports side by
//! side (the same questions answered by two model versions).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;

use super::i18n::Lang;
use super::layout::head;
use super::layout::{moment, number, status_badge};
use super::{Reader, render};
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::routes::runs::visible_task;
use crate::state::AppState;

const EVALUATE: &str = "evaluate";
const ITEMS_PER_PAGE: usize = 25;

pub async fn list(State(state): State<AppState>, Reader { lang, user }: Reader) -> Response {
    let found = super::recent::tasks(&state, &user, |t| t.operator == EVALUATE).await;
    let body = found.map(|found| {
        let reports: Vec<_> = found.iter().filter(|(_, t)| t.outputs.as_ref().is_some_and(|o| o.contains_key("report"))).collect();
        html! {
            h1 { (lang.t("evaluations")) }
            @if found.is_empty() { p.empty { (lang.t("no_evaluations")) } }
            @else {
                table.runs {
                    (head(lang, &["run", "task", "status", "gate", "created"]))
                    tbody {
                        @for (run, task) in &found {
                            @let values = task.outputs.as_ref().and_then(|o| o.get("report")).map(|r| &r.values);
                            tr {
                                td { a href={ "/runs/" (run.id) } { code { (run.id) } } " " span.muted { (run.pipeline) } }
                                td { @if values.is_some() { a href={ "/runs/" (run.id) "/tasks/" (task.task_id) "/report" } { (task.task_id) } } @else { (task.task_id) } }
                                td { (status_badge(lang, &task.status.to_string())) }
                                td { @if let Some(values) = values {
                                    @for (name, value) in values.iter() {
                                        span.tag { (name) " " (value.as_f64().map(|v| number(v).into_string()).unwrap_or_else(|| value.to_string())) } " "
                                    }
                                } }
                                td { (moment(run.created_at)) }
                            }
                        }
                    }
                }
            }
            @if reports.len() >= 2 {
                h2 { (lang.t("compare")) }
                form.filters method="get" action="/evaluations/compare" {
                    @for (field, default) in [("a", 1), ("b", 0)] {
                        label for={ "pick-" (field) } { (lang.t("report")) " " (field.to_uppercase()) }
                        select id={ "pick-" (field) } name=(field) {
                            @for (i, (run, task)) in reports.iter().enumerate() {
                                option value={ (run.id) "/" (task.task_id) } selected[i == default] { (run.id) " · " (task.task_id) }
                            }
                        }
                    }
                    button type="submit" { (lang.t("compare")) }
                }
            }
        }
    });
    render(lang, &user, "/evaluations", lang.t("evaluations"), body)
}

/// `report.json` of an evaluate task the reader may see.
async fn report_of(state: &AppState, user: &CurrentUser, run: &str, task: &str) -> ApiResult<Value> {
    let record = visible_task(state, user, run, task).await?;
    let report = record
        .outputs
        .as_ref()
        .and_then(|o| o.get("report"))
        .ok_or_else(|| ApiError::not_found(format!("task {task} of run {run} has no report")))?;
    let key = if report.dir { format!("{}/report.json", report.key.trim_end_matches('/')) } else { report.key.clone() };
    let bytes =
        state.engine.artifacts().read(&key).await.map_err(|_| ApiError::not_found("the report is no longer stored"))?;
    serde_json::from_slice(&bytes).map_err(|e| ApiError::internal("the stored report is not JSON", &e))
}

#[derive(Debug, Deserialize)]
pub struct PageQuery {
    page: Option<usize>,
}

pub async fn report(
    State(state): State<AppState>,
    Reader { lang, user }: Reader,
    Path((run, task)): Path<(String, String)>,
    Query(query): Query<PageQuery>,
) -> Response {
    let page = query.page.unwrap_or(1).max(1);
    let body = report_of(&state, &user, &run, &task).await.map(|report| {
        let items = report["items"].as_array().map(Vec::as_slice).unwrap_or_default();
        let shown = items.iter().skip((page - 1) * ITEMS_PER_PAGE).take(ITEMS_PER_PAGE);
        let here = format!("/runs/{run}/tasks/{task}/report");
        // A report with the base model scored beside the tuned one.
        let has_base = report["base"].is_object();
        html! {
            nav.crumbs { a href="/evaluations" { (lang.t("evaluations")) } " › " a href={ "/runs/" (run) } { code { (run) } } " › " (task) }
            h1 { (lang.t("report")) " " code { (report["registered"].as_str().or(report["model"].as_str()).unwrap_or_default()) } }
            (gate(lang, &report["gate"]))
            div.columns {
                section.card { h2 { (lang.t("metrics")) } (metric_table(lang, &report["metrics"], &report["base"]["metrics"])) }
                @if let Some(kinds) = report["by_kind"].as_object() {
                    section.card {
                        h2 { (lang.t("by_kind")) }
                        table.records {
                            thead { tr {
                                th scope="col" { (lang.t("kind")) } th scope="col" { (lang.t("questions")) }
                                @if has_base { th scope="col" { (lang.t("base")) } }
                                th scope="col" { (lang.t("score")) }
                            } }
                            tbody { @for (kind, v) in kinds { tr {
                                th scope="row" { (kind) } td.num { (v["count"]) }
                                @if has_base { td.num { (number(report["base"]["by_kind"][kind]["score"].as_f64().unwrap_or(f64::NAN))) } }
                                td.num { (number(v["score"].as_f64().unwrap_or(f64::NAN))) }
                            } } }
                        }
                    }
                }
            }
            h2 { (lang.t("examples")) " " span.muted { "(" (items.len()) ")" } }
            div.scroll {
                table.records.items {
                    thead { tr {
                        th scope="col" { (lang.t("kind")) } th scope="col" { (lang.t("question")) }
                        th scope="col" { (lang.t("reference")) }
                        @if has_base { th scope="col" { (lang.t("base_answer")) } th scope="col" { (lang.t("base")) } }
                        th scope="col" { (lang.t("answer")) } th scope="col" { (lang.t("score")) }
                    } }
                    tbody {
                        @for item in shown {
                            tr {
                                td { (item["kind"].as_str().unwrap_or_default()) }
                                td { (item["question"].as_str().unwrap_or_default()) }
                                td { (item["reference"].as_str().unwrap_or_default()) }
                                @if has_base {
                                    td { (item["base_answer"].as_str().unwrap_or_default()) }
                                    td.num { (number(item["base_score"].as_f64().unwrap_or(f64::NAN))) }
                                }
                                td { (item["answer"].as_str().unwrap_or_default()) }
                                td.num { (number(item["score"].as_f64().unwrap_or(f64::NAN))) }
                            }
                        }
                    }
                }
            }
            nav.pager aria-label="pages" {
                @if page > 1 { a href={ (here) "?page=" (page - 1) } rel="prev" { (lang.t("previous")) } }
                span { (lang.t("page_of")) " " (page) }
                @if page * ITEMS_PER_PAGE < items.len() { a href={ (here) "?page=" (page + 1) } rel="next" { (lang.t("next")) } }
            }
        }
    });
    render(lang, &user, "/evaluations", lang.t("report"), body)
}

fn gate(lang: Lang, gate: &Value) -> Markup {
    let beats = gate["beats_baseline"].as_bool() == Some(true);
    html! {
        p.gate {
            (lang.t("gate")) ": " strong { (gate["metric"].as_str().unwrap_or("?")) } " = "
            (gate["value"].as_f64().map(|v| number(v).into_string()).unwrap_or_else(|| "—".to_owned()))
            " · " (lang.t("baseline")) " "
            (gate["baseline"].as_f64().map(|v| number(v).into_string()).unwrap_or_else(|| "—".to_owned()))
            " · " @if beats { span.status.succeeded { (lang.t("beats_baseline")) } } @else { span.status.failed { (lang.t("does_not_beat")) } }
            @if let Some(verdict) = gate["verdict"].as_str() { br; span.muted { (verdict) } }
        }
    }
}

/// The metrics, with the base model's beside them when it was scored.
fn metric_table(lang: Lang, metrics: &Value, base: &Value) -> Markup {
    let has_base = base.is_object();
    html! {
        table.records {
            thead { tr {
                th scope="col" { (lang.t("metric")) }
                @if has_base { th scope="col" { (lang.t("base")) } }
                th scope="col" { (lang.t("value")) }
            } }
            tbody { @for (name, value) in metrics.as_object().into_iter().flatten() {
                tr {
                    th scope="row" { (name) }
                    @if has_base { td.num { (number(base[name].as_f64().unwrap_or(f64::NAN))) } }
                    td.num { (number(value.as_f64().unwrap_or(f64::NAN))) }
                }
            } }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct CompareQuery {
    /// `RUN/TASK` of each report.
    a: String,
    b: String,
}

/// Two reports: metrics side by side with the difference, then the
/// questions both answered, each answer beside the other.
pub async fn compare(
    State(state): State<AppState>,
    Reader { lang, user }: Reader,
    Query(query): Query<CompareQuery>,
) -> Response {
    let body = async {
        let split = |text: &str| {
            text.split_once('/').map(|(r, t)| (r.to_owned(), t.to_owned())).ok_or_else(|| {
                ApiError::bad_request("a and b are RUN/TASK of an evaluate task; pick them on /evaluations")
            })
        };
        let ((run_a, task_a), (run_b, task_b)) = (split(&query.a)?, split(&query.b)?);
        let a = report_of(&state, &user, &run_a, &task_a).await?;
        let b = report_of(&state, &user, &run_b, &task_b).await?;
        let label = |run: &str, task: &str, report: &Value| match report["registered"].as_str() {
            Some(registered) => registered.to_owned(),
            None => format!("{} · {task}", run.get(..13).unwrap_or(run)),
        };
        let (name_a, name_b) = (label(&run_a, &task_a, &a), label(&run_b, &task_b, &b));
        Ok::<_, ApiError>(comparison(lang, (&name_a, &a), (&name_b, &b)))
    }
    .await;
    render(lang, &user, "/evaluations", lang.t("compare"), body)
}

/// Two reports, each with the name it goes by on the page.
fn comparison(lang: Lang, (name_a, a): (&str, &Value), (name_b, b): (&str, &Value)) -> Markup {
    let mut metrics: Vec<&String> =
        a["metrics"].as_object().into_iter().chain(b["metrics"].as_object()).flat_map(|m| m.keys()).collect();
    metrics.sort();
    metrics.dedup();
    let answers_b: HashMap<&str, &Value> = b["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| item["question"].as_str().map(|q| (q, item)))
        .collect();
    let both: Vec<(&Value, &Value)> = a["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| item["question"].as_str().and_then(|q| answers_b.get(q)).map(|other| (item, *other)))
        .take(50)
        .collect();
    let value = |v: &Value| v.as_f64();
    html! {
        nav.crumbs { a href="/evaluations" { (lang.t("evaluations")) } " › " (lang.t("compare")) }
        h1 { (lang.t("compare")) ": " code { (name_a) } " ↔ " code { (name_b) } }
        table.records.compare {
            thead { tr { th scope="col" { (lang.t("metric")) } th scope="col" { (name_a) } th scope="col" { (name_b) } th scope="col" { "Δ" } } }
            tbody {
                @for metric in &metrics {
                    @let (x, y) = (value(&a["metrics"][metric.as_str()]), value(&b["metrics"][metric.as_str()]));
                    tr {
                        th scope="row" { (metric) }
                        td.num { @if let Some(x) = x { (number(x)) } }
                        td.num { @if let Some(y) = y { (number(y)) } }
                        td.num { @if let (Some(x), Some(y)) = (x, y) { (number(y - x)) } }
                    }
                }
            }
        }
        h2 { (lang.t("examples")) " " span.muted { "(" (both.len()) ")" } }
        @for (x, y) in &both {
            section.card.cluster {
                p { strong { (x["question"].as_str().unwrap_or_default()) } }
                p.muted { (lang.t("reference")) ": " (x["reference"].as_str().unwrap_or_default()) }
                div.side-by-side {
                    div.side { h3 { (name_a) " · " (number(value(&x["score"]).unwrap_or(f64::NAN))) } pre.doc-text { (x["answer"].as_str().unwrap_or_default()) } }
                    div.side { h3 { (name_b) " · " (number(value(&y["score"]).unwrap_or(f64::NAN))) } pre.doc-text { (y["answer"].as_str().unwrap_or_default()) } }
                }
            }
        }
    }
}
