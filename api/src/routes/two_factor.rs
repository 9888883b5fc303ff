//! Two-factor sign-in: enrolling (secret, QR code, first code, recovery
//! codes), turning it off, an administrator's reset, and the roles that
//! must use it.

use axum::extract::State;
use axum::http::StatusCode;
use hangar_accounts::Enrolment;
use hangar_engine::clock::now_ms;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{CurrentUser, Permission, Role};
use crate::error::{ApiError, ApiJson, ApiPath, ApiResult};
use crate::state::AppState;

/// Where the account stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct TwoFactorStatus {
    /// Sign-in asks for a code.
    pub enabled: bool,
    /// An enrolment was started and not confirmed yet.
    pub enrolling: bool,
    /// The account's role must use it.
    pub required: bool,
    pub recovery_codes_left: u32,
}

/// A started enrolment: add the secret to an authenticator app (scan the
/// QR code or type the secret), then confirm with a code from it.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnrolmentView {
    pub secret: String,
    pub otpauth_uri: String,
    /// An SVG document.
    pub qr_svg: String,
}

impl From<Enrolment> for EnrolmentView {
    fn from(enrolment: Enrolment) -> Self {
        Self { secret: enrolment.secret, otpauth_uri: enrolment.otpauth_uri, qr_svg: enrolment.qr_svg }
    }
}

/// A code from the authenticator app (or, to turn it off, a recovery code).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    pub code: String,
}

/// The recovery codes of a confirmed enrolment: shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryCodes {
    /// Each works once in place of a code, e.g. when the phone is lost.
    pub recovery_codes: Vec<String>,
}

/// The roles that must use two-factor sign-in.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequiredRoles {
    pub required_roles: Vec<Role>,
}

/// Whether the account's role must use two-factor sign-in.
pub async fn required_for(state: &AppState, role: Role) -> ApiResult<bool> {
    Ok(state.accounts.two_factor_roles().await?.iter().any(|r| r == role.as_str()))
}

/// The signed-in account's two-factor sign-in.
#[utoipa::path(get, path = "/account/two-factor", tag = "two-factor", security(("bearer" = [])),
    responses((status = 200, body = TwoFactorStatus)))]
pub async fn status(State(state): State<AppState>, user: CurrentUser) -> ApiResult<ApiJson<TwoFactorStatus>> {
    let factor = state.accounts.second_factor(&user.id).await?;
    Ok(ApiJson(TwoFactorStatus {
        enabled: factor.as_ref().is_some_and(|f| f.enabled),
        enrolling: factor.as_ref().is_some_and(|f| !f.enabled),
        required: required_for(&state, user.role).await?,
        recovery_codes_left: factor.map_or(0, |f| f.recovery_codes_left),
    }))
}

/// Starts enrolling: a new secret, its `otpauth://` URI and QR code.
#[utoipa::path(post, path = "/account/two-factor", tag = "two-factor", security(("bearer" = [])),
    responses((status = 201, body = EnrolmentView), (status = 409, body = crate::error::ErrorBody)))]
pub async fn enrol(
    State(state): State<AppState>,
    user: CurrentUser,
) -> ApiResult<(StatusCode, ApiJson<EnrolmentView>)> {
    let enrolment = state.accounts.begin_enrolment(&user.id, &user.email, now_ms()).await?.ok_or_else(|| {
        ApiError::conflict("two-factor sign-in is already on; turn it off first to enrol another app")
    })?;
    state.audit_done(&user, "two_factor.enrol", &user.id).await;
    Ok((StatusCode::CREATED, ApiJson(enrolment.into())))
}

/// Confirms the enrolment with a code from the app: sign-in asks for codes
/// from now on. Answers the recovery codes, once.
#[utoipa::path(post, path = "/account/two-factor/confirm", tag = "two-factor", security(("bearer" = [])),
    request_body = CodeRequest,
    responses((status = 200, body = RecoveryCodes), (status = 422, body = crate::error::ErrorBody)))]
pub async fn confirm(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(request): ApiJson<CodeRequest>,
) -> ApiResult<ApiJson<RecoveryCodes>> {
    match state.accounts.confirm_enrolment(&user.id, &request.code, now_ms()).await? {
        Some(recovery_codes) => {
            // Sign-ins made with the password alone end: they must sign in again with a code.
            state.accounts.revoke_sign_ins(&user.id, now_ms(), user.session_start()).await?;
            state.audit_done(&user, "two_factor.enable", &user.id).await;
            Ok(ApiJson(RecoveryCodes { recovery_codes }))
        }
        None => {
            state.audit_refused(&user, "two_factor.enable", &user.id, "wrong code or no enrolment under way").await;
            Err(ApiError::invalid(
                "the code does not match, or no enrolment is under way: start one with POST \
                 /api/v1/account/two-factor and enter the code the app shows now",
            ))
        }
    }
}

/// Turns two-factor sign-in off, given a current code or a recovery code.
#[utoipa::path(delete, path = "/account/two-factor", tag = "two-factor", security(("bearer" = [])),
    request_body = CodeRequest,
    responses((status = 204), (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn remove(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(request): ApiJson<CodeRequest>,
) -> ApiResult<StatusCode> {
    if required_for(&state, user.role).await? {
        return Err(ApiError::forbidden(format!(
            "the {} role must use two-factor sign-in; an administrator can reset it if the app is lost",
            user.role.as_str()
        )));
    }
    // Guessing codes here is throttled as at sign-in.
    let throttle = [format!("account:{}", user.email)];
    if let Err(wait) = state.logins.attempt(&throttle, std::time::Instant::now()) {
        state.audit_refused(&user, "two_factor.disable", &user.id, "too many wrong codes: waiting").await;
        return Err(ApiError::rate_limited(wait)
            .with_message(format!("too many wrong codes for this account; try again in {wait} s")));
    }
    if !state.accounts.verify_second_factor(&user.id, &request.code, now_ms()).await? {
        state.audit_refused(&user, "two_factor.disable", &user.id, "wrong code").await;
        return Err(ApiError::invalid("the code is wrong, expired or already used; enter the one the app shows now"));
    }
    state.logins.succeeded(&throttle[0], None);
    state.accounts.remove_two_factor(&user.id).await?;
    state.accounts.revoke_sign_ins(&user.id, now_ms(), user.session_start()).await?;
    state.audit_done(&user, "two_factor.disable", &user.id).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Resets an account's two-factor sign-in (needs `user:manage`): it signs
/// in with its password alone, or enrols again where its role requires it.
#[utoipa::path(delete, path = "/users/{id}/two-factor", tag = "two-factor", security(("bearer" = [])),
    params(("id" = String, Path, description = "Account id")),
    responses((status = 204), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn reset(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    user.require(Permission::UserManage)?;
    if id == user.id {
        return Err(ApiError::forbidden(
            "you cannot reset your own second factor: turn it off with a code on your account page, or ask \
             another administrator",
        ));
    }
    if state.accounts.user(&id).await?.is_none() {
        return Err(ApiError::not_found(format!("no account {id}")));
    }
    if !state.accounts.remove_two_factor(&id).await? {
        return Err(ApiError::not_found(format!("the account {id} has no two-factor sign-in to reset")));
    }
    state.accounts.revoke_sign_ins(&id, now_ms(), now_ms() / 1000).await?;
    state.audit_done(&user, "two_factor.reset", &id).await;
    Ok(StatusCode::NO_CONTENT)
}

/// The roles that must use two-factor sign-in.
#[utoipa::path(get, path = "/settings/two-factor", tag = "two-factor", security(("bearer" = [])),
    responses((status = 200, body = RequiredRoles)))]
pub async fn required_roles(State(state): State<AppState>, user: CurrentUser) -> ApiResult<ApiJson<RequiredRoles>> {
    user.require(Permission::UserManage)?;
    let roles = state.accounts.two_factor_roles().await?;
    Ok(ApiJson(RequiredRoles { required_roles: roles.iter().filter_map(|r| Role::parse(r)).collect() }))
}

/// Sets the roles that must use two-factor sign-in (needs `user:manage`).
/// Their accounts without it are sent to enrolment when they next sign in.
#[utoipa::path(put, path = "/settings/two-factor", tag = "two-factor", security(("bearer" = [])),
    request_body = RequiredRoles,
    responses((status = 200, body = RequiredRoles), (status = 403, body = crate::error::ErrorBody)))]
pub async fn set_required_roles(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(request): ApiJson<RequiredRoles>,
) -> ApiResult<ApiJson<RequiredRoles>> {
    user.require(Permission::UserManage)?;
    let mut roles: Vec<String> = request.required_roles.iter().map(|r| r.as_str().to_owned()).collect();
    roles.sort();
    roles.dedup();
    state.accounts.set_two_factor_roles(&roles, now_ms()).await?;
    state.audit_done(&user, "two_factor.require", &roles.join(",")).await;
    Ok(ApiJson(RequiredRoles { required_roles: roles.iter().filter_map(|r| Role::parse(r)).collect() }))
}
