//! The web console: server-rendered pages over the same store, auth and
//! visibility rules as the REST API, served by `hangar serve` at `/`. The
//! session is the API's cookie session (`/api/v1/auth/session`); forms that
//! change something carry its CSRF token. Assets are compiled in.

mod i18n;
mod layout;
mod login;
mod runs;

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;

use crate::auth::extract::PageUser;
use crate::error::ApiError;
use crate::state::AppState;

/// The console's routes, to merge beside the API.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", axum::routing::post(login::logout))
        .route("/lang", get(login::language))
        .route("/runs", get(runs::list))
        .route("/assets/console.css", get(stylesheet))
}

/// Signed in: the runs; otherwise the sign-in page.
async fn home(user: Result<PageUser, ApiError>) -> Redirect {
    match user {
        Ok(_) => Redirect::to("/runs"),
        Err(_) => Redirect::to("/login"),
    }
}

async fn stylesheet() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        include_str!("assets/console.css"),
    )
}

/// Where a page sends someone who is not signed in.
fn to_login(next: &str) -> Redirect {
    let safe = next.starts_with('/') && !next.starts_with("//");
    let next = if safe { next } else { "/" };
    Redirect::to(&format!("/login?next={}", percent_encode(next)))
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
}
