//! Liveness, readiness and metrics for operators of the service.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiJson, ApiResult};
use crate::state::AppState;

/// Health of the process or its dependencies.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthView {
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifacts: Option<&'static str>,
}

/// The process is up.
#[utoipa::path(get, path = "/health", tag = "operations", responses((status = 200, body = HealthView)))]
pub async fn health() -> ApiJson<HealthView> {
    ApiJson(HealthView { status: "ok", database: None, artifacts: None })
}

/// The database and the artifact store answer.
#[utoipa::path(get, path = "/ready", tag = "operations",
    responses((status = 200, body = HealthView), (status = 503, body = HealthView)))]
pub async fn ready(State(state): State<AppState>) -> Response {
    let database = state.store().ping().await;
    let artifacts = state.engine.artifacts().check().await;
    if let Err(err) = &database {
        tracing::warn!(error = %err, "Readiness: the database does not answer.");
    }
    if let Err(err) = &artifacts {
        tracing::warn!(error = %err, "Readiness: the artifact store does not answer.");
    }
    let view = HealthView {
        status: if database.is_ok() && artifacts.is_ok() { "ok" } else { "unavailable" },
        database: Some(if database.is_ok() { "ok" } else { "unavailable" }),
        artifacts: Some(if artifacts.is_ok() { "ok" } else { "unavailable" }),
    };
    let status = if view.status == "ok" { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, ApiJson(view)).into_response()
}

/// Prometheus metrics (text exposition format).
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> ApiResult<Response> {
    let text = state.metrics.render(&state.engine).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response())
}
