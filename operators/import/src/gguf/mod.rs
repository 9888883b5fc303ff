//! GGUF files: metadata to `config.json`, tensors (dequantized by candle's
//! reader) to `model.safetensors` under Hugging Face names, the vocabulary
//! to `tokenizer.json`, `tokenizer.chat_template` to `tokenizer_config.json`.

mod metadata;
mod tensors;
pub mod tokenizer;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use candle_core::quantized::gguf_file::Content;
use serde_json::{Value, json};

pub use metadata::Metadata;
pub use tensors::{dequantize, hf_name, unpermute};

use crate::{CONFIG, ImportError, Imported, TOKENIZER, TOKENIZER_CONFIG};

const MAGIC: &[u8; 4] = b"GGUF";

/// Whether the file starts with GGUF's magic bytes.
///
/// # Errors
/// The file cannot be opened.
pub fn is_gguf(path: &Path) -> Result<bool, ImportError> {
    let mut head = [0u8; 4];
    let mut file = File::open(path).map_err(|e| ImportError::read(path, e))?;
    Ok(file.read_exact(&mut head).is_ok() && &head == MAGIC)
}

/// Reads the header and metadata of a GGUF file.
///
/// # Errors
/// The file is not a readable GGUF file.
pub fn read_content(path: &Path) -> Result<(Content, BufReader<File>), ImportError> {
    let mut reader = BufReader::new(File::open(path).map_err(|e| ImportError::read(path, e))?);
    let content =
        Content::read(&mut reader).map_err(|e| ImportError::read(path, format!("not a valid GGUF file: {e}")))?;
    Ok((content, reader))
}

/// Imports a GGUF file of a `llama` or `qwen2` model into `out`.
///
/// # Errors
/// An unreadable file, an unsupported architecture, tokenizer or tensor type.
pub fn import_gguf(path: &Path, out: &Path) -> Result<Imported, ImportError> {
    let (content, mut reader) = read_content(path)?;
    let meta = Metadata::new(&content.metadata, path);
    let arch = meta.string("general.architecture")?;
    if !matches!(arch.as_str(), "llama" | "qwen2") {
        return Err(ImportError::Unsupported {
            path: path.display().to_string(),
            what: format!("architecture {arch:?} is not supported; llama and qwen2 models import"),
        });
    }
    let tokenizer = tokenizer::build(&meta)?;
    let vocab = tokenizer.vocab_size;
    let tied = !content.tensor_infos.contains_key("output.weight");
    let config = hf_config(&meta, &arch, vocab, tied, &tokenizer)?;
    let heads = meta.usize(&format!("{arch}.attention.head_count"))?;
    let kv_heads = meta.usize_or(&format!("{arch}.attention.head_count_kv"), heads)?;
    let unpermute = (arch == "llama").then_some(tensors::Heads { q: heads, kv: kv_heads });
    let written = tensors::write_safetensors(path, &content, &mut reader, unpermute, out)?;

    write_json(&out.join(CONFIG), &config)?;
    std::fs::write(out.join(TOKENIZER), &tokenizer.json).map_err(|e| ImportError::write(&out.join(TOKENIZER), e))?;
    let template = meta.optional_string("tokenizer.chat_template");
    write_json(&out.join(TOKENIZER_CONFIG), &tokenizer_config(&tokenizer, template.as_deref(), &config))?;

    let mut types = BTreeMap::new();
    for info in content.tensor_infos.values() {
        *types.entry(format!("{:?}", info.ggml_dtype)).or_insert(0) += 1;
    }
    Ok(Imported {
        format: "gguf",
        architecture: arch,
        parameters: written.parameters,
        vocab,
        context: config["max_position_embeddings"].as_u64().unwrap_or(0) as usize,
        tensor_types: types.into_iter().collect(),
        has_chat_template: template.is_some(),
    })
}

/// `config.json` in `transformers`' terms from the GGUF keys of `arch`.
fn hf_config(
    meta: &Metadata<'_>,
    arch: &str,
    vocab: usize,
    tied: bool,
    tokenizer: &tokenizer::Built,
) -> Result<Value, ImportError> {
    let key = |k: &str| format!("{arch}.{k}");
    if let Some(scaling) = meta.optional_string(&key("rope.scaling.type"))
        && scaling != "none"
    {
        return Err(ImportError::Unsupported {
            path: meta.path().display().to_string(),
            what: format!("rope scaling {scaling:?} is not supported; models with plain rotary positions import"),
        });
    }
    let heads = meta.usize(&key("attention.head_count"))?;
    let hidden = meta.usize(&key("embedding_length"))?;
    if let Some(dims) = meta.optional_usize(&key("rope.dimension_count"))?
        && dims != hidden / heads.max(1)
    {
        return Err(ImportError::Unsupported {
            path: meta.path().display().to_string(),
            what: format!(
                "partial rotary embeddings ({dims} of {} dimensions) are not supported",
                hidden / heads.max(1)
            ),
        });
    }
    let (architecture, model_type) =
        if arch == "qwen2" { ("Qwen2ForCausalLM", "qwen2") } else { ("LlamaForCausalLM", "llama") };
    Ok(json!({
        "architectures": [architecture],
        "model_type": model_type,
        "hidden_size": hidden,
        "intermediate_size": meta.usize(&key("feed_forward_length"))?,
        "num_attention_heads": heads,
        "num_hidden_layers": meta.usize(&key("block_count"))?,
        "num_key_value_heads": meta.usize_or(&key("attention.head_count_kv"), heads)?,
        "vocab_size": vocab,
        "max_position_embeddings": meta.usize_or(&key("context_length"), 2048)?,
        "rms_norm_eps": meta.f64_or(&key("attention.layer_norm_rms_epsilon"), 1e-6)?,
        "rope_theta": meta.f64_or(&key("rope.freq_base"), 10_000.0)?,
        "tie_word_embeddings": tied,
        "hidden_act": "silu",
        "attention_bias": false,
        "torch_dtype": "float32",
        "bos_token_id": tokenizer.bos_id,
        "eos_token_id": tokenizer.eos_id,
        "pad_token_id": tokenizer.pad_id,
    }))
}

/// `tokenizer_config.json`: the special tokens and the chat template.
fn tokenizer_config(tokenizer: &tokenizer::Built, template: Option<&str>, config: &Value) -> Value {
    let mut out = json!({
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": config["max_position_embeddings"],
        "add_bos_token": tokenizer.add_bos,
        "add_eos_token": false,
        "clean_up_tokenization_spaces": false,
    });
    for (key, id) in [
        ("bos_token", tokenizer.bos_id),
        ("eos_token", tokenizer.eos_id),
        ("pad_token", tokenizer.pad_id),
        ("unk_token", tokenizer.unk_id),
    ] {
        if let Some(token) = id.and_then(|id| tokenizer.tokens.get(id as usize)) {
            out[key] = json!(token);
        }
    }
    if let Some(template) = template {
        out["chat_template"] = json!(template);
    }
    out
}

pub(crate) fn write_json(path: &Path, value: &Value) -> Result<(), ImportError> {
    let text = serde_json::to_vec_pretty(value).map_err(|e| ImportError::write(path, e))?;
    std::fs::write(path, text).map_err(|e| ImportError::write(path, e))
}
