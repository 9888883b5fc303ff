//! What a run may read and run, from its owner's standing *now*: the
//! machine's owner (no owner: a CLI run) and administrators are trusted;
//! ordinary accounts are confined to their own data and the data roots
//! declared for them; a deleted or disabled account runs nothing.

use std::sync::Arc;

use async_trait::async_trait;
use hangar_sdk::{Access, DataRoot, OperatorError, Ownership};

use super::Engine;
use crate::store::Store;

/// The role whose runs are trusted (it may already run shell commands).
pub const TRUSTED_ROLE: &str = "admin";

/// An account's standing as the account store has it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    pub email: String,
    pub role: String,
    pub disabled: bool,
}

/// Where the engine asks about the accounts that own work: it keeps no
/// accounts itself, the binary wires the account store in.
#[async_trait]
pub trait Owners: Send + Sync {
    /// The account's standing; `None` when it does not exist.
    async fn standing(&self, owner: &str) -> Result<Option<Standing>, String>;
}

/// Answers the resolver's ownership questions from the database.
pub(crate) struct StoreOwnership(pub(crate) Arc<dyn Store>);

#[async_trait]
impl Ownership for StoreOwnership {
    async fn upload_owner(&self, upload_id: &str) -> Result<Option<String>, String> {
        Ok(self.0.upload(upload_id).await.map_err(|e| e.to_string())?.map(|u| u.owner))
    }

    async fn run_owner(&self, run_id: &str) -> Result<Option<String>, String> {
        Ok(self.0.run(run_id).await.map_err(|e| e.to_string())?.and_then(|r| r.owner))
    }
}

impl Engine {
    /// The access of work owned by `owner` (`None`: the machine's owner).
    ///
    /// # Errors
    /// A user error when the account no longer exists or is disabled; an
    /// external one when the database cannot say.
    pub async fn access_for(&self, owner: Option<&str>) -> Result<Access, OperatorError> {
        let store_error = |e: crate::store::StoreError| OperatorError::external(e.to_string());
        let roots = self.store.recent_data_roots().await.map_err(store_error)?;
        let Some(owner) = owner else {
            return Ok(Access::trusted(roots.into_iter().map(to_root).collect()));
        };
        let Some(owners) = &self.owners else {
            return Err(OperatorError::user(format!(
                "this process cannot look up the account {owner} that owns this work; start it with the \
                 account store (hangar serve or hangar worker)"
            )));
        };
        let user = owners.standing(owner).await.map_err(OperatorError::external)?.ok_or_else(|| {
            OperatorError::user(format!(
                "the account {owner} that owns this work no longer exists; an administrator can run it instead"
            ))
        })?;
        if user.disabled {
            return Err(OperatorError::user(format!(
                "the account {} that owns this work is disabled; an administrator can enable it again",
                user.email
            )));
        }
        if user.role == TRUSTED_ROLE {
            return Ok(Access::trusted(roots.into_iter().map(to_root).collect()));
        }
        let visible = roots.into_iter().filter(|r| r.role != TRUSTED_ROLE).map(to_root).collect();
        Ok(Access::confined(owner, visible, Arc::new(StoreOwnership(self.store.clone()))))
    }

    /// Refuses a confined owner's task whose resolved config asks for more
    /// than the quotas allow (a param or schedule may have changed it since
    /// the API looked).
    ///
    /// # Errors
    /// A user error naming each field and limit.
    pub fn check_quotas(
        &self,
        access: &Access,
        operator: &str,
        config: &serde_json::Value,
    ) -> Result<(), OperatorError> {
        if access.is_trusted() {
            return Ok(());
        }
        let Some(demands) = self.registry.get(operator).and_then(|op| op.implementation.demands_erased(config)) else {
            return Ok(());
        };
        let over: Vec<String> = self
            .quotas
            .excess(&demands)
            .into_iter()
            .map(|(field, message)| format!("{}: {message}", field.join(".")))
            .collect();
        if over.is_empty() { Ok(()) } else { Err(OperatorError::user(over.join("; "))) }
    }

    /// Refuses an operator that needs administrator rights to a confined owner.
    ///
    /// # Errors
    /// A user error naming the task and operator.
    pub fn check_privileges(&self, access: &Access, task_id: &str, operator: &str) -> Result<(), OperatorError> {
        let privileged = self.registry.get(operator).is_some_and(|op| op.info.privileged);
        if privileged && !access.is_trusted() {
            return Err(OperatorError::user(format!(
                "task {task_id} uses the {operator} operator, which needs administrator rights that the run's owner \
                 does not have (any more); an administrator can run it instead"
            )));
        }
        Ok(())
    }
}

fn to_root(record: crate::store::DataRootRecord) -> DataRoot {
    DataRoot { name: record.name, path: record.path.into() }
}
