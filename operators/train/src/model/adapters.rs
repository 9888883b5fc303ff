//! A LoRA fine-tune's trained part on its own: the low-rank pairs of the
//! adapted projections, in a fixed order (layer by layer; q, k, v, o, then
//! gate, up, down). Checkpoints keep only these, a few MB where the whole
//! model is hundreds, and a finished fine-tune exports them as a PEFT adapter.

use burn::prelude::*;

use super::projection::{LowRank, LowRankRecord, Projection};
use super::{Block, Llama};

/// One adapted projection: where it sits and its pair.
pub struct NamedAdapter<'a, B: Backend> {
    pub layer: usize,
    /// `self_attn` or `mlp`, as in Hugging Face's names.
    pub block: &'static str,
    /// `q_proj` … `down_proj`.
    pub name: &'static str,
    pub low_rank: &'a LowRank<B>,
}

/// The saved adapters of a checkpoint, in the order of [`Llama::adapters`].
pub type AdapterRecords<B> = Vec<LowRankRecord<B>>;

impl<B: Backend> Llama<B> {
    /// Every adapter of the model, in a fixed order; empty when not adapted.
    pub fn adapters(&self) -> Vec<NamedAdapter<'_, B>> {
        let mut out = Vec::new();
        for (layer, block) in self.layers.iter().enumerate() {
            let attention = block.self_attn.each().map(|(name, p)| ("self_attn", name, p));
            let mlp = block.mlp.each().map(|(name, p)| ("mlp", name, p));
            for (part, name, projection) in attention.into_iter().chain(mlp) {
                if let Some(low_rank) = projection.adapter() {
                    out.push(NamedAdapter { layer, block: part, name, low_rank });
                }
            }
        }
        out
    }

    /// The adapters as a record to save (parameter ids included).
    pub fn adapter_records(&self) -> AdapterRecords<B> {
        self.adapters().into_iter().map(|a| a.low_rank.clone().into_record()).collect()
    }

    /// The adapters restored from `records`, saved by [`Self::adapter_records`]
    /// from a model adapted the same way.
    ///
    /// # Errors
    /// When the records do not match this model's adapters in number.
    pub fn with_adapter_records(self, records: AdapterRecords<B>) -> Result<Self, String> {
        let expected = self.adapters().len();
        if records.len() != expected {
            return Err(format!("the checkpoint holds {} adapters where this model has {expected}", records.len()));
        }
        let mut records = records.into_iter();
        let mut restore = |projection: Projection<B>| {
            if !projection.is_adapted() {
                return projection;
            }
            match records.next() {
                Some(record) => projection.with_adapter_record(record),
                None => projection,
            }
        };
        let layers = self
            .layers
            .into_iter()
            .map(|block| Block {
                self_attn: block.self_attn.map_each(&mut restore),
                mlp: block.mlp.map_each(&mut restore),
                ..block
            })
            .collect();
        Ok(Self { layers, ..self })
    }
}
