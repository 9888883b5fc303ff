//! The account's API keys in the console: the list with revoke buttons,
//! and a form for a new one, whose secret is shown once.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

use super::i18n::Lang;
use super::layout::moment;
use super::params::values;
use super::{CsrfForm, Reader, render};
use crate::auth::CurrentUser;
use crate::auth::scopes::{self, Scope};
use crate::error::{ApiError, ApiJson, ApiPath};
use crate::routes::keys::{self, CreatedKey, KeyList, KeyRequest};
use crate::state::AppState;

fn listing(
    lang: Lang,
    user: &CurrentUser,
    list: &KeyList,
    created: Option<&CreatedKey>,
    refused: Option<&ApiError>,
) -> Markup {
    let csrf = user.csrf.clone().unwrap_or_default();
    html! {
        h1 { (lang.t("api_keys")) }
        @if let Some(created) = created {
            section.card role="status" {
                p { (lang.t("key_once")) }
                p { code #new-key { (created.key) } }
            }
        }
        @if let Some(refused) = refused { p.error role="alert" { (refused.console_message()) } }
        @if !list.keys.is_empty() {
            table.runs #keys {
                thead { tr {
                    th { (lang.t("name")) } th { (lang.t("prefix")) } th { (lang.t("scopes")) }
                    th { (lang.t("created")) } th { (lang.t("last_used")) } th { (lang.t("expires")) } th {}
                } }
                tbody {
                    @for key in &list.keys {
                        tr {
                            td { (key.name) }
                            td { code { (key.prefix) "…" } }
                            td { @for scope in &key.scopes { span.tag { (scope) } " " } }
                            td { (moment(key.created_at)) }
                            td { @match key.last_used_at { Some(at) => (moment(at)), None => "—" } }
                            td { @match key.expires_at { Some(at) => (moment(at)), None => (lang.t("never")) } }
                            td {
                                @if key.revoked_at.is_some() {
                                    span.muted { (lang.t("revoked")) }
                                } @else {
                                    form.inline method="post" action={ "/account/keys/" (key.id) "/revoke" } {
                                        input type="hidden" name="csrf" value=(csrf);
                                        button type="submit" { (lang.t("revoke")) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        section.card.narrow {
            h2 { (lang.t("new_key")) }
            form.stack method="post" action="/account/keys" {
                input type="hidden" name="csrf" value=(csrf);
                label for="key-name" { (lang.t("name")) }
                input #key-name type="text" name="name" maxlength="100" required;
                fieldset {
                    legend { (lang.t("scopes")) }
                    @for scope in scopes::ALL.into_iter().filter(|s| s.granted_to(user.role)) {
                        label.check {
                            input type="checkbox" name="scope" value=(scope.as_str()) checked[scope == Scope::RunsRead];
                            " " (scope.as_str())
                        }
                    }
                }
                label for="key-expiry" { (lang.t("expires_in_days")) }
                input #key-expiry type="number" name="expires_in_days" min="1" max="3650";
                button type="submit" { (lang.t("create")) }
            }
        }
    }
}

pub async fn page(State(state): State<AppState>, Reader { lang, user }: Reader) -> Response {
    let list = keys::list(State(state), user.clone()).await;
    let body = list.map(|ApiJson(list)| listing(lang, &user, &list, None, None));
    render(lang, &user, "/account", lang.t("api_keys"), body)
}

/// Creates the key of the form and shows it once above the list.
pub async fn create(
    State(state): State<AppState>,
    Reader { lang, user }: Reader,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Response {
    let sent = |key| values(&fields, key).map(|v| v.trim().to_owned());
    if !user.csrf_matches(&sent("csrf").next().unwrap_or_default()) {
        return super::stale_form(lang, &user, "/account");
    }
    let expiry = sent("expires_in_days").next().filter(|d| !d.is_empty());
    // A number the browser let through but we cannot read is refused, never a key without expiry.
    let expires_in_days = match expiry.map(|d| d.parse::<u32>()) {
        None => None,
        Some(Ok(days)) => Some(days),
        Some(Err(_)) => Some(0),
    };
    let request =
        KeyRequest { name: sent("name").next().unwrap_or_default(), scopes: sent("scope").collect(), expires_in_days };
    let outcome = keys::create(State(state.clone()), user.clone(), ApiJson(request)).await;
    let list = keys::list(State(state), user.clone()).await;
    let body = list.map(|ApiJson(list)| match &outcome {
        Ok((_, ApiJson(created))) => listing(lang, &user, &list, Some(created), None),
        Err(refused) => listing(lang, &user, &list, None, Some(refused)),
    });
    render(lang, &user, "/account", lang.t("api_keys"), body)
}

pub async fn revoke(
    State(state): State<AppState>,
    Reader { lang, user }: Reader,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<CsrfForm>,
) -> Response {
    if !user.csrf_matches(&form.csrf) {
        return super::stale_form(lang, &user, "/account");
    }
    match keys::revoke(State(state), user.clone(), ApiPath(id)).await {
        Ok(_) => Redirect::to("/account/keys").into_response(),
        Err(err) => super::problem(lang, &user, "/account", &err),
    }
}
