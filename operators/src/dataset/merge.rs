//! `dataset_merge`: the parts of a dataset built shard by shard (a `dataset`
//! task mapped over shards with `part: true`) joined into one dataset, file
//! for file what one `dataset` task over every shard builds: samples and
//! token shards joined in shard order, SFT questions checked across all the
//! shards (ambiguous and repeated ones dropped, as the one task does).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use hangar_sdk::{
    ArtifactKind, ArtifactRef, Operator, OperatorError, OperatorInfo, PortDecl, Progress, TaskContext, TaskOutputs,
};
use schemars::JsonSchema;
use serde::Deserialize;

use super::sft::{LeakFilter, is_reading, question_and_answer};
use super::{PART_CHATS, SPLITS, ShardWriter, Totals, finish_shards, io_error, split_index, stats_json, write_json};
use crate::io::blocking;

/// Config of `dataset_merge`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatasetMergeConfig {
    /// The parts, in shard order: `${{ tasks.ID.outputs.dataset }}` of a
    /// `dataset` task mapped over shards with `part: true`.
    pub parts: String,
    /// The parts' tokenizers: `${{ tasks.ID.outputs.tokenizer }}` of the
    /// same task. They must all be one tokenizer; it becomes the dataset's.
    pub tokenizers: String,
}

/// The `dataset_merge` operator.
#[derive(Debug, Default)]
pub struct DatasetMerge;

/// What a part's `stats.json` says that the merge needs.
#[derive(Debug, Deserialize)]
struct PartStats {
    #[serde(default)]
    part: bool,
    documents: u64,
    sections: u64,
    pretrain: SplitCounts,
    vocab_size: usize,
    max_tokens: usize,
    overlap: usize,
    split_salt: String,
    /// `blake3:…` of the tokenizer.json the part was built with.
    #[serde(default)]
    tokenizer: Option<String>,
}

#[derive(Debug, Deserialize)]
struct SplitCounts {
    train: u64,
    validation: u64,
    test: u64,
}

/// What a part's `shards/meta.json` says.
#[derive(Debug, Deserialize)]
struct PartMeta {
    dtype: String,
    eos_id: u32,
    splits: BTreeMap<String, PartSplit>,
}

#[derive(Debug, Deserialize)]
struct PartSplit {
    files: Vec<String>,
}

/// One part's files: path inside the part → local path.
type PartFiles = BTreeMap<String, PathBuf>;

/// The files of a tokenizer artifact, `tokenizer.json` first.
const TOKENIZER_FILES: [&str; 2] = ["tokenizer.json", "tokenizer_config.json"];

/// Chats read between two looks at cancellation.
const CHATS_PER_CHECK: usize = 4096;

impl Operator for DatasetMerge {
    type Config = DatasetMergeConfig;

    fn info(&self) -> OperatorInfo {
        OperatorInfo::new(
            "dataset_merge",
            "1",
            "Joins the parts of a dataset built shard by shard (`dataset` mapped over shards with `part: true`) into one dataset, the same as one `dataset` task over every shard: samples and token shards in shard order, SFT questions checked across all shards.",
        )
        .input(PortDecl::required("parts", ArtifactKind::Dataset, "The parts, from the mapped dataset task."))
        .input(PortDecl::required("tokenizers", ArtifactKind::Tokenizer, "The parts' tokenizers, all the same one."))
        .output(super::dataset_port())
        .output(super::tokenizer_port())
    }

    async fn run(&self, _config: DatasetMergeConfig, ctx: TaskContext) -> Result<TaskOutputs, OperatorError> {
        let scratch = ctx.scratch_dir()?.to_path_buf();
        let parts = parts_of(&ctx, "parts", &scratch).await?;
        let tokenizers = grouped(&ctx, "tokenizers").await?;
        let tokenizer = one_tokenizer(&tokenizers, parts.len())?;
        let tokenizer_digest = tokenizer.get(TOKENIZER_FILES[0]).map(|f| f.digest.clone()).unwrap_or_default();
        let mut tokenizer_out = ctx.output_dir("tokenizer", ArtifactKind::Tokenizer);
        for name in TOKENIZER_FILES {
            let file = tokenizer.get(name).ok_or_else(|| {
                OperatorError::user(format!(
                    "the parts' tokenizer has no {name}; give `tokenizers` of the mapped dataset task"
                ))
            })?;
            let local = ctx.artifacts().fetch_local(&file.key, &scratch.join("tokenizer")).await?;
            tokenizer_out.put_file(name, &local).await?;
        }
        let out = scratch.join("out");
        let build_dir = out.clone();
        let task = ctx.clone();
        let stats = blocking(move || merge(&parts, &tokenizer_digest, &build_dir, &task)).await?;
        ctx.info(format!(
            "{} parts: {} sections from {} documents; pretraining samples {}; SFT samples {} ({} dropped as ambiguous)",
            stats["parts"],
            stats["sections"],
            stats["documents"],
            stats["pretrain"],
            stats["sft"],
            stats["sft_dropped_ambiguous"]
        ));
        let mut dataset = ctx.output_dir("dataset", ArtifactKind::Dataset);
        for entry in super::walk(&out).map_err(io_error("cannot list the dataset files"))? {
            let relative = entry.strip_prefix(&out).unwrap_or(&entry).to_string_lossy().replace('\\', "/");
            dataset.put_file(&relative, &entry).await?;
        }
        Ok(TaskOutputs::from([
            ("dataset".to_owned(), dataset.finish().await?),
            ("tokenizer".to_owned(), tokenizer_out.finish().await?),
        ]))
    }
}

/// The files of a collection, grouped by instance (`00003/stats.json` is
/// file `stats.json` of part 3), in order.
async fn grouped(ctx: &TaskContext, port: &str) -> Result<Vec<BTreeMap<String, ArtifactRef>>, OperatorError> {
    let input = ctx.input(port)?.clone();
    let not_parts = || {
        OperatorError::user(format!(
            "`{port}` is not the output of a mapped task: give `${{{{ tasks.ID.outputs.… }}}}` of a `dataset` task with `map:` and `part: true`"
        ))
    };
    if !input.dir {
        return Err(not_parts());
    }
    let mut groups: BTreeMap<String, BTreeMap<String, ArtifactRef>> = BTreeMap::new();
    for (path, file) in hangar_sdk::artifact_entries(ctx.artifacts(), &input).await? {
        let Some((instance, name)) = path.split_once('/') else { return Err(not_parts()) };
        if instance.is_empty() || !instance.bytes().all(|b| b.is_ascii_digit()) {
            return Err(not_parts());
        }
        groups.entry(instance.to_owned()).or_default().insert(name.to_owned(), file);
    }
    Ok(groups.into_values().collect())
}

async fn parts_of(ctx: &TaskContext, port: &str, scratch: &Path) -> Result<Vec<PartFiles>, OperatorError> {
    let mut parts = Vec::new();
    for (index, group) in grouped(ctx, port).await?.into_iter().enumerate() {
        let mut files = PartFiles::new();
        for (name, file) in group {
            let local = ctx.artifacts().fetch_local(&file.key, &scratch.join(format!("parts/{index}"))).await?;
            files.insert(name, local);
        }
        parts.push(files);
    }
    if parts.is_empty() {
        return Err(OperatorError::user("there are no parts to merge: the mapped dataset task had no shards"));
    }
    Ok(parts)
}

/// The tokenizer every part was built with, by the digests of its files.
fn one_tokenizer(
    tokenizers: &[BTreeMap<String, ArtifactRef>],
    parts: usize,
) -> Result<BTreeMap<String, ArtifactRef>, OperatorError> {
    if tokenizers.len() != parts {
        return Err(OperatorError::user(format!(
            "{parts} parts but {} tokenizers: give `parts` and `tokenizers` of the same mapped dataset task",
            tokenizers.len()
        )));
    }
    let first = tokenizers.first().cloned().unwrap_or_default();
    let digest = |files: &BTreeMap<String, ArtifactRef>| files.get("tokenizer.json").map(|f| f.digest.clone());
    for (index, files) in tokenizers.iter().enumerate() {
        if digest(files).is_none() || digest(files) != digest(&first) {
            return Err(OperatorError::user(format!(
                "part {index} was built with another tokenizer than part 0; give every instance the same `tokenizer:` (a `tokenizer` task's output) or `base:`"
            )));
        }
    }
    Ok(first)
}

/// A file every part has.
fn part_file<'a>(part: &'a PartFiles, index: usize, name: &str) -> Result<&'a PathBuf, OperatorError> {
    part.get(name).ok_or_else(|| {
        OperatorError::user(format!("part {index} has no {name}; build the parts with `dataset` and `part: true`"))
    })
}

fn read_failed(index: usize, name: &str) -> impl Fn(std::io::Error) -> OperatorError + '_ {
    move |e| OperatorError::external(format!("cannot read {name} of part {index}: {e}"))
}

fn read_part_json<T: serde::de::DeserializeOwned>(
    part: &PartFiles,
    index: usize,
    name: &str,
) -> Result<T, OperatorError> {
    let bytes = std::fs::read(part_file(part, index, name)?).map_err(read_failed(index, name))?;
    serde_json::from_slice(&bytes).map_err(|e| OperatorError::user(format!("{name} of part {index} is not valid: {e}")))
}

fn merge(
    parts: &[PartFiles],
    tokenizer_digest: &str,
    out: &Path,
    ctx: &TaskContext,
) -> Result<serde_json::Value, OperatorError> {
    for dir in ["pretrain", "sft", "shards"] {
        std::fs::create_dir_all(out.join(dir)).map_err(io_error("cannot create the output folders"))?;
    }
    let stats: Vec<PartStats> =
        parts.iter().enumerate().map(|(i, p)| read_part_json(p, i, "stats.json")).collect::<Result<_, _>>()?;
    let metas: Vec<PartMeta> =
        parts.iter().enumerate().map(|(i, p)| read_part_json(p, i, "shards/meta.json")).collect::<Result<_, _>>()?;
    let (first, first_meta) = (&stats[0], &metas[0]);
    for (index, (s, m)) in stats.iter().zip(&metas).enumerate() {
        if !s.part {
            return Err(OperatorError::user(format!(
                "part {index} is a whole dataset, not a part: build the parts with `part: true`"
            )));
        }
        if s.tokenizer.as_deref() != Some(tokenizer_digest) {
            return Err(OperatorError::user(format!(
                "part {index} was not built with the tokenizer in `tokenizers`; give `parts` and `tokenizers` of the same mapped dataset task"
            )));
        }
        let differing: Vec<&str> = [
            ("vocab_size", s.vocab_size == first.vocab_size),
            ("max_tokens", s.max_tokens == first.max_tokens),
            ("overlap", s.overlap == first.overlap),
            ("split_salt", s.split_salt == first.split_salt),
            ("dtype", m.dtype == first_meta.dtype),
            ("eos_id", m.eos_id == first_meta.eos_id),
        ]
        .into_iter()
        .filter_map(|(name, same)| (!same).then_some(name))
        .collect();
        if !differing.is_empty() {
            return Err(OperatorError::user(format!(
                "part {index} was built with another {} than part 0; map one dataset task over every shard",
                differing.join(", ")
            )));
        }
    }
    let wide = match first_meta.dtype.as_str() {
        "uint16" => false,
        "uint32" => true,
        other => {
            return Err(OperatorError::user(format!(
                "part 0 has tokens of unknown type {other:?} in shards/meta.json"
            )));
        }
    };
    let mut totals = Totals::default();
    for s in &stats {
        totals.documents += s.documents;
        totals.sections += s.sections;
        for (i, n) in [s.pretrain.train, s.pretrain.validation, s.pretrain.test].into_iter().enumerate() {
            totals.pretrain[i] += n;
        }
    }
    if totals.sections == 0 {
        return Err(OperatorError::user("the documents hold no text to build a dataset from"));
    }

    // Pretraining samples and token shards: each split's, part after part.
    let mut shards = Vec::new();
    for split in SPLITS {
        let name = format!("pretrain/{split}.jsonl");
        let mut joined = std::fs::File::create(out.join(&name)).map_err(io_error("cannot create output files"))?;
        let mut writer = ShardWriter::new(out, split, wide);
        for (index, (part, meta)) in parts.iter().zip(&metas).enumerate() {
            let mut file = std::fs::File::open(part_file(part, index, &name)?).map_err(read_failed(index, &name))?;
            std::io::copy(&mut file, &mut joined).map_err(io_error("cannot write samples"))?;
            for shard in meta.splits.get(split).map(|s| s.files.as_slice()).unwrap_or_default() {
                let bytes = std::fs::read(part_file(part, index, shard)?).map_err(read_failed(index, shard))?;
                writer.push_encoded(&bytes).map_err(|e| match e.kind() {
                    std::io::ErrorKind::InvalidData => {
                        OperatorError::user(format!("{shard} of part {index} is not a token shard: {e}"))
                    }
                    _ => OperatorError::external(format!("cannot write shards: {e}")),
                })?;
            }
            ctx.check_cancelled()?;
        }
        shards.push(writer);
    }
    totals.tokens = finish_shards(out, &mut shards, wide, first_meta.eos_id, first.vocab_size)?;
    ctx.progress(Progress::of(1, 3, "stages").message("samples and shards joined"));

    // SFT chats: every question seen across all parts, then kept or dropped.
    let mut filter = LeakFilter::default();
    for_each_chat(parts, ctx, |chat, _| {
        if !is_reading(&chat.kind) {
            let (question, answer) = chat.question_and_answer();
            filter.observe_chat(question, answer);
        }
        Ok(())
    })?;
    ctx.progress(Progress::of(2, 3, "stages").message("SFT questions checked"));
    let mut chats = Vec::new();
    for split in SPLITS {
        let file = std::fs::File::create(out.join(format!("sft/{split}.jsonl")))
            .map_err(io_error("cannot create output files"))?;
        chats.push(std::io::BufWriter::new(file));
    }
    // A part wrote each chat as the one task would: kept lines are copied as they are.
    for_each_chat(parts, ctx, |chat, line| {
        if is_reading(&chat.kind) || filter.keep_chat(chat.question_and_answer().0) {
            let s = split_index(&chat.split);
            chats[s].write_all(line.as_bytes()).map_err(io_error("cannot write samples"))?;
            chats[s].write_all(b"\n").map_err(io_error("cannot write samples"))?;
            totals.sft[s] += 1;
        }
        Ok(())
    })?;
    for writer in &mut chats {
        writer.flush().map_err(io_error("cannot write samples"))?;
    }
    totals.dropped = filter.dropped() as u64;
    if totals.dropped > 0 {
        ctx.info(format!(
            "dropped {} SFT questions that are ambiguous (the same text in several places with different answers) or ask about a placeholder title",
            totals.dropped
        ));
    }
    let stats = stats_json(&totals, first.vocab_size, first.max_tokens, first.overlap, &first.split_salt);
    write_json(&out.join("stats.json"), &stats, "stats.json")?;
    ctx.progress(Progress::of(3, 3, "stages").message("done"));
    let mut described = stats;
    described["parts"] = serde_json::json!(parts.len());
    Ok(described)
}

/// What the merge reads of a chat: its messages and split, borrowed from
/// the line where no escape forces a copy.
#[derive(Debug, Deserialize)]
struct ChatLine<'a> {
    #[serde(borrow)]
    messages: Vec<MessageLine<'a>>,
    #[serde(borrow)]
    split: Cow<'a, str>,
    #[serde(borrow, default)]
    kind: Cow<'a, str>,
}

#[derive(Debug, Deserialize)]
struct MessageLine<'a> {
    #[serde(borrow)]
    role: Cow<'a, str>,
    #[serde(borrow)]
    content: Cow<'a, str>,
}

impl ChatLine<'_> {
    fn question_and_answer(&self) -> (Option<&str>, Option<&str>) {
        question_and_answer(self.messages.iter().map(|m| (m.role.as_ref(), m.content.as_ref())))
    }
}

/// Every part's unchecked chats, in part order, with their lines.
fn for_each_chat(
    parts: &[PartFiles],
    ctx: &TaskContext,
    mut each: impl FnMut(&ChatLine<'_>, &str) -> Result<(), OperatorError>,
) -> Result<(), OperatorError> {
    for (index, part) in parts.iter().enumerate() {
        let file = std::fs::File::open(part_file(part, index, PART_CHATS)?).map_err(read_failed(index, PART_CHATS))?;
        for (number, line) in std::io::BufReader::new(file).lines().enumerate() {
            if number % CHATS_PER_CHECK == 0 {
                ctx.check_cancelled()?;
            }
            let line = line.map_err(|e| match e.kind() {
                std::io::ErrorKind::InvalidData => OperatorError::user(format!(
                    "line {} of {PART_CHATS} in part {index} is not UTF-8 text: {e}",
                    number + 1
                )),
                _ => read_failed(index, PART_CHATS)(e),
            })?;
            let chat: ChatLine<'_> = serde_json::from_str(&line).map_err(|e| {
                OperatorError::user(format!("line {} of {PART_CHATS} in part {index} is not a chat: {e}", number + 1))
            })?;
            each(&chat, &line)?;
        }
    }
    Ok(())
}
