//! Which projections get low-rank adapters, and how big they are.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::projection::Projection;
use burn::prelude::*;

/// The projections an adapter can be attached to, by their Hugging Face names.
pub const TARGETS: [&str; 7] = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

/// LoRA: the base model is frozen and each targeted projection learns a
/// low-rank update, merged into the weights when the model is exported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoraConfig {
    /// Rank of each update (the inner width of `A·B`).
    #[serde(default = "default_rank")]
    pub rank: usize,
    /// The update is scaled by `alpha / rank`.
    #[serde(default = "default_alpha")]
    pub alpha: f32,
    /// Projections to adapt, among q_proj, k_proj, v_proj, o_proj,
    /// gate_proj, up_proj and down_proj.
    #[serde(default = "default_targets")]
    pub targets: Vec<String>,
}

fn default_rank() -> usize {
    8
}
fn default_alpha() -> f32 {
    16.0
}
fn default_targets() -> Vec<String> {
    vec!["q_proj".to_owned(), "v_proj".to_owned()]
}

impl Default for LoraConfig {
    fn default() -> Self {
        Self { rank: default_rank(), alpha: default_alpha(), targets: default_targets() }
    }
}

impl LoraConfig {
    /// What is wrong with this configuration, if anything, by field.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.rank == 0 {
            out.push(("rank", "rank must be at least 1 (8 or 16 is usual)".to_owned()));
        }
        if self.alpha.is_nan() || self.alpha <= 0.0 {
            out.push(("alpha", "alpha must be positive (often twice the rank)".to_owned()));
        }
        if self.targets.is_empty() {
            out.push(("targets", format!("name at least one projection among {}", TARGETS.join(", "))));
        }
        for target in &self.targets {
            if !TARGETS.contains(&target.as_str()) {
                out.push(("targets", format!("unknown projection `{target}`; choose among {}", TARGETS.join(", "))));
            }
        }
        out
    }

    /// `projection` with an adapter when `name` is targeted.
    pub(crate) fn apply<B: Backend>(&self, name: &str, projection: Projection<B>, device: &B::Device) -> Projection<B> {
        if self.targets.iter().any(|t| t == name) {
            projection.adapt(self.rank, self.alpha, device)
        } else {
            projection
        }
    }

    /// Trainable parameters the adapters add to a model of these sizes.
    pub fn parameters(&self, size: &super::ModelSize) -> usize {
        let (d, kv, ffn) = (size.d_model, size.kv_heads() * size.head_dim(), size.ffn());
        let per_layer: usize = self
            .targets
            .iter()
            .map(|target| match target.as_str() {
                "q_proj" | "o_proj" => d + d,
                "k_proj" | "v_proj" => d + kv,
                "gate_proj" | "up_proj" | "down_proj" => d + ffn,
                _ => 0,
            })
            .sum();
        per_layer * self.rank * size.layers
    }
}
