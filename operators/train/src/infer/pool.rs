//! Serving: each loaded model version has its own decoding thread, which
//! decodes every request it holds together and lets new ones join between
//! steps (continuous batching). Loaded versions are kept in
//! least-recently-used order within a memory budget. A version is found by its registry key, so when an alias
//! moves, new requests reach the new version while requests in flight
//! finish on the old one, which they keep alive until they end.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use hangar_sdk::{
    ArtifactStore, Inference, InferenceDone, InferenceError, InferenceEvent, InferenceRequest, ModelVersion, Prompt,
};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use super::{Batch, GenerationRequest, LoadedModel};

/// A request waiting for, or in, a batch.
struct Job {
    request: GenerationRequest,
    arrived: Instant,
    events: UnboundedSender<InferenceEvent>,
    dropped_messages: usize,
}

/// A loaded version and the queue of its decoding thread.
struct Served {
    key: String,
    bytes: u64,
    queue: Mutex<Sender<Job>>,
    /// Requests sent and not yet taken into a batch.
    waiting: Arc<AtomicUsize>,
    model: Arc<LoadedModel>,
}

/// Loaded models, most recently used last.
pub struct ModelPool {
    store: ArtifactStore,
    cache_dir: PathBuf,
    budget_bytes: u64,
    max_batch: usize,
    /// Requests that may wait per model before new ones are turned away.
    max_waiting: usize,
    /// How the decoders keep their matrices.
    precision: super::WeightPrecision,
    loaded: Mutex<VecDeque<Arc<Served>>>,
    /// Serialises loading, so two requests for a cold model load it once.
    loading: tokio::sync::Mutex<()>,
}

impl ModelPool {
    /// A pool that fetches model folders from `store` into `cache_dir` and
    /// keeps at most `budget_bytes` of weights loaded.
    pub fn new(store: ArtifactStore, cache_dir: PathBuf, budget_bytes: u64, max_batch: usize) -> Self {
        Self {
            store,
            cache_dir,
            budget_bytes,
            max_batch: max_batch.max(1),
            max_waiting: 256,
            precision: super::WeightPrecision::F32,
            loaded: Mutex::new(VecDeque::new()),
            loading: tokio::sync::Mutex::new(()),
        }
    }

    /// Turns requests away once `max_waiting` wait for one model (0: serve none).
    #[must_use]
    pub fn with_max_waiting(mut self, max_waiting: usize) -> Self {
        self.max_waiting = max_waiting;
        self
    }

    /// Decodes with the matrices at `precision` (bf16 halves the bytes read per token).
    #[must_use]
    pub fn with_weights(mut self, precision: super::WeightPrecision) -> Self {
        self.precision = precision;
        self
    }

    fn find(&self, key: &str) -> Option<Arc<Served>> {
        let mut loaded = self.loaded.lock().unwrap_or_else(PoisonError::into_inner);
        let at = loaded.iter().position(|s| s.key == key)?;
        let served = loaded.remove(at)?;
        loaded.push_back(served.clone());
        Some(served)
    }

    /// Keys of the loaded versions, least recently used first.
    pub fn loaded(&self) -> Vec<String> {
        self.loaded.lock().unwrap_or_else(PoisonError::into_inner).iter().map(|s| s.key.clone()).collect()
    }

    async fn serve(&self, model: &ModelVersion) -> Result<Arc<Served>, InferenceError> {
        let key = format!("{}@{}", model.name, model.version);
        if let Some(found) = self.find(&key) {
            return Ok(found);
        }
        let _loading = self.loading.lock().await;
        if let Some(found) = self.find(&key) {
            return Ok(found);
        }
        let fail = |reason: String| InferenceError::Load { model: key.clone(), reason };
        let dir = match self.store.local_path(&model.artifact_key).filter(|p| p.is_dir()) {
            Some(local) => local,
            None => {
                let into = self.cache_dir.join(model.artifact_digest.replace(':', "-"));
                for name in ["model.safetensors", "config.json", "tokenizer.json"] {
                    let target = into.join(name);
                    if target.exists() {
                        continue;
                    }
                    let bytes = self
                        .store
                        .read(&format!("{}/{name}", model.artifact_key))
                        .await
                        .map_err(|e| fail(e.to_string()))?;
                    std::fs::create_dir_all(&into).map_err(|e| fail(e.to_string()))?;
                    std::fs::write(&target, bytes).map_err(|e| fail(e.to_string()))?;
                }
                into
            }
        };
        let precision = self.precision;
        let loaded = tokio::task::spawn_blocking(move || LoadedModel::load_with(&dir, precision))
            .await
            .map_err(|e| fail(e.to_string()))?
            .map_err(|e| fail(e.to_string()))?;
        let model = Arc::new(loaded);
        let (queue, jobs) = channel();
        let thread_model = model.clone();
        let max_batch = self.max_batch;
        let waiting = Arc::new(AtomicUsize::new(0));
        let thread_waiting = waiting.clone();
        std::thread::Builder::new()
            .name(format!("serve {key}"))
            .spawn(move || decode_loop(&thread_model, &jobs, &thread_waiting, max_batch))
            .map_err(|e| fail(e.to_string()))?;
        let served =
            Arc::new(Served { key: key.clone(), bytes: model.weight_bytes, queue: Mutex::new(queue), waiting, model });
        let mut loaded = self.loaded.lock().unwrap_or_else(PoisonError::into_inner);
        loaded.push_back(served.clone());
        // Evict the least recently used until the rest fits; requests in
        // flight keep an evicted model alive until they finish.
        while loaded.len() > 1 && loaded.iter().map(|s| s.bytes).sum::<u64>() > self.budget_bytes {
            if let Some(old) = loaded.pop_front() {
                tracing::info!(model = %old.key, "Model unloaded to stay within the memory budget.");
            }
        }
        tracing::info!(model = %key, bytes = served.bytes, "Model loaded for serving.");
        Ok(served)
    }
}

/// A request in the batch: where its events go and its timings.
struct Running {
    events: UnboundedSender<InferenceEvent>,
    arrived: Instant,
    first_text_s: Option<f64>,
    dropped_messages: usize,
}

/// The decoding thread of one model: continuous batching. Between any two
/// steps, requests that arrived join the batch (up to `max_batch`) and
/// finished ones leave it, so a request waits at most one step to start.
fn decode_loop(model: &LoadedModel, jobs: &Receiver<Job>, waiting: &AtomicUsize, max_batch: usize) {
    let mut batch: Batch<Running> = Batch::default();
    let admit = |batch: &mut Batch<Running>, job: Job| {
        waiting.fetch_sub(1, Ordering::SeqCst);
        let running = Running {
            events: job.events,
            arrived: job.arrived,
            first_text_s: None,
            dropped_messages: job.dropped_messages,
        };
        if let Err((err, running)) = model.admit(batch, job.request, running) {
            let _ = running.events.send(InferenceEvent::Failed(err.to_string()));
        }
    };
    loop {
        if batch.is_empty() {
            let Ok(job) = jobs.recv() else { return };
            admit(&mut batch, job);
            // A moment for requests that arrive together to share their first step.
            let window = Instant::now() + Duration::from_millis(2);
            while batch.len() < max_batch {
                match jobs.recv_timeout(window.saturating_duration_since(Instant::now())) {
                    Ok(job) => admit(&mut batch, job),
                    Err(_) => break,
                }
            }
        }
        while batch.len() < max_batch {
            match jobs.try_recv() {
                Ok(job) => admit(&mut batch, job),
                Err(_) => break,
            }
        }
        // A client that went away frees its place at once.
        batch.retain(|running| !running.events.is_closed());
        let finished = model.step(&mut batch, |running, text| {
            running.first_text_s.get_or_insert_with(|| running.arrived.elapsed().as_secs_f64());
            let _ = running.events.send(InferenceEvent::Text(text));
        });
        for (running, finish) in finished {
            let _ = running.events.send(InferenceEvent::Done(InferenceDone {
                finish_reason: finish.reason.as_str().to_owned(),
                prompt_tokens: finish.prompt_tokens,
                completion_tokens: finish.completion_tokens,
                first_token_s: running.first_text_s,
                total_s: running.arrived.elapsed().as_secs_f64(),
                dropped_messages: running.dropped_messages,
            }));
        }
    }
}

/// The oldest message a chat can lose to fit the context: not a system
/// message, and never the last one (what is being answered).
fn oldest_droppable(chat: &[(String, String)]) -> Option<usize> {
    let last = chat.len().checked_sub(1)?;
    chat.iter().take(last).position(|(role, _)| role != "system")
}

#[async_trait]
impl Inference for ModelPool {
    async fn start(
        &self,
        model: &ModelVersion,
        request: InferenceRequest,
    ) -> Result<UnboundedReceiver<InferenceEvent>, InferenceError> {
        let served = self.serve(model).await?;
        let context = served.model.context();
        let (prompt, dropped_messages) = match &request.prompt {
            Prompt::Text(text) => (served.model.text_prompt(text), 0),
            Prompt::Chat(messages) => {
                let mut chat: Vec<(String, String)> =
                    messages.iter().map(|m| (m.role.clone(), m.content.clone())).collect();
                // Room for the answer too, when the oldest turns must go anyway.
                let room = context.saturating_sub(request.max_tokens.min(context / 2));
                let mut dropped = 0;
                loop {
                    let prompt = served.model.chat_prompt(&chat);
                    let fits = prompt.as_ref().map_or(true, |p| p.len() < room.max(1));
                    match oldest_droppable(&chat) {
                        Some(at) if request.fit_context && !fits => {
                            chat.remove(at);
                            dropped += 1;
                        }
                        _ => break (prompt, dropped),
                    }
                }
            }
        };
        let prompt = prompt.map_err(|e| InferenceError::Invalid(e.to_string()))?;
        if prompt.len() >= context {
            let hint = if request.fit_context {
                "even its last message alone is too long; shorten it"
            } else {
                "shorten it, or send \"truncation\": \"auto\" to leave out the oldest turns"
            };
            return Err(InferenceError::Invalid(format!(
                "the prompt has {} tokens but {} takes at most {}; {hint}",
                prompt.len(),
                served.key,
                context - 1
            )));
        }
        if served.waiting.fetch_add(1, Ordering::SeqCst) >= self.max_waiting {
            served.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(InferenceError::Busy { model: served.key.clone(), waiting: self.max_waiting });
        }
        let (events, receiver) = unbounded_channel();
        let job = Job {
            request: GenerationRequest {
                prompt,
                max_tokens: request.max_tokens,
                temperature: request.temperature,
                top_p: request.top_p,
                seed: request.seed,
                stop: request.stop,
            },
            arrived: Instant::now(),
            events,
            dropped_messages,
        };
        served.queue.lock().unwrap_or_else(PoisonError::into_inner).send(job).map_err(|_| InferenceError::Load {
            model: served.key.clone(),
            reason: "its decoding thread stopped".into(),
        })?;
        Ok(receiver)
    }
}

#[cfg(test)]
mod tests {
    use super::oldest_droppable;

    fn chat(roles: &[&str]) -> Vec<(String, String)> {
        roles.iter().map(|r| ((*r).to_owned(), String::new())).collect()
    }

    #[test]
    fn the_oldest_turn_goes_first_but_never_the_system_prompt_or_the_question() {
        assert_eq!(oldest_droppable(&chat(&["system", "user", "assistant", "user"])), Some(1));
        assert_eq!(oldest_droppable(&chat(&["user", "assistant", "user"])), Some(0));
        assert_eq!(oldest_droppable(&chat(&["system", "user"])), None);
        assert_eq!(oldest_droppable(&chat(&["user"])), None);
        assert_eq!(oldest_droppable(&[]), None);
    }
}
