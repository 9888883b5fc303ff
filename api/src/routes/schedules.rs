//! Cron schedules of stored pipelines.

use axum::extract::State;
use axum::http::StatusCode;
use hangar_engine::clock::now_ms;
use hangar_engine::compile;
use hangar_engine::cron::CronSchedule;
use hangar_engine::scheduler::params_as_overrides;
use hangar_engine::store::catalog::{FireRecord, ScheduleRecord};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::access::{check_plan, invalid_pipeline};
use super::pipelines::visible_pipeline;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiJson, ApiPath, ApiResult};
use crate::state::AppState;

/// A schedule with its next fire times.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleView {
    pub id: String,
    pub pipeline: String,
    pub owner: String,
    pub cron: String,
    pub timezone: String,
    pub catchup: bool,
    pub max_active_runs: Option<u32>,
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
    /// `spec` (the pipeline's `schedule:` block) or `api`.
    pub source: String,
    pub enabled: bool,
    pub created_at: i64,
    /// Logical time of the latest fire (ms).
    pub last_fire: Option<i64>,
    /// The next fire times (ms since the epoch).
    pub next_fire_times: Vec<i64>,
    /// The latest fires, newest first (detail views only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub recent_fires: Vec<FireRecord>,
}

pub fn schedule_view(s: &ScheduleRecord, now: i64, upcoming: usize) -> ScheduleView {
    let next_fire_times = match CronSchedule::parse(&s.cron, &s.timezone) {
        Ok(cron) if s.enabled => cron.upcoming(now, upcoming),
        _ => Vec::new(),
    };
    ScheduleView {
        id: s.id.clone(),
        pipeline: s.pipeline.clone(),
        owner: s.owner.clone(),
        cron: s.cron.clone(),
        timezone: s.timezone.clone(),
        catchup: s.catchup,
        max_active_runs: s.max_active_runs,
        params: s.params.clone(),
        source: s.source.clone(),
        enabled: s.enabled,
        created_at: s.created_at,
        last_fire: s.last_fire,
        next_fire_times,
        recent_fires: Vec::new(),
    }
}

/// The caller's schedules.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleList {
    pub schedules: Vec<ScheduleView>,
}

/// A new schedule.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleRequest {
    pub pipeline: String,
    /// Five fields (`30 2 * * *`), six with seconds first, or `@daily` and friends.
    pub cron: String,
    /// IANA time zone (default `UTC`).
    pub timezone: Option<String>,
    /// After downtime, fire every missed time (default false: only the latest).
    #[serde(default)]
    pub catchup: bool,
    pub max_active_runs: Option<u32>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
}

/// Schedules the caller may see, with their next fire times.
#[utoipa::path(get, path = "/schedules", tag = "schedules", security(("bearer" = [])),
    responses((status = 200, body = ScheduleList)))]
pub async fn list(State(state): State<AppState>, user: CurrentUser) -> ApiResult<ApiJson<ScheduleList>> {
    let now = now_ms();
    let mut schedules = Vec::new();
    for s in state.store().schedules(user.owner_filter().as_deref()).await? {
        let mut view = schedule_view(&s, now, 3);
        view.recent_fires = state.store().fires(&s.id, 5).await?;
        schedules.push(view);
    }
    Ok(ApiJson(ScheduleList { schedules }))
}

/// Puts a stored pipeline on a cron schedule.
#[utoipa::path(post, path = "/schedules", tag = "schedules", security(("bearer" = [])), request_body = ScheduleRequest,
    responses((status = 201, body = ScheduleView), (status = 404, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(request): ApiJson<ScheduleRequest>,
) -> ApiResult<(StatusCode, ApiJson<ScheduleView>)> {
    let pipeline = visible_pipeline(&state, &user, &request.pipeline).await?;
    let timezone = request.timezone.unwrap_or_else(|| "UTC".to_owned());
    CronSchedule::parse(&request.cron, &timezone).map_err(|e| ApiError::invalid(e.to_string()))?;
    if request.max_active_runs == Some(0) {
        return Err(ApiError::invalid("max_active_runs must be at least 1"));
    }
    let params = if request.params.is_null() { serde_json::json!({}) } else { request.params };
    if !params.is_object() {
        return Err(ApiError::invalid("params must be an object of param values"));
    }
    // The scheduled runs must plan now, or every fire would fail.
    let plan = compile(
        &format!("{}.yaml", pipeline.name),
        &pipeline.spec_text,
        state.engine.registry(),
        &params_as_overrides(&params),
    )
    .map_err(|d| invalid_pipeline(&d))?;
    check_plan(&user, &plan, &state).await?;
    let now = now_ms();
    let schedule = ScheduleRecord {
        id: format!("sch_{}", uuid::Uuid::now_v7().simple()),
        pipeline: pipeline.name.clone(),
        owner: pipeline.owner.clone(),
        cron: request.cron.trim().to_owned(),
        timezone,
        catchup: request.catchup,
        max_active_runs: request.max_active_runs,
        params,
        source: "api".to_owned(),
        enabled: true,
        created_at: now,
        last_fire: None,
        resumed_at: None,
    };
    state.store().put_schedule(&schedule).await?;
    tracing::info!(schedule = %schedule.id, pipeline = %schedule.pipeline, cron = %schedule.cron, "Schedule created.");
    state.audit_done(&user, "schedule.create", &schedule.id).await;
    Ok((StatusCode::CREATED, ApiJson(schedule_view(&schedule, now, 3))))
}

/// Deletes a schedule (a `spec` schedule comes back with the next version
/// of its pipeline that still has the `schedule:` block).
#[utoipa::path(delete, path = "/schedules/{id}", tag = "schedules", security(("bearer" = [])),
    params(("id" = String, Path, description = "Schedule id")),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    visible_schedule(&state, &user, &id).await?;
    state.store().delete_schedule(&id).await?;
    state.audit_done(&user, "schedule.delete", &id).await;
    Ok(StatusCode::NO_CONTENT)
}

/// What may change on a schedule.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SchedulePatch {
    /// False pauses it; true resumes it, without firing what it missed while paused.
    pub enabled: bool,
}

/// Pauses or resumes a schedule (a paused `spec` schedule stays paused when
/// its pipeline is stored again).
#[utoipa::path(patch, path = "/schedules/{id}", tag = "schedules", security(("bearer" = [])),
    params(("id" = String, Path, description = "Schedule id")), request_body = SchedulePatch,
    responses((status = 200, body = ScheduleView), (status = 404, body = crate::error::ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<String>,
    body: axum::body::Bytes,
) -> ApiResult<ApiJson<ScheduleView>> {
    match serde_json::from_slice::<SchedulePatch>(&body) {
        Ok(patch) => pause_or_resume(&state, &user, &id, patch.enabled).await.map(ApiJson),
        Err(e) => {
            // Another user's schedule is missing, whatever the body says.
            visible_schedule(&state, &user, &id).await?;
            Err(ApiError::invalid(format!(
                "the body is not a schedule change: {e}; send {{\"enabled\": false}} to pause, true to resume"
            )))
        }
    }
}

/// Pauses (`enabled` false) or resumes the schedule `id`, if the caller may see it.
pub async fn pause_or_resume(state: &AppState, user: &CurrentUser, id: &str, enabled: bool) -> ApiResult<ScheduleView> {
    let mut schedule = visible_schedule(state, user, id).await?;
    let now = now_ms();
    if !state.store().set_schedule_enabled(id, enabled, now).await? {
        return Err(no_schedule(id));
    }
    schedule.enabled = enabled;
    let verb = if enabled { "resumed" } else { "paused" };
    tracing::info!(schedule = %id, by = %user.id, "Schedule {verb}.");
    state.audit_done(user, if enabled { "schedule.resume" } else { "schedule.pause" }, id).await;
    Ok(schedule_view(&schedule, now, 3))
}

/// The schedule `id` if the caller may see it; another user's reads as missing.
async fn visible_schedule(state: &AppState, user: &CurrentUser, id: &str) -> ApiResult<ScheduleRecord> {
    match state.store().schedule(id).await? {
        Some(s) if user.can_see(Some(&s.owner)) => Ok(s),
        Some(_) => {
            state.audit_refused(user, "schedule.read", id, "owned by another account").await;
            Err(no_schedule(id))
        }
        None => Err(no_schedule(id)),
    }
}

fn no_schedule(id: &str) -> ApiError {
    ApiError::not_found(format!("no schedule {id}; list yours with GET /api/v1/schedules")).in_console(
        format!("There is no schedule {id}."),
        "/pipelines",
        "See your pipelines and their schedules",
    )
}
