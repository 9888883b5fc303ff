//! Pipelines: the list (last run, next scheduled time), a pipeline's page
//! (its YAML with the diagnostics at their lines, its DAG, versions,
//! schedules and a form to start a run with typed params) and an editor
//! that checks and stores a new version.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use hangar_engine::spec::yaml::Node;
use hangar_engine::{Diagnostics, compile_template};
use maud::{Markup, html};
use serde::Deserialize;

use super::i18n::Lang;
use super::layout::head;
use super::layout::{moment, status_badge};
use super::{Reader, dag, params, render, schedules};
use crate::auth::CurrentUser;
use crate::error::{ApiJson, ApiPath, ApiQuery};
use crate::routes::pipelines::{self, CreateQuery, PipelineDetail};
use crate::routes::{runs, uploads};
use crate::state::AppState;

pub async fn list(State(state): State<AppState>, Reader { lang, user }: Reader) -> Response {
    let listed = pipelines::list(State(state), user.clone()).await.map(|ApiJson(list)| list.pipelines);
    let body = listed.map(|pipelines| {
        html! {
            div.head-row {
                h1 { (lang.t("pipelines")) }
                a.button href="/pipelines/new" { (lang.t("new_pipeline")) }
            }
            @if pipelines.is_empty() {
                p.empty { (lang.t("no_pipelines")) }
            } @else {
                table.runs {
                    (head(lang, &["pipeline", "tasks", "last_run", "next_scheduled", "updated"]))
                    tbody {
                        @for p in &pipelines {
                            tr {
                                td {
                                    a href={ "/pipelines/" (p.name) } { (p.name) }
                                    @if let Some(d) = &p.description { div.muted.small title=(d) { (d) } }
                                }
                                td { (p.tasks) }
                                td {
                                    @match (&p.last_run_status, &p.last_run_id) {
                                        (Some(status), Some(id)) => a href={ "/runs/" (id) } { (status_badge(lang, status)) },
                                        _ => span.muted { "—" },
                                    }
                                }
                                td { @if let Some(at) = p.next_fire_at { (moment(at)) } @else { span.muted { "—" } } }
                                td { (moment(p.updated_at)) }
                            }
                        }
                    }
                }
            }
        }
    });
    render(lang, &user, "/pipelines", lang.t("pipelines"), body)
}

pub async fn show(State(state): State<AppState>, Reader { lang, user }: Reader, Path(name): Path<String>) -> Response {
    pipeline_page(&state, lang, &user, &name, Feedback::Nothing).await
}

/// What the pipeline's page says about a form just sent from it.
pub(super) enum Feedback {
    Nothing,
    RunRefused(String),
    /// The schedule form again, filled as sent, with why it was refused.
    ScheduleRefused(String, schedules::Draft),
}

/// The page of one pipeline, with what became of a form sent from it.
pub(super) async fn pipeline_page(
    state: &AppState,
    lang: Lang,
    user: &CurrentUser,
    name: &str,
    feedback: Feedback,
) -> Response {
    let detail = match pipelines::detail(State(state.clone()), user.clone(), ApiPath(name.to_owned())).await {
        Ok(ApiJson(detail)) => detail,
        Err(err) => return super::problem(lang, user, "/pipelines", &err),
    };
    let compiled = compile_template(&format!("{name}.yaml"), &detail.spec, state.engine.registry());
    let uploads = uploads::list(State(state.clone()), user.clone())
        .await
        .map(|ApiJson(list)| list.uploads.into_iter().map(|u| (u.key, u.file_name)).collect::<Vec<_>>())
        .unwrap_or_default();
    let no_statuses = HashMap::new();
    let tree = yaml_tree(&detail.spec);
    let body = html! {
        div.head-row {
            h1 { (lang.t("pipeline")) " " code { (detail.summary.name) } }
            a.button.secondary href={ "/pipelines/" (name) "/edit" } { (lang.t("edit")) }
        }
        @if let Some(d) = &detail.summary.description { p.muted { (d) } }
        @if let Feedback::RunRefused(error) = &feedback { p.error role="alert" { (error) } }
        div.columns {
            section.card aria-labelledby="run-form" {
                h2 #run-form { (lang.t("start_run")) }
                (run_form(lang, user, &detail, &uploads))
            }
            (schedules::card(lang, user, &detail, &feedback))
        }
        h2 { (lang.t("graph")) }
        div.scroll {
            @match &compiled {
                Ok(plan) => (dag::svg(plan, &no_statuses, &HashMap::new(), lang, |task| format!("#line-{}", task_line(tree.as_ref(), task)))),
                Err(_) => p.error { (lang.t("does_not_compile")) },
            }
        }
        h2 { "YAML" }
        (listing(&detail.spec, compiled.as_ref().err()))
        h2 { (lang.t("versions")) }
        table.runs {
            thead { tr { th scope="col" { (lang.t("version")) } th scope="col" { (lang.t("created")) } th scope="col" {} } }
            tbody {
                @for v in &detail.versions {
                    tr {
                        td { code { (v.hash.get(..19).unwrap_or(&v.hash)) } }
                        td { (moment(v.created_at)) }
                        td { @if v.current { span.status.succeeded { (lang.t("current")) } } }
                    }
                }
            }
        }
    };
    render(lang, user, "/pipelines", name, Ok(body))
}

/// One field per declared param, typed as declared; string params offer
/// the reader's uploads.
fn run_form(lang: Lang, user: &CurrentUser, detail: &PipelineDetail, uploads: &[(String, String)]) -> Markup {
    let params = detail.params.as_object().cloned().unwrap_or_default();
    html! {
        form.stack method="post" action={ "/pipelines/" (detail.summary.name) "/run" } {
            input type="hidden" name="csrf" value=(user.csrf.clone().unwrap_or_default());
            (params::fields("param-", &params, None))
            @if params.is_empty() { p.muted { (lang.t("no_params")) } }
            datalist #upload-keys {
                @for (key, file) in uploads { option value=(key) { (file) } }
            }
            button type="submit" { (lang.t("start_run")) }
        }
    }
}

/// The YAML with line numbers, each diagnostic under its line with a caret
/// at its column.
fn listing(text: &str, diagnostics: Option<&Diagnostics>) -> Markup {
    let mut at: HashMap<usize, Vec<(usize, String, String)>> = HashMap::new();
    for d in diagnostics.into_iter().flat_map(|d| d.iter()) {
        at.entry(d.line.max(1)).or_default().push((d.col, d.path.clone(), d.message.clone()));
    }
    let last = text.lines().count().max(1);
    html! {
        div.listing role="region" aria-label="YAML" tabindex="0" {
            @for (i, line) in text.lines().chain(text.is_empty().then_some("")).enumerate() {
                @let number = i + 1;
                div.line.bad[at.contains_key(&number)] id={ "line-" (number) } { span.number { (number) } code { (line) } }
                @for (col, path, message) in at.get(&number).into_iter().flatten() {
                    div.diagnostic role="note" {
                        span.number {}
                        code { (" ".repeat(col.saturating_sub(1))) "^ " }
                        span { @if !path.is_empty() { strong { (path) } ": " } (message) }
                    }
                }
            }
            // Problems placed after the end (a missing field of the whole file).
            @for (line, found) in &at {
                @if *line > last {
                    @for (_, path, message) in found {
                        div.diagnostic role="note" { span.number { (line) } span { strong { (path) } ": " (message) } }
                    }
                }
            }
        }
    }
}

/// The text's YAML tree with positions, if it can be read.
fn yaml_tree(text: &str) -> Option<Node> {
    hangar_engine::spec::yaml::parse(text).ok().and_then(|(root, _)| root)
}

/// The line of the YAML where task `id` is declared (the first line when
/// the text could not be read).
fn task_line(tree: Option<&Node>, id: &str) -> usize {
    tree.map_or(1, |root| root.locate(&["tasks".to_owned(), id.to_owned()]).line.max(1))
}

pub async fn new_form(Reader { lang, user }: Reader) -> Response {
    let starter = "name: my-pipeline\ndescription: What it does.\nparams:\n  source: { type: string, description: Upload folder to read. }\ntasks:\n  ingest:\n    uses: ingest\n    with:\n      path: \"${{ params.source }}\"\n";
    editor(lang, &user, starter, None, StatusCode::OK)
}

pub async fn edit_form(
    State(state): State<AppState>,
    Reader { lang, user }: Reader,
    Path(name): Path<String>,
) -> Response {
    match pipelines::detail(State(state), user.clone(), ApiPath(name)).await {
        Ok(ApiJson(detail)) => editor(lang, &user, &detail.spec, None, StatusCode::OK),
        Err(err) => super::problem(lang, &user, "/pipelines", &err),
    }
}

/// What the editor says about the text it shows.
enum Verdict<'a> {
    Valid,
    Invalid(&'a Diagnostics),
    Refused(String),
}

fn editor(lang: Lang, user: &CurrentUser, text: &str, verdict: Option<Verdict<'_>>, status: StatusCode) -> Response {
    let body = html! {
        h1 { (lang.t("edit_pipeline")) }
        @match &verdict {
            Some(Verdict::Valid) => p.ok role="status" { (lang.t("pipeline_valid")) },
            Some(Verdict::Invalid(d)) => p.error role="alert" { (d.len()) " " (lang.t("problems_found")) },
            Some(Verdict::Refused(message)) => p.error role="alert" { (message) },
            None => {},
        }
        @if let Some(Verdict::Invalid(d)) = &verdict { (listing(text, Some(d))) }
        form.stack method="post" action="/pipelines/save" {
            input type="hidden" name="csrf" value=(user.csrf.clone().unwrap_or_default());
            label for="yaml" { "YAML" }
            textarea #yaml name="yaml" rows="24" spellcheck="false" { (text) }
            div.buttons {
                button type="submit" name="action" value="check" .secondary { (lang.t("check")) }
                button type="submit" name="action" value="save" { (lang.t("save")) }
            }
        }
    };
    let mut response = render(lang, user, "/pipelines", lang.t("edit_pipeline"), Ok(body));
    *response.status_mut() = status;
    response
}

#[derive(Debug, Deserialize)]
pub struct SaveForm {
    csrf: String,
    yaml: String,
    action: String,
}

/// Checks the text; stores it as the pipeline's new version when asked to
/// and valid, else shows it again with what is wrong at its lines.
pub async fn save(
    State(state): State<AppState>,
    Reader { lang, user }: Reader,
    axum::Form(form): axum::Form<SaveForm>,
) -> Response {
    if !user.csrf_matches(&form.csrf) {
        return super::stale_form(lang, &user, "/pipelines");
    }
    // Browsers send CRLF from text areas; diagnostics count lines either way.
    let text = form.yaml.replace("\r\n", "\n");
    let plan = match compile_template("pipeline.yaml", &text, state.engine.registry()) {
        Ok(plan) => plan,
        Err(diagnostics) => {
            return editor(lang, &user, &text, Some(Verdict::Invalid(&diagnostics)), StatusCode::UNPROCESSABLE_ENTITY);
        }
    };
    if form.action != "save" {
        return editor(lang, &user, &text, Some(Verdict::Valid), StatusCode::OK);
    }
    let query = ApiQuery(CreateQuery { file: Some("pipeline.yaml".to_owned()) });
    match pipelines::create(State(state), user.clone(), query, Bytes::from(text.clone())).await {
        Ok(_) => Redirect::to(&format!("/pipelines/{}", super::percent_encode(&plan.spec.name))).into_response(),
        Err(err) => editor(lang, &user, &text, Some(Verdict::Refused(err.console_message().to_owned())), err.status),
    }
}

/// Starts a run from the form: `p.NAME` fields, typed as the pipeline
/// declares them, then the run's page.
pub async fn start_run(
    State(state): State<AppState>,
    Reader { lang, user }: Reader,
    Path(name): Path<String>,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Response {
    if !user.csrf_matches(params::field(&fields, "csrf").unwrap_or_default()) {
        return super::stale_form(lang, &user, "/pipelines");
    }
    let params = params::typed(&fields, &params::declared_types(&state, &name).await);
    let body = Bytes::from(serde_json::json!({ "params": params }).to_string());
    match runs::create(State(state.clone()), user.clone(), ApiPath(name.clone()), body).await {
        Ok((_, ApiJson(created))) => {
            Redirect::to(&format!("/runs/{}", super::percent_encode(&created.run_id))).into_response()
        }
        Err(err) => {
            let mut page =
                pipeline_page(&state, lang, &user, &name, Feedback::RunRefused(err.console_message().to_owned())).await;
            *page.status_mut() = err.status;
            page
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_is_found_at_its_line() {
        let text = "name: x\ntasks:\n  first:\n    uses: noop\n\n  second:\n    uses: noop\n";
        let tree = yaml_tree(text);
        assert_eq!((task_line(tree.as_ref(), "first"), task_line(tree.as_ref(), "second")), (3, 6));
        assert_eq!(task_line(yaml_tree("tasks: [").as_ref(), "first"), 1, "unreadable text: the top");
    }

    #[test]
    fn diagnostics_sit_under_their_lines() {
        let registry = hangar_sdk::Registry::default();
        let text = "name: x\ntasks:\n  a:\n    uses: nothing\n";
        let diagnostics = compile_template("p.yaml", text, &registry).expect_err("unknown operator");
        let html = listing(text, Some(&diagnostics)).into_string();
        let line4 = html.find("uses: nothing").expect("line 4 shown");
        let note = html.find("class=\"diagnostic\"").expect("a diagnostic");
        assert!(note > line4, "the note follows its line");
        assert!(html.contains("tasks.a.uses"), "{html}");
    }
}
