//! A decoder-only transformer of the LLaMA family: token embedding, blocks
//! of (RMSNorm → causal grouped-query attention with rotary positions) and
//! (RMSNorm → SwiGLU MLP) with residuals, a final RMSNorm and an output
//! head, tied to the embedding or not. Field names follow Hugging Face's
//! `LlamaForCausalLM`, so weights map one to one onto its checkpoints.
//!
//! This module is the seam to burn: the trainer sees only [`Llama`],
//! [`LlamaConfig`] and `forward`.

mod adapters;
mod attention;
mod cache;
mod lora;
mod mlp;
mod projection;
mod rope;

use burn::nn::{Embedding, EmbeddingConfig, Initializer, Linear, LinearConfig, RmsNorm, RmsNormConfig};
use burn::prelude::*;
use burn::tensor::DType;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use adapters::{AdapterRecords, NamedAdapter};
use attention::{Attention, AttentionShape};
pub use cache::KvCache;
pub use lora::{LoraConfig, TARGETS as LORA_TARGETS};
use mlp::Mlp;
use projection::matmul;
pub use rope::Rope;

/// Sizes of the model. The vocabulary comes from the tokenizer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelSize {
    /// Transformer blocks.
    #[serde(default = "default_layers")]
    pub layers: usize,
    /// Width of the residual stream.
    #[serde(default = "default_d_model")]
    pub d_model: usize,
    /// Attention heads; `d_model` must be a multiple.
    #[serde(default = "default_heads")]
    pub heads: usize,
    /// Key/value heads (grouped-query attention); divides `heads`. Default: `heads`.
    #[serde(default)]
    pub kv_heads: Option<usize>,
    /// Hidden width of the SwiGLU MLP. Default: about 8/3 × `d_model`, rounded up to 64.
    #[serde(default)]
    pub ffn: Option<usize>,
    /// Longest sequence, in tokens.
    #[serde(default = "default_context")]
    pub context: usize,
    /// Share the embedding matrix with the output head.
    #[serde(default = "default_true")]
    pub tie_embeddings: bool,
    /// Base of the rotary position frequencies.
    #[serde(default = "default_rope_theta")]
    pub rope_theta: f32,
    /// Epsilon of RMSNorm.
    #[serde(default = "default_norm_eps")]
    pub norm_eps: f64,
    /// Biases on the query, key and value projections, as in Qwen2.
    #[serde(default)]
    pub qkv_bias: bool,
}

fn default_layers() -> usize {
    4
}
fn default_d_model() -> usize {
    256
}
fn default_heads() -> usize {
    4
}
fn default_context() -> usize {
    256
}
fn default_true() -> bool {
    true
}
fn default_rope_theta() -> f32 {
    10_000.0
}
fn default_norm_eps() -> f64 {
    1e-5
}

impl Default for ModelSize {
    fn default() -> Self {
        Self {
            layers: default_layers(),
            d_model: default_d_model(),
            heads: default_heads(),
            kv_heads: None,
            ffn: None,
            context: default_context(),
            tie_embeddings: true,
            rope_theta: default_rope_theta(),
            norm_eps: default_norm_eps(),
            qkv_bias: false,
        }
    }
}

impl ModelSize {
    pub fn kv_heads(&self) -> usize {
        self.kv_heads.unwrap_or(self.heads)
    }

    pub fn ffn(&self) -> usize {
        self.ffn.unwrap_or_else(|| (self.d_model * 8 / 3).div_ceil(64) * 64)
    }

    pub fn head_dim(&self) -> usize {
        self.d_model / self.heads.max(1)
    }

    /// What is wrong with these sizes, if anything.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.layers == 0 || self.d_model == 0 || self.heads == 0 || self.context < 2 {
            out.push(("layers", "layers, d_model and heads must be positive and context at least 2".to_owned()));
        }
        if self.heads > 0 && !self.d_model.is_multiple_of(self.heads) {
            out.push(("d_model", format!("d_model {} is not a multiple of heads {}", self.d_model, self.heads)));
        } else if self.heads > 0 && !self.head_dim().is_multiple_of(2) {
            out.push((
                "heads",
                format!("the head width d_model/heads = {} must be even (rotary pairs)", self.head_dim()),
            ));
        }
        let kv = self.kv_heads();
        if kv == 0 || !self.heads.is_multiple_of(kv) {
            out.push(("kv_heads", format!("kv_heads {kv} must divide heads {}", self.heads)));
        }
        out
    }

    /// Parameters of the model with a vocabulary of `vocab` tokens.
    pub fn parameters(&self, vocab: usize) -> usize {
        // Saturating: a hostile config's sizes must give a huge count, not a panic.
        let m = usize::saturating_mul;
        let d = self.d_model;
        let kv = m(self.kv_heads(), self.head_dim());
        let biases = if self.qkv_bias { d.saturating_add(m(2, kv)) } else { 0 };
        let block = m(m(d, d), 2)
            .saturating_add(m(m(d, kv), 2))
            .saturating_add(m(m(3, d), self.ffn()))
            .saturating_add(m(2, d))
            .saturating_add(biases);
        let head = if self.tie_embeddings { 0 } else { m(vocab, d) };
        m(vocab, d).saturating_add(m(self.layers, block)).saturating_add(d).saturating_add(head)
    }
}

/// Weights start as N(0, 0.02), as in GPT-2 and LLaMA: small logits, a
/// first loss near ln(vocab).
pub(crate) fn init() -> Initializer {
    Initializer::Normal { mean: 0.0, std: 0.02 }
}

/// A block: attention and MLP, each after an RMSNorm, each with a residual.
#[derive(Module, Debug)]
pub struct Block<B: Backend> {
    self_attn: Attention<B>,
    mlp: Mlp<B>,
    input_layernorm: RmsNorm<B>,
    post_attention_layernorm: RmsNorm<B>,
}

impl<B: Backend> Block<B> {
    fn forward(&self, x: Tensor<B, 3>, pass: &Pass<B>) -> Tensor<B, 3> {
        let h = x.clone() + self.self_attn.forward(self.input_layernorm.forward(x), pass);
        self.feed_forward(h, pass)
    }

    /// The MLP half of the block, with its residual.
    fn feed_forward(&self, h: Tensor<B, 3>, pass: &Pass<B>) -> Tensor<B, 3> {
        h.clone() + self.mlp.forward(self.post_attention_layernorm.forward(h), pass)
    }
}

impl<B: Backend> Block<B> {
    fn forward_cached(
        &self,
        x: Tensor<B, 3>,
        pass: &Pass<B>,
        cache: &mut Option<(Tensor<B, 4>, Tensor<B, 4>)>,
        mask: Tensor<B, 4, Bool>,
    ) -> Tensor<B, 3> {
        let h = x.clone() + self.self_attn.forward_cached(self.input_layernorm.forward(x), pass, cache, mask);
        self.feed_forward(h, pass)
    }
}

/// One projection as `[out][in]` rows: (rows, out, in, bias).
pub type PlainMatrix = (Vec<f32>, usize, usize, Option<Vec<f32>>);

/// A block's weights as plain vectors.
pub struct PlainLayer {
    pub attn_norm: Vec<f32>,
    /// q, k, v, o.
    pub attention: [PlainMatrix; 4],
    pub mlp_norm: Vec<f32>,
    /// gate, up, down.
    pub mlp: [PlainMatrix; 3],
}

/// The whole model's weights as plain vectors.
pub struct PlainWeights {
    /// `[vocab][d_model]`.
    pub embed: Vec<f32>,
    pub layers: Vec<PlainLayer>,
    pub norm: Vec<f32>,
    /// `[vocab][d_model]`: one row per output token.
    pub head: Vec<f32>,
    pub vocab: usize,
    pub d_model: usize,
    pub head_dim: usize,
    pub rope_theta: f32,
}

/// What every block of one forward pass shares.
pub struct Pass<B: Backend> {
    rope: Rope<B>,
    /// The dtype of the matrix products (mixed precision), or the weights' own.
    dtype: Option<DType>,
}

/// The whole model.
#[derive(Module, Debug)]
pub struct Llama<B: Backend> {
    embed_tokens: Embedding<B>,
    layers: Vec<Block<B>>,
    norm: RmsNorm<B>,
    /// Absent when tied to `embed_tokens`.
    lm_head: Option<Linear<B>>,
    head_dim: usize,
    rope_theta: f32,
    /// Mixed precision: matrix products in this dtype, weights, norms and
    /// softmax in the backend's own.
    #[module(skip)]
    matmul_dtype: Option<DType>,
}

impl<B: Backend> Llama<B> {
    /// A randomly initialised model (burn's default initialisers, seeded by the backend seed).
    pub fn new(size: &ModelSize, vocab: usize, device: &B::Device) -> Self {
        let shape = AttentionShape {
            d_model: size.d_model,
            heads: size.heads,
            kv_heads: size.kv_heads(),
            qkv_bias: size.qkv_bias,
        };
        let norm = |d: usize| RmsNormConfig::new(d).with_epsilon(size.norm_eps).init(device);
        let layers = (0..size.layers)
            .map(|_| Block {
                self_attn: Attention::new(shape, device),
                mlp: Mlp::new(size.d_model, size.ffn(), device),
                input_layernorm: norm(size.d_model),
                post_attention_layernorm: norm(size.d_model),
            })
            .collect();
        Self {
            embed_tokens: EmbeddingConfig::new(vocab, size.d_model).with_initializer(init()).init(device),
            layers,
            norm: norm(size.d_model),
            lm_head: (!size.tie_embeddings)
                .then(|| LinearConfig::new(size.d_model, vocab).with_bias(false).with_initializer(init()).init(device)),
            head_dim: size.head_dim(),
            rope_theta: size.rope_theta,
            matmul_dtype: None,
        }
    }

    /// Runs the matrix products in `dtype` (e.g. bf16 on CUDA), or in the
    /// weights' own precision with `None`.
    pub fn with_matmul_dtype(self, dtype: Option<DType>) -> Self {
        Self { matmul_dtype: dtype, ..self }
    }

    /// Freezes every weight and attaches trainable low-rank adapters to the
    /// projections `lora` targets, drawn from the backend's generator.
    pub fn adapt(self, lora: &LoraConfig, device: &B::Device) -> Self {
        let frozen = self.no_grad();
        let layers = frozen
            .layers
            .into_iter()
            .map(|block| Block {
                self_attn: block.self_attn.adapt(lora, device),
                mlp: block.mlp.adapt(lora, device),
                ..block
            })
            .collect();
        Self { layers, ..frozen }
    }

    /// Folds any adapters into their weights: a plain model again.
    pub fn merge(self) -> Self {
        let layers = self
            .layers
            .into_iter()
            .map(|block| Block { self_attn: block.self_attn.merge(), mlp: block.mlp.merge(), ..block })
            .collect();
        Self { layers, ..self }
    }

    /// Every weight as plain `f32` rows, for the CPU decoder.
    pub fn plain_weights(&self) -> PlainWeights {
        let vector = |t: Tensor<B, 1>| t.into_data().to_vec::<f32>().unwrap_or_default();
        let layers = self
            .layers
            .iter()
            .map(|block| PlainLayer {
                attn_norm: vector(block.input_layernorm.gamma.val()),
                attention: block.self_attn.projections(),
                mlp_norm: vector(block.post_attention_layernorm.gamma.val()),
                mlp: block.mlp.projections(),
            })
            .collect();
        let head = self.head_weight();
        let [d, vocab] = head.dims();
        PlainWeights {
            embed: self.embed_tokens.weight.val().into_data().to_vec::<f32>().unwrap_or_default(),
            layers,
            norm: vector(self.norm.gamma.val()),
            head: head.transpose().into_data().to_vec::<f32>().unwrap_or_default(),
            vocab,
            d_model: d,
            head_dim: self.head_dim,
            rope_theta: self.rope_theta,
        }
    }

    /// Layers, for sizing a [`KvCache`].
    pub fn layer_count(&self) -> usize {
        self.layers.len()
    }

    /// The output head, `[d_model, vocab]`: `lm_head`'s weight, or when tied
    /// the embedding matrix `[vocab, d_model]` read backwards.
    fn head_weight(&self) -> Tensor<B, 2> {
        match &self.lm_head {
            Some(head) => head.weight.val(),
            None => self.embed_tokens.weight.val().transpose(),
        }
    }

    /// The output head as one contiguous `[d_model, vocab]` matrix: a tied
    /// head read through a transposed view would be copied on every step.
    pub fn output_head(&self) -> Tensor<B, 2> {
        let weight = self.head_weight();
        let device = weight.device();
        Tensor::<B, 2>::from_data(weight.into_data(), &device)
    }

    /// One step of incremental decoding: `tokens` `[batch, new]` follow what
    /// `cache` holds; returns the logits of the last new position, `[batch, vocab]`.
    /// `head` is [`Llama::output_head`], computed once per model.
    pub fn forward_cached(
        &self,
        tokens: Tensor<B, 2, Int>,
        cache: &mut KvCache<B>,
        head: &Tensor<B, 2>,
    ) -> Tensor<B, 2> {
        let [b, new] = tokens.dims();
        let device = tokens.device();
        let rope = Rope::window(self.head_dim, cache.len(), new, self.rope_theta, &device);
        let pass = Pass { rope, dtype: self.matmul_dtype };
        let mask = cache.step_mask(new, &device);
        let mut x = self.embed_tokens.forward(tokens);
        for (layer, slot) in self.layers.iter().zip(cache.layers.iter_mut()) {
            x = layer.forward_cached(x, &pass, slot, mask.clone());
        }
        cache.advance(new);
        let [_, _, d] = x.dims();
        let last = self.norm.forward(x.slice([0..b, new - 1..new, 0..d])).reshape([b, d]);
        matmul(last, head.clone(), pass.dtype)
    }

    /// Logits `[batch, seq, vocab]` for tokens `[batch, seq]`.
    pub fn forward(&self, tokens: Tensor<B, 2, Int>) -> Tensor<B, 3> {
        let [b, s] = tokens.dims();
        let logits = self.head(self.hidden(tokens));
        let vocab = logits.dims()[1];
        logits.reshape([b, s, vocab])
    }

    /// The last hidden states `[batch·seq, d_model]` (after the final norm)
    /// for tokens `[batch, seq]`: what the output head reads.
    pub fn hidden(&self, tokens: Tensor<B, 2, Int>) -> Tensor<B, 2> {
        let [_, seq] = tokens.dims();
        let pass =
            Pass { rope: Rope::new(self.head_dim, seq, self.rope_theta, &tokens.device()), dtype: self.matmul_dtype };
        let mut x = self.embed_tokens.forward(tokens);
        for layer in &self.layers {
            x = layer.forward(x, &pass);
        }
        let x = self.norm.forward(x);
        let [b, s, d] = x.dims();
        x.reshape([b * s, d])
    }

    /// Logits `[rows, vocab]` of hidden states `[rows, d_model]`. Training
    /// gives it only the positions whose loss counts: with a 49k vocabulary
    /// the head and its cross-entropy are a large part of a step.
    pub fn head(&self, hidden: Tensor<B, 2>) -> Tensor<B, 2> {
        matmul(hidden, self.head_weight(), self.matmul_dtype)
    }
}
