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
    pub max_tokens: Option<i64>,
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
    /// `{"include_usage": true}`: a last streamed chunk carries the token usage.
    pub stream_options: Option<StreamOptions>,
    /// Completions to generate for the prompt (default 1, at most 8; not with `stream`).
    pub n: Option<i64>,
}

/// OpenAI's `stream_options`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: bool,
}

const MAX_CHOICES: i64 = 8;

impl Sampling {
    /// How many choices, checked; and whether usage ends a stream.
    fn choices(&self) -> ApiResult<usize> {
        match self.n.unwrap_or(1) {
            1 => Ok(1),
            n @ 2..=MAX_CHOICES if !self.stream => Ok(n as usize),
            2..=MAX_CHOICES => Err(ApiError::invalid(
                "n > 1 is not supported with stream: true; stream one choice per request, or drop stream",
            )),
            _ => Err(ApiError::invalid(format!("n must be between 1 and {MAX_CHOICES}"))),
        }
    }

    fn include_usage(&self) -> bool {
        self.stream_options.as_ref().is_some_and(|o| o.include_usage)
    }
}

impl Sampling {
    fn request(self, prompt: Prompt) -> ApiResult<(InferenceRequest, bool)> {
        let max_tokens = match self.max_tokens.unwrap_or(64) {
            n @ 1.. if n as u64 <= MAX_TOKENS_LIMIT as u64 => n as usize,
            // Zero, negative and too large all get the same answer.
            _ => return Err(ApiError::invalid(format!("max_tokens must be between 1 and {MAX_TOKENS_LIMIT}"))),
        };
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
        Ok((InferenceRequest { prompt, max_tokens, temperature, top_p, stop, seed, fit_context: false }, self.stream))
    }
}

/// The version a model reference names now.
async fn resolve(state: &AppState, reference: &str) -> ApiResult<ModelVersion> {
    let parsed = ModelRef::parse(reference).map_err(|e| ApiError::invalid(e.to_string()))?;
    state.store().resolve_model(&parsed).await?.ok_or_else(|| {
        ApiError::not_found(format!("no model {parsed}; list the registered ones with GET /api/v1/models")).in_console(
            format!("There is no model {parsed}."),
            "/models",
            "See the registered models",
        )
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

/// `n` generations of one request, each with its own seed (the request's,
/// then the next ones), run side by side; their texts and ends in order.
async fn collect_choices(
    state: &AppState,
    reference: &str,
    request: InferenceRequest,
    n: usize,
) -> ApiResult<(String, Vec<(String, InferenceDone)>)> {
    let mut started = Vec::with_capacity(n);
    for i in 0..n {
        let mut one = request.clone();
        one.seed = request.seed.wrapping_add(i as u64);
        started.push(start(state, reference, one).await?);
    }
    let key = started.first().map(|(key, _)| key.clone()).unwrap_or_default();
    let results = futures::future::join_all(
        started.into_iter().map(|(key, events)| async move { collect(state, &key, events).await }),
    )
    .await;
    Ok((key, results.into_iter().collect::<ApiResult<Vec<_>>>()?))
}

/// Usage of several choices of one prompt: the prompt counts once.
fn usage_of_choices(choices: &[(String, InferenceDone)]) -> Value {
    let prompt = choices.first().map_or(0, |(_, d)| d.prompt_tokens);
    let completion: usize = choices.iter().map(|(_, d)| d.completion_tokens).sum();
    json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion})
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
    sse_with_usage(state, key, events, render, None)
}

/// With `stream_options.include_usage`: the `id`, `object`, `created` and
/// `model` of the stream's chunks, for a last chunk that carries the usage.
fn usage_header(include: bool, id: &str, object: &str, created: u64, model: &str) -> Option<Value> {
    include.then(|| json!({"id": id, "object": object, "created": created, "model": model}))
}

fn sse_with_usage(
    state: AppState,
    key: String,
    events: UnboundedReceiver<InferenceEvent>,
    render: impl Fn(Option<&str>, Option<&InferenceDone>) -> Value + Send + Sync + 'static,
    usage_header: Option<Value>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let render = std::sync::Arc::new(render);
    let usage_header = std::sync::Arc::new(usage_header);
    let stream = stream::unfold(Some(events), move |events| {
        let state = state.clone();
        let key = key.clone();
        let render = render.clone();
        let usage_header = usage_header.clone();
        async move {
            let mut events = events?;
            let out = match events.recv().await {
                Some(InferenceEvent::Text(piece)) => {
                    vec![Event::default().data(render(Some(&piece), None).to_string())]
                }
                Some(InferenceEvent::Done(done)) => {
                    state.metrics.observe_generation(&key, &done);
                    let mut last = vec![Event::default().data(render(None, Some(&done)).to_string())];
                    if let Some(header) = usage_header.as_ref() {
                        let mut chunk = header.clone();
                        chunk["choices"] = json!([]);
                        chunk["usage"] = usage(&done);
                        last.push(Event::default().data(chunk.to_string()));
                    }
                    last.push(Event::default().data("[DONE]"));
                    return Some((last, None));
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
    let n = body.sampling.choices()?;
    let include_usage = body.sampling.include_usage();
    let (request, streaming) = body.sampling.request(Prompt::Text(prompt))?;
    let id = format!("cmpl-{}", uuid::Uuid::now_v7().simple());
    let created = now_s();
    if streaming {
        let (key, events) = start(&state, &body.model, request).await?;
        let model = key.clone();
        let usage_chunk = usage_header(include_usage, &id, "text_completion", created, &model);
        return Ok(sse_with_usage(
            state,
            key,
            events,
            move |piece, done| {
                let mut chunk = json!({
                    "id": id, "object": "text_completion", "created": created, "model": model,
                    "choices": [{"index": 0, "text": piece.unwrap_or_default(), "logprobs": null,
                                 "finish_reason": done.map(|d| d.finish_reason.clone())}],
                });
                if include_usage {
                    chunk["usage"] = Value::Null;
                }
                chunk
            },
            usage_chunk,
        )
        .into_response());
    }
    let (key, choices) = collect_choices(&state, &body.model, request, n).await?;
    let listed: Vec<Value> = choices
        .iter()
        .enumerate()
        .map(|(index, (text, done))| json!({"index": index, "text": text, "logprobs": null, "finish_reason": done.finish_reason}))
        .collect();
    Ok(Json(json!({
        "id": id, "object": "text_completion", "created": created, "model": key,
        "choices": listed,
        "usage": usage_of_choices(&choices),
    }))
    .into_response())
}

/// OpenAI's `POST /v1/chat/completions` body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ChatRequest {
    /// NAME, NAME@VERSION or NAME:ALIAS.
    pub model: String,
    #[schema(value_type = Vec<Object>)]
    pub messages: Vec<OpenAiMessage>,
    /// Hangar's extension, as OpenAI's Responses API spells it: `"auto"`
    /// leaves out the oldest turns of a chat longer than the model's context
    /// (the reply says how many in `dropped_messages`); `"disabled"`, the
    /// default, refuses it.
    pub truncation: Option<String>,
    #[serde(flatten)]
    pub sampling: Sampling,
}

/// A chat message as OpenAI clients send it: `content` is a string, a list
/// of parts (`{"type": "text", "text": ...}`) or null.
#[derive(Debug, Deserialize)]
pub struct OpenAiMessage {
    pub role: String,
    #[serde(default)]
    pub content: Option<MessageContent>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum MessageContent {
    Text(String),
    Parts(Vec<ContentPart>),
}

#[derive(Debug, Deserialize)]
pub struct ContentPart {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub text: Option<String>,
}

impl OpenAiMessage {
    /// The message with its text parts joined by newlines.
    fn into_chat(self, index: usize) -> ApiResult<ChatMessage> {
        let content = match self.content {
            None => String::new(),
            Some(MessageContent::Text(text)) => text,
            Some(MessageContent::Parts(parts)) => {
                let mut texts = Vec::with_capacity(parts.len());
                for part in parts {
                    match (part.kind.as_str(), part.text) {
                        ("text", Some(text)) => texts.push(text),
                        ("text", None) => {
                            return Err(ApiError::invalid(format!("messages[{index}]: a text part needs \"text\"")));
                        }
                        (other, _) => {
                            return Err(ApiError::invalid(format!(
                                "messages[{index}]: content parts of type {other:?} are not supported; these models read text parts only"
                            )));
                        }
                    }
                }
                texts.join("\n")
            }
        };
        Ok(ChatMessage { role: self.role, content })
    }
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
    let messages = body.messages.into_iter().enumerate().map(|(i, m)| m.into_chat(i)).collect::<ApiResult<Vec<_>>>()?;
    let n = body.sampling.choices()?;
    let include_usage = body.sampling.include_usage();
    let fit_context = match body.truncation.as_deref() {
        None | Some("disabled") => false,
        Some("auto") => true,
        Some(other) => {
            return Err(ApiError::invalid(format!("truncation must be \"auto\" or \"disabled\", not {other:?}")));
        }
    };
    let (mut request, streaming) = body.sampling.request(Prompt::Chat(messages))?;
    request.fit_context = fit_context;
    let id = format!("chatcmpl-{}", uuid::Uuid::now_v7().simple());
    let created = now_s();
    if streaming {
        let (key, events) = start(&state, &body.model, request).await?;
        let model = key.clone();
        let first = std::sync::atomic::AtomicBool::new(true);
        let usage_chunk = usage_header(include_usage, &id, "chat.completion.chunk", created, &model);
        return Ok(sse_with_usage(
            state,
            key,
            events,
            move |piece, done| {
                let mut delta = serde_json::Map::new();
                if first.swap(false, std::sync::atomic::Ordering::SeqCst) {
                    delta.insert("role".into(), "assistant".into());
                }
                if let Some(text) = piece {
                    delta.insert("content".into(), text.into());
                }
                let mut chunk = json!({
                    "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": done.map(|d| d.finish_reason.clone())}],
                });
                if include_usage {
                    chunk["usage"] = Value::Null;
                }
                if let Some(done) = done.filter(|d| d.dropped_messages > 0) {
                    chunk["dropped_messages"] = done.dropped_messages.into();
                }
                chunk
            },
            usage_chunk,
        )
        .into_response());
    }
    let (key, choices) = collect_choices(&state, &body.model, request, n).await?;
    let listed: Vec<Value> = choices
        .iter()
        .enumerate()
        .map(|(index, (text, done))| {
            json!({"index": index, "message": {"role": "assistant", "content": text}, "finish_reason": done.finish_reason})
        })
        .collect();
    let mut reply = json!({
        "id": id, "object": "chat.completion", "created": created, "model": key,
        "choices": listed,
        "usage": usage_of_choices(&choices),
    });
    if let Some(dropped) = choices.first().map(|(_, done)| done.dropped_messages).filter(|n| *n > 0) {
        reply["dropped_messages"] = dropped.into();
    }
    Ok(Json(reply).into_response())
}

/// One model as OpenAI's models API lists it.
fn model_object(id: &str, created_ms: i64) -> Value {
    json!({"id": id, "object": "model", "created": created_ms / 1000, "owned_by": "hangar"})
}

/// OpenAI-compatible model list: every registered model by name, and by
/// `name:alias` for each alias (the ids the generation routes accept).
#[utoipa::path(get, path = "/v1/models", tag = "models", security(("bearer" = [])),
    responses((status = 200, body = Object)))]
pub async fn list_models(State(state): State<AppState>, _user: CurrentUser) -> ApiResult<Response> {
    let mut data = Vec::new();
    for model in state.store().list_models().await? {
        data.push(model_object(&model.name, model.created_at));
        for alias in model.aliases.keys() {
            data.push(model_object(&format!("{}:{alias}", model.name), model.updated_at));
        }
    }
    Ok(Json(json!({"object": "list", "data": data})).into_response())
}

/// OpenAI-compatible model lookup: NAME, NAME@VERSION or NAME:ALIAS.
#[utoipa::path(get, path = "/v1/models/{model}", tag = "models", security(("bearer" = [])),
    params(("model" = String, Path, description = "NAME, NAME@VERSION or NAME:ALIAS")),
    responses((status = 200, body = Object), (status = 404, body = crate::error::ErrorBody)))]
pub async fn retrieve_model(
    State(state): State<AppState>,
    _user: CurrentUser,
    ApiPath(model): ApiPath<String>,
) -> ApiResult<Response> {
    let version = resolve(&state, &model).await?;
    Ok(Json(model_object(&model, version.created_at)).into_response())
}
