//! Causal self-attention with grouped key/value heads and rotary positions.

use burn::prelude::*;
use burn::tensor::activation::softmax;

use super::projection::{Projection, matmul};
use super::{LoraConfig, Pass};

#[derive(Debug, Clone, Copy)]
pub struct AttentionShape {
    pub d_model: usize,
    pub heads: usize,
    pub kv_heads: usize,
    /// Biases on the query, key and value projections (Qwen2).
    pub qkv_bias: bool,
}

#[derive(Module, Debug)]
pub struct Attention<B: Backend> {
    q_proj: Projection<B>,
    k_proj: Projection<B>,
    v_proj: Projection<B>,
    o_proj: Projection<B>,
    heads: usize,
    kv_heads: usize,
}

impl<B: Backend> Attention<B> {
    pub fn new(shape: AttentionShape, device: &B::Device) -> Self {
        let head_dim = shape.d_model / shape.heads;
        let (d, bias) = (shape.d_model, shape.qkv_bias);
        Self {
            q_proj: Projection::new(d, shape.heads * head_dim, bias, device),
            k_proj: Projection::new(d, shape.kv_heads * head_dim, bias, device),
            v_proj: Projection::new(d, shape.kv_heads * head_dim, bias, device),
            o_proj: Projection::new(shape.heads * head_dim, d, false, device),
            heads: shape.heads,
            kv_heads: shape.kv_heads,
        }
    }

    pub fn forward(&self, x: Tensor<B, 3>, pass: &Pass<B>) -> Tensor<B, 3> {
        let [_, s, _] = x.dims();
        let (q, k, v) = self.project(x, pass);
        // True above the diagonal: a position never sees the ones after it.
        let mask = Tensor::<B, 2, Bool>::tril_mask([s, s], 0, &q.device()).reshape([1, 1, s, s]);
        self.attend(q, k, v, mask, pass)
    }

    /// The new positions of a cached decoding step: their keys and values
    /// join `cache` (this layer's), their queries look at every cached one.
    pub fn forward_cached(
        &self,
        x: Tensor<B, 3>,
        pass: &Pass<B>,
        cache: &mut Option<(Tensor<B, 4>, Tensor<B, 4>)>,
        mask: Tensor<B, 4, Bool>,
    ) -> Tensor<B, 3> {
        let (q, k, v) = self.project(x, pass);
        let (k, v) = match cache.take() {
            Some((past_k, past_v)) => (Tensor::cat(vec![past_k, k], 2), Tensor::cat(vec![past_v, v], 2)),
            None => (k, v),
        };
        *cache = Some((k.clone(), v.clone()));
        self.attend(q, k, v, mask, pass)
    }

    /// Queries (rotated), keys (rotated) and values, `[batch, heads, seq, head_dim]`.
    fn project(&self, x: Tensor<B, 3>, pass: &Pass<B>) -> (Tensor<B, 4>, Tensor<B, 4>, Tensor<B, 4>) {
        let [b, s, d] = x.dims();
        let head_dim = d / self.heads;
        let dtype = pass.dtype;
        let split = |t: Tensor<B, 3>, heads: usize| t.reshape([b, s, heads, head_dim]).swap_dims(1, 2);
        let q = pass.rope.apply(split(self.q_proj.forward(x.clone(), dtype), self.heads));
        let k = pass.rope.apply(split(self.k_proj.forward(x.clone(), dtype), self.kv_heads));
        let v = split(self.v_proj.forward(x, dtype), self.kv_heads);
        (q, k, v)
    }

    /// Softmax attention of `q` over `k`/`v` where `mask` (broadcast to
    /// `[batch, heads, queries, keys]`) is false, then the output projection.
    fn attend(
        &self,
        q: Tensor<B, 4>,
        k: Tensor<B, 4>,
        v: Tensor<B, 4>,
        mask: Tensor<B, 4, Bool>,
        pass: &Pass<B>,
    ) -> Tensor<B, 3> {
        let [b, _, s, head_dim] = q.dims();
        let total = k.dims()[2];
        let dtype = pass.dtype;
        let (k, v) = (self.repeat_kv(k), self.repeat_kv(v));
        let scores = matmul(q, k.swap_dims(2, 3), dtype).div_scalar((head_dim as f32).sqrt());
        let scores = scores.mask_fill(mask.expand([b, self.heads, s, total]), f32::NEG_INFINITY);
        let context = matmul(softmax(scores, 3), v, dtype);
        self.o_proj.forward(context.swap_dims(1, 2).reshape([b, s, self.heads * head_dim]), dtype)
    }

    /// Each key/value head serves `heads / kv_heads` query heads.
    fn repeat_kv(&self, t: Tensor<B, 4>) -> Tensor<B, 4> {
        let groups = self.heads / self.kv_heads;
        if groups == 1 {
            return t;
        }
        let [b, kv, s, hd] = t.dims();
        t.reshape([b, kv, 1, s, hd]).repeat_dim(2, groups).reshape([b, kv * groups, s, hd])
    }

    /// q, k, v and o projections as `[out][in]` rows with their biases.
    pub fn projections(&self) -> [super::PlainMatrix; 4] {
        [self.q_proj.rows(), self.k_proj.rows(), self.v_proj.rows(), self.o_proj.rows()]
    }

    pub fn adapt(self, adapters: &LoraConfig, device: &B::Device) -> Self {
        Self {
            q_proj: adapters.apply("q_proj", self.q_proj, device),
            k_proj: adapters.apply("k_proj", self.k_proj, device),
            v_proj: adapters.apply("v_proj", self.v_proj, device),
            o_proj: adapters.apply("o_proj", self.o_proj, device),
            ..self
        }
    }

    /// The projections by their Hugging Face names, in a fixed order.
    pub fn each(&self) -> [(&'static str, &Projection<B>); 4] {
        [("q_proj", &self.q_proj), ("k_proj", &self.k_proj), ("v_proj", &self.v_proj), ("o_proj", &self.o_proj)]
    }

    /// Each projection replaced by what `f` makes of it, in the order of [`Self::each`].
    pub fn map_each(self, f: &mut impl FnMut(Projection<B>) -> Projection<B>) -> Self {
        let (q_proj, k_proj, v_proj, o_proj) = (f(self.q_proj), f(self.k_proj), f(self.v_proj), f(self.o_proj));
        Self { q_proj, k_proj, v_proj, o_proj, ..self }
    }

    pub fn merge(self) -> Self {
        Self {
            q_proj: self.q_proj.merge(),
            k_proj: self.k_proj.merge(),
            v_proj: self.v_proj.merge(),
            o_proj: self.o_proj.merge(),
            ..self
        }
    }
}
