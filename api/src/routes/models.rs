//! The model registry: models, their versions side by side with their
//! metrics, aliases (promotion and rollback) and deletion.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::State;
use axum::http::StatusCode;
use hangar_engine::clock::now_ms;
use hangar_engine::store::{Deletion, ModelSummary, Rollback};
use hangar_sdk::models::is_valid_model_name;
use hangar_sdk::{ModelRef, ModelVersion};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::CurrentUser;
use crate::auth::roles::Permission;
use crate::error::{ApiError, ApiJson, ApiPath, ApiResult};
use crate::state::AppState;

/// Registered models.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelList {
    #[schema(value_type = Vec<Object>)]
    pub models: Vec<ModelSummary>,
}

/// A model with its versions, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelDetail {
    pub name: String,
    /// Alias → version.
    pub aliases: BTreeMap<String, u32>,
    #[schema(value_type = Vec<Object>)]
    pub versions: Vec<ModelVersion>,
}

/// Versions side by side: one row per version, one column per metric any of them has.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionTable {
    pub name: String,
    /// Every metric name, sorted.
    pub metrics: Vec<String>,
    #[schema(value_type = Vec<Object>)]
    pub versions: Vec<ModelVersion>,
}

/// Where an alias should point.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AliasRequest {
    pub version: u32,
}

/// Where an alias points now, and before.
#[derive(Debug, Serialize, ToSchema)]
pub struct AliasView {
    pub name: String,
    pub alias: String,
    pub version: u32,
    pub previous: Option<u32>,
}

fn no_model(name: &str) -> ApiError {
    ApiError::not_found(format!("no model {name}; list the registered ones with GET /api/v1/models")).in_console(
        format!("There is no model named {name}."),
        "/models",
        "See the registered models",
    )
}

fn checked_name(name: &str, what: &str) -> ApiResult<()> {
    if is_valid_model_name(name) {
        Ok(())
    } else {
        Err(ApiError::invalid(format!("{name:?} is not a {what}: use letters, digits, '-', '_' and '.'")))
    }
}

/// Every registered model with its aliases.
#[utoipa::path(get, path = "/models", tag = "models", security(("bearer" = [])),
    responses((status = 200, body = ModelList)))]
pub async fn list(State(state): State<AppState>, _user: CurrentUser) -> ApiResult<ApiJson<ModelList>> {
    Ok(ApiJson(ModelList { models: state.store().list_models().await? }))
}

async fn versions_of(state: &AppState, name: &str) -> ApiResult<Vec<ModelVersion>> {
    let versions = state.store().model_versions(name).await?;
    if versions.is_empty() {
        return Err(no_model(name));
    }
    Ok(versions)
}

/// A model, its aliases and its versions.
#[utoipa::path(get, path = "/models/{model}", tag = "models", security(("bearer" = [])),
    params(("model" = String, Path, description = "Model name")),
    responses((status = 200, body = ModelDetail), (status = 404, body = crate::error::ErrorBody)))]
pub async fn detail(
    State(state): State<AppState>,
    _user: CurrentUser,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<ApiJson<ModelDetail>> {
    let versions = versions_of(&state, &name).await?;
    let aliases = versions.iter().flat_map(|v| v.aliases.iter().map(|a| (a.clone(), v.version))).collect();
    Ok(ApiJson(ModelDetail { name, aliases, versions }))
}

/// A model's versions side by side with their metrics, to compare them.
#[utoipa::path(get, path = "/models/{model}/versions", tag = "models", security(("bearer" = [])),
    params(("model" = String, Path, description = "Model name")),
    responses((status = 200, body = VersionTable), (status = 404, body = crate::error::ErrorBody)))]
pub async fn versions(
    State(state): State<AppState>,
    _user: CurrentUser,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<ApiJson<VersionTable>> {
    let versions = versions_of(&state, &name).await?;
    let metrics: BTreeSet<&String> = versions.iter().flat_map(|v| v.metrics.keys()).collect();
    let metrics = metrics.into_iter().cloned().collect();
    Ok(ApiJson(VersionTable { name, metrics, versions }))
}

/// Refuses a change of model `name` to anyone but its owner and
/// administrators (models made by the machine's owner, administrators only).
///
/// # Errors
/// 403 without `model:deploy` or for another account's model.
async fn may_change(state: &AppState, user: &CurrentUser, name: &str) -> ApiResult<()> {
    user.require(Permission::ModelDeploy)?;
    if user.is_admin() {
        return Ok(());
    }
    match state.store().model_owner(name).await? {
        Some(Some(owner)) if owner == user.id => Ok(()),
        None => Ok(()),
        Some(_) => {
            state.audit_refused(user, "model.change", name, "owned by another account").await;
            Err(ApiError::forbidden(format!(
                "the model {name} belongs to another account; only its owner or an administrator may change it"
            )))
        }
    }
}

/// Points an alias (`production`, `staging`, …) at a version: a promotion.
#[utoipa::path(put, path = "/models/{model}/aliases/{alias}", tag = "models", security(("bearer" = [])),
    params(("model" = String, Path, description = "Model name"), ("alias" = String, Path, description = "Alias")),
    request_body = AliasRequest,
    responses((status = 200, body = AliasView), (status = 404, body = crate::error::ErrorBody)))]
pub async fn set_alias(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath((name, alias)): ApiPath<(String, String)>,
    ApiJson(request): ApiJson<AliasRequest>,
) -> ApiResult<ApiJson<AliasView>> {
    may_change(&state, &user, &name).await?;
    checked_name(&alias, "alias")?;
    if state.store().resolve_model(&ModelRef::Version(name.clone(), request.version)).await?.is_none() {
        return Err(ApiError::not_found(format!(
            "no version {} of {name}; list them with GET /api/v1/models/{name}/versions",
            request.version
        ))
        .in_console(
            format!("{name} has no version {}.", request.version),
            format!("/models/{name}"),
            format!("See the versions of {name}"),
        ));
    }
    let previous = state.store().set_model_alias(&name, &alias, request.version, now_ms()).await?;
    tracing::info!(model = %name, %alias, version = request.version, ?previous, by = %user.id, "Model alias moved.");
    state.audit_done(&user, "model.promote", &format!("{name}@{} as {alias}", request.version)).await;
    Ok(ApiJson(AliasView { name, alias, version: request.version, previous }))
}

/// Moves an alias back to the version it pointed at before its last move.
#[utoipa::path(post, path = "/models/{model}/aliases/{alias}/rollback", tag = "models", security(("bearer" = [])),
    params(("model" = String, Path, description = "Model name"), ("alias" = String, Path, description = "Alias")),
    responses((status = 200, body = AliasView), (status = 409, body = crate::error::ErrorBody)))]
pub async fn rollback(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath((name, alias)): ApiPath<(String, String)>,
) -> ApiResult<ApiJson<AliasView>> {
    may_change(&state, &user, &name).await?;
    let current = state.store().resolve_model(&ModelRef::Alias(name.clone(), alias.clone())).await?;
    let Some(current) = current else {
        return Err(ApiError::not_found(format!("{name} has no alias {alias}")));
    };
    match state.store().rollback_model_alias(&name, &alias, now_ms()).await? {
        Rollback::To(version) => {
            tracing::info!(model = %name, %alias, version, by = %user.id, "Model alias rolled back.");
            state.audit_done(&user, "model.rollback", &format!("{name}:{alias} to {version}")).await;
            Ok(ApiJson(AliasView { name, alias, version, previous: Some(current.version) }))
        }
        Rollback::NothingToRollBack => Err(ApiError::conflict(format!(
            "{name}:{alias} has no earlier version to go back to; point it with PUT /api/v1/models/{name}/aliases/{alias}"
        ))
        .in_console(
            format!("{name}:{alias} has no earlier version to go back to; promote the version you want to {alias} instead."),
            format!("/models/{name}"),
            format!("See the versions of {name}"),
        )),
    }
}

/// Removes an alias.
#[utoipa::path(delete, path = "/models/{model}/aliases/{alias}", tag = "models", security(("bearer" = [])),
    params(("model" = String, Path, description = "Model name"), ("alias" = String, Path, description = "Alias")),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
pub async fn delete_alias(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath((name, alias)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    may_change(&state, &user, &name).await?;
    if state.store().delete_model_alias(&name, &alias).await? {
        state.audit_done(&user, "model.delete_alias", &format!("{name}:{alias}")).await;
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("{name} has no alias {alias}")))
    }
}

/// Deletes a version; refused while an alias points at it.
#[utoipa::path(delete, path = "/models/{model}/versions/{version}", tag = "models", security(("bearer" = [])),
    params(("model" = String, Path, description = "Model name"), ("version" = u32, Path, description = "Version")),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn delete_version(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath((name, version)): ApiPath<(String, u32)>,
) -> ApiResult<StatusCode> {
    may_change(&state, &user, &name).await?;
    match state.store().delete_model_version(&name, version).await? {
        Deletion::Deleted => {
            tracing::info!(model = %name, version, by = %user.id, "Model version deleted.");
            state.audit_done(&user, "model.delete", &format!("{name}@{version}")).await;
            Ok(StatusCode::NO_CONTENT)
        }
        Deletion::Missing => Err(no_model(&format!("{name}@{version}"))),
        Deletion::Aliased(aliases) => Err(ApiError::conflict(format!(
            "{name}@{version} is what {} point{} at; move or delete {} first",
            aliases.iter().map(|a| format!("{name}:{a}")).collect::<Vec<_>>().join(", "),
            if aliases.len() == 1 { "s" } else { "" },
            if aliases.len() == 1 { "that alias" } else { "those aliases" }
        ))),
    }
}
