//! The audit log for administrators: the API's filters as a form, a page
//! of rows, older pages, and the same page exported as CSV or JSON Lines.

use axum::extract::{Query, State};
use axum::response::Response;
use maud::html;

use super::layout::moment;
use super::{Reader, render};
use crate::routes::audit::{self, AuditQuery};
use crate::state::AppState;

fn query_string(query: &AuditQuery, before: Option<i64>, format: Option<&str>) -> String {
    let mut pairs = Vec::new();
    for (key, value) in [
        ("actor", &query.actor),
        ("action", &query.action),
        ("target", &query.target),
        ("outcome", &query.outcome),
        ("since", &query.since),
        ("until", &query.until),
    ] {
        if let Some(value) = value.as_deref().filter(|v| !v.is_empty()) {
            pairs.push(format!("{key}={}", super::percent_encode(value)));
        }
    }
    if let Some(before) = before {
        pairs.push(format!("before={before}"));
    }
    if let Some(format) = format {
        pairs.push(format!("format={format}"));
    }
    pairs.join("&")
}

pub async fn page(
    State(state): State<AppState>,
    Reader { lang, user }: Reader,
    Query(query): Query<AuditQuery>,
) -> Response {
    let read = audit::read(&state, &user, &query).await;
    let value = |v: &Option<String>| v.clone().unwrap_or_default();
    let body = read.map(|page| {
        html! {
            h1 { (lang.t("audit_log")) }
            form.inline-form #audit-filter method="get" action="/admin/audit" {
                label for="actor" { (lang.t("actor")) }
                input #actor type="text" name="actor" value=(value(&query.actor));
                label for="action" { (lang.t("action")) }
                input #action type="text" name="action" value=(value(&query.action)) placeholder="run.";
                label for="target" { (lang.t("target")) }
                input #target type="text" name="target" value=(value(&query.target));
                label for="outcome" { (lang.t("outcome")) }
                select #outcome name="outcome" {
                    option value="" { (lang.t("any")) }
                    @for outcome in ["allowed", "refused"] {
                        option value=(outcome) selected[query.outcome.as_deref() == Some(outcome)] { (outcome) }
                    }
                }
                label for="since" { (lang.t("since")) }
                input #since type="text" name="since" value=(value(&query.since)) placeholder="2026-12-01T00:00:00Z";
                label for="until" { (lang.t("until")) }
                input #until type="text" name="until" value=(value(&query.until));
                button type="submit" { (lang.t("filter")) }
            }
            p {
                (lang.t("export")) ": "
                a href={ "/api/v1/audit?" (query_string(&query, query.before, Some("csv"))) } { "CSV" } " · "
                a href={ "/api/v1/audit?" (query_string(&query, query.before, Some("jsonl"))) } { "JSON Lines" }
            }
            table.runs #audit {
                thead { tr {
                    th { (lang.t("created")) } th { (lang.t("actor")) } th { (lang.t("action")) }
                    th { (lang.t("target")) } th { (lang.t("outcome")) } th { (lang.t("address")) }
                } }
                tbody {
                    @for entry in &page.entries {
                        tr {
                            td { (moment(entry.at)) }
                            td { (entry.actor_email.clone().unwrap_or_else(|| entry.actor.clone()))
                                 @if let Some(key) = &entry.key_id { " " span.muted { (key) } } }
                            td { code { (entry.action) } }
                            td { (entry.target.clone().unwrap_or_default()) }
                            td { (entry.outcome) @if let Some(reason) = &entry.reason { " " span.muted { (reason) } } }
                            td { (entry.address.clone().unwrap_or_default()) }
                        }
                    }
                }
            }
            @if let Some(before) = page.next_before {
                p { a href={ "/admin/audit?" (query_string(&query, Some(before), None)) } { (lang.t("older")) " →" } }
            }
        }
    });
    render(lang, &user, "/admin/audit", lang.t("audit_log"), body)
}
