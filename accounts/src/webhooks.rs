//! Webhooks: an account's endpoints for its runs' events, the hosts an
//! administrator allows them to reach, and the delivery log. Deliveries
//! are rows claimed with a short lease, so any number of servers share the
//! work and an event noticed twice is delivered once.

use serde::Serialize;
use sqlx::any::AnyRow;

use crate::rows::get;
use crate::{AccountError, Accounts};

/// The events a webhook can get.
pub const EVENTS: &[&str] = &["run.succeeded", "run.failed", "run.cancelled", "task.failed"];

/// A stored webhook, without its secret.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct WebhookRecord {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub url: String,
    /// Events it gets for every run of its owner; a pipeline's `notify:`
    /// block can name it for more.
    pub events: Vec<String>,
    pub created_at: i64,
}

/// A delivery and its outcome so far.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub id: String,
    pub webhook_id: String,
    pub event: String,
    pub run_id: Option<String>,
    pub task_id: Option<String>,
    /// `pending`, `delivered` or `failed` (given up).
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

/// A delivery claimed for one attempt: what to send where, with what key.
#[derive(Clone)]
pub struct DueDelivery {
    pub delivery: DeliveryRecord,
    pub url: String,
    pub secret: String,
    pub body: String,
    /// The claim: only the holder records the attempt's outcome.
    pub claimed_until: i64,
}

impl std::fmt::Debug for DueDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The signing secret never reaches a log line.
        f.debug_struct("DueDelivery").field("delivery", &self.delivery).field("url", &self.url).finish_non_exhaustive()
    }
}

/// An event to deliver to one webhook.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub webhook_id: String,
    /// Names the event once (`run:ID:failed`), so noticing it again adds nothing.
    pub event_key: String,
    pub event: String,
    pub run_id: Option<String>,
    pub task_id: Option<String>,
    pub body: String,
    pub now: i64,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    Delivered {
        status: i64,
    },
    /// Try again at `next_at`.
    Retry {
        status: Option<i64>,
        error: String,
        next_at: i64,
    },
    /// Out of attempts (or refused for good): no more tries.
    GaveUp {
        status: Option<i64>,
        error: String,
    },
}

const WEBHOOK_COLUMNS: &str = "id, user_id, name, url, events, created_at";
const DELIVERY_COLUMNS: &str = "d.id, d.webhook_id, d.event, d.run_id, d.task_id, d.status, d.attempts, \
    d.next_attempt_at, d.last_status, d.last_error, d.created_at, d.finished_at";

fn webhook_from_row(row: &AnyRow) -> Result<WebhookRecord, AccountError> {
    let id: String = get(row, "id")?;
    let events: String = get(row, "events")?;
    let events = serde_json::from_str(&events).map_err(|e| AccountError::Corrupt {
        what: "webhook events",
        key: id.clone(),
        reason: e.to_string(),
    })?;
    Ok(WebhookRecord {
        id,
        user_id: get(row, "user_id")?,
        name: get(row, "name")?,
        url: get(row, "url")?,
        events,
        created_at: get(row, "created_at")?,
    })
}

fn delivery_from_row(row: &AnyRow) -> Result<DeliveryRecord, AccountError> {
    Ok(DeliveryRecord {
        id: get(row, "id")?,
        webhook_id: get(row, "webhook_id")?,
        event: get(row, "event")?,
        run_id: get(row, "run_id")?,
        task_id: get(row, "task_id")?,
        status: get(row, "status")?,
        attempts: get::<i64>(row, "attempts").or_else(|_| get::<i32>(row, "attempts").map(i64::from))?,
        next_attempt_at: get(row, "next_attempt_at")?,
        last_status: get::<Option<i64>>(row, "last_status")
            .or_else(|_| get::<Option<i32>>(row, "last_status").map(|s| s.map(i64::from)))?,
        last_error: get(row, "last_error")?,
        created_at: get(row, "created_at")?,
        finished_at: get(row, "finished_at")?,
    })
}

/// A fresh signing secret: 64 random hex digits behind `whsec_`.
pub fn new_secret() -> String {
    format!("whsec_{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

impl Accounts {
    /// Stores a new webhook; returns it and its signing secret.
    ///
    /// # Errors
    /// When the owner already has a webhook of that name, or the database refuses.
    pub async fn create_webhook(
        &self,
        user_id: &str,
        name: &str,
        url: &str,
        events: &[String],
        now: i64,
    ) -> Result<(WebhookRecord, String), AccountError> {
        let secret = new_secret();
        let record = WebhookRecord {
            id: format!("wh_{}", uuid::Uuid::now_v7().simple()),
            user_id: user_id.to_owned(),
            name: name.to_owned(),
            url: url.to_owned(),
            events: events.to_vec(),
            created_at: now,
        };
        sqlx::query(&format!("INSERT INTO webhooks ({WEBHOOK_COLUMNS}, secret) VALUES ($1, $2, $3, $4, $5, $6, $7)"))
            .bind(&record.id)
            .bind(&record.user_id)
            .bind(&record.name)
            .bind(&record.url)
            .bind(serde_json::to_string(&record.events).unwrap_or_else(|_| "[]".to_owned()))
            .bind(record.created_at)
            .bind(&secret)
            .execute(&self.pool)
            .await
            .map_err(AccountError::query("create webhook"))?;
        Ok((record, secret))
    }

    /// The webhooks of an account, oldest first.
    ///
    /// # Errors
    /// When the database cannot be read.
    pub async fn webhooks_of(&self, user_id: &str) -> Result<Vec<WebhookRecord>, AccountError> {
        let rows =
            sqlx::query(&format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE user_id = $1 ORDER BY created_at, id"))
                .bind(user_id)
                .fetch_all(&self.pool)
                .await
                .map_err(AccountError::query("list webhooks"))?;
        rows.iter().map(webhook_from_row).collect()
    }

    /// One webhook by id.
    ///
    /// # Errors
    /// When the database cannot be read.
    pub async fn webhook(&self, id: &str) -> Result<Option<WebhookRecord>, AccountError> {
        let row = sqlx::query(&format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(AccountError::query("read webhook"))?;
        row.as_ref().map(webhook_from_row).transpose()
    }

    /// Deletes a webhook and its delivery log; false when there was none.
    ///
    /// # Errors
    /// When the database refuses.
    pub async fn delete_webhook(&self, id: &str) -> Result<bool, AccountError> {
        let mut tx = self.pool.begin().await.map_err(AccountError::query("delete webhook"))?;
        sqlx::query("DELETE FROM webhook_deliveries WHERE webhook_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(AccountError::query("delete webhook"))?;
        let gone = sqlx::query("DELETE FROM webhooks WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(AccountError::query("delete webhook"))?
            .rows_affected();
        tx.commit().await.map_err(AccountError::query("delete webhook"))?;
        Ok(gone == 1)
    }

    /// The hosts webhooks may point at, sorted.
    ///
    /// # Errors
    /// When the database cannot be read.
    pub async fn webhook_hosts(&self) -> Result<Vec<String>, AccountError> {
        sqlx::query_scalar("SELECT host FROM webhook_hosts ORDER BY host")
            .fetch_all(&self.pool)
            .await
            .map_err(AccountError::query("list webhook hosts"))
    }

    /// Replaces the allowed hosts.
    ///
    /// # Errors
    /// When the database refuses.
    pub async fn set_webhook_hosts(&self, hosts: &[String], now: i64) -> Result<(), AccountError> {
        let mut tx = self.pool.begin().await.map_err(AccountError::query("set webhook hosts"))?;
        sqlx::query("DELETE FROM webhook_hosts")
            .execute(&mut *tx)
            .await
            .map_err(AccountError::query("set webhook hosts"))?;
        for host in hosts {
            sqlx::query("INSERT INTO webhook_hosts (host, added_at) VALUES ($1, $2) ON CONFLICT (host) DO NOTHING")
                .bind(host)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(AccountError::query("set webhook hosts"))?;
        }
        tx.commit().await.map_err(AccountError::query("set webhook hosts"))
    }

    /// Queues an event for a webhook; false when that event was already queued.
    ///
    /// # Errors
    /// When the database refuses.
    pub async fn enqueue_delivery(&self, delivery: &NewDelivery) -> Result<bool, AccountError> {
        let inserted = sqlx::query(
            "INSERT INTO webhook_deliveries (id, webhook_id, event_key, event, run_id, task_id, body, status, \
             attempts, next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, $8, $8) \
             ON CONFLICT (webhook_id, event_key) DO NOTHING",
        )
        .bind(format!("dlv_{}", uuid::Uuid::now_v7().simple()))
        .bind(&delivery.webhook_id)
        .bind(&delivery.event_key)
        .bind(&delivery.event)
        .bind(&delivery.run_id)
        .bind(&delivery.task_id)
        .bind(&delivery.body)
        .bind(delivery.now)
        .execute(&self.pool)
        .await
        .map_err(AccountError::query("queue delivery"))?
        .rows_affected();
        Ok(inserted == 1)
    }

    /// Claims up to `limit` deliveries that are due, each until `until`:
    /// a claim is a conditional update, so two servers never send one
    /// attempt twice.
    ///
    /// # Errors
    /// When the database refuses.
    pub async fn claim_deliveries(&self, now: i64, until: i64, limit: i64) -> Result<Vec<DueDelivery>, AccountError> {
        let candidates: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= $1 \
             AND (claimed_until IS NULL OR claimed_until < $1) ORDER BY next_attempt_at LIMIT $2",
        )
        .bind(now)
        .bind(limit.max(1))
        .fetch_all(&self.pool)
        .await
        .map_err(AccountError::query("find due deliveries"))?;
        let mut claimed = Vec::new();
        for id in candidates {
            let won = sqlx::query(
                "UPDATE webhook_deliveries SET claimed_until = $1 WHERE id = $2 AND status = 'pending' \
                 AND (claimed_until IS NULL OR claimed_until < $3)",
            )
            .bind(until)
            .bind(&id)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(AccountError::query("claim delivery"))?
            .rows_affected();
            if won != 1 {
                continue;
            }
            let row = sqlx::query(&format!(
                "SELECT {DELIVERY_COLUMNS}, d.body, w.url, w.secret FROM webhook_deliveries d \
                 JOIN webhooks w ON w.id = d.webhook_id WHERE d.id = $1"
            ))
            .bind(&id)
            .fetch_optional(&self.pool)
            .await
            .map_err(AccountError::query("read delivery"))?;
            if let Some(row) = row {
                claimed.push(DueDelivery {
                    delivery: delivery_from_row(&row)?,
                    url: get(&row, "url")?,
                    secret: get(&row, "secret")?,
                    body: get(&row, "body")?,
                    claimed_until: until,
                });
            }
        }
        Ok(claimed)
    }

    /// Records how an attempt of a claimed delivery ended; false (nothing
    /// written) when the claim had expired and another server took it.
    ///
    /// # Errors
    /// When the database refuses.
    pub async fn record_attempt(
        &self,
        due: &DueDelivery,
        outcome: &AttemptOutcome,
        now: i64,
    ) -> Result<bool, AccountError> {
        let (status, next_at, last_status, error, finished) = match outcome {
            AttemptOutcome::Delivered { status } => ("delivered", now, Some(*status), None, Some(now)),
            AttemptOutcome::Retry { status, error, next_at } => {
                ("pending", *next_at, *status, Some(error.clone()), None)
            }
            AttemptOutcome::GaveUp { status, error } => ("failed", now, *status, Some(error.clone()), Some(now)),
        };
        let recorded = sqlx::query(
            "UPDATE webhook_deliveries SET status = $1, attempts = attempts + 1, next_attempt_at = $2, \
             last_status = $3, last_error = $4, finished_at = $5, claimed_until = NULL \
             WHERE id = $6 AND claimed_until = $7 AND status = 'pending'",
        )
        .bind(status)
        .bind(next_at)
        .bind(last_status)
        .bind(error)
        .bind(finished)
        .bind(&due.delivery.id)
        .bind(due.claimed_until)
        .execute(&self.pool)
        .await
        .map_err(AccountError::query("record delivery attempt"))?
        .rows_affected();
        Ok(recorded == 1)
    }

    /// Deletes finished deliveries (delivered or given up) made before
    /// `before`; returns how many.
    ///
    /// # Errors
    /// When the database refuses.
    pub async fn prune_deliveries(&self, before: i64) -> Result<u64, AccountError> {
        sqlx::query("DELETE FROM webhook_deliveries WHERE status <> 'pending' AND created_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await
            .map(|done| done.rows_affected())
            .map_err(AccountError::query("prune deliveries"))
    }

    /// The newest deliveries of a webhook.
    ///
    /// # Errors
    /// When the database cannot be read.
    pub async fn deliveries(&self, webhook_id: &str, limit: i64) -> Result<Vec<DeliveryRecord>, AccountError> {
        let rows = sqlx::query(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d WHERE d.webhook_id = $1 \
             ORDER BY d.created_at DESC, d.id DESC LIMIT $2"
        ))
        .bind(webhook_id)
        .bind(limit.max(1))
        .fetch_all(&self.pool)
        .await
        .map_err(AccountError::query("list deliveries"))?;
        rows.iter().map(delivery_from_row).collect()
    }
}
