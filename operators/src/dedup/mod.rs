//! `dedup`: exact and near-duplicate removal (MinHash + LSH, CJK-aware),
//! clusters by union-find, keeps the first document of each cluster, and
//! optionally removes boilerplate paragraphs repeated across documents.

pub mod cluster;
mod distributed;
pub mod minhash;
pub mod synthetic;
mod version;

use std::borrow::Cow;
use std::collections::HashSet;

use hangar_sdk::{
    ArtifactKind, ConfigProblem, Operator, OperatorError, OperatorInfo, PortDecl, Progress, TaskContext, TaskOutputs,
};
use rayon::prelude::*;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::document::Document;
use crate::io::{JsonlSink, LineSink, blocking, for_each_line, open_input};
use cluster::{Banding, DuplicateIndex, Verdict};
pub use distributed::{DedupApply, DedupClusters, DedupSignatures};
use minhash::{ShingleKind, Signer, auto_kind, sequence_hash, shingles_of, tokenize};
pub use version::Keep;

/// How documents are cut into shingles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ShingleType {
    /// Word n-grams for space-separated text, character n-grams when CJK dominates.
    Auto,
    /// Word n-grams.
    Word,
    /// Character n-grams.
    Char,
}

fn yes() -> bool {
    true
}
fn default_num_perm() -> usize {
    256
}
fn default_bands() -> usize {
    42
}
fn default_rows() -> usize {
    6
}
fn default_threshold() -> f64 {
    0.7
}
fn default_ngram() -> usize {
    5
}
fn default_min_paragraph() -> usize {
    80
}
fn default_max_candidates() -> usize {
    64
}
fn default_seed() -> u64 {
    0x5eed
}
fn default_shingle() -> ShingleType {
    ShingleType::Auto
}

/// Config of `dedup`.
#[derive(Debug, Clone, Deserialize, serde::Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DedupConfig {
    /// The documents to deduplicate: `${{ tasks.ID.outputs.documents }}`.
    pub documents: String,
    /// Remove exact duplicates: the same words (letters and digits, lower-cased)
    /// in the same order, whatever the punctuation and spacing.
    #[serde(default = "yes")]
    pub exact: bool,
    /// Remove near duplicates (MinHash + LSH).
    #[serde(default = "yes")]
    pub near: bool,
    /// MinHash signature length.
    #[serde(default = "default_num_perm")]
    pub num_perm: usize,
    /// LSH bands; `bands × rows` must not exceed `num_perm`.
    #[serde(default = "default_bands")]
    pub bands: usize,
    /// Signature rows per band.
    #[serde(default = "default_rows")]
    pub rows: usize,
    /// Estimated Jaccard similarity at which two candidates are duplicates.
    #[serde(default = "default_threshold")]
    pub threshold: f64,
    /// `auto` (by script), `word` or `char` shingles.
    #[serde(default = "default_shingle")]
    pub shingle: ShingleType,
    /// Words per shingle.
    #[serde(default = "default_ngram")]
    pub ngram: usize,
    /// Characters per shingle for `char` shingles.
    #[serde(default = "default_ngram")]
    pub char_ngram: usize,
    /// Also remove paragraphs repeated verbatim in earlier documents (boilerplate).
    #[serde(default)]
    pub paragraphs: bool,
    /// Shortest paragraph considered boilerplate, in characters.
    #[serde(default = "default_min_paragraph")]
    pub min_paragraph_chars: usize,
    /// Candidates checked per LSH bucket for each document.
    #[serde(default = "default_max_candidates")]
    pub max_candidates: usize,
    /// Seed of the hash functions.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Threads computing signatures (default: all cores).
    #[serde(default)]
    pub workers: Option<usize>,
    /// Which document of a duplicate cluster stays: `newest` (default: the
    /// highest revision, latest effective date or amendment, so a revised
    /// AD replaces the original), `first` (input order) or `longest`.
    #[serde(default)]
    pub keep: Keep,
}

/// The part of a document line dedup needs.
#[derive(Deserialize)]
struct Light<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(default, borrow)]
    title: Option<Cow<'a, str>>,
    #[serde(borrow)]
    text: Cow<'a, str>,
    #[serde(default, borrow)]
    source: Option<Cow<'a, str>>,
}

/// Per-document work of dedup, independent of I/O (the benchmark drives it directly).
#[derive(Debug, Clone)]
pub struct Fingerprinter {
    signer: Signer,
    shingle: ShingleType,
    ngram: usize,
    char_ngram: usize,
    seed: u64,
    exact: bool,
    near: bool,
}

/// What the index needs of one document.
#[derive(Debug, Clone, Default)]
pub struct Fingerprint {
    pub exact: Option<[u8; 16]>,
    pub signature: Option<Vec<u32>>,
}

impl Fingerprinter {
    pub fn new(config: &DedupConfig) -> Self {
        Self {
            signer: Signer::new(config.num_perm, config.seed),
            shingle: config.shingle,
            ngram: config.ngram,
            char_ngram: config.char_ngram,
            seed: config.seed,
            exact: config.exact,
            near: config.near,
        }
    }

    pub fn fingerprint(&self, text: &str) -> Fingerprint {
        let kind = match self.shingle {
            ShingleType::Word => ShingleKind::Word,
            ShingleType::Char => ShingleKind::Char,
            ShingleType::Auto => auto_kind(text),
        };
        let mut tokens = Vec::with_capacity(text.len() / 4);
        tokenize(text, kind, self.seed, &mut tokens);
        // Exact means the same tokens: case, punctuation and spacing aside.
        let exact = self.exact.then(|| sequence_hash(&tokens));
        let signature = self.near.then(|| {
            let n = if kind == ShingleKind::Char { self.char_ngram } else { self.ngram };
            let mut out = Vec::with_capacity(tokens.len());
            shingles_of(&tokens, n, &mut out);
            let mut signature = Vec::with_capacity(self.signer.bins());
            self.signer.sign(&out, &mut signature);
            signature
        });
        Fingerprint { exact, signature }
    }
}

/// The exact-duplicate key of a text: its word tokens (lower-cased letters
/// and digits), so case, punctuation and spacing do not matter.
pub fn exact_hash(text: &str) -> [u8; 16] {
    let mut tokens = Vec::new();
    tokenize(text, ShingleKind::Word, 0, &mut tokens);
    sequence_hash(&tokens)
}

fn banding(config: &DedupConfig) -> Banding {
    Banding {
        bands: config.bands,
        rows: config.rows,
        threshold: config.threshold,
        max_candidates: config.max_candidates,
    }
}

/// Builds the index over `texts` in order (single-threaded); the core of
/// the operator, exposed for benchmarks and evaluations.
pub fn find_duplicates<'a>(
    config: &DedupConfig,
    texts: impl Iterator<Item = &'a str>,
) -> (Vec<Verdict>, DuplicateIndex) {
    let fingerprinter = Fingerprinter::new(config);
    let mut index = DuplicateIndex::new(banding(config), config.num_perm);
    for text in texts {
        let fp = fingerprinter.fingerprint(text);
        index.push(fp.exact, fp.signature.as_deref());
    }
    (index.verdicts(), index)
}

/// Removes paragraphs seen verbatim before (after whitespace normalisation).
fn strip_boilerplate(text: &str, seen: &mut HashSet<[u8; 16]>, min_chars: usize) -> (String, usize) {
    let mut kept = Vec::new();
    let mut removed = 0;
    for paragraph in text.split("\n\n") {
        if paragraph.trim().chars().count() >= min_chars && !seen.insert(exact_hash(paragraph)) {
            removed += 1;
            continue;
        }
        kept.push(paragraph);
    }
    (kept.join("\n\n"), removed)
}

/// The `dedup` operator.
#[derive(Debug, Default)]
pub struct Dedup;

impl Operator for Dedup {
    type Config = DedupConfig;

    fn info(&self) -> OperatorInfo {
        OperatorInfo::new(
            "dedup",
            "1",
            "Removes exact and near-duplicate documents (MinHash-LSH with word or CJK character shingles, union-find clusters; each cluster keeps its newest version, its first or its longest document) and optionally repeated boilerplate paragraphs.",
        )
        .input(PortDecl::required("documents", ArtifactKind::Documents, "Documents to deduplicate."))
        .output(PortDecl::required("documents", ArtifactKind::Documents, "The kept documents, in input order."))
        .output(PortDecl::required(
            "duplicates",
            ArtifactKind::Records,
            "One record per removed document: {id, duplicate_of, kind, similarity}.",
        ))
    }

    fn demands(&self, config: &DedupConfig) -> hangar_sdk::Demands {
        hangar_sdk::Demands {
            threads: config.workers.map(|w| (hangar_sdk::field(&["workers"]), w as u64)),
            ..hangar_sdk::Demands::default()
        }
    }

    fn check(&self, c: &DedupConfig) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        if c.num_perm == 0 || c.num_perm > 4096 {
            problems.push(ConfigProblem::at(&["num_perm"], "num_perm must be between 1 and 4096"));
        }
        if c.bands == 0 || c.rows == 0 {
            problems.push(ConfigProblem::at(&["bands"], "bands and rows must be at least 1"));
        } else {
            // Checked: a hostile pair must not wrap around to a small product.
            match c.bands.checked_mul(c.rows) {
                Some(product) if product <= c.num_perm => {}
                Some(product) => problems.push(ConfigProblem::at(
                    &["bands"],
                    format!("bands × rows = {product} exceeds num_perm = {}", c.num_perm),
                )),
                None => problems.push(ConfigProblem::at(
                    &["bands"],
                    format!("bands × rows = {} × {} exceeds num_perm = {}", c.bands, c.rows, c.num_perm),
                )),
            }
        }
        if !(c.threshold > 0.0 && c.threshold <= 1.0) {
            problems.push(ConfigProblem::at(&["threshold"], "threshold must be in (0, 1]"));
        }
        if c.ngram == 0 || c.char_ngram == 0 {
            problems.push(ConfigProblem::at(&["ngram"], "n-gram sizes must be at least 1"));
        }
        if !c.exact && !c.near && !c.paragraphs {
            problems.push(ConfigProblem::at(&[], "exact, near and paragraphs are all off: nothing to do"));
        }
        problems
    }

    async fn run(&self, config: DedupConfig, ctx: TaskContext) -> Result<TaskOutputs, OperatorError> {
        let input = ctx.input("documents")?.clone();
        let first_pass = open_input(&ctx, &input).await?;
        let second_pass = open_input(&ctx, &input).await?;
        let kept = JsonlSink::create(&ctx, "documents.jsonl").await?;
        let duplicates = JsonlSink::create(&ctx, "duplicates.jsonl").await?;
        let task = ctx.clone();
        let (kept, duplicates, stats) = blocking(move || {
            let (mut kept, mut duplicates) = (kept, duplicates);
            let stats =
                deduplicate(&config, &input.uri, first_pass, second_pass, &mut kept, &mut duplicates, |done| {
                    task.progress(Progress { done, unit: "documents indexed".to_owned(), ..Progress::default() });
                    task.check_cancelled()
                })?;
            Ok((kept, duplicates, stats))
        })
        .await?;
        ctx.info(format!(
            "{} documents: {} exact and {} near duplicates removed, {} boilerplate paragraphs removed ({} candidate pairs, {} verified)",
            stats.documents, stats.exact, stats.near, stats.paragraphs, stats.candidate_pairs, stats.verified_pairs
        ));
        let (kept, duplicates) =
            blocking(move || Ok((kept.finish(ArtifactKind::Documents)?, duplicates.finish(ArtifactKind::Records)?)))
                .await?;
        Ok(TaskOutputs::from([("documents".to_owned(), kept), ("duplicates".to_owned(), duplicates)]))
    }
}

/// What a dedup run found.
#[derive(Debug, Clone, Default)]
pub struct DedupStats {
    pub documents: usize,
    pub exact: u64,
    pub near: u64,
    pub paragraphs: usize,
    pub candidate_pairs: u64,
    pub verified_pairs: u64,
}

/// The ids and sources of the documents read so far.
type Seen = Vec<(String, Option<String>)>;

/// What dedup takes of one document line: its id and source, its
/// fingerprint, and its keep-score (which version of a cluster stays).
type Fingerprinted = (String, Option<String>, Fingerprint, [u64; 3]);

/// One document line's fingerprint, the same whether dedup runs as one task
/// or shard by shard.
fn fingerprint_document(
    config: &DedupConfig,
    fingerprinter: &Fingerprinter,
    line: &[u8],
) -> Result<Fingerprinted, String> {
    let doc: Light<'_> = serde_json::from_slice(line).map_err(|e| e.to_string())?;
    let name = format!(
        "{} {} {}",
        doc.source.as_deref().unwrap_or_default(),
        doc.title.as_deref().unwrap_or_default(),
        doc.id
    );
    let score = version::score(config.keep, &name, &doc.text);
    Ok((doc.id.into_owned(), doc.source.map(Cow::into_owned), fingerprinter.fingerprint(&doc.text), score))
}

/// The `duplicates` record of a removed document.
fn duplicate_record(
    (id, source): (&String, &Option<String>),
    (of_id, of_source): (&String, &Option<String>),
    kind: &str,
    similarity: f64,
) -> Map<String, Value> {
    let mut record = Map::new();
    record.insert("id".to_owned(), id.clone().into());
    record.insert("duplicate_of".to_owned(), of_id.clone().into());
    record.insert("kind".to_owned(), kind.into());
    record.insert("similarity".to_owned(), ((similarity * 1e4).round() / 1e4).into());
    if let Some(s) = source {
        record.insert("source".to_owned(), Value::String(s.clone()));
    }
    if let Some(s) = of_source {
        record.insert("duplicate_of_source".to_owned(), Value::String(s.clone()));
    }
    record
}

/// The whole of dedup over a JSONL input read twice: the first pass
/// fingerprints and clusters, the second writes the kept lines (copied as
/// they are) and one record per removed document. `progress` is called
/// between batches and may stop the run by returning an error.
///
/// # Errors
/// A line that is not a document, an I/O failure, or what `progress` returns.
pub fn deduplicate(
    config: &DedupConfig,
    input_name: &str,
    first_pass: impl std::io::BufRead,
    second_pass: impl std::io::BufRead,
    kept: &mut impl LineSink,
    duplicates: &mut impl LineSink,
    mut progress: impl FnMut(u64) -> Result<(), OperatorError>,
) -> Result<DedupStats, OperatorError> {
    // More hashing threads than cores only costs memory.
    let cores = std::thread::available_parallelism().map(usize::from).unwrap_or(2);
    let workers = config.workers.unwrap_or(cores).min(cores);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(workers.max(1))
        .build()
        .map_err(|e| OperatorError::internal(format!("cannot start threads: {e}")))?;
    let fingerprinter = Fingerprinter::new(config);
    let mut index = DuplicateIndex::new(banding(config), config.num_perm);
    let mut ids: Seen = Vec::new();
    let mut scores: Vec<[u64; 3]> = Vec::new();
    let mut batch: Vec<Vec<u8>> = Vec::with_capacity(512);
    let mut add_batch = |batch: &mut Vec<Vec<u8>>,
                         index: &mut DuplicateIndex,
                         ids: &mut Seen,
                         scores: &mut Vec<[u64; 3]>|
     -> Result<(), OperatorError> {
        let fingerprint_line = |line: &Vec<u8>| fingerprint_document(config, &fingerprinter, line);
        let parsed: Vec<_> = if workers > 1 {
            pool.install(|| batch.par_iter().map(fingerprint_line).collect())
        } else {
            batch.iter().map(fingerprint_line).collect()
        };
        for item in parsed {
            let (id, source, fp, score) = item.map_err(|e| {
                OperatorError::user(format!("{input_name} line {} is not a document: {e}", ids.len() + 1))
            })?;
            index.push(fp.exact, fp.signature.as_deref());
            ids.push((id, source));
            scores.push(score);
        }
        batch.clear();
        progress(ids.len() as u64)
    };
    for_each_line(first_pass, |line, _| {
        batch.push(line.to_vec());
        if batch.len() >= 512 {
            add_batch(&mut batch, &mut index, &mut ids, &mut scores)?;
        }
        Ok(())
    })?;
    add_batch(&mut batch, &mut index, &mut ids, &mut scores)?;
    let verdicts = index.verdicts_keeping(&scores);

    let mut stats = DedupStats {
        documents: ids.len(),
        candidate_pairs: index.candidate_pairs,
        verified_pairs: index.verified_pairs,
        ..DedupStats::default()
    };
    let mut seen_paragraphs: HashSet<[u8; 16]> = HashSet::new();
    let mut position = 0usize;
    for_each_line(second_pass, |line, number| {
        let (Some(verdict), Some((id, source))) = (verdicts.get(position).copied(), ids.get(position)) else {
            return Err(OperatorError::external(format!("{input_name} changed while it was read (line {number})")));
        };
        position += 1;
        match verdict {
            Verdict::Unique if config.paragraphs => {
                let mut doc: Document = serde_json::from_slice(line)
                    .map_err(|e| OperatorError::user(format!("{input_name} line {number} is not a document: {e}")))?;
                let (text, removed) = strip_boilerplate(&doc.text, &mut seen_paragraphs, config.min_paragraph_chars);
                stats.paragraphs += removed;
                if removed > 0 {
                    doc.metadata.insert("boilerplate_paragraphs_removed".to_owned(), removed.into());
                    doc.text = text;
                }
                kept.push_record(&doc)
            }
            Verdict::Unique => kept.push_raw(line),
            Verdict::Exact { of } | Verdict::Near { of, .. } => {
                let (of_id, of_source) = &ids[of as usize];
                let (kind, similarity) = match verdict {
                    Verdict::Near { similarity, .. } => {
                        stats.near += 1;
                        ("near", similarity)
                    }
                    _ => {
                        stats.exact += 1;
                        ("exact", 1.0)
                    }
                };
                duplicates.push_record(&duplicate_record((id, source), (of_id, of_source), kind, similarity))
            }
        }
    })?;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> DedupConfig {
        serde_json::from_value(serde_json::json!({"documents": "x"})).expect("defaults")
    }

    #[test]
    fn exact_hash_ignores_case_spacing_and_punctuation() {
        assert_eq!(exact_hash("The  Airplane,\nmust."), exact_hash("the airplane must"));
        assert_ne!(exact_hash("the airplane must"), exact_hash("the airplane may"));
    }

    #[test]
    fn finds_exact_and_near_copies_but_not_unrelated_texts() {
        let base: String = (0..300).map(|i| format!("word{} ", (i * 37) % 997)).collect();
        let mut near: Vec<String> = base.split_whitespace().map(str::to_owned).collect();
        near[150] = "changed".into();
        let near = near.join(" ");
        let other: String = (0..300).map(|i| format!("other{} ", (i * 53) % 991)).collect();
        let upper = base.to_uppercase();
        let texts = [base.as_str(), other.as_str(), upper.as_str(), near.as_str()];
        let (verdicts, _) = find_duplicates(&config(), texts.into_iter());
        assert_eq!(verdicts[0], Verdict::Unique);
        assert_eq!(verdicts[1], Verdict::Unique);
        assert_eq!(verdicts[2], Verdict::Exact { of: 0 });
        assert!(matches!(verdicts[3], Verdict::Near { of: 0, similarity } if similarity > 0.9), "{:?}", verdicts[3]);
    }

    #[test]
    fn boilerplate_paragraphs_go_after_their_first_use() {
        let mut seen = HashSet::new();
        let notice = "This document is issued by the authority and reproduction is authorised with acknowledgement.";
        let (first, removed) = strip_boilerplate(&format!("Intro one.\n\n{notice}"), &mut seen, 40);
        assert_eq!((first.as_str(), removed), (format!("Intro one.\n\n{notice}").as_str(), 0));
        let (second, removed) = strip_boilerplate(&format!("Intro two.\n\n{notice}"), &mut seen, 40);
        assert_eq!((second.as_str(), removed), ("Intro two.", 1));
    }

    #[test]
    fn banding_must_fit_the_signature() {
        let mut c = config();
        c.bands = 40;
        c.rows = 4;
        c.num_perm = 256;
        assert!(Dedup.check(&c).is_empty());
        c.rows = 8;
        c.bands = 20;
        assert!(Dedup.check(&c).is_empty());
        c.bands = 40;
        let problems = Dedup.check(&c);
        assert_eq!(problems[0].message, "bands × rows = 320 exceeds num_perm = 256");
        // A product that wraps around must not pass for a small one.
        c.bands = 1 << 32;
        c.rows = 1 << 32;
        assert_eq!(Dedup.check(&c).len(), 1, "{:?}", Dedup.check(&c));
    }
}
