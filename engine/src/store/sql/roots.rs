//! Declared data roots.

use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::SqlStore;
use super::rows::get;
use crate::store::StoreError;
use crate::store::catalog::{DataRootRecord, DataRootStore};

/// How long one reading of the data roots serves [`DataRootStore::recent_data_roots`].
const FRESH_FOR: Duration = Duration::from_secs(1);

/// The data roots as last read, and when.
#[derive(Debug, Default)]
pub(super) struct RecentRoots {
    last: tokio::sync::Mutex<Option<(Instant, Vec<DataRootRecord>)>>,
}

impl RecentRoots {
    async fn forget(&self) {
        *self.last.lock().await = None;
    }
}

#[async_trait]
impl DataRootStore for SqlStore {
    async fn recent_data_roots(&self) -> Result<Vec<DataRootRecord>, StoreError> {
        // Concurrent attempts wait for one reading rather than each making one.
        let mut last = self.roots.last.lock().await;
        if let Some((read_at, roots)) = last.as_ref()
            && read_at.elapsed() < FRESH_FOR
        {
            return Ok(roots.clone());
        }
        let roots = self.data_roots().await?;
        *last = Some((Instant::now(), roots.clone()));
        Ok(roots)
    }

    async fn put_data_root(&self, root: &DataRootRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO data_roots (name, path, role, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO UPDATE SET path = excluded.path, role = excluded.role",
        )
        .bind(&root.name)
        .bind(&root.path)
        .bind(&root.role)
        .bind(root.created_at)
        .execute(&self.pool)
        .await
        .map_err(StoreError::query("declare data root"))?;
        self.roots.forget().await;
        Ok(())
    }

    async fn data_roots(&self) -> Result<Vec<DataRootRecord>, StoreError> {
        let rows = sqlx::query("SELECT name, path, role, created_at FROM data_roots ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::query("list data roots"))?;
        rows.iter()
            .map(|row| {
                Ok(DataRootRecord {
                    name: get(row, "name")?,
                    path: get(row, "path")?,
                    role: get(row, "role")?,
                    created_at: get(row, "created_at")?,
                })
            })
            .collect()
    }

    async fn delete_data_root(&self, name: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM data_roots WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(StoreError::query("remove data root"))?;
        self.roots.forget().await;
        Ok(done.rows_affected() == 1)
    }
}
