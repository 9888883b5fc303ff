//! `hangar backup DEST` and `hangar restore SRC`.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use hangar_sdk::{ArtifactStore, StoreLocation};
use serde_json::json;

use super::exit;
use super::keys::by_system;
use crate::backup::artifacts::{self, CopyStats};
use crate::backup::database::{self, Backend};
use crate::backup::manifest::{self, DatabaseEntry, FORMAT, Manifest};
use crate::cli::{BackupArgs, RestoreArgs};
use crate::home::Home;

fn open_destination(location: &str, home: &Home) -> Result<ArtifactStore> {
    let parsed =
        StoreLocation::parse(location).with_context(|| format!("{location} is not a folder or s3:// location"))?;
    if let (StoreLocation::Local { root: dest }, StoreLocation::Local { root: artifacts }) = (&parsed, &home.artifacts)
    {
        let dest = std::path::absolute(dest).unwrap_or_else(|_| dest.clone());
        let artifacts = std::fs::canonicalize(artifacts).unwrap_or_else(|_| artifacts.clone());
        if dest.starts_with(&artifacts) {
            bail!(
                "{} is inside the artifact store {}; back up to a folder outside it (on another disk, ideally)",
                dest.display(),
                artifacts.display()
            );
        }
    }
    ArtifactStore::open(parsed).with_context(|| format!("cannot open the backup location {location}"))
}

/// A folder under the home's scratch space, removed when dropped.
struct ScratchDir(std::path::PathBuf);

impl ScratchDir {
    fn new(home: &Home, name: &str) -> Result<Self> {
        let dir = home.scratch().join(name);
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(Self(dir))
    }

    fn file(&self, name: &str) -> std::path::PathBuf {
        self.0.join(name)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn snapshot_id() -> String {
    chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ").to_string()
}

fn stats_json(stats: &CopyStats) -> serde_json::Value {
    json!({
        "files": stats.files,
        "bytes": stats.bytes,
        "copied_files": stats.copied_files,
        "copied_bytes": stats.copied_bytes,
        "reused_files": stats.reused_files,
    })
}

pub async fn back_up(args: &BackupArgs, home: &Home, json: bool) -> Result<u8> {
    let started = Instant::now();
    let Some(store) = home.existing_store().await? else {
        eprintln!("nothing to back up: {}", home.nothing_here());
        return Ok(exit::INVALID);
    };
    let dest = open_destination(&args.dest, home)?;
    let source = ArtifactStore::open(home.artifacts.clone()).context("cannot open the artifact store")?;
    let backend = Backend::of_url(&home.database_url);
    let id = snapshot_id();
    let previous = Manifest::latest(&dest).await?;

    // The database first: every artifact it references is already committed.
    let scratch = ScratchDir::new(home, &format!("backup-{id}"))?;
    let local = scratch.file(backend.file_name());
    let key = format!("{}/{}", manifest::snapshot_prefix(&id), backend.file_name());
    database::snapshot(&store, &home.database_url, &local).await?;
    let (digest, size) = database::upload(&local, &dest, &key).await?;
    drop(scratch);
    let schema_version = store.schema_version().await?.0;
    let database = DatabaseEntry { backend: backend.as_str().to_owned(), key, digest, size, schema_version };
    let database_seconds = started.elapsed().as_secs_f64();

    let (files, stats) =
        artifacts::back_up(&source, &dest, previous.as_ref().map_or(&[][..], |m| &m.artifacts)).await?;
    let manifest = Manifest {
        format: FORMAT,
        id: id.clone(),
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        hangar: env!("CARGO_PKG_VERSION").to_owned(),
        database,
        artifacts: files,
    };
    manifest.write(&dest).await?;
    let seconds = started.elapsed().as_secs_f64();
    home.accounts(&store).record(&by_system("system.backup", &dest.uri(""), Some(format!("snapshot {id}")))).await?;

    if json {
        println!(
            "{}",
            json!({
                "snapshot": id,
                "destination": dest.uri(""),
                "database": {"backend": manifest.database.backend, "size": manifest.database.size,
                             "digest": manifest.database.digest, "seconds": database_seconds},
                "artifacts": stats_json(&stats),
                "seconds": seconds,
            })
        );
    } else {
        eprintln!(
            "snapshot {id} written to {}: {} database of {} bytes, {} artifact files of {} bytes ({} copied, {} \
             already there) in {seconds:.1} s",
            dest.uri(""),
            manifest.database.backend,
            manifest.database.size,
            stats.files,
            stats.bytes,
            stats.copied_files,
            stats.reused_files
        );
    }
    Ok(exit::OK)
}

pub async fn restore(args: &RestoreArgs, home: &Home, json: bool) -> Result<u8> {
    let started = Instant::now();
    let backup = open_destination(&args.source, home)?;
    if args.list {
        let ids = Manifest::list(&backup).await?;
        if json {
            println!("{}", json!({ "snapshots": ids }));
        } else if ids.is_empty() {
            eprintln!("{} holds no snapshot; write one with `hangar backup {}`", backup.uri(""), args.source);
        } else {
            for id in ids {
                println!("{id}");
            }
        }
        return Ok(exit::OK);
    }
    let manifest = match &args.snapshot {
        Some(id) => Manifest::read(&backup, id).await?,
        None => Manifest::latest(&backup).await?.with_context(|| {
            format!("{} holds no snapshot; pass the folder or s3:// location given to `hangar backup`", backup.uri(""))
        })?,
    };
    let backend = Backend::of_url(&home.database_url);
    if manifest.database.backend != backend.as_str() {
        bail!(
            "snapshot {} is of a {} deployment and this one uses {}; restore it into a {0} deployment (the embedded \
             default when HANGAR_DATABASE_URL is unset, PostgreSQL when it names one)",
            manifest.id,
            manifest.database.backend,
            backend.as_str()
        );
    }

    if args.verify {
        let bytes = artifacts::verify(&backup, &manifest.artifacts).await?;
        let scratch = ScratchDir::new(home, &format!("verify-{}", manifest.id))?;
        database::download(
            &backup,
            &manifest.database.key,
            &manifest.database.digest,
            manifest.database.size,
            &scratch.file(backend.file_name()),
        )
        .await?;
        if json {
            println!(
                "{}",
                json!({"snapshot": manifest.id, "verified_files": manifest.artifacts.len(), "bytes": bytes})
            );
        } else {
            eprintln!(
                "snapshot {}: the database and {} artifact files match their digests",
                manifest.id,
                manifest.artifacts.len()
            );
        }
        return Ok(exit::OK);
    }

    let target = ArtifactStore::open(home.artifacts.clone()).context("cannot open the artifact store")?;
    let occupancy = database::occupancy(&home.database_url).await?;
    let present =
        target.list("").await.with_context(|| format!("cannot list the artifact store {}", target.uri("")))?;
    if !args.force && (!occupancy.is_empty() || !present.is_empty()) {
        eprintln!(
            "error: this deployment is not empty ({} runs, {} model versions, {} accounts, {} artifact files at {}); \
             restore into an empty one, or pass --force to replace it with snapshot {}",
            occupancy.runs,
            occupancy.model_versions,
            occupancy.users,
            present.len(),
            target.uri(""),
            manifest.id
        );
        return Ok(exit::INVALID);
    }

    if backend == Backend::Postgres && !occupancy.is_empty() {
        let store = hangar_engine::SqlStore::connect(&home.database_url).await?;
        let (found, _) = store.schema_version().await?;
        store.pool().close().await;
        if found > manifest.database.schema_version {
            bail!(
                "this database's schema (version {found}) is newer than snapshot {}'s ({}): its newer tables would \
                 outlive the restore; restore into an empty database instead",
                manifest.id,
                manifest.database.schema_version
            );
        }
    }

    // Artifacts first, each checked before it becomes visible; the database
    // last, so an interrupted restore leaves no database pointing at files
    // that are not there.
    let stats = artifacts::restore(&backup, &target, &manifest.artifacts).await?;
    std::fs::create_dir_all(&home.dir)
        .with_context(|| format!("cannot create the Hangar home {}", home.dir.display()))?;
    let scratch = ScratchDir::new(home, &format!("restore-{}", manifest.id))?;
    let local = scratch.file(backend.file_name());
    database::download(&backup, &manifest.database.key, &manifest.database.digest, manifest.database.size, &local)
        .await?;
    database::restore(&home.database_url, &local).await?;
    drop(scratch);

    // The snapshot may be older than this build: bring it up to date.
    let store = if home.is_embedded_database() {
        home.store().await?
    } else {
        let store = hangar_engine::SqlStore::connect(&home.database_url).await?;
        store.migrate().await.context("the restored database could not be migrated to this version of Hangar")?;
        home.accounts(&store).migrate().await.context("the restored accounts could not be migrated")?;
        store
    };
    home.accounts(&store)
        .record(&by_system("system.restore", &backup.uri(""), Some(format!("snapshot {}", manifest.id))))
        .await?;
    let seconds = started.elapsed().as_secs_f64();
    if json {
        println!(
            "{}",
            json!({"snapshot": manifest.id, "source": backup.uri(""), "artifacts": stats_json(&stats),
                   "database": {"backend": manifest.database.backend, "size": manifest.database.size}, "seconds": seconds})
        );
    } else {
        eprintln!(
            "restored snapshot {} from {}: the {} database and {} artifact files ({} bytes), every digest checked, in \
             {seconds:.1} s",
            manifest.id,
            backup.uri(""),
            manifest.database.backend,
            stats.files,
            stats.bytes
        );
    }
    Ok(exit::OK)
}
