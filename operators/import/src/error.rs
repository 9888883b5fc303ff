use std::path::Path;

/// Why a model could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("cannot write {path}: {reason}")]
    Write { path: String, reason: String },
    #[error("{path}: {what}")]
    Unsupported { path: String, what: String },
    #[error("{path}: metadata key {key}: {reason}")]
    Metadata { path: String, key: String, reason: String },
    #[error("{path}: tensor {tensor}: {reason}")]
    Tensor { path: String, tensor: String, reason: String },
    #[error("cannot fetch {source_spec}: {reason}")]
    Fetch { source_spec: String, reason: String },
}

impl ImportError {
    pub(crate) fn read(path: &Path, error: impl std::fmt::Display) -> Self {
        Self::Read { path: path.display().to_string(), reason: error.to_string() }
    }

    pub(crate) fn write(path: &Path, error: impl std::fmt::Display) -> Self {
        Self::Write { path: path.display().to_string(), reason: error.to_string() }
    }
}
