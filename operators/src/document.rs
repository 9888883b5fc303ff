//! The `documents` artifact: JSONL, one document per line.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One document as every data operator reads and writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    /// Stable identifier: the record's own id, or derived from source and position.
    pub id: String,
    /// Where it came from: a path relative to the ingested folder, with
    /// `#key` for one record of a multi-record file.
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub title: String,
    /// ISO 639-1 code (`en`, `zh`, …) or `und`.
    #[serde(default)]
    pub lang: String,
    /// The text, in Markdown where the source had structure.
    pub text: String,
    #[serde(default)]
    pub metadata: Map<String, Value>,
    /// Fields this version does not know, kept as they were.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A deterministic document id: 16 hex digits of blake3 over the source and
/// the record's key within it.
pub fn derived_id(source: &str, key: &str) -> String {
    let mut hasher = blake3::Hasher::new();
    hasher.update(source.as_bytes());
    hasher.update(&[0]);
    hasher.update(key.as_bytes());
    hasher.finalize().to_hex()[..16].to_owned()
}

/// A side record about a document or file, for `rejected` and `duplicates`.
pub type Record = Map<String, Value>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_survive_a_round_trip() {
        let line = r#"{"id":"a","text":"t","score":0.5,"metadata":{"k":1}}"#;
        let doc: Document = serde_json::from_str(line).expect("parse");
        assert_eq!(doc.extra["score"], 0.5);
        let back = serde_json::to_value(&doc).expect("serialize");
        assert_eq!(back["score"], 0.5);
        assert_eq!(back["metadata"]["k"], 1);
    }

    #[test]
    fn derived_ids_are_stable_and_distinct() {
        assert_eq!(derived_id("a.md", ""), derived_id("a.md", ""));
        assert_ne!(derived_id("a.md", "1"), derived_id("a.md", "2"));
        assert_eq!(derived_id("a.md", "").len(), 16);
    }
}
