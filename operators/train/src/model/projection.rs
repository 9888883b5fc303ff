//! A linear map that may carry a low-rank adapter (LoRA):
//! `y = x·W + b + (α/r)·x·A·B`, with `W` and `b` frozen and only `A`
//! `[d_in, r]` and `B` `[r, d_out]` trained. `B` starts at zero, so an
//! adapted model starts exactly where its base was; merging folds `A·B`
//! back into `W` so the exported model is a plain Llama again.

use burn::module::Param;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::{DType, Distribution};

/// A linear layer and, when adapted, its low-rank update.
#[derive(Module, Debug)]
pub struct Projection<B: Backend> {
    linear: Linear<B>,
    adapter: Option<LowRank<B>>,
}

/// The trainable low-rank pair of an adapted projection.
#[derive(Module, Debug)]
pub struct LowRank<B: Backend> {
    a: Param<Tensor<B, 2>>,
    b: Param<Tensor<B, 2>>,
    /// `alpha / rank`.
    scale: f32,
}

/// `x·w` with both sides in `dtype` when one is given (mixed precision:
/// the weights stay in full precision, the product runs in `dtype`, the
/// result comes back in `x`'s own).
pub fn matmul<B: Backend, const D: usize>(x: Tensor<B, D>, w: Tensor<B, D>, dtype: Option<DType>) -> Tensor<B, D> {
    match dtype {
        None => x.matmul(w),
        Some(dtype) => {
            let own = x.dtype();
            x.cast(dtype).matmul(w.cast(dtype)).cast(own)
        }
    }
}

impl<B: Backend> Projection<B> {
    pub fn new(d_in: usize, d_out: usize, bias: bool, device: &B::Device) -> Self {
        let linear = LinearConfig::new(d_in, d_out).with_bias(bias).with_initializer(super::init()).init(device);
        Self { linear, adapter: None }
    }

    /// `x` `[batch, seq, d_in]` → `[batch, seq, d_out]`, as one 2-D product:
    /// a batched product against a broadcast weight would copy the weight
    /// once per sequence on the CPU backend.
    pub fn forward(&self, x: Tensor<B, 3>, dtype: Option<DType>) -> Tensor<B, 3> {
        let [b, s, d_in] = x.dims();
        let x = x.reshape([b * s, d_in]);
        let mut y = matmul(x.clone(), self.linear.weight.val(), dtype);
        if let Some(bias) = &self.linear.bias {
            y = y + bias.val().unsqueeze();
        }
        if let Some(low) = &self.adapter {
            let down = matmul(x, low.a.val(), dtype);
            y = y + matmul(down, low.b.val(), dtype).mul_scalar(low.scale);
        }
        let d_out = y.dims()[1];
        y.reshape([b, s, d_out])
    }

    /// Attaches a fresh adapter of `rank` (scaled by `alpha / rank`), drawn
    /// from the backend's generator: `A` uniform in ±1/√d_in, `B` zero.
    pub fn adapt(self, rank: usize, alpha: f32, device: &B::Device) -> Self {
        let [d_in, d_out] = self.linear.weight.dims();
        let bound = 1.0 / (d_in as f64).sqrt();
        let a = Tensor::random([d_in, rank], Distribution::Uniform(-bound, bound), device);
        let b = Tensor::zeros([rank, d_out], device);
        let adapter = LowRank { a: Param::from_tensor(a), b: Param::from_tensor(b), scale: alpha / rank.max(1) as f32 };
        Self { linear: self.linear, adapter: Some(adapter) }
    }

    /// Folds the adapter into the weight: `W + (α/r)·A·B`.
    pub fn merge(self) -> Self {
        let Some(low) = self.adapter else { return self };
        let delta = low.a.val().matmul(low.b.val()).mul_scalar(low.scale);
        let linear = Linear { weight: self.linear.weight.map(|w| w + delta), bias: self.linear.bias };
        Self { linear, adapter: None }
    }

    /// The weight as `[out][in]` rows (adapters merged), and the bias.
    pub fn rows(&self) -> super::PlainMatrix {
        let merged = Self { linear: self.linear.clone(), adapter: self.adapter.clone() }.merge();
        let [d_in, d_out] = merged.linear.weight.dims();
        let rows = merged.linear.weight.val().transpose().into_data().to_vec::<f32>().unwrap_or_default();
        let bias = merged.linear.bias.map(|b| b.val().into_data().to_vec::<f32>().unwrap_or_default());
        (rows, d_out, d_in, bias)
    }

    pub fn is_adapted(&self) -> bool {
        self.adapter.is_some()
    }

    /// The trained low-rank pair, when adapted.
    pub fn adapter(&self) -> Option<&LowRank<B>> {
        self.adapter.as_ref()
    }

    /// The adapter restored from `record` (a checkpoint's), ids included,
    /// so that the optimizer's saved state finds its parameters again.
    pub fn with_adapter_record(self, record: LowRankRecord<B>) -> Self {
        let adapter = self.adapter.map(|low| low.load_record(record));
        Self { adapter, ..self }
    }
}

impl<B: Backend> LowRank<B> {
    /// `A` `[d_in, r]`, `B` `[r, d_out]` and the scale `alpha / r`.
    pub fn parts(&self) -> (Tensor<B, 2>, Tensor<B, 2>, f32) {
        (self.a.val(), self.b.val(), self.scale)
    }
}
