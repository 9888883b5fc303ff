//! The database, as a task's process sees it: connected on first use, so
//! the many attempts that never touch the registry or ownership records
//! (most of them) start without a connection.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use futures::future::BoxFuture;
use hangar_sdk::{ModelRef, ModelRegistry, ModelVersion, NewModelVersion, Ownership, RegistryError};
use tokio::sync::OnceCell;

use crate::scheduler::access::StoreOwnership;
use crate::store::{RegistryOf, Store};

/// Opens the store; given by the binary, which knows where it is.
pub type StoreOpener = Arc<dyn Fn() -> BoxFuture<'static, Result<Arc<dyn Store>, String>> + Send + Sync>;

/// A store opened on first use.
#[derive(Clone)]
pub(crate) struct LazyStore {
    opener: StoreOpener,
    store: Arc<OnceCell<Arc<dyn Store>>>,
    /// The confined account the registry acts for; `None` when trusted.
    confined_to: Option<String>,
}

impl LazyStore {
    pub fn new(opener: StoreOpener, confined_to: Option<String>) -> Self {
        Self { opener, store: Arc::new(OnceCell::new()), confined_to }
    }

    async fn registry(&self) -> Result<RegistryOf, RegistryError> {
        let store = self.get().await.map_err(RegistryError::Backend)?.clone();
        Ok(match &self.confined_to {
            Some(owner) => RegistryOf::confined(store, owner),
            None => RegistryOf::trusted(store),
        })
    }

    async fn get(&self) -> Result<&Arc<dyn Store>, String> {
        self.store.get_or_try_init(|| (self.opener)()).await
    }
}

#[async_trait]
impl ModelRegistry for LazyStore {
    async fn register(&self, new: NewModelVersion) -> Result<ModelVersion, RegistryError> {
        self.registry().await?.register(new).await
    }

    async fn resolve(&self, reference: &ModelRef) -> Result<Option<ModelVersion>, RegistryError> {
        self.registry().await?.resolve(reference).await
    }

    async fn set_alias(&self, name: &str, alias: &str, version: u32) -> Result<Option<u32>, RegistryError> {
        self.registry().await?.set_alias(name, alias, version).await
    }

    async fn record_metrics(
        &self,
        name: &str,
        version: u32,
        metrics: &BTreeMap<String, f64>,
    ) -> Result<(), RegistryError> {
        self.registry().await?.record_metrics(name, version, metrics).await
    }
}

#[async_trait]
impl Ownership for LazyStore {
    async fn upload_owner(&self, upload_id: &str) -> Result<Option<String>, String> {
        StoreOwnership(self.get().await?.clone()).upload_owner(upload_id).await
    }

    async fn run_owner(&self, run_id: &str) -> Result<Option<String>, String> {
        StoreOwnership(self.get().await?.clone()).run_owner(run_id).await
    }
}
