//! The SwiGLU feed-forward block: `down(silu(gate(x)) * up(x))`.

use burn::prelude::*;
use burn::tensor::activation::silu;

use super::projection::Projection;
use super::{LoraConfig, Pass};

#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    gate_proj: Projection<B>,
    up_proj: Projection<B>,
    down_proj: Projection<B>,
}

impl<B: Backend> Mlp<B> {
    pub fn new(d_model: usize, hidden: usize, device: &B::Device) -> Self {
        Self {
            gate_proj: Projection::new(d_model, hidden, false, device),
            up_proj: Projection::new(d_model, hidden, false, device),
            down_proj: Projection::new(hidden, d_model, false, device),
        }
    }

    pub fn forward(&self, x: Tensor<B, 3>, pass: &Pass<B>) -> Tensor<B, 3> {
        let dtype = pass.dtype;
        let gated = silu(self.gate_proj.forward(x.clone(), dtype)) * self.up_proj.forward(x, dtype);
        self.down_proj.forward(gated, dtype)
    }

    /// gate, up and down projections as `[out][in]` rows.
    pub fn projections(&self) -> [super::PlainMatrix; 3] {
        [self.gate_proj.rows(), self.up_proj.rows(), self.down_proj.rows()]
    }

    pub fn adapt(self, adapters: &LoraConfig, device: &B::Device) -> Self {
        Self {
            gate_proj: adapters.apply("gate_proj", self.gate_proj, device),
            up_proj: adapters.apply("up_proj", self.up_proj, device),
            down_proj: adapters.apply("down_proj", self.down_proj, device),
        }
    }

    /// The projections by their Hugging Face names, in a fixed order.
    pub fn each(&self) -> [(&'static str, &Projection<B>); 3] {
        [("gate_proj", &self.gate_proj), ("up_proj", &self.up_proj), ("down_proj", &self.down_proj)]
    }

    /// Each projection replaced by what `f` makes of it, in the order of [`Self::each`].
    pub fn map_each(self, f: &mut impl FnMut(Projection<B>) -> Projection<B>) -> Self {
        let (gate_proj, up_proj, down_proj) = (f(self.gate_proj), f(self.up_proj), f(self.down_proj));
        Self { gate_proj, up_proj, down_proj }
    }

    pub fn merge(self) -> Self {
        Self { gate_proj: self.gate_proj.merge(), up_proj: self.up_proj.merge(), down_proj: self.down_proj.merge() }
    }
}
