//! Accounts in the console: registering (when the server allows it), the
//! reader's profile, and for administrators every account with its role.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::i18n::Lang;
use super::layout::head;
use super::layout::{self, moment};
use super::{Reader, render};
use crate::auth::Role;
use crate::error::{ApiError, ApiJson, ApiPath};
use crate::routes::auth::{RegisterRequest, register_account};
use crate::routes::session::open;
use crate::routes::users::{self, AccountUpdate, ProfileUpdate};
use crate::state::AppState;

fn register_page(lang: Lang, error: Option<&str>, status: StatusCode) -> Response {
    let body = html! {
        section.card.narrow {
            h1 { (lang.t("register")) }
            @if let Some(error) = error { p.error role="alert" { (error) } }
            form method="post" action="/register" {
                label for="email" { (lang.t("email")) }
                input #email type="email" name="email" autocomplete="username" required autofocus;
                label for="password" { (lang.t("password")) " " span.muted.small { (lang.t("password_policy")) } }
                input #password type="password" name="password" autocomplete="new-password" minlength="12" required;
                label for="name" { (lang.t("name")) }
                input #name type="text" name="name" autocomplete="name";
                label for="organization" { (lang.t("organization")) }
                input #organization type="text" name="organization" autocomplete="organization";
                button type="submit" { (lang.t("register")) }
            }
            p { a href="/login" { (lang.t("have_account")) } }
        }
    };
    (status, Html(layout::page(lang, lang.t("register"), None, "/register", body).into_string())).into_response()
}

pub async fn register_form(headers: HeaderMap) -> Response {
    register_page(Lang::of(&headers), None, StatusCode::OK)
}

#[derive(Debug, Deserialize)]
pub struct Registration {
    email: String,
    password: String,
    name: Option<String>,
    organization: Option<String>,
}

/// Creates the account and signs it in; a refusal comes back on the form.
pub async fn register(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<Registration>,
) -> Response {
    let lang = Lang::of(&headers);
    let request = RegisterRequest {
        email: form.email,
        password: form.password,
        name: form.name,
        organization: form.organization,
        position: None,
    };
    let user = match register_account(&state, request).await {
        Ok(user) => user,
        Err(err) => return register_page(lang, Some(err.console_message()), err.status),
    };
    match open(&state, user) {
        Ok((cookie, _)) => ([(header::SET_COOKIE, cookie)], Redirect::to("/data")).into_response(),
        Err(err) => err.into_response(),
    }
}

#[derive(Debug, Deserialize)]
pub struct Saved {
    saved: Option<u8>,
}

pub async fn profile(
    State(state): State<AppState>,
    Reader { lang, user }: Reader,
    Query(saved): Query<Saved>,
) -> Response {
    let me = users::me(State(state), user.clone()).await;
    let body = me.map(|ApiJson(me)| {
        html! {
            h1 { (lang.t("profile")) }
            @if saved.saved.is_some() { p.ok role="status" { (lang.t("saved")) } }
            div.columns {
                section.card {
                    h2 { (me.email) }
                    dl.figures {
                        div { dt { (lang.t("role")) } dd { (me.role) } }
                        div { dt { (lang.t("created")) } dd { (moment(me.created_at)) } }
                    }
                    p { (lang.t("permissions")) ": " @for p in &me.permissions { span.tag { (p) } " " } }
                    p { a #two-factor-link href="/account/two-factor" { (lang.t("two_factor")) } " · "
                        a #keys-link href="/account/keys" { (lang.t("api_keys")) } " · "
                        a #webhooks-link href="/account/webhooks" { (lang.t("webhooks")) } }
                }
                section.card {
                    form.stack method="post" action="/account" {
                        input type="hidden" name="csrf" value=(user.csrf.clone().unwrap_or_default());
                        label for="name" { (lang.t("name")) }
                        input #name type="text" name="name" value=(me.name.unwrap_or_default()) maxlength="200";
                        label for="organization" { (lang.t("organization")) }
                        input #organization type="text" name="organization" value=(me.organization.unwrap_or_default()) maxlength="200";
                        label for="position" { (lang.t("position")) }
                        input #position type="text" name="position" value=(me.position.unwrap_or_default()) maxlength="200";
                        button type="submit" { (lang.t("save")) }
                    }
                }
            }
        }
    });
    render(lang, &user, "/account", lang.t("profile"), body)
}

#[derive(Debug, Deserialize)]
pub struct ProfileForm {
    csrf: String,
    name: Option<String>,
    organization: Option<String>,
    position: Option<String>,
}

pub async fn save_profile(
    State(state): State<AppState>,
    Reader { lang, user }: Reader,
    axum::Form(form): axum::Form<ProfileForm>,
) -> Response {
    if !user.csrf_matches(&form.csrf) {
        return super::stale_form(lang, &user, "/account");
    }
    let update = ProfileUpdate { name: form.name, organization: form.organization, position: form.position };
    match users::update_me(State(state), user.clone(), ApiJson(update)).await {
        Ok(_) => Redirect::to("/account?saved=1").into_response(),
        Err(err) => super::problem(lang, &user, "/account", &err),
    }
}

/// Every account with a form to change its role or disable it; only for
/// holders of `user:manage`, a 403 page for anyone else.
pub async fn users_page(State(state): State<AppState>, Reader { lang, user }: Reader) -> Response {
    let csrf = user.csrf.clone().unwrap_or_default();
    let listed = users::list(State(state.clone()), user.clone()).await;
    let required = state.accounts.two_factor_roles().await.unwrap_or_default();
    let with_two_factor = state.accounts.accounts_with_two_factor().await.unwrap_or_default();
    let webhook_hosts = if user.role.has(crate::auth::Permission::SystemAdmin) {
        Some(state.accounts.webhook_hosts().await.unwrap_or_default())
    } else {
        None
    };
    let body = listed.map(|ApiJson(list)| {
        html! {
            h1 { (lang.t("users")) }
            (super::two_factor::required_roles_form(lang, &user, &required))
            @if let Some(hosts) = &webhook_hosts { (super::webhooks::allowed_hosts_form(lang, &user, hosts)) }
            table.runs.users {
                (head(lang, &["email", "name", "created", "role"]))
                tbody {
                    @for account in &list.users {
                        tr {
                            td { (account.email) }
                            td { (account.name.clone().unwrap_or_default()) " " span.muted { (account.organization.clone().unwrap_or_default()) } }
                            td { (moment(account.created_at)) }
                            td {
                                form.inline-form method="post" action={ "/admin/users/" (account.id) } {
                                    input type="hidden" name="csrf" value=(csrf);
                                    label.visually-hidden for={ "role-" (account.id) } { (lang.t("role")) }
                                    select id={ "role-" (account.id) } name="role" {
                                        @for role in ["user", "admin"] { option value=(role) selected[account.role == role] { (role) } }
                                    }
                                    label for={ "disabled-" (account.id) } { (lang.t("disabled")) }
                                    input id={ "disabled-" (account.id) } type="checkbox" name="disabled" value="true" checked[account.disabled];
                                    button type="submit" { (lang.t("save")) }
                                }
                                @if with_two_factor.contains(&account.id) {
                                    form.inline method="post" action={ "/admin/users/" (account.id) "/two-factor/reset" } {
                                        input type="hidden" name="csrf" value=(csrf);
                                        button type="submit" { (lang.t("reset_two_factor")) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    });
    render(lang, &user, "/admin/users", lang.t("users"), body)
}

#[derive(Debug, Deserialize)]
pub struct AccountForm {
    csrf: String,
    role: String,
    disabled: Option<String>,
}

pub async fn update_account(
    State(state): State<AppState>,
    Reader { lang, user }: Reader,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<AccountForm>,
) -> Response {
    if !user.csrf_matches(&form.csrf) {
        return super::stale_form(lang, &user, "/admin/users");
    }
    let Some(role) = Role::parse(&form.role) else {
        return super::problem(lang, &user, "/admin/users", &ApiError::invalid("choose the role user or admin"));
    };
    let update = AccountUpdate { role: Some(role), disabled: Some(form.disabled.as_deref() == Some("true")) };
    match users::update(State(state), user.clone(), ApiPath(id), ApiJson(update)).await {
        Ok(_) => Redirect::to("/admin/users").into_response(),
        Err(err) => super::problem(lang, &user, "/admin/users", &err),
    }
}
