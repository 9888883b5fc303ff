//! `train`: a LLaMA-family decoder trained with burn on the `dataset`
//! operator's token shards. CPU (ndarray) everywhere; CUDA with the `cuda`
//! feature.

pub mod config;
pub mod data;
pub mod export;
pub mod model;
pub mod plot;
pub mod schedule;
pub mod trainer;

pub use config::TrainConfig;
pub use model::{Llama, ModelSize};

/// The CPU backend with automatic differentiation.
pub type CpuBackend = burn::backend::Autodiff<burn::backend::NdArray<f32>>;
