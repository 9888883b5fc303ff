//! Decoding on the CPU without a tensor framework: the weights as plain
//! `[out][in]` rows; each matrix product one pass over the weights that
//! reads every row once for all the positions of a step (a batch's next
//! tokens, or whole prompts), split across threads by rows; q/k/v and
//! gate/up stacked so that each is one pass; the key/value cache as growing
//! vectors; products and attention in `kernel`'s vectorised loops. At a few
//! positions per step a tensor framework's per-operation costs (allocation,
//! packing, thread hand-offs) outweigh the arithmetic; this path has none of
//! them. Tested against the burn model's forward pass.

use rayon::prelude::*;

use super::attend::{HeadView, attend};
use super::panels::{PANEL, Panels, WeightPrecision};
use crate::model::{PlainMatrix, PlainWeights};

/// Work below this many multiply-adds stays on one thread: waking another
/// costs more than it saves.
const PARALLEL_WORK: usize = 1 << 19;

/// The keys and values one sequence has seen, per layer: `[position][kv_heads × head_dim]`.
#[derive(Debug, Clone, Default)]
pub struct SequenceCache {
    keys: Vec<Vec<f32>>,
    values: Vec<Vec<f32>>,
    /// Positions cached.
    pub len: usize,
}

/// One position to compute: which sequence, which token.
#[derive(Debug, Clone, Copy)]
pub struct Item {
    pub sequence: usize,
    pub token: u32,
}

/// A weight matrix packed for decoding, with its bias.
struct Dense {
    w: Panels,
    bias: Option<Vec<f32>>,
}

impl Dense {
    /// The matrices stacked into one (their outputs side by side), so that
    /// projections of the same input are one pass and one thread hand-off.
    fn stacked(parts: &[&PlainMatrix], precision: WeightPrecision) -> Self {
        let cols = parts.first().map_or(0, |m| m.2);
        let out = parts.iter().map(|m| m.1).sum();
        let rows: Vec<f32> = parts.iter().flat_map(|m| m.0.iter().copied()).collect();
        let bias = parts
            .iter()
            .any(|m| m.3.is_some())
            .then(|| parts.iter().flat_map(|m| m.3.clone().unwrap_or_else(|| vec![0.0; m.1])).collect::<Vec<f32>>());
        Self { w: Panels::pack_as(&rows, out, cols, precision), bias }
    }

    /// `W · x (+ bias)` for every input, one output vector per input.
    fn apply(&self, xs: &[Vec<f32>]) -> Vec<Vec<f32>> {
        let flat = products(&self.w, xs);
        flat.chunks_exact(self.w.out().max(1))
            .map(|y| match &self.bias {
                Some(bias) => y.iter().zip(bias).map(|(y, b)| y + b).collect(),
                None => y.to_vec(),
            })
            .collect()
    }
}

/// One block's weights, laid out for decoding.
struct Block {
    attn_norm: Vec<f32>,
    /// q, k and v stacked.
    qkv: Dense,
    o: Dense,
    mlp_norm: Vec<f32>,
    /// gate and up stacked.
    gate_up: Dense,
    down: Dense,
}

/// A model ready for plain-Rust decoding.
pub struct CpuDecoder {
    embed: Vec<f32>,
    blocks: Vec<Block>,
    norm: Vec<f32>,
    head: Panels,
    vocab: usize,
    d_model: usize,
    head_dim: usize,
    heads: usize,
    kv_heads: usize,
    eps: f32,
    /// `1 / theta^(2j / head_dim)` for each rotary pair.
    inv_freq: Vec<f32>,
}

/// Panels per parallel piece of a matrix product.
const PIECE_PANELS: usize = 2;

/// `flat[i * out + r] = xs[i] · row r` of `w`: one output vector per
/// input, the weights read once for all of them, split across threads by
/// panels when the work is worth a hand-off.
fn products(w: &Panels, xs: &[Vec<f32>]) -> Vec<f32> {
    let (n, out) = (xs.len(), w.out());
    let inputs: Vec<&[f32]> = xs.iter().map(Vec::as_slice).collect();
    if out * w.cols() * n < PARALLEL_WORK {
        return w.products(0..w.panel_count(), &inputs);
    }
    let starts: Vec<usize> = (0..w.panel_count()).step_by(PIECE_PANELS).collect();
    let pieces: Vec<(usize, Vec<f32>)> = starts
        .par_iter()
        .map(|&p| (p * PANEL, w.products(p..(p + PIECE_PANELS).min(w.panel_count()), &inputs)))
        .collect();
    let mut flat = vec![0.0f32; out * n];
    for (start, piece) in pieces {
        let count = piece.len() / n.max(1);
        for (i, part) in piece.chunks_exact(count.max(1)).enumerate() {
            flat[i * out + start..i * out + start + count].copy_from_slice(part);
        }
    }
    flat
}

fn rms_norm(x: &[f32], gamma: &[f32], eps: f32) -> Vec<f32> {
    let mean = x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32;
    let scale = 1.0 / (mean + eps).sqrt();
    x.iter().zip(gamma).map(|(v, g)| v * scale * g).collect()
}

impl CpuDecoder {
    pub fn new(weights: PlainWeights, heads: usize, kv_heads: usize, eps: f64) -> Self {
        Self::with_precision(weights, heads, kv_heads, eps, WeightPrecision::F32)
    }

    /// A decoder keeping its matrices at `precision` (norms, embeddings and
    /// sums stay f32).
    pub fn with_precision(
        weights: PlainWeights,
        heads: usize,
        kv_heads: usize,
        eps: f64,
        precision: WeightPrecision,
    ) -> Self {
        let half = weights.head_dim / 2;
        let inv_freq =
            (0..half).map(|j| 1.0 / weights.rope_theta.powf((2 * j) as f32 / weights.head_dim as f32)).collect();
        let blocks = weights
            .layers
            .into_iter()
            .map(|layer| {
                let [q, k, v, o] = layer.attention;
                let [gate, up, down] = layer.mlp;
                Block {
                    attn_norm: layer.attn_norm,
                    qkv: Dense::stacked(&[&q, &k, &v], precision),
                    o: Dense::stacked(&[&o], precision),
                    mlp_norm: layer.mlp_norm,
                    gate_up: Dense::stacked(&[&gate, &up], precision),
                    down: Dense::stacked(&[&down], precision),
                }
            })
            .collect();
        Self {
            embed: weights.embed,
            blocks,
            norm: weights.norm,
            head: Panels::pack_as(&weights.head, weights.vocab, weights.d_model, precision),
            vocab: weights.vocab,
            d_model: weights.d_model,
            head_dim: weights.head_dim,
            heads,
            kv_heads,
            eps: eps as f32,
            inv_freq,
        }
    }

    pub fn vocab(&self) -> usize {
        self.vocab
    }

    /// A cache for a new sequence.
    pub fn cache(&self) -> SequenceCache {
        SequenceCache { keys: vec![Vec::new(); self.blocks.len()], values: vec![Vec::new(); self.blocks.len()], len: 0 }
    }

    /// Rotates each head of `x` in place by `angles` (rotate-half pairs).
    fn rope(&self, x: &mut [f32], angles: &[(f32, f32)]) {
        let half = self.head_dim / 2;
        for head in x.chunks_exact_mut(self.head_dim) {
            for (j, &(sin, cos)) in angles.iter().enumerate() {
                let (a, b) = (head[j], head[j + half]);
                head[j] = a * cos - b * sin;
                head[j + half] = b * cos + a * sin;
            }
        }
    }

    /// `(sin, cos)` of each rotary pair's angle at `position`, the same for
    /// every head and layer.
    fn angles(&self, position: usize) -> Vec<(f32, f32)> {
        self.inv_freq.iter().map(|f| (position as f32 * f).sin_cos()).collect()
    }

    /// Runs `items` (positions of one or more sequences, each sequence's in
    /// order, following what its cache holds) through the model; returns
    /// the logits after the last item of each sequence named, by sequence.
    pub fn forward(&self, items: &[Item], caches: &mut [SequenceCache]) -> Vec<(usize, Vec<f32>)> {
        // A step forks and joins some twenty times. From a thread outside
        // rayon's pool each would hand the work over and put this thread to
        // sleep; run from inside the pool, the step keeps one of the cores
        // and shares only the split work.
        if rayon::current_thread_index().is_none() {
            return rayon::join(|| self.step(items, caches), || ()).0;
        }
        self.step(items, caches)
    }

    fn step(&self, items: &[Item], caches: &mut [SequenceCache]) -> Vec<(usize, Vec<f32>)> {
        let d = self.d_model;
        let hd = self.head_dim;
        let groups = self.heads / self.kv_heads.max(1);
        let mut positions = Vec::with_capacity(items.len());
        let mut next: Vec<usize> = caches.iter().map(|c| c.len).collect();
        for item in items {
            positions.push(next[item.sequence]);
            next[item.sequence] += 1;
        }
        let mut xs: Vec<Vec<f32>> =
            items.iter().map(|it| self.embed[it.token as usize * d..(it.token as usize + 1) * d].to_vec()).collect();
        let (q_width, kv_width) = (self.heads * hd, self.kv_heads * hd);
        let angles: Vec<Vec<(f32, f32)>> = positions.iter().map(|&p| self.angles(p)).collect();
        for (l, block) in self.blocks.iter().enumerate() {
            let normed: Vec<Vec<f32>> = xs.iter().map(|x| rms_norm(x, &block.attn_norm, self.eps)).collect();
            let qkv = block.qkv.apply(&normed);
            let mut qs: Vec<Vec<f32>> = qkv.iter().map(|y| y[..q_width].to_vec()).collect();
            let mut ks: Vec<Vec<f32>> = qkv.iter().map(|y| y[q_width..q_width + kv_width].to_vec()).collect();
            let vs: Vec<&[f32]> = qkv.iter().map(|y| &y[q_width + kv_width..]).collect();
            for (i, item) in items.iter().enumerate() {
                self.rope(&mut qs[i], &angles[i]);
                self.rope(&mut ks[i], &angles[i]);
                caches[item.sequence].keys[l].extend_from_slice(&ks[i]);
                caches[item.sequence].values[l].extend_from_slice(vs[i]);
            }
            let scale = 1.0 / (hd as f32).sqrt();
            // Each item reads its own sequence's cache: the reads, not the
            // arithmetic, are the cost, so items go to both cores.
            let caches_now: &[SequenceCache] = caches;
            let contexts: Vec<Vec<f32>> = items
                .par_iter()
                .enumerate()
                .with_min_len(2)
                .map(|(i, item)| {
                    let cache = &caches_now[item.sequence];
                    let seen = positions[i] + 1;
                    let mut context = vec![0.0f32; self.heads * hd];
                    let mut scores = vec![0.0f32; seen];
                    for (h, out) in context.chunks_exact_mut(hd).enumerate() {
                        let g = h / groups;
                        let view = HeadView {
                            keys: &cache.keys[l],
                            values: &cache.values[l],
                            stride: kv_width,
                            offset: g * hd,
                        };
                        attend(&qs[i][h * hd..(h + 1) * hd], view, scale, &mut scores, out);
                    }
                    context
                })
                .collect();
            let attended = block.o.apply(&contexts);
            for (x, a) in xs.iter_mut().zip(&attended) {
                x.iter_mut().zip(a).for_each(|(x, a)| *x += a);
            }
            let normed: Vec<Vec<f32>> = xs.iter().map(|x| rms_norm(x, &block.mlp_norm, self.eps)).collect();
            let gate_up = block.gate_up.apply(&normed);
            let hidden: Vec<Vec<f32>> = gate_up
                .iter()
                .map(|y| {
                    let (g, u) = y.split_at(y.len() / 2);
                    g.iter().zip(u).map(|(g, u)| g / (1.0 + (-g).exp()) * u).collect()
                })
                .collect();
            let downs = block.down.apply(&hidden);
            for (x, dn) in xs.iter_mut().zip(&downs) {
                x.iter_mut().zip(dn).for_each(|(x, dn)| *x += dn);
            }
        }
        for (sequence, cache) in caches.iter_mut().enumerate() {
            cache.len = next[sequence];
        }
        // Logits only where a sequence's last item of this step is.
        let mut last: Vec<(usize, usize)> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match last.iter_mut().find(|(s, _)| *s == item.sequence) {
                Some(entry) => entry.1 = i,
                None => last.push((item.sequence, i)),
            }
        }
        let finals: Vec<Vec<f32>> = last.iter().map(|&(_, i)| rms_norm(&xs[i], &self.norm, self.eps)).collect();
        let logits = self.logits(&finals);
        last.iter().map(|&(s, _)| s).zip(logits).collect()
    }

    fn logits(&self, finals: &[Vec<f32>]) -> Vec<Vec<f32>> {
        let flat = products(&self.head, finals);
        flat.chunks_exact(self.vocab.max(1)).map(<[f32]>::to_vec).collect()
    }
}
