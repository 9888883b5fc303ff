//! Models: the registry (versions, aliases), a model's versions side by
//! side with their metrics, promotion and rollback of aliases, a comparison
//! of two versions, and a playground that chats with a version or alias
//! through `/v1/chat/completions`, tokens streamed as they come.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use hangar_sdk::ModelVersion;
use maud::{Markup, html};
use serde::Deserialize;

use super::i18n::Lang;
use super::layout::head;
use super::layout::{moment, number};
use super::{CsrfForm, Reader, render};
use crate::auth::CurrentUser;
use crate::error::{ApiJson, ApiPath, ApiResult};
use crate::routes::models::{self, AliasRequest};
use crate::state::AppState;

pub async fn list(State(state): State<AppState>, Reader { lang, user }: Reader) -> Response {
    let listed = models::list(State(state), user.clone()).await.map(|ApiJson(list)| list.models);
    let body = listed.map(|models| {
        html! {
            h1 { (lang.t("models")) }
            @if models.is_empty() { p.empty { (lang.t("no_models")) } }
            @else {
                table.runs {
                    (head(lang, &["model", "versions", "aliases", "updated"]))
                    tbody {
                        @for m in &models {
                            tr {
                                td { a href={ "/models/" (m.name) } { (m.name) } }
                                td { (m.versions) " " span.muted { "(" (lang.t("latest")) " " (m.latest) ")" } }
                                td { @for (alias, version) in &m.aliases { span.tag { (alias) " → " (version) } " " } }
                                td { (moment(m.updated_at)) }
                            }
                        }
                    }
                }
            }
        }
    });
    render(lang, &user, "/models", lang.t("models"), body)
}

#[derive(Debug, Deserialize)]
pub struct ModelQuery {
    /// Two versions to compare.
    a: Option<u32>,
    b: Option<u32>,
    /// What the last action did or why it failed.
    done: Option<String>,
    failed: Option<String>,
}

pub async fn show(
    State(state): State<AppState>,
    Reader { lang, user }: Reader,
    Path(name): Path<String>,
    Query(query): Query<ModelQuery>,
) -> Response {
    let body = model_body(&state, lang, &user, &name, &query).await;
    render(lang, &user, "/models", &name, body)
}

async fn model_body(
    state: &AppState,
    lang: Lang,
    user: &CurrentUser,
    name: &str,
    query: &ModelQuery,
) -> ApiResult<Markup> {
    let ApiJson(table) = models::versions(State(state.clone()), user.clone(), ApiPath(name.to_owned())).await?;
    let csrf = user.csrf.clone().unwrap_or_default();
    let pair = match (query.a, query.b) {
        (Some(a), Some(b)) => {
            let find = |v: u32| table.versions.iter().find(|x| x.version == v);
            find(a).zip(find(b))
        }
        _ => None,
    };
    let mut aliases: Vec<(&String, u32, Option<u32>)> = Vec::new();
    for v in &table.versions {
        for alias in &v.aliases {
            aliases.push((alias, v.version, state.store().rollback_target(name, alias).await?));
        }
    }
    Ok(html! {
        div.head-row {
            h1 { (lang.t("model")) " " code { (name) } }
            a.button href={ "/models/" (name) "/playground" } { (lang.t("playground")) }
        }
        @if let Some(done) = &query.done { p.ok role="status" { (done) } }
        @if let Some(failed) = &query.failed { p.error role="alert" { (failed) } }
        h2 { (lang.t("versions")) }
        div.scroll {
            table.records.versions {
                thead { tr {
                    th scope="col" { (lang.t("version")) }
                    th scope="col" { (lang.t("aliases")) }
                    // Actions first: a wide metrics table must not hide them.
                    th scope="col" { (lang.t("promote")) }
                    th scope="col" { span.visually-hidden { (lang.t("delete")) } }
                    @for metric in &table.metrics { th scope="col" { (metric) } }
                    th scope="col" { (lang.t("run")) }
                    th scope="col" { (lang.t("created")) }
                } }
                tbody {
                    @for v in &table.versions {
                        tr data-version=(v.version) {
                            th scope="row" { (v.version) }
                            td { @for alias in &v.aliases { span.tag { (alias) } " " } }
                            td {
                                form.inline-form method="post" action={ "/models/" (name) "/promote" } {
                                    input type="hidden" name="csrf" value=(csrf);
                                    input type="hidden" name="version" value=(v.version);
                                    label.visually-hidden for={ "alias-" (v.version) } { (lang.t("alias")) }
                                    input id={ "alias-" (v.version) } type="text" name="alias" value="production" size="10";
                                    button type="submit" { (lang.t("promote")) }
                                }
                            }
                            td {
                                // A version an alias points at is kept (the store refuses it too).
                                @if v.aliases.is_empty() {
                                    form.inline method="post" action={ "/models/" (name) "/versions/" (v.version) "/delete" }
                                        data-confirm={ (lang.t("confirm_delete")) " " (name) "@" (v.version) "?" } {
                                        input type="hidden" name="csrf" value=(csrf);
                                        button.secondary.small type="submit"
                                            aria-label={ (lang.t("delete")) " " (name) "@" (v.version) } { (lang.t("delete")) }
                                    }
                                }
                            }
                            @for metric in &table.metrics {
                                td.num { @if let Some(value) = v.metrics.get(metric) { (number(*value)) } }
                            }
                            td { @if let Some(run) = &v.run_id { a href={ "/runs/" (run) } { code { (run.get(..12).unwrap_or(run)) } } } }
                            td { (moment(v.created_at)) }
                        }
                    }
                }
            }
        }
        h2 { (lang.t("aliases")) }
        @if aliases.is_empty() { p.muted { (lang.t("no_aliases")) } }
        ul.plain {
            @for (alias, version, back_to) in &aliases {
                li {
                    span.tag { (alias) } " → " (version) " "
                    // Offered only where there is an earlier version to go back to.
                    @if let Some(back_to) = back_to {
                        form.inline method="post" action={ "/models/" (name) "/rollback" } {
                            input type="hidden" name="csrf" value=(csrf);
                            input type="hidden" name="alias" value=(alias);
                            button type="submit" .secondary aria-label={ (lang.t("roll_back")) " " (alias) " → " (back_to) } {
                                (lang.t("roll_back")) " → " (back_to)
                            }
                        }
                        " "
                    }
                    form.inline method="post" action={ "/models/" (name) "/aliases/" (alias) "/delete" }
                        data-confirm={ (lang.t("confirm_delete")) " " (name) ":" (alias) "?" } {
                        input type="hidden" name="csrf" value=(csrf);
                        button.secondary.small type="submit" aria-label={ (lang.t("remove_alias")) " " (alias) } {
                            (lang.t("remove_alias"))
                        }
                    }
                }
            }
        }
        h2 #compare { (lang.t("compare")) }
        form.filters method="get" action={ "/models/" (name) "#compare" } {
            (version_picker(lang, "a", &table.versions, query.a))
            (version_picker(lang, "b", &table.versions, query.b))
            button type="submit" { (lang.t("compare")) }
        }
        @if let Some((a, b)) = pair { (comparison(lang, &table.metrics, a, b)) }
    })
}

fn version_picker(lang: Lang, field: &str, versions: &[ModelVersion], chosen: Option<u32>) -> Markup {
    html! {
        label for={ "pick-" (field) } { (lang.t("version")) " " (field.to_uppercase()) }
        select id={ "pick-" (field) } name=(field) {
            @for v in versions { option value=(v.version) selected[chosen == Some(v.version)] { (v.version) } }
        }
    }
}

/// Two versions' metrics with the difference B − A.
fn comparison(lang: Lang, metrics: &[String], a: &ModelVersion, b: &ModelVersion) -> Markup {
    html! {
        table.records.compare {
            thead { tr {
                th scope="col" { (lang.t("metric")) }
                th scope="col" { (lang.t("version")) " " (a.version) }
                th scope="col" { (lang.t("version")) " " (b.version) }
                th scope="col" { "Δ" }
            } }
            tbody {
                @for metric in metrics {
                    @let (x, y) = (a.metrics.get(metric), b.metrics.get(metric));
                    tr {
                        th scope="row" { (metric) }
                        td.num { @if let Some(x) = x { (number(*x)) } }
                        td.num { @if let Some(y) = y { (number(*y)) } }
                        td.num { @if let (Some(x), Some(y)) = (x, y) { (number(y - x)) } }
                    }
                }
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct PromoteForm {
    csrf: String,
    version: u32,
    alias: String,
}

/// Points an alias at a version, then back to the model's page saying so.
pub async fn promote(
    State(state): State<AppState>,
    Reader { lang, user }: Reader,
    Path(name): Path<String>,
    axum::Form(form): axum::Form<PromoteForm>,
) -> Response {
    if !user.csrf_matches(&form.csrf) {
        return super::stale_form(lang, &user, "/models");
    }
    let path = ApiPath((name.clone(), form.alias.trim().to_owned()));
    let outcome = models::set_alias(State(state), user, path, ApiJson(AliasRequest { version: form.version })).await;
    back(&name, outcome.map(|ApiJson(v)| format!("{}:{} → {}", v.name, v.alias, v.version)))
}

#[derive(Debug, Deserialize)]
pub struct RollbackForm {
    csrf: String,
    alias: String,
}

/// Moves an alias back to where it pointed before.
pub async fn roll_back(
    State(state): State<AppState>,
    Reader { lang, user }: Reader,
    Path(name): Path<String>,
    axum::Form(form): axum::Form<RollbackForm>,
) -> Response {
    if !user.csrf_matches(&form.csrf) {
        return super::stale_form(lang, &user, "/models");
    }
    let outcome = models::rollback(State(state), user, ApiPath((name.clone(), form.alias))).await;
    back(&name, outcome.map(|ApiJson(v)| format!("{}:{} → {}", v.name, v.alias, v.version)))
}

/// Deletes a version no alias points at.
pub async fn delete_version(
    State(state): State<AppState>,
    Reader { lang, user }: Reader,
    Path((name, version)): Path<(String, u32)>,
    axum::Form(form): axum::Form<CsrfForm>,
) -> Response {
    if !user.csrf_matches(&form.csrf) {
        return super::stale_form(lang, &user, "/models");
    }
    let outcome = models::delete_version(State(state), user, ApiPath((name.clone(), version))).await;
    back(&name, outcome.map(|_| format!("{name}@{version}: {}", lang.t("deleted"))))
}

/// Removes an alias (the versions stay).
pub async fn delete_alias(
    State(state): State<AppState>,
    Reader { lang, user }: Reader,
    Path((name, alias)): Path<(String, String)>,
    axum::Form(form): axum::Form<CsrfForm>,
) -> Response {
    if !user.csrf_matches(&form.csrf) {
        return super::stale_form(lang, &user, "/models");
    }
    let outcome = models::delete_alias(State(state), user, ApiPath((name.clone(), alias.clone()))).await;
    back(&name, outcome.map(|_| format!("{name}:{alias}: {}", lang.t("deleted"))))
}

/// The model's page again, with what happened.
fn back(name: &str, outcome: ApiResult<String>) -> Response {
    let (key, text) = match outcome {
        Ok(done) => ("done", done),
        Err(err) => ("failed", err.console_message().to_owned()),
    };
    let to = format!("/models/{}?{key}={}", super::percent_encode(name), super::percent_encode(&text));
    Redirect::to(&to).into_response()
}

pub async fn playground(
    State(state): State<AppState>,
    Reader { lang, user }: Reader,
    Path(name): Path<String>,
) -> Response {
    let detail = models::detail(State(state), user.clone(), ApiPath(name.clone())).await;
    let body = detail.map(|ApiJson(detail)| {
        html! {
            nav.crumbs { a href="/models" { (lang.t("models")) } " › " a href={ "/models/" (name) } { (name) } }
            h1 { (lang.t("playground")) " " code { (name) } }
            form #chat.stack data-chat="/v1/chat/completions" data-dropped-note=(lang.t("dropped_turns")) {
                label for="chat-model" { (lang.t("model")) }
                select #chat-model name="model" {
                    @for alias in detail.aliases.keys() { option value={ (name) ":" (alias) } { (name) ":" (alias) } }
                    @for v in &detail.versions { option value={ (name) "@" (v.version) } { (name) "@" (v.version) } }
                }
                label for="chat-max" { (lang.t("max_tokens")) }
                input #chat-max type="number" name="max_tokens" value="64" min="1" max="1024";
                label for="chat-temperature" { (lang.t("temperature")) " " span.muted.small { (lang.t("temperature_hint")) } }
                input #chat-temperature type="number" name="temperature" value="0.7" min="0" max="2" step="0.1";
                div #chat-log role="log" aria-live="polite" {}
                label for="chat-input" { (lang.t("message")) }
                textarea #chat-input name="message" rows="3" required {}
                button type="submit" { (lang.t("send")) }
                p #chat-error.error role="alert" {}
            }
        }
    });
    render(lang, &user, "/models", lang.t("playground"), body)
}
