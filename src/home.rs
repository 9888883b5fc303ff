//! Where Hangar keeps its state: the embedded default is a folder with a
//! SQLite database and the artifact store; environment variables point it
//! at PostgreSQL and S3 instead.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use hangar_accounts::Accounts;
use hangar_engine::{Engine, EngineSettings, SqlStore};
use hangar_sdk::{ArtifactStore, Registry, StoreLocation};

/// Resolved locations of the database, the artifacts and scratch space.
#[derive(Debug, Clone)]
pub struct Home {
    pub dir: PathBuf,
    pub database_url: String,
    pub artifacts: StoreLocation,
}

impl Home {
    /// `--home DIR` (or `HANGAR_HOME`, or `.hangar`), with
    /// `HANGAR_DATABASE_URL` and `HANGAR_ARTIFACTS` taking precedence.
    pub fn resolve(dir: Option<&Path>) -> Result<Self> {
        let dir = dir
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("HANGAR_HOME").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(".hangar"));
        // Resolved without creating it: commands that only read must not
        // leave a home behind (`store` creates it for those that write).
        let dir = match std::fs::canonicalize(&dir) {
            Ok(dir) => dir,
            Err(_) => std::path::absolute(&dir)
                .with_context(|| format!("cannot resolve the Hangar home {}", dir.display()))?,
        };
        let database_url = match std::env::var("HANGAR_DATABASE_URL") {
            Ok(url) if !url.is_empty() => url,
            _ => format!("sqlite://{}?mode=rwc", dir.join("hangar.db").display()),
        };
        let artifacts = match std::env::var("HANGAR_ARTIFACTS") {
            Ok(location) if !location.is_empty() => StoreLocation::parse(&location)
                .with_context(|| format!("HANGAR_ARTIFACTS={location} is not a valid location"))?,
            _ => StoreLocation::Local { root: dir.join("artifacts") },
        };
        Ok(Self { dir, database_url, artifacts })
    }

    pub fn scratch(&self) -> PathBuf {
        self.dir.join("scratch")
    }

    pub fn is_embedded_database(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }

    /// Opens the store; the embedded SQLite database (and the home around
    /// it) is created and migrated on the spot, PostgreSQL must already be
    /// migrated (`hangar migrate`).
    pub async fn store(&self) -> Result<SqlStore> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create the Hangar home {}; pass a writable --home", self.dir.display()))?;
        if self.is_embedded_database() {
            let store =
                SqlStore::connect_and_migrate(&self.database_url).await.context("cannot open the embedded database")?;
            self.accounts(&store).migrate().await.context("cannot open the embedded database's accounts")?;
            return Ok(store);
        }
        let store = SqlStore::connect(&self.database_url).await?;
        store.check_schema().await?;
        self.accounts(&store).check_schema().await?;
        Ok(store)
    }

    /// The accounts, in the store's database over the store's connections.
    pub fn accounts(&self, store: &SqlStore) -> Accounts {
        Accounts::new(store.pool().clone(), &self.database_url)
    }

    /// The store for a command that only reads: `None` when this home has no
    /// embedded database yet (nothing has run here), so reading creates nothing.
    pub async fn existing_store(&self) -> Result<Option<SqlStore>> {
        if let Some(file) = hangar_engine::store::sqlite_file(&self.database_url)
            && !file.exists()
        {
            return Ok(None);
        }
        self.store().await.map(Some)
    }

    /// What a read-only command says when [`Home::existing_store`] found nothing.
    pub fn nothing_here(&self) -> String {
        format!(
            "there is no Hangar home at {} yet, so nothing has run here; start a run with \
             `hangar run pipelines/FILE.yaml`, or pass --home (or HANGAR_HOME) to read another",
            self.dir.display()
        )
    }

    /// The engine over this home with the given operators.
    pub async fn engine(&self, registry: Registry) -> Result<Engine> {
        self.engine_over(self.store().await?, registry)
    }

    /// The engine over an already opened store (whose accounts the caller
    /// also wants, on the same connections).
    pub fn engine_over(&self, store: SqlStore, registry: Registry) -> Result<Engine> {
        let artifacts = ArtifactStore::open(self.artifacts.clone()).context("cannot open the artifact store")?;
        let owners = Arc::new(crate::owners::AccountOwners(self.accounts(&store)));
        Ok(Engine::new(Arc::new(store), artifacts, Arc::new(registry), self.scratch(), settings_from_env()?)
            .with_owners(owners))
    }
}

/// Engine timings, with `HANGAR_LEASE` (how long a task or run lease lasts
/// without a heartbeat: how soon a dead worker's task is retried) and
/// `HANGAR_POLL` (how often idle processes look for work) overriding the defaults.
pub fn settings_from_env() -> Result<EngineSettings> {
    let mut settings = EngineSettings::default();
    if let Some(lease) = duration_var("HANGAR_LEASE")? {
        anyhow::ensure!(
            lease >= std::time::Duration::from_secs(1),
            "HANGAR_LEASE={} is too short; use at least 1s (heartbeats renew it every third)",
            humantime::format_duration(lease)
        );
        settings.lease = lease;
    }
    if let Some(poll) = duration_var("HANGAR_POLL")? {
        settings.poll = poll.max(std::time::Duration::from_millis(10));
    }
    Ok(settings)
}

/// The quotas of ordinary accounts' runs: `HANGAR_MAX_THREADS`,
/// `HANGAR_MAX_MODEL_PARAMETERS`, `HANGAR_MAX_TRAINING_SEQUENCES` over the defaults.
pub fn quotas_from_env() -> Result<hangar_engine::quotas::Quotas> {
    let number = |name: &str, default: u64| -> Result<u64> {
        match std::env::var(name) {
            Err(_) => Ok(default),
            Ok(text) => text
                .trim()
                .replace('_', "")
                .parse::<u64>()
                .ok()
                .filter(|n| *n >= 1)
                .with_context(|| format!("{name}={text:?} must be a whole number of at least 1")),
        }
    };
    let defaults = hangar_engine::quotas::Quotas::default();
    Ok(hangar_engine::quotas::Quotas {
        threads: number("HANGAR_MAX_THREADS", defaults.threads)?,
        model_parameters: number("HANGAR_MAX_MODEL_PARAMETERS", defaults.model_parameters)?,
        training_sequences: number("HANGAR_MAX_TRAINING_SEQUENCES", defaults.training_sequences)?,
    })
}

pub fn duration_var(name: &str) -> Result<Option<std::time::Duration>> {
    match std::env::var(name) {
        Ok(text) if !text.trim().is_empty() => humantime::parse_duration(text.trim())
            .map(Some)
            .with_context(|| format!("{name}={text} is not a duration; write it like 30s, 500ms or 2m")),
        _ => Ok(None),
    }
}
