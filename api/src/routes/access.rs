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

/// A field of `with:` as a path inside its task.
fn within_with(field: &[String]) -> Vec<String> {
    std::iter::once("with".to_owned()).chain(field.iter().cloned()).collect()
}

/// Problems reported at most for one plan.
const MAX_PROBLEMS: usize = 100;

/// Refuses a plan the user may not run: privileged operators need
/// `system:admin`, producing a model needs `model:train`, anything
/// `data:process`; and, for ordinary accounts, every file a config names
/// must be theirs to read and every size within the server's quotas.
///
/// # Errors
/// 403 naming the task and the permission; 422 with a positioned
/// diagnostic for each refused path or quota.
pub async fn check_plan(user: &CurrentUser, plan: &Plan, state: &AppState) -> Result<(), ApiError> {
    user.require(Permission::DataProcess)?;
    for task in plan.tasks.values() {
        let Some(operator) = state.engine.registry().get(&task.operator) else { continue };
        if operator.info.privileged && !user.role.has(Permission::SystemAdmin) {
            return Err(ApiError::forbidden(format!(
                "task {} uses the {} operator, which runs commands on the server and is for administrators only",
                task.id, task.operator
            )));
        }
        if operator.info.privileged && user.key.as_ref().is_some_and(|k| !k.scopes.iter().any(|s| s == "system:admin"))
        {
            return Err(ApiError::forbidden(format!(
                "task {} uses the {} operator, which runs commands on the server: an API key needs the \
                 system:admin scope for that",
                task.id, task.operator
            )));
        }
        if operator.info.outputs.iter().any(|o| o.kind == ArtifactKind::Model) {
            user.require(Permission::ModelTrain)?;
        }
    }
    let access = state.engine.access_for(Some(&user.id)).await.map_err(|e| match e.class {
        hangar_sdk::ErrorClass::User => ApiError::forbidden(e.message),
        _ => ApiError::internal("checking the account's access failed", &e.message),
    })?;
    if access.is_trusted() {
        return Ok(());
    }
    // A stored pipeline is planned with stand-ins (`<NAME>`) for params
    // without a default: their values are checked when a run binds them.
    let stand_ins: Vec<String> = plan
        .params
        .iter()
        .filter(|(name, value)| {
            plan.spec.params.get(*name).is_some_and(|p| p.default.is_none())
                && value.as_str() == Some(format!("<{name}>").as_str())
        })
        .map(|(name, _)| format!("<{name}>"))
        .collect();
    let mut problems = Vec::new();
    for task in plan.tasks.values() {
        let Some(operator) = state.engine.registry().get(&task.operator) else { continue };
        if let Some(server) = state.engine.task_limits() {
            let asked = task.resources;
            if asked.within(server) != asked.or(server) {
                problems.push((
                    task.id.clone(),
                    vec!["resources".to_owned()],
                    "`resources` asks for more than this server's limits of each task (HANGAR_TASK_MEMORY, \
                     HANGAR_TASK_CPU_TIME); ask for less, or ask an administrator to run it"
                        .to_owned(),
                ));
            }
        }
        let Some(demands) = operator.implementation.demands_erased(&task.with) else { continue };
        for (field, input) in &demands.inputs {
            // An output reference is an artifact of this run, checked when it runs.
            let written = input.as_written();
            if written.contains("${{") || stand_ins.iter().any(|s| written.contains(s.as_str())) {
                continue;
            }
            if let Err(err) = access.resolve(input, state.engine.artifacts()).await {
                problems.push((task.id.clone(), within_with(field), err.to_string()));
            }
        }
        problems.extend(
            state
                .engine
                .quotas()
                .excess(&demands)
                .into_iter()
                .map(|(field, message)| (task.id.clone(), within_with(&field), message)),
        );
        // Enough to act on; a hostile spec must not buy unbounded work.
        if problems.len() >= MAX_PROBLEMS {
            break;
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        problems.truncate(MAX_PROBLEMS);
        Err(invalid_pipeline(&Diagnostics::sorted(plan.diagnostics_at(problems))))
    }
}
