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
            return Ok(Self { chats: Vec::new(), pad_id, truncated: 0 });
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
        Ok(Self { chats, pad_id, truncated })
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
        for _ in 0..batch {
            let chat =
                &self.chats[(rng.next_u64() % self.chats.len().max(1) as u64) as usize % self.chats.len().max(1)];
            for i in 0..context {
                let input = chat.ids.get(i).copied().unwrap_or(self.pad_id);
                let (target, learn) = match chat.ids.get(i + 1) {
                    Some(id) => (*id, chat.learn[i + 1]),
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
