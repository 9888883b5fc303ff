//! dedup spread over workers, the way datatrove and NeMo Curator do it, in
//! three operators:
//!
//! 1. `dedup_signatures`, mapped over the shards: each shard's MinHash
//!    signatures, exact hashes and keep-scores, in parallel;
//! 2. `dedup_clusters`, once: the signatures of every shard in shard order,
//!    banded into buckets, candidate pairs verified, one union-find; out come
//!    the duplicate records and, for each shard, the positions to remove;
//! 3. `dedup_apply`, mapped over the removal lists: each shard without its
//!    duplicates, in parallel.
//!
//! The index sees the documents in the order the one-task `dedup` reads
//! them, so the kept documents and the duplicate records are the same, byte
//! for byte (a test checks it). Boilerplate paragraph removal, which follows
//! every document in order, stays with the one-task `dedup`.

use std::collections::HashSet;
use std::io::{BufRead, Read};

use hangar_sdk::{
    ArtifactKind, ConfigProblem, Operator, OperatorError, OperatorInfo, PortDecl, Progress, TaskContext, TaskOutputs,
};
use rayon::prelude::*;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::cluster::{DuplicateIndex, Verdict};
use super::{Dedup, DedupConfig, Fingerprinter, banding, duplicate_record, fingerprint_document};
use crate::io::{JsonlSink, LineSink, blocking, for_each_line, open_input};

/// First line of a signatures file: the settings it was made with.
const MAGIC: &str = "hangar-dedup-signatures 1";

/// `dedup_signatures`: one shard's fingerprints.
#[derive(Debug, Default)]
pub struct DedupSignatures;

impl Operator for DedupSignatures {
    type Config = DedupConfig;

    fn info(&self) -> OperatorInfo {
        OperatorInfo::new(
            "dedup_signatures",
            "1",
            "First step of dedup spread over workers: the MinHash signatures, exact hashes and keep-scores of one shard of documents (map it over the shards), for dedup_clusters.",
        )
        .input(PortDecl::required("documents", ArtifactKind::Documents, "One shard of documents: `${{ item }}`."))
        .output(PortDecl::required("signatures", ArtifactKind::File, "The shard's fingerprints, with the settings."))
    }

    fn check(&self, config: &DedupConfig) -> Vec<ConfigProblem> {
        let mut problems = Dedup.check(config);
        if config.paragraphs {
            problems.push(ConfigProblem::at(
                &["paragraphs"],
                "boilerplate paragraphs are removed in document order by the one-task `dedup`; use it, or leave paragraphs off",
            ));
        }
        problems
    }

    async fn run(&self, config: DedupConfig, ctx: TaskContext) -> Result<TaskOutputs, OperatorError> {
        let input = ctx.input("documents")?.clone();
        let reader = open_input(&ctx, &input).await?;
        let mut writer = ctx.create_output("signatures.bin").await?;
        let settings = settings_of(&config)?;
        let task = ctx.clone();
        let bytes = blocking(move || {
            let fingerprinter = Fingerprinter::new(&config);
            let mut lines = Vec::new();
            for_each_line(reader, |line, _| {
                lines.push(line.to_vec());
                Ok(())
            })?;
            task.check_cancelled()?;
            let fingerprints: Vec<_> =
                lines.par_iter().map(|l| fingerprint_document(&config, &fingerprinter, l)).collect();
            let mut out = format!("{MAGIC}\n{settings}\n").into_bytes();
            for (number, fingerprint) in fingerprints.into_iter().enumerate() {
                let (id, source, fp, score) = fingerprint.map_err(|e| {
                    OperatorError::user(format!("{} line {} is not a document: {e}", input.uri, number + 1))
                })?;
                encode(&mut out, &id, source.as_deref(), fp.exact, fp.signature.as_deref(), score);
            }
            task.progress(Progress::of(lines.len() as u64, lines.len() as u64, "documents"));
            Ok(out)
        })
        .await?;
        writer.write(&bytes).await?;
        let artifact = writer.finish(ArtifactKind::File).await?;
        Ok(TaskOutputs::from([("signatures".to_owned(), artifact)]))
    }
}

/// Config of `dedup_clusters`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DedupClustersConfig {
    /// The signatures of every shard, in shard order: `${{ tasks.ID.outputs.signatures }}` of a mapped `dedup_signatures`.
    pub signatures: String,
}

/// `dedup_clusters`: one union-find over every shard's candidates.
#[derive(Debug, Default)]
pub struct DedupClusters;

impl Operator for DedupClusters {
    type Config = DedupClustersConfig;

    fn info(&self) -> OperatorInfo {
        OperatorInfo::new(
            "dedup_clusters",
            "1",
            "Second step of dedup spread over workers: bands every shard's signatures into buckets, verifies the candidate pairs, clusters them with one union-find (each cluster keeps its newest, first or longest document) and writes, per shard, the documents to remove.",
        )
        .input(PortDecl::required("signatures", ArtifactKind::File, "The signatures of every shard."))
        .output(PortDecl::required(
            "removals",
            ArtifactKind::File,
            "One list per shard of the positions to remove, in shard order: map dedup_apply over it.",
        ))
        .output(PortDecl::required(
            "duplicates",
            ArtifactKind::Records,
            "One record per removed document: {id, duplicate_of, kind, similarity}.",
        ))
    }

    async fn run(&self, _config: DedupClustersConfig, ctx: TaskContext) -> Result<TaskOutputs, OperatorError> {
        let input = ctx.input("signatures")?.clone();
        let shards = hangar_sdk::artifact_files(ctx.artifacts(), &input).await?;
        let scratch = ctx.scratch_dir()?.to_path_buf();
        let mut paths = Vec::with_capacity(shards.len());
        for shard in &shards {
            paths.push(ctx.artifacts().fetch_local(&shard.key, &scratch).await?);
        }
        let mut duplicates = JsonlSink::create(&ctx, "duplicates.jsonl").await?;
        let task = ctx.clone();
        let (removals, duplicates, found) = blocking(move || {
            let mut settings: Option<String> = None;
            let mut index: Option<DuplicateIndex> = None;
            let mut documents: Vec<(String, Option<String>)> = Vec::new();
            let mut scores = Vec::new();
            let mut shard_sizes = Vec::with_capacity(paths.len());
            for (shard, path) in paths.iter().enumerate() {
                task.check_cancelled()?;
                let mut reader = std::io::BufReader::new(std::fs::File::open(path).map_err(|e| {
                    OperatorError::external(format!("cannot open the signatures of shard {shard}: {e}"))
                })?);
                let header = read_header(&mut reader, shard)?;
                match &settings {
                    None => {
                        let config: DedupConfig = serde_json::from_str(&header).map_err(|e| {
                            OperatorError::user(format!("the signatures of shard {shard} have unreadable settings: {e}"))
                        })?;
                        index = Some(DuplicateIndex::new(banding(&config), config.num_perm));
                        settings = Some(header);
                    }
                    Some(first) if *first == header => {}
                    Some(_) => {
                        return Err(OperatorError::user(format!(
                            "shard {shard} was signed with other settings than shard 0; sign every shard with the same dedup settings"
                        )));
                    }
                }
                let index = index.as_mut().ok_or_else(|| OperatorError::internal("no index"))?;
                let before = documents.len();
                while let Some((id, source, exact, signature, score)) = decode(&mut reader, shard)? {
                    index.push(exact, signature.as_deref());
                    documents.push((id, source));
                    scores.push(score);
                }
                shard_sizes.push(documents.len() - before);
                task.progress(Progress::of(shard as u64 + 1, paths.len() as u64, "shards"));
            }
            let verdicts = index.as_mut().map(|i| i.verdicts_keeping(&scores)).unwrap_or_default();
            let mut removals: Vec<Vec<usize>> = vec![Vec::new(); shard_sizes.len()];
            let (mut shard, mut start, mut found) = (0usize, 0usize, [0u64; 2]);
            for (position, verdict) in verdicts.iter().enumerate() {
                while shard < shard_sizes.len() && position >= start + shard_sizes[shard] {
                    start += shard_sizes[shard];
                    shard += 1;
                }
                let (of, kind, similarity) = match *verdict {
                    Verdict::Unique => continue,
                    Verdict::Exact { of } => (of, "exact", 1.0),
                    Verdict::Near { of, similarity } => (of, "near", similarity),
                };
                found[usize::from(kind == "near")] += 1;
                removals[shard].push(position - start);
                let (id, source) = &documents[position];
                let (of_id, of_source) = &documents[of as usize];
                duplicates.push_record(&duplicate_record((id, source), (of_id, of_source), kind, similarity))?;
            }
            let lists: Vec<(usize, usize, Vec<usize>)> =
                removals.into_iter().enumerate().map(|(i, removed)| (i, shard_sizes[i], removed)).collect();
            Ok((lists, duplicates, found))
        })
        .await?;
        let mut dir = ctx.output_dir("removals", ArtifactKind::File);
        for (shard, size, removed) in &removals {
            let mut text = serde_json::to_string(&serde_json::json!({"shard": shard, "documents": size}))
                .map_err(|e| OperatorError::internal(e.to_string()))?;
            text.push('\n');
            for position in removed {
                text.push_str(&position.to_string());
                text.push('\n');
            }
            dir.put(&format!("part-{shard:05}.jsonl"), text.as_bytes()).await?;
        }
        let mut removals_artifact = dir.finish().await?;
        removals_artifact.values.insert("shards".to_owned(), Value::from(removals.len()));
        ctx.info(format!("{} shards: {} exact and {} near duplicates to remove", removals.len(), found[0], found[1]));
        let mut duplicates = blocking(move || duplicates.finish(ArtifactKind::Records)).await?;
        duplicates.values.insert("exact".to_owned(), Value::from(found[0]));
        duplicates.values.insert("near".to_owned(), Value::from(found[1]));
        Ok(TaskOutputs::from([("removals".to_owned(), removals_artifact), ("duplicates".to_owned(), duplicates)]))
    }
}

/// Config of `dedup_apply`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DedupApplyConfig {
    /// Every shard, as signed: the same collection the signatures were made from.
    pub documents: String,
    /// One shard's removal list: `${{ item }}` of a `map` over `dedup_clusters`' removals.
    pub removals: String,
}

/// `dedup_apply`: one shard without its duplicates.
#[derive(Debug, Default)]
pub struct DedupApply;

impl Operator for DedupApply {
    type Config = DedupApplyConfig;

    fn info(&self) -> OperatorInfo {
        OperatorInfo::new(
            "dedup_apply",
            "1",
            "Last step of dedup spread over workers: one shard's documents without those dedup_clusters removed (map it over the removal lists).",
        )
        .input(PortDecl::required("documents", ArtifactKind::Documents, "Every shard, as signed."))
        .input(PortDecl::required("removals", ArtifactKind::File, "One shard's removal list."))
        .output(PortDecl::required("documents", ArtifactKind::Documents, "The shard's kept documents, in order."))
    }

    async fn run(&self, _config: DedupApplyConfig, ctx: TaskContext) -> Result<TaskOutputs, OperatorError> {
        let list = ctx.artifacts().read(&ctx.input("removals")?.key).await?;
        let mut lines = list.split(|b| *b == b'\n').filter(|l| !l.is_empty());
        let header: Value = lines
            .next()
            .and_then(|l| serde_json::from_slice(l).ok())
            .ok_or_else(|| OperatorError::user("the removal list has no header; make it with dedup_clusters"))?;
        let (Some(shard), Some(expected)) = (header["shard"].as_u64(), header["documents"].as_u64()) else {
            return Err(OperatorError::user("the removal list's header lacks shard and documents"));
        };
        let removed: HashSet<u64> = lines
            .map(|l| std::str::from_utf8(l).ok().and_then(|t| t.trim().parse().ok()))
            .collect::<Option<_>>()
            .ok_or_else(|| OperatorError::user("the removal list holds something other than positions"))?;
        let documents = ctx.input("documents")?.clone();
        let shards = hangar_sdk::artifact_files(ctx.artifacts(), &documents).await?;
        let Some(own) = shards.get(shard as usize).cloned() else {
            return Err(OperatorError::user(format!(
                "the removal list is for shard {shard}, but the documents have {} shards; give the collection that was signed",
                shards.len()
            )));
        };
        let reader = open_input(&ctx, &own).await?;
        let kept = JsonlSink::create(&ctx, "documents.jsonl").await?;
        let (kept, seen) = blocking(move || {
            let mut kept = kept;
            let mut position = 0u64;
            for_each_line(reader, |line, _| {
                if !removed.contains(&position) {
                    kept.push_raw(line)?;
                }
                position += 1;
                Ok(())
            })?;
            Ok((kept, position))
        })
        .await?;
        if seen != expected {
            return Err(OperatorError::user(format!(
                "shard {shard} has {seen} documents but was signed with {expected}; sign it again"
            )));
        }
        let kept = blocking(move || kept.finish(ArtifactKind::Documents)).await?;
        Ok(TaskOutputs::from([("documents".to_owned(), kept)]))
    }
}

/// The settings that decide the verdicts, as the header of every shard's signatures.
fn settings_of(config: &DedupConfig) -> Result<String, OperatorError> {
    let mut value = serde_json::to_value(config).map_err(|e| OperatorError::internal(e.to_string()))?;
    // Which shard and how many threads do not change a verdict.
    value["documents"] = Value::String(String::new());
    value["workers"] = Value::Null;
    serde_json::to_string(&value).map_err(|e| OperatorError::internal(e.to_string()))
}

fn encode(
    out: &mut Vec<u8>,
    id: &str,
    source: Option<&str>,
    exact: Option<[u8; 16]>,
    signature: Option<&[u32]>,
    score: [u64; 3],
) {
    let text = |out: &mut Vec<u8>, s: &str| {
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    };
    text(out, id);
    match source {
        Some(s) => {
            out.push(1);
            text(out, s);
        }
        None => out.push(0),
    }
    match exact {
        Some(hash) => {
            out.push(1);
            out.extend_from_slice(&hash);
        }
        None => out.push(0),
    }
    let signature = signature.unwrap_or_default();
    out.push(u8::from(!signature.is_empty()));
    out.extend_from_slice(&(signature.len() as u32).to_le_bytes());
    for value in signature {
        out.extend_from_slice(&value.to_le_bytes());
    }
    for part in score {
        out.extend_from_slice(&part.to_le_bytes());
    }
}

fn read_header(reader: &mut impl BufRead, shard: usize) -> Result<String, OperatorError> {
    let not_signatures = || {
        OperatorError::user(format!(
            "input {shard} is not a dedup_signatures output; give `signatures` of a mapped dedup_signatures"
        ))
    };
    let mut magic = String::new();
    reader.read_line(&mut magic).map_err(|_| not_signatures())?;
    if magic.trim_end() != MAGIC {
        return Err(not_signatures());
    }
    let mut settings = String::new();
    reader.read_line(&mut settings).map_err(|_| not_signatures())?;
    Ok(settings.trim_end().to_owned())
}

type Decoded = (String, Option<String>, Option<[u8; 16]>, Option<Vec<u32>>, [u64; 3]);

fn decode(reader: &mut impl Read, shard: usize) -> Result<Option<Decoded>, OperatorError> {
    let broken = |what: &str| {
        OperatorError::user(format!("the signatures of shard {shard} are cut short ({what}); sign it again"))
    };
    let mut u32_buf = [0u8; 4];
    match reader.read_exact(&mut u32_buf) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(OperatorError::external(format!("cannot read the signatures of shard {shard}: {e}"))),
    }
    let read_text = |len: u32, reader: &mut dyn Read| -> Result<String, OperatorError> {
        let mut bytes = vec![0u8; len as usize];
        reader.read_exact(&mut bytes).map_err(|_| broken("text"))?;
        String::from_utf8(bytes).map_err(|_| broken("text"))
    };
    let id = read_text(u32::from_le_bytes(u32_buf), reader)?;
    let mut flag = [0u8; 1];
    reader.read_exact(&mut flag).map_err(|_| broken("source"))?;
    let source = if flag[0] == 1 {
        reader.read_exact(&mut u32_buf).map_err(|_| broken("source"))?;
        Some(read_text(u32::from_le_bytes(u32_buf), reader)?)
    } else {
        None
    };
    reader.read_exact(&mut flag).map_err(|_| broken("exact hash"))?;
    let exact = if flag[0] == 1 {
        let mut hash = [0u8; 16];
        reader.read_exact(&mut hash).map_err(|_| broken("exact hash"))?;
        Some(hash)
    } else {
        None
    };
    reader.read_exact(&mut flag).map_err(|_| broken("signature"))?;
    reader.read_exact(&mut u32_buf).map_err(|_| broken("signature"))?;
    let len = u32::from_le_bytes(u32_buf) as usize;
    if len > 1 << 16 {
        return Err(broken("signature length"));
    }
    let mut raw = vec![0u8; len * 4];
    reader.read_exact(&mut raw).map_err(|_| broken("signature"))?;
    let values: Vec<u32> = raw.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    let signature = (flag[0] == 1).then_some(values);
    let mut score = [0u64; 3];
    for part in &mut score {
        let mut buf = [0u8; 8];
        reader.read_exact(&mut buf).map_err(|_| broken("score"))?;
        *part = u64::from_le_bytes(buf);
    }
    Ok(Some((id, source, exact, signature, score)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_record_reads_back_as_written() {
        let mut out = Vec::new();
        encode(&mut out, "doc-1", Some("a/b.md"), Some([7; 16]), Some(&[1, 2, 3]), [4, 5, 6]);
        encode(&mut out, "doc-2", None, None, None, [0; 3]);
        let mut reader = out.as_slice();
        let first = decode(&mut reader, 0).expect("decode").expect("a record");
        assert_eq!(
            first,
            ("doc-1".to_owned(), Some("a/b.md".to_owned()), Some([7; 16]), Some(vec![1, 2, 3]), [4, 5, 6])
        );
        let second = decode(&mut reader, 0).expect("decode").expect("a record");
        assert_eq!(second, ("doc-2".to_owned(), None, None, None, [0; 3]));
        assert!(decode(&mut reader, 0).expect("end").is_none());
    }

    #[test]
    fn a_cut_record_is_an_error_not_the_end() {
        let mut out = Vec::new();
        encode(&mut out, "doc-1", Some("a"), Some([1; 16]), Some(&[9; 8]), [1, 2, 3]);
        out.truncate(out.len() - 5);
        let err = decode(&mut out.as_slice(), 3).expect_err("cut");
        assert!(err.to_string().contains("shard 3"), "{err}");
    }
}
