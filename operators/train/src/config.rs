//! Config of the `train` operator.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::{LoraConfig, ModelSize};

/// What the run trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// From scratch on the dataset's token shards.
    Pretrain,
    /// Supervised fine-tuning of `base` (or `base_path`) on the dataset's
    /// SFT chats, with the loss on the assistant's tokens only.
    Finetune,
}

/// Where the computation runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Device {
    /// CUDA when this build has it and a driver is present, else the CPU.
    Auto,
    Cpu,
    /// An NVIDIA GPU through burn-cuda (needs a build with `--features hangar-train/cuda`).
    Cuda,
}

/// Precision of the matrix products.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// Everything in fp32.
    Fp32,
    /// Mixed precision on CUDA: matrix products in bf16 (tensor cores);
    /// weights, optimizer state, norms, softmax and the loss in fp32. On a
    /// CPU the run stays in fp32.
    Bf16,
}

/// Config of `train`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// The dataset: `${{ tasks.ID.outputs.dataset }}`.
    pub dataset: String,
    /// Its tokenizer: `${{ tasks.ID.outputs.tokenizer }}`.
    pub tokenizer: String,
    /// `pretrain` (the default) or `finetune`.
    #[serde(default = "default_mode")]
    pub mode: Mode,
    /// For `finetune`: the model to start from, `${{ tasks.ID.outputs.model }}`,
    /// or a registered model: `NAME`, `NAME@VERSION` or `NAME:ALIAS`.
    #[serde(default)]
    pub base: Option<String>,
    /// For `finetune`: a Hugging Face Llama-style checkpoint folder
    /// (`config.json` and `*.safetensors`) to start from instead: a local
    /// folder for the machine's owner, else an upload or `data://NAME/…`.
    #[serde(default)]
    pub base_path: Option<hangar_sdk::InputPath>,
    /// Sizes of a model trained from scratch (a fine-tuned model keeps its base's).
    #[serde(default)]
    pub model: ModelSize,
    /// For `finetune`: freeze the base and train low-rank adapters instead
    /// (merged into the weights of the exported model).
    #[serde(default)]
    pub lora: Option<LoraConfig>,
    /// Tokens per training sequence. Default: the model's context when
    /// pretraining; for fine-tuning, the base's context but at most 512
    /// (SFT chats are short, and a base like SmolLM2 has a context of 8192).
    /// The exported model keeps its full context either way.
    #[serde(default)]
    pub seq: Option<usize>,
    /// For `finetune`: fill each training sequence with as many SFT chats
    /// as fit, one after another, instead of one chat padded to `seq`. Most
    /// chats are far shorter than a sequence, so a step then learns from
    /// several times more answers for the same compute.
    #[serde(default)]
    pub packing: bool,
    /// Optimizer steps.
    #[serde(default = "default_steps")]
    pub steps: u64,
    /// Sequences per micro-batch.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Micro-batches per optimizer step (gradient accumulation).
    #[serde(default = "default_one")]
    pub grad_accumulation: usize,
    /// Peak learning rate.
    #[serde(default = "default_learning_rate")]
    pub learning_rate: f64,
    /// Learning rate at the end of the cosine decay, as a share of the peak.
    #[serde(default = "default_min_lr_ratio")]
    pub min_lr_ratio: f64,
    /// Steps of linear warm-up.
    #[serde(default = "default_warmup")]
    pub warmup_steps: u64,
    /// AdamW's decoupled weight decay.
    #[serde(default = "default_weight_decay")]
    pub weight_decay: f32,
    /// Gradients are clipped to this global norm (0 turns clipping off).
    #[serde(default = "default_grad_clip")]
    pub grad_clip: f32,
    /// Validation loss and perplexity every this many steps (and at the end).
    #[serde(default = "default_eval_every")]
    pub eval_every: u64,
    /// Micro-batches of the validation split per evaluation.
    #[serde(default = "default_eval_batches")]
    pub eval_batches: usize,
    /// A checkpoint every this many steps (and at the end); a retried or
    /// resumed task continues from the latest.
    #[serde(default = "default_checkpoint_every")]
    pub checkpoint_every: u64,
    /// Seed of initialisation and batch sampling (default: the task's seed).
    #[serde(default)]
    pub seed: Option<u64>,
    /// `auto` (default), `cpu` or `cuda`.
    #[serde(default = "default_device")]
    pub device: Device,
    /// `fp32` (default) or `bf16` (mixed precision on CUDA).
    #[serde(default = "default_precision")]
    pub precision: Precision,
    /// Compute threads on the CPU (default: all cores).
    #[serde(default)]
    pub threads: Option<usize>,
    /// Log a line every this many steps (progress is reported every step).
    #[serde(default = "default_log_every")]
    pub log_every: u64,
}

impl TrainConfig {
    /// Tokens per training sequence (see `seq`).
    pub fn sequence_length(&self) -> usize {
        let default = match self.mode {
            Mode::Pretrain => self.model.context,
            Mode::Finetune => self.model.context.min(512),
        };
        self.seq.unwrap_or(default).clamp(1, self.model.context.max(1))
    }
}

fn default_precision() -> Precision {
    Precision::Fp32
}
fn default_device() -> Device {
    Device::Auto
}
fn default_mode() -> Mode {
    Mode::Pretrain
}
fn default_steps() -> u64 {
    200
}
fn default_batch_size() -> usize {
    8
}
fn default_one() -> usize {
    1
}
fn default_learning_rate() -> f64 {
    1e-3
}
fn default_min_lr_ratio() -> f64 {
    0.1
}
fn default_warmup() -> u64 {
    20
}
fn default_weight_decay() -> f32 {
    0.1
}
fn default_grad_clip() -> f32 {
    1.0
}
fn default_eval_every() -> u64 {
    50
}
fn default_eval_batches() -> usize {
    4
}
fn default_checkpoint_every() -> u64 {
    50
}
fn default_log_every() -> u64 {
    10
}

impl TrainConfig {
    /// A digest of everything that shapes the training trajectory, so that
    /// a checkpoint is only resumed by the same configuration.
    pub fn trajectory_digest(&self, seed: u64, dataset_digest: &str) -> String {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        if let Some(map) = value.as_object_mut() {
            // Where the inputs live and how many threads compute do not change the result.
            map.remove("dataset");
            map.remove("tokenizer");
            map.remove("base");
            map.remove("threads");
            map.remove("device");
            map.remove("log_every");
        }
        let text = format!("{value}|{seed}|{dataset_digest}");
        format!("blake3:{}", blake3::hash(text.as_bytes()).to_hex())
    }
}
