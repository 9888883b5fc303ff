//! The model registry on SQL: versions, aliases and alias moves.

use std::collections::BTreeMap;

use async_trait::async_trait;
use hangar_sdk::{ModelRef, ModelVersion, NewModelVersion};
use sqlx::any::AnyRow;

use super::SqlStore;
use super::rows::{as_u32, get, json_text, parse_json};
use crate::store::StoreError;
use crate::store::models::{Deletion, ModelStore, ModelSummary, Rollback};

const VERSION_COLUMNS: &str =
    "name, version, run_id, task_id, artifact_key, artifact_digest, metrics, status, created_at";

fn version_from_row(row: &AnyRow, aliases: Vec<String>) -> Result<ModelVersion, StoreError> {
    let name: String = get(row, "name")?;
    let version = as_u32(get(row, "version")?);
    let key = format!("{name}@{version}");
    Ok(ModelVersion {
        run_id: get(row, "run_id")?,
        task_id: get(row, "task_id")?,
        artifact_key: get(row, "artifact_key")?,
        artifact_digest: get(row, "artifact_digest")?,
        metrics: parse_json(get(row, "metrics")?, "model metrics", &key)?.unwrap_or_default(),
        status: get(row, "status")?,
        created_at: get(row, "created_at")?,
        aliases,
        name,
        version,
    })
}

impl SqlStore {
    /// Alias → version of one model.
    async fn aliases_of(&self, name: &str) -> Result<BTreeMap<String, u32>, StoreError> {
        let rows = sqlx::query("SELECT alias, version FROM model_aliases WHERE name = $1 ORDER BY alias")
            .bind(name)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::query("read model aliases"))?;
        rows.iter().map(|r| Ok((get::<String>(r, "alias")?, as_u32(get(r, "version")?)))).collect()
    }

    async fn version_with_aliases(&self, row: &AnyRow) -> Result<ModelVersion, StoreError> {
        let name: String = get(row, "name")?;
        let version = as_u32(get(row, "version")?);
        let aliases =
            self.aliases_of(&name).await?.into_iter().filter(|(_, v)| *v == version).map(|(a, _)| a).collect();
        version_from_row(row, aliases)
    }
}

#[async_trait]
impl ModelStore for SqlStore {
    async fn register_model_version(&self, new: &NewModelVersion, now: i64) -> Result<ModelVersion, StoreError> {
        // Two registrations of one name would otherwise both read the same
        // newest number; the lock makes the second wait for the first's commit.
        let mut tx = self.begin_write().await?;
        self.lock_for_transaction(&mut tx, &format!("hangar-model:{}", new.name), "lock model name").await?;
        let newest: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM model_versions WHERE name = $1")
            .bind(&new.name)
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::query("number model version"))?;
        let version = newest.unwrap_or(0) + 1;
        // The first registration of a name makes its run's owner the model's.
        sqlx::query(
            "INSERT INTO models (name, owner, created_at) \
             SELECT $1, (SELECT owner FROM runs WHERE id = $2), $3 ON CONFLICT (name) DO NOTHING",
        )
        .bind(&new.name)
        .bind(&new.run_id)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::query("record model owner"))?;
        sqlx::query(&format!(
            "INSERT INTO model_versions ({VERSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, 'ready', $8)"
        ))
        .bind(&new.name)
        .bind(version)
        .bind(&new.run_id)
        .bind(&new.task_id)
        .bind(&new.artifact_key)
        .bind(&new.artifact_digest)
        .bind(json_text(&new.metrics))
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::query("register model version"))?;
        tx.commit().await.map_err(StoreError::query("commit model version"))?;
        Ok(ModelVersion {
            name: new.name.clone(),
            version: as_u32(version),
            run_id: new.run_id.clone(),
            task_id: new.task_id.clone(),
            artifact_key: new.artifact_key.clone(),
            artifact_digest: new.artifact_digest.clone(),
            metrics: new.metrics.clone(),
            status: "ready".to_owned(),
            aliases: Vec::new(),
            created_at: now,
        })
    }

    async fn model_owner(&self, name: &str) -> Result<Option<Option<String>>, StoreError> {
        let row = sqlx::query("SELECT owner FROM models WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::query("read model owner"))?;
        row.map(|row| get::<Option<String>>(&row, "owner")).transpose()
    }

    async fn list_models(&self) -> Result<Vec<ModelSummary>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, COUNT(*) AS versions, MAX(version) AS latest, MIN(created_at) AS created_at, \
             MAX(created_at) AS updated_at FROM model_versions WHERE status <> 'deleted' GROUP BY name ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("list models"))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let name: String = get(row, "name")?;
            out.push(ModelSummary {
                versions: as_u32(get(row, "versions")?),
                latest: as_u32(get(row, "latest")?),
                aliases: self.aliases_of(&name).await?,
                created_at: get(row, "created_at")?,
                updated_at: get(row, "updated_at")?,
                name,
            });
        }
        Ok(out)
    }

    async fn model_versions(&self, name: &str) -> Result<Vec<ModelVersion>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {VERSION_COLUMNS} FROM model_versions WHERE name = $1 AND status <> 'deleted' ORDER BY version DESC"
        ))
        .bind(name)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query("list model versions"))?;
        let aliases = self.aliases_of(name).await?;
        rows.iter()
            .map(|row| {
                let version = as_u32(get(row, "version")?);
                let pointing = aliases.iter().filter(|(_, v)| **v == version).map(|(a, _)| a.clone()).collect();
                version_from_row(row, pointing)
            })
            .collect()
    }

    async fn resolve_model(&self, reference: &ModelRef) -> Result<Option<ModelVersion>, StoreError> {
        let query = match reference {
            ModelRef::Latest(_) => format!(
                "SELECT {VERSION_COLUMNS} FROM model_versions WHERE name = $1 AND status <> 'deleted' \
                 ORDER BY version DESC LIMIT 1"
            ),
            ModelRef::Version(..) => format!(
                "SELECT {VERSION_COLUMNS} FROM model_versions WHERE name = $1 AND version = $2 AND status <> 'deleted'"
            ),
            ModelRef::Alias(..) => format!(
                "SELECT {} FROM model_versions v JOIN model_aliases a ON a.name = v.name AND a.version = v.version \
                 WHERE v.name = $1 AND a.alias = $2 AND v.status <> 'deleted'",
                VERSION_COLUMNS.split(", ").map(|c| format!("v.{c}")).collect::<Vec<_>>().join(", ")
            ),
        };
        let mut q = sqlx::query(&query).bind(reference.name().to_owned());
        q = match reference {
            ModelRef::Latest(_) => q,
            ModelRef::Version(_, version) => q.bind(i64::from(*version)),
            ModelRef::Alias(_, alias) => q.bind(alias.clone()),
        };
        let row = q.fetch_optional(&self.pool).await.map_err(StoreError::query("resolve model"))?;
        match row {
            Some(row) => self.version_with_aliases(&row).await.map(Some),
            None => Ok(None),
        }
    }

    async fn set_model_alias(
        &self,
        name: &str,
        alias: &str,
        version: u32,
        now: i64,
    ) -> Result<Option<u32>, StoreError> {
        let mut tx = self.begin_write().await?;
        let previous: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT version FROM model_aliases WHERE name = $1 AND alias = $2{}",
            self.backend.for_update()
        ))
        .bind(name)
        .bind(alias)
        .fetch_optional(&mut *tx)
        .await
        .map_err(StoreError::query("read model alias"))?;
        sqlx::query(
            "INSERT INTO model_aliases (name, alias, version, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at",
        )
        .bind(name)
        .bind(alias)
        .bind(i64::from(version))
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::query("move model alias"))?;
        sqlx::query(
            "INSERT INTO model_alias_moves (id, name, alias, version, previous, moved_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(name)
        .bind(alias)
        .bind(i64::from(version))
        .bind(previous)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::query("record model alias move"))?;
        tx.commit().await.map_err(StoreError::query("commit model alias"))?;
        Ok(previous.map(as_u32))
    }

    async fn rollback_target(&self, name: &str, alias: &str) -> Result<Option<u32>, StoreError> {
        // The newest move that reached the current version says where the alias was before.
        let row = sqlx::query(
            "SELECT m.previous FROM model_alias_moves m JOIN model_aliases a ON a.name = m.name AND a.alias = m.alias \
             AND a.version = m.version WHERE m.name = $1 AND m.alias = $2 ORDER BY m.id DESC LIMIT 1",
        )
        .bind(name)
        .bind(alias)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::query("read model alias moves"))?;
        let previous: Option<i64> = match row {
            Some(row) => get(&row, "previous")?,
            None => None,
        };
        let Some(previous) = previous.map(as_u32) else { return Ok(None) };
        let exists = self.resolve_model(&ModelRef::Version(name.to_owned(), previous)).await?.is_some();
        Ok(exists.then_some(previous))
    }

    async fn rollback_model_alias(&self, name: &str, alias: &str, now: i64) -> Result<Rollback, StoreError> {
        let Some(previous) = self.rollback_target(name, alias).await? else { return Ok(Rollback::NothingToRollBack) };
        self.set_model_alias(name, alias, previous, now).await?;
        Ok(Rollback::To(previous))
    }

    async fn delete_model_alias(&self, name: &str, alias: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM model_aliases WHERE name = $1 AND alias = $2")
            .bind(name)
            .bind(alias)
            .execute(&self.pool)
            .await
            .map_err(StoreError::query("delete model alias"))?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_model_version(&self, name: &str, version: u32) -> Result<Deletion, StoreError> {
        let mut tx = self.begin_write().await?;
        let aliases: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT alias FROM model_aliases WHERE name = $1 AND version = $2 ORDER BY alias{}",
            self.backend.for_update()
        ))
        .bind(name)
        .bind(i64::from(version))
        .fetch_all(&mut *tx)
        .await
        .map_err(StoreError::query("read model aliases"))?;
        if !aliases.is_empty() {
            return Ok(Deletion::Aliased(aliases));
        }
        // The row stays, marked deleted, so that its number is never given to another model.
        let done = sqlx::query(
            "UPDATE model_versions SET status = 'deleted' WHERE name = $1 AND version = $2 AND status <> 'deleted'",
        )
        .bind(name)
        .bind(i64::from(version))
        .execute(&mut *tx)
        .await
        .map_err(StoreError::query("delete model version"))?;
        tx.commit().await.map_err(StoreError::query("commit model deletion"))?;
        Ok(if done.rows_affected() > 0 { Deletion::Deleted } else { Deletion::Missing })
    }

    async fn record_model_metrics(
        &self,
        name: &str,
        version: u32,
        metrics: &BTreeMap<String, f64>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let current: Option<String> = sqlx::query_scalar(&format!(
            "SELECT metrics FROM model_versions WHERE name = $1 AND version = $2 AND status <> 'deleted'{}",
            self.backend.for_update()
        ))
        .bind(name)
        .bind(i64::from(version))
        .fetch_optional(&mut *tx)
        .await
        .map_err(StoreError::query("read model metrics"))?;
        let Some(current) = current else { return Ok(false) };
        let key = format!("{name}@{version}");
        let mut merged: BTreeMap<String, f64> = parse_json(Some(current), "model metrics", &key)?.unwrap_or_default();
        merged.extend(metrics.iter().map(|(k, v)| (k.clone(), *v)));
        sqlx::query("UPDATE model_versions SET metrics = $1 WHERE name = $2 AND version = $3")
            .bind(json_text(&merged))
            .bind(name)
            .bind(i64::from(version))
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("record model metrics"))?;
        tx.commit().await.map_err(StoreError::query("commit model metrics"))?;
        Ok(true)
    }
}
