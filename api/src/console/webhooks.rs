//! The account's webhooks in the console: each with its newest deliveries
//! (attempts, the receiver's last answer), a delete button, and a form for
//! a new one, whose signing secret is shown once.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use hangar_accounts::webhooks::EVENTS;
use maud::{Markup, html};

use super::i18n::Lang;
use super::layout::moment;
use super::params::values;
use super::{CsrfForm, Reader, render};
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiJson, ApiPath};
use crate::routes::webhooks::{self, CreatedWebhook, DeliveryList, WebhookRequest, WebhookView};
use crate::state::AppState;

/// Deliveries shown under each webhook.
const SHOWN: i64 = 10;

fn listing(
    lang: Lang,
    user: &CurrentUser,
    hooks: &[(WebhookView, DeliveryList)],
    created: Option<&CreatedWebhook>,
    refused: Option<&ApiError>,
) -> Markup {
    let csrf = user.csrf.clone().unwrap_or_default();
    html! {
        h1 { (lang.t("webhooks")) }
        @if let Some(created) = created {
            section.card role="status" {
                p { (lang.t("webhook_once")) }
                p { code #new-webhook-secret { (created.secret) } }
            }
        }
        @if let Some(refused) = refused { p.error role="alert" { (refused.console_message()) } }
        @for (hook, deliveries) in hooks {
            section.card.webhook {
                h2 { (hook.name) }
                p { code { (hook.url) } }
                p { @for event in &hook.events { span.tag { (event) } " " } }
                @if deliveries.deliveries.is_empty() {
                    p.muted { (lang.t("no_deliveries")) }
                } @else {
                    table.runs.deliveries {
                        thead { tr {
                            th { (lang.t("created")) } th { (lang.t("events")) } th { "Run" } th { (lang.t("status")) }
                            th { (lang.t("attempts")) } th { (lang.t("last_answer")) }
                        } }
                        tbody {
                            @for d in &deliveries.deliveries {
                                tr {
                                    td { (moment(d.created_at)) }
                                    td { (d.event) @if let Some(task) = &d.task_id { " · " (task) } }
                                    td { @if let Some(run) = &d.run_id { a href={ "/runs/" (run) } { code { (run.chars().take(8).collect::<String>()) } } } }
                                    td { span class={ "status " (d.status) } { (d.status) } }
                                    td { (d.attempts) }
                                    td {
                                        @if let Some(status) = d.last_status { code { (status) } " " }
                                        @if let Some(error) = &d.last_error { span.muted { (error) } }
                                    }
                                }
                            }
                        }
                    }
                }
                form.inline method="post" action={ "/account/webhooks/" (hook.id) "/delete" } {
                    input type="hidden" name="csrf" value=(csrf);
                    button type="submit" { (lang.t("delete")) }
                }
            }
        }
        section.card.narrow {
            h2 { (lang.t("new_webhook")) }
            form.stack method="post" action="/account/webhooks" {
                input type="hidden" name="csrf" value=(csrf);
                label for="webhook-name" { (lang.t("name")) }
                input #webhook-name type="text" name="name" maxlength="100" required;
                label for="webhook-url" { (lang.t("url")) }
                input #webhook-url type="url" name="url" placeholder="https://hooks.example.com/hangar" required;
                fieldset {
                    legend { (lang.t("events")) }
                    @for event in EVENTS {
                        label.check {
                            input type="checkbox" name="event" value=(event) checked[*event != "run.succeeded"];
                            " " (event)
                        }
                    }
                    p.muted { (lang.t("webhook_events_note")) }
                }
                button type="submit" { (lang.t("create")) }
            }
        }
    }
}

async fn hooks_with_deliveries(
    state: &AppState,
    user: &CurrentUser,
) -> Result<Vec<(WebhookView, DeliveryList)>, ApiError> {
    let ApiJson(list) = webhooks::list(State(state.clone()), user.clone()).await?;
    let mut out = Vec::new();
    for hook in list.webhooks {
        let ApiJson(deliveries) = webhooks::deliveries(
            State(state.clone()),
            user.clone(),
            ApiPath(hook.id.clone()),
            axum::extract::Query(webhooks::DeliveryQuery { limit: Some(SHOWN) }),
        )
        .await?;
        out.push((hook, deliveries));
    }
    Ok(out)
}

pub async fn page(State(state): State<AppState>, Reader { lang, user }: Reader) -> Response {
    let body = hooks_with_deliveries(&state, &user).await.map(|hooks| listing(lang, &user, &hooks, None, None));
    render(lang, &user, "/account", lang.t("webhooks"), body)
}

/// Creates the webhook of the form and shows its secret once above the list.
pub async fn create(
    State(state): State<AppState>,
    Reader { lang, user }: Reader,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Response {
    let sent = |key| values(&fields, key).map(|v| v.trim().to_owned());
    if !user.csrf_matches(&sent("csrf").next().unwrap_or_default()) {
        return super::stale_form(lang, &user, "/account");
    }
    let request = WebhookRequest {
        name: sent("name").next().unwrap_or_default(),
        url: sent("url").next().unwrap_or_default(),
        events: Some(sent("event").collect()),
    };
    let outcome = webhooks::create(State(state.clone()), user.clone(), ApiJson(request)).await;
    let body = hooks_with_deliveries(&state, &user).await.map(|hooks| match &outcome {
        Ok((_, ApiJson(created))) => listing(lang, &user, &hooks, Some(created), None),
        Err(refused) => listing(lang, &user, &hooks, None, Some(refused)),
    });
    render(lang, &user, "/account", lang.t("webhooks"), body)
}

pub async fn delete(
    State(state): State<AppState>,
    Reader { lang, user }: Reader,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<CsrfForm>,
) -> Response {
    if !user.csrf_matches(&form.csrf) {
        return super::stale_form(lang, &user, "/account");
    }
    match webhooks::delete(State(state), user.clone(), ApiPath(id)).await {
        Ok(_) => Redirect::to("/account/webhooks").into_response(),
        Err(err) => super::problem(lang, &user, "/account", &err),
    }
}

/// The administrators' form: the hosts webhooks may point at, comma-separated.
pub(super) fn allowed_hosts_form(lang: Lang, user: &CurrentUser, hosts: &[String]) -> Markup {
    html! {
        form.inline-form #webhook-hosts method="post" action="/admin/webhook-hosts" {
            input type="hidden" name="csrf" value=(user.csrf.clone().unwrap_or_default());
            label for="webhook-hosts-list" { (lang.t("webhook_hosts")) ": " }
            input #webhook-hosts-list type="text" name="hosts" value=(hosts.join(", ")) placeholder="hooks.example.com";
            button type="submit" { (lang.t("save")) }
        }
    }
}

/// Sets the hosts webhooks may point at.
pub async fn set_allowed_hosts(
    State(state): State<AppState>,
    Reader { lang, user }: Reader,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Response {
    if !user.csrf_matches(values(&fields, "csrf").next().unwrap_or_default()) {
        return super::stale_form(lang, &user, "/admin/users");
    }
    let hosts = values(&fields, "hosts")
        .flat_map(|text| text.split([',', ' ', '\n']))
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(str::to_owned)
        .collect();
    match webhooks::set_allowed_hosts(State(state), user.clone(), ApiJson(webhooks::WebhookHosts { hosts })).await {
        Ok(_) => Redirect::to("/admin/users").into_response(),
        Err(err) => super::problem(lang, &user, "/admin/users", &err),
    }
}
