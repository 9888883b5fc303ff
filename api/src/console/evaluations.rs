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
    read_json(state, report, "report.json").await.ok_or_else(|| ApiError::not_found("the report is no longer stored"))
}

/// The JSON document of a report artifact: the artifact itself, or its
/// file `name` when it is a folder.
async fn read_json(state: &AppState, artifact: &hangar_sdk::ArtifactRef, name: &str) -> Option<Value> {
    let key =
        if artifact.dir { format!("{}/{name}", artifact.key.trim_end_matches('/')) } else { artifact.key.clone() };
    let bytes = state.engine.artifacts().read(&key).await.ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// What a report is about, as people name it: the registered version
/// (`airworthy@3`, when the report says so or a deploy task of the same run
/// registered that model), else the task that trained it.
async fn model_title(state: &AppState, run: &str, report: &Value) -> String {
    if let Some(registered) = report["registered"].as_str() {
        return registered.to_owned();
    }
    let key = report["model"].as_str().unwrap_or_default();
    let tasks = state.store().tasks(run).await.unwrap_or_default();
    for task in tasks.iter().filter(|t| t.operator == "deploy") {
        let Some(deployment) = task.outputs.as_ref().and_then(|o| o.get("deployment")) else { continue };
        let Some(document) = read_json(state, deployment, "deployment.json").await else { continue };
        if document["artifact_key"].as_str() == Some(key) {
            let (name, version) = (document["name"].as_str().unwrap_or_default(), &document["version"]);
            return format!("{name}@{version}");
        }
    }
    producer_of(key).map_or_else(|| key.to_owned(), str::to_owned)
}

/// The task that wrote an artifact, from its key (`runs/RUN/TASK/aN/NAME`).
fn producer_of(key: &str) -> Option<&str> {
    let mut parts = key.split('/');
    (parts.next() == Some("runs")).then_some(())?;
    parts.nth(1)
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
    let found = match report_of(&state, &user, &run, &task).await {
        Ok(report) => Ok((model_title(&state, &run, &report).await, report)),
        Err(e) => Err(e),
    };
    let body = found.map(|(title, report)| {
        let items = report["items"].as_array().map(Vec::as_slice).unwrap_or_default();
        let shown = items.iter().skip((page - 1) * ITEMS_PER_PAGE).take(ITEMS_PER_PAGE);
        let here = format!("/runs/{run}/tasks/{task}/report");
        // A report with the base model scored beside the tuned one.
        let has_base = report["base"].is_object();
        html! {
            nav.crumbs { a href="/evaluations" { (lang.t("evaluations")) } " › " a href={ "/runs/" (run) } { code { (run) } } " › " (task) }
            h1 { (lang.t("report")) ": " (title) }
            @if let Some(key) = report["model"].as_str() { p.muted.small { (lang.t("model")) " " code.key title=(key) { (key) } } }
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
                                th scope="row" { (kind) } td.num { (number(v["count"].as_f64().unwrap_or(f64::NAN))) }
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

/// The gate: the gate metric's value, what it was compared with (the base,
/// the production version) and the decision, in words.
fn gate(lang: Lang, gate: &Value) -> Markup {
    let passes = gate["beats_baseline"].as_bool() == Some(true);
    let figure = |value: &Value| value.as_f64().map(number);
    let mark = |beats: &Value| match beats.as_bool() {
        Some(true) => " ✓",
        Some(false) => " ✗",
        None => "",
    };
    // Reports older than base-aware gates have only `baseline`.
    let production = figure(&gate["baseline"]);
    html! {
        p.gate {
            (lang.t("gate")) ": " strong { (gate["metric"].as_str().unwrap_or("?")) } " = "
            @if let Some(value) = figure(&gate["value"]) { (value) } @else { "—" }
            @if let Some(base) = figure(&gate["base_value"]) {
                " · " (lang.t("base")) " " (base) (mark(&gate["beats_base"]))
            }
            @if let Some(production) = production {
                " · " (lang.t("production")) " " (production) (mark(&gate["beats_production"]))
            }
            " · " @if passes { span.status.succeeded { (lang.t("beats_baseline")) } } @else { span.status.failed { (lang.t("does_not_beat")) } }
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rendered(value: Value) -> String {
        gate(Lang::En, &value).into_string()
    }

    #[test]
    fn a_gate_with_nothing_to_compare_names_no_baseline() {
        let html = rendered(json!({
            "metric": "rougeL", "value": 0.0342, "base_value": null, "beats_base": null,
            "baseline": null, "beats_production": null, "beats_baseline": true,
            "verdict": "nothing to compare with: no base and no production",
        }));
        assert!(!html.contains("&lt;"), "numbers are markup, not escaped text: {html}");
        assert!(html.contains("data-num=\"0.0342\""), "{html}");
        assert!(!html.contains("Production") && !html.contains("Base "), "{html}");
        assert!(!html.contains("beats the baseline"), "{html}");
        assert!(html.contains("nothing to compare with"), "{html}");
    }

    #[test]
    fn a_gate_it_passes_shows_what_it_beat() {
        let html = rendered(json!({
            "metric": "rougeL", "value": 0.183, "base_value": 0.119, "beats_base": true,
            "baseline": 0.15, "beats_production": true, "beats_baseline": true,
            "verdict": "beats the base (rougeL 0.1830 vs 0.1190); beats airworthy:production (rougeL 0.1830 vs 0.1500)",
        }));
        assert!(!html.contains("&lt;"), "{html}");
        assert!(html.contains("Base <span data-num=\"0.119\">0.1190</span> ✓"), "{html}");
        assert!(html.contains("Production <span data-num=\"0.15\">0.1500</span> ✓"), "{html}");
        assert!(html.contains("status succeeded") && html.contains("passes the gate: deploy"), "{html}");
    }

    #[test]
    fn a_gate_it_fails_says_which_comparison_it_lost() {
        let html = rendered(json!({
            "metric": "rougeL", "value": 0.1, "base_value": 0.119, "beats_base": false,
            "baseline": null, "beats_production": null, "beats_baseline": false,
            "verdict": "does not beat the base (rougeL 0.1000 vs 0.1190); no production version yet (airworthy:production has no rougeL)",
        }));
        assert!(html.contains("Base <span data-num=\"0.119\">0.1190</span> ✗"), "{html}");
        assert!(html.contains("status failed") && html.contains("does not pass the gate"), "{html}");
        assert!(html.contains("no production version yet"), "{html}");
    }

    #[test]
    fn the_producing_task_is_read_from_an_artifact_key() {
        assert_eq!(producer_of("runs/0192abc/finetune/a1/model"), Some("finetune"));
        assert_eq!(producer_of("uploads/upl_1/model"), None);
    }
}
