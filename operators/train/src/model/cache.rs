//! The key/value cache of incremental decoding: each layer keeps the keys
//! and values of every position seen, so a new token costs one position's
//! work instead of the whole prefix's. Sequences of a batch are left-padded
//! to one length; the padding is masked out of attention, and because
//! rotary positions only matter relative to each other, a shift by the
//! padding changes nothing.

use burn::prelude::*;
use burn::tensor::TensorData;

/// Cached keys and values of a batch, layer by layer.
pub struct KvCache<B: Backend> {
    pub(super) layers: Vec<Option<(Tensor<B, 4>, Tensor<B, 4>)>>,
    /// Positions cached so far, padding included.
    len: usize,
    /// Leading padding positions of each sequence.
    pads: Vec<usize>,
}

impl<B: Backend> KvCache<B> {
    /// An empty cache for `layers` layers and one sequence per entry of `pads`.
    pub fn new(layers: usize, pads: Vec<usize>) -> Self {
        Self { layers: (0..layers).map(|_| None).collect(), len: 0, pads }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn batch(&self) -> usize {
        self.pads.len()
    }

    /// The mask of a step adding `new` positions: `[batch, 1, new, len + new]`,
    /// true where a query must not look (padding, or a later position). A
    /// padding position still sees itself: a row with nothing to attend to
    /// would turn into NaN and spread through the values later rows read.
    pub(super) fn step_mask(&self, new: usize, device: &B::Device) -> Tensor<B, 4, Bool> {
        let total = self.len + new;
        let mut masked = Vec::with_capacity(self.pads.len() * new * total);
        for &pad in &self.pads {
            for i in 0..new {
                let position = self.len + i;
                for j in 0..total {
                    masked.push((j < pad && j != position) || j > position);
                }
            }
        }
        Tensor::from_data(TensorData::new(masked, [self.pads.len(), 1, new, total]), device)
    }

    pub(super) fn advance(&mut self, new: usize) {
        self.len += new;
    }
}
