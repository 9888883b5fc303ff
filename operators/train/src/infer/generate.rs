//! A loaded model and batched generation.

use std::path::Path;

use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use tokenizers::Tokenizer;

use super::InferError;
use super::cpu::{CpuDecoder, Item, SequenceCache};
use super::panels::WeightPrecision;
use super::sampling::Sampler;
use crate::export::load_model;
use crate::model::Llama;
use hangar_sdk::ChatMessage;
use hangar_sdk::chat::ChatTemplate;

type Cpu = burn::backend::NdArray<f32>;

/// What one sequence of a batch asks for.
#[derive(Debug, Clone)]
pub struct GenerationRequest {
    pub prompt: Vec<u32>,
    pub max_tokens: usize,
    pub temperature: f32,
    pub top_p: f32,
    pub seed: u64,
    /// Generation ends before the first of these strings.
    pub stop: Vec<String>,
}

/// Why a sequence ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// `max_tokens`, or the model's context, was reached.
    Length,
    /// An end token or a stop string.
    Stop,
}

impl FinishReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Length => "length",
            FinishReason::Stop => "stop",
        }
    }
}

/// A finished sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct Finish {
    pub text: String,
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
    pub reason: FinishReason,
}

/// New text of sequence `index` of the batch.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenEvent {
    pub index: usize,
    pub text: String,
}

/// A model folder loaded for inference on the CPU.
pub struct LoadedModel {
    /// For whole-sequence scoring (perplexity, choices).
    model: Llama<Cpu>,
    /// For generation.
    decoder: CpuDecoder,
    tokenizer: Tokenizer,
    /// The model's own chat template (`tokenizer_config.json`), when it has one.
    template: Option<ChatTemplate>,
    /// Tokens that end a generation (`<|end|>`, `<|endoftext|>`, the config's eos).
    end_ids: Vec<u32>,
    context: usize,
    /// Size of the weights file: what the model costs in memory, roughly.
    pub weight_bytes: u64,
}

/// Bytes at the end of `text` that begin one of `stops` without completing it.
fn stop_prefix(text: &str, stops: &[String]) -> usize {
    stops
        .iter()
        .filter_map(|stop| (1..stop.len()).rev().find(|&k| stop.is_char_boundary(k) && text.ends_with(&stop[..k])))
        .max()
        .unwrap_or(0)
}

/// Progress of one sequence during generation.
struct Sequence {
    sampler: Sampler,
    ids: Vec<u32>,
    /// Text of `ids[..read]`, extended a token or a few at a time: decoding
    /// the whole sequence at every step would cost quadratic time.
    decoded: String,
    /// Where the decoding window starts: one settled token before `read`
    /// gives the decoder its context (a leading space, a word piece).
    prefix: usize,
    /// Tokens whose text is in `decoded`.
    read: usize,
    /// Bytes of decoded text already handed out.
    emitted: usize,
    text: String,
    done: Option<FinishReason>,
}

impl Sequence {
    fn new(sampler: Sampler) -> Self {
        Self {
            sampler,
            ids: Vec::new(),
            decoded: String::new(),
            prefix: 0,
            read: 0,
            emitted: 0,
            text: String::new(),
            done: None,
        }
    }

    /// Brings `decoded` up to the last token where that text is final; at
    /// `finish`, whatever the tokens spell, even half a character.
    fn settle(&mut self, tokenizer: &Tokenizer, finish: bool) {
        let decode = |ids: &[u32]| tokenizer.decode(ids, true).unwrap_or_default();
        let before = decode(&self.ids[self.prefix..self.read]);
        let after = decode(&self.ids[self.prefix..]);
        // A character split across tokens decodes as U+FFFD until its last byte arrives.
        if !finish && (after.len() <= before.len() || after.ends_with('\u{FFFD}')) {
            return;
        }
        match after.strip_prefix(before.as_str()) {
            Some(added) => self.decoded.push_str(added),
            // The decoder rewrote the window's start: take the whole text again.
            None => self.decoded = decode(&self.ids),
        }
        self.prefix = self.read;
        self.read = self.ids.len();
    }
}

impl Sequence {
    /// What the sequence came to.
    fn finish(self, request: &GenerationRequest) -> Finish {
        Finish {
            text: self.text,
            prompt_tokens: request.prompt.len(),
            completion_tokens: self.ids.len(),
            reason: self.done.unwrap_or(FinishReason::Length),
        }
    }
}

/// Sequences decoded together, each with a tag of the caller's (who asked
/// for it). Requests join between steps and leave as they finish, so a new
/// request never waits for a whole batch to end: continuous batching.
pub struct Batch<T> {
    slots: Vec<Slot<T>>,
    /// Beside `slots`, index for index: the decoder takes them as one slice.
    caches: Vec<SequenceCache>,
}

impl<T> Default for Batch<T> {
    fn default() -> Self {
        Self { slots: Vec::new(), caches: Vec::new() }
    }
}

impl<T> Batch<T> {
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Drops the sequences whose tag `keep` refuses (a client that left).
    pub fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        let mut index = 0;
        while index < self.slots.len() {
            if keep(&self.slots[index].tag) {
                index += 1;
            } else {
                self.slots.swap_remove(index);
                self.caches.swap_remove(index);
            }
        }
    }
}

/// A sequence of a batch and what it reads at the next step.
struct Slot<T> {
    tag: T,
    request: GenerationRequest,
    sequence: Sequence,
    /// Its prompt before the first step, then the token it last picked.
    feed: Vec<u32>,
}

impl LoadedModel {
    /// Loads `model.safetensors`, `config.json` and `tokenizer.json` from `dir`.
    ///
    /// # Errors
    /// A missing or unreadable file.
    pub fn load(dir: &Path) -> Result<Self, InferError> {
        Self::load_with(dir, WeightPrecision::F32)
    }

    /// Like [`LoadedModel::load`], decoding with its matrices at `precision`.
    ///
    /// # Errors
    /// A missing or unreadable file.
    pub fn load_with(dir: &Path, precision: WeightPrecision) -> Result<Self, InferError> {
        let fail = |reason: String| InferError::Load { dir: dir.display().to_string(), reason };
        let (model, size, _vocab) = load_model::<Cpu>(dir, &Default::default()).map_err(|e| fail(e.to_string()))?;
        let tokenizer = Tokenizer::from_file(dir.join("tokenizer.json")).map_err(|e| fail(e.to_string()))?;
        let config: serde_json::Value = std::fs::read(dir.join("config.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let mut end_ids: Vec<u32> =
            ["<|end|>", "<|endoftext|>"].iter().filter_map(|t| tokenizer.token_to_id(t)).collect();
        if let Some(eos) = config["eos_token_id"].as_u64() {
            end_ids.push(eos as u32);
        }
        let template = crate::sft::own_template(&dir.join("tokenizer_config.json")).map_err(fail)?;
        if let Some(eos) = template.as_ref().and_then(|t| tokenizer.token_to_id(t.eos_token())) {
            end_ids.push(eos);
        }
        let weight_bytes = std::fs::metadata(dir.join("model.safetensors")).map(|m| m.len()).unwrap_or(0);
        let decoder =
            CpuDecoder::with_precision(model.plain_weights(), size.heads, size.kv_heads(), size.norm_eps, precision);
        Ok(Self { model, decoder, tokenizer, template, end_ids, context: size.context, weight_bytes })
    }

    pub fn context(&self) -> usize {
        self.context
    }

    /// Generation that runs to `max_tokens` whatever comes: benchmarks that
    /// compare engines at a fixed number of new tokens need it.
    pub fn never_stop_early(&mut self) {
        self.end_ids.clear();
    }

    fn encode(&self, text: &str) -> Result<Vec<u32>, InferError> {
        self.tokenizer
            .encode(text, false)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| InferError::Tokenize(e.to_string()))
    }

    /// A plain prompt.
    ///
    /// # Errors
    /// When the tokenizer fails.
    pub fn text_prompt(&self, text: &str) -> Result<Vec<u32>, InferError> {
        self.encode(text)
    }

    /// A chat in the model's template, ending with the assistant's turn:
    /// its own Jinja template when it has one, else the template of models
    /// trained here from scratch (`<|role|>\n{content}<|end|>\n` per message).
    ///
    /// # Errors
    /// When the template or the tokenizer fails.
    pub fn chat_prompt(&self, messages: &[(String, String)]) -> Result<Vec<u32>, InferError> {
        if let Some(template) = &self.template {
            let chat: Vec<ChatMessage> = messages
                .iter()
                .map(|(role, content)| ChatMessage { role: role.clone(), content: content.clone() })
                .collect();
            let text = template.render(&chat, true).map_err(|e| InferError::Tokenize(e.to_string()))?;
            return self.encode(&text);
        }
        let mut ids = Vec::new();
        // Encoded piece by piece, as in training, so the ids match what the model learned.
        for (role, content) in messages {
            ids.extend(self.encode(&format!("<|{role}|>\n"))?);
            ids.extend(self.encode(&format!("{content}<|end|>"))?);
            ids.extend(self.encode("\n")?);
        }
        ids.extend(self.encode("<|assistant|>\n")?);
        Ok(ids)
    }

    /// Generates for every request together, one batch of decoding steps,
    /// calling `on_text` with each sequence's new text as it comes.
    ///
    /// # Errors
    /// A prompt longer than the context.
    pub fn generate(
        &self,
        requests: &[GenerationRequest],
        mut on_text: impl FnMut(TokenEvent),
    ) -> Result<Vec<Finish>, InferError> {
        let mut batch = Batch::default();
        for (index, request) in requests.iter().enumerate() {
            self.admit(&mut batch, request.clone(), index).map_err(|(err, _)| err)?;
        }
        let mut finished: Vec<Option<Finish>> = vec![None; requests.len()];
        while !batch.is_empty() {
            for (index, finish) in self.step(&mut batch, |&mut index, text| on_text(TokenEvent { index, text })) {
                finished[index] = Some(finish);
            }
        }
        Ok(finished.into_iter().flatten().collect())
    }

    /// Adds a request to `batch`; its prompt is read at the next step.
    ///
    /// # Errors
    /// A prompt longer than the context, with `tag` handed back.
    pub fn admit<T>(&self, batch: &mut Batch<T>, request: GenerationRequest, tag: T) -> Result<(), (InferError, T)> {
        let tokens = request.prompt.len().max(1);
        if tokens >= self.context {
            return Err((InferError::TooLong { tokens, context: self.context }, tag));
        }
        let mut sequence = Sequence::new(Sampler::new(request.temperature, request.top_p, request.seed));
        sequence.done = (request.max_tokens == 0).then_some(FinishReason::Length);
        // An empty prompt starts from the end token, as a document would.
        let feed = if request.prompt.is_empty() {
            vec![self.end_ids.first().copied().unwrap_or(0)]
        } else {
            request.prompt.clone()
        };
        batch.slots.push(Slot { tag, request, sequence, feed });
        batch.caches.push(self.decoder.cache());
        Ok(())
    }

    /// One decoding step of every sequence in `batch`: those admitted since
    /// the last step read their prompts, the others their last token, all
    /// in one pass. `on_text` gets each sequence's new text; the sequences
    /// that finished leave the batch and are returned.
    pub fn step<T>(&self, batch: &mut Batch<T>, mut on_text: impl FnMut(&mut T, String)) -> Vec<(T, Finish)> {
        let items: Vec<Item> = batch
            .slots
            .iter()
            .enumerate()
            .filter(|(_, slot)| slot.sequence.done.is_none())
            .flat_map(|(sequence, slot)| slot.feed.iter().map(move |&token| Item { sequence, token }))
            .collect();
        let logits = if items.is_empty() { Vec::new() } else { self.decoder.forward(&items, &mut batch.caches) };
        for (index, row) in logits {
            let context_full = batch.caches[index].len + 1 >= self.context;
            let slot = &mut batch.slots[index];
            let token = slot.sequence.sampler.pick(&row);
            if let Some(text) = self.advance(&mut slot.sequence, &slot.request, token, context_full) {
                on_text(&mut slot.tag, text);
            }
            slot.feed = vec![token];
        }
        let mut finished = Vec::new();
        let mut index = 0;
        while index < batch.slots.len() {
            if batch.slots[index].sequence.done.is_some() {
                let slot = batch.slots.swap_remove(index);
                batch.caches.swap_remove(index);
                finished.push((slot.tag, slot.sequence.finish(&slot.request)));
            } else {
                index += 1;
            }
        }
        finished
    }

    /// Takes `token` into `sequence`: new text to hand out, if any; ends it
    /// at an end token, a stop string, its token budget or the context.
    fn advance(
        &self,
        sequence: &mut Sequence,
        request: &GenerationRequest,
        token: u32,
        context_full: bool,
    ) -> Option<String> {
        let ended = self.end_ids.contains(&token);
        if !ended {
            sequence.ids.push(token);
        }
        let out_of_room = sequence.ids.len() >= request.max_tokens || context_full;
        sequence.settle(&self.tokenizer, ended || out_of_room);
        let decoded = &sequence.decoded;
        let stop_at = request.stop.iter().filter(|s| !s.is_empty()).filter_map(|s| decoded.find(s.as_str())).min();
        let (visible, finished) = match stop_at {
            Some(at) => (&decoded[..at], Some(FinishReason::Stop)),
            None if ended => (decoded.as_str(), Some(FinishReason::Stop)),
            None if out_of_room => (decoded.as_str(), Some(FinishReason::Length)),
            None => (decoded.as_str(), None),
        };
        // Text that may be the start of a stop string waits until it is not.
        let ready = visible.len() - if finished.is_some() { 0 } else { stop_prefix(visible, &request.stop) };
        let mut text = None;
        if ready > sequence.emitted && visible.is_char_boundary(sequence.emitted) && visible.is_char_boundary(ready) {
            text = Some(visible[sequence.emitted..ready].to_owned());
            sequence.emitted = ready;
        }
        if finished.is_some() {
            sequence.text = visible.to_owned();
        }
        sequence.done = finished;
        text
    }

    /// The logits at every position of `ids` (row-major, `ids.len()` rows of
    /// the vocabulary), from the training model's full forward pass.
    pub fn logits(&self, ids: &[u32]) -> Vec<f32> {
        let ids: Vec<i64> = ids.iter().map(|&t| i64::from(t)).collect();
        let n = ids.len();
        let device = Default::default();
        let logits = self.model.forward(Tensor::<Cpu, 1, Int>::from_ints(ids.as_slice(), &device).reshape([1, n]));
        logits.into_data().to_vec::<f32>().unwrap_or_default()
    }

    /// The tokenizer, for callers that encode text themselves.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Mean log-probability per token of `continuation` after `prompt` (how
    /// likely the model finds an answer); the prompt is cut from the left to fit.
    pub fn continuation_logprob(&self, prompt: &[u32], continuation: &[u32]) -> f64 {
        if continuation.is_empty() {
            return f64::NEG_INFINITY;
        }
        let room = self.context.saturating_sub(continuation.len()).max(1);
        let prompt = &prompt[prompt.len().saturating_sub(room)..];
        let ids: Vec<i64> = prompt.iter().chain(continuation).map(|&t| i64::from(t)).collect();
        let ids = &ids[..ids.len().min(self.context)];
        let n = ids.len();
        let device = Default::default();
        let logits = self.model.forward(Tensor::<Cpu, 1, Int>::from_ints(ids, &device).reshape([1, n]));
        let vocab = logits.dims()[2];
        let logp = log_softmax(logits.reshape([n, vocab]), 1).into_data().to_vec::<f32>().unwrap_or_default();
        let first = prompt.len().max(1);
        let scored: Vec<f64> = (first..n).map(|i| f64::from(logp[(i - 1) * vocab + ids[i] as usize])).collect();
        scored.iter().sum::<f64>() / scored.len().max(1) as f64
    }

    /// Mean cross-entropy (nats per token) of the model on `tokens`, in
    /// windows of its context; `None` when there is less than one window.
    pub fn mean_loss(&self, tokens: &[u32], max_windows: usize) -> Option<f64> {
        let window = self.context.min(256);
        if tokens.len() <= window {
            return None;
        }
        let device = Default::default();
        let starts: Vec<usize> = (0..tokens.len() - window).step_by(window).take(max_windows.max(1)).collect();
        let mut total = 0.0;
        for &start in &starts {
            let input: Vec<i64> = tokens[start..start + window].iter().map(|&t| i64::from(t)).collect();
            let target: Vec<i64> = tokens[start + 1..start + window + 1].iter().map(|&t| i64::from(t)).collect();
            let input = Tensor::<Cpu, 1, Int>::from_ints(input.as_slice(), &device).reshape([1, window]);
            let target = Tensor::<Cpu, 1, Int>::from_ints(target.as_slice(), &device).reshape([window, 1]);
            let logits = self.model.forward(input);
            let vocab = logits.dims()[2];
            let picked = log_softmax(logits.reshape([window, vocab]), 1).gather(1, target);
            let mean: f32 = picked.mean().neg().into_scalar();
            total += f64::from(mean);
        }
        Some(total / starts.len() as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Byte tokens `<0xE4> <0xB8> <0xAD>` spell 中 only together.
    fn byte_tokenizer() -> Tokenizer {
        let json = serde_json::json!({
            "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
            "normalizer": null, "pre_tokenizer": null, "post_processor": null,
            "decoder": {"type": "Sequence", "decoders": [{"type": "ByteFallback"}, {"type": "Fuse"}]},
            "model": {"type": "WordLevel", "unk_token": "a",
                "vocab": {"a": 0, "<0xE4>": 1, "<0xB8>": 2, "<0xAD>": 3, "b": 4}}
        });
        json.to_string().parse().expect("tokenizer")
    }

    #[test]
    fn text_settles_token_by_token_and_waits_for_a_whole_character() {
        let tokenizer = byte_tokenizer();
        let mut sequence = Sequence::new(Sampler::new(0.0, 1.0, 0));
        let mut seen = Vec::new();
        for id in [0, 1, 2, 3, 4] {
            sequence.ids.push(id);
            sequence.settle(&tokenizer, false);
            seen.push(sequence.decoded.clone());
        }
        assert_eq!(seen, ["a", "a", "a", "a中", "a中b"]);
        // At the end, half a character is handed out as it is.
        sequence.ids.push(1);
        sequence.settle(&tokenizer, true);
        assert_eq!(sequence.decoded, "a中b\u{FFFD}");
    }

    #[test]
    fn only_an_unfinished_stop_string_is_held_back() {
        let stops = vec!["\n\nQ:".to_owned(), "END".to_owned()];
        assert_eq!(stop_prefix("answer\n\n", &stops), 2);
        assert_eq!(stop_prefix("answer E", &stops), 1);
        assert_eq!(stop_prefix("answer", &stops), 0);
        assert_eq!(stop_prefix("answer\n", &[]), 0);
    }
}
