//! Profiles, and account management for administrators.

use axum::extract::State;
use hangar_accounts::{Outcome, Profile, UserRecord};
use hangar_engine::clock::now_ms;

use crate::audit::Actor;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{CurrentUser, Permission, Role};
use crate::error::{ApiError, ApiJson, ApiPath, ApiResult};
use crate::state::AppState;

/// An account as the API shows it (never the password hash).
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub role: String,
    pub permissions: Vec<&'static str>,
    pub name: Option<String>,
    pub organization: Option<String>,
    pub position: Option<String>,
    pub disabled: bool,
    /// Milliseconds since the epoch.
    pub created_at: i64,
}

impl From<&UserRecord> for UserView {
    fn from(user: &UserRecord) -> Self {
        let permissions =
            Role::parse(&user.role).map(|r| r.permissions().iter().map(|p| p.as_str()).collect()).unwrap_or_default();
        Self {
            id: user.id.clone(),
            email: user.email.clone(),
            role: user.role.clone(),
            permissions,
            name: user.name.clone(),
            organization: user.organization.clone(),
            position: user.position.clone(),
            disabled: user.disabled,
            created_at: user.created_at,
        }
    }
}

/// The editable profile.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileUpdate {
    pub name: Option<String>,
    pub organization: Option<String>,
    pub position: Option<String>,
}

/// A change to an account by an administrator.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountUpdate {
    pub role: Option<Role>,
    pub disabled: Option<bool>,
}

/// Accounts, for administrators.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    pub users: Vec<UserView>,
}

const FIELD_LIMIT: usize = 200;

fn field(value: Option<String>, name: &str) -> ApiResult<Option<String>> {
    match value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) {
        Some(v) if v.chars().count() > FIELD_LIMIT => {
            Err(ApiError::invalid(format!("{name} is longer than {FIELD_LIMIT} characters")))
        }
        other => Ok(other),
    }
}

/// The signed-in account.
#[utoipa::path(get, path = "/users/me", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, body = crate::error::ErrorBody)))]
pub async fn me(State(state): State<AppState>, user: CurrentUser) -> ApiResult<ApiJson<UserView>> {
    let record = state.accounts.user(&user.id).await?.ok_or_else(|| ApiError::not_found("your account is gone"))?;
    Ok(ApiJson(UserView::from(&record)))
}

/// Updates the signed-in account's name, organization and position.
#[utoipa::path(put, path = "/users/me", tag = "users", security(("bearer" = [])), request_body = ProfileUpdate,
    responses((status = 200, body = UserView), (status = 401, body = crate::error::ErrorBody)))]
pub async fn update_me(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(update): ApiJson<ProfileUpdate>,
) -> ApiResult<ApiJson<UserView>> {
    let profile = Profile {
        name: field(update.name, "name")?,
        organization: field(update.organization, "organization")?,
        position: field(update.position, "position")?,
    };
    if !state.accounts.update_profile(&user.id, &profile, now_ms()).await? {
        return Err(ApiError::not_found("your account is gone"));
    }
    me(State(state), user).await
}

/// Every account (needs `user:manage`).
#[utoipa::path(get, path = "/users", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = UserList), (status = 403, body = crate::error::ErrorBody)))]
pub async fn list(State(state): State<AppState>, user: CurrentUser) -> ApiResult<ApiJson<UserList>> {
    user.require(Permission::UserManage)?;
    let users = state.accounts.users().await?;
    Ok(ApiJson(UserList { users: users.iter().map(UserView::from).collect() }))
}

/// Changes an account's role or disables it (needs `user:manage`).
#[utoipa::path(patch, path = "/users/{id}", tag = "users", security(("bearer" = [])), request_body = AccountUpdate,
    params(("id" = String, Path, description = "Account id")),
    responses((status = 200, body = UserView), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<String>,
    ApiJson(update): ApiJson<AccountUpdate>,
) -> ApiResult<ApiJson<UserView>> {
    user.require(Permission::UserManage)?;
    let target = state.accounts.user(&id).await?.ok_or_else(|| ApiError::not_found(format!("no account {id}")))?;
    let role = update.role.map_or(target.role.clone(), |r| r.as_str().to_owned());
    let disabled = update.disabled.unwrap_or(target.disabled);
    if id == user.id && (role != "admin" || disabled) {
        return Err(ApiError::conflict("you cannot demote or disable yourself; ask another administrator"));
    }
    state.accounts.set_role(&id, &role, disabled, now_ms()).await?;
    let record = state.accounts.user(&id).await?.ok_or_else(|| ApiError::not_found(format!("no account {id}")))?;
    let action = match (target.disabled, disabled) {
        (false, true) => "account.disable",
        (true, false) => "account.enable",
        _ => "account.role",
    };
    let change = format!("role {} → {role}; {}", target.role, if disabled { "disabled" } else { "enabled" });
    state.audit(Actor::User(&user), action, Some(&id), Outcome::Allowed, Some(&change)).await;
    tracing::info!(admin = %user.id, account = %id, role = %role, disabled, "Account changed.");
    Ok(ApiJson(UserView::from(&record)))
}
