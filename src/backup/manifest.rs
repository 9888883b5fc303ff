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
    /// When the store last wrote it (ms), where the store says: a file
    /// rewritten in place at the same size is copied again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<i64>,
}

/// Whether a snapshot id is one `hangar backup` makes (digits, `T`, `.`, `Z`).
pub fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 40 && id.chars().all(|c| c.is_ascii_digit() || matches!(c, 'T' | 'Z' | '.'))
}

/// Whether a key stays inside the store it names a file of: relative,
/// no `.` or `..` segment, no backslash or NUL. A manifest is read from a
/// location that may have been tampered with; its keys choose where
/// restore writes.
pub fn safe_key(key: &str) -> bool {
    !key.is_empty()
        && !key.starts_with('/')
        && !key.contains(['\\', '\0'])
        && key.split('/').all(|segment| !segment.is_empty() && segment != "." && segment != "..")
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
        if !valid_id(id) {
            bail!("{id:?} is not a snapshot id; `hangar restore --list {}` lists those there are", dest.uri(""));
        }
        let key = format!("{}/manifest.json", snapshot_prefix(id));
        if !dest.exists(&key).await? {
            bail!("{} has no snapshot {id}; `hangar restore --list {}` lists those it has", dest.uri(""), dest.uri(""));
        }
        let bytes = dest.read(&key).await.with_context(|| format!("cannot read {}", dest.uri(&key)))?;
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
        let tampered = |what: String| {
            anyhow::anyhow!("{} {what}: it was not written by `hangar backup`; restore nothing from it", dest.uri(&key))
        };
        if manifest.id != id {
            return Err(tampered(format!("names snapshot {:?} but lies in folder {id}", manifest.id)));
        }
        let database_key = format!(
            "{}/{}",
            snapshot_prefix(id),
            if manifest.database.backend == "postgres" { "database.dump" } else { "database.sqlite" }
        );
        if manifest.database.key != database_key {
            return Err(tampered(format!("puts its database at {:?}", manifest.database.key)));
        }
        if let Some(bad) = manifest.artifacts.iter().find(|f| !safe_key(&f.key)) {
            return Err(tampered(format!("lists the key {:?}, which points outside the artifact store", bad.key)));
        }
        Ok(manifest)
    }

    /// The ids of the complete snapshots in a destination, oldest first.
    pub async fn list(dest: &ArtifactStore) -> Result<Vec<String>> {
        let files = dest.list("snapshots").await.with_context(|| format!("cannot list {}", dest.uri("snapshots/")))?;
        let mut ids: Vec<String> = files
            .iter()
            .filter_map(|(key, _)| key.strip_prefix("snapshots/")?.strip_suffix("/manifest.json").map(str::to_owned))
            .filter(|id| valid_id(id))
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
            artifacts: vec![FileEntry {
                key: "runs/a".to_owned(),
                digest: "blake3:11".to_owned(),
                size: 3,
                modified: None,
            }],
        };
        manifest("20261203T200000.000Z").write(&dest).await.unwrap();
        manifest("20261201T100000.000Z").write(&dest).await.unwrap();
        // An interrupted backup: its database copy but no manifest.
        dest.put("snapshots/20261204T000000.000Z/database.sqlite", hangar_sdk::ArtifactKind::File, b"x").await.unwrap();

        assert_eq!(Manifest::list(&dest).await.unwrap(), ["20261201T100000.000Z", "20261203T200000.000Z"]);
        let latest = Manifest::latest(&dest).await.unwrap().unwrap();
        assert_eq!(latest, manifest("20261203T200000.000Z"));
        assert_eq!(latest.artifact_bytes(), 3);
        let missing = Manifest::read(&dest, "20261205T000000.000Z").await.unwrap_err().to_string();
        assert!(missing.contains("has no snapshot 20261205T000000.000Z"), "{missing}");
        assert!(Manifest::read(&dest, "../../etc").await.unwrap_err().to_string().contains("is not a snapshot id"));
    }

    #[tokio::test]
    async fn a_tampered_manifest_is_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let dest = ArtifactStore::local(dir.path()).unwrap();
        let id = "20261203T200000.000Z";
        let good = Manifest {
            format: FORMAT,
            id: id.to_owned(),
            created_at: String::new(),
            hangar: "test".to_owned(),
            database: DatabaseEntry {
                backend: "sqlite".to_owned(),
                key: format!("snapshots/{id}/database.sqlite"),
                digest: "blake3:00".to_owned(),
                size: 1,
                schema_version: 11,
            },
            artifacts: Vec::new(),
        };
        let cases: [(&str, Box<dyn Fn(&mut Manifest)>); 4] = [
            ("names snapshot", Box::new(|m| m.id = "/../../home".to_owned())),
            ("puts its database", Box::new(|m| m.database.key = "../../../etc/passwd".to_owned())),
            (
                "points outside",
                Box::new(|m| {
                    m.artifacts.push(FileEntry {
                        key: "runs/../../../.ssh/authorized_keys".to_owned(),
                        digest: "blake3:00".to_owned(),
                        size: 1,
                        modified: None,
                    })
                }),
            ),
            (
                "points outside",
                Box::new(|m| {
                    m.artifacts.push(FileEntry {
                        key: "/etc/cron.d/x".to_owned(),
                        digest: "blake3:00".to_owned(),
                        size: 1,
                        modified: None,
                    })
                }),
            ),
        ];
        for (expected, tamper) in cases {
            let mut manifest = good.clone();
            tamper(&mut manifest);
            let bytes = serde_json::to_vec(&manifest).unwrap();
            dest.put(&format!("snapshots/{id}/manifest.json"), hangar_sdk::ArtifactKind::File, &bytes).await.unwrap();
            let refused = Manifest::read(&dest, id).await.unwrap_err().to_string();
            assert!(refused.contains(expected) && refused.contains("not written by `hangar backup`"), "{refused}");
        }
    }

    #[test]
    fn keys_that_leave_the_store_are_not_safe() {
        for key in ["runs/r1/a.jsonl", "models/m/1/model.safetensors", "a"] {
            assert!(safe_key(key), "{key}");
        }
        for key in ["", "/etc/passwd", "../x", "runs/../../x", "runs/./x", "runs//x", "runs\\..\\x", "a\0b", "runs/"] {
            assert!(!safe_key(key), "{key:?}");
        }
    }
}
