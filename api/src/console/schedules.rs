//! A pipeline's schedules on its page: each with its next fire times and a
//! button that pauses or resumes it, a form that adds one (cron, time zone,
//! catch-up, run limit, params of the scheduled runs) and a button that
//! removes one added here or through the API. Schedules from the YAML's
//! `schedule:` block change with the YAML.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::i18n::Lang;
use super::layout::{moment, status_badge};
use super::pipelines::{Feedback, pipeline_page};
use super::{CsrfForm, Reader, params};
use crate::auth::CurrentUser;
use crate::error::{ApiJson, ApiPath};
use crate::routes::pipelines::PipelineDetail;
use crate::routes::schedules::{self, ScheduleRequest};
use crate::state::AppState;

/// The schedule form's values, kept when the schedule is refused so that
/// nothing typed is lost.
pub(super) struct Draft {
    cron: String,
    timezone: String,
    catchup: bool,
    max_active_runs: String,
    params: Map<String, Value>,
}

impl Default for Draft {
    fn default() -> Self {
        Self {
            cron: String::new(),
            timezone: "UTC".to_owned(),
            catchup: false,
            max_active_runs: "1".to_owned(),
            params: Map::new(),
        }
    }
}

/// The schedule card of a pipeline's page.
pub(super) fn card(lang: Lang, user: &CurrentUser, detail: &PipelineDetail, feedback: &Feedback) -> Markup {
    let fresh = Draft::default();
    let (refused, draft) = match feedback {
        Feedback::ScheduleRefused(message, draft) => (Some(message), draft),
        _ => (None, &fresh),
    };
    let name = &detail.summary.name;
    let declared = detail.params.as_object().cloned().unwrap_or_default();
    html! {
        section.card aria-labelledby="schedule" {
            h2 #schedule { (lang.t("schedule")) }
            @if detail.schedules.is_empty() { p.muted { (lang.t("no_schedule")) } }
            ul.plain.schedules {
                @for s in &detail.schedules {
                    li {
                        code { (s.cron) } " " span.muted { (s.timezone) }
                        @if !s.enabled { " " span.status { (lang.t("paused")) } }
                        form.inline method="post" action={ "/pipelines/" (name) "/schedules/" (s.id) "/enabled" } {
                            input type="hidden" name="csrf" value=(user.csrf.clone().unwrap_or_default());
                            input type="hidden" name="enabled" value=(!s.enabled);
                            @let action = if s.enabled { lang.t("pause") } else { lang.t("resume") };
                            " " button.secondary.small type="submit" aria-label={ (action) " " (s.cron) } { (action) }
                        }
                        @if s.source == "spec" {
                            " " span.muted.small { (lang.t("from_yaml")) }
                        } @else {
                            form.inline method="post" action={ "/pipelines/" (name) "/schedules/" (s.id) "/delete" }
                                data-confirm={ (lang.t("confirm_delete")) " " (s.cron) "?" } {
                                input type="hidden" name="csrf" value=(user.csrf.clone().unwrap_or_default());
                                " " button.secondary.small type="submit" aria-label={ (lang.t("delete")) " " (s.cron) } {
                                    (lang.t("delete"))
                                }
                            }
                        }
                        @if !s.next_fire_times.is_empty() {
                            br;
                            span.small { (lang.t("next_scheduled")) ": "
                                @for (i, at) in s.next_fire_times.iter().enumerate() {
                                    @if i > 0 { ", " } (moment(*at))
                                }
                            }
                        }
                    }
                }
            }
            @if let Some(id) = &detail.summary.last_run_id {
                p { (lang.t("last_run")) ": " a href={ "/runs/" (id) } {
                    (status_badge(lang, detail.summary.last_run_status.as_deref().unwrap_or_default())) } }
            }
            details.add-schedule open[refused.is_some()] {
                summary { (lang.t("add_schedule")) }
                @if let Some(message) = refused { p.error role="alert" { (message) } }
                form.stack method="post" action={ "/pipelines/" (name) "/schedules" } {
                    input type="hidden" name="csrf" value=(user.csrf.clone().unwrap_or_default());
                    label for="schedule-cron" { (lang.t("cron")) }
                    input #schedule-cron type="text" name="cron" value=(draft.cron) required
                        placeholder="30 2 * * *" aria-describedby="schedule-cron-help";
                    span #schedule-cron-help .muted.small { (lang.t("cron_help")) }
                    label for="schedule-timezone" { (lang.t("timezone")) }
                    input #schedule-timezone type="text" name="timezone" value=(draft.timezone);
                    label for="schedule-limit" { (lang.t("max_active_runs")) }
                    input #schedule-limit type="number" min="1" step="1" name="max_active_runs"
                        value=(draft.max_active_runs);
                    label for="schedule-catchup" { (lang.t("catchup")) }
                    input #schedule-catchup type="checkbox" name="catchup" value="true" checked[draft.catchup];
                    (params::fields("schedule-param-", &declared, Some(&draft.params)))
                    button type="submit" { (lang.t("add_schedule")) }
                }
            }
        }
    }
}

/// Adds the schedule of the form, then the pipeline's page: with the new
/// schedule, or with the form as sent and why it was refused.
pub async fn add(
    State(state): State<AppState>,
    Reader { lang, user }: Reader,
    Path(name): Path<String>,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Response {
    if !user.csrf_matches(params::field(&fields, "csrf").unwrap_or_default()) {
        return super::stale_form(lang, &user, "/pipelines");
    }
    let text = |key: &str| params::field(&fields, key).unwrap_or_default().trim().to_owned();
    let draft = Draft {
        cron: text("cron"),
        timezone: text("timezone"),
        catchup: params::field(&fields, "catchup") == Some("true"),
        max_active_runs: text("max_active_runs"),
        params: params::typed(&fields, &params::declared_types(&state, &name).await),
    };
    let max_active_runs = match draft.max_active_runs.as_str() {
        "" => Ok(None),
        limit => limit
            .parse::<u32>()
            .map(Some)
            .map_err(|_| (StatusCode::UNPROCESSABLE_ENTITY, format!("{}: {limit}", lang.t("max_active_runs")))),
    };
    let outcome = match max_active_runs {
        Ok(max_active_runs) => {
            let request = ScheduleRequest {
                pipeline: name.clone(),
                cron: draft.cron.clone(),
                timezone: (!draft.timezone.is_empty()).then(|| draft.timezone.clone()),
                catchup: draft.catchup,
                max_active_runs,
                params: Value::Object(draft.params.clone()),
            };
            schedules::create(State(state.clone()), user.clone(), ApiJson(request))
                .await
                .map_err(|e| (e.status, e.console_message().to_owned()))
        }
        Err(refused) => Err(refused),
    };
    match outcome {
        Ok(_) => Redirect::to(&format!("/pipelines/{}#schedule", super::percent_encode(&name))).into_response(),
        Err((status, message)) => {
            let mut page = pipeline_page(&state, lang, &user, &name, Feedback::ScheduleRefused(message, draft)).await;
            if page.status().is_success() {
                *page.status_mut() = status;
            }
            page
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct EnabledForm {
    csrf: String,
    enabled: bool,
}

/// Pauses or resumes a schedule, then the pipeline's page.
pub async fn set_enabled(
    State(state): State<AppState>,
    Reader { lang, user }: Reader,
    Path((name, id)): Path<(String, String)>,
    axum::Form(form): axum::Form<EnabledForm>,
) -> Response {
    if !user.csrf_matches(&form.csrf) {
        return super::stale_form(lang, &user, "/pipelines");
    }
    match schedules::pause_or_resume(&state, &user, &id, form.enabled).await {
        Ok(_) => Redirect::to(&format!("/pipelines/{}#schedule", super::percent_encode(&name))).into_response(),
        Err(err) => super::problem(lang, &user, "/pipelines", &err),
    }
}

/// Removes a schedule, then the pipeline's page.
pub async fn delete(
    State(state): State<AppState>,
    Reader { lang, user }: Reader,
    Path((name, id)): Path<(String, String)>,
    axum::Form(form): axum::Form<CsrfForm>,
) -> Response {
    if !user.csrf_matches(&form.csrf) {
        return super::stale_form(lang, &user, "/pipelines");
    }
    match schedules::delete(State(state), user.clone(), ApiPath(id)).await {
        Ok(_) => Redirect::to(&format!("/pipelines/{}#schedule", super::percent_encode(&name))).into_response(),
        Err(err) => super::problem(lang, &user, "/pipelines", &err),
    }
}
