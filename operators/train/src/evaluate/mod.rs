//! `evaluate`: scores a model on a question set (built from the dataset's
//! test split, or a JSONL file) and on the test split's perplexity, writes
//! a `report` (JSON and Markdown with per-item examples), compares it with
//! a registered baseline (`name:production`) on a named metric, and
//! records the metrics on the model's registry version when it evaluates
//! a registered model.

mod questions;
mod report;
mod score;

use std::collections::BTreeMap;

use hangar_sdk::{
    ArtifactKind, ConfigProblem, ModelRef, Operator, OperatorError, OperatorInfo, PortDecl, TaskContext, TaskOutputs,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::data::{ShardMeta, TokenStream};
use crate::fetch::{fetch_dataset, fetch_folder};
use crate::infer::LoadedModel;
pub use questions::{Question, Scoring};
pub use score::{Scored, Summary};

/// Config of `evaluate`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EvaluateConfig {
    /// The model to evaluate: `${{ tasks.ID.outputs.model }}`. Give this or `registered`.
    #[serde(default)]
    pub model: Option<String>,
    /// A registered model instead (`name`, `name@3`, `name:production`); its
    /// version gets the metrics.
    #[serde(default)]
    pub registered: Option<String>,
    /// The base model the evaluated one was fine-tuned from, scored on the
    /// same questions side by side: `${{ tasks.ID.outputs.model }}` or a
    /// registered model. With it, the gate also asks that the model beat its base.
    #[serde(default)]
    pub base: Option<String>,
    /// The dataset whose test split is scored: `${{ tasks.ID.outputs.dataset }}`.
    pub dataset: String,
    /// A JSONL question set (`{"question", "answer", "kind"?, "choices"?}` per
    /// line) to use instead of the one built from the test split: a local
    /// file for the machine's owner, else an upload, a run's output or `data://NAME/…`.
    #[serde(default)]
    pub questions: Option<hangar_sdk::InputPath>,
    /// Questions asked at most (in file order).
    #[serde(default = "default_max_questions")]
    pub max_questions: usize,
    /// Tokens generated per answer at most.
    #[serde(default = "default_max_new_tokens")]
    pub max_new_tokens: usize,
    /// Questions answered together in one batch.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Context windows of the test split scored for perplexity at most.
    #[serde(default = "default_perplexity_windows")]
    pub perplexity_windows: usize,
    /// A registered version to compare with, e.g. `airworthy:production`.
    #[serde(default)]
    pub baseline: Option<String>,
    /// The metric that decides `beats_baseline`: rougeL, rouge1, rouge2, bleu,
    /// exact_match, multiple_choice or perplexity (lower is better).
    #[serde(default = "default_gate_metric")]
    pub gate_metric: String,
    /// Examples shown in the Markdown report.
    #[serde(default = "default_examples")]
    pub examples: usize,
}

fn default_max_questions() -> usize {
    64
}
fn default_max_new_tokens() -> usize {
    48
}
fn default_batch_size() -> usize {
    8
}
fn default_perplexity_windows() -> usize {
    16
}
fn default_gate_metric() -> String {
    "rougeL".to_owned()
}
fn default_examples() -> usize {
    10
}

/// Metrics the gate can name.
pub const GATE_METRICS: [&str; 7] =
    ["rougeL", "rouge1", "rouge2", "bleu", "exact_match", "multiple_choice", "perplexity"];

/// Evaluates a model.
#[derive(Debug, Default)]
pub struct Evaluate;

impl Operator for Evaluate {
    type Config = EvaluateConfig;

    fn info(&self) -> OperatorInfo {
        OperatorInfo::new(
            "evaluate",
            "1",
            "Scores a model on questions from the test split (or a JSONL file) with BLEU, ROUGE, exact match and multiple-choice accuracy, and on the test split's perplexity; compares with a registered baseline.",
        )
        .input(PortDecl::optional("model", ArtifactKind::Model, "The model folder to evaluate."))
        .input(
            PortDecl::optional("base", ArtifactKind::Model, "The base model, scored side by side: an artifact or a registered model.")
                .or_registered_model(),
        )
        .input(PortDecl::required("dataset", ArtifactKind::Dataset, "The dataset with its test split."))
        .output(PortDecl::required(
            "report",
            ArtifactKind::Report,
            "report.json (metrics, per-item results, baseline comparison) and report.md; values: beats_baseline and the gate metric.",
        ))
        // The baseline lives in the registry, which changes between runs: a
        // cached report could claim to beat a version it never saw.
        .not_cacheable()
        .nondeterministic("the report records latencies, and the baseline is what the registry holds then")
    }

    fn demands(&self, config: &EvaluateConfig) -> hangar_sdk::Demands {
        hangar_sdk::Demands::default().input(&["questions"], config.questions.as_ref())
    }

    fn check(&self, config: &EvaluateConfig) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        match (&config.model, &config.registered) {
            (None, None) => problems.push(ConfigProblem::at(
                &["model"],
                "name the model: `model: ${{ tasks.ID.outputs.model }}` or `registered: NAME:ALIAS`",
            )),
            (Some(_), Some(_)) => {
                problems.push(ConfigProblem::at(&["registered"], "give either `model` or `registered`, not both"))
            }
            _ => {}
        }
        for (field, value) in [("registered", &config.registered), ("baseline", &config.baseline)] {
            if let Some(Err(e)) = value.as_deref().map(ModelRef::parse) {
                problems.push(ConfigProblem::at(&[field], e.to_string()));
            }
        }
        if !GATE_METRICS.contains(&config.gate_metric.as_str()) {
            problems.push(ConfigProblem::at(
                &["gate_metric"],
                format!("unknown metric {:?}; choose among {}", config.gate_metric, GATE_METRICS.join(", ")),
            ));
        }
        if config.batch_size == 0 || config.max_new_tokens == 0 {
            problems.push(ConfigProblem::at(&["batch_size"], "batch_size and max_new_tokens must be at least 1"));
        }
        problems
    }

    async fn run(&self, config: EvaluateConfig, ctx: TaskContext) -> Result<TaskOutputs, OperatorError> {
        let scratch = ctx.scratch_dir()?.to_path_buf();
        let store = ctx.artifacts().clone();
        let dataset = ctx.input("dataset")?.clone();
        let dataset_dir = fetch_dataset(&store, &dataset.key, &scratch.join("dataset")).await?;
        let (model_key, version) = match &config.registered {
            Some(reference) => {
                let reference = ModelRef::parse(reference).map_err(|e| OperatorError::user(e.to_string()))?;
                let found =
                    ctx.models()?.resolve(&reference).await.map_err(|e| OperatorError::external(e.to_string()))?;
                let found = found.ok_or_else(|| OperatorError::user(format!("no registered model {reference}")))?;
                (found.artifact_key.clone(), Some(found))
            }
            None => (ctx.input("model")?.key.clone(), None),
        };
        let model_dir = fetch_folder(&store, &model_key, &scratch.join("model")).await?;
        let questions = match &config.questions {
            Some(path) => questions::from_file(&ctx.fetch_input(path).await?, path.as_written()),
            None => questions::from_test_split(&dataset_dir.join("sft/test.jsonl")),
        }
        .map_err(OperatorError::user)?;
        let questions: Vec<Question> = questions.into_iter().take(config.max_questions).collect();
        if questions.is_empty() {
            ctx.warn("no questions: the test split has no SFT samples; only perplexity is scored");
        }
        ctx.info(format!("evaluating {model_key} on {} questions", questions.len()));

        let base = match &config.base {
            Some(written) => {
                let key = crate::fetch::model_key(&ctx, "base", written).await?;
                // An upstream artifact is named by its key, a registered model as written.
                let name = if ctx.optional_input("base").is_some() { key.clone() } else { written.clone() };
                Some((fetch_folder(&store, &key, &scratch.join("base")).await?, name))
            }
            None => None,
        };

        let work_ctx = ctx.clone();
        let work_config = config.clone();
        let base_dir = base.as_ref().map(|(dir, _)| dir.clone());
        let (summary, base_summary) =
            tokio::task::spawn_blocking(move || -> Result<(Summary, Option<Summary>), OperatorError> {
                let test_tokens = test_tokens(&dataset_dir)?;
                let model = LoadedModel::load(&model_dir).map_err(|e| OperatorError::user(e.to_string()))?;
                let summary = score::evaluate(&model, &questions, &test_tokens, &work_config, &work_ctx)?;
                drop(model);
                let base_summary = match base_dir {
                    Some(dir) => {
                        work_ctx.info("scoring the base model on the same questions");
                        let base = LoadedModel::load(&dir).map_err(|e| OperatorError::user(e.to_string()))?;
                        Some(score::evaluate(&base, &questions, &test_tokens, &work_config, &work_ctx)?)
                    }
                    None => None,
                };
                Ok((summary, base_summary))
            })
            .await
            .map_err(|e| OperatorError::internal(format!("the evaluation thread failed: {e}")))??;

        let gate = gate(&ctx, &config, &summary.metrics, base_summary.as_ref().map(|b| &b.metrics)).await?;
        let beats = gate.passes;
        if let Some(version) = &version {
            match ctx.models()?.record_metrics(&version.name, version.version, &summary.metrics).await {
                Ok(()) => ctx.info(format!(
                    "recorded {} metrics on {}@{}",
                    summary.metrics.len(),
                    version.name,
                    version.version
                )),
                // Another account's model: scored, but its record is not ours to change.
                Err(hangar_sdk::RegistryError::Refused(why)) => {
                    ctx.warn(format!("the metrics stay in the report only: {why}"))
                }
                Err(e) => return Err(OperatorError::external(e.to_string())),
            }
        }
        let mut items = serde_json::to_value(&summary.items).unwrap_or_default();
        if let (Some(base), Some(items)) = (&base_summary, items.as_array_mut()) {
            for (item, theirs) in items.iter_mut().zip(&base.items) {
                item["base_answer"] = json!(theirs.answer);
                item["base_score"] = json!(theirs.score);
            }
        }
        let document = json!({
            "model": model_key,
            "registered": version.as_ref().map(|v| format!("{}@{}", v.name, v.version)),
            "dataset_digest": dataset.digest,
            "metrics": summary.metrics,
            "by_kind": summary.by_kind,
            "base": base_summary.as_ref().zip(base.as_ref()).map(|(b, (_, name))| json!({
                "model": name,
                "metrics": b.metrics,
                "by_kind": b.by_kind,
            })),
            "gate": {
                "metric": config.gate_metric,
                "value": summary.metrics.get(&config.gate_metric),
                "base_value": gate.base_value,
                "beats_base": gate.beats_base,
                "baseline": gate.production_value,
                "beats_production": gate.beats_production,
                "beats_baseline": beats,
                "verdict": gate.verdict,
            },
            "items": items,
        });
        let mut out = ctx.output_dir("report", ArtifactKind::Report);
        out.put("report.json", serde_json::to_string_pretty(&document).unwrap_or_default().as_bytes()).await?;
        out.put("report.md", report::markdown(&document, config.examples).as_bytes()).await?;
        let mut artifact = out.finish().await?;
        artifact.values.insert("beats_baseline".to_owned(), Value::Bool(beats));
        if let Some(value) = summary.metrics.get(&config.gate_metric) {
            artifact.values.insert(config.gate_metric.clone(), json!(value));
        }
        let line = summary.metrics.iter().map(|(k, v)| format!("{k} {v:.4}")).collect::<Vec<_>>().join(", ");
        ctx.info(format!("metrics: {line}; {}", gate.verdict));
        Ok(TaskOutputs::from([("report".to_owned(), artifact)]))
    }
}

/// The test split's tokens, for perplexity (none when the dataset has no shards).
fn test_tokens(dataset_dir: &std::path::Path) -> Result<Vec<u32>, OperatorError> {
    let Ok(bytes) = std::fs::read(dataset_dir.join("shards/meta.json")) else { return Ok(Vec::new()) };
    let meta: ShardMeta = serde_json::from_slice(&bytes)
        .map_err(|e| OperatorError::user(format!("the dataset's shards/meta.json is not valid: {e}")))?;
    Ok(TokenStream::load(dataset_dir, &meta, "test").map_err(|e| OperatorError::user(e.to_string()))?.tokens)
}

/// What the gate decided, and why in words.
#[derive(Debug, Clone, PartialEq)]
struct Gate {
    passes: bool,
    base_value: Option<f64>,
    /// `None` when no base was given.
    beats_base: Option<bool>,
    production_value: Option<f64>,
    /// `None` when there is no production version (or it has no value) to beat.
    beats_production: Option<bool>,
    verdict: String,
}

fn better(metric: &str, ours: f64, theirs: f64) -> bool {
    if metric == "perplexity" { ours < theirs } else { ours > theirs }
}

/// The gate: the model must beat its base (when one is given) and the
/// current production version (when there is one) on the gate metric.
async fn gate(
    ctx: &TaskContext,
    config: &EvaluateConfig,
    metrics: &BTreeMap<String, f64>,
    base: Option<&BTreeMap<String, f64>>,
) -> Result<Gate, OperatorError> {
    let metric = config.gate_metric.as_str();
    let production = match &config.baseline {
        Some(reference) => {
            let reference = ModelRef::parse(reference).map_err(|e| OperatorError::user(e.to_string()))?;
            let found = ctx.models()?.resolve(&reference).await.map_err(|e| OperatorError::external(e.to_string()))?;
            Some((reference, found.and_then(|v| v.metrics.get(metric).copied())))
        }
        None => None,
    };
    Ok(decide(metric, metrics.get(metric).copied(), base.map(|b| b.get(metric).copied()), production))
}

fn decide(
    metric: &str,
    ours: Option<f64>,
    base: Option<Option<f64>>,
    production: Option<(ModelRef, Option<f64>)>,
) -> Gate {
    let base_value = base.flatten();
    let production_value = production.as_ref().and_then(|(_, v)| *v);
    let Some(ours) = ours else {
        return Gate {
            passes: false,
            base_value,
            beats_base: base.map(|_| false),
            production_value,
            beats_production: production_value.map(|_| false),
            verdict: format!("{metric} was not measured (no questions of that kind): the gate stays closed"),
        };
    };
    let beats_base = base.map(|b| b.is_some_and(|theirs| better(metric, ours, theirs)));
    let beats_production = production_value.map(|theirs| better(metric, ours, theirs));
    let mut words = Vec::new();
    match (base_value, beats_base) {
        (Some(theirs), Some(true)) => words.push(format!("beats the base ({metric} {ours:.4} vs {theirs:.4})")),
        (Some(theirs), _) => words.push(format!("does not beat the base ({metric} {ours:.4} vs {theirs:.4})")),
        (None, Some(_)) => words.push(format!("the base has no {metric}")),
        (None, None) => {}
    }
    match (&production, production_value, beats_production) {
        (None, ..) => {}
        (Some((reference, _)), None, _) => {
            words.push(format!("no production version yet ({reference} has no {metric})"))
        }
        (Some((reference, _)), Some(theirs), Some(true)) => {
            words.push(format!("beats {reference} ({metric} {ours:.4} vs {theirs:.4})"))
        }
        (Some((reference, _)), Some(theirs), _) => {
            words.push(format!("does not beat {reference} ({metric} {ours:.4} vs {theirs:.4})"))
        }
    }
    if words.is_empty() {
        words.push("nothing to compare with: no base and no production".to_owned());
    }
    let passes = beats_base != Some(false) && beats_production != Some(false);
    Gate { passes, base_value, beats_base, production_value, beats_production, verdict: words.join("; ") }
}

#[cfg(test)]
mod gate_tests {
    use super::*;

    fn production(value: Option<f64>) -> Option<(ModelRef, Option<f64>)> {
        Some((ModelRef::Alias("airworthy".into(), "production".into()), value))
    }

    #[test]
    fn with_no_production_the_gate_says_so_and_only_the_base_decides() {
        let gate = decide("rougeL", Some(0.3), Some(Some(0.1)), production(None));
        assert!(gate.passes);
        assert_eq!(gate.beats_production, None);
        assert!(gate.verdict.contains("no production version yet"), "{}", gate.verdict);
        assert!(!gate.verdict.contains("beats the baseline"), "{}", gate.verdict);
        let worse = decide("rougeL", Some(0.05), Some(Some(0.1)), production(None));
        assert!(!worse.passes, "{}", worse.verdict);
    }

    #[test]
    fn the_model_must_beat_both_base_and_production() {
        assert!(decide("rougeL", Some(0.3), Some(Some(0.1)), production(Some(0.2))).passes);
        assert!(!decide("rougeL", Some(0.3), Some(Some(0.1)), production(Some(0.4))).passes);
        assert!(!decide("rougeL", Some(0.3), Some(Some(0.35)), production(Some(0.2))).passes);
        // Perplexity: lower is better.
        assert!(decide("perplexity", Some(8.0), Some(Some(20.0)), None).passes);
        assert!(!decide("perplexity", Some(25.0), Some(Some(20.0)), None).passes);
    }

    #[test]
    fn an_unmeasured_metric_keeps_the_gate_closed() {
        assert!(!decide("multiple_choice", None, Some(Some(0.5)), None).passes);
    }
}
