//! Two-factor sign-in in the console: the account's status, enrolment
//! (QR code drawn on the server, first code, recovery codes shown once),
//! turning it off; for administrators the required roles and resets.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{PreEscaped, html};
use serde::Deserialize;

use super::i18n::Lang;
use super::params::values;
use super::{CsrfForm, Reader, render};
use crate::auth::{CurrentUser, Role};
use crate::error::{ApiJson, ApiPath};
use crate::routes::two_factor::{self, CodeRequest, RequiredRoles};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct Shown {
    required: Option<u8>,
    failed: Option<u8>,
}

fn csrf(user: &CurrentUser) -> String {
    user.csrf.clone().unwrap_or_default()
}

/// The account's two-factor sign-in and what can be done with it.
pub async fn page(
    State(state): State<AppState>,
    Reader { lang, user }: Reader,
    Query(shown): Query<Shown>,
) -> Response {
    let status = two_factor::status(State(state), user.clone()).await;
    let body = status.map(|ApiJson(status)| {
        html! {
            h1 { (lang.t("two_factor")) }
            @if shown.required.is_some() && !status.enabled { p.error role="alert" { (lang.t("two_factor_required")) } }
            @if shown.failed.is_some() { p.error role="alert" { (lang.t("wrong_code")) } }
            section.card.narrow {
                @if status.enabled {
                    p #two-factor-status { (lang.t("two_factor_on")) }
                    p { (lang.t("recovery_left")) ": " (status.recovery_codes_left) }
                    @if !status.required {
                        form.stack method="post" action="/account/two-factor/remove" {
                            input type="hidden" name="csrf" value=(csrf(&user));
                            label for="code" { (lang.t("code")) }
                            input #code type="text" name="code" autocomplete="one-time-code" required;
                            button type="submit" { (lang.t("turn_off")) }
                        }
                    }
                } @else {
                    p #two-factor-status { (lang.t("two_factor_off")) }
                    form method="post" action="/account/two-factor" {
                        input type="hidden" name="csrf" value=(csrf(&user));
                        button #set-up type="submit" { (lang.t("set_up")) }
                    }
                }
            }
        }
    });
    render(lang, &user, "/account", lang.t("two_factor"), body)
}

/// Starts an enrolment: the QR code, the secret and the form for the first code.
pub async fn start(
    State(state): State<AppState>,
    Reader { lang, user }: Reader,
    axum::Form(form): axum::Form<CsrfForm>,
) -> Response {
    if !user.csrf_matches(&form.csrf) {
        return super::stale_form(lang, &user, "/account");
    }
    let enrolment = two_factor::enrol(State(state), user.clone()).await;
    let body = enrolment.map(|(_, ApiJson(enrolment))| {
        html! {
            h1 { (lang.t("two_factor")) }
            section.card.narrow {
                p { (lang.t("scan_code")) }
                // Drawn by the server from our own URI: no user text inside.
                div.qr { (PreEscaped(enrolment.qr_svg)) }
                p { (lang.t("secret")) ": " code #totp-secret { (enrolment.secret) } }
                form.stack method="post" action="/account/two-factor/confirm" {
                    input type="hidden" name="csrf" value=(csrf(&user));
                    label for="code" { (lang.t("code")) }
                    input #code type="text" name="code" autocomplete="one-time-code" inputmode="numeric" required autofocus;
                    button type="submit" { (lang.t("confirm")) }
                }
            }
        }
    });
    render(lang, &user, "/account", lang.t("two_factor"), body)
}

#[derive(Debug, Deserialize)]
pub struct CodeForm {
    csrf: String,
    code: String,
}

/// Confirms the enrolment and shows the recovery codes, once.
pub async fn confirm(
    State(state): State<AppState>,
    Reader { lang, user }: Reader,
    axum::Form(form): axum::Form<CodeForm>,
) -> Response {
    if !user.csrf_matches(&form.csrf) {
        return super::stale_form(lang, &user, "/account");
    }
    match two_factor::confirm(State(state), user.clone(), ApiJson(CodeRequest { code: form.code })).await {
        Ok(ApiJson(codes)) => {
            let body = html! {
                h1 { (lang.t("two_factor")) }
                section.card.narrow {
                    p #two-factor-status { (lang.t("two_factor_on")) }
                    h2 { (lang.t("recovery_codes")) }
                    p { (lang.t("recovery_note")) }
                    ul #recovery-codes { @for code in &codes.recovery_codes { li { code { (code) } } } }
                    p { a href="/runs" { "→ Hangar" } }
                }
            };
            render(lang, &user, "/account", lang.t("two_factor"), Ok(body))
        }
        Err(_) => Redirect::to("/account/two-factor?failed=1").into_response(),
    }
}

/// Turns two-factor sign-in off with a current code.
pub async fn remove(
    State(state): State<AppState>,
    Reader { lang, user }: Reader,
    axum::Form(form): axum::Form<CodeForm>,
) -> Response {
    if !user.csrf_matches(&form.csrf) {
        return super::stale_form(lang, &user, "/account");
    }
    match two_factor::remove(State(state), user.clone(), ApiJson(CodeRequest { code: form.code })).await {
        Ok(_) => Redirect::to("/account/two-factor").into_response(),
        Err(err) if err.status.is_client_error() && err.status.as_u16() == 422 => {
            Redirect::to("/account/two-factor?failed=1").into_response()
        }
        Err(err) => super::problem(lang, &user, "/account", &err),
    }
}

/// The administrators' form: which roles must use two-factor sign-in.
pub fn required_roles_form(lang: Lang, user: &CurrentUser, required: &[String]) -> maud::Markup {
    html! {
        form.inline-form #required-roles method="post" action="/admin/two-factor" {
            input type="hidden" name="csrf" value=(csrf(user));
            span { (lang.t("required_roles")) ": " }
            @for role in ["admin", "user"] {
                label for={ "require-" (role) } { (role) }
                input id={ "require-" (role) } type="checkbox" name="role" value=(role) checked[required.iter().any(|r| r == role)];
            }
            button type="submit" { (lang.t("save")) }
        }
    }
}

/// Sets the roles that must use two-factor sign-in.
pub async fn set_required(
    State(state): State<AppState>,
    Reader { lang, user }: Reader,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Response {
    if !user.csrf_matches(values(&fields, "csrf").next().unwrap_or_default()) {
        return super::stale_form(lang, &user, "/admin/users");
    }
    let required_roles: Vec<Role> = values(&fields, "role").filter_map(Role::parse).collect();
    match two_factor::set_required_roles(State(state), user.clone(), ApiJson(RequiredRoles { required_roles })).await {
        Ok(_) => Redirect::to("/admin/users").into_response(),
        Err(err) => super::problem(lang, &user, "/admin/users", &err),
    }
}

/// Resets an account's two-factor sign-in.
pub async fn reset(
    State(state): State<AppState>,
    Reader { lang, user }: Reader,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<CsrfForm>,
) -> Response {
    if !user.csrf_matches(&form.csrf) {
        return super::stale_form(lang, &user, "/admin/users");
    }
    match two_factor::reset(State(state), user.clone(), ApiPath(id)).await {
        Ok(_) => Redirect::to("/admin/users").into_response(),
        Err(err) => super::problem(lang, &user, "/admin/users", &err),
    }
}
