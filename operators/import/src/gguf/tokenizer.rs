//! The HF `tokenizer.json` of a GGUF vocabulary: byte-level BPE with
//! merges (`tokenizer.ggml.model = gpt2`, pre-tokenized the way its `pre`
//! names) or a SentencePiece-style llama vocabulary (`llama`: scores and
//! byte fallback, merges derived from the scores as `transformers` does).

use std::collections::HashMap;

use serde_json::{Value, json};

use super::Metadata;
use crate::ImportError;

/// GGUF token types.
const CONTROL: f64 = 3.0;
const USER_DEFINED: f64 = 4.0;

/// The tokenizer and the special ids it knows.
pub struct Built {
    pub json: String,
    pub vocab_size: usize,
    pub tokens: Vec<String>,
    pub bos_id: Option<u32>,
    pub eos_id: Option<u32>,
    pub pad_id: Option<u32>,
    pub unk_id: Option<u32>,
    pub add_bos: bool,
}

/// Llama 3's split (numbers in groups of up to three).
const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen2's split (digits one by one).
const QWEN2_SPLIT: &str =
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Builds the tokenizer from the `tokenizer.ggml.*` keys.
///
/// # Errors
/// Missing vocabulary, or a tokenizer model or pre-tokenizer not known here.
pub fn build(meta: &Metadata<'_>) -> Result<Built, ImportError> {
    let unsupported = |what: String| ImportError::Unsupported { path: meta.path().display().to_string(), what };
    let model = meta.string("tokenizer.ggml.model")?;
    let tokens: Vec<String> = meta
        .strings("tokenizer.ggml.tokens")?
        .ok_or_else(|| unsupported("no tokenizer.ggml.tokens: the file carries no vocabulary".to_owned()))?
        .into_iter()
        .map(str::to_owned)
        .collect();
    let types = meta.numbers("tokenizer.ggml.token_type")?.unwrap_or_else(|| vec![1.0; tokens.len()]);
    let id = |key: &str| meta.optional_usize(key).map(|v| v.map(|n| n as u32));
    let (bos_id, eos_id, pad_id, unk_id) = (
        id("tokenizer.ggml.bos_token_id")?,
        id("tokenizer.ggml.eos_token_id")?,
        id("tokenizer.ggml.padding_token_id")?,
        id("tokenizer.ggml.unknown_token_id")?,
    );
    let added: Vec<Value> = tokens
        .iter()
        .zip(&types)
        .enumerate()
        .filter(|(_, (_, t))| **t == CONTROL || **t == USER_DEFINED)
        .map(|(i, (content, t))| {
            json!({"id": i, "content": content, "single_word": false, "lstrip": false, "rstrip": false,
                   "normalized": *t == USER_DEFINED, "special": *t == CONTROL})
        })
        .collect();
    let vocab: serde_json::Map<String, Value> = tokens.iter().enumerate().map(|(i, t)| (t.clone(), json!(i))).collect();
    let (add_bos, body) = match model.as_str() {
        "gpt2" => {
            let merges = meta
                .strings("tokenizer.ggml.merges")?
                .ok_or_else(|| unsupported("a gpt2 tokenizer without tokenizer.ggml.merges".to_owned()))?;
            let pre = meta.optional_string("tokenizer.ggml.pre").unwrap_or_else(|| "default".to_owned());
            let pre_tokenizer = byte_level_pre_tokenizer(&pre).ok_or_else(|| {
                unsupported(format!(
                    "pre-tokenizer {pre:?} is not known here; import the model's Hugging Face folder (with its tokenizer.json) instead"
                ))
            })?;
            let normalizer = if pre == "qwen2" { json!({"type": "NFC"}) } else { Value::Null };
            let body = json!({
                "normalizer": normalizer,
                "pre_tokenizer": pre_tokenizer,
                "post_processor": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false},
                "decoder": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false},
                "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                          "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": pre == "llama-bpe" || pre == "llama3",
                          "vocab": vocab, "merges": merges},
            });
            (meta.bool_or("tokenizer.ggml.add_bos_token", false), body)
        }
        "llama" => {
            let scores = meta.numbers("tokenizer.ggml.scores")?.unwrap_or_else(|| vec![0.0; tokens.len()]);
            let merges = sentencepiece_merges(&tokens, &scores, &types);
            let prefix = meta.bool_or("tokenizer.ggml.add_space_prefix", true);
            let mut normalizers = vec![json!({"type": "Replace", "pattern": {"String": " "}, "content": "\u{2581}"})];
            let mut decoders = vec![
                json!({"type": "Replace", "pattern": {"String": "\u{2581}"}, "content": " "}),
                json!({"type": "ByteFallback"}),
                json!({"type": "Fuse"}),
            ];
            if prefix {
                normalizers.insert(0, json!({"type": "Prepend", "prepend": "\u{2581}"}));
                decoders.push(json!({"type": "Strip", "content": " ", "start": 1, "stop": 0}));
            }
            let unk = unk_id.and_then(|i| tokens.get(i as usize)).cloned();
            let body = json!({
                "normalizer": {"type": "Sequence", "normalizers": normalizers},
                "pre_tokenizer": null,
                "post_processor": null,
                "decoder": {"type": "Sequence", "decoders": decoders},
                "model": {"type": "BPE", "dropout": null, "unk_token": unk, "continuing_subword_prefix": null,
                          "end_of_word_suffix": null, "fuse_unk": true, "byte_fallback": true, "ignore_merges": false,
                          "vocab": vocab, "merges": merges},
            });
            (meta.bool_or("tokenizer.ggml.add_bos_token", true), body)
        }
        other => {
            return Err(unsupported(format!(
                "tokenizer model {other:?} is not supported; byte-level BPE (gpt2) and SentencePiece-style (llama) vocabularies import"
            )));
        }
    };
    let mut document = json!({"version": "1.0", "truncation": null, "padding": null, "added_tokens": added});
    if let (Some(target), Some(source)) = (document.as_object_mut(), body.as_object()) {
        target.extend(source.clone());
    }
    if add_bos && let Some(bos) = bos_id.and_then(|i| tokens.get(i as usize)) {
        document["post_processor"] = json!({
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": bos, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {bos.clone(): {"id": bos, "ids": [bos_id], "tokens": [bos]}},
        });
    }
    let json = serde_json::to_string(&document).map_err(|e| unsupported(e.to_string()))?;
    // The tokenizers crate must accept what is written.
    json.parse::<tokenizers::Tokenizer>()
        .map_err(|e| unsupported(format!("the tokenizer built from the vocabulary does not load: {e}")))?;
    Ok(Built { json, vocab_size: tokens.len(), tokens, bos_id, eos_id, pad_id, unk_id, add_bos })
}

/// The pre-tokenizer that llama.cpp's `pre` name stands for.
fn byte_level_pre_tokenizer(pre: &str) -> Option<Value> {
    let split = |pattern: &str| json!({"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": false});
    let byte_level = |use_regex: bool| json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": use_regex});
    let steps = match pre {
        "default" | "gpt-2" | "gpt2" => vec![byte_level(true)],
        // Digits one at a time, then GPT-2's split.
        "smollm" | "starcoder" | "refact" => {
            vec![json!({"type": "Digits", "individual_digits": true}), byte_level(true)]
        }
        "llama-bpe" | "llama3" => vec![split(LLAMA3_SPLIT), byte_level(false)],
        "qwen2" => vec![split(QWEN2_SPLIT), byte_level(false)],
        _ => return None,
    };
    Some(json!({"type": "Sequence", "pretokenizers": steps}))
}

/// Merges for a SentencePiece vocabulary: every way to split a piece into
/// two pieces of the vocabulary, the pieces of higher score merged first.
fn sentencepiece_merges(tokens: &[String], scores: &[f64], types: &[f64]) -> Vec<String> {
    let index: HashMap<&str, usize> = tokens.iter().enumerate().map(|(i, t)| (t.as_str(), i)).collect();
    let mut merges: Vec<(f64, usize, usize, String)> = Vec::new();
    for (id, piece) in tokens.iter().enumerate() {
        if types.get(id).copied().unwrap_or(1.0) != 1.0 {
            continue;
        }
        let score = scores.get(id).copied().unwrap_or(0.0);
        for (split, _) in piece.char_indices().skip(1) {
            let (left, right) = piece.split_at(split);
            if let (Some(&l), Some(&r)) = (index.get(left), index.get(right)) {
                merges.push((score, l, r, format!("{left} {right}")));
            }
        }
    }
    merges.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    merges.into_iter().map(|(_, _, _, m)| m).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentencepiece_merges_follow_the_scores() {
        let tokens: Vec<String> = ["<unk>", "a", "b", "c", "ab", "abc", "bc"].iter().map(|s| (*s).to_owned()).collect();
        let scores = [0.0, -1.0, -2.0, -3.0, -0.5, -0.7, -0.9];
        let types = [2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0];
        let merges = sentencepiece_merges(&tokens, &scores, &types);
        // Equal scores: the pair whose pieces come first in the vocabulary wins.
        assert_eq!(merges, vec!["a b", "a bc", "ab c", "b c"]);
    }

    #[test]
    fn every_known_pre_tokenizer_loads_and_unknown_ones_are_refused() {
        for pre in ["default", "smollm", "llama-bpe", "qwen2"] {
            let value = byte_level_pre_tokenizer(pre).expect("known");
            let parsed: Result<tokenizers::PreTokenizerWrapper, _> = serde_json::from_value(value);
            assert!(parsed.is_ok(), "{pre}: {parsed:?}");
        }
        assert!(byte_level_pre_tokenizer("deepseek-coder").is_none());
    }
}
