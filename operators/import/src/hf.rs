//! A Hugging Face model folder, copied as it is after checking that it is a
//! model this project can run: a llama or qwen2 config, safetensors
//! weights and a `tokenizer.json`.

use std::path::Path;

use serde_json::Value;

use crate::gguf::write_json;
use crate::{CONFIG, ImportError, Imported, TOKENIZER, TOKENIZER_CONFIG};

/// Files of an HF folder worth keeping besides the weights.
const KEPT: &[&str] = &[CONFIG, TOKENIZER, TOKENIZER_CONFIG, "generation_config.json", "special_tokens_map.json"];

pub fn import_folder(source: &Path, out: &Path) -> Result<Imported, ImportError> {
    let unsupported = |what: String| ImportError::Unsupported { path: source.display().to_string(), what };
    let read_json = |name: &str| -> Result<Option<Value>, ImportError> {
        let path = source.join(name);
        if !path.exists() {
            return Ok(None);
        }
        let bytes = std::fs::read(&path).map_err(|e| ImportError::read(&path, e))?;
        serde_json::from_slice(&bytes).map(Some).map_err(|e| ImportError::read(&path, e))
    };
    let config =
        read_json(CONFIG)?.ok_or_else(|| unsupported("no config.json: not a Hugging Face model folder".to_owned()))?;
    let model_type = config.get("model_type").and_then(Value::as_str).unwrap_or_default().to_owned();
    if !matches!(model_type.as_str(), "llama" | "qwen2") {
        return Err(unsupported(format!("model_type {model_type:?} is not supported; llama and qwen2 models import")));
    }
    if !source.join(TOKENIZER).exists() {
        return Err(unsupported(
            "no tokenizer.json; save the tokenizer with transformers' save_pretrained first".to_owned(),
        ));
    }
    let mut weights = 0;
    for entry in std::fs::read_dir(source).map_err(|e| ImportError::read(source, e))? {
        let path = entry.map_err(|e| ImportError::read(source, e))?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        let is_weights = name.ends_with(".safetensors");
        weights += usize::from(is_weights);
        if (is_weights || KEPT.contains(&name.as_str())) && name != TOKENIZER_CONFIG {
            std::fs::copy(&path, out.join(&name)).map_err(|e| ImportError::write(&out.join(&name), e))?;
        }
    }
    if weights == 0 {
        return Err(unsupported(
            "no *.safetensors weights; convert PyTorch .bin weights with save_pretrained(safe_serialization=True)"
                .to_owned(),
        ));
    }
    // Newer checkpoints keep the template beside the config in its own file.
    let mut tokenizer_config = read_json(TOKENIZER_CONFIG)?.unwrap_or_else(|| serde_json::json!({}));
    let template_file = source.join("chat_template.jinja");
    if tokenizer_config.get("chat_template").is_none() && template_file.exists() {
        let template = std::fs::read_to_string(&template_file).map_err(|e| ImportError::read(&template_file, e))?;
        tokenizer_config["chat_template"] = Value::String(template);
    }
    write_json(&out.join(TOKENIZER_CONFIG), &tokenizer_config)?;
    let number = |key: &str| config.get(key).and_then(Value::as_u64).unwrap_or(0);
    Ok(Imported {
        format: "hf",
        architecture: model_type,
        parameters: 0,
        vocab: number("vocab_size") as usize,
        context: number("max_position_embeddings") as usize,
        tensor_types: Vec::new(),
        has_chat_template: tokenizer_config.get("chat_template").is_some(),
    })
}
