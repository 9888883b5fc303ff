//! What a snapshot holds: `snapshots/<id>/manifest.json` in a backup.

use anyhow::{Context, Result, bail};
use hangar_sdk::ArtifactStore;
use serde::{Deserialize, Serialize};

/// The manifest format this build writes and reads.
pub const FORMAT: u32 = 1;

/// Where a snapshot's files live inside the destination.
pub fn snapshot_prefix(id: &str) -> String {
    format!("snapshots/{id}")
}

/// Where an artifact file's copy lives inside the destination.
pub fn artifact_copy(key: &str) -> String {
    format!("artifacts/{}", key.trim_start_matches('/'))
}

/// One snapshot of a deployment.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format: u32,
    /// Sortable UTC time of the snapshot, e.g. `20261203T204500.123Z`.
    pub id: String,
    pub created_at: String,
    /// The Hangar version that wrote it.
    pub hangar: String,
    pub database: DatabaseEntry,
    /// Every file of the artifact store, sorted by key.
    pub artifacts: Vec<FileEntry>,
}

/// The database snapshot.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DatabaseEntry {
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// Key of the snapshot file inside the destination.
    pub key: String,
    pub digest: String,
    pub size: u64,
    /// The schema version it was taken at.
    pub schema_version: i64,
}

/// One file of the artifact store.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileEntry {
    /// Key in the artifact store (the copy is at `artifacts/<key>`).
    pub key: String,
    /// `blake3:<hex>` of the content.
    pub digest: String,
    pub size: u64,
}

impl Manifest {
    pub fn artifact_bytes(&self) -> u64 {
        self.artifacts.iter().map(|f| f.size).sum()
    }

    /// Writes the manifest last, so a snapshot without one is an
    /// interrupted backup that restore never picks.
    pub async fn write(&self, dest: &ArtifactStore) -> Result<()> {
        let key = format!("{}/manifest.json", snapshot_prefix(&self.id));
        let bytes = serde_json::to_vec_pretty(self)?;
        dest.put(&key, hangar_sdk::ArtifactKind::File, &bytes)
            .await
            .with_context(|| format!("cannot write the backup manifest {}", dest.uri(&key)))?;
        Ok(())
    }

    /// Reads one snapshot's manifest.
    pub async fn read(dest: &ArtifactStore, id: &str) -> Result<Self> {
        let key = format!("{}/manifest.json", snapshot_prefix(id));
        let bytes = dest.read(&key).await.with_context(|| {
            format!(
                "{} has no snapshot {id}; `hangar restore --list {}` lists those it has",
                dest.uri(""),
                dest.uri("")
            )
        })?;
        let manifest: Manifest = serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not a Hangar backup manifest", dest.uri(&key)))?;
        if manifest.format != FORMAT {
            bail!(
                "{} is in backup format {}, this Hangar reads format {FORMAT}; restore it with the Hangar version that wrote it ({})",
                dest.uri(&key),
                manifest.format,
                manifest.hangar
            );
        }
        Ok(manifest)
    }

    /// The ids of the complete snapshots in a destination, oldest first.
    pub async fn list(dest: &ArtifactStore) -> Result<Vec<String>> {
        let files = dest.list("snapshots").await.with_context(|| format!("cannot list {}", dest.uri("snapshots/")))?;
        let mut ids: Vec<String> = files
            .iter()
            .filter_map(|(key, _)| key.strip_prefix("snapshots/")?.strip_suffix("/manifest.json").map(str::to_owned))
            .filter(|id| !id.contains('/'))
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// The newest complete snapshot, if any.
    pub async fn latest(dest: &ArtifactStore) -> Result<Option<Self>> {
        match Self::list(dest).await?.last() {
            Some(id) => Self::read(dest, id).await.map(Some),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn snapshots_list_only_complete_ones_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let dest = ArtifactStore::local(dir.path()).unwrap();
        let manifest = |id: &str| Manifest {
            format: FORMAT,
            id: id.to_owned(),
            created_at: "2026-12-03T20:45:00Z".to_owned(),
            hangar: "test".to_owned(),
            database: DatabaseEntry {
                backend: "sqlite".to_owned(),
                key: format!("snapshots/{id}/database.sqlite"),
                digest: "blake3:00".to_owned(),
                size: 1,
                schema_version: 10,
            },
            artifacts: vec![FileEntry { key: "runs/a".to_owned(), digest: "blake3:11".to_owned(), size: 3 }],
        };
        manifest("20261203T200000.000Z").write(&dest).await.unwrap();
        manifest("20261201T100000.000Z").write(&dest).await.unwrap();
        // An interrupted backup: its database copy but no manifest.
        dest.put("snapshots/20261204T000000.000Z/database.sqlite", hangar_sdk::ArtifactKind::File, b"x").await.unwrap();

        assert_eq!(Manifest::list(&dest).await.unwrap(), ["20261201T100000.000Z", "20261203T200000.000Z"]);
        let latest = Manifest::latest(&dest).await.unwrap().unwrap();
        assert_eq!(latest, manifest("20261203T200000.000Z"));
        assert_eq!(latest.artifact_bytes(), 3);
        let missing = Manifest::read(&dest, "nope").await.unwrap_err().to_string();
        assert!(missing.contains("has no snapshot nope"), "{missing}");
    }
}
