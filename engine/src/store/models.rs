//! The model registry's records: versions per model name, aliases and their
//! moves. The SQL store keeps them; [`RegistryOf`] lends them to operators
//! through the SDK's narrower [`ModelRegistry`].

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use hangar_sdk::{ModelRef, ModelRegistry, ModelVersion, NewModelVersion, RegistryError};
use serde::Serialize;

use super::{Store, StoreError};

/// A model name with its versions and aliases, for listings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelSummary {
    pub name: String,
    pub versions: u32,
    pub latest: u32,
    /// Alias → version.
    pub aliases: BTreeMap<String, u32>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What deleting a version did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deletion {
    Deleted,
    Missing,
    /// Refused: these aliases point at it.
    Aliased(Vec<String>),
}

/// What rolling an alias back did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rollback {
    /// The alias points at this version again.
    To(u32),
    /// The alias never moved, or does not exist.
    NothingToRollBack,
}

/// The registry's storage.
#[async_trait]
pub trait ModelStore: Send + Sync {
    /// Stores a new version, numbered one past the newest of its name.
    async fn register_model_version(&self, new: &NewModelVersion, now: i64) -> Result<ModelVersion, StoreError>;

    /// Who may change `name`: `None` when no such model; `Some(None)` when
    /// it belongs to the machine's owner or administrators.
    async fn model_owner(&self, name: &str) -> Result<Option<Option<String>>, StoreError>;

    async fn list_models(&self) -> Result<Vec<ModelSummary>, StoreError>;

    /// Every version of `name`, newest first.
    async fn model_versions(&self, name: &str) -> Result<Vec<ModelVersion>, StoreError>;

    async fn resolve_model(&self, reference: &ModelRef) -> Result<Option<ModelVersion>, StoreError>;

    /// Points `alias` at `version` (which must exist); the version it pointed at before.
    async fn set_model_alias(&self, name: &str, alias: &str, version: u32, now: i64)
    -> Result<Option<u32>, StoreError>;

    /// The version a rollback of `alias` would go back to, if there is one
    /// (the alias was moved here from a version that still exists).
    async fn rollback_target(&self, name: &str, alias: &str) -> Result<Option<u32>, StoreError>;

    /// Moves `alias` back to where it pointed before its last move.
    async fn rollback_model_alias(&self, name: &str, alias: &str, now: i64) -> Result<Rollback, StoreError>;

    /// Removes an alias.
    async fn delete_model_alias(&self, name: &str, alias: &str) -> Result<bool, StoreError>;

    /// Deletes a version unless an alias points at it; its number is not reused.
    async fn delete_model_version(&self, name: &str, version: u32) -> Result<Deletion, StoreError>;

    /// Merges metrics into a version's; false when the version does not exist.
    async fn record_model_metrics(
        &self,
        name: &str,
        version: u32,
        metrics: &BTreeMap<String, f64>,
    ) -> Result<bool, StoreError>;
}

/// The store's registry as operators see it, acting for a run's owner:
/// every model may be read, but only one's own may be changed (new
/// versions, aliases, metrics), unless the run is trusted.
pub struct RegistryOf {
    store: Arc<dyn Store>,
    /// The confined account acting; `None` for trusted runs.
    confined_to: Option<String>,
}

impl RegistryOf {
    /// For the machine's owner and administrators.
    pub fn trusted(store: Arc<dyn Store>) -> Self {
        Self { store, confined_to: None }
    }

    /// For a run confined to `owner`.
    pub fn confined(store: Arc<dyn Store>, owner: &str) -> Self {
        Self { store, confined_to: Some(owner.to_owned()) }
    }

    /// Refuses a change of `name` by an account that does not own it.
    async fn may_change(&self, name: &str) -> Result<(), RegistryError> {
        let Some(account) = &self.confined_to else { return Ok(()) };
        match self.store.model_owner(name).await.map_err(backend)? {
            None => Ok(()),
            Some(Some(owner)) if &owner == account => Ok(()),
            Some(_) => Err(RegistryError::Refused(format!(
                "the model {name} belongs to another account; register under a name of your own, or ask an administrator"
            ))),
        }
    }
}

fn backend(e: StoreError) -> RegistryError {
    RegistryError::Backend(e.to_string())
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[async_trait]
impl ModelRegistry for RegistryOf {
    async fn register(&self, new: NewModelVersion) -> Result<ModelVersion, RegistryError> {
        if !hangar_sdk::models::is_valid_model_name(&new.name) {
            return Err(RegistryError::Refused(format!(
                "{:?} is not a model name: use letters, digits, '-', '_' and '.'",
                new.name
            )));
        }
        self.may_change(&new.name).await?;
        self.store.register_model_version(&new, now_ms()).await.map_err(backend)
    }

    async fn resolve(&self, reference: &ModelRef) -> Result<Option<ModelVersion>, RegistryError> {
        self.store.resolve_model(reference).await.map_err(backend)
    }

    async fn set_alias(&self, name: &str, alias: &str, version: u32) -> Result<Option<u32>, RegistryError> {
        if !hangar_sdk::models::is_valid_model_name(alias) {
            return Err(RegistryError::Refused(format!("{alias:?} is not an alias name")));
        }
        if self.store.resolve_model(&ModelRef::Version(name.to_owned(), version)).await.map_err(backend)?.is_none() {
            return Err(RegistryError::NotFound(format!("{name}@{version}")));
        }
        self.may_change(name).await?;
        self.store.set_model_alias(name, alias, version, now_ms()).await.map_err(backend)
    }

    async fn record_metrics(
        &self,
        name: &str,
        version: u32,
        metrics: &BTreeMap<String, f64>,
    ) -> Result<(), RegistryError> {
        self.may_change(name).await?;
        match self.store.record_model_metrics(name, version, metrics).await.map_err(backend)? {
            true => Ok(()),
            false => Err(RegistryError::NotFound(format!("{name}@{version}"))),
        }
    }
}
