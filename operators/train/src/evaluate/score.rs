//! Asking the questions and scoring the answers.

use std::collections::BTreeMap;
use std::time::Instant;

use hangar_metrics::rouge::rouge_pair;
use hangar_metrics::{BleuTokenizer, RougeTokenizer, corpus_bleu};
use hangar_sdk::{OperatorError, Progress, TaskContext};
use serde::Serialize;

use super::EvaluateConfig;
use super::questions::{Question, Scoring, normalise};
use crate::infer::{GenerationRequest, LoadedModel};

/// One question with the model's answer and its score (0–1).
#[derive(Debug, Clone, Serialize)]
pub struct Scored {
    pub kind: String,
    pub question: String,
    pub reference: String,
    pub answer: String,
    pub score: f64,
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub provenance: serde_json::Value,
}

/// Everything measured.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub metrics: BTreeMap<String, f64>,
    /// Kind → {count, score}.
    pub by_kind: BTreeMap<String, BTreeMap<String, f64>>,
    pub items: Vec<Scored>,
}

fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// The first line of an answer: what exact-match questions compare.
fn first_line(text: &str) -> &str {
    text.trim().lines().next().unwrap_or_default()
}

pub fn evaluate(
    model: &LoadedModel,
    questions: &[Question],
    test_tokens: &[u32],
    config: &EvaluateConfig,
    ctx: &TaskContext,
) -> Result<Summary, OperatorError> {
    let mut summary = Summary::default();
    let mut answers: Vec<String> = vec![String::new(); questions.len()];
    let generated: Vec<usize> =
        (0..questions.len()).filter(|&i| questions[i].scoring() != Scoring::MultipleChoice).collect();
    let (mut seconds, mut tokens) = (0.0, 0usize);
    for (done, batch) in generated.chunks(config.batch_size.max(1)).enumerate() {
        ctx.check_cancelled()?;
        let mut requests = Vec::with_capacity(batch.len());
        for &i in batch {
            let prompt = model
                .chat_prompt(&[("user".to_owned(), questions[i].question.clone())])
                .map_err(|e| OperatorError::user(e.to_string()))?;
            // Long questions keep their end, where the ask is.
            let room = model.context().saturating_sub(config.max_new_tokens + 1).max(1);
            let prompt = prompt[prompt.len().saturating_sub(room)..].to_vec();
            requests.push(GenerationRequest {
                prompt,
                max_tokens: config.max_new_tokens,
                temperature: 0.0,
                top_p: 1.0,
                seed: 0,
                stop: Vec::new(),
            });
        }
        let started = Instant::now();
        let finished = model.generate(&requests, |_| {}).map_err(|e| OperatorError::user(e.to_string()))?;
        seconds += started.elapsed().as_secs_f64();
        for (&i, finish) in batch.iter().zip(finished) {
            tokens += finish.completion_tokens;
            answers[i] = finish.text;
        }
        ctx.progress(Progress::of(
            ((done + 1) * config.batch_size).min(generated.len()) as u64,
            generated.len() as u64,
            "questions",
        ));
    }

    let mut exact = Vec::new();
    let mut choice = Vec::new();
    let (mut hyps, mut refs) = (Vec::new(), Vec::new());
    // ROUGE-1, ROUGE-2, ROUGE-L of each overlap question, averaged at the end.
    let mut overlap: Vec<[f64; 3]> = Vec::new();
    for (i, q) in questions.iter().enumerate() {
        let score = match q.scoring() {
            Scoring::ExactMatch => {
                let hit = f64::from(u8::from(normalise(first_line(&answers[i])) == normalise(&q.answer)));
                exact.push(hit);
                hit
            }
            Scoring::Overlap => {
                hyps.push(answers[i].clone());
                refs.push(q.answer.clone());
                let r = rouge_pair(&q.answer, &answers[i], RougeTokenizer::Cjk, false);
                overlap.push([r.rouge1, r.rouge2, r.rouge_l]);
                r.rouge_l
            }
            Scoring::MultipleChoice => {
                let prompt = model
                    .chat_prompt(&[("user".to_owned(), q.question.clone())])
                    .map_err(|e| OperatorError::user(e.to_string()))?;
                let mut best = (f64::NEG_INFINITY, String::new());
                for option in &q.choices {
                    let ids = model.text_prompt(option).map_err(|e| OperatorError::user(e.to_string()))?;
                    let logprob = model.continuation_logprob(&prompt, &ids);
                    if logprob > best.0 {
                        best = (logprob, option.clone());
                    }
                }
                answers[i] = best.1;
                let hit = f64::from(u8::from(answers[i] == q.answer));
                choice.push(hit);
                hit
            }
        };
        let entry = summary.by_kind.entry(q.kind.clone()).or_default();
        *entry.entry("count".to_owned()).or_insert(0.0) += 1.0;
        *entry.entry("score_sum".to_owned()).or_insert(0.0) += score;
        summary.items.push(Scored {
            kind: q.kind.clone(),
            question: q.question.clone(),
            reference: q.answer.clone(),
            answer: answers[i].clone(),
            score,
            provenance: q.provenance.clone(),
        });
    }
    for entry in summary.by_kind.values_mut() {
        let count = entry.get("count").copied().unwrap_or(1.0).max(1.0);
        if let Some(sum) = entry.remove("score_sum") {
            entry.insert("score".to_owned(), sum / count);
        }
    }

    let metrics = &mut summary.metrics;
    metrics.insert("questions".to_owned(), questions.len() as f64);
    if let Some(v) = mean(&exact) {
        metrics.insert("exact_match".to_owned(), v);
    }
    if let Some(v) = mean(&choice) {
        metrics.insert("multiple_choice".to_owned(), v);
    }
    if !hyps.is_empty() {
        // sacrebleu's zh tokenizer: Chinese character by character, the rest as 13a.
        if let Ok(bleu) = corpus_bleu(&hyps, &[refs.clone()], BleuTokenizer::Zh) {
            metrics.insert("bleu".to_owned(), bleu.score);
        }
        for (k, name) in ["rouge1", "rouge2", "rougeL"].into_iter().enumerate() {
            let scores: Vec<f64> = overlap.iter().map(|r| r[k]).collect();
            if let Some(v) = mean(&scores) {
                metrics.insert(name.to_owned(), v);
            }
        }
    }
    if !generated.is_empty() && seconds > 0.0 {
        metrics.insert("generation_s_per_question".to_owned(), seconds / generated.len() as f64);
        metrics.insert("generation_tokens_per_s".to_owned(), tokens as f64 / seconds);
    }
    ctx.check_cancelled()?;
    if let Some(loss) = model.mean_loss(test_tokens, config.perplexity_windows) {
        metrics.insert("test_loss".to_owned(), loss);
        metrics.insert("perplexity".to_owned(), loss.exp());
    }
    Ok(summary)
}
