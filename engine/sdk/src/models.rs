//! The model registry as operators see it: `deploy` registers a model
//! artifact as a new version and moves aliases, `evaluate` records its
//! metrics on a version and reads what `production` scored. The engine
//! implements it on its database; operators never see that.

use std::collections::BTreeMap;
use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// How a model is named: `name` (its newest version), `name@3` or `name:production`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ModelRef {
    Latest(String),
    Version(String, u32),
    Alias(String, String),
}

/// Why a model reference could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reference:?} is not a model reference: {reason}; write NAME, NAME@VERSION or NAME:ALIAS")]
pub struct BadModelRef {
    pub reference: String,
    pub reason: &'static str,
}

/// Model and alias names: letters, digits, `-`, `_` and `.`, starting with a letter or digit.
pub fn is_valid_model_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl ModelRef {
    /// Parses `name`, `name@version` or `name:alias`.
    ///
    /// # Errors
    /// An empty or ill-formed name, version or alias.
    pub fn parse(text: &str) -> Result<Self, BadModelRef> {
        let bad = |reason| BadModelRef { reference: text.to_owned(), reason };
        let check = |name: &str| if is_valid_model_name(name) { Ok(name.to_owned()) } else { Err(bad("bad name")) };
        if let Some((name, version)) = text.split_once('@') {
            let version = version
                .parse::<u32>()
                .ok()
                .filter(|v| *v > 0)
                .ok_or_else(|| bad("the version is not a positive number"))?;
            return Ok(Self::Version(check(name)?, version));
        }
        if let Some((name, alias)) = text.split_once(':') {
            if !is_valid_model_name(alias) {
                return Err(bad("bad alias"));
            }
            return Ok(Self::Alias(check(name)?, alias.to_owned()));
        }
        Ok(Self::Latest(check(text)?))
    }

    pub fn name(&self) -> &str {
        match self {
            Self::Latest(name) | Self::Version(name, _) | Self::Alias(name, _) => name,
        }
    }
}

impl fmt::Display for ModelRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Latest(name) => write!(f, "{name}"),
            Self::Version(name, version) => write!(f, "{name}@{version}"),
            Self::Alias(name, alias) => write!(f, "{name}:{alias}"),
        }
    }
}

/// One registered version of a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelVersion {
    pub name: String,
    /// 1, 2, 3, … per name.
    pub version: u32,
    /// The run and task that produced it, when a pipeline registered it.
    pub run_id: Option<String>,
    pub task_id: Option<String>,
    /// Where the model folder lives in the artifact store.
    pub artifact_key: String,
    pub artifact_digest: String,
    /// Metric name → value (evaluations add theirs).
    pub metrics: BTreeMap<String, f64>,
    /// `ready` or `archived`.
    pub status: String,
    /// Aliases that point at this version now.
    pub aliases: Vec<String>,
    /// Unix milliseconds.
    pub created_at: i64,
}

/// A version to register.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewModelVersion {
    pub name: String,
    pub run_id: Option<String>,
    pub task_id: Option<String>,
    pub artifact_key: String,
    pub artifact_digest: String,
    pub metrics: BTreeMap<String, f64>,
}

/// A registry failure.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("no model {0}; list the registered ones with GET /api/v1/models")]
    NotFound(String),
    #[error("{0}")]
    Refused(String),
    #[error("the model registry failed: {0}")]
    Backend(String),
}

/// What operators may do with the registry.
#[async_trait]
pub trait ModelRegistry: Send + Sync {
    /// Registers a new version (the next number for its name).
    async fn register(&self, new: NewModelVersion) -> Result<ModelVersion, RegistryError>;

    /// The version a reference names now, if any.
    async fn resolve(&self, reference: &ModelRef) -> Result<Option<ModelVersion>, RegistryError>;

    /// Points `alias` of `name` at `version`; returns the version it pointed at before.
    async fn set_alias(&self, name: &str, alias: &str, version: u32) -> Result<Option<u32>, RegistryError>;

    /// Adds (or replaces) metrics of a version.
    async fn record_metrics(
        &self,
        name: &str,
        version: u32,
        metrics: &BTreeMap<String, f64>,
    ) -> Result<(), RegistryError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_by_their_separator() {
        assert_eq!(ModelRef::parse("airworthy").ok(), Some(ModelRef::Latest("airworthy".into())));
        assert_eq!(ModelRef::parse("airworthy@3").ok(), Some(ModelRef::Version("airworthy".into(), 3)));
        assert_eq!(
            ModelRef::parse("airworthy:production").ok(),
            Some(ModelRef::Alias("airworthy".into(), "production".into()))
        );
        for bad in ["", "@3", "a@0", "a@x", "a:", "a b", "-a"] {
            let err = ModelRef::parse(bad).expect_err(bad);
            assert!(err.to_string().contains("NAME@VERSION"), "{err}");
        }
        assert_eq!(ModelRef::parse("m@2").map(|r| r.to_string()).ok(), Some("m@2".to_owned()));
    }
}
