//! `tokenizer`: the byte-level BPE tokenizer `dataset` would train, trained
//! once over every shard so that a `dataset` mapped over the shards
//! (`part: true`) encodes all of them with one vocabulary.

use hangar_sdk::{
    ArtifactKind, ConfigProblem, Operator, OperatorError, OperatorInfo, PortDecl, Progress, TaskContext, TaskOutputs,
};
use rayon::prelude::*;
use schemars::JsonSchema;
use serde::Deserialize;

use super::{default_min_frequency, default_vocab, sections, training_text, vocab};
use crate::document::Document;
use crate::io::{blocking, for_each_line, open_input};

/// Config of `tokenizer`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenizerTaskConfig {
    /// The documents to learn from: `${{ tasks.ID.outputs.documents }}`,
    /// one artifact or the collection of a mapped task's shards.
    pub documents: String,
    /// Vocabulary size, special tokens included.
    #[serde(default = "default_vocab")]
    pub vocab_size: usize,
    /// Fewest occurrences of a pair for a BPE merge.
    #[serde(default = "default_min_frequency")]
    pub min_frequency: u64,
    /// Learn from about this many bytes of section text, taken evenly
    /// (every k-th section) across the documents; 0 learns from every
    /// section, which gives exactly the tokenizer a one-task `dataset` trains.
    #[serde(default)]
    pub sample_bytes: u64,
}

/// The `tokenizer` operator.
#[derive(Debug, Default)]
pub struct TrainTokenizer;

/// Documents read before their sections are cut on every core.
const DOCUMENT_BATCH: usize = 512;

impl Operator for TrainTokenizer {
    type Config = TokenizerTaskConfig;

    fn info(&self) -> OperatorInfo {
        OperatorInfo::new(
            "tokenizer",
            "1",
            "Trains the byte-level BPE tokenizer of `dataset` on the sections of all the documents (or an even sample of them), for a `dataset` mapped over shards with `part: true`.",
        )
        .input(PortDecl::required("documents", ArtifactKind::Documents, "Documents, or every shard of them."))
        .output(super::tokenizer_port())
    }

    fn check(&self, c: &TokenizerTaskConfig) -> Vec<ConfigProblem> {
        super::vocab_size_problem(c.vocab_size).into_iter().collect()
    }

    async fn run(&self, config: TokenizerTaskConfig, ctx: TaskContext) -> Result<TaskOutputs, OperatorError> {
        let input = ctx.input("documents")?.clone();
        let total_bytes: u64 = hangar_sdk::artifact_files(ctx.artifacts(), &input).await?.iter().map(|f| f.size).sum();
        let reader = open_input(&ctx, &input).await?;
        // Document bytes stand in for section text bytes: close enough to
        // pick the stride of an even sample.
        let every = match config.sample_bytes {
            0 => 1,
            limit => total_bytes.div_ceil(limit).max(1) as usize,
        };
        let task = ctx.clone();
        let (tokenizer_json, tokenizer_config, learned, sections) = blocking(move || {
            let mut texts = Vec::new();
            let (mut batch, mut section_index, mut sections_seen) = (Vec::new(), 0usize, 0usize);
            let mut take = |batch: &mut Vec<Vec<u8>>, texts: &mut Vec<String>| -> Result<(), OperatorError> {
                let cut = batch
                    .par_iter()
                    .map(|line| {
                        let doc: Document = serde_json::from_slice(line)?;
                        Ok(sections::split(&doc.title, &doc.id, &doc.text).iter().map(training_text).collect())
                    })
                    .collect::<Result<Vec<Vec<String>>, serde_json::Error>>()
                    .map_err(|e| {
                        OperatorError::user(format!("{} holds a line that is not a document: {e}", input.uri))
                    })?;
                for text in cut.into_iter().flatten() {
                    if section_index % every == 0 {
                        texts.push(text);
                    }
                    section_index += 1;
                }
                sections_seen = section_index;
                batch.clear();
                task.check_cancelled()
            };
            for_each_line(reader, |line, _| {
                batch.push(line.to_vec());
                if batch.len() == DOCUMENT_BATCH { take(&mut batch, &mut texts) } else { Ok(()) }
            })?;
            take(&mut batch, &mut texts)?;
            if texts.is_empty() {
                return Err(OperatorError::user("the documents hold no text to train a tokenizer on"));
            }
            task.progress(Progress::of(1, 2, "stages").message("sections read"));
            let learned = texts.len();
            let tokenizer = vocab::train(texts.into_iter(), config.vocab_size, config.min_frequency)
                .map_err(|e| OperatorError::user(format!("tokenizer training failed: {e}")))?;
            let json = vocab::to_json(&tokenizer).map_err(OperatorError::internal)?;
            let tokenizer_config = serde_json::to_vec_pretty(&vocab::TokenizerConfig::for_tokenizer(&tokenizer))
                .map_err(|e| OperatorError::internal(e.to_string()))?;
            task.progress(Progress::of(2, 2, "stages").message("trained"));
            Ok((json, tokenizer_config, learned, sections_seen))
        })
        .await?;
        ctx.info(format!("tokenizer learned from {learned} of {sections} sections"));
        let mut out = ctx.output_dir("tokenizer", ArtifactKind::Tokenizer);
        out.put("tokenizer.json", tokenizer_json.as_bytes()).await?;
        out.put("tokenizer_config.json", &tokenizer_config).await?;
        Ok(TaskOutputs::from([("tokenizer".to_owned(), out.finish().await?)]))
    }
}
