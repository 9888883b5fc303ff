//! Browser sessions for the web console: sign in to an HttpOnly cookie,
//! read the session's CSRF token, sign out.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hangar_accounts::UserRecord;
use hangar_engine::clock::now_ms;
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::{LoginRequest, sign_in};
use crate::auth::extract::Anonymous;
use crate::auth::session::{clear_cookie, set_cookie};
use crate::auth::{CurrentUser, Role};
use crate::error::{ApiError, ApiJson, ApiResult};
use crate::state::AppState;

/// A browser session.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    pub user_id: String,
    pub email: String,
    pub role: String,
    /// Send as the `X-CSRF-Token` header with every request that changes
    /// something while signed in by the cookie.
    pub csrf_token: String,
}

/// `value` as a header value (cookies we build are always valid ones).
pub(crate) fn cookie_header(value: &str) -> ApiResult<HeaderValue> {
    HeaderValue::from_str(value).map_err(|e| ApiError::internal("a cookie is not a valid header", &e))
}

/// A new browser session for `user`: the `Set-Cookie` value and what to tell the browser.
///
/// # Errors
/// 500 if the stored role is unknown.
pub(crate) fn open(state: &AppState, user: UserRecord) -> ApiResult<(HeaderValue, SessionView)> {
    let role =
        Role::parse(&user.role).ok_or_else(|| ApiError::internal("the account has an unknown role", &user.role))?;
    let lifetime = state.config.session_ttl;
    let token = state.tokens.issue_for(&user.id, &user.email, role, now_ms() / 1000, lifetime);
    let cookie = cookie_header(&set_cookie(&token, lifetime.as_secs(), state.config.secure_cookies))?;
    tracing::info!(user = %user.id, "Signed in to a browser session.");
    let view = SessionView {
        user_id: user.id,
        email: user.email,
        role: role.as_str().to_owned(),
        csrf_token: state.tokens.csrf_for(&token).to_hex().to_string(),
    };
    Ok((cookie, view))
}

/// The `Set-Cookie` value that ends the browser session.
pub(crate) fn closing_cookie(state: &AppState) -> ApiResult<HeaderValue> {
    cookie_header(&clear_cookie(state.config.secure_cookies))
}

/// Signs in to a session cookie (HttpOnly, SameSite=Lax) for the console.
#[utoipa::path(post, path = "/auth/session", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = SessionView), (status = 401, body = crate::error::ErrorBody)))]
pub async fn start(
    State(state): State<AppState>,
    client: Anonymous,
    ApiJson(request): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    let user = sign_in(&state, &request, client).await?;
    let (cookie, view) = open(&state, user)?;
    Ok(([(header::SET_COOKIE, cookie)], ApiJson(view)).into_response())
}

/// The current session and its CSRF token.
#[utoipa::path(get, path = "/auth/session", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = SessionView), (status = 401, body = crate::error::ErrorBody)))]
pub async fn current(user: CurrentUser) -> ApiResult<ApiJson<SessionView>> {
    let csrf_token = user.csrf.clone().ok_or_else(|| {
        ApiError::bad_request("this request has no session cookie; sign in with POST /api/v1/auth/session")
    })?;
    Ok(ApiJson(SessionView { user_id: user.id, email: user.email, role: user.role.as_str().to_owned(), csrf_token }))
}

/// Ends the browser session (clears the cookie).
#[utoipa::path(delete, path = "/auth/session", tag = "auth", responses((status = 204)))]
pub async fn end(
    State(state): State<AppState>,
    _: Anonymous,
    user: Result<CurrentUser, ApiError>,
) -> ApiResult<Response> {
    let cookie = closing_cookie(&state)?;
    if let Ok(user) = user {
        state.audit_signed_out(&user).await;
    }
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}
