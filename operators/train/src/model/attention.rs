//! Causal self-attention with grouped key/value heads and rotary positions.

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::softmax;

use super::rope::Rope;

#[derive(Debug, Clone, Copy)]
pub struct AttentionShape {
    pub d_model: usize,
    pub heads: usize,
    pub kv_heads: usize,
}

#[derive(Module, Debug)]
pub struct Attention<B: Backend> {
    q_proj: Linear<B>,
    k_proj: Linear<B>,
    v_proj: Linear<B>,
    o_proj: Linear<B>,
    heads: usize,
    kv_heads: usize,
}

impl<B: Backend> Attention<B> {
    pub fn new(shape: AttentionShape, device: &B::Device) -> Self {
        let head_dim = shape.d_model / shape.heads;
        let linear = |d_in: usize, d_out: usize| {
            LinearConfig::new(d_in, d_out).with_bias(false).with_initializer(super::init()).init(device)
        };
        Self {
            q_proj: linear(shape.d_model, shape.heads * head_dim),
            k_proj: linear(shape.d_model, shape.kv_heads * head_dim),
            v_proj: linear(shape.d_model, shape.kv_heads * head_dim),
            o_proj: linear(shape.heads * head_dim, shape.d_model),
            heads: shape.heads,
            kv_heads: shape.kv_heads,
        }
    }

    pub fn forward(&self, x: Tensor<B, 3>, rope: &Rope<B>) -> Tensor<B, 3> {
        let [b, s, d] = x.dims();
        let head_dim = d / self.heads;
        let split = |t: Tensor<B, 3>, heads: usize| t.reshape([b, s, heads, head_dim]).swap_dims(1, 2);
        let q = rope.apply(split(self.q_proj.forward(x.clone()), self.heads));
        let k = rope.apply(split(self.k_proj.forward(x.clone()), self.kv_heads));
        let v = split(self.v_proj.forward(x), self.kv_heads);
        let (k, v) = (self.repeat_kv(k), self.repeat_kv(v));

        let scores = q.matmul(k.swap_dims(2, 3)).div_scalar((head_dim as f32).sqrt());
        // True above the diagonal: a position never sees the ones after it.
        let mask = Tensor::<B, 2, Bool>::tril_mask([s, s], 0, &scores.device())
            .reshape([1, 1, s, s])
            .expand([b, self.heads, s, s]);
        let scores = scores.mask_fill(mask, f32::NEG_INFINITY);
        let context = softmax(scores, 3).matmul(v);
        self.o_proj.forward(context.swap_dims(1, 2).reshape([b, s, d]))
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
}
