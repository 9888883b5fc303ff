//! Inference with a trained model: loading a model folder, prompts and
//! chats through its template, batched incremental decoding with a key/value
//! cache, sampling (temperature, top-p, seed) and stop sequences.

mod attend;
mod cpu;
mod generate;
mod panels;
mod pool;
mod sampling;

pub use cpu::{CpuDecoder, Item, SequenceCache};
pub use generate::{Batch, Finish, FinishReason, GenerationRequest, LoadedModel, TokenEvent};
pub use panels::WeightPrecision;
pub use pool::ModelPool;
pub use sampling::Sampler;

/// Why a model could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum InferError {
    #[error("cannot load the model in {dir}: {reason}")]
    Load { dir: String, reason: String },
    #[error("cannot tokenize the prompt: {0}")]
    Tokenize(String),
    #[error("the prompt has {tokens} tokens but the model's context is {context}; shorten it")]
    TooLong { tokens: usize, context: usize },
}
