//! The Hangar operator SDK.
//!
//! An operator is a typed config plus declared input and output artifacts
//! plus an `async fn run` that reports progress and honours cancellation.
//! Operators depend on this crate only: never on the engine's store, the
//! database or the HTTP layer.

pub mod artifact;
pub mod chat;
pub mod context;
pub mod error;
pub mod inference;
pub mod input;
pub mod models;
pub mod operator;
pub mod registry;
pub mod store;
pub mod writer;

pub use artifact::{ArtifactKind, ArtifactRef, PortDecl, TaskOutputs};
pub use context::{DiscardReporter, LogStream, Progress, TaskContext, TaskIdentity, TaskReporter};
pub use error::{ArtifactError, ErrorClass, OperatorError};
pub use inference::{ChatMessage, Inference, InferenceDone, InferenceError, InferenceEvent, InferenceRequest, Prompt};
pub use input::{Access, DataRoot, EntryKind, InputError, InputPath, LocalInput, Ownership, Resolved};
pub use models::{ModelRef, ModelRegistry, ModelVersion, NewModelVersion, RegistryError};
pub use operator::{ConfigProblem, Demands, DynOperator, Operator, OperatorInfo, field};
pub use registry::{DuplicateOperator, RegisteredOperator, Registry};
pub use store::{ArtifactStore, ListedFile, S3Settings, StoreLocation};
pub use writer::{
    ArtifactDirWriter, ArtifactWriter, Manifest, ManifestEntry, artifact_entries, artifact_files, put_collection,
    read_manifest,
};

/// Re-exported so operators share the engine's versions.
pub use schemars;
pub use tokio_util::sync::CancellationToken;

/// The candidate closest to `word` by edit distance, if any is close enough
/// to be a plausible typo.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), c))
        .filter(|(distance, c)| *distance <= (word.len().max(c.len()) / 3).max(2))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    #[test]
    fn closest_finds_typos_but_not_unrelated_words() {
        assert_eq!(super::closest("shel", ["shell", "dedup"]), Some("shell"));
        assert_eq!(super::closest("dedpu", ["shell", "dedup"]), Some("dedup"));
        assert_eq!(super::closest("tokenizer", ["shell", "dedup"]), None);
    }
}
