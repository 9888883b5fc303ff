//! A LoRA fine-tune's adapters in the layout of Hugging Face PEFT
//! (`adapter_model.safetensors` + `adapter_config.json`), so that the few
//! MB that were trained can be shipped and applied to the base with
//! `PeftModel.from_pretrained(base, folder)` instead of copying the whole
//! merged model.

use std::collections::HashMap;
use std::path::Path;

use burn::prelude::*;
use safetensors::{Dtype, tensor::TensorView};
use serde_json::json;

use crate::export::ModelFileError;
use crate::model::{Llama, LoraConfig};

pub const ADAPTER_WEIGHTS: &str = "adapter_model.safetensors";
pub const ADAPTER_CONFIG: &str = "adapter_config.json";

/// Writes the adapters of `model` into `dir` as a PEFT LoRA adapter of the
/// base named `base` (recorded in the config for the reader's information).
/// PEFT computes `x·Aᵀ·Bᵀ·(alpha/r)` from `lora_A.weight` `[r, in]` and
/// `lora_B.weight` `[out, r]`; this model keeps `A` `[in, r]` and `B`
/// `[r, out]`, so both are written transposed.
///
/// # Errors
/// When the model carries no adapter, or a file cannot be written.
pub fn save_adapter<B: Backend>(
    model: &Llama<B>,
    lora: &LoraConfig,
    base: Option<&str>,
    dir: &Path,
) -> Result<(), ModelFileError> {
    let fail = |path: &Path, reason: String| ModelFileError::Write { path: path.display().to_string(), reason };
    let adapters = model.adapters();
    if adapters.is_empty() {
        return Err(fail(dir, "the model has no LoRA adapters to export".to_owned()));
    }
    std::fs::create_dir_all(dir).map_err(|e| fail(dir, e.to_string()))?;
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::with_capacity(adapters.len() * 2);
    for adapter in &adapters {
        let prefix = format!("base_model.model.model.layers.{}.{}.{}", adapter.layer, adapter.block, adapter.name);
        let (a, b, _) = adapter.low_rank.parts();
        for (which, matrix) in [("lora_A", a), ("lora_B", b)] {
            let transposed = matrix.transpose();
            let dims = transposed.dims().to_vec();
            let values = transposed
                .into_data()
                .to_vec::<f32>()
                .map_err(|e| fail(dir, format!("cannot read {prefix}.{which}: {e:?}")))?;
            let bytes = values.iter().flat_map(|x| x.to_le_bytes()).collect();
            tensors.push((format!("{prefix}.{which}.weight"), dims, bytes));
        }
    }
    let views = tensors
        .iter()
        .map(|(name, dims, bytes)| {
            TensorView::new(Dtype::F32, dims.clone(), bytes)
                .map(|view| (name.clone(), view))
                .map_err(|e| fail(dir, format!("tensor {name}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let weights = dir.join(ADAPTER_WEIGHTS);
    let metadata = HashMap::from([("format".to_owned(), "pt".to_owned())]);
    safetensors::serialize_to_file(views, Some(metadata), &weights).map_err(|e| fail(&weights, e.to_string()))?;

    let mut targets: Vec<&str> = adapters.iter().map(|a| a.name).collect();
    targets.sort_unstable();
    targets.dedup();
    let config = json!({
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": base,
        "r": lora.rank,
        "lora_alpha": lora.alpha,
        "lora_dropout": 0.0,
        "target_modules": targets,
        "bias": "none",
        "fan_in_fan_out": false,
        "inference_mode": true,
        "use_rslora": false,
    });
    let path = dir.join(ADAPTER_CONFIG);
    let text = serde_json::to_vec_pretty(&config).map_err(|e| fail(&path, e.to_string()))?;
    std::fs::write(&path, text).map_err(|e| fail(&path, e.to_string()))
}
