//! Runs: start, list, inspect, cancel, retry, logs and outputs.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use hangar_engine::scheduler::params_as_overrides;
use hangar_engine::store::{AttemptRecord, LogEntry, RunFilter, RunRecord, TaskRecord};
use hangar_engine::{EngineError, RunStatus, compile};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::access::{check_plan, invalid_pipeline};
use super::pipelines::visible_pipeline;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult};
use crate::state::AppState;

/// Params of a new run.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// Values of the pipeline's declared params.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
    /// A stored version (`blake3:…`) to run instead of the current one.
    pub version: Option<String>,
}

/// A started run.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunCreated {
    pub run_id: String,
    pub pipeline: String,
    pub status: String,
    /// Where to follow it.
    pub url: String,
    pub events_url: String,
}

/// A run in listings and at the top of its detail.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunView {
    pub id: String,
    pub pipeline: String,
    pub status: String,
    pub owner: Option<String>,
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
    pub spec_hash: String,
    pub error: Option<String>,
    pub cancel_requested: bool,
    /// Milliseconds since the epoch.
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub duration_ms: Option<i64>,
}

impl From<&RunRecord> for RunView {
    fn from(run: &RunRecord) -> Self {
        Self {
            id: run.id.clone(),
            pipeline: run.pipeline.clone(),
            status: run.status.to_string(),
            owner: run.owner.clone(),
            params: run.params.clone(),
            spec_hash: run.spec_hash.clone(),
            error: run.error.clone(),
            cancel_requested: run.cancel_requested,
            created_at: run.created_at,
            started_at: run.started_at,
            finished_at: run.finished_at,
            duration_ms: run.started_at.zip(run.finished_at).map(|(s, f)| f - s),
        }
    }
}

/// A page of runs, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunPage {
    pub runs: Vec<RunView>,
    pub page: i64,
    pub limit: i64,
    pub total: u64,
}

/// An output of a task.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutputView {
    pub kind: String,
    pub key: String,
    pub uri: String,
    pub digest: String,
    pub size: u64,
    pub dir: bool,
    /// Download path (for a folder, add `?file=NAME`; without it, its file list).
    pub download: String,
}

/// A task of a run with its attempts.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskView {
    pub task_id: String,
    pub operator: String,
    pub status: String,
    pub attempt: u32,
    pub max_attempts: u32,
    pub error: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub progress: Option<serde_json::Value>,
    pub queued_at: Option<i64>,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub duration_ms: Option<i64>,
    pub worker: Option<String>,
    pub outputs: BTreeMap<String, OutputView>,
    pub attempts: Vec<AttemptView>,
    /// For a task with `map:` once its items are known: how many instances
    /// (`ID[0]`, `ID[1]`, …, listed as tasks of their own) it has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub map_size: Option<u32>,
}

/// One attempt of a task.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptView {
    pub attempt: u32,
    pub status: String,
    pub worker: Option<String>,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub error: Option<String>,
}

impl From<&AttemptRecord> for AttemptView {
    fn from(a: &AttemptRecord) -> Self {
        Self {
            attempt: a.attempt,
            status: a.status.clone(),
            worker: a.worker.clone(),
            started_at: a.started_at,
            finished_at: a.finished_at,
            error: a.error.clone(),
        }
    }
}

/// A run with its tasks.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunDetail {
    #[serde(flatten)]
    pub run: RunView,
    pub tasks: Vec<TaskView>,
}

/// Filters and page of `GET /runs`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct RunQuery {
    /// `pending`, `running`, `succeeded`, `failed` or `cancelled`.
    pub status: Option<String>,
    pub pipeline: Option<String>,
    /// 1-based (default 1).
    pub page: Option<i64>,
    /// 1..=200 (default 50).
    pub limit: Option<i64>,
}

/// A page of log lines.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogPage {
    #[schema(value_type = Vec<Object>)]
    pub lines: Vec<LogEntry>,
    /// Pass as `after` for the next page.
    pub next_after: i64,
}

/// Position in a task log.
#[derive(Debug, Deserialize, IntoParams)]
pub struct LogQuery {
    /// Lines after this id (default 0: from the start).
    pub after: Option<i64>,
    /// 1..=5000 (default 1000).
    pub limit: Option<i64>,
}

/// Which file of a folder output.
#[derive(Debug, Deserialize, IntoParams)]
pub struct FileQuery {
    /// Path inside the folder.
    pub file: Option<String>,
}

/// An accepted request about a run.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunAction {
    pub run_id: String,
    pub status: String,
}

/// Starts a run of a stored pipeline.
#[utoipa::path(post, path = "/pipelines/{name}/runs", tag = "runs", security(("bearer" = [])),
    params(("name" = String, Path, description = "Pipeline name")), request_body = RunRequest,
    responses((status = 201, body = RunCreated), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(name): ApiPath<String>,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, ApiJson<RunCreated>)> {
    // An empty body runs with the declared defaults.
    let request: RunRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RunRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::invalid(format!("the body is not a run request: {e}; send {{\"params\": {{...}}}}"))
        })?
    };
    let pipeline = visible_pipeline(&state, &user, &name).await?;
    let text = match &request.version {
        None => pipeline.spec_text.clone(),
        Some(version) => state
            .store()
            .pipeline_versions(&name)
            .await?
            .into_iter()
            .find(|v| &v.hash == version)
            .map(|v| v.spec_text)
            .ok_or_else(|| ApiError::not_found(format!("pipeline {name} has no version {version}")))?,
    };
    if !(request.params.is_null() || request.params.is_object()) {
        return Err(ApiError::invalid("params must be an object of param values"));
    }
    let overrides = params_as_overrides(&request.params);
    let plan = compile(&format!("{name}.yaml"), &text, state.engine.registry(), &overrides)
        .map_err(|d| invalid_pipeline(&d))?;
    check_plan(&user, &plan, &state).await?;
    let run_id = state
        .engine
        .submit(&plan, Some(&user.id))
        .await
        .map_err(|e| ApiError::internal("could not record the run", &e))?;
    state.launch(&run_id);
    tracing::info!(run = %run_id, pipeline = %name, user = %user.id, "Run started over the API.");
    state.audit_done(&user, "run.start", &run_id).await;
    Ok((
        StatusCode::CREATED,
        ApiJson(RunCreated {
            url: format!("/api/v1/runs/{run_id}"),
            events_url: format!("/api/v1/runs/{run_id}/events"),
            run_id,
            pipeline: name,
            status: RunStatus::Pending.to_string(),
        }),
    ))
}

/// Runs the caller may see, newest first.
#[utoipa::path(get, path = "/runs", tag = "runs", security(("bearer" = [])), params(RunQuery),
    responses((status = 200, body = RunPage), (status = 400, body = crate::error::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiQuery(query): ApiQuery<RunQuery>,
) -> ApiResult<ApiJson<RunPage>> {
    Ok(ApiJson(run_page(&state, &user, query).await?))
}

/// One page of the runs `user` may see, filtered as `query` asks.
///
/// # Errors
/// 400 for an unknown status or a limit or page out of range.
pub async fn run_page(state: &AppState, user: &CurrentUser, query: RunQuery) -> ApiResult<RunPage> {
    let status = match query.status.as_deref().filter(|s| !s.is_empty()) {
        Some(text) => Some(text.parse::<RunStatus>().map_err(|_| {
            ApiError::bad_request(format!(
                "unknown status \"{text}\"; use pending, running, succeeded, failed or cancelled"
            ))
        })?),
        None => None,
    };
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::bad_request("limit must be between 1 and 200"));
    }
    let page = query.page.unwrap_or(1);
    if page < 1 {
        return Err(ApiError::bad_request("page starts at 1"));
    }
    let filter = RunFilter {
        pipeline: query.pipeline.filter(|p| !p.is_empty()),
        status,
        owner: user.owner_filter(),
        limit,
        offset: (page - 1).saturating_mul(limit),
    };
    let runs = state.store().runs(&filter).await?;
    let total = state.store().count_runs(&filter).await?;
    Ok(RunPage { runs: runs.iter().map(RunView::from).collect(), page, limit, total })
}

/// The run if the caller may see it; 404 otherwise (another user's run
/// is indistinguishable from a missing one).
pub async fn visible_run(state: &AppState, user: &CurrentUser, run_id: &str) -> ApiResult<RunRecord> {
    match state.store().run(run_id).await? {
        Some(run) if user.can_see(run.owner.as_deref()) => Ok(run),
        found => {
            if found.is_some() {
                state.audit_refused(user, "run.read", run_id, "owned by another account").await;
            }
            Err(missing_run(run_id))
        }
    }
}

fn missing_run(run_id: &str) -> ApiError {
    ApiError::not_found(format!("no run {run_id}; list yours with GET /api/v1/runs")).in_console(
        format!("There is no run {run_id}."),
        "/runs",
        "See your runs",
    )
}

fn task_view(run_id: &str, task: &TaskRecord, attempts: &[AttemptRecord]) -> TaskView {
    let outputs = task
        .outputs
        .iter()
        .flatten()
        .map(|(name, artifact)| {
            (
                name.clone(),
                OutputView {
                    kind: artifact.kind.to_string(),
                    key: artifact.key.clone(),
                    uri: artifact.uri.clone(),
                    digest: artifact.digest.clone(),
                    size: artifact.size,
                    dir: artifact.dir,
                    download: format!("/api/v1/runs/{run_id}/tasks/{}/outputs/{name}", task.task_id),
                },
            )
        })
        .collect();
    TaskView {
        task_id: task.task_id.clone(),
        operator: task.operator.clone(),
        status: task.status.to_string(),
        attempt: task.attempt,
        max_attempts: task.max_attempts,
        error: task.error.clone(),
        progress: task.progress.as_ref().and_then(|p| serde_json::to_value(p).ok()),
        queued_at: task.queued_at,
        started_at: task.started_at,
        finished_at: task.finished_at,
        duration_ms: task.started_at.zip(task.finished_at).map(|(s, f)| f - s),
        worker: attempts.last().and_then(|a| a.worker.clone()),
        outputs,
        attempts: attempts.iter().map(AttemptView::from).collect(),
        map_size: task.map_size,
    }
}

/// A run with its tasks, attempts, timings and outputs.
#[utoipa::path(get, path = "/runs/{id}", tag = "runs", security(("bearer" = [])),
    params(("id" = String, Path, description = "Run id")),
    responses((status = 200, body = RunDetail), (status = 404, body = crate::error::ErrorBody)))]
pub async fn detail(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ApiJson<RunDetail>> {
    Ok(ApiJson(run_detail(&state, &user, &id).await?.1))
}

/// The run (if `user` may see it) and its tasks with attempts and outputs.
///
/// # Errors
/// 404 for a missing or foreign run; store failures.
pub async fn run_detail(state: &AppState, user: &CurrentUser, id: &str) -> ApiResult<(RunRecord, RunDetail)> {
    let run = visible_run(state, user, id).await?;
    let tasks = state.store().tasks(id).await?;
    let mut views = Vec::with_capacity(tasks.len());
    for task in &tasks {
        let attempts = if task.attempt > 0 { state.store().attempts(id, &task.task_id).await? } else { Vec::new() };
        views.push(task_view(id, task, &attempts));
    }
    let detail = RunDetail { run: RunView::from(&run), tasks: views };
    Ok((run, detail))
}

/// Asks a run to stop; running tasks are signalled, queued ones cancelled.
#[utoipa::path(post, path = "/runs/{id}/cancel", tag = "runs", security(("bearer" = [])),
    params(("id" = String, Path, description = "Run id")),
    responses((status = 202, body = RunAction), (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody)))]
pub async fn cancel(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<(StatusCode, ApiJson<RunAction>)> {
    let run = visible_run(&state, &user, &id).await?;
    if run.status.is_terminal() {
        return Err(ApiError::conflict(format!("run {id} already {}; nothing to cancel", run.status)));
    }
    state.engine.cancel(&id).await.map_err(|e| ApiError::internal("could not cancel the run", &e))?;
    tracing::info!(run = %id, user = %user.id, "Run cancellation requested.");
    state.audit_done(&user, "run.cancel", &id).await;
    Ok((StatusCode::ACCEPTED, ApiJson(RunAction { run_id: id, status: "cancelling".to_owned() })))
}

/// Runs a failed or cancelled run again: tasks that succeeded keep their
/// outputs, the others run again.
#[utoipa::path(post, path = "/runs/{id}/retry", tag = "runs", security(("bearer" = [])),
    params(("id" = String, Path, description = "Run id")),
    responses((status = 202, body = RunAction), (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody)))]
pub async fn retry(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<(StatusCode, ApiJson<RunAction>)> {
    let run = visible_run(&state, &user, &id).await?;
    match run.status {
        RunStatus::Succeeded => return Err(ApiError::conflict(format!("run {id} succeeded; nothing to retry"))),
        status if !status.is_terminal() => {
            return Err(ApiError::conflict(format!("run {id} is still {status}; cancel it or wait for it to end")));
        }
        _ => {}
    }
    let plan = hangar_engine::compile_template(&run.spec_path, &run.spec_text, state.engine.registry());
    if let Ok(plan) = &plan {
        check_plan(&user, plan, &state).await?;
    }
    match state.engine.prepare_resume(&id).await {
        Ok(_) => {}
        Err(err @ EngineError::RunBusy { .. }) => return Err(ApiError::conflict(err.to_string())),
        Err(err) => return Err(ApiError::internal("could not reset the run", &err)),
    }
    state.launch(&id);
    tracing::info!(run = %id, user = %user.id, "Run retried.");
    state.audit_done(&user, "run.retry", &id).await;
    Ok((StatusCode::ACCEPTED, ApiJson(RunAction { run_id: id, status: RunStatus::Pending.to_string() })))
}

pub(crate) async fn visible_task(
    state: &AppState,
    user: &CurrentUser,
    run_id: &str,
    task_id: &str,
) -> ApiResult<TaskRecord> {
    visible_run(state, user, run_id).await?;
    state
        .store()
        .tasks(run_id)
        .await?
        .into_iter()
        .find(|t| t.task_id == task_id)
        .ok_or_else(|| ApiError::not_found(format!("run {run_id} has no task {task_id}")))
}

/// A page of a task's log, oldest first.
#[utoipa::path(get, path = "/runs/{id}/tasks/{task}/logs", tag = "runs", security(("bearer" = [])),
    params(("id" = String, Path, description = "Run id"), ("task" = String, Path, description = "Task id"), LogQuery),
    responses((status = 200, body = LogPage), (status = 404, body = crate::error::ErrorBody)))]
pub async fn logs(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath((id, task)): ApiPath<(String, String)>,
    ApiQuery(query): ApiQuery<LogQuery>,
) -> ApiResult<ApiJson<LogPage>> {
    visible_task(&state, &user, &id, &task).await?;
    let after = query.after.unwrap_or(0).max(0);
    let limit = query.limit.unwrap_or(1000).clamp(1, 5000);
    let lines = state.store().logs(&id, Some(&task), after, limit).await?;
    let next_after = lines.last().map_or(after, |l| l.id);
    Ok(ApiJson(LogPage { lines, next_after }))
}

/// Downloads a task output (ranges supported); for a folder, `?file=NAME`
/// picks a file and without it the answer lists the files.
#[utoipa::path(get, path = "/runs/{id}/tasks/{task}/outputs/{output}", tag = "runs", security(("bearer" = [])),
    params(("id" = String, Path, description = "Run id"), ("task" = String, Path, description = "Task id"),
           ("output" = String, Path, description = "Output name"), FileQuery),
    responses((status = 200, description = "The file, or a folder's listing"), (status = 206, description = "Part of the file"),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn output(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath((id, task, output)): ApiPath<(String, String, String)>,
    ApiQuery(query): ApiQuery<FileQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let record = visible_task(&state, &user, &id, &task).await?;
    let artifact = record
        .outputs
        .as_ref()
        .and_then(|o| o.get(&output))
        .ok_or_else(|| ApiError::not_found(format!("task {task} of run {id} has no output {output}")))?;
    let artifacts = state.engine.artifacts();
    if !artifact.dir {
        let name = artifact.key.rsplit('/').next().unwrap_or(&output).to_owned();
        return super::download::serve(artifacts, &artifact.key, &name, guess_type(&name), &headers).await;
    }
    let files = artifacts.list(&artifact.key).await.map_err(|e| ApiError::internal("could not list the output", &e))?;
    let prefix = format!("{}/", artifact.key.trim_end_matches('/'));
    match query.file {
        Some(file) => {
            if file.split('/').any(|part| part == ".." || part.is_empty()) {
                return Err(ApiError::bad_request("file must be a relative path inside the output"));
            }
            let key = format!("{prefix}{file}");
            if !files.iter().any(|(k, _)| k == &key) {
                return Err(ApiError::not_found(format!("output {output} has no file {file}")));
            }
            let name = file.rsplit('/').next().unwrap_or(&file).to_owned();
            super::download::serve(artifacts, &key, &name, guess_type(&name), &headers).await
        }
        None => {
            let listing: Vec<serde_json::Value> = files
                .iter()
                .map(|(key, size)| {
                    let file = key.strip_prefix(&prefix).unwrap_or(key);
                    serde_json::json!({"file": file, "size": size})
                })
                .collect();
            Ok(axum::response::IntoResponse::into_response(axum::Json(
                serde_json::json!({"output": output, "kind": artifact.kind, "files": listing}),
            )))
        }
    }
}

/// A content type from the file extension, for downloads of outputs.
pub fn guess_type(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or_default() {
        "json" => "application/json",
        "jsonl" => "application/jsonl",
        "txt" | "log" => "text/plain; charset=utf-8",
        "md" => "text/markdown; charset=utf-8",
        "csv" => "text/csv",
        "html" => "text/html; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "pdf" => "application/pdf",
        _ => "application/octet-stream",
    }
}
