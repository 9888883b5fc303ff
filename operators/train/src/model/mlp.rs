//! The SwiGLU feed-forward block: `down(silu(gate(x)) * up(x))`.

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::silu;

#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    gate_proj: Linear<B>,
    up_proj: Linear<B>,
    down_proj: Linear<B>,
}

impl<B: Backend> Mlp<B> {
    pub fn new(d_model: usize, hidden: usize, device: &B::Device) -> Self {
        let linear = |d_in: usize, d_out: usize| {
            LinearConfig::new(d_in, d_out).with_bias(false).with_initializer(super::init()).init(device)
        };
        Self {
            gate_proj: linear(d_model, hidden),
            up_proj: linear(d_model, hidden),
            down_proj: linear(hidden, d_model),
        }
    }

    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        self.down_proj.forward(silu(self.gate_proj.forward(x.clone())) * self.up_proj.forward(x))
    }
}
