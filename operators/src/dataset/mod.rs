//! `dataset`: documents to training data. Sections become pretraining
//! samples (chunked by tokens with overlap) and SFT chats, each with its
//! provenance; a hash of the section's number puts it in train, validation
//! or test; a byte-level BPE tokenizer is trained (or loaded) and token
//! shards are written for training.

pub mod merge;
pub mod reading;
pub mod sections;
pub mod sft;
pub mod tokenizer;
pub mod vocab;

use std::io::Write;
use std::path::{Path, PathBuf};

use hangar_sdk::{
    ArtifactKind, ConfigProblem, Operator, OperatorError, OperatorInfo, PortDecl, Progress, TaskContext, TaskOutputs,
};
use rayon::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokenizers::Tokenizer;

use crate::document::Document;
use crate::io::{blocking, for_each_line, open_input};
use sections::Section;
use sft::DocInfo;

fn default_vocab() -> usize {
    8000
}
fn default_min_frequency() -> u64 {
    2
}
fn default_max_tokens() -> usize {
    512
}
fn default_overlap() -> usize {
    64
}
fn default_validation() -> f64 {
    0.05
}
fn default_test() -> f64 {
    0.05
}
fn default_answer_chars() -> usize {
    2000
}
fn default_reading_tokens() -> usize {
    64
}
fn default_salt() -> String {
    "hangar".to_owned()
}
fn yes() -> bool {
    true
}

/// Config of `dataset`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatasetConfig {
    /// The documents: `${{ tasks.ID.outputs.documents }}`.
    pub documents: String,
    /// A tokenizer to reuse instead of training one: `${{ tasks.ID.outputs.tokenizer }}`.
    #[serde(default)]
    pub tokenizer: Option<String>,
    /// A base model to fine-tune later: `${{ tasks.ID.outputs.model }}`. Its
    /// tokenizer (and chat template) is used instead of training one, so the
    /// shards and SFT chats are in the base model's tokens.
    #[serde(default)]
    pub base: Option<String>,
    /// A `tokenizer.json` to load instead of training one: a local file for
    /// the machine's owner, else an upload, a run's output or `data://NAME/…`.
    #[serde(default)]
    pub tokenizer_file: Option<hangar_sdk::InputPath>,
    /// Vocabulary size of the trained tokenizer, special tokens included.
    #[serde(default = "default_vocab")]
    pub vocab_size: usize,
    /// Fewest occurrences of a pair for a BPE merge.
    #[serde(default = "default_min_frequency")]
    pub min_frequency: u64,
    /// Tokens per pretraining sample; longer sections are chunked.
    #[serde(default = "default_max_tokens")]
    pub max_tokens: usize,
    /// Tokens shared by consecutive chunks of one section.
    #[serde(default = "default_overlap")]
    pub overlap: usize,
    /// Share of sections in the validation split.
    #[serde(default = "default_validation")]
    pub validation: f64,
    /// Share of sections in the test split.
    #[serde(default = "default_test")]
    pub test: f64,
    /// Salt of the split hash; change it to draw other splits.
    #[serde(default = "default_salt")]
    pub split_salt: String,
    /// Build the SFT set.
    #[serde(default = "yes")]
    pub sft: bool,
    /// Longest answer of an SFT sample, in characters (cut at a paragraph).
    #[serde(default = "default_answer_chars")]
    pub max_answer_chars: usize,
    /// Reading passages of the regulations themselves among the train
    /// chats (`kind: reading`), every paragraph followed by its citation:
    /// `none` (default), `train` (the train split's sections) or `all`
    /// (every section: the validation and test questions then ask about
    /// text the model has read, never in their own words; closed-book
    /// recall, which is how a model learns where each requirement stands).
    #[serde(default)]
    pub reading: reading::Reading,
    /// Tokens of regulation text per reading passage; a longer section is
    /// read in several. Leave room for the chat template and the prompt
    /// within the fine-tune's `seq`.
    #[serde(default = "default_reading_tokens")]
    pub reading_tokens: usize,
    /// Also read each document's section titles and paragraphs mixed out
    /// of order, every one followed by its whole citation (`Ultimate loads
    /// are … [§ 99.25(b)]`). In a section read in order a paragraph's
    /// citation follows from the one before it, so the model need not learn
    /// it; out of order it must learn which provision says what, which is
    /// what "which provision states …?" asks. Needs `reading`.
    #[serde(default)]
    pub reading_mixed: bool,
    /// Build one shard's share of a dataset for `dataset_merge`: map this
    /// task over the shards, every instance with the same `tokenizer` (a
    /// `tokenizer` task's output) or `base`. The part's SFT chats go
    /// unchecked to `sft/all.jsonl`; the merge drops ambiguous and repeated
    /// questions across all shards.
    #[serde(default)]
    pub part: bool,
}

/// The splits, in file order.
pub const SPLITS: [&str; 3] = ["train", "validation", "test"];

/// The split of a section key: a hash, so a section lands in the same split
/// in every run and in every document that carries it.
pub fn split_of(key: &str, salt: &str, validation: f64, test: f64) -> &'static str {
    let hash = blake3::hash(format!("{salt}\u{0}{key}").as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&hash.as_bytes()[..8]);
    let x = u64::from_le_bytes(bytes) as f64 / u64::MAX as f64;
    if x < test {
        "test"
    } else if x < test + validation {
        "validation"
    } else {
        "train"
    }
}

/// A section waiting in the scratch file between passes.
#[derive(Debug, Serialize, Deserialize)]
struct Staged {
    doc_id: String,
    source: String,
    doc_title: String,
    lang: String,
    index: usize,
    citation: Option<String>,
    number: Option<String>,
    title: String,
    text: String,
    span: (usize, usize),
}

/// A section's heading: its citation, then its title.
fn heading(citation: Option<&str>, title: &str) -> String {
    match citation {
        Some(c) if title.is_empty() => c.to_owned(),
        Some(c) => format!("{c} {title}"),
        None => title.to_owned(),
    }
}

/// What a section contributes to pretraining and to the tokenizer: its
/// heading on the first line, then its text.
pub(crate) fn training_text(section: &Section) -> String {
    format!("{}\n{}", heading(section.citation.as_deref(), &section.title), section.text)
}

impl Staged {
    fn heading(&self) -> String {
        heading(self.citation.as_deref(), &self.title)
    }

    fn training_text(&self) -> String {
        format!("{}\n{}", self.heading(), self.text)
    }

    fn split_key(&self) -> String {
        match &self.number {
            Some(n) => n.clone(),
            None => format!("{}#{}", self.doc_id, self.index),
        }
    }
}

/// Token shard files of one split, written as they fill: every file but
/// the last holds exactly [`SHARD_TOKENS`] tokens, so shards written part by
/// part and joined come out the same as shards written in one go.
struct ShardWriter {
    dir: PathBuf,
    split: &'static str,
    wide: bool,
    buffer: Vec<u8>,
    files: Vec<String>,
    tokens: u64,
    file_tokens: usize,
}

/// Tokens per shard file.
const SHARD_TOKENS: usize = 64 << 20;

impl ShardWriter {
    fn new(dir: &Path, split: &'static str, wide: bool) -> Self {
        Self::with_file_tokens(dir, split, wide, SHARD_TOKENS)
    }

    fn with_file_tokens(dir: &Path, split: &'static str, wide: bool, file_tokens: usize) -> Self {
        Self { dir: dir.to_path_buf(), split, wide, buffer: Vec::new(), files: Vec::new(), tokens: 0, file_tokens }
    }

    fn width(&self) -> usize {
        if self.wide { 4 } else { 2 }
    }

    fn push(&mut self, ids: &[u32]) -> std::io::Result<()> {
        for &id in ids {
            if self.wide {
                self.buffer.extend_from_slice(&id.to_le_bytes());
            } else {
                self.buffer.extend_from_slice(&(id as u16).to_le_bytes());
            }
        }
        self.tokens += ids.len() as u64;
        self.write_full_files()
    }

    /// Tokens already encoded at this writer's width (another part's shard).
    ///
    /// # Errors
    /// `InvalidData` when the bytes are not whole tokens.
    fn push_encoded(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if bytes.len() % self.width() != 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{} bytes are not whole tokens of {} bytes", bytes.len(), self.width()),
            ));
        }
        self.buffer.extend_from_slice(bytes);
        self.tokens += (bytes.len() / self.width()) as u64;
        self.write_full_files()
    }

    fn write_full_files(&mut self) -> std::io::Result<()> {
        let full = self.file_tokens * self.width();
        while self.buffer.len() >= full {
            let rest = self.buffer.split_off(full);
            self.flush()?;
            self.buffer = rest;
        }
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let name = format!("shards/{}-{:05}.bin", self.split, self.files.len());
        std::fs::write(self.dir.join(&name), &self.buffer)?;
        self.files.push(name);
        self.buffer.clear();
        Ok(())
    }
}

/// Sample counts per split, in [`SPLITS`] order.
type PerSplit = [u64; 3];

fn split_index(split: &str) -> usize {
    SPLITS.iter().position(|x| *x == split).unwrap_or(0)
}

/// What `stats.json` records of a dataset or a part.
#[derive(Debug, Clone, Default)]
struct Totals {
    documents: u64,
    sections: u64,
    pretrain: PerSplit,
    sft: PerSplit,
    dropped: u64,
    tokens: PerSplit,
}

fn stats_json(
    totals: &Totals,
    vocab_size: usize,
    max_tokens: usize,
    overlap: usize,
    split_salt: &str,
) -> serde_json::Value {
    let per_split = |row: &PerSplit| json!({"train": row[0], "validation": row[1], "test": row[2]});
    json!({
        "documents": totals.documents,
        "sections": totals.sections,
        "pretrain": per_split(&totals.pretrain),
        "sft": per_split(&totals.sft),
        "sft_dropped_ambiguous": totals.dropped,
        "tokens": per_split(&totals.tokens),
        "vocab_size": vocab_size,
        "max_tokens": max_tokens,
        "overlap": overlap,
        "split_salt": split_salt,
    })
}

/// Writes the last shard files and `shards/meta.json`; returns the tokens per split.
fn finish_shards(
    out: &Path,
    shards: &mut [ShardWriter],
    wide: bool,
    eos: u32,
    vocab_size: usize,
) -> Result<PerSplit, OperatorError> {
    let mut shard_meta = serde_json::Map::new();
    let mut tokens = [0u64; 3];
    for (i, shard) in shards.iter_mut().enumerate() {
        shard.flush().map_err(io_error("cannot write shards"))?;
        tokens[i] = shard.tokens;
        shard_meta.insert(shard.split.to_owned(), json!({"files": shard.files, "tokens": shard.tokens}));
    }
    let meta = json!({
        "dtype": if wide { "uint32" } else { "uint16" },
        "byte_order": "little",
        "eos_id": eos,
        "vocab_size": vocab_size,
        "splits": shard_meta,
    });
    std::fs::write(
        out.join("shards/meta.json"),
        serde_json::to_vec_pretty(&meta).map_err(|e| OperatorError::internal(e.to_string()))?,
    )
    .map_err(io_error("cannot write shard metadata"))?;
    Ok(tokens)
}

fn write_json(path: &Path, value: &serde_json::Value, what: &str) -> Result<(), OperatorError> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| OperatorError::internal(e.to_string()))?;
    std::fs::write(path, bytes).map_err(|e| OperatorError::external(format!("cannot write {what}: {e}")))
}

fn io_error(what: &str) -> impl Fn(std::io::Error) -> OperatorError + '_ {
    move |e| OperatorError::external(format!("{what}: {e}"))
}

/// The dataset a `dataset` or `dataset_merge` task writes.
fn dataset_port() -> PortDecl {
    PortDecl::required(
        "dataset",
        ArtifactKind::Dataset,
        "pretrain/{split}.jsonl, sft/{split}.jsonl, shards/{split}-NNNNN.bin, shards/meta.json, stats.json.",
    )
}

/// The tokenizer a `dataset`, `dataset_merge` or `tokenizer` task writes.
fn tokenizer_port() -> PortDecl {
    PortDecl::required("tokenizer", ArtifactKind::Tokenizer, "tokenizer.json and tokenizer_config.json.")
}

fn vocab_size_problem(vocab_size: usize) -> Option<ConfigProblem> {
    (vocab_size < 300).then(|| {
        ConfigProblem::at(&["vocab_size"], "vocab_size must be at least 300 (256 bytes plus special tokens and merges)")
    })
}

/// The `dataset` operator.
#[derive(Debug, Default)]
pub struct Dataset;

impl Operator for Dataset {
    type Config = DatasetConfig;

    fn info(&self) -> OperatorInfo {
        OperatorInfo::new(
            "dataset",
            "1",
            "Builds pretraining samples and SFT chats from regulation sections with provenance, a deterministic train/validation/test split, a byte-level BPE tokenizer and token shards.",
        )
        .input(PortDecl::required("documents", ArtifactKind::Documents, "Documents to build the dataset from."))
        .input(PortDecl::optional("tokenizer", ArtifactKind::Tokenizer, "A tokenizer to reuse instead of training one."))
        .input(PortDecl::optional("base", ArtifactKind::Model, "A base model whose tokenizer and chat template to use."))
        .output(dataset_port())
        .output(tokenizer_port())
    }

    fn check(&self, c: &DatasetConfig) -> Vec<ConfigProblem> {
        let mut problems: Vec<ConfigProblem> = vocab_size_problem(c.vocab_size).into_iter().collect();
        if c.reading != reading::Reading::None && c.reading_tokens < 8 {
            problems.push(ConfigProblem::at(
                &["reading_tokens"],
                "reading_tokens must be at least 8 (64 suits a seq of 128)",
            ));
        }
        if c.reading_mixed && c.reading == reading::Reading::None {
            problems.push(ConfigProblem::at(
                &["reading_mixed"],
                "reading_mixed reads the sections that `reading` chooses: set `reading: all` or `reading: train`",
            ));
        }
        if c.reading != reading::Reading::None && !c.sft {
            problems.push(ConfigProblem::at(
                &["reading"],
                "reading passages are SFT chats: set `sft: true` or `reading: none`",
            ));
        }
        if c.max_tokens < 16 {
            problems.push(ConfigProblem::at(&["max_tokens"], "max_tokens must be at least 16"));
        }
        if c.overlap >= c.max_tokens {
            problems.push(ConfigProblem::at(
                &["overlap"],
                format!("overlap {} must be below max_tokens {}", c.overlap, c.max_tokens),
            ));
        }
        if !(0.0..1.0).contains(&(c.validation + c.test)) || c.validation < 0.0 || c.test < 0.0 {
            problems.push(ConfigProblem::at(&["validation"], "validation and test shares must be ≥ 0 and sum below 1"));
        }
        if usize::from(c.tokenizer.is_some()) + usize::from(c.tokenizer_file.is_some()) + usize::from(c.base.is_some())
            > 1
        {
            problems
                .push(ConfigProblem::at(&["tokenizer_file"], "give one of `base`, `tokenizer` and `tokenizer_file`"));
        }
        if c.part && c.tokenizer.is_none() && c.tokenizer_file.is_none() && c.base.is_none() {
            problems.push(ConfigProblem::at(
                &["part"],
                "a part of a sharded dataset needs the tokenizer every shard shares: give `tokenizer:` (the output of a `tokenizer` task over all shards) or `base:`",
            ));
        }
        problems
    }

    fn demands(&self, config: &DatasetConfig) -> hangar_sdk::Demands {
        hangar_sdk::Demands::default().input(&["tokenizer_file"], config.tokenizer_file.as_ref())
    }

    async fn run(&self, config: DatasetConfig, ctx: TaskContext) -> Result<TaskOutputs, OperatorError> {
        let input = ctx.input("documents")?.clone();
        let reader = open_input(&ctx, &input).await?;
        let scratch = ctx.scratch_dir()?.to_path_buf();
        let mut base_config = None;
        let given = match (ctx.optional_input("tokenizer"), &config.tokenizer_file) {
            _ if ctx.optional_input("base").is_some() => {
                let base = ctx.input("base")?.key.trim_end_matches('/').to_owned();
                let config_path = ctx
                    .artifacts()
                    .fetch_local(&format!("{base}/tokenizer_config.json"), &scratch.join("base"))
                    .await?;
                let bytes =
                    std::fs::read(&config_path).map_err(io_error("cannot read the base's tokenizer_config.json"))?;
                base_config = Some(serde_json::from_slice::<serde_json::Value>(&bytes).map_err(|e| {
                    OperatorError::user(format!("the base model's tokenizer_config.json is not JSON: {e}"))
                })?);
                Some(ctx.artifacts().fetch_local(&format!("{base}/tokenizer.json"), &scratch.join("base")).await?)
            }
            (Some(artifact), _) => {
                let key = format!("{}/tokenizer.json", artifact.key.trim_end_matches('/'));
                Some(ctx.artifacts().fetch_local(&key, &scratch).await?)
            }
            (None, Some(file)) => Some(ctx.fetch_input(file).await?),
            (None, None) => None,
        };
        let out_dir = scratch.join("out");
        let task = ctx.clone();
        let build_dir = out_dir.clone();
        let stats = blocking(move || {
            build(&config, &input.uri, reader, given.as_deref(), base_config, &scratch, &build_dir, &task)
        })
        .await?;
        ctx.info(format!(
            "{} sections from {} documents; pretraining samples {}; SFT samples {}; tokens {}",
            stats["sections"], stats["documents"], stats["pretrain"], stats["sft"], stats["tokens"]
        ));

        let mut dataset = ctx.output_dir("dataset", ArtifactKind::Dataset);
        let mut tokenizer = ctx.output_dir("tokenizer", ArtifactKind::Tokenizer);
        for entry in walk(&out_dir).map_err(io_error("cannot list the dataset files"))? {
            let relative = entry.strip_prefix(&out_dir).unwrap_or(&entry).to_string_lossy().replace('\\', "/");
            if let Some(name) = relative.strip_prefix("tokenizer/") {
                tokenizer.put_file(name, &entry).await?;
            } else {
                dataset.put_file(&relative, &entry).await?;
            }
        }
        Ok(TaskOutputs::from([
            ("dataset".to_owned(), dataset.finish().await?),
            ("tokenizer".to_owned(), tokenizer.finish().await?),
        ]))
    }
}

fn walk(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Builds every output file under `out`; returns the statistics.
fn build(
    config: &DatasetConfig,
    input_name: &str,
    reader: impl std::io::BufRead,
    given_tokenizer: Option<&Path>,
    base_config: Option<serde_json::Value>,
    scratch: &Path,
    out: &Path,
    ctx: &TaskContext,
) -> Result<serde_json::Value, OperatorError> {
    for dir in ["pretrain", "sft", "shards", "tokenizer"] {
        std::fs::create_dir_all(out.join(dir)).map_err(io_error("cannot create the output folders"))?;
    }
    // Pass 1: sections to a scratch file.
    let staged_path = scratch.join("sections.jsonl");
    let mut staged =
        std::io::BufWriter::new(std::fs::File::create(&staged_path).map_err(io_error("cannot write sections"))?);
    let (mut documents, mut section_count) = (0u64, 0u64);
    for_each_line(reader, |line, number| {
        let doc: Document = serde_json::from_slice(line)
            .map_err(|e| OperatorError::user(format!("{input_name} line {number} is not a document: {e}")))?;
        documents += 1;
        for (index, s) in sections::split(&doc.title, &doc.id, &doc.text).into_iter().enumerate() {
            let Section { citation, number, title, text, span } = s;
            let record = Staged {
                doc_id: doc.id.clone(),
                source: doc.source.clone(),
                doc_title: doc.title.clone(),
                lang: doc.lang.clone(),
                index,
                citation,
                number,
                title,
                text,
                span,
            };
            serde_json::to_writer(&mut staged, &record).map_err(|e| OperatorError::internal(e.to_string()))?;
            staged.write_all(b"\n").map_err(io_error("cannot write sections"))?;
            section_count += 1;
        }
        if documents % 256 == 0 {
            ctx.check_cancelled()?;
        }
        Ok(())
    })?;
    staged.flush().map_err(io_error("cannot write sections"))?;
    drop(staged);
    // A shard that dedup emptied is an empty part; the merge says when all are.
    if section_count == 0 && !config.part {
        return Err(OperatorError::user("the documents hold no text to build a dataset from"));
    }
    ctx.progress(Progress::of(1, 4, "stages").message("sections found"));

    let read_staged = || -> Result<Vec<Staged>, OperatorError> {
        let text = std::fs::read_to_string(&staged_path).map_err(io_error("cannot read sections"))?;
        text.lines().map(|l| serde_json::from_str(l).map_err(|e| OperatorError::internal(e.to_string()))).collect()
    };
    let all = read_staged()?;

    // The tokenizer: given, or trained on the sections.
    let tokenizer: Tokenizer = match given_tokenizer {
        Some(path) => Tokenizer::from_file(path)
            .map_err(|e| OperatorError::user(format!("cannot load the tokenizer {}: {e}", path.display())))?,
        None => vocab::train(
            all.iter().map(Staged::training_text).collect::<Vec<_>>().into_iter(),
            config.vocab_size,
            config.min_frequency,
        )
        .map_err(|e| OperatorError::user(format!("tokenizer training failed: {e}")))?,
    };
    ctx.check_cancelled()?;
    ctx.progress(Progress::of(2, 4, "stages").message("tokenizer ready"));
    // A base model ends texts with its own end token.
    let base_eos = base_config
        .as_ref()
        .and_then(|c| c.get("eos_token"))
        .and_then(|t| t.as_str().or_else(|| t.get("content").and_then(serde_json::Value::as_str)))
        .and_then(|t| tokenizer.token_to_id(t));
    let eos = match base_eos {
        Some(id) => id,
        None => vocab::special_id(&tokenizer, vocab::END_OF_TEXT).map_err(OperatorError::user)?,
    };
    let vocab_size = tokenizer.get_vocab_size(true);
    let wide = vocab_size > u16::MAX as usize;
    let tokenizer_json = vocab::to_json(&tokenizer).map_err(OperatorError::internal)?;
    std::fs::write(out.join("tokenizer/tokenizer.json"), &tokenizer_json)
        .map_err(io_error("cannot write tokenizer.json"))?;
    // A base model's tokenizer keeps its own config (special tokens, chat template).
    let tokenizer_config = match &base_config {
        Some(config) => serde_json::to_vec_pretty(config),
        None => serde_json::to_vec_pretty(&vocab::TokenizerConfig::for_tokenizer(&tokenizer)),
    };
    std::fs::write(
        out.join("tokenizer/tokenizer_config.json"),
        tokenizer_config.map_err(|e| OperatorError::internal(e.to_string()))?,
    )
    .map_err(io_error("cannot write tokenizer_config.json"))?;

    // Pass 2: samples, chats and shards per split; sections are tokenized
    // a batch at a time on every core, then written in order.
    let open = |path: PathBuf| -> Result<std::io::BufWriter<std::fs::File>, OperatorError> {
        Ok(std::io::BufWriter::new(std::fs::File::create(&path).map_err(io_error("cannot create output files"))?))
    };
    let mut pretrain = Vec::new();
    let mut shards = Vec::new();
    for split in SPLITS {
        pretrain.push(open(out.join(format!("pretrain/{split}.jsonl")))?);
        shards.push(ShardWriter::new(out, split, wide));
    }
    let mut totals = Totals { documents, sections: section_count, ..Totals::default() };
    let mut sft_samples = Vec::new();
    // The mixed reading's lines, by document (a BTreeMap: the same order on
    // every run), with a section of each to name the document by.
    let mut mixed: std::collections::BTreeMap<&str, (&Staged, Vec<String>)> = std::collections::BTreeMap::new();
    let count = |text: &str| tokenizer.encode(text, false).map_or(text.len() / 4, |e| e.len());
    let stride = config.max_tokens - config.overlap;
    let mut done = 0;
    for batch in all.chunks(ENCODE_BATCH) {
        ctx.check_cancelled()?;
        let encoded = batch
            .par_iter()
            .map(|section| {
                let text = section.training_text();
                tokenizer.encode(text.as_str(), false).map(|encoding| (text, encoding))
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| OperatorError::internal(format!("tokenization failed: {e}")))?;
        for (section, (text, encoding)) in batch.iter().zip(encoded) {
            let split = split_of(&section.split_key(), &config.split_salt, config.validation, config.test);
            let s = split_index(split);
            let heading = section.heading();
            let ids = encoding.get_ids();
            let offsets = encoding.get_offsets();
            shards[s].push(ids).map_err(io_error("cannot write shards"))?;
            shards[s].push(&[eos]).map_err(io_error("cannot write shards"))?;
            let heading_chars = heading.chars().count() + 1;
            let mut start = 0;
            let mut chunk = 0;
            while start < ids.len() {
                let end = (start + config.max_tokens).min(ids.len());
                let (byte_start, byte_end) = (offsets[start].0, offsets[end - 1].1);
                let piece = text.get(byte_start..byte_end).unwrap_or_default();
                let char_start = text[..byte_start.min(text.len())].chars().count();
                let char_end = char_start + piece.chars().count();
                let body_start = section.span.0 + char_start.saturating_sub(heading_chars);
                let body_end = section.span.0 + char_end.saturating_sub(heading_chars);
                let record = json!({
                    "id": format!("{}-{}-{chunk}", section.doc_id, section.index),
                    "text": piece,
                    "doc_id": section.doc_id,
                    "source": section.source,
                    "section": section.citation.clone().unwrap_or_else(|| section.title.clone()),
                    "span": [body_start, body_end.max(body_start)],
                    "split": split,
                    "lang": section.lang,
                    "tokens": end - start,
                });
                serde_json::to_writer(&mut pretrain[s], &record).map_err(|e| OperatorError::internal(e.to_string()))?;
                pretrain[s].write_all(b"\n").map_err(io_error("cannot write samples"))?;
                totals.pretrain[s] += 1;
                chunk += 1;
                if end == ids.len() {
                    break;
                }
                start += stride;
            }
            if config.sft {
                let doc = DocInfo {
                    id: &section.doc_id,
                    source: &section.source,
                    title: &section.doc_title,
                    lang: &section.lang,
                };
                let as_section = Section {
                    citation: section.citation.clone(),
                    number: section.number.clone(),
                    title: section.title.clone(),
                    text: section.text.clone(),
                    span: section.span,
                };
                sft_samples.extend(sft::samples(&as_section, &doc, split, config.max_answer_chars));
                if config.reading.reads(split) {
                    sft_samples.extend(reading::passages(&as_section, &doc, config.reading_tokens, &count));
                    if config.reading_mixed {
                        let (_, lines) = mixed.entry(&section.doc_id).or_insert((section, Vec::new()));
                        lines.extend(reading::mixed_lines(&as_section));
                    }
                }
            }
        }
        done += batch.len();
        ctx.progress(Progress::of(done as u64, all.len() as u64, "sections").message("writing samples"));
    }
    for writer in &mut pretrain {
        writer.flush().map_err(io_error("cannot write samples"))?;
    }
    for (section, lines) in mixed.into_values() {
        let doc =
            DocInfo { id: &section.doc_id, source: &section.source, title: &section.doc_title, lang: &section.lang };
        sft_samples.extend(reading::mixed_passages(&doc, lines, config.reading_tokens, &count));
    }
    // A part's chats are checked across all shards by the merge.
    let (sft_samples, ambiguous) = if config.part { (sft_samples, 0) } else { sft::without_leaks(sft_samples) };
    if ambiguous > 0 {
        ctx.info(format!(
            "dropped {ambiguous} SFT questions that are ambiguous (the same text in several places with different answers) or ask about a placeholder title"
        ));
    }
    totals.dropped = ambiguous as u64;
    if config.reading != reading::Reading::None {
        let passages = sft_samples.iter().filter(|s| s.kind == "reading").count();
        ctx.info(format!(
            "{passages} reading passages of the regulations' text in train (reading: {})",
            config.reading.name()
        ));
    }
    let mut chats = Vec::new();
    if config.part {
        chats.push(open(out.join(PART_CHATS))?);
    } else {
        for split in SPLITS {
            chats.push(open(out.join(format!("sft/{split}.jsonl")))?);
        }
    }
    for sample in &sft_samples {
        let s = split_index(&sample.split);
        let file = if config.part { 0 } else { s };
        serde_json::to_writer(&mut chats[file], sample).map_err(|e| OperatorError::internal(e.to_string()))?;
        chats[file].write_all(b"\n").map_err(io_error("cannot write samples"))?;
        totals.sft[s] += 1;
    }
    for writer in &mut chats {
        writer.flush().map_err(io_error("cannot write samples"))?;
    }
    totals.tokens = finish_shards(out, &mut shards, wide, eos, vocab_size)?;
    let mut stats = stats_json(&totals, vocab_size, config.max_tokens, config.overlap, &config.split_salt);
    if config.part {
        // The merge checks that the tokenizer it is given is the one these tokens come from.
        stats["part"] = json!(true);
        stats["tokenizer"] = json!(format!("blake3:{}", blake3::hash(tokenizer_json.as_bytes()).to_hex()));
    }
    write_json(&out.join("stats.json"), &stats, "stats.json")?;
    ctx.progress(Progress::of(4, 4, "stages").message("done"));
    Ok(stats)
}

/// Sections tokenized at once on every core.
const ENCODE_BATCH: usize = 1024;

/// Where a part keeps its unchecked SFT chats, all splits in section order.
const PART_CHATS: &str = "sft/all.jsonl";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_settings_are_checked_with_the_field_named() {
        let config: DatasetConfig =
            serde_json::from_value(json!({"documents": "d", "reading": "all", "reading_tokens": 4, "sft": false}))
                .expect("a config");
        let problems = Dataset.check(&config);
        let at = |field: &str| problems.iter().find(|p| p.path == [field]).map(|p| p.message.clone());
        assert!(at("reading_tokens").is_some_and(|m| m.contains("at least 8")), "{problems:?}");
        assert!(at("reading").is_some_and(|m| m.contains("sft: true")), "{problems:?}");
        let unknown = serde_json::from_value::<DatasetConfig>(json!({"documents": "d", "reading": "everything"}));
        assert!(unknown.is_err_and(|e| e.to_string().contains("none")), "the choices are named");
        let mixed_alone: DatasetConfig =
            serde_json::from_value(json!({"documents": "d", "reading_mixed": true})).expect("a config");
        let problems = Dataset.check(&mixed_alone);
        assert!(
            problems.iter().any(|p| p.path == ["reading_mixed"] && p.message.contains("reading: all")),
            "{problems:?}"
        );
        let fine: DatasetConfig =
            serde_json::from_value(json!({"documents": "d", "reading": "train", "reading_mixed": true})).expect("ok");
        assert!(Dataset.check(&fine).is_empty());
    }

    fn shard_files(dir: &Path, writer: &ShardWriter) -> Vec<Vec<u8>> {
        writer.files.iter().map(|f| std::fs::read(dir.join(f)).expect("shard")).collect()
    }

    #[test]
    fn shards_written_in_parts_and_joined_equal_shards_written_at_once() {
        let sections: Vec<Vec<u32>> =
            (0..12u32).map(|i| (0..(i * 3 % 11 + 1)).map(|t| t * 1000 + i).collect()).collect();
        for wide in [false, true] {
            let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().expect("tempdir")).collect();
            for d in &dirs {
                std::fs::create_dir_all(d.path().join("shards")).expect("mkdir");
            }
            let mut whole = ShardWriter::with_file_tokens(dirs[0].path(), "train", wide, 7);
            let mut parts = [
                ShardWriter::with_file_tokens(dirs[1].path(), "train", wide, 7),
                ShardWriter::with_file_tokens(dirs[2].path(), "train", wide, 7),
            ];
            for (i, ids) in sections.iter().enumerate() {
                whole.push(ids).expect("push");
                parts[usize::from(i >= 5)].push(ids).expect("push");
            }
            whole.flush().expect("flush");
            let mut joined = ShardWriter::with_file_tokens(dirs[3].path(), "train", wide, 7);
            for (part, dir) in parts.iter_mut().zip(&dirs[1..3]) {
                part.flush().expect("flush");
                for bytes in shard_files(dir.path(), part) {
                    joined.push_encoded(&bytes).expect("push");
                }
            }
            joined.flush().expect("flush");
            let total: usize = sections.iter().map(Vec::len).sum();
            assert_eq!(whole.tokens, total as u64);
            assert_eq!(joined.tokens, whole.tokens);
            assert_eq!(whole.files.len(), total.div_ceil(7), "every file but the last holds exactly 7 tokens");
            assert_eq!(joined.files, whole.files);
            assert_eq!(shard_files(dirs[3].path(), &joined), shard_files(dirs[0].path(), &whole));
        }
    }

    #[test]
    fn splits_are_stable_and_roughly_proportional() {
        assert_eq!(split_of("25.1309", "hangar", 0.05, 0.05), split_of("25.1309", "hangar", 0.05, 0.05));
        let mut counts = std::collections::HashMap::new();
        for i in 0..10_000 {
            *counts.entry(split_of(&format!("25.{i}"), "hangar", 0.1, 0.1)).or_insert(0) += 1;
        }
        assert!((800..1200).contains(&counts["test"]), "{counts:?}");
        assert!((800..1200).contains(&counts["validation"]), "{counts:?}");
        assert_ne!(
            (0..50).map(|i| split_of(&i.to_string(), "a", 0.3, 0.3)).collect::<Vec<_>>(),
            (0..50).map(|i| split_of(&i.to_string(), "b", 0.3, 0.3)).collect::<Vec<_>>(),
            "another salt draws other splits"
        );
    }
}
