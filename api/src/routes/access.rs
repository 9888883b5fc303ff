//! Who may store, run and see what: the checks shared by routes.

use hangar_engine::{Diagnostics, Plan};
use hangar_sdk::ArtifactKind;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::{CurrentUser, Permission};
use crate::error::ApiError;
use crate::state::AppState;

/// One validation problem, as the CLI prints it but in JSON.
#[derive(Debug, Serialize, ToSchema)]
pub struct DiagnosticView {
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// Dotted path of the field (`tasks.dedup.with`).
    pub path: String,
    pub message: String,
}

/// 422 `invalid_pipeline` with every problem.
pub fn invalid_pipeline(diagnostics: &Diagnostics) -> ApiError {
    let views: Vec<DiagnosticView> = diagnostics
        .iter()
        .map(|d| DiagnosticView {
            file: d.file.clone(),
            line: d.line,
            column: d.col,
            path: d.path.clone(),
            message: d.message.clone(),
        })
        .collect();
    let first = diagnostics.iter().next().map(ToString::to_string).unwrap_or_default();
    let mut error = ApiError::invalid(format!(
        "the pipeline has {} problem(s), the first: {first}; fix them and send it again",
        views.len()
    ))
    .with_details(serde_json::to_value(views).unwrap_or_default());
    error.code = "invalid_pipeline";
    error
}

/// Refuses a plan the user may not run: privileged operators need
/// `system:admin`, producing a model needs `model:train`, anything `data:process`.
///
/// # Errors
/// 403 naming the task and the permission.
pub fn check_plan(user: &CurrentUser, plan: &Plan, state: &AppState) -> Result<(), ApiError> {
    user.require(Permission::DataProcess)?;
    for task in plan.tasks.values() {
        let Some(operator) = state.engine.registry().get(&task.operator) else { continue };
        if operator.info.privileged && !user.role.has(Permission::SystemAdmin) {
            return Err(ApiError::forbidden(format!(
                "task {} uses the {} operator, which runs commands on the server and is for administrators only",
                task.id, task.operator
            )));
        }
        if operator.info.outputs.iter().any(|o| o.kind == ArtifactKind::Model) {
            user.require(Permission::ModelTrain)?;
        }
    }
    Ok(())
}

/// Refuses params that point at another user's upload (`uploads/ID`).
///
/// # Errors
/// 403 naming the upload, 404 for an unknown one.
pub async fn check_param_uploads(
    user: &CurrentUser,
    params: &serde_json::Value,
    state: &AppState,
) -> Result<(), ApiError> {
    let Some(map) = params.as_object() else { return Ok(()) };
    for (key, value) in map {
        let Some(text) = value.as_str() else { continue };
        let Some(id) = upload_id_in(text) else { continue };
        match state.store().upload(id).await? {
            Some(upload) if user.can_see(Some(&upload.owner)) => {}
            Some(_) => return Err(ApiError::forbidden(format!("param {key} names upload {id}, which is not yours"))),
            None => return Err(ApiError::not_found(format!("param {key} names upload {id}, which does not exist"))),
        }
    }
    Ok(())
}

/// The upload id in a store key or URI such as `uploads/upl_x/a.pdf`.
fn upload_id_in(text: &str) -> Option<&str> {
    let start = text.find("uploads/")? + "uploads/".len();
    let rest = &text[start..];
    let id = rest.split('/').next().unwrap_or_default();
    id.starts_with("upl_").then_some(id)
}

#[cfg(test)]
mod tests {
    use super::upload_id_in;

    #[test]
    fn upload_ids_are_found_in_keys_and_uris() {
        assert_eq!(upload_id_in("uploads/upl_1"), Some("upl_1"));
        assert_eq!(upload_id_in("s3://b/p/uploads/upl_2/a.pdf"), Some("upl_2"));
        assert_eq!(upload_id_in("examples/corpus"), None);
        assert_eq!(upload_id_in("uploads/other"), None);
    }
}
