//! Runs: creation, lookup, coordinator leases and outcomes.

use std::fmt::Write as _;

use async_trait::async_trait;

use super::SqlStore;
use super::rows::*;
use crate::status::RunStatus;
use crate::store::records::*;
use crate::store::{Change, RunStore, StoreError};

/// Columns of one task row in the multi-row insert.
const TASK_INSERT_COLUMNS: usize = 14;

#[async_trait]
impl RunStore for SqlStore {
    async fn create_run(&self, run: &NewRun, tasks: &[NewTask]) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        insert_run(&mut tx, run, tasks).await?;
        tx.commit().await.map_err(StoreError::query("commit run"))
    }

    async fn run(&self, run_id: &str) -> Result<Option<RunRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = $1"))
            .bind(run_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::query("read run"))?;
        row.as_ref().map(run_from_row).transpose()
    }

    async fn runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>, StoreError> {
        let (conditions, values) = filter_conditions(filter);
        let n = values.len();
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE 1 = 1{conditions} ORDER BY created_at DESC, id DESC LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        );
        let mut query = sqlx::query(&sql);
        for value in values {
            query = query.bind(value);
        }
        let limit = if filter.limit <= 0 { 50 } else { filter.limit };
        let rows = query
            .bind(limit)
            .bind(filter.offset.max(0))
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::query("list runs"))?;
        rows.iter().map(run_from_row).collect()
    }

    async fn run_ids_starting_with(&self, prefix: &str, limit: i64) -> Result<Vec<String>, StoreError> {
        // A comparison of the id's start, not LIKE: `%` and `_` in what was typed stay literal.
        let length = i32::try_from(prefix.chars().count()).unwrap_or(i32::MAX);
        sqlx::query_scalar("SELECT id FROM runs WHERE substr(id, 1, CAST($1 AS INTEGER)) = $2 ORDER BY id LIMIT $3")
            .bind(length)
            .bind(prefix)
            .bind(limit.max(1))
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::query("find runs by id prefix"))
    }

    async fn tasks(&self, run_id: &str) -> Result<Vec<TaskRecord>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {TASK_COLUMNS} FROM task_runs WHERE run_id = $1 ORDER BY position"))
            .bind(run_id)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::query("read tasks"))?;
        rows.iter().map(task_from_row).collect()
    }

    async fn runs_finished_since(&self, since: i64, limit: i64) -> Result<Vec<RunRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE finished_at >= $1 ORDER BY finished_at, id LIMIT $2"
        ))
        .bind(since)
        .bind(limit.max(1))
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("list finished runs"))?;
        rows.iter().map(run_from_row).collect()
    }

    async fn tasks_failed_since(&self, since: i64, limit: i64) -> Result<Vec<TaskRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {TASK_COLUMNS} FROM task_runs WHERE status = 'failed' AND finished_at >= $1 \
             ORDER BY finished_at, run_id, task_id LIMIT $2"
        ))
        .bind(since)
        .bind(limit.max(1))
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("list failed tasks"))?;
        rows.iter().map(task_from_row).collect()
    }

    async fn attempts(&self, run_id: &str, task_id: &str) -> Result<Vec<AttemptRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT attempt, status, worker, started_at, finished_at, error FROM task_attempts \
             WHERE run_id = $1 AND task_id = $2 ORDER BY attempt",
        )
        .bind(run_id)
        .bind(task_id)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("read attempts"))?;
        rows.iter()
            .map(|row| {
                Ok(AttemptRecord {
                    attempt: as_u32(get(row, "attempt")?),
                    status: get(row, "status")?,
                    worker: get(row, "worker")?,
                    started_at: get(row, "started_at")?,
                    finished_at: get(row, "finished_at")?,
                    error: get(row, "error")?,
                })
            })
            .collect()
    }

    async fn acquire_run(&self, run_id: &str, coordinator: &str, now: i64, until: i64) -> Result<Acquired, StoreError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(&format!(
            "SELECT pipeline, status, coordinator, coordinator_expires_at, max_active_runs FROM runs WHERE id = $1{}",
            self.backend.for_update()
        ))
        .bind(run_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(StoreError::query("read run"))?;
        let Some(row) = row else {
            return Ok(Acquired::Busy);
        };
        let holder: Option<String> = get(&row, "coordinator")?;
        let expires: Option<i64> = get(&row, "coordinator_expires_at")?;
        if holder.as_deref().is_some_and(|h| h != coordinator) && expires.is_some_and(|e| e >= now) {
            return Ok(Acquired::Busy);
        }
        let status: String = get(&row, "status")?;
        let limit: Option<i64> = get(&row, "max_active_runs")?;
        if let (Some(limit), "pending") = (limit, status.as_str()) {
            let pipeline: String = get(&row, "pipeline")?;
            // Two coordinators starting runs of one pipeline at once must not
            // both see a free slot.
            self.lock_for_transaction(&mut tx, &format!("hangar-run-slot:{pipeline}"), "lock pipeline").await?;
            let active =
                sqlx::query("SELECT COUNT(*) AS n FROM runs WHERE pipeline = $1 AND status = 'running' AND id <> $2")
                    .bind(pipeline)
                    .bind(run_id)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(StoreError::query("count active runs"))?;
            if get::<i64>(&active, "n")? >= limit {
                // The waiting coordinator holds the run all the same, so that
                // no other process adopts it as orphaned meanwhile.
                sqlx::query("UPDATE runs SET coordinator = $1, coordinator_expires_at = $2 WHERE id = $3")
                    .bind(coordinator)
                    .bind(until)
                    .bind(run_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::query("hold waiting run"))?;
                tx.commit().await.map_err(StoreError::query("commit hold"))?;
                return Ok(Acquired::Throttled);
            }
        }
        sqlx::query(
            "UPDATE runs SET coordinator = $1, coordinator_expires_at = $2, \
               status = CASE WHEN status IN ('pending', 'running') THEN 'running' ELSE status END, \
               started_at = COALESCE(started_at, $3) \
             WHERE id = $4",
        )
        .bind(coordinator)
        .bind(until)
        .bind(now)
        .bind(run_id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::query("acquire run"))?;
        tx.commit().await.map_err(StoreError::query("commit acquire"))?;
        Ok(Acquired::Yes)
    }

    async fn renew_run(&self, run_id: &str, coordinator: &str, until: i64) -> Result<bool, StoreError> {
        let result = sqlx::query("UPDATE runs SET coordinator_expires_at = $1 WHERE id = $2 AND coordinator = $3")
            .bind(until)
            .bind(run_id)
            .bind(coordinator)
            .execute(&self.pool)
            .await
            .map_err(StoreError::query("renew run"))?;
        Ok(result.rows_affected() == 1)
    }

    async fn renew_runs(&self, run_ids: &[String], coordinator: &str, until: i64) -> Result<Vec<String>, StoreError> {
        let mut held = Vec::with_capacity(run_ids.len());
        for chunk in run_ids.chunks(INSERT_BATCH) {
            let sql = format!(
                "UPDATE runs SET coordinator_expires_at = $1 WHERE coordinator = $2 AND id IN ({}) RETURNING id",
                placeholders(3, chunk.len())
            );
            let mut query = sqlx::query(&sql).bind(until).bind(coordinator);
            for id in chunk {
                query = query.bind(id.as_str());
            }
            let rows = query.fetch_all(&self.pool).await.map_err(StoreError::query("renew runs"))?;
            for row in &rows {
                held.push(get::<String>(row, "id")?);
            }
        }
        Ok(held)
    }

    async fn cancel_requested_among(&self, run_ids: &[String]) -> Result<Vec<String>, StoreError> {
        let mut cancelled = Vec::new();
        for chunk in run_ids.chunks(INSERT_BATCH) {
            let sql =
                format!("SELECT id FROM runs WHERE cancel_requested = 1 AND id IN ({})", placeholders(1, chunk.len()));
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(id.as_str());
            }
            for row in &query.fetch_all(&self.pool).await.map_err(StoreError::query("read cancellations"))? {
                cancelled.push(get::<String>(row, "id")?);
            }
        }
        Ok(cancelled)
    }

    async fn finish_run(
        &self,
        run_id: &str,
        status: RunStatus,
        error: Option<&str>,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE runs SET status = $1, error = $2, finished_at = $3, coordinator = NULL, coordinator_expires_at = NULL \
             WHERE id = $4",
        )
        .bind(status.as_str())
        .bind(error.map(str::to_owned))
        .bind(now)
        .bind(run_id)
        .execute(&self.pool)
        .await
        .map_err(StoreError::query("finish run"))?;
        Ok(())
    }

    async fn request_cancel(&self, run_id: &str) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let result =
            sqlx::query("UPDATE runs SET cancel_requested = 1 WHERE id = $1 AND status IN ('pending', 'running')")
                .bind(run_id)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("cancel run"))?;
        // Its coordinator, wherever it runs, should look now.
        self.announce(&mut tx, &Change::RunChanged(run_id.to_owned())).await?;
        tx.commit().await.map_err(StoreError::query("commit cancel"))?;
        Ok(result.rows_affected() == 1)
    }

    async fn reset_for_resume(&self, run_id: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE task_runs SET status = 'pending', max_attempts = attempt + retries + 1, lost_attempts = 0, config = NULL, \
               inputs = NULL, cache_key = NULL, error = NULL, progress = NULL, queued_at = NULL, available_at = NULL, \
               started_at = NULL, finished_at = NULL, lease_owner = NULL, lease_expires_at = NULL \
             WHERE run_id = $1 AND status IN ('failed', 'upstream_failed', 'cancelled', 'skipped')",
        )
        .bind(run_id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::query("resume tasks"))?;
        // The coordinator reloads every task; nothing is left to acknowledge.
        sqlx::query("UPDATE task_runs SET acked = 1 WHERE run_id = $1")
            .bind(run_id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("resume tasks"))?;
        sqlx::query(
            "UPDATE runs SET status = 'pending', error = NULL, finished_at = NULL, cancel_requested = 0, \
               coordinator = NULL, coordinator_expires_at = NULL WHERE id = $1",
        )
        .bind(run_id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::query("resume run"))?;
        tx.commit().await.map_err(StoreError::query("commit resume"))
    }

    async fn orphaned_runs(&self, now: i64) -> Result<Vec<String>, StoreError> {
        // A run nobody ever coordinated gets a grace period: the process that
        // created it is normally about to.
        let rows = sqlx::query(
            "SELECT id FROM runs WHERE status IN ('pending', 'running') AND \
               ((coordinator IS NULL AND created_at < $1) OR coordinator_expires_at < $2) ORDER BY created_at",
        )
        .bind(now - 10_000)
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("find orphaned runs"))?;
        rows.iter().map(|row| get(row, "id")).collect()
    }
}

/// Inserts a run and its tasks inside the caller's transaction.
pub(super) async fn insert_run(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    run: &NewRun,
    tasks: &[NewTask],
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO runs (id, pipeline, status, spec_path, spec_text, spec_hash, params, seed, owner, created_at, max_active_runs) \
         VALUES ($1, $2, 'pending', $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&run.id)
    .bind(&run.pipeline)
    .bind(&run.spec_path)
    .bind(&run.spec_text)
    .bind(&run.spec_hash)
    .bind(json_text(&run.params))
    .bind(run.seed as i64)
    .bind(run.owner.clone())
    .bind(run.created_at)
    .bind(run.max_active_runs.map(i64::from))
    .execute(&mut **tx)
    .await
    .map_err(StoreError::query("insert run"))?;
    insert_tasks(tx, &run.id, tasks, false).await
}

/// Inserts pending tasks of run `run_id`; with `skip_existing`, ids already
/// there are left as they are.
pub(super) async fn insert_tasks(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    run_id: &str,
    tasks: &[NewTask],
    skip_existing: bool,
) -> Result<(), StoreError> {
    for chunk in tasks.chunks(INSERT_BATCH) {
        let mut sql = String::from(
            "INSERT INTO task_runs (run_id, task_id, position, operator, status, retries, max_attempts, \
             retry_backoff_ms, timeout_ms, seed, runs_on, pool, cache, max_lost_attempts, resources) VALUES ",
        );
        for i in 0..chunk.len() {
            if i > 0 {
                sql.push_str(", ");
            }
            let b = i * TASK_INSERT_COLUMNS + 1;
            let _ =
                write!(sql, "({}, 'pending', {})", placeholders(b, 4), placeholders(b + 4, TASK_INSERT_COLUMNS - 4));
        }
        if skip_existing {
            sql.push_str(" ON CONFLICT (run_id, task_id) DO NOTHING");
        }
        let mut query = sqlx::query(&sql);
        for task in chunk {
            query = query
                .bind(run_id)
                .bind(&task.task_id)
                .bind(task.position as i64)
                .bind(&task.operator)
                .bind(i64::from(task.retries))
                .bind(i64::from(task.retries) + 1)
                .bind(task.retry_backoff_ms)
                .bind(task.timeout_ms)
                .bind(task.seed as i64)
                .bind(json_text(&task.runs_on))
                .bind(task.pool.clone())
                .bind(i64::from(task.cache))
                .bind(i64::from(task.max_lost_attempts))
                .bind(json_text(&task.resources));
        }
        query.execute(&mut **tx).await.map_err(StoreError::query("insert tasks"))?;
    }
    Ok(())
}

/// The `AND …` conditions of a run filter, numbered from `$1`, and the
/// values to bind in order.
pub(super) fn filter_conditions(filter: &RunFilter) -> (String, Vec<String>) {
    let mut sql = String::new();
    let mut values = Vec::new();
    let fields = [
        ("pipeline", filter.pipeline.clone()),
        ("status", filter.status.map(|s| s.as_str().to_owned())),
        ("owner", filter.owner.clone()),
    ];
    for (column, value) in fields {
        if let Some(value) = value {
            values.push(value);
            let _ = write!(sql, " AND {column} = ${}", values.len());
        }
    }
    (sql, values)
}
