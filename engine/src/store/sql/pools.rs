//! Named pools of slots.

use async_trait::async_trait;

use super::SqlStore;
use super::rows::*;
use crate::store::records::Pool;
use crate::store::{PoolStore, StoreError};

#[async_trait]
impl PoolStore for SqlStore {
    async fn set_pool(&self, name: &str, slots: u32) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO pools (name, slots) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET slots = $2")
            .bind(name)
            .bind(i64::from(slots))
            .execute(&self.pool)
            .await
            .map_err(StoreError::query("set pool"))?;
        Ok(())
    }

    async fn delete_pool(&self, name: &str) -> Result<bool, StoreError> {
        let result = sqlx::query("DELETE FROM pools WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(StoreError::query("delete pool"))?;
        Ok(result.rows_affected() == 1)
    }

    async fn worker_seen(&self, worker: &str, labels: &[String], now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO workers (id, labels, started_at, seen_at) VALUES ($1, $2, $3, $3) \
             ON CONFLICT (id) DO UPDATE SET seen_at = $3",
        )
        .bind(worker)
        .bind(json_text(&labels))
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(StoreError::query("record a worker"))?;
        Ok(())
    }

    async fn worker_gone(&self, worker: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM workers WHERE id = $1")
            .bind(worker)
            .execute(&self.pool)
            .await
            .map_err(StoreError::query("forget a worker"))?;
        Ok(())
    }

    async fn workers_alive(&self, since: i64) -> Result<u64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM workers WHERE seen_at >= $1")
            .bind(since)
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::query("count workers"))?;
        Ok(get::<i64>(&row, "n")?.max(0) as u64)
    }

    async fn pools(&self) -> Result<Vec<Pool>, StoreError> {
        let rows = sqlx::query(
            "SELECT p.name, p.slots, (SELECT COUNT(*) FROM task_runs t WHERE t.status = 'running' \
               AND t.map_size IS NULL AND (t.pool = p.name OR p.name = '*')) AS running FROM pools p ORDER BY p.name",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("list pools"))?;
        rows.iter()
            .map(|row| {
                Ok(Pool {
                    name: get(row, "name")?,
                    slots: as_u32(get(row, "slots")?),
                    running: as_u32(get(row, "running")?),
                })
            })
            .collect()
    }
}
