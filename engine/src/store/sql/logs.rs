//! Task logs and progress.

use std::fmt::Write as _;

use async_trait::async_trait;

use super::SqlStore;
use super::rows::*;
use crate::store::records::*;
use crate::store::{LogStore, StoreError};

#[async_trait]
impl LogStore for SqlStore {
    async fn append_logs(&self, entries: &[NewLog]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        for chunk in entries.chunks(INSERT_BATCH) {
            let mut sql = String::from("INSERT INTO task_logs (run_id, task_id, attempt, ts, stream, line) VALUES ");
            for i in 0..chunk.len() {
                if i > 0 {
                    sql.push_str(", ");
                }
                let _ = write!(sql, "({})", placeholders(i * 6 + 1, 6));
            }
            let mut query = sqlx::query(&sql);
            for entry in chunk {
                query = query
                    .bind(entry.run_id.as_str())
                    .bind(entry.task_id.as_str())
                    .bind(i64::from(entry.attempt))
                    .bind(entry.ts)
                    .bind(entry.stream.as_str())
                    .bind(entry.line.as_str());
            }
            query.execute(&mut *tx).await.map_err(StoreError::query("append logs"))?;
        }
        tx.commit().await.map_err(StoreError::query("commit logs"))
    }

    async fn logs(
        &self,
        run_id: &str,
        task_id: Option<&str>,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<LogEntry>, StoreError> {
        let rows = match task_id {
            Some(task_id) => {
                sqlx::query(
                    "SELECT id, task_id, attempt, ts, stream, line FROM task_logs \
                     WHERE run_id = $1 AND task_id = $2 AND id > $3 ORDER BY id LIMIT $4",
                )
                .bind(run_id)
                .bind(task_id)
                .bind(after_id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
            }
            None => {
                sqlx::query(
                    "SELECT id, task_id, attempt, ts, stream, line FROM task_logs \
                     WHERE run_id = $1 AND id > $2 ORDER BY id LIMIT $3",
                )
                .bind(run_id)
                .bind(after_id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
            }
        }
        .map_err(StoreError::query("read logs"))?;
        rows.iter()
            .map(|row| {
                Ok(LogEntry {
                    id: get(row, "id")?,
                    task_id: get(row, "task_id")?,
                    attempt: as_u32(get(row, "attempt")?),
                    ts: get(row, "ts")?,
                    stream: get(row, "stream")?,
                    line: get(row, "line")?,
                })
            })
            .collect()
    }

    async fn set_progress(&self, lease: &TaskLease, progress: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE task_runs SET progress = $1 \
             WHERE run_id = $2 AND task_id = $3 AND attempt = $4 AND status = 'running'",
        )
        .bind(progress)
        .bind(lease.run_id.as_str())
        .bind(lease.task_id.as_str())
        .bind(i64::from(lease.attempt))
        .execute(&self.pool)
        .await
        .map_err(StoreError::query("record progress"))?;
        Ok(())
    }
}
