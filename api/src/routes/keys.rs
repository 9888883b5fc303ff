//! Personal API keys: created (shown once), listed and revoked by their
//! owner; an administrator may revoke anyone's.

use axum::extract::State;
use axum::http::StatusCode;
use hangar_accounts::{KeyRecord, NewKey};
use hangar_engine::clock::now_ms;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::scopes::{self, Scope};
use crate::auth::{CurrentUser, Permission};
use crate::error::{ApiError, ApiJson, ApiPath, ApiResult};
use crate::state::AppState;

/// A key to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyRequest {
    /// What the key is for, e.g. `nightly-eval`.
    pub name: String,
    /// What it may reach: `runs:read`, `runs:write`, `data:read`,
    /// `data:write`, `models:read`, `models:write`, `models:infer`,
    /// `schedules:read`, `schedules:write`, `account:read`, and for
    /// administrators `users:manage` and `audit:read`.
    pub scopes: Vec<String>,
    /// Days until it stops working; none: until revoked.
    pub expires_in_days: Option<u32>,
}

/// A key as listed: never its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    pub id: String,
    pub name: String,
    /// The key's first characters, to recognise it.
    pub prefix: String,
    pub scopes: Vec<String>,
    /// Milliseconds since the epoch.
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// Neither revoked nor expired.
    pub active: bool,
}

impl From<&KeyRecord> for KeyView {
    fn from(key: &KeyRecord) -> Self {
        Self {
            id: key.id.clone(),
            name: key.name.clone(),
            prefix: key.prefix.clone(),
            scopes: key.scopes.clone(),
            created_at: key.created_at,
            expires_at: key.expires_at,
            last_used_at: key.last_used_at,
            revoked_at: key.revoked_at,
            active: key.is_live(now_ms()),
        }
    }
}

/// A new key, with its secret: shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKey {
    /// Send as `Authorization: Bearer hk_...`; it is not stored and cannot be shown again.
    pub key: String,
    #[serde(flatten)]
    pub view: KeyView,
}

/// The account's keys.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    pub keys: Vec<KeyView>,
}

/// Checks a key request against what the owner's role may grant.
///
/// # Errors
/// 422 for a missing name, an unknown scope or a bad expiry; 403 for a
/// scope the role does not grant.
pub fn validate(request: &KeyRequest, role: crate::auth::Role) -> ApiResult<Vec<String>> {
    let name = request.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::invalid("give the key a name of 1 to 100 characters"));
    }
    if request.scopes.is_empty() {
        return Err(ApiError::invalid(format!(
            "give the key at least one scope: {}",
            scopes::ALL.map(Scope::as_str).join(", ")
        )));
    }
    let mut granted = Vec::new();
    for text in &request.scopes {
        let scope = Scope::parse(text).ok_or_else(|| {
            ApiError::invalid(format!("unknown scope {text:?}; use {}", scopes::ALL.map(Scope::as_str).join(", ")))
        })?;
        if !scope.granted_to(role) {
            return Err(ApiError::forbidden(format!(
                "the {} role cannot grant the {} scope; leave it out",
                role.as_str(),
                scope.as_str()
            )));
        }
        if !granted.contains(&scope.as_str().to_owned()) {
            granted.push(scope.as_str().to_owned());
        }
    }
    if request.expires_in_days.is_some_and(|days| days == 0 || days > 3650) {
        return Err(ApiError::invalid("expires_in_days must be 1 to 3650; leave it out for a key without expiry"));
    }
    Ok(granted)
}

/// Creates a key for the signed-in account.
#[utoipa::path(post, path = "/keys", tag = "keys", security(("bearer" = [])), request_body = KeyRequest,
    responses((status = 201, body = CreatedKey), (status = 403, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(request): ApiJson<KeyRequest>,
) -> ApiResult<(StatusCode, ApiJson<CreatedKey>)> {
    let scopes = validate(&request, user.role)?;
    let now = now_ms();
    let new = NewKey {
        user_id: user.id.clone(),
        name: request.name.trim().to_owned(),
        scopes,
        expires_at: request.expires_in_days.map(|days| now + i64::from(days) * 86_400_000),
        now,
    };
    let (record, secret) = state.accounts.create_key(&new).await?;
    state.audit_done(&user, "key.create", &record.id).await;
    Ok((StatusCode::CREATED, ApiJson(CreatedKey { key: secret, view: KeyView::from(&record) })))
}

/// The signed-in account's keys, newest first (revoked ones too).
#[utoipa::path(get, path = "/keys", tag = "keys", security(("bearer" = [])),
    responses((status = 200, body = KeyList), (status = 401, body = crate::error::ErrorBody)))]
pub async fn list(State(state): State<AppState>, user: CurrentUser) -> ApiResult<ApiJson<KeyList>> {
    let keys = state.accounts.keys_of(&user.id).await?;
    Ok(ApiJson(KeyList { keys: keys.iter().map(KeyView::from).collect() }))
}

/// Revokes a key: the owner's own, or anyone's for an administrator.
#[utoipa::path(delete, path = "/keys/{id}", tag = "keys", security(("bearer" = [])),
    params(("id" = String, Path, description = "Key id")),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
pub async fn revoke(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let key = match state.accounts.key(&id).await? {
        Some(key) if key.user_id == user.id || user.role.has(Permission::UserManage) => key,
        found => {
            if found.is_some() {
                state.audit_refused(&user, "key.revoke", &id, "the key belongs to another account").await;
            }
            return Err(ApiError::not_found(format!("no key {id}; list yours with GET /api/v1/keys")));
        }
    };
    if key.revoked_at.is_none() {
        state.accounts.revoke_key(&key.id, now_ms()).await?;
        state.audit_done(&user, "key.revoke", &key.id).await;
    }
    Ok(StatusCode::NO_CONTENT)
}
