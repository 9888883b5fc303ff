//! GGUF tensors to `model.safetensors` under Hugging Face's names, as f32.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use candle_core::Device;
use candle_core::quantized::gguf_file::Content;
use safetensors::{Dtype, tensor::TensorView};

use crate::{ImportError, WEIGHTS};

/// Head counts of a `llama` GGUF, whose query and key rows llama.cpp
/// reordered for its interleaved rotary layout; they are put back.
#[derive(Debug, Clone, Copy)]
pub struct Heads {
    pub q: usize,
    pub kv: usize,
}

pub struct Written {
    pub parameters: u64,
}

/// The Hugging Face name of a GGUF tensor, if it is one the model has.
pub fn hf_name(gguf: &str) -> Option<String> {
    let top = match gguf {
        "token_embd.weight" => Some("model.embed_tokens.weight"),
        "output_norm.weight" => Some("model.norm.weight"),
        "output.weight" => Some("lm_head.weight"),
        _ => None,
    };
    if let Some(name) = top {
        return Some(name.to_owned());
    }
    let rest = gguf.strip_prefix("blk.")?;
    let (layer, rest) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let (module, kind) = rest.rsplit_once('.')?;
    let hf = match module {
        "attn_norm" => "input_layernorm",
        "ffn_norm" => "post_attention_layernorm",
        "attn_q" => "self_attn.q_proj",
        "attn_k" => "self_attn.k_proj",
        "attn_v" => "self_attn.v_proj",
        "attn_output" => "self_attn.o_proj",
        "ffn_gate" => "mlp.gate_proj",
        "ffn_up" => "mlp.up_proj",
        "ffn_down" => "mlp.down_proj",
        _ => return None,
    };
    matches!(kind, "weight" | "bias").then(|| format!("model.layers.{layer}.{hf}.{kind}"))
}

/// Undoes llama.cpp's reordering of a query or key projection: within each
/// head it stored row `2i + j` what Hugging Face keeps at `j·d/2 + i`.
pub fn unpermute(data: &[f32], rows: usize, cols: usize, heads: usize) -> Vec<f32> {
    let head_dim = rows / heads.max(1);
    let half = head_dim / 2;
    let mut out = vec![0.0; data.len()];
    for h in 0..heads {
        for i in 0..half {
            for j in 0..2 {
                let from = (h * head_dim + 2 * i + j) * cols;
                let to = (h * head_dim + j * half + i) * cols;
                out[to..to + cols].copy_from_slice(&data[from..from + cols]);
            }
        }
    }
    out
}

/// One tensor as f32 values in row-major order, with its Hugging Face
/// (outermost first) dimensions.
///
/// # Errors
/// No such tensor, or a type candle cannot dequantize.
pub fn dequantize(
    path: &Path,
    content: &Content,
    reader: &mut BufReader<File>,
    name: &str,
) -> Result<(Vec<usize>, Vec<f32>), ImportError> {
    let fail =
        |reason: String| ImportError::Tensor { path: path.display().to_string(), tensor: name.to_owned(), reason };
    let quantized = content.tensor(reader, name, &Device::Cpu).map_err(|e| fail(e.to_string()))?;
    let tensor = quantized.dequantize(&Device::Cpu).map_err(|e| fail(format!("cannot dequantize: {e}")))?;
    let dims = tensor.dims().to_vec();
    let data = tensor.flatten_all().and_then(|t| t.to_vec1()).map_err(|e| fail(e.to_string()))?;
    Ok((dims, data))
}

/// Dequantizes every tensor and writes them to `out/model.safetensors`.
pub fn write_safetensors(
    path: &Path,
    content: &Content,
    reader: &mut BufReader<File>,
    unpermute_heads: Option<Heads>,
    out: &Path,
) -> Result<Written, ImportError> {
    let mut names: Vec<&String> = content.tensor_infos.keys().collect();
    names.sort();
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::with_capacity(names.len());
    let mut parameters = 0u64;
    for name in names {
        let fail =
            |reason: String| ImportError::Tensor { path: path.display().to_string(), tensor: name.clone(), reason };
        // llama 3's precomputed rope factors have no place in this model.
        if name == "rope_freqs.weight" {
            return Err(fail("llama 3 rope frequency factors are not supported".to_owned()));
        }
        let Some(hf) = hf_name(name) else {
            return Err(fail("no Hugging Face counterpart for this tensor".to_owned()));
        };
        let (dims, mut data) = dequantize(path, content, reader, name)?;
        if let Some(heads) = unpermute_heads
            && dims.len() == 2
        {
            let count = if hf.ends_with("q_proj.weight") {
                Some(heads.q)
            } else if hf.ends_with("k_proj.weight") {
                Some(heads.kv)
            } else {
                None
            };
            if let Some(count) = count {
                if dims[0] % (2 * count) != 0 {
                    return Err(fail(format!("{} rows do not split into {count} heads", dims[0])));
                }
                data = unpermute(&data, dims[0], dims[1], count);
            }
        }
        parameters += data.len() as u64;
        let bytes: Vec<u8> = data.iter().flat_map(|x| x.to_le_bytes()).collect();
        tensors.push((hf, dims, bytes));
    }
    let views = tensors
        .iter()
        .map(|(name, dims, bytes)| {
            TensorView::new(Dtype::F32, dims.clone(), bytes).map(|view| (name.clone(), view)).map_err(|e| {
                ImportError::Tensor { path: path.display().to_string(), tensor: name.clone(), reason: e.to_string() }
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let target = out.join(WEIGHTS);
    let metadata: HashMap<String, String> = HashMap::from([("format".to_owned(), "pt".to_owned())]);
    safetensors::serialize_to_file(views, Some(metadata), &target).map_err(|e| ImportError::write(&target, e))?;
    Ok(Written { parameters })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// llama.cpp's reordering, written from its description, to invert.
    fn permute(data: &[f32], rows: usize, cols: usize, heads: usize) -> Vec<f32> {
        let head_dim = rows / heads;
        let half = head_dim / 2;
        let mut out = vec![0.0; data.len()];
        for h in 0..heads {
            for j in 0..2 {
                for i in 0..half {
                    let from = (h * head_dim + j * half + i) * cols;
                    let to = (h * head_dim + 2 * i + j) * cols;
                    out[to..to + cols].copy_from_slice(&data[from..from + cols]);
                }
            }
        }
        out
    }

    #[test]
    fn unpermute_inverts_the_interleaving() {
        let (rows, cols, heads) = (12, 3, 3);
        let original: Vec<f32> = (0..rows * cols).map(|x| x as f32).collect();
        let stored = permute(&original, rows, cols, heads);
        assert_ne!(stored, original);
        assert_eq!(unpermute(&stored, rows, cols, heads), original);
        // Head 0 of four rows stores HF rows 0, 2, 1, 3.
        assert_eq!(stored[cols], original[2 * cols]);
    }

    #[test]
    fn names_map_to_hugging_face() {
        assert_eq!(hf_name("blk.12.attn_q.weight").as_deref(), Some("model.layers.12.self_attn.q_proj.weight"));
        assert_eq!(hf_name("blk.0.attn_k.bias").as_deref(), Some("model.layers.0.self_attn.k_proj.bias"));
        assert_eq!(hf_name("blk.3.ffn_down.weight").as_deref(), Some("model.layers.3.mlp.down_proj.weight"));
        assert_eq!(hf_name("token_embd.weight").as_deref(), Some("model.embed_tokens.weight"));
        assert_eq!(hf_name("blk.0.attn_qkv.weight"), None);
        assert_eq!(hf_name("blk.x.attn_q.weight"), None);
    }
}
