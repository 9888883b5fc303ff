//! Config of the `ingest` operator.

use schemars::JsonSchema;
use serde::Deserialize;

fn default_text_fields() -> Vec<String> {
    ["text", "full", "body", "content"].map(String::from).to_vec()
}

fn default_title_fields() -> Vec<String> {
    ["title", "canonical_title", "title_at_amendment", "heading", "name"].map(String::from).to_vec()
}

fn default_id_field() -> String {
    "id".to_owned()
}

fn default_max_file_bytes() -> u64 {
    256 << 20
}

fn default_garbled_ratio() -> f64 {
    0.02
}

/// How records are found in JSON and JSONL files.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonOptions {
    /// Fields holding a record's text, tried in order.
    #[serde(default = "default_text_fields")]
    pub text_fields: Vec<String>,
    /// Field holding a record's own id; records without one get a derived id.
    #[serde(default = "default_id_field")]
    pub id_field: String,
    /// Fields holding a record's title, tried in order.
    #[serde(default = "default_title_fields")]
    pub title_fields: Vec<String>,
    /// Builds titles from record fields, e.g. `"§ {parent.part}.{parent.section} {title_at_amendment}"`;
    /// `{parent.X}` reads the enclosing object. Records missing a field keep their plain title.
    #[serde(default)]
    pub title_template: Option<String>,
}

impl Default for JsonOptions {
    fn default() -> Self {
        Self {
            text_fields: default_text_fields(),
            id_field: default_id_field(),
            title_fields: default_title_fields(),
            title_template: None,
        }
    }
}

/// Config of `ingest`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    /// A file, a folder (read recursively) or an artifact store location:
    /// an upload (`uploads/ID`), a run's output (`runs/RUN/…`) or a data root
    /// (`data://NAME/sub`); the machine's owner may also give any local path,
    /// `file://…` or `s3://bucket/prefix`.
    pub path: hangar_sdk::InputPath,
    /// Glob patterns, relative to `path`, of files to read (default: every file).
    #[serde(default)]
    pub include: Vec<String>,
    /// Glob patterns of files to skip (they are not reported as rejected).
    #[serde(default)]
    pub exclude: Vec<String>,
    /// How JSON and JSONL records are read.
    #[serde(default)]
    pub json: JsonOptions,
    /// Text encoding of plain-text files: `auto` detects it (BOM, UTF-8,
    /// then GB18030/GBK, Big5, Shift_JIS, windows-125x, …), or an encoding label.
    #[serde(default = "default_encoding")]
    pub encoding: String,
    /// Files larger than this many bytes are rejected.
    #[serde(default = "default_max_file_bytes")]
    pub max_file_bytes: u64,
    /// Share of undecodable glyphs (U+FFFD, private-use, `(cid:N)`) above
    /// which a PDF document is flagged `garbled` in its metadata.
    #[serde(default = "default_garbled_ratio")]
    pub garbled_ratio: f64,
    /// Bytes a compressed file (DOCX) may unpack to; more is a zip bomb,
    /// and the file is rejected with the reason.
    #[serde(default = "default_max_unpacked_bytes")]
    pub max_unpacked_bytes: u64,
    /// Unpacked bytes per compressed byte allowed (for parts over 1 MiB).
    #[serde(default = "default_max_unpack_ratio")]
    pub max_unpack_ratio: f64,
    /// Files parsed in parallel (default and at most: the number of cores).
    #[serde(default)]
    pub workers: Option<usize>,
    /// Write the documents as a folder of JSONL shards of about this many
    /// bytes each (default: one `documents.jsonl`), for later tasks to
    /// process shard by shard with `map:`.
    #[serde(default)]
    pub shard_bytes: Option<u64>,
}

fn default_max_unpacked_bytes() -> u64 {
    256 << 20
}

fn default_max_unpack_ratio() -> f64 {
    100.0
}

fn default_encoding() -> String {
    "auto".to_owned()
}
