//! The audit log for administrators: filtered, paged, exported as JSON,
//! CSV or JSON Lines. Nothing here changes or removes a row.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use hangar_accounts::{AuditEntry, AuditFilter, Outcome};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{CurrentUser, Permission};
use crate::error::{ApiError, ApiJson, ApiQuery, ApiResult};
use crate::state::AppState;

/// Rows per page unless `limit` says otherwise.
const PAGE: i64 = 100;

/// Which rows, and in what form.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// An account id, its e-mail address, `system` or `anonymous`.
    pub actor: Option<String>,
    /// An action (`run.cancel`), or every action of a kind (`run.`).
    pub action: Option<String>,
    pub target: Option<String>,
    /// `allowed` or `refused`.
    pub outcome: Option<String>,
    /// From this time: RFC 3339 or milliseconds since the epoch.
    pub since: Option<String>,
    /// Until this time (exclusive): RFC 3339 or milliseconds since the epoch.
    pub until: Option<String>,
    /// Rows older than this id: pass the previous page's `next_before`.
    pub before: Option<i64>,
    /// Rows per page, up to 10000 (default 100).
    pub limit: Option<i64>,
    /// `json` (default), `csv` or `jsonl`.
    pub format: Option<String>,
}

/// One recorded action.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditRow {
    pub id: i64,
    /// Milliseconds since the epoch.
    pub at: i64,
    /// An account id, `system` or `anonymous`.
    pub actor: String,
    pub actor_email: Option<String>,
    /// The API key used, if any.
    pub key_id: Option<String>,
    pub action: String,
    pub target: Option<String>,
    /// `allowed` or `refused`.
    pub outcome: String,
    pub reason: Option<String>,
    pub address: Option<String>,
    pub request_id: Option<String>,
}

impl From<AuditEntry> for AuditRow {
    fn from(e: AuditEntry) -> Self {
        Self {
            id: e.id,
            at: e.at,
            actor: e.actor,
            actor_email: e.actor_email,
            key_id: e.key_id,
            action: e.action,
            target: e.target,
            outcome: e.outcome,
            reason: e.reason,
            address: e.address,
            request_id: e.request_id,
        }
    }
}

/// A page of the log, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub entries: Vec<AuditRow>,
    /// Pass as `before` for the next page; absent on the last.
    pub next_before: Option<i64>,
}

fn instant(text: &str, field: &str) -> ApiResult<i64> {
    let text = text.trim();
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    chrono::DateTime::parse_from_rfc3339(text).map(|t| t.timestamp_millis()).map_err(|_| {
        ApiError::bad_request(format!(
            "{field}={text:?} is not a time; write it as RFC 3339 (2026-12-01T00:00:00Z) or milliseconds"
        ))
    })
}

/// The filter a query asks for.
///
/// # Errors
/// 400 for a bad time or outcome.
pub fn filter_of(query: &AuditQuery) -> ApiResult<AuditFilter> {
    let outcome = match query.outcome.as_deref().map(str::trim) {
        None | Some("") => None,
        Some("allowed") => Some(Outcome::Allowed),
        Some("refused") => Some(Outcome::Refused),
        Some(other) => return Err(ApiError::bad_request(format!("outcome={other:?}: use allowed or refused"))),
    };
    let text = |value: &Option<String>| value.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
    Ok(AuditFilter {
        actor: text(&query.actor),
        action: text(&query.action),
        target: text(&query.target),
        outcome,
        since: text(&query.since).map(|t| instant(&t, "since")).transpose()?,
        until: text(&query.until).map(|t| instant(&t, "until")).transpose()?,
        before_id: query.before,
        limit: query.limit.unwrap_or(PAGE).clamp(1, 10_000),
    })
}

/// Reads the log for an administrator; anyone else's attempt is refused and recorded.
///
/// # Errors
/// 403 without `system:admin`, 400 for a bad filter.
pub async fn read(state: &AppState, user: &CurrentUser, query: &AuditQuery) -> ApiResult<AuditPage> {
    if let Err(refused) = user.require(Permission::SystemAdmin) {
        state.audit_refused(user, "audit.read", "audit log", "not an administrator").await;
        return Err(refused);
    }
    let filter = filter_of(query)?;
    let entries = state.accounts.audit(&filter).await?;
    let next_before = (entries.len() as i64 == filter.limit).then(|| entries.last().map(|e| e.id)).flatten();
    Ok(AuditPage { entries: entries.into_iter().map(AuditRow::from).collect(), next_before })
}

/// The audit log (administrators only), newest first, filtered and paged;
/// `format=csv` or `format=jsonl` exports the page as a file.
#[utoipa::path(get, path = "/audit", tag = "audit", security(("bearer" = [])), params(AuditQuery),
    responses((status = 200, body = AuditPage), (status = 403, body = crate::error::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> ApiResult<Response> {
    let page = read(&state, &user, &query).await?;
    match query.format.as_deref().unwrap_or("json") {
        "json" => Ok(ApiJson(page).into_response()),
        "jsonl" => {
            let mut body = String::new();
            for entry in &page.entries {
                body.push_str(&serde_json::to_string(entry).map_err(|e| ApiError::internal("encoding a row", &e))?);
                body.push('\n');
            }
            Ok(download("application/x-ndjson", "audit.jsonl", body))
        }
        "csv" => Ok(download("text/csv; charset=utf-8", "audit.csv", to_csv(&page.entries)?)),
        other => Err(ApiError::bad_request(format!("format={other:?}: use json, csv or jsonl"))),
    }
}

fn download(content_type: &'static str, name: &str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        body,
    )
        .into_response()
}

/// A cell a spreadsheet will not run: text that would start a formula
/// (what a failed sign-in's e-mail field may hold) gets a leading `'`.
fn inert(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{text}") } else { text.to_owned() }
}

/// The rows as CSV with a header line; times as RFC 3339.
pub fn to_csv(entries: &[AuditRow]) -> ApiResult<String> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let failed = |e: csv::Error| ApiError::internal("writing CSV", &e);
    writer
        .write_record([
            "id",
            "at",
            "actor",
            "actor_email",
            "key_id",
            "action",
            "target",
            "outcome",
            "reason",
            "address",
            "request_id",
        ])
        .map_err(failed)?;
    for e in entries {
        let at = chrono::DateTime::from_timestamp_millis(e.at).map(|t| t.to_rfc3339()).unwrap_or_default();
        let text = |v: &Option<String>| inert(v.as_deref().unwrap_or_default());
        writer
            .write_record([
                e.id.to_string(),
                at,
                inert(&e.actor),
                text(&e.actor_email),
                text(&e.key_id),
                inert(&e.action),
                text(&e.target),
                inert(&e.outcome),
                text(&e.reason),
                text(&e.address),
                text(&e.request_id),
            ])
            .map_err(failed)?;
    }
    let bytes = writer.into_inner().map_err(|e| ApiError::internal("writing CSV", &e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| ApiError::internal("writing CSV", &e))
}
