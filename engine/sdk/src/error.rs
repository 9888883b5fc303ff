//! Errors of the SDK: artifact storage and operator failures.

use std::fmt;

/// A failure of the artifact store, naming the operation and the key.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("artifact store {operation} of {key} failed: {source}")]
    Backend {
        operation: &'static str,
        key: String,
        #[source]
        source: Box<opendal::Error>,
    },
    #[error("artifact store I/O on {key} failed: {source}")]
    Io {
        key: String,
        #[source]
        source: std::io::Error,
    },
    #[error("artifact {key} could not be encoded or decoded: {reason}")]
    Encode { key: String, reason: String },
    #[error("invalid artifact store location {location:?}: {reason}")]
    BadLocation { location: String, reason: String },
    #[error(
        "artifact {uri} is outside the artifact store; pass an output reference such as ${{{{ tasks.ID.outputs.NAME }}}} or a path inside the store"
    )]
    OutsideStore { uri: String },
}

impl ArtifactError {
    pub(crate) fn backend(operation: &'static str, key: &str, source: opendal::Error) -> Self {
        ArtifactError::Backend { operation, key: key.to_owned(), source: Box::new(source) }
    }

    /// Whether trying again may help (network trouble, throttling).
    pub fn is_temporary(&self) -> bool {
        match self {
            ArtifactError::Backend { source, .. } => source.is_temporary(),
            ArtifactError::Io { source, .. } => {
                matches!(source.kind(), std::io::ErrorKind::Interrupted | std::io::ErrorKind::TimedOut)
            }
            _ => false,
        }
    }
}

/// Who is at fault when an operator fails; the retry policy reads this so a
/// typo is not retried three times while a flaky download is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// Bad configuration or bad input data: fix the pipeline or the data.
    User,
    /// A dependency failed: a process, a network service, the artifact store.
    External,
    /// A bug in Hangar or in the operator.
    Internal,
    /// The task was cancelled or timed out.
    Cancelled,
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorClass::User => "user",
            ErrorClass::External => "external",
            ErrorClass::Internal => "internal",
            ErrorClass::Cancelled => "cancelled",
        })
    }
}

/// Why an operator run failed.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct OperatorError {
    pub class: ErrorClass,
    /// Whether another attempt may succeed.
    pub retryable: bool,
    pub message: String,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl OperatorError {
    /// Bad config or input: not retried.
    pub fn user(message: impl Into<String>) -> Self {
        Self { class: ErrorClass::User, retryable: false, message: message.into(), source: None }
    }

    /// A dependency failed: retried while attempts remain.
    pub fn external(message: impl Into<String>) -> Self {
        Self { class: ErrorClass::External, retryable: true, message: message.into(), source: None }
    }

    /// A bug: not retried.
    pub fn internal(message: impl Into<String>) -> Self {
        Self { class: ErrorClass::Internal, retryable: false, message: message.into(), source: None }
    }

    /// The task stopped because it was cancelled.
    pub fn cancelled() -> Self {
        Self { class: ErrorClass::Cancelled, retryable: false, message: "cancelled".to_owned(), source: None }
    }

    /// Attaches the underlying error.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// Overrides whether the failure is retried.
    pub fn retryable(mut self, retryable: bool) -> Self {
        self.retryable = retryable;
        self
    }

    /// The message followed by its chain of causes.
    pub fn full_message(&self) -> String {
        let mut text = self.message.clone();
        let mut cause: Option<&(dyn std::error::Error + 'static)> = match &self.source {
            Some(source) => Some(source.as_ref()),
            None => None,
        };
        while let Some(err) = cause {
            let part = err.to_string();
            if !text.contains(&part) {
                text.push_str(": ");
                text.push_str(&part);
            }
            cause = err.source();
        }
        text
    }
}

impl From<ArtifactError> for OperatorError {
    fn from(err: ArtifactError) -> Self {
        let retryable = err.is_temporary();
        OperatorError { class: ErrorClass::External, retryable, message: err.to_string(), source: None }
    }
}
