//! Stored pipelines: validated like the CLI validates, versioned by the
//! hash of their text.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use hangar_engine::clock::now_ms;
use hangar_engine::compile_template;
use hangar_engine::scheduler::spec_schedule;
use hangar_engine::store::RunFilter;
use hangar_engine::store::catalog::{NewPipelineVersion, SavedPipeline, ScheduleRecord};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::access::{check_plan, invalid_pipeline};
use super::schedules::{ScheduleView, schedule_view};
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult};
use crate::state::AppState;

/// A stored pipeline in listings.
#[derive(Debug, Serialize, ToSchema)]
pub struct PipelineSummary {
    pub name: String,
    pub owner: String,
    /// `blake3:` of the current text.
    pub current_version: String,
    pub versions: u32,
    pub description: Option<String>,
    pub tasks: usize,
    /// Status of the newest run, if any.
    pub last_run_status: Option<String>,
    pub last_run_id: Option<String>,
    /// Next scheduled time (ms), when the pipeline has an enabled schedule.
    pub next_fire_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The pipelines the caller may see.
#[derive(Debug, Serialize, ToSchema)]
pub struct PipelineList {
    pub pipelines: Vec<PipelineSummary>,
}

/// One version of a pipeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionView {
    pub hash: String,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub current: bool,
}

/// A stored pipeline with its text, versions and schedules.
#[derive(Debug, Serialize, ToSchema)]
pub struct PipelineDetail {
    #[serde(flatten)]
    pub summary: PipelineSummary,
    /// The current YAML text.
    pub spec: String,
    pub versions: Vec<VersionView>,
    pub schedules: Vec<ScheduleView>,
    /// Declared params: name → `{type, default, description}`.
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
}

/// What storing a pipeline did.
#[derive(Debug, Serialize, ToSchema)]
pub struct SavedView {
    pub name: String,
    pub version: String,
    /// `created`, `new_version` or `unchanged`.
    pub outcome: &'static str,
    pub tasks: usize,
}

/// Where the YAML came from, for diagnostics.
#[derive(Debug, Deserialize, IntoParams)]
pub struct CreateQuery {
    /// File name shown in diagnostics (default `pipeline.yaml`).
    pub file: Option<String>,
}

/// Validates and stores a pipeline (YAML body). A new text becomes a new
/// version; its `schedule:` block, if any, becomes the pipeline's schedule.
#[utoipa::path(post, path = "/pipelines", tag = "pipelines", security(("bearer" = [])),
    params(CreateQuery),
    request_body(content = String, content_type = "application/yaml"),
    responses((status = 201, body = SavedView), (status = 200, body = SavedView),
              (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiQuery(query): ApiQuery<CreateQuery>,
    body: Bytes,
) -> ApiResult<(StatusCode, ApiJson<SavedView>)> {
    let text = String::from_utf8(body.to_vec())
        .map_err(|_| ApiError::bad_request("the pipeline is not UTF-8 text; send the YAML file as UTF-8"))?;
    let file = query.file.unwrap_or_else(|| "pipeline.yaml".to_owned());
    let plan = compile_template(&file, &text, state.engine.registry()).map_err(|d| invalid_pipeline(&d))?;
    check_plan(&user, &plan, &state).await?;
    let name = plan.spec.name.clone();
    let owner = match state.store().pipeline(&name).await? {
        Some(existing) if user.can_see(Some(&existing.owner)) => existing.owner,
        Some(_) => {
            state.audit_refused(&user, "pipeline.save", &name, "owned by another account").await;
            return Err(ApiError::conflict(format!(
                "another account owns a pipeline named {name}; choose another name"
            )));
        }
        None => user.id.clone(),
    };
    let now = now_ms();
    let saved = state
        .store()
        .save_pipeline(&NewPipelineVersion {
            name: name.clone(),
            owner: owner.clone(),
            hash: plan.hash.clone(),
            spec_text: text,
            now,
        })
        .await?;
    let (status, outcome) = match saved {
        SavedPipeline::Created => (StatusCode::CREATED, "created"),
        SavedPipeline::NewVersion => (StatusCode::CREATED, "new_version"),
        SavedPipeline::Existing => (StatusCode::OK, "unchanged"),
        SavedPipeline::Taken { .. } => {
            return Err(ApiError::conflict(format!(
                "another account owns a pipeline named {name}; choose another name"
            )));
        }
    };
    sync_spec_schedule(&state, &plan, &owner, now).await?;
    tracing::info!(pipeline = %name, version = %plan.hash, outcome, user = %user.id, "Pipeline stored.");
    if outcome != "unchanged" {
        state.audit_done(&user, "pipeline.save", &format!("{name}@{}", plan.hash)).await;
    }
    Ok((status, ApiJson(SavedView { name, version: plan.hash.clone(), outcome, tasks: plan.tasks.len() })))
}

/// The `schedule:` block owns the schedule `spec:NAME`: created, changed
/// (keeping its fire history) or removed with the block.
async fn sync_spec_schedule(state: &AppState, plan: &hangar_engine::Plan, owner: &str, now: i64) -> ApiResult<()> {
    let id = format!("spec:{}", plan.spec.name);
    let existing = state.store().schedule(&id).await?;
    match spec_schedule(plan, owner, now) {
        Some(mut schedule) => {
            if let Some(existing) = existing {
                schedule.created_at = existing.created_at;
                schedule.last_fire = existing.last_fire;
            }
            state.store().put_schedule(&schedule).await?;
        }
        None if existing.is_some() => {
            state.store().delete_schedule(&id).await?;
        }
        None => {}
    }
    Ok(())
}

/// The listing view of a pipeline, from its plan (when it still compiles)
/// and the schedules read once by the caller.
async fn summary(
    state: &AppState,
    record: &hangar_engine::store::catalog::PipelineRecord,
    plan: Option<&hangar_engine::Plan>,
    schedules: &[ScheduleRecord],
) -> ApiResult<PipelineSummary> {
    let last = state
        .store()
        .runs(&RunFilter { pipeline: Some(record.name.clone()), limit: 1, ..RunFilter::default() })
        .await?
        .into_iter()
        .next();
    let now = now_ms();
    let next_fire_at = schedules
        .iter()
        .filter(|s| s.pipeline == record.name && s.enabled)
        .filter_map(|s| schedule_view(s, now, 1).next_fire_times.first().copied())
        .min();
    Ok(PipelineSummary {
        name: record.name.clone(),
        owner: record.owner.clone(),
        current_version: record.current_hash.clone(),
        versions: record.versions,
        description: plan.and_then(|p| p.spec.description.clone()),
        tasks: plan.map_or(0, |p| p.tasks.len()),
        last_run_status: last.as_ref().map(|r| r.status.to_string()),
        last_run_id: last.map(|r| r.id),
        next_fire_at,
        created_at: record.created_at,
        updated_at: record.updated_at,
    })
}

/// The caller's pipelines (all of them for administrators).
#[utoipa::path(get, path = "/pipelines", tag = "pipelines", security(("bearer" = [])),
    responses((status = 200, body = PipelineList)))]
pub async fn list(State(state): State<AppState>, user: CurrentUser) -> ApiResult<ApiJson<PipelineList>> {
    let records = state.store().pipelines(user.owner_filter().as_deref()).await?;
    let schedules = state.store().schedules(None).await?;
    let mut pipelines = Vec::with_capacity(records.len());
    for record in &records {
        let plan = compile_template(&format!("{}.yaml", record.name), &record.spec_text, state.engine.registry()).ok();
        pipelines.push(summary(&state, record, plan.as_ref(), &schedules).await?);
    }
    Ok(ApiJson(PipelineList { pipelines }))
}

pub(crate) async fn visible_pipeline(
    state: &AppState,
    user: &CurrentUser,
    name: &str,
) -> ApiResult<hangar_engine::store::catalog::PipelineRecord> {
    match state.store().pipeline(name).await? {
        Some(record) if user.can_see(Some(&record.owner)) => Ok(record),
        // Someone else's pipeline is as invisible as a missing one.
        found => {
            if found.is_some() {
                state.audit_refused(user, "pipeline.read", name, "owned by another account").await;
            }
            Err(missing_pipeline(name))
        }
    }
}

fn missing_pipeline(name: &str) -> ApiError {
    ApiError::not_found(format!("no pipeline named {name}; list yours with GET /api/v1/pipelines")).in_console(
        format!("There is no pipeline named {name}."),
        "/pipelines",
        "See your pipelines",
    )
}

/// A pipeline: its current text, versions and schedules.
#[utoipa::path(get, path = "/pipelines/{name}", tag = "pipelines", security(("bearer" = [])),
    params(("name" = String, Path, description = "Pipeline name")),
    responses((status = 200, body = PipelineDetail), (status = 404, body = crate::error::ErrorBody)))]
pub async fn detail(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<ApiJson<PipelineDetail>> {
    let record = visible_pipeline(&state, &user, &name).await?;
    let versions = state.store().pipeline_versions(&name).await?;
    let now = now_ms();
    let all_schedules = state.store().schedules(None).await?;
    let schedules = all_schedules.iter().filter(|s| s.pipeline == name).map(|s| schedule_view(s, now, 3)).collect();
    let plan = compile_template(&format!("{name}.yaml"), &record.spec_text, state.engine.registry()).ok();
    let params = plan
        .as_ref()
        .map(|plan| {
            serde_json::Value::Object(
                plan.spec
                    .params
                    .iter()
                    .map(|(k, p)| {
                        (
                            k.clone(),
                            serde_json::json!({
                                "type": p.kind.as_str(), "default": p.default, "description": p.description
                            }),
                        )
                    })
                    .collect(),
            )
        })
        .unwrap_or_default();
    Ok(ApiJson(PipelineDetail {
        summary: summary(&state, &record, plan.as_ref(), &all_schedules).await?,
        spec: record.spec_text.clone(),
        versions: versions
            .iter()
            .map(|v| VersionView {
                hash: v.hash.clone(),
                created_by: v.created_by.clone(),
                created_at: v.created_at,
                current: v.hash == record.current_hash,
            })
            .collect(),
        schedules,
        params,
    }))
}

/// Deletes a pipeline with its versions and schedules; its runs stay.
#[utoipa::path(delete, path = "/pipelines/{name}", tag = "pipelines", security(("bearer" = [])),
    params(("name" = String, Path, description = "Pipeline name")),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    visible_pipeline(&state, &user, &name).await?;
    state.store().delete_pipeline(&name).await?;
    tracing::info!(pipeline = %name, user = %user.id, "Pipeline deleted.");
    state.audit_done(&user, "pipeline.delete", &name).await;
    Ok(StatusCode::NO_CONTENT)
}
