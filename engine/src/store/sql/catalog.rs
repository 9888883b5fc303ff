//! Stored pipelines with their versions, and uploaded files.

use async_trait::async_trait;
use sqlx::any::AnyRow;

use super::SqlStore;
use super::rows::{as_u32, get, json_text, parse_json};
use super::runs::filter_conditions;
use crate::store::StoreError;
use crate::store::catalog::{
    NewPipelineVersion, PipelineRecord, PipelineStore, PipelineVersion, SavedPipeline, UploadRecord, UploadStore,
};
use crate::store::records::RunFilter;

const PIPELINE_SELECT: &str = "SELECT p.name, p.owner, p.current_hash, p.created_at, p.updated_at, v.spec_text, \
    (SELECT COUNT(*) FROM pipeline_versions c WHERE c.pipeline = p.name) AS versions \
    FROM pipelines p JOIN pipeline_versions v ON v.pipeline = p.name AND v.hash = p.current_hash";

fn pipeline_from_row(row: &AnyRow) -> Result<PipelineRecord, StoreError> {
    Ok(PipelineRecord {
        name: get(row, "name")?,
        owner: get(row, "owner")?,
        current_hash: get(row, "current_hash")?,
        spec_text: get(row, "spec_text")?,
        versions: as_u32(get(row, "versions")?),
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
    })
}

const UPLOAD_COLUMNS: &str = "id, owner, file_name, content_type, size, digest, artifact_key, files, created_at";

fn upload_from_row(row: &AnyRow) -> Result<UploadRecord, StoreError> {
    let id: String = get(row, "id")?;
    Ok(UploadRecord {
        owner: get(row, "owner")?,
        file_name: get(row, "file_name")?,
        content_type: get(row, "content_type")?,
        size: get::<i64>(row, "size")?.max(0) as u64,
        digest: get(row, "digest")?,
        artifact_key: get(row, "artifact_key")?,
        files: parse_json(get(row, "files")?, "upload files", &id)?.unwrap_or_default(),
        created_at: get(row, "created_at")?,
        id,
    })
}

#[async_trait]
impl PipelineStore for SqlStore {
    async fn save_pipeline(&self, version: &NewPipelineVersion) -> Result<SavedPipeline, StoreError> {
        let mut tx = self.begin_write().await?;
        // A row lock cannot hold a name nobody has saved yet: two first saves
        // would both insert and the second fail on the primary key.
        self.lock_for_transaction(&mut tx, &format!("hangar-pipeline:{}", version.name), "lock pipeline name").await?;
        let existing =
            sqlx::query(&format!("SELECT owner FROM pipelines WHERE name = $1{}", self.backend.for_update()))
                .bind(&version.name)
                .fetch_optional(&mut *tx)
                .await
                .map_err(StoreError::query("read pipeline"))?;
        let outcome = match existing {
            Some(row) => {
                let owner: String = get(&row, "owner")?;
                if owner != version.owner {
                    return Ok(SavedPipeline::Taken { owner });
                }
                sqlx::query("UPDATE pipelines SET current_hash = $1, updated_at = $2 WHERE name = $3")
                    .bind(&version.hash)
                    .bind(version.now)
                    .bind(&version.name)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::query("update pipeline"))?;
                None
            }
            None => {
                sqlx::query(
                    "INSERT INTO pipelines (name, owner, current_hash, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)",
                )
                .bind(&version.name)
                .bind(&version.owner)
                .bind(&version.hash)
                .bind(version.now)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query("create pipeline"))?;
                Some(SavedPipeline::Created)
            }
        };
        let inserted = sqlx::query(
            "INSERT INTO pipeline_versions (pipeline, hash, spec_text, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (pipeline, hash) DO NOTHING",
        )
        .bind(&version.name)
        .bind(&version.hash)
        .bind(&version.spec_text)
        .bind(&version.owner)
        .bind(version.now)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::query("store pipeline version"))?
        .rows_affected();
        tx.commit().await.map_err(StoreError::query("commit pipeline"))?;
        Ok(outcome.unwrap_or(if inserted == 1 { SavedPipeline::NewVersion } else { SavedPipeline::Existing }))
    }

    async fn pipelines(&self, owner: Option<&str>) -> Result<Vec<PipelineRecord>, StoreError> {
        let rows = match owner {
            Some(owner) => {
                sqlx::query(&format!("{PIPELINE_SELECT} WHERE p.owner = $1 ORDER BY p.name"))
                    .bind(owner.to_owned())
                    .fetch_all(&self.pool)
                    .await
            }
            None => sqlx::query(&format!("{PIPELINE_SELECT} ORDER BY p.name")).fetch_all(&self.pool).await,
        }
        .map_err(StoreError::query("list pipelines"))?;
        rows.iter().map(pipeline_from_row).collect()
    }

    async fn pipeline(&self, name: &str) -> Result<Option<PipelineRecord>, StoreError> {
        let row = sqlx::query(&format!("{PIPELINE_SELECT} WHERE p.name = $1"))
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::query("read pipeline"))?;
        row.as_ref().map(pipeline_from_row).transpose()
    }

    async fn pipeline_versions(&self, name: &str) -> Result<Vec<PipelineVersion>, StoreError> {
        let rows = sqlx::query(
            "SELECT hash, spec_text, created_by, created_at FROM pipeline_versions WHERE pipeline = $1 \
             ORDER BY created_at DESC, hash",
        )
        .bind(name)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("list pipeline versions"))?;
        rows.iter()
            .map(|row| {
                Ok(PipelineVersion {
                    hash: get(row, "hash")?,
                    spec_text: get(row, "spec_text")?,
                    created_by: get(row, "created_by")?,
                    created_at: get(row, "created_at")?,
                })
            })
            .collect()
    }

    async fn delete_pipeline(&self, name: &str) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        // Children first: SQLite enforces the cascade only with foreign keys on.
        for sql in [
            "DELETE FROM schedule_fires WHERE schedule_id IN (SELECT id FROM schedules WHERE pipeline = $1)",
            "DELETE FROM schedules WHERE pipeline = $1",
            "DELETE FROM pipeline_versions WHERE pipeline = $1",
        ] {
            sqlx::query(sql).bind(name).execute(&mut *tx).await.map_err(StoreError::query("delete pipeline"))?;
        }
        let done = sqlx::query("DELETE FROM pipelines WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("delete pipeline"))?;
        tx.commit().await.map_err(StoreError::query("commit pipeline deletion"))?;
        Ok(done.rows_affected() == 1)
    }

    async fn count_runs(&self, filter: &RunFilter) -> Result<u64, StoreError> {
        let (conditions, values) = filter_conditions(filter);
        let sql = format!("SELECT COUNT(*) AS n FROM runs WHERE 1 = 1{conditions}");
        let mut query = sqlx::query(&sql);
        for value in values {
            query = query.bind(value);
        }
        let row = query.fetch_one(&self.pool).await.map_err(StoreError::query("count runs"))?;
        Ok(get::<i64>(&row, "n")?.max(0) as u64)
    }
}

#[async_trait]
impl UploadStore for SqlStore {
    async fn add_upload(&self, upload: &UploadRecord) -> Result<(), StoreError> {
        sqlx::query(&format!("INSERT INTO uploads ({UPLOAD_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"))
            .bind(&upload.id)
            .bind(&upload.owner)
            .bind(&upload.file_name)
            .bind(&upload.content_type)
            .bind(i64::try_from(upload.size).unwrap_or(i64::MAX))
            .bind(&upload.digest)
            .bind(&upload.artifact_key)
            .bind(json_text(&upload.files))
            .bind(upload.created_at)
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(StoreError::query("record upload"))
    }

    async fn upload(&self, id: &str) -> Result<Option<UploadRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {UPLOAD_COLUMNS} FROM uploads WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::query("read upload"))?;
        row.as_ref().map(upload_from_row).transpose()
    }

    async fn uploads(&self, owner: Option<&str>, limit: i64) -> Result<Vec<UploadRecord>, StoreError> {
        let limit = limit.clamp(1, 1000);
        let rows = match owner {
            Some(owner) => {
                sqlx::query(&format!(
                    "SELECT {UPLOAD_COLUMNS} FROM uploads WHERE owner = $1 ORDER BY created_at DESC, id DESC LIMIT $2"
                ))
                .bind(owner.to_owned())
                .bind(limit)
                .fetch_all(&self.pool)
                .await
            }
            None => {
                sqlx::query(&format!("SELECT {UPLOAD_COLUMNS} FROM uploads ORDER BY created_at DESC, id DESC LIMIT $1"))
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await
            }
        }
        .map_err(StoreError::query("list uploads"))?;
        rows.iter().map(upload_from_row).collect()
    }
}
