//! `ingest`: files of many formats to documents. A file that cannot be read
//! is recorded in `rejected` with the reason; the task fails only when
//! nothing could be read.

pub mod config;
pub mod formats;
pub mod pdf;
pub mod sources;

use hangar_sdk::{
    ArtifactKind, ConfigProblem, Demands, Operator, OperatorError, OperatorInfo, PortDecl, Progress, TaskContext,
    TaskOutputs,
};
use rayon::prelude::*;
use serde_json::{Map, Value};
use tokio::runtime::Handle;

pub use config::IngestConfig;
use formats::{Extracted, Format, SUPPORTED};
use sources::{Location, SourceFile};

use crate::document::{Document, derived_id};
use crate::io::{DocumentSink, JsonlSink, LineSink, blocking};
use crate::lang;

/// Files parsed together before their documents are written (in order).
const BATCH: usize = 32;

/// The `ingest` operator.
#[derive(Debug, Default)]
pub struct Ingest;

/// What became of one file.
enum Outcome {
    Documents(Vec<Document>),
    Rejected(Map<String, Value>),
}

fn rejected(file: &SourceFile, format: Option<Format>, reason: String) -> Outcome {
    let mut record = Map::new();
    record.insert("source".to_owned(), file.relative.clone().into());
    record.insert("format".to_owned(), format.map(Format::name).unwrap_or("unknown").into());
    record.insert("bytes".to_owned(), file.bytes.into());
    record.insert("reason".to_owned(), reason.into());
    Outcome::Rejected(record)
}

fn file_stem(relative: &str) -> String {
    let name = relative.rsplit('/').next().unwrap_or(relative);
    name.rsplit_once('.').map(|(stem, _)| stem).unwrap_or(name).to_owned()
}

fn to_document(file: &SourceFile, format: Format, extracted: Extracted) -> Document {
    let source =
        if extracted.key.is_empty() { file.relative.clone() } else { format!("{}#{}", file.relative, extracted.key) };
    let id = extracted.own_id.clone().unwrap_or_else(|| derived_id(&file.relative, &extracted.key));
    let mut metadata = extracted.metadata;
    metadata.insert("format".to_owned(), format.name().into());
    metadata.insert("file_bytes".to_owned(), file.bytes.into());
    Document {
        id,
        lang: lang::detect(&extracted.text),
        title: extracted.title.filter(|t| !t.trim().is_empty()).unwrap_or_else(|| file_stem(&file.relative)),
        source,
        text: extracted.text,
        metadata,
        extra: Map::new(),
    }
}

fn read_file(file: &SourceFile, config: &IngestConfig, handle: &Handle, ctx: &TaskContext) -> Outcome {
    let Some(format) = Format::of_path(&file.relative) else {
        let ext =
            file.relative.rsplit_once('.').map(|(_, e)| format!(".{e}")).unwrap_or_else(|| "(no extension)".to_owned());
        return rejected(file, None, format!("unsupported file type {ext}; supported: {SUPPORTED}"));
    };
    if file.bytes > config.max_file_bytes {
        return rejected(
            file,
            Some(format),
            format!("file is {} bytes, over max_file_bytes ({})", file.bytes, config.max_file_bytes),
        );
    }
    if let Some(problem) = &file.problem {
        return rejected(file, Some(format), problem.clone());
    }
    let bytes = match &file.location {
        Location::Local(local) => local.read().map_err(|e| local.error(&e).to_string()),
        Location::Store(key) => handle.block_on(ctx.artifacts().read(key)).map_err(|e| e.to_string()),
    };
    let bytes = match bytes {
        Ok(bytes) => bytes,
        Err(e) => return rejected(file, Some(format), format!("cannot read the file: {e}")),
    };
    // A malformed file must never take the task down: a parser panic is
    // caught and recorded like any other failure.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| formats::extract(format, &bytes, config)));
    match result {
        Ok(Ok(found)) => Outcome::Documents(found.into_iter().map(|e| to_document(file, format, e)).collect()),
        Ok(Err(reason)) => rejected(file, Some(format), reason),
        Err(_) => rejected(
            file,
            Some(format),
            "the reader crashed on this file (a bug: please report it with the file)".to_owned(),
        ),
    }
}

impl Operator for Ingest {
    type Config = IngestConfig;

    fn info(&self) -> OperatorInfo {
        OperatorInfo::new(
            "ingest",
            "1",
            "Reads PDF, DOCX, HTML, Markdown, text (any encoding), XML, JSON/JSONL and CSV files into documents; unreadable files are recorded with the reason.",
        )
        .output(PortDecl::required("documents", ArtifactKind::Documents, "One document per file or record (JSONL)."))
        .output(PortDecl::required("rejected", ArtifactKind::Records, "Files that yielded no text, with the reason (JSONL)."))
    }

    fn check(&self, config: &IngestConfig) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        if let Err(e) = sources::glob_set(&config.include) {
            problems.push(ConfigProblem::at(&["include"], e));
        }
        if let Err(e) = sources::glob_set(&config.exclude) {
            problems.push(ConfigProblem::at(&["exclude"], e));
        }
        if config.encoding != "auto" && encoding_rs::Encoding::for_label(config.encoding.as_bytes()).is_none() {
            problems.push(ConfigProblem::at(
                &["encoding"],
                format!("unknown encoding {:?}; use auto, utf-8, gb18030, big5, …", config.encoding),
            ));
        }
        if config.workers == Some(0) {
            problems.push(ConfigProblem::at(&["workers"], "workers must be at least 1"));
        }
        if config.path.as_written().trim().is_empty() {
            problems.push(ConfigProblem::at(&["path"], "path is empty; give a file, a folder or an artifact location"));
        }
        problems
    }

    fn demands(&self, config: &IngestConfig) -> Demands {
        let threads = config.workers.map(|w| (hangar_sdk::field(&["workers"]), w as u64));
        Demands { threads, ..Demands::default() }.input(&["path"], Some(&config.path))
    }

    async fn fingerprint(&self, config: &IngestConfig, ctx: &TaskContext) -> Result<Option<String>, OperatorError> {
        let include = sources::glob_set(&config.include).map_err(OperatorError::user)?;
        let exclude = sources::glob_set(&config.exclude).map_err(OperatorError::user)?;
        let files = sources::list(&config.path, &include, &exclude, &ctx).await?;
        sources::fingerprint(&files, ctx.artifacts()).await.map(Some)
    }

    async fn run(&self, config: IngestConfig, ctx: TaskContext) -> Result<TaskOutputs, OperatorError> {
        let include = sources::glob_set(&config.include).map_err(OperatorError::user)?;
        let exclude = sources::glob_set(&config.exclude).map_err(OperatorError::user)?;
        let files = sources::list(&config.path, &include, &exclude, &ctx).await?;
        if files.is_empty() {
            return Err(OperatorError::user(format!(
                "no files to read under {} (after include/exclude filters)",
                config.path
            )));
        }
        ctx.info(format!("reading {} files from {}", files.len(), config.path));
        if config.shard_bytes == Some(0) {
            return Err(OperatorError::user("shard_bytes must be at least 1 (or left out for one file)"));
        }
        let documents = DocumentSink::create(&ctx, "documents", config.shard_bytes).await?;
        let rejects = JsonlSink::create(&ctx, "rejected.jsonl").await?;
        // More parser threads than cores only costs memory (and a config of
        // 100,000 would start that many threads).
        let cores = std::thread::available_parallelism().map(usize::from).unwrap_or(2);
        let workers = config.workers.unwrap_or(cores).min(cores);
        let handle = Handle::current();
        let task = ctx.clone();
        let (documents, rejects, first_reasons) = blocking(move || {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(workers)
                .build()
                .map_err(|e| OperatorError::internal(format!("cannot start the reader threads: {e}")))?;
            let (mut documents, mut rejects) = (documents, rejects);
            let mut first_reasons = Vec::new();
            let total = files.len() as u64;
            for (batch_index, batch) in files.chunks(BATCH).enumerate() {
                task.check_cancelled()?;
                let outcomes: Vec<Outcome> =
                    pool.install(|| batch.par_iter().map(|f| read_file(f, &config, &handle, &task)).collect());
                for outcome in outcomes {
                    match outcome {
                        Outcome::Documents(docs) => {
                            for doc in &docs {
                                documents.push_record(doc)?;
                            }
                        }
                        Outcome::Rejected(record) => {
                            if first_reasons.len() < 3 {
                                first_reasons.push(format!(
                                    "{}: {}",
                                    record["source"].as_str().unwrap_or("?"),
                                    record["reason"].as_str().unwrap_or("?")
                                ));
                            }
                            task.warn(format!(
                                "rejected {}: {}",
                                record["source"].as_str().unwrap_or("?"),
                                record["reason"].as_str().unwrap_or("?")
                            ));
                            rejects.push(&record)?;
                        }
                    }
                }
                let done = ((batch_index + 1) * BATCH).min(files.len()) as u64;
                task.progress(
                    Progress::of(done, total, "files")
                        .metric("documents", documents.records() as f64)
                        .metric("rejected", rejects.records() as f64),
                );
            }
            Ok((documents, rejects, first_reasons))
        })
        .await?;
        let (written, refused) = (documents.records(), rejects.records());
        if written == 0 {
            return Err(OperatorError::user(format!(
                "nothing could be read: all {refused} files were rejected ({})",
                first_reasons.join("; ")
            )));
        }
        ctx.info(format!("{written} documents, {refused} files rejected"));
        let (documents, rejects) =
            blocking(move || Ok((documents.finish()?, rejects.finish(ArtifactKind::Records)?))).await?;
        Ok(TaskOutputs::from([("documents".to_owned(), documents), ("rejected".to_owned(), rejects)]))
    }
}
