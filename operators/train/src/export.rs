//! The model on disk in Hugging Face's Llama layout: `model.safetensors`
//! (PyTorch names and `[out, in]` linear weights) and `config.json`, which
//! `transformers` and `safetensors` read as they are, and which this crate
//! loads back for fine-tuning, deployment and evaluation.

use std::path::Path;

use burn::prelude::*;
use burn_store::{BurnToPyTorchAdapter, ModuleSnapshot, PyTorchToBurnAdapter, SafetensorsStore};
use serde_json::{Value, json};

use crate::model::{Llama, ModelSize};

pub const WEIGHTS: &str = "model.safetensors";
pub const CONFIG: &str = "config.json";

/// Why a model folder could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ModelFileError {
    #[error("cannot write {path}: {reason}")]
    Write { path: String, reason: String },
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{path} is not a Llama-style config: {reason}")]
    Config { path: String, reason: String },
}

/// The `config.json` of a model with these sizes: a Qwen2 model when the
/// query, key and value projections have biases, a Llama otherwise.
pub fn hf_config(size: &ModelSize, vocab: usize, eos_id: Option<u32>) -> Value {
    let (architecture, model_type) =
        if size.qkv_bias { ("Qwen2ForCausalLM", "qwen2") } else { ("LlamaForCausalLM", "llama") };
    json!({
        "architectures": [architecture],
        "model_type": model_type,
        "hidden_size": size.d_model,
        "intermediate_size": size.ffn(),
        "num_attention_heads": size.heads,
        "num_hidden_layers": size.layers,
        "num_key_value_heads": size.kv_heads(),
        "vocab_size": vocab,
        "max_position_embeddings": size.context,
        "rms_norm_eps": size.norm_eps,
        "rope_theta": size.rope_theta,
        "tie_word_embeddings": size.tie_embeddings,
        "hidden_act": "silu",
        "attention_bias": false,
        "torch_dtype": "float32",
        "eos_token_id": eos_id,
    })
}

/// Sizes and vocabulary from a Llama- or Qwen2-style `config.json`.
///
/// # Errors
/// A missing or ill-typed field, or an architecture this model cannot hold.
pub fn read_hf_config(path: &Path) -> Result<(ModelSize, usize), ModelFileError> {
    let fail = |reason: String| ModelFileError::Config { path: path.display().to_string(), reason };
    let text = std::fs::read(path)
        .map_err(|e| ModelFileError::Read { path: path.display().to_string(), reason: e.to_string() })?;
    let config: Value = serde_json::from_slice(&text).map_err(|e| fail(e.to_string()))?;
    let number = |key: &str| config.get(key).and_then(Value::as_u64).map(|n| n as usize);
    let need = |key: &str| number(key).ok_or_else(|| fail(format!("missing \"{key}\"")));
    let flag = |key: &str| config.get(key).and_then(Value::as_bool) == Some(true);
    // Llama's `attention_bias` also puts a bias on the output projection,
    // which this model does not have; Qwen2 biases q, k and v only.
    if flag("attention_bias") {
        return Err(fail("attention_bias (a bias on every attention projection, o_proj included) is not supported; Llama checkpoints without it and Qwen2 checkpoints load".to_owned()));
    }
    if flag("mlp_bias") {
        return Err(fail("mlp_bias is not supported; the MLP projections here have no bias".to_owned()));
    }
    let qwen2 = config.get("model_type").and_then(Value::as_str) == Some("qwen2");
    let heads = need("num_attention_heads")?;
    let size = ModelSize {
        layers: need("num_hidden_layers")?,
        d_model: need("hidden_size")?,
        heads,
        kv_heads: Some(number("num_key_value_heads").unwrap_or(heads)),
        ffn: Some(need("intermediate_size")?),
        context: number("max_position_embeddings").unwrap_or(2048),
        tie_embeddings: config.get("tie_word_embeddings").and_then(Value::as_bool).unwrap_or(false),
        rope_theta: config.get("rope_theta").and_then(Value::as_f64).unwrap_or(10_000.0) as f32,
        norm_eps: config.get("rms_norm_eps").and_then(Value::as_f64).unwrap_or(1e-6),
        qkv_bias: qwen2,
    };
    if let Some((field, problem)) = size.problems().into_iter().next() {
        return Err(fail(format!("{field}: {problem}")));
    }
    Ok((size, need("vocab_size")?))
}

/// Writes `model.safetensors` and `config.json` into `dir`, with any LoRA
/// adapters merged into the weights.
///
/// # Errors
/// When a file cannot be written.
pub fn save_model<B: Backend>(
    model: &Llama<B>,
    size: &ModelSize,
    vocab: usize,
    eos_id: Option<u32>,
    dir: &Path,
) -> Result<(), ModelFileError> {
    let weights = dir.join(WEIGHTS);
    let fail = |path: &Path, reason: String| ModelFileError::Write { path: path.display().to_string(), reason };
    std::fs::create_dir_all(dir).map_err(|e| fail(dir, e.to_string()))?;
    let mut store = SafetensorsStore::from_file(&weights)
        .with_to_adapter(BurnToPyTorchAdapter)
        .with_key_remapping(r"^(embed_tokens|layers|norm)\.", "model.$1.")
        .with_key_remapping(r"_proj\.linear\.", "_proj.")
        .with_key_remapping(r"\.gamma$", ".weight")
        .metadata("format", "pt")
        .overwrite(true);
    model.clone().merge().save_into(&mut store).map_err(|e| fail(&weights, e.to_string()))?;
    let config = serde_json::to_vec_pretty(&hf_config(size, vocab, eos_id)).map_err(|e| fail(dir, e.to_string()))?;
    std::fs::write(dir.join(CONFIG), config).map_err(|e| fail(&dir.join(CONFIG), e.to_string()))
}

/// Loads a model folder written by [`save_model`] or a Hugging Face
/// Llama checkpoint (`config.json` + `*.safetensors`).
///
/// # Errors
/// A missing or unreadable file, or weights that do not fit the config.
pub fn load_model<B: Backend>(dir: &Path, device: &B::Device) -> Result<(Llama<B>, ModelSize, usize), ModelFileError> {
    let (size, vocab) = read_hf_config(&dir.join(CONFIG))?;
    let mut model = Llama::new(&size, vocab, device);
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| ModelFileError::Read { path: dir.display().to_string(), reason: e.to_string() })?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(ModelFileError::Read {
            path: dir.display().to_string(),
            reason: "no *.safetensors file".to_owned(),
        });
    }
    let several = files.len() > 1;
    for file in &files {
        let mut store = SafetensorsStore::from_file(file)
            .with_from_adapter(PyTorchToBurnAdapter)
            .with_key_remapping(r"^model\.", "")
            .with_key_remapping(r"(input_layernorm|post_attention_layernorm|norm)\.weight$", "$1.gamma")
            .with_key_remapping(r"_proj\.(weight|bias)$", "_proj.linear.$1")
            // Sharded checkpoints hold part of the weights each.
            .allow_partial(several);
        model
            .load_from(&mut store)
            .map_err(|e| ModelFileError::Read { path: file.display().to_string(), reason: e.to_string() })?;
    }
    Ok((model, size, vocab))
}
