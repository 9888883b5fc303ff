//! Supervised fine-tuning samples: chats rendered with the model's own chat
//! template (a base model's Jinja template, or `<|role|>\n{content}<|end|>\n`
//! per message for models trained here from scratch), with the loss on the
//! assistant's tokens only.

use std::path::Path;

use serde::Deserialize;
use tokenizers::Tokenizer;

use hangar_sdk::ChatMessage;
use hangar_sdk::chat::ChatTemplate;

use crate::data::{Batch, Batches, SplitMix};

/// The chat template recorded with fine-tuned models (Jinja, as in Hugging
/// Face's `tokenizer_config.json`).
pub const CHAT_TEMPLATE: &str = "{% for message in messages %}<|{{ message.role }}|>\n{{ message.content }}<|end|>\n{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}";

/// The model's own chat template from a `tokenizer_config.json` beside its
/// tokenizer; `None` when there is none or it is Hangar's own template
/// (models trained here from scratch keep their piece-by-piece rendering).
///
/// # Errors
/// A config that is not JSON, or a template that does not compile.
pub fn own_template(tokenizer_config: &Path) -> Result<Option<ChatTemplate>, String> {
    let Ok(bytes) = std::fs::read(tokenizer_config) else { return Ok(None) };
    let config: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("{} is not JSON: {e}", tokenizer_config.display()))?;
    let template = ChatTemplate::from_tokenizer_config(&config).map_err(|e| e.to_string())?;
    Ok(template.filter(|t| t.source() != CHAT_TEMPLATE))
}

#[derive(Debug, Deserialize)]
struct Sample {
    messages: Vec<Message>,
}

#[derive(Debug, Deserialize)]
struct Message {
    role: String,
    content: String,
}

/// One tokenized chat.
#[derive(Debug, Clone)]
pub struct Chat {
    pub ids: Vec<u32>,
    /// Whether the loss counts each token (as a prediction target).
    pub learn: Vec<bool>,
}

/// The chats of one split.
#[derive(Debug, Clone, Default)]
pub struct ChatSet {
    pub chats: Vec<Chat>,
    pub pad_id: u32,
    /// Chats longer than the context, cut at it.
    pub truncated: usize,
    /// Whether a sequence holds as many chats as fit (see `packing`).
    pub packed: bool,
}

impl ChatSet {
    /// Reads and tokenizes `sft/{split}.jsonl`; an absent file is an empty set.
    ///
    /// # Errors
    /// An unreadable file, a malformed line, or a tokenizer failure.
    pub fn load(
        path: &Path,
        tokenizer: &Tokenizer,
        context: usize,
        template: Option<&ChatTemplate>,
    ) -> Result<Self, String> {
        let pad_id = tokenizer.token_to_id("<|pad|>").unwrap_or(0);
        let Ok(text) = std::fs::read_to_string(path) else {
            return Ok(Self { chats: Vec::new(), pad_id, truncated: 0, packed: false });
        };
        let encode = |text: &str| -> Result<Vec<u32>, String> {
            tokenizer.encode(text, false).map(|e| e.get_ids().to_vec()).map_err(|e| e.to_string())
        };
        let mut chats = Vec::new();
        let mut truncated = 0;
        for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let sample: Sample = serde_json::from_str(line)
                .map_err(|e| format!("{}:{}: not an SFT sample: {e}", path.display(), n + 1))?;
            let mut chat = Chat { ids: Vec::new(), learn: Vec::new() };
            if let Some(template) = template {
                // The model's own template: everything up to the assistant's
                // turn is context, the answer and its end token are learned.
                let messages: Vec<ChatMessage> = sample
                    .messages
                    .iter()
                    .map(|m| ChatMessage { role: m.role.clone(), content: m.content.clone() })
                    .collect();
                let (prompt, answer) =
                    template.split_for_training(&messages).map_err(|e| format!("{}:{}: {e}", path.display(), n + 1))?;
                let prompt = encode(&prompt)?;
                let answer = encode(&answer)?;
                chat.learn.extend(std::iter::repeat_n(false, prompt.len()));
                chat.learn.extend(std::iter::repeat_n(true, answer.len()));
                chat.ids.extend(prompt.into_iter().chain(answer));
            }
            for message in sample.messages.iter().filter(|_| template.is_none()) {
                let head = encode(&format!("<|{}|>\n", message.role))?;
                let body = encode(&format!("{}<|end|>", message.content))?;
                let tail = encode("\n")?;
                let assistant = message.role == "assistant";
                chat.learn.extend(std::iter::repeat_n(false, head.len()));
                chat.learn.extend(std::iter::repeat_n(assistant, body.len()));
                chat.learn.extend(std::iter::repeat_n(false, tail.len()));
                chat.ids.extend(head.into_iter().chain(body).chain(tail));
            }
            truncated += usize::from(chat.ids.len() > context + 1);
            chat.ids.truncate(context + 1);
            chat.learn.truncate(context + 1);
            if chat.learn.iter().skip(1).any(|l| *l) {
                chats.push(chat);
            }
        }
        Ok(Self { chats, pad_id, truncated, packed: false })
    }

    /// The same chats, packed (or not) into training sequences.
    pub fn packed(self, packed: bool) -> Self {
        Self { packed, ..self }
    }
}

impl Batches for ChatSet {
    fn batch(&self, index: u64, seed: u64, batch: usize, context: usize) -> Batch {
        let mut rng = SplitMix::new(seed ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03));
        let mut out = Batch {
            inputs: Vec::with_capacity(batch * context),
            targets: Vec::with_capacity(batch * context),
            weights: Some(Vec::with_capacity(batch * context)),
        };
        let count = self.chats.len().max(1);
        let mut ids = Vec::with_capacity(context + 1);
        let mut learns = Vec::with_capacity(context + 1);
        for _ in 0..batch {
            ids.clear();
            learns.clear();
            // Unpacked, a row is one chat; packed, chats follow each other
            // until the row is full (the last one cut at its end). A chat's
            // first token is never a target: it does not follow from the
            // chat before it.
            loop {
                let chat = &self.chats[(rng.next_u64() % count as u64) as usize % count];
                ids.extend_from_slice(&chat.ids);
                learns.push(false);
                learns.extend_from_slice(&chat.learn[1.min(chat.learn.len())..]);
                if !self.packed || ids.len() > context || chat.ids.is_empty() {
                    break;
                }
            }
            for i in 0..context {
                let input = ids.get(i).copied().unwrap_or(self.pad_id);
                let (target, learn) = match ids.get(i + 1) {
                    Some(id) => (*id, learns[i + 1]),
                    None => (self.pad_id, false),
                };
                out.inputs.push(i64::from(input));
                out.targets.push(i64::from(target));
                if let Some(weights) = out.weights.as_mut() {
                    weights.push(if learn { 1.0 } else { 0.0 });
                }
            }
        }
        out
    }

    fn usable(&self, _context: usize) -> bool {
        !self.chats.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Chats of ids `base..base + len`, learned after the first two.
    fn chats(lengths: &[u32]) -> ChatSet {
        let chats = lengths
            .iter()
            .enumerate()
            .map(|(n, len)| {
                let base = 100 * (n as u32 + 1);
                Chat { ids: (base..base + len).collect(), learn: (0..*len).map(|i| i >= 2).collect() }
            })
            .collect();
        ChatSet { chats, pad_id: 0, truncated: 0, packed: false }
    }

    #[test]
    fn an_unpacked_row_is_one_chat_padded() {
        let set = chats(&[4, 5]);
        let batch = set.batch(0, 7, 3, 8);
        let weights = batch.weights.expect("chats weigh their targets");
        for row in 0..3 {
            let inputs = &batch.inputs[row * 8..(row + 1) * 8];
            let base = inputs[0];
            assert!(base == 100 || base == 200, "{inputs:?}");
            let len = if base == 100 { 4 } else { 5 };
            assert!(inputs[len..].iter().all(|id| *id == 0), "padded after the chat: {inputs:?}");
            let learned: f32 = weights[row * 8..(row + 1) * 8].iter().sum();
            assert_eq!(learned, (len - 2) as f32, "targets 2..len are learned");
        }
    }

    #[test]
    fn a_packed_row_holds_chats_one_after_another_and_never_learns_a_chat_start() {
        let set = chats(&[4, 5]).packed(true);
        let context = 16;
        let batch = set.batch(3, 11, 4, context);
        let weights = batch.weights.expect("chats weigh their targets");
        for row in 0..4 {
            let inputs = &batch.inputs[row * context..(row + 1) * context];
            let targets = &batch.targets[row * context..(row + 1) * context];
            assert!(inputs.iter().all(|id| *id != 0), "a packed row has no padding: {inputs:?}");
            let starts = inputs.iter().filter(|id| *id % 100 == 0).count();
            assert!(starts >= 3, "several chats in one row: {inputs:?}");
            for (i, target) in targets.iter().enumerate() {
                let offset = target % 100;
                let expected = if offset >= 2 { 1.0 } else { 0.0 };
                assert_eq!(weights[row * context + i], expected, "target {target} at {i} in {targets:?}");
            }
        }
        assert_eq!(set.batch(3, 11, 4, context), set.batch(3, 11, 4, context), "the same draw for the same step");
    }
}
