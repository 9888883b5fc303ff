//! Data roots: the local folders an administrator declared readable by
//! runs as `data://NAME/…` (declared with `hangar roots add`).

use axum::extract::State;
use hangar_engine::TRUSTED_ROLE;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::CurrentUser;
use crate::error::{ApiJson, ApiResult};
use crate::state::AppState;

/// A data root the caller may read.
#[derive(Debug, Serialize, ToSchema)]
pub struct RootView {
    pub name: String,
    /// How pipelines name it: `data://NAME/`.
    pub uri: String,
    /// The least role that may read it.
    pub role: String,
    /// The folder on the server: for administrators only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RootList {
    pub roots: Vec<RootView>,
}

/// The data roots the caller's runs may read.
#[utoipa::path(get, path = "/roots", tag = "data", security(("bearer" = [])),
    responses((status = 200, body = RootList), (status = 401, body = crate::error::ErrorBody)))]
pub async fn list(State(state): State<AppState>, user: CurrentUser) -> ApiResult<ApiJson<RootList>> {
    let roots = state.store().data_roots().await?;
    let roots = roots
        .into_iter()
        .filter(|root| user.is_admin() || root.role != TRUSTED_ROLE)
        .map(|root| RootView {
            uri: format!("{}{}/", hangar_sdk::input::DATA_SCHEME, root.name),
            name: root.name,
            role: root.role,
            path: user.is_admin().then_some(root.path),
        })
        .collect();
    Ok(ApiJson(RootList { roots }))
}
