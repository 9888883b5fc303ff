//! The signed-in user of a request, from `Authorization: Bearer` or the
//! console's session cookie (with its CSRF check), with the per-user rate
//! limit applied on the way in.

use axum::extract::{ConnectInfo, FromRequestParts, OriginalUri};
use axum::http::header;
use axum::http::request::Parts;
use hangar_accounts::keys::KEY_PREFIX;
use hangar_engine::clock::now_ms;

use super::roles::{Permission, Role};
use super::scopes;
use super::session::{CSRF_HEADER, cookie_token, is_safe};
use crate::audit::Actor;
use crate::error::ApiError;
use crate::state::AppState;
use hangar_accounts::Outcome;

/// Who is asking.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub id: String,
    pub email: String,
    pub role: Role,
    /// The CSRF token of the session, when the request came with the
    /// session cookie rather than a bearer token.
    pub csrf: Option<String>,
    /// The API key the request came with, if it came with one.
    pub key: Option<KeyUse>,
    /// When the request's access token or session was issued (seconds);
    /// none for a key.
    pub issued_at: Option<i64>,
}

/// The API key behind a request.
#[derive(Debug, Clone)]
pub struct KeyUse {
    pub id: String,
    pub scopes: Vec<String>,
}

impl CurrentUser {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Refuses unless the role grants `permission`.
    ///
    /// # Errors
    /// 403 naming the missing permission.
    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        if self.role.has(permission) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "this needs the {} permission, which the {} role does not have; ask an administrator",
                permission.as_str(),
                self.role.as_str()
            )))
        }
    }

    /// From when this request's own sign-in counts (seconds): sessions issued
    /// earlier end when the account's sign-in changes, this one stays.
    pub fn session_start(&self) -> i64 {
        self.issued_at.unwrap_or_else(|| now_ms() / 1000)
    }

    /// Whether the user may see something owned by `owner` (admins see everything).
    pub fn can_see(&self, owner: Option<&str>) -> bool {
        self.is_admin() || owner == Some(self.id.as_str())
    }

    /// Whether `sent` is this session's CSRF token (compared in constant time).
    pub fn csrf_matches(&self, sent: &str) -> bool {
        match (self.csrf.as_deref().map(blake3::Hash::from_hex), blake3::Hash::from_hex(sent.trim())) {
            (Some(Ok(expected)), Ok(sent)) => expected == sent,
            _ => false,
        }
    }

    /// The owner filter for listings: none for admins, themselves for users.
    pub fn owner_filter(&self) -> Option<String> {
        (!self.is_admin()).then(|| self.id.clone())
    }
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        identify(parts, state, true).await
    }
}

/// The signed-in user of a console page or form. Forms cannot send headers,
/// so the CSRF check is left to the handler, which compares the form's
/// `csrf` field with [`CurrentUser::csrf`] before changing anything.
#[derive(Debug, Clone)]
pub struct PageUser(pub CurrentUser);

impl FromRequestParts<AppState> for PageUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        identify(parts, state, false).await.map(PageUser)
    }
}

async fn identify(parts: &Parts, state: &AppState, check_csrf: bool) -> Result<CurrentUser, ApiError> {
    let (token, by_cookie) = match parts.headers.get(header::AUTHORIZATION) {
        Some(value) => (bearer(value)?, false),
        None => (
            cookie_token(&parts.headers).ok_or_else(|| {
                ApiError::unauthorized(
                    "sign in first: send `Authorization: Bearer TOKEN` with a token from POST /api/v1/auth/login \
                     or an API key, or sign in on the console",
                )
            })?,
            true,
        ),
    };
    let path = parts.extensions.get::<OriginalUri>().map_or_else(|| parts.uri.path(), |OriginalUri(uri)| uri.path());
    if token.starts_with(KEY_PREFIX) && !by_cookie {
        return identify_key(parts, state, token, path).await;
    }
    let claims = state.tokens.verify(token).map_err(|e| ApiError::unauthorized(e.to_string()))?;
    let csrf = by_cookie.then(|| state.tokens.csrf_for(token));
    if let Some(expected) = &csrf
        && check_csrf
        && !is_safe(&parts.method)
    {
        let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).map(blake3::Hash::from_hex);
        // blake3's Hash compares in constant time.
        if !matches!(sent, Some(Ok(hash)) if hash == *expected) {
            return Err(ApiError::forbidden(
                "a request signed in by the session cookie must carry the session's CSRF token in the \
                 X-CSRF-Token header; reload the console page, or get it from GET /api/v1/auth/session",
            ));
        }
    }
    if let Some(limiter) = &state.limiter {
        limiter.check(&format!("user:{}", claims.sub)).map_err(ApiError::rate_limited)?;
    }
    // The account as it is now, not as the token remembers it: disabling,
    // deleting or demoting an account takes effect on its next request.
    let account = current_account(state, &claims.sub).await?;
    if claims.iat < account.sessions_valid_after {
        return Err(ApiError::unauthorized(
            "this sign-in ended when the account's two-factor sign-in changed; sign in again",
        ));
    }
    check_enrolment(state, &account, path).await?;
    Ok(CurrentUser {
        id: account.id,
        email: account.email,
        role: account.role,
        csrf: csrf.map(|hash| hash.to_hex().to_string()),
        key: None,
        issued_at: Some(claims.iat),
    })
}

/// A request made with an API key: live, of an enabled owner, and with the
/// scope this part of the API needs.
async fn identify_key(parts: &Parts, state: &AppState, secret: &str, path: &str) -> Result<CurrentUser, ApiError> {
    let key = state.accounts.use_key(secret, now_ms()).await?.ok_or_else(|| {
        ApiError::unauthorized(
            "this API key is unknown, revoked or expired; create a new one on the console's account page or \
             with POST /api/v1/keys",
        )
    })?;
    if let Some(limiter) = &state.limiter {
        limiter.check(&format!("user:{}", key.user_id)).map_err(ApiError::rate_limited)?;
    }
    let account = current_account(state, &key.user_id).await?;
    check_enrolment(state, &account, path).await?;
    let Some(needed) = scopes::required(&parts.method, path) else {
        return Err(ApiError::forbidden(
            "API keys cannot do this (keys, sign-in and two-factor settings need the person): sign in instead",
        ));
    };
    if !key.scopes.iter().any(|scope| scope == needed.as_str()) {
        let actor = Actor::Account { id: &account.id, email: &account.email };
        let reason = format!("the key {} lacks the {} scope", key.id, needed.as_str());
        state.audit(actor, "key.use", Some(path), Outcome::Refused, Some(&reason)).await;
        return Err(ApiError::forbidden(format!(
            "this API key lacks the {} scope; create a key with it",
            needed.as_str()
        )));
    }
    Ok(CurrentUser {
        id: account.id,
        email: account.email,
        role: account.role,
        csrf: None,
        key: Some(KeyUse { id: key.id, scopes: key.scopes }),
        issued_at: None,
    })
}

/// Paths an account that must enrol in two-factor sign-in may still reach.
fn enrolment_path(path: &str) -> bool {
    path.starts_with("/api/v1/account/two-factor")
        || matches!(
            path,
            "/account/two-factor"
                | "/account/two-factor/confirm"
                | "/api/v1/auth/session"
                | "/api/v1/users/me"
                | "/logout"
        )
}

/// Sends an account whose role requires two-factor sign-in, and which has
/// none yet, to enrolment: nothing else answers until it enrols.
async fn check_enrolment(state: &AppState, account: &Account, path: &str) -> Result<(), ApiError> {
    if enrolment_path(path) {
        return Ok(());
    }
    let required = state.accounts.two_factor_roles().await?;
    if required.iter().any(|role| role == account.role.as_str()) && !state.accounts.has_two_factor(&account.id).await? {
        let mut error = ApiError::forbidden(format!(
            "the {} role must sign in with a second factor: set it up on the console's account page \
             (/account/two-factor) or with POST /api/v1/account/two-factor",
            account.role.as_str()
        ));
        error.code = ENROLMENT_REQUIRED;
        return Err(error);
    }
    Ok(())
}

/// The error code of a request refused until the account enrols in two-factor sign-in.
pub const ENROLMENT_REQUIRED: &str = "two_factor_enrolment_required";

/// An account's standing as the database has it.
struct Account {
    id: String,
    email: String,
    role: Role,
    sessions_valid_after: i64,
}

async fn current_account(state: &AppState, user_id: &str) -> Result<Account, ApiError> {
    let user = state.accounts.user(user_id).await?.ok_or_else(|| {
        ApiError::unauthorized("this account no longer exists; sign in with another one or ask an administrator")
    })?;
    if user.disabled {
        return Err(ApiError::unauthorized("this account is disabled; ask an administrator to enable it"));
    }
    let role =
        Role::parse(&user.role).ok_or_else(|| ApiError::internal("the account has an unknown role", &user.role))?;
    Ok(Account { id: user.id, email: user.email, role, sessions_valid_after: user.sessions_valid_after })
}

/// The token of an `Authorization: Bearer TOKEN` header.
fn bearer(value: &axum::http::HeaderValue) -> Result<&str, ApiError> {
    value
        .to_str()
        .ok()
        .and_then(|value| value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::unauthorized("the Authorization header must be `Bearer TOKEN`"))
}

/// A request made before signing in, rate-limited by client address (when
/// the server knows it: tests calling the router directly have none).
#[derive(Debug, Clone, Copy)]
pub struct Anonymous(pub Option<std::net::IpAddr>);

impl FromRequestParts<AppState> for Anonymous {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let address = parts.extensions.get::<ConnectInfo<std::net::SocketAddr>>().map(|ConnectInfo(a)| a.ip());
        let Some(limiter) = &state.limiter else {
            return Ok(Anonymous(address));
        };
        let key = match address {
            Some(ip) => format!("ip:{ip}"),
            None => "ip:local".to_owned(),
        };
        limiter.check(&key).map_err(ApiError::rate_limited)?;
        Ok(Anonymous(address))
    }
}
