//! The training loop, generic over burn's autodiff backends: AdamW with
//! warm-up and cosine decay, gradient clipping and accumulation,
//! validation loss and perplexity, step-level checkpoints and resumption,
//! cancellation between steps.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::grad_clipping::GradientClippingConfig;
use burn::module::AutodiffModule;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamWConfig, GradientsAccumulator, GradientsParams, Optimizer};
use burn::prelude::*;
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder, Recorder};
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
use crate::data::{Batches, TokenStream};
use crate::model::{AdapterRecords, Llama};
use crate::schedule::learning_rate;

/// Why training stopped without a model.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("training was cancelled at step {step}")]
    Cancelled { step: u64 },
    #[error("cannot {what} the checkpoint {path}: {reason}")]
    Checkpoint { what: &'static str, path: String, reason: String },
    #[error("the loss became {value} at step {step}; lower the learning rate or check the data")]
    Diverged { step: u64, value: f64 },
    #[error("{0}")]
    Data(String),
    /// Writing the trained model, or starting threads for it, failed: the
    /// machine's trouble (disk, memory), not the data's; worth retrying.
    #[error("{0}")]
    Resource(String),
}

/// One line of the metrics log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricRow {
    pub step: u64,
    /// Mean training loss of the step's micro-batches.
    pub loss: f64,
    pub learning_rate: f64,
    pub tokens_per_s: f64,
    /// Present on evaluation steps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation_loss: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation_perplexity: Option<f64>,
}

/// What a checkpoint remembers besides the weights and optimizer state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointState {
    /// Optimizer steps done.
    pub step: u64,
    /// [`TrainConfig::trajectory_digest`] of the run that wrote it.
    pub digest: String,
    pub history: Vec<MetricRow>,
}

/// Progress of one step, for the operator's reporting.
#[derive(Debug, Clone)]
pub struct StepReport<'a> {
    pub step: u64,
    pub total: u64,
    pub row: &'a MetricRow,
    pub eta_s: f64,
}

/// What the loop asks of its caller.
pub struct Hooks<'a> {
    pub on_step: &'a (dyn Fn(&StepReport<'_>) + Sync),
    pub is_cancelled: &'a (dyn Fn() -> bool + Sync),
    /// Called with the folder of each new checkpoint (to upload it).
    pub on_checkpoint: &'a (dyn Fn(u64, &Path) -> Result<(), TrainError> + Sync),
}

/// The data of a run.
pub struct Corpus {
    pub train: Box<dyn Batches>,
    pub validation: Box<dyn Batches>,
    pub vocab: usize,
}

impl Corpus {
    /// Pretraining data: token streams.
    pub fn tokens(train: TokenStream, validation: TokenStream, vocab: usize) -> Self {
        Self { train: Box::new(train), validation: Box::new(validation), vocab }
    }
}

/// Mean cross-entropy of `logits` `[n, vocab]` against `targets` `[n]`,
/// over the targets whose weight is 1 when weights are given.
fn loss_of<B: Backend>(logits: Tensor<B, 2>, targets: Tensor<B, 1, Int>, weights: Option<&[f32]>) -> Tensor<B, 1> {
    let device = logits.device();
    match weights {
        None => CrossEntropyLossConfig::new().init(&device).forward(logits, targets),
        Some(weights) => {
            let [n, _] = logits.dims();
            let picked =
                burn::tensor::activation::log_softmax(logits, 1).gather(1, targets.reshape([n, 1])).reshape([n]);
            let weights = Tensor::<B, 1>::from_floats(weights, &device);
            let count = weights.clone().sum().clamp_min(1.0);
            (picked * weights).sum().neg() / count
        }
    }
}

/// The loss of one micro-batch. With per-target weights (chats, where only
/// the answers count), only the positions of a non-zero weight go through
/// the output head and the cross-entropy: the same loss as weighting every
/// position, without the logits of the prompts and padding.
fn batch_loss<B: Backend>(
    model: &Llama<B>,
    data: &crate::data::Batch,
    (batch, context): (usize, usize),
    device: &B::Device,
) -> Tensor<B, 1> {
    let inputs = Tensor::<B, 1, Int>::from_ints(data.inputs.as_slice(), device).reshape([batch, context]);
    let hidden = model.hidden(inputs);
    let counted: Vec<usize> = match &data.weights {
        Some(weights) => (0..data.targets.len()).filter(|&i| weights.get(i).is_some_and(|w| *w != 0.0)).collect(),
        None => Vec::new(),
    };
    match &data.weights {
        Some(weights) if !counted.is_empty() => {
            let pick = |values: Vec<i64>| Tensor::<B, 1, Int>::from_ints(values.as_slice(), device);
            let rows = pick(counted.iter().map(|&i| i as i64).collect());
            let targets = pick(counted.iter().map(|&i| data.targets[i]).collect());
            let weights: Vec<f32> = counted.iter().map(|&i| weights[i]).collect();
            loss_of(model.head(hidden.select(0, rows)), targets, Some(&weights))
        }
        weights => {
            let targets = Tensor::<B, 1, Int>::from_ints(data.targets.as_slice(), device);
            loss_of(model.head(hidden), targets, weights.as_deref())
        }
    }
}

/// A finished run.
pub struct Trained<B: AutodiffBackend> {
    pub model: Llama<B::InnerBackend>,
    pub history: Vec<MetricRow>,
    /// Step the run started from (0, or the checkpoint's).
    pub resumed_from: u64,
}

type Checkpointer = NamedMpkFileRecorder<FullPrecisionSettings>;

static INIT: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// What one training run is given.
pub struct Job<'a> {
    pub config: &'a TrainConfig,
    pub seed: u64,
    /// [`TrainConfig::trajectory_digest`]: which checkpoints may be resumed.
    pub digest: &'a str,
    pub corpus: &'a Corpus,
    /// A checkpoint folder to continue from, when its digest matches.
    pub resume: Option<&'a Path>,
    /// A model folder (Hugging Face Llama layout) to start from.
    pub init: Option<&'a Path>,
    /// Where checkpoints are assembled before `on_checkpoint` takes them.
    pub scratch: &'a Path,
    /// Mixed precision: the dtype of the matrix products (`None`: the backend's own).
    pub matmul_dtype: Option<burn::tensor::DType>,
    pub hooks: &'a Hooks<'a>,
}

/// Trains from scratch (or from `init`), or from the checkpoint in `resume`
/// when its digest matches.
///
/// # Errors
/// Cancellation, divergence, or an unreadable or unwritable checkpoint.
pub fn train<B: AutodiffBackend>(job: &Job<'_>, device: &B::Device) -> Result<Trained<B>, TrainError> {
    let Job { config, seed, digest, corpus, resume, init, scratch, matmul_dtype, hooks } = *job;
    let size = &config.model;
    let mut model: Llama<B> = match init {
        Some(base) => crate::export::load_model::<B>(base, device).map_err(|e| TrainError::Data(e.to_string()))?.0,
        None => {
            // The backend's generator is shared by the process: seeding and
            // drawing the weights must not interleave with another training.
            let _guard = INIT.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            B::seed(device, seed);
            let model = Llama::new(size, corpus.vocab, device);
            // burn draws parameters lazily, on first use: use them all now.
            let _ = model.forward(Tensor::<B, 2, Int>::zeros([1, 2], device));
            model
        }
    };
    if let Some(lora) = &config.lora {
        let _guard = INIT.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        B::seed(device, seed);
        model = model.adapt(lora, device);
    }
    let mut model = model.with_matmul_dtype(matmul_dtype);
    let clip = (config.grad_clip > 0.0).then_some(GradientClippingConfig::Norm(config.grad_clip));
    let mut optimizer = AdamWConfig::new()
        .with_weight_decay(config.weight_decay)
        .with_beta_2(0.95)
        .with_epsilon(1e-8)
        .with_grad_clipping(clip)
        .init::<B, Llama<B>>();
    let recorder = Checkpointer::new();

    let mut start = 0;
    let mut history = Vec::new();
    if let Some(dir) = resume {
        let state: CheckpointState = read_state(dir)?;
        if state.digest == digest {
            let fail =
                |reason: String| TrainError::Checkpoint { what: "load", path: dir.display().to_string(), reason };
            model = if config.lora.is_some() {
                let records: AdapterRecords<B> =
                    recorder.load(dir.join(ADAPTERS), device).map_err(|e| fail(e.to_string()))?;
                model.with_adapter_records(records).map_err(fail)?
            } else {
                model.load_file(dir.join(MODEL), &recorder, device).map_err(|e| fail(e.to_string()))?
            };
            let record = recorder.load(dir.join("optimizer"), device).map_err(|e| TrainError::Checkpoint {
                what: "load",
                path: dir.display().to_string(),
                reason: e.to_string(),
            })?;
            optimizer = optimizer.load_record(record);
            start = state.step;
            history = state.history;
        }
    }
    let resumed_from = start;

    let (batch, context) = (config.batch_size, config.sequence_length().min(size.context));
    let accum = config.grad_accumulation.max(1);
    let started = Instant::now();
    for step in start..config.steps {
        if (hooks.is_cancelled)() {
            return Err(TrainError::Cancelled { step });
        }
        let step_started = Instant::now();
        let lr = learning_rate(step, config.steps, config.learning_rate, config.warmup_steps, config.min_lr_ratio);
        let mut accumulator = GradientsAccumulator::<Llama<B>>::new();
        let mut loss_sum = 0.0;
        for micro in 0..accum {
            let index = step * accum as u64 + micro as u64;
            let data = corpus.train.batch(index, seed, batch, context);
            let loss = batch_loss(&model, &data, (batch, context), device);
            let value: f64 = loss.clone().into_scalar().elem();
            if !value.is_finite() {
                return Err(TrainError::Diverged { step, value });
            }
            loss_sum += value;
            let grads = (loss / accum as f32).backward();
            accumulator.accumulate(&model, GradientsParams::from_grads(grads, &model));
        }
        model = optimizer.step(lr, model, accumulator.grads());
        let done = step + 1;
        let seconds = step_started.elapsed().as_secs_f64().max(1e-9);
        let mut row = MetricRow {
            step: done,
            loss: loss_sum / accum as f64,
            learning_rate: lr,
            tokens_per_s: (batch * context * accum) as f64 / seconds,
            validation_loss: None,
            validation_perplexity: None,
        };
        if done % config.eval_every.max(1) == 0 || done == config.steps {
            let validation = evaluate(&model.valid(), corpus, seed, batch, context, config.eval_batches);
            row.validation_loss = validation;
            row.validation_perplexity = validation.map(f64::exp);
        }
        let per_step = started.elapsed().as_secs_f64() / (done - resumed_from) as f64;
        (hooks.on_step)(&StepReport {
            step: done,
            total: config.steps,
            row: &row,
            eta_s: per_step * (config.steps - done) as f64,
        });
        history.push(row);
        if done % config.checkpoint_every.max(1) == 0 || done == config.steps {
            let dir = scratch.join(format!("checkpoint-{done:08}"));
            save_checkpoint(
                &dir,
                &model,
                config.lora.is_some(),
                &optimizer,
                &CheckpointState { step: done, digest: digest.to_owned(), history: history.clone() },
            )?;
            (hooks.on_checkpoint)(done, &dir)?;
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    Ok(Trained { model: model.valid(), history, resumed_from })
}

/// Mean cross-entropy over `batches` validation micro-batches; none without validation data.
fn evaluate<B: Backend>(
    model: &Llama<B>,
    corpus: &Corpus,
    seed: u64,
    batch: usize,
    context: usize,
    batches: usize,
) -> Option<f64> {
    if !corpus.validation.usable(context) || batches == 0 {
        return None;
    }
    let device = model.devices().into_iter().next()?;
    let mut total = 0.0;
    for i in 0..batches {
        // Fixed windows: every evaluation scores the same text.
        let data = corpus.validation.batch(u64::MAX - i as u64, seed, batch, context);
        let value: f64 = batch_loss(model, &data, (batch, context), &device).into_scalar().elem();
        total += value;
    }
    Some(total / batches as f64)
}

/// Writes a checkpoint: with LoRA only the adapters, whose base is the
/// task's `init` and never changes; otherwise the whole model.
fn save_checkpoint<B: AutodiffBackend, O: Optimizer<Llama<B>, B>>(
    dir: &Path,
    model: &Llama<B>,
    adapters_only: bool,
    optimizer: &O,
    state: &CheckpointState,
) -> Result<(), TrainError> {
    let fail = |reason: String| TrainError::Checkpoint { what: "write", path: dir.display().to_string(), reason };
    std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
    let recorder = Checkpointer::new();
    if adapters_only {
        recorder.record(model.adapter_records(), dir.join(ADAPTERS)).map_err(|e| fail(e.to_string()))?;
    } else {
        model.clone().save_file(dir.join(MODEL), &recorder).map_err(|e| fail(e.to_string()))?;
    }
    recorder.record(optimizer.to_record(), dir.join("optimizer")).map_err(|e| fail(e.to_string()))?;
    let text = serde_json::to_vec_pretty(state).map_err(|e| fail(e.to_string()))?;
    std::fs::write(dir.join("state.json"), text).map_err(|e| fail(e.to_string()))
}

/// The state file of a checkpoint folder.
///
/// # Errors
/// When it is missing or corrupt.
pub fn read_state(dir: &Path) -> Result<CheckpointState, TrainError> {
    let path: PathBuf = dir.join("state.json");
    let fail = |reason: String| TrainError::Checkpoint { what: "read", path: path.display().to_string(), reason };
    let bytes = std::fs::read(&path).map_err(|e| fail(e.to_string()))?;
    serde_json::from_slice(&bytes).map_err(|e| fail(e.to_string()))
}

/// The weights of a checkpoint of a whole model, and of a LoRA fine-tune's adapters.
const MODEL: &str = "model";
const ADAPTERS: &str = "adapters";

/// The files of a checkpoint folder: a LoRA fine-tune's keeps its adapters
/// (`adapters.mpk`), any other training the whole model (`model.mpk`).
pub fn checkpoint_files(adapters_only: bool) -> [&'static str; 3] {
    let weights = if adapters_only { "adapters.mpk" } else { "model.mpk" };
    [weights, "optimizer.mpk", "state.json"]
}

#[cfg(test)]
mod tests {
    use super::*;

    type Cpu = burn::backend::NdArray<f32>;

    #[test]
    fn weighted_loss_counts_only_the_weighted_targets() {
        let device = Default::default();
        let logits = Tensor::<Cpu, 2>::from_floats([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [-1.0, 3.0, 0.0]], &device);
        let targets = Tensor::<Cpu, 1, Int>::from_ints([0, 2, 1], &device);
        let plain: f32 = loss_of(logits.clone(), targets.clone(), None).into_scalar();
        let all: f32 = loss_of(logits.clone(), targets.clone(), Some(&[1.0, 1.0, 1.0])).into_scalar();
        assert!((plain - all).abs() < 1e-6, "{plain} vs {all}");
        let middle: f32 = loss_of(logits.clone(), targets.clone(), Some(&[0.0, 1.0, 0.0])).into_scalar();
        let only_middle: f32 =
            loss_of(logits.slice([1..2, 0..3]), Tensor::<Cpu, 1, Int>::from_ints([2], &device), None).into_scalar();
        assert!((middle - only_middle).abs() < 1e-6, "{middle} vs {only_middle}");
    }

    #[test]
    fn only_the_counted_positions_reach_the_head_and_the_loss_is_the_same() {
        let device = Default::default();
        <Cpu as Backend>::seed(&device, 7);
        let size = crate::ModelSize { layers: 1, d_model: 16, heads: 2, context: 8, ..crate::ModelSize::default() };
        let model = Llama::<Cpu>::new(&size, 12, &device);
        let (batch, context) = (2, 4);
        let inputs = vec![1, 2, 3, 4, 5, 6, 7, 8];
        let targets = vec![2, 3, 4, 5, 6, 7, 8, 9];
        let weights = vec![0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0];
        let data =
            crate::data::Batch { inputs: inputs.clone(), targets: targets.clone(), weights: Some(weights.clone()) };
        let picked: f32 = batch_loss(&model, &data, (batch, context), &device).into_scalar();
        // Every position through the head, weighted: the loss as it was computed before.
        let tokens = Tensor::<Cpu, 1, Int>::from_ints(inputs.as_slice(), &device).reshape([batch, context]);
        let logits = model.forward(tokens).reshape([batch * context, 12]);
        let all: f32 = loss_of(logits, Tensor::<Cpu, 1, Int>::from_ints(targets.as_slice(), &device), Some(&weights))
            .into_scalar();
        assert!((picked - all).abs() < 1e-5, "{picked} vs {all}");
        let none = crate::data::Batch { inputs, targets, weights: Some(vec![0.0; 8]) };
        let zero: f32 = batch_loss(&model, &none, (batch, context), &device).into_scalar();
        assert_eq!(zero, 0.0, "nothing counted, nothing learned");
    }
}
