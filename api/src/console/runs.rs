//! The runs page: the runs the reader may see, filtered by pipeline and
//! status, a page at a time.

use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Response};
use maud::{Markup, html};

use super::Reader;
use super::i18n::Lang;
use super::layout::head;
use super::layout::page;
use crate::routes::runs::{RunPage, RunQuery, run_page};
use crate::state::AppState;

const STATUSES: &[&str] = &["pending", "running", "succeeded", "failed", "cancelled"];

pub async fn list(
    State(state): State<AppState>,
    Reader { lang, user }: Reader,
    Query(query): Query<RunQuery>,
) -> Response {
    let (pipeline, status) = (query.pipeline.clone().unwrap_or_default(), query.status.clone().unwrap_or_default());
    let runs = match run_page(&state, &user, query).await {
        Ok(runs) => runs,
        Err(err) => return err.into_response(),
    };
    let body = html! {
        h1 { (lang.t("runs")) }
        form.filters method="get" action="/runs" {
            label for="pipeline" { (lang.t("pipeline")) }
            input #pipeline type="text" name="pipeline" value=(pipeline);
            label for="status" { (lang.t("status")) }
            select #status name="status" {
                option value="" { (lang.t("any_status")) }
                @for s in STATUSES {
                    option value=(s) selected[*s == status] { (lang.status(s)) }
                }
            }
            button type="submit" { (lang.t("filter")) }
        }
        (table(lang, &runs))
        (pager(lang, &runs, &pipeline, &status))
    };
    Html(page(lang, lang.t("runs"), Some(&user), "/runs", body).into_string()).into_response()
}

fn table(lang: Lang, runs: &RunPage) -> Markup {
    html! {
        @if runs.runs.is_empty() {
            p.empty { (lang.t("no_runs")) }
        } @else {
            table.runs {
                (head(lang, &["run", "pipeline", "status", "created", "duration"]))
                tbody {
                    @for run in &runs.runs {
                        tr {
                            td { a href={ "/runs/" (run.id) } { code { (run.id) } } }
                            td { (run.pipeline) }
                            td { (super::layout::status_badge(lang, &run.status)) }
                            td { (super::layout::moment(run.created_at)) }
                            td { (run.duration_ms.map(|ms| format!("{:.1} s", ms as f64 / 1000.0)).unwrap_or_default()) }
                        }
                    }
                }
            }
        }
    }
}

fn pager(lang: Lang, runs: &RunPage, pipeline: &str, status: &str) -> Markup {
    let pages = (runs.total.max(1) as i64 + runs.limit - 1) / runs.limit;
    let link = |page: i64| format!("/runs?page={page}&pipeline={}&status={}", super::percent_encode(pipeline), status);
    html! {
        nav.pager aria-label="pages" {
            @if runs.page > 1 { a href=(link(runs.page - 1)) rel="prev" { (lang.t("previous")) } }
            span { (lang.t("page_of")) " " (runs.page) " / " (pages) " · " (runs.total) " " (lang.t("runs_total")) }
            @if runs.page < pages { a href=(link(runs.page + 1)) rel="next" { (lang.t("next")) } }
        }
    }
}
