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
use crate::audit::Actor;
use crate::auth::extract::PageUser;
use crate::error::ApiError;
use crate::routes::auth::{LoginRequest, authenticate, second_factor, signed_in};
use crate::routes::session::{closing_cookie, cookie_header, open};
use crate::state::AppState;
use hangar_accounts::Outcome;
use hangar_engine::clock::now_ms;

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

/// The second step of a two-factor sign-in: the code, with the signed
/// challenge that stands for the password already checked.
fn code_page(lang: Lang, challenge: &str, next: &str, failed: Option<&str>) -> Html<String> {
    let body = html! {
        section.card.narrow {
            h1 { (lang.t("two_factor")) }
            @if let Some(failed) = failed {
                p.error role="alert" { (failed) }
            }
            p { (lang.t("enter_code")) }
            form method="post" action="/login/two-factor" {
                input type="hidden" name="challenge" value=(challenge);
                input type="hidden" name="next" value=(next);
                label for="code" { (lang.t("code")) }
                input #code type="text" name="code" autocomplete="one-time-code" inputmode="numeric" required autofocus;
                button type="submit" { (lang.t("sign_in")) }
            }
        }
    };
    Html(layout::page(lang, lang.t("two_factor"), None, "/login", body).into_string())
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

/// Checks the form's credentials; then asks for the second factor where the
/// account has one, else sets the session cookie and goes on.
pub async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    client: crate::auth::extract::Anonymous,
    axum::Form(form): axum::Form<SignIn>,
) -> Response {
    let next = local(form.next.as_deref());
    let request = LoginRequest { email: form.email, password: form.password, code: None };
    let user = match authenticate(&state, &request, client).await {
        Ok(user) => user,
        Err(_) => {
            return Redirect::to(&format!("/login?failed=1&next={}", super::percent_encode(&next))).into_response();
        }
    };
    match state.accounts.has_two_factor(&user.id).await {
        Ok(false) => {}
        Ok(true) => {
            let challenge = state.tokens.challenge_for(&user.id, now_ms() / 1000);
            return code_page(Lang::of(&headers), &challenge, &next, None).into_response();
        }
        Err(err) => return ApiError::from(err).into_response(),
    }
    open_session(&state, user, &next, client).await
}

/// Ends the sign-in (counts cleared, recorded) and opens the session.
async fn open_session(
    state: &AppState,
    user: hangar_accounts::UserRecord,
    next: &str,
    client: crate::auth::extract::Anonymous,
) -> Response {
    signed_in(state, &user, client).await;
    match open(state, user) {
        Ok((cookie, _)) => ([(header::SET_COOKIE, cookie)], Redirect::to(next)).into_response(),
        Err(err) => err.into_response(),
    }
}

#[derive(Debug, Deserialize)]
pub struct SecondStep {
    challenge: String,
    code: String,
    next: Option<String>,
}

/// Checks the code of a two-factor sign-in whose password was right.
pub async fn submit_code(
    State(state): State<AppState>,
    headers: HeaderMap,
    client: crate::auth::extract::Anonymous,
    axum::Form(form): axum::Form<SecondStep>,
) -> Response {
    let lang = Lang::of(&headers);
    let next = local(form.next.as_deref());
    let again = || Redirect::to(&format!("/login?failed=1&next={}", super::percent_encode(&next))).into_response();
    let Some(user_id) = state.tokens.challenge_user(&form.challenge, now_ms() / 1000) else {
        let reason = "the second-factor page was stale or forged";
        state.audit(Actor::Anonymous(None), "auth.sign_in", None, Outcome::Refused, Some(reason)).await;
        return again();
    };
    let user = match state.accounts.user(&user_id).await {
        Ok(Some(user)) if !user.disabled => user,
        Ok(_) => return again(),
        Err(err) => return ApiError::from(err).into_response(),
    };
    match second_factor(&state, &user, &form.code, client).await {
        Ok(()) => open_session(&state, user, &next, client).await,
        Err(err) => {
            let mut page = code_page(lang, &form.challenge, &next, Some(err.console_message())).into_response();
            *page.status_mut() = err.status;
            page
        }
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
    state.audit_signed_out(&user).await;
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
