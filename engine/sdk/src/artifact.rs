//! Typed artifacts: what a task produces and what the next task consumes.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What an artifact holds. The engine checks, before anything runs, that every
/// edge joins an output and an input of compatible kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ArtifactKind {
    /// JSONL, one document per line: `{"id", "source", "title", "lang", "text", "metadata"}`.
    Documents,
    /// JSONL of side records such as rejected files or duplicate pairs.
    Records,
    /// A training dataset folder (pretraining corpus, SFT samples, token shards).
    Dataset,
    /// A tokenizer (`tokenizer.json`).
    Tokenizer,
    /// A trained model folder (weights, config, tokenizer).
    Model,
    /// An evaluation or processing report.
    Report,
    /// Time series of metrics (JSONL).
    Metrics,
    /// Any single file without a more specific kind.
    File,
    /// Accepts or produces any kind; used by generic operators.
    Any,
}

impl ArtifactKind {
    /// Whether an input port of this kind accepts an artifact of kind `produced`.
    pub fn accepts(self, produced: ArtifactKind) -> bool {
        self == ArtifactKind::Any || produced == ArtifactKind::Any || self == produced
    }

    /// The lower-case name used in YAML, JSON and diagnostics.
    pub fn as_str(self) -> &'static str {
        match self {
            ArtifactKind::Documents => "documents",
            ArtifactKind::Records => "records",
            ArtifactKind::Dataset => "dataset",
            ArtifactKind::Tokenizer => "tokenizer",
            ArtifactKind::Model => "model",
            ArtifactKind::Report => "report",
            ArtifactKind::Metrics => "metrics",
            ArtifactKind::File => "file",
            ArtifactKind::Any => "any",
        }
    }
}

impl fmt::Display for ArtifactKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A committed artifact: where it lives and what it contains.
///
/// `digest` identifies the content (blake3); two artifacts with the same digest
/// hold the same bytes, which is what output caching relies on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactRef {
    /// What the artifact holds.
    pub kind: ArtifactKind,
    /// Absolute location: `file:///...` on the local store, `s3://bucket/key` on S3.
    pub uri: String,
    /// Key inside the artifact store.
    pub key: String,
    /// `blake3:<hex>` of the file, or of the manifest for a folder artifact.
    pub digest: String,
    /// Size in bytes (the sum of all files for a folder).
    pub size: u64,
    /// True when the artifact is a folder with a `MANIFEST.json`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dir: bool,
    /// Small facts about the artifact (a report's headline metrics, whether
    /// a candidate beat its baseline) that a later task's `if:` can test.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub values: std::collections::BTreeMap<String, serde_json::Value>,
}

/// A named input or output of an operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortDecl {
    /// Port name; for inputs it is also the config field that carries the reference.
    pub name: String,
    /// The artifact kind the port carries.
    pub kind: ArtifactKind,
    /// What the port is for.
    pub description: String,
    /// Whether the operator always produces (output) or needs (input) it.
    pub required: bool,
    /// An input that may also name a registered model (`NAME`, `NAME@V`,
    /// `NAME:ALIAS`) instead of an upstream task's artifact.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub registered_model: bool,
}

impl PortDecl {
    /// A required port.
    pub fn required(name: &str, kind: ArtifactKind, description: &str) -> Self {
        Self {
            name: name.to_owned(),
            kind,
            description: description.to_owned(),
            required: true,
            registered_model: false,
        }
    }

    /// An input that also takes a registered model's name in place of an artifact.
    pub fn or_registered_model(mut self) -> Self {
        self.registered_model = true;
        self
    }

    /// An optional port.
    pub fn optional(name: &str, kind: ArtifactKind, description: &str) -> Self {
        Self { required: false, ..Self::required(name, kind, description) }
    }
}

/// The artifacts a task produced, by output port name.
pub type TaskOutputs = std::collections::BTreeMap<String, ArtifactRef>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_accepts_everything_and_kinds_must_match_otherwise() {
        assert!(ArtifactKind::Any.accepts(ArtifactKind::Model));
        assert!(ArtifactKind::Documents.accepts(ArtifactKind::Documents));
        assert!(!ArtifactKind::Documents.accepts(ArtifactKind::Model));
    }

    #[test]
    fn kind_serializes_as_lower_case_word() {
        let json = serde_json::to_string(&ArtifactKind::Tokenizer).expect("serialize");
        assert_eq!(json, "\"tokenizer\"");
        assert_eq!(ArtifactKind::Tokenizer.to_string(), "tokenizer");
    }
}

/// Bytes in binary units (B, KiB, MiB, GiB), as people read a size.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

#[cfg(test)]
mod size_tests {
    use super::human_size;

    #[test]
    fn sizes_read_in_binary_units() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(5 << 30), "5.0 GiB");
    }
}
