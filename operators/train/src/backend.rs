//! Which burn backend trains: the CPU (ndarray) always; CUDA when the crate
//! is built with the `cuda` feature and a driver is present. The model is
//! exported inside the backend's thread, so callers never see its types.

use hangar_sdk::OperatorError;

use crate::config::Device;
use crate::export::save_model;
use crate::peft::save_adapter;
use crate::trainer::{Job, MetricRow, TrainError, train};

/// One training job, whatever the backend, and how to export its model.
pub struct Export<'a> {
    pub job: Job<'a>,
    pub eos_id: u32,
}

/// Where a LoRA fine-tune's adapter goes inside the model folder.
pub const ADAPTER_DIR: &str = "adapter";

/// A finished job: the model is in `scratch/model` (a LoRA fine-tune's
/// PEFT adapter in its `adapter/` folder).
pub struct Finished {
    pub history: Vec<MetricRow>,
    pub resumed_from: u64,
}

/// A chosen backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Cpu,
    #[cfg(feature = "cuda")]
    Cuda,
}

impl Backend {
    pub fn describe(self) -> &'static str {
        match self {
            Backend::Cpu => "the CPU (burn ndarray, fp32)",
            #[cfg(feature = "cuda")]
            Backend::Cuda => "CUDA device 0 (burn-cuda)",
        }
    }

    /// Whether matrix products can run in bf16 (mixed precision).
    pub fn has_bf16(self) -> bool {
        match self {
            Backend::Cpu => false,
            #[cfg(feature = "cuda")]
            Backend::Cuda => true,
        }
    }

    /// Trains and exports the model to `scratch/model`.
    ///
    /// # Errors
    /// What training or exporting failed with.
    pub fn run(self, job: &Export<'_>) -> Result<Finished, TrainError> {
        match self {
            Backend::Cpu => run_on::<crate::CpuBackend>(job, &Default::default()),
            #[cfg(feature = "cuda")]
            Backend::Cuda => run_on::<burn::backend::Autodiff<burn::backend::Cuda<f32>>>(
                job,
                &burn::backend::cuda::CudaDevice::default(),
            ),
        }
    }
}

fn run_on<B: burn::tensor::backend::AutodiffBackend>(
    export: &Export<'_>,
    device: &B::Device,
) -> Result<Finished, TrainError> {
    let job = &export.job;
    let trained = train::<B>(job, device)?;
    let out = job.scratch.join("model");
    save_model(&trained.model, &job.config.model, job.corpus.vocab, Some(export.eos_id), &out)
        .map_err(|e| TrainError::Resource(format!("cannot export the trained model: {e}")))?;
    if let Some(lora) = &job.config.lora {
        let config = job.config;
        let base = config.base_path.as_ref().map(|p| p.as_written().to_owned()).or_else(|| config.base.clone());
        save_adapter(&trained.model, lora, base.as_deref(), &out.join(ADAPTER_DIR))
            .map_err(|e| TrainError::Resource(format!("cannot export the LoRA adapter: {e}")))?;
    }
    Ok(Finished { history: trained.history, resumed_from: trained.resumed_from })
}

/// Resolves the configured device against this build and machine.
///
/// # Errors
/// CUDA asked for but not built in, or no driver on this machine.
pub fn choose_backend(device: Device) -> Result<Backend, OperatorError> {
    match device {
        Device::Cpu => Ok(Backend::Cpu),
        Device::Auto => Ok(best_available()),
        Device::Cuda => cuda(),
    }
}

#[cfg(feature = "cuda")]
fn best_available() -> Backend {
    if cuda_driver_present() { Backend::Cuda } else { Backend::Cpu }
}

#[cfg(not(feature = "cuda"))]
fn best_available() -> Backend {
    Backend::Cpu
}

#[cfg(feature = "cuda")]
fn cuda() -> Result<Backend, OperatorError> {
    if cuda_driver_present() {
        Ok(Backend::Cuda)
    } else {
        Err(OperatorError::user(
            "device: cuda, but no NVIDIA driver (libcuda.so.1) is on this machine; run the task on a GPU worker (runs_on: [gpu]) or use device: cpu",
        ))
    }
}

#[cfg(not(feature = "cuda"))]
fn cuda() -> Result<Backend, OperatorError> {
    Err(OperatorError::user(
        "device: cuda, but this hangar was built without CUDA; build it with `--features hangar-train/cuda` or use device: cpu",
    ))
}

/// Whether the CUDA driver library can be found, checked before burn-cuda
/// would panic on a machine without one.
#[cfg(feature = "cuda")]
fn cuda_driver_present() -> bool {
    let mut dirs: Vec<std::path::PathBuf> =
        std::env::var_os("LD_LIBRARY_PATH").map(|paths| std::env::split_paths(&paths).collect()).unwrap_or_default();
    for dir in ["/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib", "/usr/local/cuda/lib64", "/usr/lib/wsl/lib"] {
        dirs.push(dir.into());
    }
    dirs.iter().any(|dir| dir.join("libcuda.so.1").exists())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_is_always_there_and_cuda_is_refused_with_a_way_out() {
        assert_eq!(choose_backend(Device::Cpu).ok(), Some(Backend::Cpu));
        #[cfg(not(feature = "cuda"))]
        {
            assert_eq!(choose_backend(Device::Auto).ok(), Some(Backend::Cpu));
            let refused = choose_backend(Device::Cuda).expect_err("no CUDA in this build");
            assert!(refused.to_string().contains("--features hangar-train/cuda"), "{refused}");
        }
    }
}
