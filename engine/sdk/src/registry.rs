//! The open set of operators a pipeline may use. Registration is an explicit
//! call, never link-time magic: the binary decides what is available.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::operator::{DynOperator, Operator, OperatorInfo};

/// One registered operator with its description and config schema computed once.
#[derive(Clone)]
pub struct RegisteredOperator {
    pub info: OperatorInfo,
    pub config_schema: serde_json::Value,
    pub implementation: Arc<dyn DynOperator>,
}

impl std::fmt::Debug for RegisteredOperator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisteredOperator").field("info", &self.info).finish_non_exhaustive()
    }
}

/// Operators by name.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    operators: BTreeMap<String, RegisteredOperator>,
}

/// Registering two operators under one name is a wiring bug.
#[derive(Debug, thiserror::Error)]
#[error("operator {name:?} is registered twice; each operator name must be unique")]
pub struct DuplicateOperator {
    pub name: String,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an operator under the name its info declares.
    ///
    /// # Errors
    /// When an operator with that name is already registered.
    pub fn register<O: Operator>(&mut self, operator: O) -> Result<(), DuplicateOperator> {
        self.register_dyn(Arc::new(operator))
    }

    /// Adds an already erased operator.
    ///
    /// # Errors
    /// When an operator with that name is already registered.
    pub fn register_dyn(&mut self, implementation: Arc<dyn DynOperator>) -> Result<(), DuplicateOperator> {
        let info = implementation.info();
        if self.operators.contains_key(&info.name) {
            return Err(DuplicateOperator { name: info.name });
        }
        let config_schema = implementation.config_schema();
        self.operators.insert(info.name.clone(), RegisteredOperator { info, config_schema, implementation });
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&RegisteredOperator> {
        self.operators.get(name)
    }

    /// Registered operators in name order.
    pub fn iter(&self) -> impl Iterator<Item = &RegisteredOperator> {
        self.operators.values()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.operators.keys().map(String::as_str)
    }

    /// The registered name closest to a misspelt one.
    pub fn closest_name(&self, name: &str) -> Option<&str> {
        crate::closest(name, self.names())
    }
}
