//! `filter`: keeps documents that pass quality thresholds; every dropped
//! document goes to `rejected` with the reasons.

pub mod signals;

use hangar_sdk::{
    ArtifactKind, ConfigProblem, Operator, OperatorError, OperatorInfo, PortDecl, Progress, TaskContext, TaskOutputs,
};
use rayon::prelude::*;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::document::Document;
use crate::io::{JsonlSink, blocking, for_each_line, open_input};
use signals::{Signals, measure};

fn default_min_chars() -> usize {
    50
}
fn default_min_words() -> usize {
    10
}
fn default_mean_word_length() -> [f64; 2] {
    [2.5, 12.0]
}
fn default_symbol_ratio() -> f64 {
    0.1
}
fn default_alpha_ratio() -> f64 {
    0.5
}
fn default_bullet_ratio() -> f64 {
    0.9
}
fn default_ellipsis_ratio() -> f64 {
    0.3
}
fn default_duplicate_lines() -> f64 {
    0.3
}
fn default_duplicate_line_chars() -> f64 {
    0.2
}
fn default_duplicate_paragraphs() -> f64 {
    0.3
}
fn default_duplicate_paragraph_chars() -> f64 {
    0.2
}
fn default_top_ngram() -> [f64; 3] {
    [0.20, 0.18, 0.16]
}
fn default_duplicate_ngram() -> [f64; 6] {
    // Regulations repeat their formulas ("of this section", "must be shown",
    // placard lists) far more than web text: Gopher's 0.15..0.10 would drop
    // most real rules, so these catch only text that is mostly repetition.
    [0.85, 0.84, 0.83, 0.82, 0.81, 0.80]
}
fn default_languages() -> Vec<String> {
    vec!["en".to_owned(), "zh".to_owned()]
}
fn yes() -> bool {
    true
}

/// Config of `filter`. A threshold set to `null` is not applied.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FilterConfig {
    /// The documents to filter: `${{ tasks.ID.outputs.documents }}`.
    pub documents: String,
    /// Fewest characters a document may have.
    #[serde(default = "default_min_chars")]
    pub min_chars: usize,
    /// Most characters a document may have.
    #[serde(default)]
    pub max_chars: Option<usize>,
    /// Fewest words (a CJK character counts as a word).
    #[serde(default = "default_min_words")]
    pub min_words: usize,
    /// Allowed range of the mean length of non-CJK words.
    #[serde(default = "default_mean_word_length")]
    pub mean_word_length: [f64; 2],
    /// Most `#` and ellipses per word.
    #[serde(default = "default_symbol_ratio")]
    pub max_symbol_ratio: f64,
    /// Fewest words with a letter or ideograph, as a share of all words.
    #[serde(default = "default_alpha_ratio")]
    pub min_alpha_word_ratio: f64,
    /// Most lines that are bullet points, as a share of lines.
    #[serde(default = "default_bullet_ratio")]
    pub max_bullet_line_ratio: f64,
    /// Most lines ending in an ellipsis, as a share of lines.
    #[serde(default = "default_ellipsis_ratio")]
    pub max_ellipsis_line_ratio: f64,
    /// Most lines repeating an earlier line, as a share of lines.
    #[serde(default = "default_duplicate_lines")]
    pub max_duplicate_line_ratio: f64,
    /// Most characters in repeated lines, as a share of characters.
    #[serde(default = "default_duplicate_line_chars")]
    pub max_duplicate_line_char_ratio: f64,
    /// Most paragraphs repeating an earlier one, as a share of paragraphs.
    #[serde(default = "default_duplicate_paragraphs")]
    pub max_duplicate_paragraph_ratio: f64,
    /// Most characters in repeated paragraphs.
    #[serde(default = "default_duplicate_paragraph_chars")]
    pub max_duplicate_paragraph_char_ratio: f64,
    /// For word 2-, 3- and 4-grams: most characters covered by the most frequent one.
    #[serde(default = "default_top_ngram")]
    pub max_top_ngram_char_ratio: [f64; 3],
    /// For word 5- to 10-grams: most characters covered by repeated ones.
    #[serde(default = "default_duplicate_ngram")]
    pub max_duplicate_ngram_char_ratio: [f64; 6],
    /// Languages to keep (ISO 639-1); empty keeps all.
    #[serde(default = "default_languages")]
    pub languages: Vec<String>,
    /// Drop documents flagged `garbled` by ingest (broken PDF text layers).
    #[serde(default = "yes")]
    pub drop_garbled: bool,
}

/// Why `doc` fails the thresholds; empty when it passes.
fn reasons(doc: &Document, s: &Signals, c: &FilterConfig) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |failed: bool, reason: String| {
        if failed {
            out.push(reason);
        }
    };
    check(s.chars < c.min_chars, format!("min_chars: {} < {}", s.chars, c.min_chars));
    if let Some(max) = c.max_chars {
        check(s.chars > max, format!("max_chars: {} > {max}", s.chars));
    }
    check(s.words < c.min_words, format!("min_words: {} < {}", s.words, c.min_words));
    // Word-shape rules describe space-separated languages; in Chinese the
    // remaining tokens are clause numbers and punctuation.
    let spaced = s.cjk_ratio < 0.3;
    if spaced && s.mean_word_length > 0.0 {
        check(
            s.mean_word_length < c.mean_word_length[0] || s.mean_word_length > c.mean_word_length[1],
            format!("mean_word_length: {:.2} outside {:?}", s.mean_word_length, c.mean_word_length),
        );
    }
    check(
        s.symbol_ratio > c.max_symbol_ratio,
        format!("max_symbol_ratio: {:.3} > {}", s.symbol_ratio, c.max_symbol_ratio),
    );
    check(
        s.alpha_word_ratio < c.min_alpha_word_ratio,
        format!("min_alpha_word_ratio: {:.3} < {}", s.alpha_word_ratio, c.min_alpha_word_ratio),
    );
    check(
        s.bullet_line_ratio > c.max_bullet_line_ratio,
        format!("max_bullet_line_ratio: {:.3} > {}", s.bullet_line_ratio, c.max_bullet_line_ratio),
    );
    check(
        s.ellipsis_line_ratio > c.max_ellipsis_line_ratio,
        format!("max_ellipsis_line_ratio: {:.3} > {}", s.ellipsis_line_ratio, c.max_ellipsis_line_ratio),
    );
    check(
        s.duplicate_line_ratio > c.max_duplicate_line_ratio,
        format!("max_duplicate_line_ratio: {:.3} > {}", s.duplicate_line_ratio, c.max_duplicate_line_ratio),
    );
    check(
        s.duplicate_line_char_ratio > c.max_duplicate_line_char_ratio,
        format!(
            "max_duplicate_line_char_ratio: {:.3} > {}",
            s.duplicate_line_char_ratio, c.max_duplicate_line_char_ratio
        ),
    );
    check(
        s.duplicate_paragraph_ratio > c.max_duplicate_paragraph_ratio,
        format!(
            "max_duplicate_paragraph_ratio: {:.3} > {}",
            s.duplicate_paragraph_ratio, c.max_duplicate_paragraph_ratio
        ),
    );
    check(
        s.duplicate_paragraph_char_ratio > c.max_duplicate_paragraph_char_ratio,
        format!(
            "max_duplicate_paragraph_char_ratio: {:.3} > {}",
            s.duplicate_paragraph_char_ratio, c.max_duplicate_paragraph_char_ratio
        ),
    );
    for (i, (value, max)) in s.top_ngram_char_ratio.iter().zip(c.max_top_ngram_char_ratio).enumerate() {
        check(spaced && *value > max, format!("max_top_{}gram_char_ratio: {value:.3} > {max}", i + 2));
    }
    for (i, (value, max)) in s.duplicate_ngram_char_ratio.iter().zip(c.max_duplicate_ngram_char_ratio).enumerate() {
        check(*value > max, format!("max_duplicate_{}gram_char_ratio: {value:.3} > {max}", i + 5));
    }
    if !c.languages.is_empty() {
        check(!c.languages.contains(&doc.lang), format!("language: {:?} not in {:?}", doc.lang, c.languages));
    }
    if c.drop_garbled {
        check(
            doc.metadata.get("garbled").and_then(Value::as_bool) == Some(true),
            "garbled: the text layer has too many undecodable glyphs".to_owned(),
        );
    }
    out
}

/// The `filter` operator.
#[derive(Debug, Default)]
pub struct Filter;

impl Operator for Filter {
    type Config = FilterConfig;

    fn info(&self) -> OperatorInfo {
        OperatorInfo::new(
            "filter",
            "1",
            "Keeps documents that pass quality thresholds (length, symbols, repetition as in the Gopher rules, language, garbled text); rejected ones are listed with reasons.",
        )
        .input(PortDecl::required("documents", ArtifactKind::Documents, "Documents to filter."))
        .output(PortDecl::required("documents", ArtifactKind::Documents, "Documents that passed."))
        .output(PortDecl::required("rejected", ArtifactKind::Records, "Dropped documents with the reasons."))
    }

    fn check(&self, config: &FilterConfig) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        if config.mean_word_length[0] > config.mean_word_length[1] {
            problems.push(ConfigProblem::at(&["mean_word_length"], "the lower bound is above the upper bound"));
        }
        if let Some(max) = config.max_chars
            && max < config.min_chars
        {
            problems.push(ConfigProblem::at(
                &["max_chars"],
                format!("max_chars {max} is below min_chars {}", config.min_chars),
            ));
        }
        problems
    }

    async fn run(&self, config: FilterConfig, ctx: TaskContext) -> Result<TaskOutputs, OperatorError> {
        let input = ctx.input("documents")?.clone();
        let reader = open_input(&ctx, &input).await?;
        let kept = JsonlSink::create(&ctx, "documents.jsonl").await?;
        let rejected = JsonlSink::create(&ctx, "rejected.jsonl").await?;
        let task = ctx.clone();
        let (kept, rejected) = blocking(move || {
            let (mut kept, mut rejected) = (kept, rejected);
            let mut batch: Vec<Document> = Vec::with_capacity(256);
            let mut seen = 0u64;
            let mut flush = |batch: &mut Vec<Document>,
                             kept: &mut JsonlSink,
                             rejected: &mut JsonlSink|
             -> Result<(), OperatorError> {
                let verdicts: Vec<Vec<String>> =
                    batch.par_iter().map(|d| reasons(d, &measure(&d.text), &config)).collect();
                for (doc, why) in batch.drain(..).zip(verdicts) {
                    seen += 1;
                    if why.is_empty() {
                        kept.push(&doc)?;
                    } else {
                        let mut record = Map::new();
                        record.insert("id".to_owned(), doc.id.into());
                        record.insert("source".to_owned(), doc.source.into());
                        record.insert("title".to_owned(), doc.title.into());
                        record.insert("lang".to_owned(), doc.lang.into());
                        record.insert("chars".to_owned(), doc.text.chars().count().into());
                        record.insert("reasons".to_owned(), why.into());
                        rejected.push(&record)?;
                    }
                }
                task.progress(Progress { done: seen, unit: "documents".to_owned(), ..Progress::default() });
                task.check_cancelled()
            };
            for_each_line(reader, |line, number| {
                let doc: Document = serde_json::from_slice(line)
                    .map_err(|e| OperatorError::user(format!("{} line {number} is not a document: {e}", input.uri)))?;
                batch.push(doc);
                if batch.len() >= 256 {
                    flush(&mut batch, &mut kept, &mut rejected)?;
                }
                Ok(())
            })?;
            flush(&mut batch, &mut kept, &mut rejected)?;
            Ok((kept, rejected))
        })
        .await?;
        ctx.info(format!("{} documents kept, {} rejected", kept.records(), rejected.records()));
        let (kept, rejected) =
            blocking(move || Ok((kept.finish(ArtifactKind::Documents)?, rejected.finish(ArtifactKind::Records)?)))
                .await?;
        Ok(TaskOutputs::from([("documents".to_owned(), kept), ("rejected".to_owned(), rejected)]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> FilterConfig {
        serde_json::from_value(serde_json::json!({"documents": "x"})).expect("defaults")
    }

    fn doc(text: &str, lang: &str) -> Document {
        Document {
            id: "d".into(),
            source: "s".into(),
            title: "t".into(),
            lang: lang.into(),
            text: text.into(),
            metadata: Map::new(),
            extra: Map::new(),
        }
    }

    #[test]
    fn a_regulation_passes_and_junk_fails_with_reasons() {
        let rule = "§ 25.305 Strength and deformation. (a) The structure must be able to support limit loads without \
            detrimental permanent deformation. At any load up to limit loads, the deformation may not interfere with safe \
            operation. (b) The structure must be able to support ultimate loads without failure for at least 3 seconds. \
            However, when proof of strength is shown by dynamic tests simulating actual load conditions, the 3-second limit does not apply.";
        let d = doc(rule, "en");
        assert!(reasons(&d, &measure(&d.text), &config()).is_empty());

        let junk = doc("### ### ### ...", "en");
        let why = reasons(&junk, &measure(&junk.text), &config());
        assert!(why.iter().any(|r| r.starts_with("min_chars")), "{why:?}");
        assert!(why.iter().any(|r| r.starts_with("max_symbol_ratio")), "{why:?}");

        let french = doc(&"Le règlement s'applique aux aéronefs. ".repeat(10), "fr");
        let why = reasons(&french, &measure(&french.text), &config());
        assert!(why.iter().any(|r| r.starts_with("language")), "{why:?}");
    }

    #[test]
    fn garbled_documents_are_dropped() {
        let mut d = doc("正常类飞机审定的适航要求包括结构、飞行和系统。", "zh");
        d.metadata.insert("garbled".into(), true.into());
        let why = reasons(&d, &measure(&d.text), &config());
        assert!(why.iter().any(|r| r.starts_with("garbled")), "{why:?}");
        d.metadata.insert("garbled".into(), false.into());
        let why = reasons(&d, &measure(&d.text), &config());
        assert!(!why.iter().any(|r| r.starts_with("garbled")), "{why:?}");
    }
}
