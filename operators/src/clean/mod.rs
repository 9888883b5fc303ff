//! `clean`: normalises and repairs document text. Every rule can be
//! switched off; the counts of what changed go into each document's metadata.

pub mod rules;

use hangar_sdk::{
    ArtifactKind, ConfigProblem, Operator, OperatorError, OperatorInfo, PortDecl, Progress, TaskContext, TaskOutputs,
};
use rayon::prelude::*;
use regex::Regex;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use crate::document::Document;
use crate::io::{JsonlSink, blocking, for_each_line, open_input};

fn yes() -> bool {
    true
}

fn default_drop_lines() -> Vec<String> {
    vec![
        // Reading-time badges of note-taking exports.
        r"(?i)^\s*\**\s*\d+\s+min(ute)?s?\s+read\s*\**\s*$".to_owned(),
        // eCFR page chrome that names amendments instead of stating them.
        r"(?i)^\s*\[?link to an? (amendment|extension|correction)\b.*$".to_owned(),
        // A line that is only a URL (or `Source: URL`).
        r"(?i)^\s*(source:\s*)?<?https?://\S+>?\s*$".to_owned(),
    ]
}

fn default_min_pages() -> usize {
    3
}

fn default_batch() -> usize {
    256
}

/// Config of `clean`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CleanConfig {
    /// The documents to clean: `${{ tasks.ID.outputs.documents }}`.
    pub documents: String,
    /// Remove control characters, zero-width characters and BOMs.
    #[serde(default = "yes")]
    pub control_chars: bool,
    /// Unicode NFKC: full-width digits and letters become ASCII.
    #[serde(default = "yes")]
    pub nfkc: bool,
    /// Strip stray HTML tags and comments, decode entities.
    #[serde(default = "yes")]
    pub html: bool,
    /// Undo Markdown backslash escapes such as `\(a\)`.
    #[serde(default = "yes")]
    pub markdown_escapes: bool,
    /// Replace Markdown links and images by their text.
    #[serde(default = "yes")]
    pub links: bool,
    /// Remove `**bold**` / `__bold__` markers.
    #[serde(default = "yes")]
    pub emphasis: bool,
    /// Remove lines matching any of these regular expressions.
    #[serde(default = "default_drop_lines")]
    pub drop_lines: Vec<String>,
    /// Remove running page headers and footers, and page-number lines.
    #[serde(default = "yes")]
    pub headers_footers: bool,
    /// A header or footer must repeat on at least this many pages.
    #[serde(default = "default_min_pages")]
    pub min_header_pages: usize,
    /// Remove table-of-contents lines (a title, a dot leader, a page number).
    #[serde(default = "yes")]
    pub toc_lines: bool,
    /// Re-join words hyphenated across lines (`regu-\nlation`).
    #[serde(default = "yes")]
    pub dehyphenate: bool,
    /// Join lines a page layout split inside a paragraph (CJK without a space).
    #[serde(default = "yes")]
    pub join_lines: bool,
    /// Trim lines, collapse spaces and blank lines.
    #[serde(default = "yes")]
    pub whitespace: bool,
    /// Remove spaces between two CJK characters.
    #[serde(default = "yes")]
    pub cjk_spaces: bool,
    /// Mask e-mail addresses and phone numbers as `[EMAIL]` and `[PHONE]`.
    #[serde(default)]
    pub pii: bool,
    /// Documents cleaned in parallel per batch.
    #[serde(default = "default_batch")]
    pub batch: usize,
}

/// The `clean` operator.
#[derive(Debug, Default)]
pub struct Clean;

/// What cleaning did to one document.
#[derive(Debug, Default, Clone, Copy)]
struct Changes {
    lines_dropped: usize,
    pii_masked: usize,
}

fn clean_text(doc: &Document, config: &CleanConfig, patterns: &[Regex]) -> (String, Changes) {
    let mut changes = Changes::default();
    let mut text = doc.text.clone();
    // Page structure refers to the original text, so headers go first.
    if config.headers_footers {
        let starts: Vec<usize> = doc
            .metadata
            .get("page_starts")
            .and_then(|v| v.as_array())
            .map(|a| a.iter().filter_map(|n| n.as_u64()).map(|n| n as usize).collect())
            .unwrap_or_default();
        let (cleaned, dropped) = rules::headers_footers(&text, &starts, config.min_header_pages);
        text = cleaned;
        changes.lines_dropped += dropped;
    }
    if config.control_chars {
        text = rules::control_chars(&text);
    }
    if config.nfkc {
        text = rules::nfkc(&text);
    }
    if config.html {
        text = rules::html(&text);
    }
    if config.markdown_escapes {
        text = rules::markdown_escapes(&text);
    }
    if config.links {
        text = rules::links(&text);
    }
    if config.emphasis {
        text = rules::emphasis(&text);
    }
    if !patterns.is_empty() {
        let (kept, dropped) = rules::drop_lines(&text, patterns);
        text = kept;
        changes.lines_dropped += dropped;
    }
    if config.toc_lines {
        let (kept, dropped) = rules::toc_lines(&text);
        text = kept;
        changes.lines_dropped += dropped;
    }
    if config.dehyphenate {
        text = rules::dehyphenate(&text);
    }
    if config.join_lines {
        text = rules::join_lines(&text);
    }
    if config.whitespace {
        text = rules::whitespace(&text);
    }
    if config.cjk_spaces {
        text = rules::cjk_spaces(&text);
    }
    if config.pii {
        let (masked, found) = rules::pii(&text);
        text = masked;
        changes.pii_masked = found;
    }
    (text, changes)
}

fn compile_patterns(patterns: &[String]) -> Result<Vec<Regex>, (usize, String)> {
    patterns.iter().enumerate().map(|(i, p)| Regex::new(p).map_err(|e| (i, e.to_string()))).collect()
}

impl Operator for Clean {
    type Config = CleanConfig;

    fn info(&self) -> OperatorInfo {
        OperatorInfo::new(
            "clean",
            "1",
            "Normalises document text: NFKC, control characters, stray HTML, Markdown noise, page headers and footers, hyphenation, layout-split lines, whitespace, optional PII masking.",
        )
        .input(PortDecl::required("documents", ArtifactKind::Documents, "Documents to clean."))
        .output(PortDecl::required("documents", ArtifactKind::Documents, "Cleaned documents; empty ones are dropped."))
    }

    fn check(&self, config: &CleanConfig) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        if let Err((i, e)) = compile_patterns(&config.drop_lines) {
            problems
                .push(ConfigProblem::at(&["drop_lines", &i.to_string()], format!("invalid regular expression: {e}")));
        }
        if config.batch == 0 {
            problems.push(ConfigProblem::at(&["batch"], "batch must be at least 1"));
        }
        problems
    }

    async fn run(&self, config: CleanConfig, ctx: TaskContext) -> Result<TaskOutputs, OperatorError> {
        let input = ctx.input("documents")?.clone();
        let reader = open_input(&ctx, &input).await?;
        let mut sink = JsonlSink::create(&ctx, "documents.jsonl").await?;
        let patterns = compile_patterns(&config.drop_lines).map_err(|(_, e)| OperatorError::user(e))?;
        let task = ctx.clone();
        let (sink, stats) = blocking(move || {
            let mut batch: Vec<Document> = Vec::with_capacity(config.batch);
            let mut stats = (0u64, 0u64, 0usize, 0u64, 0u64); // docs, dropped empty, lines, chars in, chars out
            let flush = |batch: &mut Vec<Document>,
                         sink: &mut JsonlSink,
                         stats: &mut (u64, u64, usize, u64, u64)|
             -> Result<(), OperatorError> {
                let cleaned: Vec<(String, Changes)> =
                    batch.par_iter().map(|d| clean_text(d, &config, &patterns)).collect();
                for (mut doc, (text, changes)) in batch.drain(..).zip(cleaned) {
                    stats.0 += 1;
                    stats.3 += doc.text.chars().count() as u64;
                    if text.trim().is_empty() {
                        stats.1 += 1;
                        continue;
                    }
                    stats.2 += changes.lines_dropped;
                    stats.4 += text.chars().count() as u64;
                    doc.metadata.insert(
                        "clean".to_owned(),
                        json!({
                            "chars_before": doc.text.chars().count(),
                            "chars_after": text.chars().count(),
                            "lines_dropped": changes.lines_dropped,
                            "pii_masked": changes.pii_masked,
                        }),
                    );
                    // Page offsets described the text before cleaning.
                    doc.metadata.remove("page_starts");
                    doc.text = text;
                    sink.push(&doc)?;
                }
                task.progress(Progress { done: stats.0, unit: "documents".to_owned(), ..Progress::default() });
                task.check_cancelled()
            };
            for_each_line(reader, |line, number| {
                let doc: Document = serde_json::from_slice(line)
                    .map_err(|e| OperatorError::user(format!("{} line {number} is not a document: {e}", input.uri)))?;
                batch.push(doc);
                if batch.len() >= config.batch {
                    flush(&mut batch, &mut sink, &mut stats)?;
                }
                Ok(())
            })?;
            flush(&mut batch, &mut sink, &mut stats)?;
            Ok((sink, stats))
        })
        .await?;
        ctx.info(format!(
            "{} documents cleaned ({} left empty and dropped), {} lines removed, {} → {} characters",
            stats.0, stats.1, stats.2, stats.3, stats.4
        ));
        let artifact = blocking(move || sink.finish(ArtifactKind::Documents)).await?;
        Ok(TaskOutputs::from([("documents".to_owned(), artifact)]))
    }
}
