//! Cron schedules, their exactly-once fires, and the counts behind metrics.

use async_trait::async_trait;
use sqlx::any::AnyRow;

use super::SqlStore;
use super::rows::{as_u32, get, json_text, parse_json};
use super::runs::insert_run;
use crate::store::StoreError;
use crate::store::catalog::{FinishedTask, Fire, FireRecord, ScheduleRecord, ScheduleStore, StatsStore};

/// What a new schedule is stored with; reads add `resumed_at`, which only
/// [`ScheduleStore::set_schedule_enabled`] writes.
const SCHEDULE_COLUMNS: &str =
    "id, pipeline, owner, cron, timezone, catchup, max_active_runs, params, source, enabled, created_at, last_fire";
const READ_COLUMNS: &str = "id, pipeline, owner, cron, timezone, catchup, max_active_runs, params, source, enabled, \
     created_at, last_fire, resumed_at";

fn schedule_from_row(row: &AnyRow) -> Result<ScheduleRecord, StoreError> {
    let id: String = get(row, "id")?;
    Ok(ScheduleRecord {
        pipeline: get(row, "pipeline")?,
        owner: get(row, "owner")?,
        cron: get(row, "cron")?,
        timezone: get(row, "timezone")?,
        catchup: get::<i64>(row, "catchup")? != 0,
        max_active_runs: get::<Option<i64>>(row, "max_active_runs")?.map(as_u32),
        params: parse_json(get(row, "params")?, "schedule params", &id)?.unwrap_or_default(),
        source: get(row, "source")?,
        enabled: get::<i64>(row, "enabled")? != 0,
        created_at: get(row, "created_at")?,
        last_fire: get(row, "last_fire")?,
        resumed_at: get(row, "resumed_at")?,
        id,
    })
}

#[async_trait]
impl ScheduleStore for SqlStore {
    async fn put_schedule(&self, s: &ScheduleRecord) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "INSERT INTO schedules ({SCHEDULE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (id) DO UPDATE SET pipeline = excluded.pipeline, owner = excluded.owner, \
             cron = excluded.cron, timezone = excluded.timezone, catchup = excluded.catchup, \
             max_active_runs = excluded.max_active_runs, params = excluded.params, source = excluded.source"
        ))
        .bind(&s.id)
        .bind(&s.pipeline)
        .bind(&s.owner)
        .bind(&s.cron)
        .bind(&s.timezone)
        .bind(i64::from(s.catchup))
        .bind(s.max_active_runs.map(i64::from))
        .bind(json_text(&s.params))
        .bind(&s.source)
        .bind(i64::from(s.enabled))
        .bind(s.created_at)
        .bind(s.last_fire)
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(StoreError::query("save schedule"))
    }

    async fn set_schedule_enabled(&self, id: &str, enabled: bool, now: i64) -> Result<bool, StoreError> {
        let updated = sqlx::query(
            "UPDATE schedules SET resumed_at = CASE WHEN enabled = 0 AND $2 = 1 THEN $3 ELSE resumed_at END, \
             enabled = $2 WHERE id = $1",
        )
        .bind(id)
        .bind(i64::from(enabled))
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(StoreError::query("pause or resume schedule"))?;
        Ok(updated.rows_affected() == 1)
    }

    async fn schedule(&self, id: &str) -> Result<Option<ScheduleRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {READ_COLUMNS} FROM schedules WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::query("read schedule"))?;
        row.as_ref().map(schedule_from_row).transpose()
    }

    async fn schedules(&self, owner: Option<&str>) -> Result<Vec<ScheduleRecord>, StoreError> {
        let rows = match owner {
            Some(owner) => {
                sqlx::query(&format!("SELECT {READ_COLUMNS} FROM schedules WHERE owner = $1 ORDER BY pipeline, id"))
                    .bind(owner.to_owned())
                    .fetch_all(&self.pool)
                    .await
            }
            None => {
                sqlx::query(&format!("SELECT {READ_COLUMNS} FROM schedules ORDER BY pipeline, id"))
                    .fetch_all(&self.pool)
                    .await
            }
        }
        .map_err(StoreError::query("list schedules"))?;
        rows.iter().map(schedule_from_row).collect()
    }

    async fn delete_schedule(&self, id: &str) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM schedule_fires WHERE schedule_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("delete schedule fires"))?;
        let done = sqlx::query("DELETE FROM schedules WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("delete schedule"))?;
        tx.commit().await.map_err(StoreError::query("commit schedule deletion"))?;
        Ok(done.rows_affected() == 1)
    }

    async fn fire(&self, fire: &Fire<'_>) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let claimed = sqlx::query(
            "INSERT INTO schedule_fires (schedule_id, logical_time, run_id, error, fired_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (schedule_id, logical_time) DO NOTHING",
        )
        .bind(fire.schedule_id)
        .bind(fire.logical_time)
        .bind(fire.run.map(|(run, _)| run.id.clone()))
        .bind(fire.error.map(str::to_owned))
        .bind(fire.now)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::query("record schedule fire"))?
        .rows_affected();
        if claimed == 0 {
            // Another scheduler fired this time first; its run is the one.
            return Ok(false);
        }
        if let Some((run, tasks)) = fire.run {
            insert_run(&mut tx, run, tasks).await?;
        }
        sqlx::query("UPDATE schedules SET last_fire = $1 WHERE id = $2 AND (last_fire IS NULL OR last_fire < $1)")
            .bind(fire.logical_time)
            .bind(fire.schedule_id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("advance schedule"))?;
        tx.commit().await.map_err(StoreError::query("commit schedule fire"))?;
        Ok(true)
    }

    async fn fires(&self, schedule_id: &str, limit: i64) -> Result<Vec<FireRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT logical_time, run_id, error, fired_at FROM schedule_fires WHERE schedule_id = $1 \
             ORDER BY logical_time DESC LIMIT $2",
        )
        .bind(schedule_id)
        .bind(limit.clamp(1, 1000))
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("list schedule fires"))?;
        rows.iter()
            .map(|row| {
                Ok(FireRecord {
                    logical_time: get(row, "logical_time")?,
                    run_id: get(row, "run_id")?,
                    error: get(row, "error")?,
                    fired_at: get(row, "fired_at")?,
                })
            })
            .collect()
    }
}

#[async_trait]
impl StatsStore for SqlStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1 AS one").fetch_one(&self.pool).await.map(|_| ()).map_err(StoreError::query("ping"))
    }

    async fn status_counts(&self) -> Result<(Vec<(String, u64)>, Vec<(String, u64)>), StoreError> {
        let mut out = Vec::new();
        for sql in [
            "SELECT status, COUNT(*) AS n FROM runs GROUP BY status ORDER BY status",
            "SELECT status, COUNT(*) AS n FROM task_runs GROUP BY status ORDER BY status",
        ] {
            let rows = sqlx::query(sql).fetch_all(&self.pool).await.map_err(StoreError::query("count by status"))?;
            let counts = rows
                .iter()
                .map(|row| Ok((get::<String>(row, "status")?, get::<i64>(row, "n")?.max(0) as u64)))
                .collect::<Result<Vec<_>, StoreError>>()?;
            out.push(counts);
        }
        let tasks = out.pop().unwrap_or_default();
        let runs = out.pop().unwrap_or_default();
        Ok((runs, tasks))
    }

    async fn finished_tasks(&self, after: i64, limit: i64) -> Result<Vec<FinishedTask>, StoreError> {
        let rows = sqlx::query(
            "SELECT operator, status, started_at, finished_at FROM task_runs \
             WHERE finished_at > $1 AND started_at IS NOT NULL ORDER BY finished_at LIMIT $2",
        )
        .bind(after)
        .bind(limit.clamp(1, 100_000))
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("list finished tasks"))?;
        rows.iter()
            .map(|row| {
                Ok(FinishedTask {
                    operator: get(row, "operator")?,
                    status: get(row, "status")?,
                    started_at: get(row, "started_at")?,
                    finished_at: get(row, "finished_at")?,
                })
            })
            .collect()
    }
}
