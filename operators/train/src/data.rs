//! Token streams from the dataset's shards, and the batches drawn from them.
//!
//! A batch is a set of random windows of `context + 1` tokens; window
//! starts come from a generator seeded by (seed, micro-batch index), so a
//! run resumed at step N draws exactly the batches it would have drawn.

use std::path::Path;

use serde::Deserialize;

/// `shards/meta.json` of a dataset.
#[derive(Debug, Deserialize)]
pub struct ShardMeta {
    pub dtype: String,
    pub vocab_size: usize,
    pub eos_id: u32,
    pub splits: std::collections::BTreeMap<String, SplitMeta>,
}

#[derive(Debug, Deserialize)]
pub struct SplitMeta {
    pub files: Vec<String>,
    pub tokens: u64,
}

/// Why the data could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

/// Inputs and targets (`batch × context` each, row-major) of a micro-batch,
/// with per-target loss weights where only some targets count.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub inputs: Vec<i64>,
    pub targets: Vec<i64>,
    pub weights: Option<Vec<f32>>,
}

/// Where micro-batches come from: token streams for pretraining, chats
/// for fine-tuning.
pub trait Batches: Send + Sync {
    /// Micro-batch `index`, the same for the same (index, seed).
    fn batch(&self, index: u64, seed: u64, batch: usize, context: usize) -> Batch;
    /// Whether there is enough data for one sequence of `context` tokens.
    fn usable(&self, context: usize) -> bool;
}

impl Batches for TokenStream {
    fn batch(&self, index: u64, seed: u64, batch: usize, context: usize) -> Batch {
        let (inputs, targets) = self.windows(index, seed, batch, context);
        Batch { inputs, targets, weights: None }
    }

    fn usable(&self, context: usize) -> bool {
        self.tokens.len() > context + 1
    }
}

/// All tokens of one split.
#[derive(Debug, Clone)]
pub struct TokenStream {
    pub tokens: Vec<u32>,
}

impl TokenStream {
    /// Reads the split's shard files from a local copy of the dataset.
    ///
    /// # Errors
    /// A missing file or an unknown token type.
    pub fn load(dataset: &Path, meta: &ShardMeta, split: &str) -> Result<Self, DataError> {
        let Some(split_meta) = meta.splits.get(split) else {
            return Ok(Self { tokens: Vec::new() });
        };
        let width = match meta.dtype.as_str() {
            "uint16" => 2,
            "uint32" => 4,
            other => return Err(DataError::Invalid(format!("unknown shard dtype {other}; expected uint16 or uint32"))),
        };
        let mut tokens = Vec::with_capacity(usize::try_from(split_meta.tokens).unwrap_or(0));
        for file in &split_meta.files {
            let path = dataset.join(file);
            let bytes =
                std::fs::read(&path).map_err(|source| DataError::Read { path: path.display().to_string(), source })?;
            if width == 2 {
                tokens.extend(bytes.chunks_exact(2).map(|c| u32::from(u16::from_le_bytes([c[0], c[1]]))));
            } else {
                tokens.extend(bytes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])));
            }
        }
        Ok(Self { tokens })
    }

    /// Inputs and targets (`batch × context` each) of micro-batch `index`.
    pub fn windows(&self, index: u64, seed: u64, batch: usize, context: usize) -> (Vec<i64>, Vec<i64>) {
        let window = context + 1;
        let span = self.tokens.len().saturating_sub(window).max(1);
        let mut rng = SplitMix::new(seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut inputs = Vec::with_capacity(batch * context);
        let mut targets = Vec::with_capacity(batch * context);
        for _ in 0..batch {
            let start = (rng.next_u64() % span as u64) as usize;
            for i in 0..context {
                let at = |k: usize| self.tokens.get(start + k).copied().unwrap_or(0);
                inputs.push(i64::from(at(i)));
                targets.push(i64::from(at(i + 1)));
            }
        }
        (inputs, targets)
    }
}

/// A small, fast, seedable generator (SplitMix64).
pub struct SplitMix(u64);

impl SplitMix {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_shifted_windows_and_reproducible() {
        let stream = TokenStream { tokens: (0..1000).collect() };
        let (inputs, targets) = stream.windows(7, 42, 3, 16);
        assert_eq!(inputs.len(), 48);
        for (i, t) in inputs.iter().zip(&targets) {
            assert_eq!(i + 1, *t, "targets are the next token");
        }
        assert_eq!(stream.windows(7, 42, 3, 16), (inputs.clone(), targets));
        assert_ne!(stream.windows(8, 42, 3, 16).0, inputs, "another index, another batch");
    }
}
