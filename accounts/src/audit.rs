//! The audit log: one row per security-relevant action, appended and never
//! changed (the database refuses updates), removed only by age.

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;

use crate::rows::get;
use crate::{AccountError, Accounts};

/// Whether the action was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Allowed,
    Refused,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Refused => "refused",
        }
    }
}

/// A row to append.
#[derive(Debug, Clone)]
pub struct NewAudit {
    pub at: i64,
    /// An account id, `system` (the machine's owner, the server itself) or `anonymous`.
    pub actor: String,
    pub actor_email: Option<String>,
    /// The API key the actor used, if any.
    pub key_id: Option<String>,
    /// e.g. `auth.sign_in`, `run.cancel`.
    pub action: String,
    pub target: Option<String>,
    pub outcome: Outcome,
    /// Why it was refused (or a detail of what was done).
    pub reason: Option<String>,
    pub address: Option<String>,
    pub request_id: Option<String>,
}

/// A recorded row.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub actor_email: Option<String>,
    pub key_id: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub outcome: String,
    pub reason: Option<String>,
    pub address: Option<String>,
    pub request_id: Option<String>,
}

/// Which rows to read; every field narrows.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// An account id, `system`, `anonymous`, or an e-mail address.
    pub actor: Option<String>,
    /// An action, or a prefix ending in `.` (`run.` is every run action).
    pub action: Option<String>,
    pub target: Option<String>,
    pub outcome: Option<Outcome>,
    /// From this time (ms, inclusive).
    pub since: Option<i64>,
    /// Until this time (ms, exclusive).
    pub until: Option<i64>,
    /// Rows with ids below this one: the next page after a row.
    pub before_id: Option<i64>,
    pub limit: i64,
}

const AUDIT_COLUMNS: &str = "id, at, actor, actor_email, key_id, action, target, outcome, reason, address, request_id";

fn entry_from_row(row: &AnyRow) -> Result<AuditEntry, AccountError> {
    Ok(AuditEntry {
        id: get(row, "id")?,
        at: get(row, "at")?,
        actor: get(row, "actor")?,
        actor_email: get(row, "actor_email")?,
        key_id: get(row, "key_id")?,
        action: get(row, "action")?,
        target: get(row, "target")?,
        outcome: get(row, "outcome")?,
        reason: get(row, "reason")?,
        address: get(row, "address")?,
        request_id: get(row, "request_id")?,
    })
}

impl Accounts {
    /// Appends a row.
    ///
    /// # Errors
    /// When the database refuses.
    pub async fn record(&self, entry: &NewAudit) -> Result<(), AccountError> {
        sqlx::query(
            "INSERT INTO audit_log (at, actor, actor_email, key_id, action, target, outcome, reason, address, request_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(entry.at)
        .bind(&entry.actor)
        .bind(entry.actor_email.clone())
        .bind(entry.key_id.clone())
        .bind(&entry.action)
        .bind(entry.target.clone())
        .bind(entry.outcome.as_str())
        .bind(entry.reason.clone())
        .bind(entry.address.clone())
        .bind(entry.request_id.clone())
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(AccountError::query("append to the audit log"))
    }

    /// Rows matching the filter, newest first.
    ///
    /// # Errors
    /// When the database cannot be read.
    pub async fn audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, AccountError> {
        let mut conditions = Vec::new();
        let mut texts: Vec<String> = Vec::new();
        let mut numbers: Vec<i64> = Vec::new();
        // Text parameters come first ($1..), numbers after them.
        if let Some(actor) = &filter.actor {
            texts.push(actor.clone());
            texts.push(actor.to_lowercase());
            conditions.push(format!("(actor = ${} OR actor_email = ${})", texts.len() - 1, texts.len()));
        }
        if let Some(action) = &filter.action {
            if let Some(prefix) = action.strip_suffix('.') {
                texts.push(format!("{prefix}.%"));
                conditions.push(format!("action LIKE ${}", texts.len()));
            } else {
                texts.push(action.clone());
                conditions.push(format!("action = ${}", texts.len()));
            }
        }
        if let Some(target) = &filter.target {
            texts.push(target.clone());
            conditions.push(format!("target = ${}", texts.len()));
        }
        if let Some(outcome) = filter.outcome {
            texts.push(outcome.as_str().to_owned());
            conditions.push(format!("outcome = ${}", texts.len()));
        }
        let offset = texts.len();
        for (value, condition) in [(filter.since, "at >="), (filter.until, "at <"), (filter.before_id, "id <")] {
            if let Some(value) = value {
                numbers.push(value);
                conditions.push(format!("{condition} ${}", offset + numbers.len()));
            }
        }
        let mut sql = format!("SELECT {AUDIT_COLUMNS} FROM audit_log");
        if !conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conditions.join(" AND "));
        }
        sql.push_str(&format!(" ORDER BY id DESC LIMIT {}", filter.limit.clamp(1, 10_000)));
        let mut query = sqlx::query(&sql);
        for text in texts {
            query = query.bind(text);
        }
        for number in numbers {
            query = query.bind(number);
        }
        let rows = query.fetch_all(&self.pool).await.map_err(AccountError::query("read the audit log"))?;
        rows.iter().map(entry_from_row).collect()
    }

    /// Removes rows older than `before` (ms); how many went.
    ///
    /// # Errors
    /// When the database refuses.
    pub async fn prune_audit(&self, before: i64) -> Result<u64, AccountError> {
        let done = sqlx::query("DELETE FROM audit_log WHERE at < $1")
            .bind(before)
            .execute(&self.pool)
            .await
            .map_err(AccountError::query("prune the audit log"))?;
        Ok(done.rows_affected())
    }
}
