//! Model import: a GGUF file (llama.cpp's format, what most people
//! download) or a Hugging Face folder becomes a plain HF-layout model
//! folder: `model.safetensors` (f32), `config.json`, `tokenizer.json` and
//! `tokenizer_config.json` with the model's chat template. Everything else
//! in Hangar (fine-tuning, evaluation, serving) reads that folder.

mod error;
pub mod gguf;
mod hf;
mod operator;
pub mod source;

use std::path::Path;

pub use error::ImportError;
pub use operator::{Import, ImportConfig};
use serde_json::Value;

pub const WEIGHTS: &str = "model.safetensors";
pub const CONFIG: &str = "config.json";
pub const TOKENIZER: &str = "tokenizer.json";
pub const TOKENIZER_CONFIG: &str = "tokenizer_config.json";

/// Registers `import`.
///
/// # Errors
/// When an operator of that name is registered already.
pub fn register(registry: &mut hangar_sdk::Registry) -> Result<(), hangar_sdk::DuplicateOperator> {
    registry.register(Import)
}

/// What an import produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    /// `gguf` or `hf`.
    pub format: &'static str,
    /// `llama` or `qwen2`.
    pub architecture: String,
    pub parameters: u64,
    pub vocab: usize,
    pub context: usize,
    /// GGUF tensor types and how many tensors had each.
    pub tensor_types: Vec<(String, usize)>,
    pub has_chat_template: bool,
}

impl Imported {
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "format": self.format,
            "architecture": self.architecture,
            "parameters": self.parameters,
            "vocab": self.vocab,
            "context": self.context,
            "tensor_types": self.tensor_types.iter().map(|(t, n)| serde_json::json!({"type": t, "count": n})).collect::<Vec<_>>(),
            "chat_template": self.has_chat_template,
        })
    }
}

/// Imports the GGUF file or HF folder at `source` into the empty folder `out`.
///
/// # Errors
/// An unreadable or unsupported model, or a folder that cannot be written.
pub fn import(source: &Path, out: &Path) -> Result<Imported, ImportError> {
    std::fs::create_dir_all(out).map_err(|e| ImportError::write(out, e))?;
    if source.is_dir() {
        hf::import_folder(source, out)
    } else if gguf::is_gguf(source)? {
        gguf::import_gguf(source, out)
    } else {
        Err(ImportError::Unsupported {
            path: source.display().to_string(),
            what: "neither a GGUF file nor a folder with config.json; give a .gguf file or a Hugging Face model folder"
                .to_owned(),
        })
    }
}
