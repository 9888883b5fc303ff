//! `train`: a LLaMA-family decoder trained with burn on the `dataset`
//! operator's token shards. CPU (ndarray) everywhere; CUDA with the `cuda`
//! feature.

pub mod backend;
pub mod config;
pub mod data;
pub mod evaluate;
pub mod export;
mod fetch;
pub mod infer;
pub mod model;
pub mod operator;
pub mod peft;
pub mod plot;
pub mod schedule;
pub mod sft;
pub mod trainer;

pub use config::TrainConfig;
pub use model::{Llama, ModelSize};
pub use operator::Train;

/// Registers `train` and `evaluate`.
///
/// # Errors
/// When an operator of that name is registered already.
pub fn register(registry: &mut hangar_sdk::Registry) -> Result<(), hangar_sdk::DuplicateOperator> {
    registry.register(Train)?;
    registry.register(evaluate::Evaluate)
}

/// The CPU backend with automatic differentiation.
pub type CpuBackend = burn::backend::Autodiff<burn::backend::NdArray<f32>>;
