//! Rotary position embeddings in the "rotate half" layout of Hugging Face
//! Llama checkpoints: the first and second halves of each head form the
//! pairs that rotate together.

use burn::prelude::*;

/// Cosines and sines for the positions of one forward pass.
#[derive(Debug, Clone)]
pub struct Rope<B: Backend> {
    /// `[1, 1, seq, head_dim]`.
    cos: Tensor<B, 4>,
    sin: Tensor<B, 4>,
}

impl<B: Backend> Rope<B> {
    pub fn new(head_dim: usize, seq: usize, theta: f32, device: &B::Device) -> Self {
        Self::window(head_dim, 0, seq, theta, device)
    }

    /// Positions `start..start + seq`: the new tokens of a cached decoding step.
    pub fn window(head_dim: usize, start: usize, seq: usize, theta: f32, device: &B::Device) -> Self {
        let half = head_dim / 2;
        let inv_freq: Vec<f32> = (0..half).map(|i| 1.0 / theta.powf((2 * i) as f32 / head_dim as f32)).collect();
        let inv_freq = Tensor::<B, 1>::from_floats(inv_freq.as_slice(), device).reshape([1, half]);
        let positions =
            Tensor::<B, 1, Int>::arange(start as i64..(start + seq) as i64, device).float().reshape([seq, 1]);
        let angles = positions.matmul(inv_freq);
        let angles = Tensor::cat(vec![angles.clone(), angles], 1).reshape([1, 1, seq, head_dim]);
        Self { cos: angles.clone().cos(), sin: angles.sin() }
    }

    /// Rotates `x` `[batch, heads, seq, head_dim]` by position.
    pub fn apply(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let [b, h, s, d] = x.dims();
        let half = d / 2;
        let first = x.clone().slice([0..b, 0..h, 0..s, 0..half]);
        let second = x.clone().slice([0..b, 0..h, 0..s, half..d]);
        let rotated = Tensor::cat(vec![second.neg(), first], 3);
        x * self.cos.clone() + rotated * self.sin.clone()
    }
}
