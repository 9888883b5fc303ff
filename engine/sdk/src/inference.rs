//! Serving a registered model: what the API asks of whoever runs the
//! models (the binary wires the training crate's model pool here), so that
//! neither side depends on the other.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::ModelVersion;

/// One message of a chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

/// What to continue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prompt {
    /// Plain text, continued as is.
    Text(String),
    /// A chat, rendered with the model's chat template; the assistant answers.
    Chat(Vec<ChatMessage>),
}

/// One generation.
#[derive(Debug, Clone, PartialEq)]
pub struct InferenceRequest {
    pub prompt: Prompt,
    pub max_tokens: usize,
    /// 0 is greedy.
    pub temperature: f32,
    pub top_p: f32,
    /// Generation ends before the first of these.
    pub stop: Vec<String>,
    pub seed: u64,
    /// A chat longer than the model's context loses its oldest turns (system
    /// messages and the last message stay) instead of being refused.
    pub fit_context: bool,
}

/// How a generation ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InferenceDone {
    /// `stop` or `length`.
    pub finish_reason: String,
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
    /// From the request's arrival to its first text, seconds.
    pub first_token_s: Option<f64>,
    /// From arrival to the end, seconds.
    pub total_s: f64,
    /// Messages of the chat left out to fit the context (with `fit_context`).
    pub dropped_messages: usize,
}

/// What a running generation reports, in order: text pieces, then one end.
#[derive(Debug, Clone, PartialEq)]
pub enum InferenceEvent {
    Text(String),
    Done(InferenceDone),
    Failed(String),
}

/// Why a generation could not start.
#[derive(Debug, thiserror::Error)]
pub enum InferenceError {
    #[error("{0}")]
    Invalid(String),
    #[error("cannot load model {model}: {reason}")]
    Load { model: String, reason: String },
    #[error("{model} has {waiting} requests waiting already; try again shortly")]
    Busy { model: String, waiting: usize },
}

/// Runs registered models.
#[async_trait]
pub trait Inference: Send + Sync {
    /// Starts generating with `model` (loading it first if needed); the
    /// events arrive on the returned channel.
    async fn start(
        &self,
        model: &ModelVersion,
        request: InferenceRequest,
    ) -> Result<UnboundedReceiver<InferenceEvent>, InferenceError>;
}
