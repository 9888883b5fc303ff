//! Decoding on the CPU without a tensor framework: the weights as plain
//! `[out][in]` rows, one step a handful of matrix-vector products that read
//! each weight row once for every sequence of the batch, the key/value
//! cache as growing vectors. At one token per sequence per step the
//! framework's per-operation costs (allocation, packing, thread hand-offs)
//! outweigh the arithmetic; this path has none of them. Tested against the
//! burn model's forward pass.

use rayon::prelude::*;

use crate::model::{PlainMatrix, PlainWeights};

/// Work below this many multiply-adds stays on one thread.
const PARALLEL_WORK: usize = 1 << 17;

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

/// A model ready for plain-Rust decoding.
pub struct CpuDecoder {
    w: PlainWeights,
    heads: usize,
    kv_heads: usize,
    eps: f32,
    /// `1 / theta^(2j / head_dim)` for each rotary pair.
    inv_freq: Vec<f32>,
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Eight lanes of partial sums let the compiler keep them in one vector register.
    let mut lanes = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            lanes[k] += x[k] * y[k];
        }
    }
    let mut sum: f32 = lanes.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        sum += x * y;
    }
    sum
}

/// Rows per parallel block of a matrix-vector product.
const BLOCK: usize = 32;

/// From this many inputs on (a prompt's positions), a product goes to
/// matrixmultiply's packed kernels, which pick AVX2/FMA at run time; for the
/// few inputs of a decoding step, packing the matrix costs more than it saves.
const GEMM_INPUTS: usize = 16;

/// `flat[r * n + i] = row r · xs[i]` for every row of `rows` (`cols` wide),
/// each weight row read once for all inputs.
fn products(rows: &[f32], cols: usize, xs: &[Vec<f32>], parallel: bool) -> Vec<f32> {
    let n = xs.len();
    if n >= GEMM_INPUTS {
        let inputs = xs.concat();
        let out = rows.len() / cols.max(1);
        if let (Ok(w), Ok(x)) =
            (ndarray::ArrayView2::from_shape((out, cols), rows), ndarray::ArrayView2::from_shape((n, cols), &inputs))
        {
            // [out × cols] · [cols × n] is [out × n], row-major: the layout asked for.
            return w.dot(&x.t()).iter().copied().collect();
        }
    }
    let out = rows.len() / cols.max(1);
    let mut flat = vec![0.0f32; out * n];
    let fill = |(block, chunk): (usize, &mut [f32])| {
        for (k, slot) in chunk.chunks_exact_mut(n).enumerate() {
            let r = block * BLOCK + k;
            let row = &rows[r * cols..(r + 1) * cols];
            for (value, x) in slot.iter_mut().zip(xs) {
                *value = dot(row, x);
            }
        }
    };
    if parallel {
        flat.par_chunks_mut(BLOCK * n).enumerate().for_each(fill);
    } else {
        flat.chunks_mut(BLOCK * n).enumerate().for_each(fill);
    }
    flat
}

/// `out[i] = W · xs[i] (+ bias)` for every input.
fn apply(m: &PlainMatrix, xs: &[Vec<f32>]) -> Vec<Vec<f32>> {
    let (rows, out, cols, bias) = m;
    let (out, cols, n) = (*out, *cols, xs.len());
    let flat = products(rows, cols, xs, out * cols * n >= PARALLEL_WORK);
    (0..n).map(|i| (0..out).map(|r| flat[r * n + i] + bias.as_ref().map_or(0.0, |b| b[r])).collect()).collect()
}

fn rms_norm(x: &[f32], gamma: &[f32], eps: f32) -> Vec<f32> {
    let mean = x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32;
    let scale = 1.0 / (mean + eps).sqrt();
    x.iter().zip(gamma).map(|(v, g)| v * scale * g).collect()
}

impl CpuDecoder {
    pub fn new(weights: PlainWeights, heads: usize, kv_heads: usize, eps: f64) -> Self {
        let half = weights.head_dim / 2;
        let inv_freq =
            (0..half).map(|j| 1.0 / weights.rope_theta.powf((2 * j) as f32 / weights.head_dim as f32)).collect();
        Self { w: weights, heads, kv_heads, eps: eps as f32, inv_freq }
    }

    pub fn vocab(&self) -> usize {
        self.w.vocab
    }

    /// A cache for a new sequence.
    pub fn cache(&self) -> SequenceCache {
        SequenceCache {
            keys: vec![Vec::new(); self.w.layers.len()],
            values: vec![Vec::new(); self.w.layers.len()],
            len: 0,
        }
    }

    /// Rotates each head of `x` in place to `position` (rotate-half pairs).
    fn rope(&self, x: &mut [f32], position: usize) {
        let hd = self.w.head_dim;
        let half = hd / 2;
        for head in x.chunks_exact_mut(hd) {
            for j in 0..half {
                let (sin, cos) = (position as f32 * self.inv_freq[j]).sin_cos();
                let (a, b) = (head[j], head[j + half]);
                head[j] = a * cos - b * sin;
                head[j + half] = b * cos + a * sin;
            }
        }
    }

    /// Runs `items` (positions of one or more sequences, each sequence's in
    /// order, following what its cache holds) through the model; returns
    /// the logits after the last item of each sequence named, by sequence.
    pub fn forward(&self, items: &[Item], caches: &mut [SequenceCache]) -> Vec<(usize, Vec<f32>)> {
        let d = self.w.d_model;
        let hd = self.w.head_dim;
        let groups = self.heads / self.kv_heads.max(1);
        let mut positions = Vec::with_capacity(items.len());
        let mut next: Vec<usize> = caches.iter().map(|c| c.len).collect();
        for item in items {
            positions.push(next[item.sequence]);
            next[item.sequence] += 1;
        }
        let mut xs: Vec<Vec<f32>> =
            items.iter().map(|it| self.w.embed[it.token as usize * d..(it.token as usize + 1) * d].to_vec()).collect();
        for (l, layer) in self.w.layers.iter().enumerate() {
            let normed: Vec<Vec<f32>> = xs.iter().map(|x| rms_norm(x, &layer.attn_norm, self.eps)).collect();
            let [q, k, v, o] = &layer.attention;
            let mut qs = apply(q, &normed);
            let mut ks = apply(k, &normed);
            let vs = apply(v, &normed);
            for (i, item) in items.iter().enumerate() {
                self.rope(&mut qs[i], positions[i]);
                self.rope(&mut ks[i], positions[i]);
                caches[item.sequence].keys[l].extend_from_slice(&ks[i]);
                caches[item.sequence].values[l].extend_from_slice(&vs[i]);
            }
            let scale = 1.0 / (hd as f32).sqrt();
            let contexts: Vec<Vec<f32>> = items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let cache = &caches[item.sequence];
                    let kv_width = self.kv_heads * hd;
                    let seen = positions[i] + 1;
                    let mut context = vec![0.0f32; self.heads * hd];
                    let mut scores = vec![0.0f32; seen];
                    for h in 0..self.heads {
                        let g = h / groups;
                        let query = &qs[i][h * hd..(h + 1) * hd];
                        for (t, s) in scores.iter_mut().enumerate() {
                            *s = dot(query, &cache.keys[l][t * kv_width + g * hd..t * kv_width + (g + 1) * hd]) * scale;
                        }
                        let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                        let mut total = 0.0;
                        for s in &mut scores {
                            *s = (*s - max).exp();
                            total += *s;
                        }
                        let out = &mut context[h * hd..(h + 1) * hd];
                        for (t, s) in scores.iter().enumerate() {
                            let value = &cache.values[l][t * kv_width + g * hd..t * kv_width + (g + 1) * hd];
                            let p = s / total;
                            for (o, v) in out.iter_mut().zip(value) {
                                *o += p * v;
                            }
                        }
                    }
                    context
                })
                .collect();
            let attended = apply(o, &contexts);
            for (x, a) in xs.iter_mut().zip(&attended) {
                x.iter_mut().zip(a).for_each(|(x, a)| *x += a);
            }
            let normed: Vec<Vec<f32>> = xs.iter().map(|x| rms_norm(x, &layer.mlp_norm, self.eps)).collect();
            let [gate, up, down] = &layer.mlp;
            let gates = apply(gate, &normed);
            let ups = apply(up, &normed);
            let hidden: Vec<Vec<f32>> = gates
                .iter()
                .zip(&ups)
                .map(|(g, u)| g.iter().zip(u).map(|(g, u)| g / (1.0 + (-g).exp()) * u).collect())
                .collect();
            let downs = apply(down, &hidden);
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
        let finals: Vec<Vec<f32>> = last.iter().map(|&(_, i)| rms_norm(&xs[i], &self.w.norm, self.eps)).collect();
        let logits = self.logits(&finals);
        last.iter().map(|&(s, _)| s).zip(logits).collect()
    }

    fn logits(&self, finals: &[Vec<f32>]) -> Vec<Vec<f32>> {
        let (vocab, n) = (self.w.vocab, finals.len());
        let flat = products(&self.w.head, self.w.d_model, finals, true);
        (0..n).map(|i| (0..vocab).map(|v| flat[v * n + i]).collect()).collect()
    }
}
