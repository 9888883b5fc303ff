//! A Hugging Face Llama checkpoint written by hand here (safetensors with
//! PyTorch names and `[out, in]` weights, and a config.json) loads into the
//! model, which then computes the logits an independent, plain-Rust
//! reference of the Llama forward pass computes from the same numbers:
//! names, transposes, grouped heads, rotate-half positions and Qwen2's
//! query/key/value biases all line up.

use std::collections::BTreeMap;
use std::path::Path;

use burn::prelude::*;

type Cpu = burn::backend::NdArray<f32>;

const VOCAB: usize = 12;
const D: usize = 8;
const HEADS: usize = 2;
const KV: usize = 1;
const HD: usize = D / HEADS;
const FFN: usize = 16;
const LAYERS: usize = 2;
const EPS: f32 = 1e-6;
const THETA: f32 = 10_000.0;

/// Deterministic, distinct values for every tensor.
fn values(seed: usize, n: usize) -> Vec<f32> {
    (0..n).map(|i| (((seed * 7919 + i * 104_729) % 2001) as f32 / 1000.0 - 1.0) * 0.5).collect()
}

/// Tensors by HF name, row-major, with their shapes; with Qwen2's biases
/// on the query, key and value projections when `qkv_bias`.
fn checkpoint(qkv_bias: bool) -> BTreeMap<String, (Vec<usize>, Vec<f32>)> {
    let mut t = BTreeMap::new();
    let mut seed = 1;
    let mut add = |name: String, shape: Vec<usize>| {
        let n = shape.iter().product();
        t.insert(name, (shape, values(seed, n)));
        seed += 1;
    };
    add("model.embed_tokens.weight".into(), vec![VOCAB, D]);
    for l in 0..LAYERS {
        let p = format!("model.layers.{l}");
        add(format!("{p}.self_attn.q_proj.weight"), vec![HEADS * HD, D]);
        add(format!("{p}.self_attn.k_proj.weight"), vec![KV * HD, D]);
        add(format!("{p}.self_attn.v_proj.weight"), vec![KV * HD, D]);
        add(format!("{p}.self_attn.o_proj.weight"), vec![D, HEADS * HD]);
        if qkv_bias {
            add(format!("{p}.self_attn.q_proj.bias"), vec![HEADS * HD]);
            add(format!("{p}.self_attn.k_proj.bias"), vec![KV * HD]);
            add(format!("{p}.self_attn.v_proj.bias"), vec![KV * HD]);
        }
        add(format!("{p}.mlp.gate_proj.weight"), vec![FFN, D]);
        add(format!("{p}.mlp.up_proj.weight"), vec![FFN, D]);
        add(format!("{p}.mlp.down_proj.weight"), vec![D, FFN]);
        add(format!("{p}.input_layernorm.weight"), vec![D]);
        add(format!("{p}.post_attention_layernorm.weight"), vec![D]);
    }
    add("model.norm.weight".into(), vec![D]);
    add("lm_head.weight".into(), vec![VOCAB, D]);
    t
}

fn write_safetensors(path: &Path, tensors: &BTreeMap<String, (Vec<usize>, Vec<f32>)>) {
    let mut header = serde_json::Map::new();
    header.insert("__metadata__".into(), serde_json::json!({"format": "pt"}));
    let mut data = Vec::new();
    for (name, (shape, values)) in tensors {
        let start = data.len();
        for v in values {
            data.extend_from_slice(&v.to_le_bytes());
        }
        header.insert(
            name.clone(),
            serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [start, data.len()]}),
        );
    }
    let mut header = serde_json::to_vec(&serde_json::Value::Object(header)).expect("header");
    while !header.len().is_multiple_of(8) {
        header.push(b' ');
    }
    let mut file = (header.len() as u64).to_le_bytes().to_vec();
    file.extend_from_slice(&header);
    file.extend_from_slice(&data);
    std::fs::write(path, file).expect("write safetensors");
}

/// `y = x · Wᵀ` for a PyTorch-layout weight `[out, in]`.
fn linear(x: &[f32], w: &[f32], out: usize) -> Vec<f32> {
    let d_in = x.len();
    (0..out).map(|o| (0..d_in).map(|k| x[k] * w[o * d_in + k]).sum()).collect()
}

fn rms_norm(x: &[f32], w: &[f32]) -> Vec<f32> {
    let scale = 1.0 / (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32 + EPS).sqrt();
    x.iter().zip(w).map(|(v, g)| v * scale * g).collect()
}

fn rotate(v: &[f32], position: usize) -> Vec<f32> {
    let half = v.len() / 2;
    let mut out = vec![0.0; v.len()];
    for j in 0..half {
        let angle = position as f32 / THETA.powf(2.0 * j as f32 / v.len() as f32);
        let (sin, cos) = angle.sin_cos();
        out[j] = v[j] * cos - v[j + half] * sin;
        out[j + half] = v[j + half] * cos + v[j] * sin;
    }
    out
}

/// `linear` plus the projection's bias when the checkpoint has one.
fn projection(t: &BTreeMap<String, (Vec<usize>, Vec<f32>)>, x: &[f32], name: &str, out: usize) -> Vec<f32> {
    let y = linear(x, &t[&format!("{name}.weight")].1, out);
    match t.get(&format!("{name}.bias")) {
        Some((_, bias)) => y.iter().zip(bias).map(|(a, b)| a + b).collect(),
        None => y,
    }
}

/// The Llama (or Qwen2) forward pass, written out for one sequence.
fn reference(t: &BTreeMap<String, (Vec<usize>, Vec<f32>)>, tokens: &[usize]) -> Vec<f32> {
    let w = |name: &str| &t[name].1;
    let mut x: Vec<Vec<f32>> =
        tokens.iter().map(|&tok| w("model.embed_tokens.weight")[tok * D..(tok + 1) * D].to_vec()).collect();
    for l in 0..LAYERS {
        let p = format!("model.layers.{l}");
        let h: Vec<Vec<f32>> = x.iter().map(|xi| rms_norm(xi, w(&format!("{p}.input_layernorm.weight")))).collect();
        let q: Vec<Vec<f32>> =
            h.iter().map(|hi| projection(t, hi, &format!("{p}.self_attn.q_proj"), HEADS * HD)).collect();
        let k: Vec<Vec<f32>> =
            h.iter().map(|hi| projection(t, hi, &format!("{p}.self_attn.k_proj"), KV * HD)).collect();
        let v: Vec<Vec<f32>> =
            h.iter().map(|hi| projection(t, hi, &format!("{p}.self_attn.v_proj"), KV * HD)).collect();
        let mut context = vec![vec![0.0f32; HEADS * HD]; tokens.len()];
        for a in 0..HEADS {
            let g = a / (HEADS / KV);
            for i in 0..tokens.len() {
                let qi = rotate(&q[i][a * HD..(a + 1) * HD], i);
                let scores: Vec<f32> = (0..=i)
                    .map(|j| {
                        let kj = rotate(&k[j][g * HD..(g + 1) * HD], j);
                        qi.iter().zip(&kj).map(|(x, y)| x * y).sum::<f32>() / (HD as f32).sqrt()
                    })
                    .collect();
                let max = scores.iter().copied().fold(f32::MIN, f32::max);
                let exp: Vec<f32> = scores.iter().map(|s| (s - max).exp()).collect();
                let total: f32 = exp.iter().sum();
                for (j, e) in exp.iter().enumerate() {
                    for c in 0..HD {
                        context[i][a * HD + c] += e / total * v[j][g * HD + c];
                    }
                }
            }
        }
        for i in 0..tokens.len() {
            let o = linear(&context[i], w(&format!("{p}.self_attn.o_proj.weight")), D);
            for c in 0..D {
                x[i][c] += o[c];
            }
            let h2 = rms_norm(&x[i], w(&format!("{p}.post_attention_layernorm.weight")));
            let gate = linear(&h2, w(&format!("{p}.mlp.gate_proj.weight")), FFN);
            let up = linear(&h2, w(&format!("{p}.mlp.up_proj.weight")), FFN);
            let act: Vec<f32> = gate.iter().zip(&up).map(|(g, u)| g / (1.0 + (-g).exp()) * u).collect();
            let down = linear(&act, w(&format!("{p}.mlp.down_proj.weight")), D);
            for c in 0..D {
                x[i][c] += down[c];
            }
        }
    }
    x.iter().flat_map(|xi| linear(&rms_norm(xi, w("model.norm.weight")), w("lm_head.weight"), VOCAB)).collect()
}

/// Writes the checkpoint, loads it and compares its logits with the reference.
fn loads_and_matches_the_reference(model_type: &str, qkv_bias: bool) {
    let dir = tempfile::tempdir().expect("dir");
    let tensors = checkpoint(qkv_bias);
    write_safetensors(&dir.path().join("model.safetensors"), &tensors);
    let config = serde_json::json!({
        "architectures": ["LlamaForCausalLM"], "model_type": model_type,
        "hidden_size": D, "intermediate_size": FFN, "num_attention_heads": HEADS,
        "num_hidden_layers": LAYERS, "num_key_value_heads": KV, "vocab_size": VOCAB,
        "max_position_embeddings": 64, "rms_norm_eps": EPS, "rope_theta": THETA,
        "tie_word_embeddings": false
    });
    std::fs::write(dir.path().join("config.json"), config.to_string()).expect("config");

    let device = Default::default();
    let (model, size, vocab) = hangar_train::export::load_model::<Cpu>(dir.path(), &device).expect("load");
    assert_eq!((size.layers, size.kv_heads(), vocab, size.qkv_bias), (LAYERS, KV, VOCAB, qkv_bias));
    let tokens = [3usize, 1, 4, 1, 5, 9, 2];
    let input: Vec<i64> = tokens.iter().map(|&t| t as i64).collect();
    let input = Tensor::<Cpu, 1, Int>::from_ints(input.as_slice(), &device).reshape([1, tokens.len()]);
    let actual = model.forward(input.clone()).into_data().to_vec::<f32>().expect("f32");
    let expected = reference(&tensors, &tokens);
    assert_eq!(actual.len(), expected.len());
    let worst = actual.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(worst < 1e-4, "logits differ from the reference by {worst}");

    // Saved again, it keeps its architecture and every tensor.
    let again = tempfile::tempdir().expect("dir");
    hangar_train::export::save_model(&model, &size, vocab, None, again.path()).expect("save");
    let (reloaded, size_again, _) = hangar_train::export::load_model::<Cpu>(again.path(), &device).expect("reload");
    assert_eq!(size_again.qkv_bias, qkv_bias);
    let roundtrip = reloaded.forward(input).into_data().to_vec::<f32>().expect("f32");
    assert_eq!(roundtrip, actual);
}

#[test]
fn a_hand_written_hugging_face_llama_checkpoint_loads_and_matches_the_reference() {
    loads_and_matches_the_reference("llama", false);
}

#[test]
fn a_hand_written_qwen2_checkpoint_with_attention_biases_loads_and_matches_the_reference() {
    loads_and_matches_the_reference("qwen2", true);
}

#[test]
fn a_config_that_does_not_fit_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("config.json"), r#"{"hidden_size": 8, "num_attention_heads": 3, "num_hidden_layers": 1, "intermediate_size": 8, "vocab_size": 4}"#)
        .expect("config");
    let err = hangar_train::export::load_model::<Cpu>(dir.path(), &Default::default()).expect_err("refused");
    assert!(err.to_string().contains("not a multiple of heads"), "{err}");
}
