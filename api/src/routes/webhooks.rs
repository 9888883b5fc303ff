//! Webhooks: an account's endpoints for its runs' events, their delivery
//! log, and the hosts an administrator allows them to point at.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use hangar_accounts::webhooks::EVENTS;
use hangar_accounts::{DeliveryRecord, WebhookRecord};
use hangar_engine::clock::now_ms;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{CurrentUser, Permission};
use crate::error::{ApiError, ApiJson, ApiPath, ApiResult};
use crate::notify::hosts::{self, Refusal};
use crate::state::AppState;

/// A webhook to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookRequest {
    /// A name pipelines use in `notify: [{ webhook: NAME }]`.
    pub name: String,
    /// Where events are POSTed: http(s) on a host an administrator allowed.
    pub url: String,
    /// Events it gets for every run of yours: `run.succeeded`, `run.failed`,
    /// `run.cancelled`, `task.failed`. Left out: all of them; `[]`: only
    /// those a pipeline's `notify:` names it for.
    pub events: Option<Vec<String>>,
}

/// A webhook, without its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    pub id: String,
    pub name: String,
    pub url: String,
    pub events: Vec<String>,
    /// Milliseconds since the epoch.
    pub created_at: i64,
}

impl From<&WebhookRecord> for WebhookView {
    fn from(w: &WebhookRecord) -> Self {
        Self {
            id: w.id.clone(),
            name: w.name.clone(),
            url: w.url.clone(),
            events: w.events.clone(),
            created_at: w.created_at,
        }
    }
}

/// A new webhook, with its signing secret: shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedWebhook {
    /// The HMAC-SHA256 key of `X-Hangar-Signature`; keep it at the receiver.
    pub secret: String,
    #[serde(flatten)]
    pub view: WebhookView,
}

/// The account's webhooks.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    pub webhooks: Vec<WebhookView>,
}

/// One delivery and its attempts so far.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    pub id: String,
    pub event: String,
    pub run_id: Option<String>,
    pub task_id: Option<String>,
    /// `pending`, `delivered` or `failed` (given up after its attempts).
    pub status: String,
    pub attempts: i64,
    /// When the next attempt is due (pending deliveries), ms since the epoch.
    pub next_attempt_at: Option<i64>,
    /// The receiver's last HTTP status, if it answered.
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

impl From<&DeliveryRecord> for DeliveryView {
    fn from(d: &DeliveryRecord) -> Self {
        Self {
            id: d.id.clone(),
            event: d.event.clone(),
            run_id: d.run_id.clone(),
            task_id: d.task_id.clone(),
            status: d.status.clone(),
            attempts: d.attempts,
            next_attempt_at: (d.status == "pending").then_some(d.next_attempt_at),
            last_status: d.last_status,
            last_error: d.last_error.clone(),
            created_at: d.created_at,
            finished_at: d.finished_at,
        }
    }
}

/// A webhook's newest deliveries.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryList {
    pub deliveries: Vec<DeliveryView>,
}

/// How many deliveries to list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DeliveryQuery {
    /// At most this many, newest first (default 50, at most 500).
    pub limit: Option<i64>,
}

/// The hosts webhooks may point at.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookHosts {
    /// `host` (its scheme's port only: 443 for https, 80 for http) or
    /// `host:port`, e.g. `hooks.slack.com`, `10.0.0.5:8443`, `[fd00::5]:8080`;
    /// matched exactly, case aside.
    pub hosts: Vec<String>,
}

/// Webhooks one account may have.
pub const MAX_WEBHOOKS: usize = 20;

/// Creates a webhook for the signed-in account.
#[utoipa::path(post, path = "/webhooks", tag = "webhooks", security(("bearer" = [])), request_body = WebhookRequest,
    responses((status = 201, body = CreatedWebhook), (status = 403, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(request): ApiJson<WebhookRequest>,
) -> ApiResult<(StatusCode, ApiJson<CreatedWebhook>)> {
    let name = request.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::invalid("give the webhook a name of 1 to 100 characters"));
    }
    let events = request.events.unwrap_or_else(|| EVENTS.iter().map(|e| (*e).to_owned()).collect());
    if let Some(unknown) = events.iter().find(|e| !EVENTS.contains(&e.as_str())) {
        return Err(ApiError::invalid(format!("unknown event {unknown:?}; use {}", EVENTS.join(", "))));
    }
    let allowed = state.accounts.webhook_hosts().await?;
    match hosts::check(&request.url, &allowed) {
        Ok(_) => {}
        Err(Refusal::Malformed(reason)) => return Err(ApiError::invalid(reason)),
        Err(Refusal::HostNotAllowed(host)) => {
            state.audit_refused(&user, "webhook.create", &host, "the host is not on the webhook allow-list").await;
            return Err(ApiError::forbidden(format!(
                "webhooks may not point at {host}: it is not on the server's list of allowed hosts; ask an \
                 administrator to allow it (PUT /api/v1/settings/webhook-hosts)"
            )));
        }
    }
    let mine = state.accounts.webhooks_of(&user.id).await?;
    if mine.iter().any(|w| w.name == name) {
        return Err(ApiError::conflict(format!("you already have a webhook named {name:?}; pick another name")));
    }
    if mine.len() >= MAX_WEBHOOKS {
        return Err(ApiError::conflict(format!(
            "you have {MAX_WEBHOOKS} webhooks, the most an account may have; delete one first"
        )));
    }
    let (record, secret) = state.accounts.create_webhook(&user.id, name, request.url.trim(), &events, now_ms()).await?;
    state.audit_done(&user, "webhook.create", &record.id).await;
    Ok((StatusCode::CREATED, ApiJson(CreatedWebhook { secret, view: WebhookView::from(&record) })))
}

/// The signed-in account's webhooks.
#[utoipa::path(get, path = "/webhooks", tag = "webhooks", security(("bearer" = [])),
    responses((status = 200, body = WebhookList)))]
pub async fn list(State(state): State<AppState>, user: CurrentUser) -> ApiResult<ApiJson<WebhookList>> {
    let webhooks = state.accounts.webhooks_of(&user.id).await?;
    Ok(ApiJson(WebhookList { webhooks: webhooks.iter().map(WebhookView::from).collect() }))
}

/// A webhook the user may see: their own, or anyone's for an administrator.
async fn visible(state: &AppState, user: &CurrentUser, id: &str, action: &str) -> ApiResult<WebhookRecord> {
    match state.accounts.webhook(id).await? {
        Some(w) if w.user_id == user.id || user.role.has(Permission::UserManage) => Ok(w),
        found => {
            if found.is_some() {
                state.audit_refused(user, action, id, "the webhook belongs to another account").await;
            }
            Err(ApiError::not_found(format!("no webhook {id}; list yours with GET /api/v1/webhooks")))
        }
    }
}

/// Deletes a webhook and its delivery log.
#[utoipa::path(delete, path = "/webhooks/{id}", tag = "webhooks", security(("bearer" = [])),
    params(("id" = String, Path, description = "Webhook id")),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let webhook = visible(&state, &user, &id, "webhook.delete").await?;
    state.accounts.delete_webhook(&webhook.id).await?;
    state.audit_done(&user, "webhook.delete", &webhook.id).await;
    Ok(StatusCode::NO_CONTENT)
}

/// A webhook's delivery log, newest first: every event, its attempts and the last answer.
#[utoipa::path(get, path = "/webhooks/{id}/deliveries", tag = "webhooks", security(("bearer" = [])),
    params(("id" = String, Path, description = "Webhook id"), DeliveryQuery),
    responses((status = 200, body = DeliveryList), (status = 404, body = crate::error::ErrorBody)))]
pub async fn deliveries(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiPath(id): ApiPath<String>,
    Query(query): Query<DeliveryQuery>,
) -> ApiResult<ApiJson<DeliveryList>> {
    let webhook = visible(&state, &user, &id, "webhook.read").await?;
    let limit = query.limit.unwrap_or(50).clamp(1, 500);
    let found = state.accounts.deliveries(&webhook.id, limit).await?;
    Ok(ApiJson(DeliveryList { deliveries: found.iter().map(DeliveryView::from).collect() }))
}

/// The hosts webhooks may point at (administrators).
#[utoipa::path(get, path = "/settings/webhook-hosts", tag = "webhooks", security(("bearer" = [])),
    responses((status = 200, body = WebhookHosts), (status = 403, body = crate::error::ErrorBody)))]
pub async fn allowed_hosts(State(state): State<AppState>, user: CurrentUser) -> ApiResult<ApiJson<WebhookHosts>> {
    user.require(Permission::SystemAdmin)?;
    Ok(ApiJson(WebhookHosts { hosts: state.accounts.webhook_hosts().await? }))
}

/// Replaces the hosts webhooks may point at (administrators). Deliveries
/// to a host taken off the list stop at their next attempt.
#[utoipa::path(put, path = "/settings/webhook-hosts", tag = "webhooks", security(("bearer" = [])),
    request_body = WebhookHosts,
    responses((status = 200, body = WebhookHosts), (status = 403, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)))]
pub async fn set_allowed_hosts(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(request): ApiJson<WebhookHosts>,
) -> ApiResult<ApiJson<WebhookHosts>> {
    user.require(Permission::SystemAdmin)?;
    let mut hosts_list = Vec::new();
    if request.hosts.len() > 1000 {
        return Err(ApiError::invalid("give at most 1000 hosts"));
    }
    for host in &request.hosts {
        let host = hosts::normalise(host);
        if !hosts::valid_entry(&host) {
            return Err(ApiError::invalid(format!(
                "{host:?} is not a host or host:port; give entries like hooks.example.com (its scheme's port) or \
                 hooks.example.com:8443, without scheme or path"
            )));
        }
        if !hosts_list.contains(&host) {
            hosts_list.push(host);
        }
    }
    state.accounts.set_webhook_hosts(&hosts_list, now_ms()).await?;
    state.audit_done(&user, "settings.webhook_hosts", &hosts_list.join(",")).await;
    Ok(ApiJson(WebhookHosts { hosts: state.accounts.webhook_hosts().await? }))
}
