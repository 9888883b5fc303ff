//! The web console: server-rendered pages over the same store, auth and
//! visibility rules as the REST API, served by `hangar serve` at `/`. The
//! session is the API's cookie session (`/api/v1/auth/session`); forms that
//! change something carry its CSRF token. Assets are compiled in.

mod account;
mod audit;
mod chart;
mod dag;
mod data;
mod evaluations;
mod i18n;
mod keys;
mod layout;
mod login;
mod markdown;
mod models;
mod params;
mod pipelines;
mod recent;
mod run;
mod runs;
mod schedules;
mod training;
mod two_factor;
mod webhooks;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::auth::CurrentUser;
use crate::auth::extract::PageUser;
use crate::error::ApiError;
use crate::state::AppState;

/// The console's routes, to merge beside the API.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login::form).post(login::submit))
        .route("/login/two-factor", axum::routing::post(login::submit_code))
        .route("/account/two-factor", get(two_factor::page).post(two_factor::start))
        .route("/account/two-factor/confirm", axum::routing::post(two_factor::confirm))
        .route("/account/two-factor/remove", axum::routing::post(two_factor::remove))
        .route("/account/keys", get(keys::page).post(keys::create))
        .route("/account/keys/{id}/revoke", axum::routing::post(keys::revoke))
        .route("/account/webhooks", get(webhooks::page).post(webhooks::create))
        .route("/account/webhooks/{id}/delete", axum::routing::post(webhooks::delete))
        .route("/admin/audit", get(audit::page))
        .route("/admin/two-factor", axum::routing::post(two_factor::set_required))
        .route("/admin/webhook-hosts", axum::routing::post(webhooks::set_allowed_hosts))
        .route("/admin/users/{id}/two-factor/reset", axum::routing::post(two_factor::reset))
        .route("/logout", axum::routing::post(login::logout))
        .route("/lang", get(login::language))
        .route("/pipelines", get(pipelines::list))
        .route("/pipelines/new", get(pipelines::new_form))
        .route("/pipelines/save", axum::routing::post(pipelines::save))
        .route("/pipelines/{name}", get(pipelines::show))
        .route("/pipelines/{name}/edit", get(pipelines::edit_form))
        .route("/pipelines/{name}/run", axum::routing::post(pipelines::start_run))
        .route("/pipelines/{name}/schedules", axum::routing::post(schedules::add))
        .route("/pipelines/{name}/schedules/{id}/delete", axum::routing::post(schedules::delete))
        .route("/pipelines/{name}/schedules/{id}/enabled", axum::routing::post(schedules::set_enabled))
        .route("/data", get(data::overview))
        .route("/runs/{id}/tasks/{task}/view/{output}", get(data::view))
        .route("/runs/{id}/tasks/{task}/training", get(training::show))
        .route("/runs/{id}/tasks/{task}/training/live", get(training::live))
        .route("/runs/{id}/tasks/{task}/report", get(evaluations::report))
        .route("/training", get(training::list))
        .route("/evaluations", get(evaluations::list))
        .route("/evaluations/compare", get(evaluations::compare))
        .route("/models", get(models::list))
        .route("/models/{name}", get(models::show))
        .route("/models/{name}/promote", axum::routing::post(models::promote))
        .route("/models/{name}/rollback", axum::routing::post(models::roll_back))
        .route("/models/{name}/versions/{version}/delete", axum::routing::post(models::delete_version))
        .route("/models/{name}/aliases/{alias}/delete", axum::routing::post(models::delete_alias))
        .route("/models/{name}/playground", get(models::playground))
        .route("/register", get(account::register_form).post(account::register))
        .route("/account", get(account::profile).post(account::save_profile))
        .route("/admin/users", get(account::users_page))
        .route("/admin/users/{id}", axum::routing::post(account::update_account))
        .route("/runs", get(runs::list))
        .route("/runs/{id}", get(run::show))
        .route("/runs/{id}/live", get(run::live))
        .route("/assets/console.css", get(stylesheet))
        .route("/assets/console.js", get(script))
        // The API's policy allows nothing; pages need their own stylesheet,
        // script and event stream, and nothing from anywhere else.
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data:; \
                 form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            ),
        ))
}

/// Signed in: the runs; otherwise the sign-in page.
async fn home(user: Result<PageUser, ApiError>) -> Redirect {
    match user {
        Ok(_) => Redirect::to("/runs"),
        Err(_) => Redirect::to("/login"),
    }
}

async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")],
        include_str!("assets/console.js"),
    )
}

async fn stylesheet() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        include_str!("assets/console.css"),
    )
}

/// The signed-in reader of a page and their language. Anyone else is sent
/// to the sign-in form, and back to the page afterwards.
pub struct Reader {
    pub lang: i18n::Lang,
    pub user: CurrentUser,
}

impl axum::extract::FromRequestParts<AppState> for Reader {
    type Rejection = Redirect;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &AppState) -> Result<Self, Redirect> {
        let lang = i18n::Lang::of(&parts.headers);
        match PageUser::from_request_parts(parts, state).await {
            Ok(PageUser(user)) => Ok(Self { lang, user }),
            Err(err) if err.code == crate::auth::extract::ENROLMENT_REQUIRED => {
                Err(Redirect::to("/account/two-factor?required=1"))
            }
            Err(_) => Err(to_login(&parts.uri.to_string())),
        }
    }
}

/// A page of section `current`, or the error page when building it failed.
fn render(
    lang: i18n::Lang,
    user: &CurrentUser,
    current: &str,
    title: &str,
    body: Result<maud::Markup, ApiError>,
) -> Response {
    match body {
        Ok(body) => Html(layout::page(lang, title, Some(user), current, body).into_string()).into_response(),
        Err(err) => problem(lang, user, current, &err),
    }
}

/// A page that says what went wrong, with the error's status (a missing
/// and a foreign run read the same).
fn problem(lang: i18n::Lang, user: &CurrentUser, current: &str, err: &ApiError) -> Response {
    let body = maud::html! { section.card {
        h1 { (err.status.as_u16()) }
        p { (err.console_message()) }
        @if let Some((path, label)) = err.console.as_ref().and_then(|hint| hint.link.as_ref()) {
            p { a href=(path) { (label) } }
        }
    } };
    (err.status, Html(layout::page(lang, "Hangar", Some(user), current, body).into_string())).into_response()
}

/// A form whose CSRF token is not this session's: refused, nothing done.
fn stale_form(lang: i18n::Lang, user: &CurrentUser, current: &str) -> Response {
    problem(lang, user, current, &ApiError::forbidden(lang.t("stale_form")))
}

/// A form that sends nothing but the session's CSRF token (its action says
/// what to do).
#[derive(Debug, serde::Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

/// Where a page sends someone who is not signed in.
fn to_login(next: &str) -> Redirect {
    Redirect::to(&format!("/login?next={}", percent_encode(&local(Some(next)))))
}

/// A path on this site to go to next (anything else, another site included, goes home).
fn local(next: Option<&str>) -> String {
    next.and_then(same_origin_path).unwrap_or_else(|| "/".to_owned())
}

/// `next` as a path on this site, judged as a browser would read it (the
/// WHATWG URL parser): `//host`, `/\host`, control characters and their
/// encoded forms all lead elsewhere or nowhere, and are refused.
fn same_origin_path(next: &str) -> Option<String> {
    const BASE: &str = "http://hangar.invalid/";
    let suspicious = |text: &str| {
        text.chars().any(|c| c.is_control() || c == '\\')
            || text.starts_with("//")
            || text.to_ascii_lowercase().contains("%5c")
            || text.to_ascii_lowercase().starts_with("/%2f")
    };
    if !next.starts_with('/') || suspicious(next) {
        return None;
    }
    let base = url::Url::parse(BASE).ok()?;
    let joined = base.join(next).ok()?;
    if joined.origin() != base.origin() {
        return None;
    }
    let mut path = joined.path().to_owned();
    if suspicious(&path) {
        return None;
    }
    if let Some(query) = joined.query() {
        path.push('?');
        path.push_str(query);
    }
    Some(path)
}

/// Percent-encodes everything but unreserved characters and `/`.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_survive_as_the_next_page() {
        let location = |r: Redirect| r.into_response().headers()[header::LOCATION].to_str().unwrap_or("").to_owned();
        assert_eq!(location(to_login("/runs?status=failed")), "/login?next=/runs%3Fstatus%3Dfailed");
        assert_eq!(location(to_login("//evil.example/x")), "/login?next=/");
        assert_eq!(location(to_login("https://evil.example")), "/login?next=/");
    }

    #[test]
    fn every_spelling_of_another_site_goes_home() {
        for next in [
            "//evil.example/",
            "/\\evil.example/",
            "/\\/evil.example/",
            "\\\\evil.example",
            "/%5Cevil.example/",
            "/%5cevil.example/",
            "/%2F/evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\n//evil.example",
            "/\u{0}/evil.example",
            "https://evil.example/",
            "javascript:alert(1)",
            " /\\evil.example",
            "",
        ] {
            assert_eq!(local(Some(next)), "/", "{next:?}");
        }
        assert_eq!(local(Some("/runs/r1?tab=logs")), "/runs/r1?tab=logs");
        assert_eq!(local(Some("/runs/../pipelines")), "/pipelines");
        assert_eq!(local(None), "/");
    }
}
