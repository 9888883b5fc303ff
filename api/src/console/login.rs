//! Signing in and out from the browser: a plain form, so it works without
//! scripts; the session is the API's cookie session.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::i18n::Lang;
use super::layout;
use super::local;
use crate::auth::extract::PageUser;
use crate::error::ApiError;
use crate::routes::auth::{LoginRequest, authenticate};
use crate::routes::session::{closing_cookie, cookie_header, open};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct Next {
    next: Option<String>,
    failed: Option<u8>,
}

fn page_for(lang: Lang, next: &str, failed: bool) -> Html<String> {
    let body = html! {
        section.card.narrow {
            h1 { (lang.t("sign_in")) }
            @if failed {
                p.error role="alert" { (lang.t("wrong_credentials")) }
            }
            form method="post" action="/login" {
                input type="hidden" name="next" value=(next);
                label for="email" { (lang.t("email")) }
                input #email type="email" name="email" autocomplete="username" required autofocus;
                label for="password" { (lang.t("password")) }
                input #password type="password" name="password" autocomplete="current-password" required;
                button type="submit" { (lang.t("sign_in")) }
            }
            p { a href="/register" { (lang.t("no_account")) } }
        }
    };
    Html(layout::page(lang, lang.t("sign_in"), None, "/login", body).into_string())
}

pub async fn form(headers: HeaderMap, Query(query): Query<Next>) -> Html<String> {
    page_for(Lang::of(&headers), &local(query.next.as_deref()), query.failed.is_some())
}

#[derive(Debug, Deserialize)]
pub struct SignIn {
    email: String,
    password: String,
    next: Option<String>,
}

/// Checks the form's credentials, sets the session cookie and goes on.
pub async fn submit(
    State(state): State<AppState>,
    client: crate::auth::extract::Anonymous,
    axum::Form(form): axum::Form<SignIn>,
) -> Response {
    let next = local(form.next.as_deref());
    let request = LoginRequest { email: form.email, password: form.password };
    let user = match authenticate(&state, &request, client).await {
        Ok(user) => user,
        Err(_) => {
            return Redirect::to(&format!("/login?failed=1&next={}", super::percent_encode(&next))).into_response();
        }
    };
    match open(&state, user) {
        Ok((cookie, _)) => ([(header::SET_COOKIE, cookie)], Redirect::to(&next)).into_response(),
        Err(err) => err.into_response(),
    }
}

#[derive(Debug, Deserialize)]
pub struct SignOut {
    csrf: String,
}

/// Ends the session; the form must carry the session's CSRF token, so that
/// another site cannot sign people out.
pub async fn logout(
    State(state): State<AppState>,
    user: Result<PageUser, ApiError>,
    axum::Form(form): axum::Form<SignOut>,
) -> Response {
    let Ok(PageUser(user)) = user else {
        return Redirect::to("/login").into_response();
    };
    if !user.csrf_matches(&form.csrf) {
        return ApiError::forbidden("the sign-out form is stale; reload the page and try again").into_response();
    }
    match closing_cookie(&state) {
        Ok(cookie) => ([(header::SET_COOKIE, cookie)], Redirect::to("/login")).into_response(),
        Err(err) => err.into_response(),
    }
}

#[derive(Debug, Deserialize)]
pub struct Switch {
    to: String,
    next: Option<String>,
}

/// Switches the language (a cookie for a year) and goes back.
pub async fn language(Query(switch): Query<Switch>) -> Response {
    let lang = if switch.to.starts_with("zh") { "zh" } else { "en" };
    let cookie = format!("hangar_lang={lang}; Path=/; SameSite=Lax; Max-Age=31536000");
    match cookie_header(&cookie) {
        Ok(cookie) => ([(header::SET_COOKIE, cookie)], Redirect::to(&local(switch.next.as_deref()))).into_response(),
        Err(err) => err.into_response(),
    }
}
