//! The tokenizer: a byte-level BPE trained with Hugging Face `tokenizers`,
//! with the special tokens and chat template every later stage shares.

use serde::{Deserialize, Serialize};
use tokenizers::models::TrainerWrapper;
use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer};

pub const END_OF_TEXT: &str = "<|endoftext|>";
pub const PAD: &str = "<|pad|>";
pub const SYSTEM: &str = "<|system|>";
pub const USER: &str = "<|user|>";
pub const ASSISTANT: &str = "<|assistant|>";
pub const END: &str = "<|end|>";

/// The special tokens, in the order they get the first ids.
pub const SPECIAL_TOKENS: [&str; 6] = [END_OF_TEXT, PAD, SYSTEM, USER, ASSISTANT, END];

/// How chats are rendered for training and inference (Jinja, as in
/// `tokenizer_config.json` of Hugging Face models).
pub const CHAT_TEMPLATE: &str = "{% for message in messages %}<|{{ message.role }}|>\n{{ message.content }}<|end|>\n{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}";

/// What the `tokenizer` artifact records beside `tokenizer.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenizerConfig {
    pub eos_token: String,
    pub pad_token: String,
    pub chat_template: String,
    pub vocab_size: usize,
    pub special_tokens: Vec<String>,
}

impl TokenizerConfig {
    pub fn for_tokenizer(tokenizer: &Tokenizer) -> Self {
        Self {
            eos_token: END_OF_TEXT.to_owned(),
            pad_token: PAD.to_owned(),
            chat_template: CHAT_TEMPLATE.to_owned(),
            vocab_size: tokenizer.get_vocab_size(true),
            special_tokens: SPECIAL_TOKENS.iter().map(|s| (*s).to_owned()).collect(),
        }
    }
}

/// Renders a chat with the template above (the subset the template uses),
/// so training and serving format prompts identically.
pub fn render_chat(messages: &[(&str, &str)], add_generation_prompt: bool) -> String {
    let mut out = String::new();
    for (role, content) in messages {
        out.push_str(&format!("<|{role}|>\n{content}{END}\n"));
    }
    if add_generation_prompt {
        out.push_str(&format!("{ASSISTANT}\n"));
    }
    out
}

/// Trains a byte-level BPE tokenizer on `texts`.
///
/// # Errors
/// When training fails (an empty corpus, a vocabulary too small for the specials).
pub fn train(
    texts: impl Iterator<Item = String> + Send,
    vocab_size: usize,
    min_frequency: u64,
) -> Result<Tokenizer, String> {
    let mut tokenizer = Tokenizer::new(BPE::default());
    // No prefix space: Chinese has no spaces, and a leading space would be noise.
    tokenizer.with_pre_tokenizer(Some(ByteLevel::new(false, true, true)));
    tokenizer.with_decoder(Some(ByteLevel::new(false, true, true)));
    let specials: Vec<AddedToken> = SPECIAL_TOKENS.iter().map(|t| AddedToken::from(*t, true)).collect();
    let mut trainer: TrainerWrapper = BpeTrainerBuilder::new()
        .vocab_size(vocab_size)
        .min_frequency(min_frequency)
        .special_tokens(specials.clone())
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .show_progress(false)
        .build()
        .into();
    tokenizer.train(&mut trainer, texts).map_err(|e| e.to_string())?;
    tokenizer.add_special_tokens(&specials);
    Ok(tokenizer)
}

/// Serializes a tokenizer as `tokenizer.json` bytes.
///
/// # Errors
/// When serialization fails.
pub fn to_json(tokenizer: &Tokenizer) -> Result<String, String> {
    tokenizer.to_string(false).map_err(|e| e.to_string())
}

/// The id of a special token.
///
/// # Errors
/// When the tokenizer lacks it.
pub fn special_id(tokenizer: &Tokenizer, token: &str) -> Result<u32, String> {
    tokenizer
        .token_to_id(token)
        .ok_or_else(|| format!("the tokenizer has no {token} token; train it with Hangar or add the special tokens"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus() -> Vec<String> {
        let mut texts = Vec::new();
        for i in 0..200 {
            texts.push(format!(
                "§ 25.{i} Each airplane must meet the structural requirements of this part under load {i}."
            ));
            texts.push(format!("第23.{i}条 飞机必须满足本部规定的结构要求，载荷{i}。"));
        }
        texts
    }

    #[test]
    fn trains_deterministically_and_round_trips_chinese_and_english() {
        let a = train(corpus().into_iter(), 600, 2).expect("train");
        let b = train(corpus().into_iter(), 600, 2).expect("train");
        assert_eq!(to_json(&a).expect("json"), to_json(&b).expect("json"), "same corpus, same tokenizer");
        for text in ["§ 25.1309 Each airplane must", "第23.2005条 飞机必须满足"] {
            let encoding = a.encode(text, false).expect("encode");
            let decoded = a.decode(encoding.get_ids(), false).expect("decode");
            assert_eq!(decoded, text);
        }
        assert_eq!(special_id(&a, END_OF_TEXT).expect("eos"), 0);
        let chat = render_chat(&[("user", "Hi"), ("assistant", "Hello")], false);
        let ids = a.encode(chat.as_str(), false).expect("encode");
        assert!(ids.get_ids().contains(&special_id(&a, USER).expect("user")));
    }
}
