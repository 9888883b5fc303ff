//! Text generation with registered models: Hangar's own route
//! (`POST /api/v1/models/{model}/generate`) and the OpenAI-compatible
//! `POST /v1/completions` and `POST /v1/chat/completions`, with
//! `stream: true` as Server-Sent Events. A model is named `name`,
//! `name@version` or `name:alias`; the alias is resolved per request, so
//! moving it switches new requests to the new version at once.

use std::convert::Infallible;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt, stream};
use hangar_sdk::{ChatMessage, InferenceDone, InferenceEvent, InferenceRequest, ModelRef, ModelVersion, Prompt};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedReceiver;
use utoipa::ToSchema;

use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiJson, ApiPath, ApiResult};
use crate::state::AppState;

const MAX_TOKENS_LIMIT: usize = 4096;

/// `stop` as a string or a list of strings.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

impl Stop {
    fn into_vec(self) -> Vec<String> {
        match self {
            Stop::One(s) => vec![s],
            Stop::Many(v) => v,
        }
    }
}

/// Sampling settings shared by every generation route.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct Sampling {
    /// Tokens to generate at most (default 64, at most 4096).
    pub max_tokens: Option<usize>,
    /// 0 is greedy (default 1.0, at most 2).
    pub temperature: Option<f32>,
    /// Nucleus sampling mass (default 1.0).
    pub top_p: Option<f32>,
    pub stop: Option<Stop>,
    /// Same seed, same model, same request: same text.
    pub seed: Option<u64>,
    /// Send Server-Sent Events as the text is generated.
    #[serde(default)]
    pub stream: bool,
}

impl Sampling {
    fn request(self, prompt: Prompt) -> ApiResult<(InferenceRequest, bool)> {
        let max_tokens = self.max_tokens.unwrap_or(64);
        if max_tokens == 0 || max_tokens > MAX_TOKENS_LIMIT {
            return Err(ApiError::invalid(format!("max_tokens must be between 1 and {MAX_TOKENS_LIMIT}")));
        }
        let temperature = self.temperature.unwrap_or(1.0);
        if !(0.0..=2.0).contains(&temperature) {
            return Err(ApiError::invalid("temperature must be between 0 and 2"));
        }
        let top_p = self.top_p.unwrap_or(1.0);
        if !(top_p > 0.0 && top_p <= 1.0) {
            return Err(ApiError::invalid("top_p must be above 0 and at most 1"));
        }
        let stop = self.stop.map(Stop::into_vec).unwrap_or_default();
        if stop.len() > 4 {
            return Err(ApiError::invalid("give at most 4 stop sequences"));
        }
        let seed = self.seed.unwrap_or_else(|| uuid::Uuid::new_v4().as_u64_pair().0);
        Ok((InferenceRequest { prompt, max_tokens, temperature, top_p, stop, seed }, self.stream))
    }
}

/// The version a model reference names now.
async fn resolve(state: &AppState, reference: &str) -> ApiResult<ModelVersion> {
    let parsed = ModelRef::parse(reference).map_err(|e| ApiError::invalid(e.to_string()))?;
    state.store().resolve_model(&parsed).await?.ok_or_else(|| {
        ApiError::not_found(format!("no model {parsed}; list the registered ones with GET /api/v1/models"))
    })
}

/// Starts a generation; the model's key (`name@version`) and its events.
async fn start(
    state: &AppState,
    reference: &str,
    request: InferenceRequest,
) -> ApiResult<(String, UnboundedReceiver<InferenceEvent>)> {
    let Some(inference) = state.inference.get() else {
        return Err(ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "this server does not serve models; start it with `hangar serve` (inference is on by default)",
        ));
    };
    let model = resolve(state, reference).await?;
    let key = format!("{}@{}", model.name, model.version);
    let events = inference.start(&model, request).await.map_err(|e| match e {
        hangar_sdk::InferenceError::Invalid(message) => ApiError::invalid(message),
        busy @ hangar_sdk::InferenceError::Busy { .. } => {
            ApiError::new(axum::http::StatusCode::SERVICE_UNAVAILABLE, "busy", busy.to_string())
        }
        other => ApiError::internal("load the model", &other),
    })?;
    Ok((key, events))
}

/// The whole text of a generation that is not streamed.
async fn collect(
    state: &AppState,
    key: &str,
    mut events: UnboundedReceiver<InferenceEvent>,
) -> ApiResult<(String, InferenceDone)> {
    let mut text = String::new();
    while let Some(event) = events.recv().await {
        match event {
            InferenceEvent::Text(piece) => text.push_str(&piece),
            InferenceEvent::Done(done) => {
                state.metrics.observe_generation(key, &done);
                return Ok((text, done));
            }
            InferenceEvent::Failed(reason) => return Err(ApiError::internal("generate", &reason)),
        }
    }
    Err(ApiError::internal("generate", &"the model stopped without finishing"))
}

fn usage(done: &InferenceDone) -> Value {
    json!({
        "prompt_tokens": done.prompt_tokens,
        "completion_tokens": done.completion_tokens,
        "total_tokens": done.prompt_tokens + done.completion_tokens,
    })
}

fn now_s() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// SSE of a generation: `render` turns each text piece or the end into
/// `data:` payloads; `[DONE]` closes the stream as OpenAI clients expect.
fn sse(
    state: AppState,
    key: String,
    events: UnboundedReceiver<InferenceEvent>,
    render: impl Fn(Option<&str>, Option<&InferenceDone>) -> Value + Send + Sync + 'static,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let render = std::sync::Arc::new(render);
    let stream = stream::unfold(Some(events), move |events| {
        let state = state.clone();
        let key = key.clone();
        let render = render.clone();
        async move {
            let mut events = events?;
            let out = match events.recv().await {
                Some(InferenceEvent::Text(piece)) => {
                    vec![Event::default().data(render(Some(&piece), None).to_string())]
                }
                Some(InferenceEvent::Done(done)) => {
                    state.metrics.observe_generation(&key, &done);
                    let last = Event::default().data(render(None, Some(&done)).to_string());
                    return Some((vec![last, Event::default().data("[DONE]")], None));
                }
                Some(InferenceEvent::Failed(reason)) => {
                    let error = json!({"error": {"code": "internal", "message": reason}});
                    return Some((vec![Event::default().event("error").data(error.to_string())], None));
                }
                None => return None,
            };
            Some((out, Some(events)))
        }
    })
    .flat_map(|events| stream::iter(events.into_iter().map(Ok)));
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// A generation request of Hangar's own route: a prompt or a chat.
#[derive(Debug, Deserialize, ToSchema)]
pub struct GenerateRequest {
    pub prompt: Option<String>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub messages: Option<Vec<ChatMessage>>,
    #[serde(flatten)]
    pub sampling: Sampling,
}

/// What a generation produced.
#[derive(Debug, Serialize, ToSchema)]
pub struct GenerateResponse {
    /// `name@version` that answered.
    pub model: String,
    pub text: String,
    /// `stop` or `length`.
    pub finish_reason: String,
    #[schema(value_type = Object)]
    pub usage: Value,
}

fn prompt_of(prompt: Option<String>, messages: Option<Vec<ChatMessage>>) -> ApiResult<Prompt> {
    match (prompt, messages) {
        (Some(text), None) => Ok(Prompt::Text(text)),
        (None, Some(messages)) if !messages.is_empty() => Ok(Prompt::Chat(messages)),
        _ => Err(ApiError::invalid("give either `prompt` (text) or `messages` (a chat)")),
    }
}

/// Generates text with a registered model; `stream: true` sends `data:` events.
#[utoipa::path(post, path = "/models/{model}/generate", tag = "models", security(("bearer" = [])),
    params(("model" = String, Path, description = "NAME, NAME@VERSION or NAME:ALIAS")),
    request_body = GenerateRequest,
    responses((status = 200, body = GenerateResponse), (status = 404, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody), (status = 503, body = crate::error::ErrorBody)))]
pub async fn generate(
    State(state): State<AppState>,
    _user: CurrentUser,
    ApiPath(model): ApiPath<String>,
    ApiJson(body): ApiJson<GenerateRequest>,
) -> ApiResult<Response> {
    let (request, streaming) = body.sampling.request(prompt_of(body.prompt, body.messages)?)?;
    let (key, events) = start(&state, &model, request).await?;
    if streaming {
        let model = key.clone();
        return Ok(sse(state, key, events, move |piece, done| match (piece, done) {
            (Some(text), _) => json!({"model": model, "text": text}),
            (None, Some(done)) => json!({"model": model, "finish_reason": done.finish_reason, "usage": usage(done)}),
            (None, None) => json!({}),
        })
        .into_response());
    }
    let (text, done) = collect(&state, &key, events).await?;
    Ok(Json(GenerateResponse { model: key, text, finish_reason: done.finish_reason.clone(), usage: usage(&done) })
        .into_response())
}

/// `prompt` of the OpenAI completions API: a string or a list of one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum CompletionPrompt {
    One(String),
    Many(Vec<String>),
}

/// OpenAI's `POST /v1/completions` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CompletionRequest {
    /// NAME, NAME@VERSION or NAME:ALIAS.
    pub model: String,
    pub prompt: CompletionPrompt,
    #[serde(flatten)]
    pub sampling: Sampling,
}

/// OpenAI-compatible text completion.
#[utoipa::path(post, path = "/v1/completions", tag = "models", security(("bearer" = [])),
    request_body = CompletionRequest,
    responses((status = 200, body = Object), (status = 404, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)))]
pub async fn completions(
    State(state): State<AppState>,
    _user: CurrentUser,
    ApiJson(body): ApiJson<CompletionRequest>,
) -> ApiResult<Response> {
    let prompt = match body.prompt {
        CompletionPrompt::One(text) => text,
        CompletionPrompt::Many(mut texts) if texts.len() == 1 => texts.remove(0),
        CompletionPrompt::Many(_) => return Err(ApiError::invalid("give one prompt per request")),
    };
    let (request, streaming) = body.sampling.request(Prompt::Text(prompt))?;
    let (key, events) = start(&state, &body.model, request).await?;
    let id = format!("cmpl-{}", uuid::Uuid::now_v7().simple());
    let created = now_s();
    if streaming {
        let model = key.clone();
        return Ok(sse(state, key, events, move |piece, done| {
            json!({
                "id": id, "object": "text_completion", "created": created, "model": model,
                "choices": [{"index": 0, "text": piece.unwrap_or_default(), "logprobs": null,
                             "finish_reason": done.map(|d| d.finish_reason.clone())}],
            })
        })
        .into_response());
    }
    let (text, done) = collect(&state, &key, events).await?;
    Ok(Json(json!({
        "id": id, "object": "text_completion", "created": created, "model": key,
        "choices": [{"index": 0, "text": text, "logprobs": null, "finish_reason": done.finish_reason}],
        "usage": usage(&done),
    }))
    .into_response())
}

/// OpenAI's `POST /v1/chat/completions` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ChatRequest {
    /// NAME, NAME@VERSION or NAME:ALIAS.
    pub model: String,
    #[schema(value_type = Vec<Object>)]
    pub messages: Vec<ChatMessage>,
    #[serde(flatten)]
    pub sampling: Sampling,
}

/// OpenAI-compatible chat completion.
#[utoipa::path(post, path = "/v1/chat/completions", tag = "models", security(("bearer" = [])),
    request_body = ChatRequest,
    responses((status = 200, body = Object), (status = 404, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)))]
pub async fn chat_completions(
    State(state): State<AppState>,
    _user: CurrentUser,
    ApiJson(body): ApiJson<ChatRequest>,
) -> ApiResult<Response> {
    if body.messages.is_empty() {
        return Err(ApiError::invalid("messages is empty; send at least one {\"role\": \"user\", \"content\": ...}"));
    }
    let (request, streaming) = body.sampling.request(Prompt::Chat(body.messages))?;
    let (key, events) = start(&state, &body.model, request).await?;
    let id = format!("chatcmpl-{}", uuid::Uuid::now_v7().simple());
    let created = now_s();
    if streaming {
        let model = key.clone();
        let first = std::sync::atomic::AtomicBool::new(true);
        return Ok(sse(state, key, events, move |piece, done| {
            let mut delta = serde_json::Map::new();
            if first.swap(false, std::sync::atomic::Ordering::SeqCst) {
                delta.insert("role".into(), "assistant".into());
            }
            if let Some(text) = piece {
                delta.insert("content".into(), text.into());
            }
            json!({
                "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": done.map(|d| d.finish_reason.clone())}],
            })
        })
        .into_response());
    }
    let (text, done) = collect(&state, &key, events).await?;
    Ok(Json(json!({
        "id": id, "object": "chat.completion", "created": created, "model": key,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": done.finish_reason}],
        "usage": usage(&done),
    }))
    .into_response())
}
