//! Registration, sign-in, token refresh and sign-out.

use std::sync::LazyLock;

use axum::extract::State;
use axum::http::StatusCode;
use hangar_accounts::{NewRefreshToken, Outcome, Rotation, UserRecord};
use hangar_engine::clock::now_ms;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::users::UserView;
use crate::audit::Actor;
use crate::auth::extract::Anonymous;
use crate::auth::tokens::{new_refresh_token, refresh_hash};
use crate::auth::{Role, password};
use crate::error::{ApiError, ApiJson, ApiResult};
use crate::state::AppState;

/// A new account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    pub email: String,
    /// At least 12 characters, not the e-mail address.
    pub password: String,
    pub name: Option<String>,
    pub organization: Option<String>,
    pub position: Option<String>,
}

/// Credentials.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    /// For accounts with two-factor sign-in: the 6-digit code from the
    /// authenticator app, or one of the recovery codes.
    #[serde(default)]
    pub code: Option<String>,
}

/// A refresh token to use or revoke.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// Tokens after signing in or refreshing.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// Send as `Authorization: Bearer ACCESS_TOKEN`.
    pub access_token: String,
    /// Trade for new tokens at `/auth/refresh` (once: it rotates).
    pub refresh_token: String,
    /// Seconds the access token lives.
    pub expires_in: u64,
    pub token_type: &'static str,
}

/// A hash to verify against when the account does not exist, so that a
/// wrong e-mail takes as long as a wrong password.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| password::hash("hangar-dummy-password").unwrap_or_default());

pub fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    email.len() <= 254
        && !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && !domain.contains('@')
}

/// Creates an account with the `user` role. Administrators are created
/// with `hangar users create --admin`.
#[utoipa::path(post, path = "/auth/register", tag = "auth", request_body = RegisterRequest,
    responses((status = 201, body = UserView), (status = 409, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)))]
pub async fn register(
    State(state): State<AppState>,
    _: Anonymous,
    ApiJson(request): ApiJson<RegisterRequest>,
) -> ApiResult<(StatusCode, ApiJson<UserView>)> {
    let user = register_account(&state, request).await?;
    Ok((StatusCode::CREATED, ApiJson(UserView::from(&user))))
}

/// Creates a `user` account from a registration, when the server allows it.
///
/// # Errors
/// 403 when registration is closed, 409 for a taken e-mail, 422 for bad credentials.
pub async fn register_account(state: &AppState, request: RegisterRequest) -> ApiResult<UserRecord> {
    if !state.config.allow_registration {
        return Err(ApiError::forbidden("registration is closed on this server; ask an administrator for an account"));
    }
    let user = new_user(&request.email, &request.password, Role::User).await?;
    let user = UserRecord {
        name: request.name.filter(|s| !s.trim().is_empty()),
        organization: request.organization.filter(|s| !s.trim().is_empty()),
        position: request.position.filter(|s| !s.trim().is_empty()),
        ..user
    };
    if !state.accounts.create_user(&user).await? {
        return Err(ApiError::conflict(format!("an account with the e-mail {} exists; sign in instead", user.email)));
    }
    tracing::info!(user = %user.id, "Account registered.");
    Ok(user)
}

/// Checks and hashes the credentials of a new account.
///
/// # Errors
/// 422 for a malformed e-mail or a password the policy refuses.
pub async fn new_user(email: &str, password: &str, role: Role) -> ApiResult<UserRecord> {
    let email = email.trim().to_lowercase();
    if !valid_email(&email) {
        return Err(ApiError::invalid(format!("\"{email}\" is not an e-mail address")));
    }
    password::check_policy(&email, password).map_err(|e| ApiError::invalid(e.to_string()))?;
    let password = password.to_owned();
    let hash = tokio::task::spawn_blocking(move || password::hash(&password))
        .await
        .map_err(|e| ApiError::internal("hashing the password failed", &e))?
        .map_err(|e| ApiError::internal("hashing the password failed", &e))?;
    let now = now_ms();
    Ok(UserRecord {
        id: format!("usr_{}", uuid::Uuid::now_v7().simple()),
        email,
        password_hash: hash,
        role: role.as_str().to_owned(),
        name: None,
        organization: None,
        position: None,
        disabled: false,
        created_at: now,
        updated_at: now,
        sessions_valid_after: 0,
    })
}

/// Signs in: an access token and a refresh token.
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = TokenResponse), (status = 401, body = crate::error::ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    client: Anonymous,
    ApiJson(request): ApiJson<LoginRequest>,
) -> ApiResult<ApiJson<TokenResponse>> {
    let user = sign_in(&state, &request, client).await?;
    let (refresh_token, hash) = new_refresh_token();
    let now = now_ms();
    state
        .accounts
        .add_refresh_token(&NewRefreshToken {
            token_hash: hash,
            user_id: user.id.clone(),
            family: uuid::Uuid::now_v7().simple().to_string(),
            created_at: now,
            expires_at: now + refresh_ttl_ms(&state),
        })
        .await?;
    tracing::info!(user = %user.id, "Signed in.");
    Ok(ApiJson(tokens_for(&state, &user, refresh_token)?))
}

/// A whole sign-in: the password, then the second factor where the account
/// has one; recorded in the audit log either way.
///
/// # Errors
/// As [`authenticate`], and 401 with the code `two_factor_required` when
/// the account needs a code and none came.
pub async fn sign_in(state: &AppState, request: &LoginRequest, client: Anonymous) -> ApiResult<UserRecord> {
    let user = authenticate(state, request, client).await?;
    if state.accounts.has_two_factor(&user.id).await? {
        let Some(code) = request.code.as_deref().filter(|c| !c.trim().is_empty()) else {
            let mut error = ApiError::unauthorized(
                "this account signs in with a second factor: send the 6-digit code from the authenticator app \
                 (or a recovery code) as `code` with the e-mail and password",
            );
            error.code = TWO_FACTOR_REQUIRED;
            return Err(error);
        };
        second_factor(state, &user, code, client).await?;
    }
    signed_in(state, &user, client).await;
    Ok(user)
}

/// Ends a successful sign-in: clears the failure counts of the account and
/// the address, and records it.
pub async fn signed_in(state: &AppState, user: &UserRecord, client: Anonymous) {
    let address = client.0.map(|address| format!("address:{address}"));
    state.logins.succeeded(&format!("account:{}", user.email), address.as_deref());
    state
        .audit(Actor::Account { id: &user.id, email: &user.email }, "auth.sign_in", None, Outcome::Allowed, None)
        .await;
}

/// The error code of a sign-in that needs its second factor.
pub const TWO_FACTOR_REQUIRED: &str = "two_factor_required";

/// Checks the second factor of an account whose password matched, counting
/// a wrong code as a failed sign-in (so codes cannot be guessed quickly).
///
/// # Errors
/// 401 for a wrong or reused code (recorded in the audit log), 429 while
/// failed attempts must wait.
pub async fn second_factor(state: &AppState, user: &UserRecord, code: &str, client: Anonymous) -> ApiResult<()> {
    let mut keys = vec![format!("account:{}", user.email)];
    if let Some(address) = client.0 {
        keys.push(format!("address:{address}"));
    }
    if let Err(wait) = state.logins.attempt(&keys, std::time::Instant::now()) {
        return Err(ApiError::rate_limited(wait).with_message(format!(
            "too many failed sign-ins for this account or from this address; try again in {wait} s"
        )));
    }
    if state.accounts.verify_second_factor(&user.id, code, now_ms()).await? {
        return Ok(());
    }
    let reason = "wrong, expired or already used second-factor code";
    let actor = Actor::Account { id: &user.id, email: &user.email };
    state.audit(actor, "auth.sign_in", None, Outcome::Refused, Some(reason)).await;
    Err(ApiError::unauthorized(
        "the code is wrong, expired or already used; enter the current code from the authenticator app, or a \
         recovery code",
    ))
}

/// The account behind the credentials, if they match and it is enabled.
///
/// # Errors
/// 401 on a wrong e-mail or password (the same message and time for both),
/// 403 for a disabled account, 429 while failed attempts for the account or
/// from the address must wait.
pub async fn authenticate(state: &AppState, request: &LoginRequest, client: Anonymous) -> ApiResult<UserRecord> {
    let mut keys = vec![format!("account:{}", request.email.trim().to_lowercase())];
    if let Some(address) = client.0 {
        keys.push(format!("address:{address}"));
    }
    if let Err(wait) = state.logins.attempt(&keys, std::time::Instant::now()) {
        let actor = Actor::Anonymous(Some(&request.email));
        state.audit(actor, "auth.sign_in", None, Outcome::Refused, Some("too many failed sign-ins: waiting")).await;
        return Err(ApiError::rate_limited(wait).with_message(format!(
            "too many failed sign-ins for this account or from this address; try again in {wait} s"
        )));
    }
    let result = check_credentials(state, request).await;
    if let Err(error) = &result {
        let actor = Actor::Anonymous(Some(&request.email));
        state.audit(actor, "auth.sign_in", None, Outcome::Refused, Some(&error.message)).await;
    }
    // Success is counted only when the whole sign-in is done (see
    // [`signed_in`]): the password alone must not reset the count that also
    // limits guessing the second factor.
    result
}

async fn check_credentials(state: &AppState, request: &LoginRequest) -> ApiResult<UserRecord> {
    let user = state.accounts.user_by_email(request.email.trim()).await?;
    let stored = user.as_ref().map_or_else(|| DUMMY_HASH.clone(), |u| u.password_hash.clone());
    let password = request.password.clone();
    let matches = tokio::task::spawn_blocking(move || password::verify(&password, &stored))
        .await
        .map_err(|e| ApiError::internal("checking the password failed", &e))?;
    let user = match user {
        Some(user) if matches => user,
        _ => return Err(ApiError::unauthorized("wrong e-mail or password")),
    };
    if user.disabled {
        return Err(ApiError::forbidden("this account is disabled; ask an administrator"));
    }
    Ok(user)
}

fn refresh_ttl_ms(state: &AppState) -> i64 {
    i64::try_from(state.tokens.refresh_ttl.as_millis()).unwrap_or(i64::MAX / 2)
}

fn tokens_for(state: &AppState, user: &UserRecord, refresh_token: String) -> ApiResult<TokenResponse> {
    let role =
        Role::parse(&user.role).ok_or_else(|| ApiError::internal("the account has an unknown role", &user.role))?;
    Ok(TokenResponse {
        access_token: state.tokens.issue(&user.id, &user.email, role, now_ms() / 1000),
        refresh_token,
        expires_in: state.tokens.access_ttl.as_secs(),
        token_type: "Bearer",
    })
}

/// Trades a refresh token for new tokens. Each refresh token works once;
/// presenting a used one revokes every token of that sign-in.
#[utoipa::path(post, path = "/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenResponse), (status = 401, body = crate::error::ErrorBody)))]
pub async fn refresh(
    State(state): State<AppState>,
    _: Anonymous,
    ApiJson(request): ApiJson<RefreshRequest>,
) -> ApiResult<ApiJson<TokenResponse>> {
    let (refresh_token, hash) = new_refresh_token();
    let now = now_ms();
    let next = NewRefreshToken {
        token_hash: hash,
        user_id: String::new(),
        family: String::new(),
        created_at: now,
        expires_at: now + refresh_ttl_ms(&state),
    };
    let presented = refresh_hash(request.refresh_token.trim());
    match state.accounts.rotate_refresh_token(&presented, &next, now).await? {
        Rotation::Rotated { user_id } => {
            let user =
                state.accounts.user(&user_id).await?.ok_or_else(|| ApiError::unauthorized("the account is gone"))?;
            if user.disabled {
                return Err(ApiError::forbidden("this account is disabled; ask an administrator"));
            }
            Ok(ApiJson(tokens_for(&state, &user, refresh_token)?))
        }
        Rotation::Replayed => {
            tracing::warn!("A used refresh token was presented again; its sign-in is revoked.");
            let reason = "a used refresh token was presented again: its sign-in is revoked";
            state.audit(Actor::Anonymous(None), "auth.refresh", None, Outcome::Refused, Some(reason)).await;
            Err(ApiError::unauthorized("this refresh token was already used; sign in again"))
        }
        Rotation::Invalid => {
            Err(ApiError::unauthorized("the refresh token is unknown, expired or revoked; sign in again"))
        }
    }
}

/// Signs out: revokes the refresh token (and its rotations). Access tokens
/// already issued expire on their own within minutes.
#[utoipa::path(post, path = "/auth/logout", tag = "auth", request_body = RefreshRequest,
    responses((status = 204), (status = 401, body = crate::error::ErrorBody)))]
pub async fn logout(
    State(state): State<AppState>,
    _: Anonymous,
    ApiJson(request): ApiJson<RefreshRequest>,
) -> ApiResult<StatusCode> {
    let presented = refresh_hash(request.refresh_token.trim());
    if let Some(user_id) = state.accounts.refresh_token_owner(&presented).await?
        && state.accounts.revoke_refresh_token(&presented, now_ms()).await?
    {
        let user = state.accounts.user(&user_id).await?;
        let email = user.as_ref().map_or("", |u| u.email.as_str());
        state.audit(Actor::Account { id: &user_id, email }, "auth.sign_out", None, Outcome::Allowed, None).await;
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::unauthorized("unknown refresh token"))
    }
}

#[cfg(test)]
mod tests {
    use super::valid_email;

    #[test]
    fn emails_need_a_name_and_a_domain() {
        assert!(valid_email("li.wei@caac.example.cn"));
        for bad in ["", "li", "@x.cn", "li@", "li@cn", "li wei@x.cn", "li@.cn", "a@b@c.cn"] {
            assert!(!valid_email(bad), "{bad}");
        }
    }
}
