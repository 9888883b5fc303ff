//! The decoder's matrix products for a handful of inputs at a time: each
//! weight row read once for every input, in tiles of rows × inputs whose
//! partial sums stay in vector registers, compiled for the widest vector
//! instructions the CPU has (AVX-512, AVX2+FMA, or plain SSE2), chosen at
//! run time by `pulp` so the binary stays portable and the code safe.

use pulp::{Arch, Simd, WithSimd};

/// Rows of the weight matrix per tile.
const TILE_ROWS: usize = 2;
/// Inputs per tile: with two rows, eight accumulators, few enough for AVX2's
/// sixteen registers beside the loads.
const TILE_INPUTS: usize = 4;

/// `out[i * count + k] = xs[i] · rows[k]` for the `count = out.len() / n`
/// rows of `rows` (each `cols` wide), `n = xs.len()`: one output vector per
/// input, as the next layer wants them.
pub fn products_into(rows: &[f32], cols: usize, xs: &[&[f32]], out: &mut [f32]) {
    Arch::new().dispatch(Products { rows, cols, xs, out });
}

/// Where one head reads its keys and values in a sequence's cache: position
/// `t`'s vector starts at `t * stride + offset`.
#[derive(Debug, Clone, Copy)]
pub struct HeadView<'a> {
    pub keys: &'a [f32],
    pub values: &'a [f32],
    pub stride: usize,
    pub offset: usize,
}

/// Scaled dot-product attention of one query head over every cached
/// position: `out = Σ_t softmax(q·k_t · scale)_t v_t`. `scores` is scratch
/// space with one slot per position.
pub fn attend(query: &[f32], view: HeadView<'_>, scale: f32, scores: &mut [f32], out: &mut [f32]) {
    Arch::new().dispatch(Attend { query, view, scale, scores, out });
}

struct Attend<'a> {
    query: &'a [f32],
    view: HeadView<'a>,
    scale: f32,
    scores: &'a mut [f32],
    out: &'a mut [f32],
}

impl WithSimd for Attend<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) -> Self::Output {
        let Attend { query, view, scale, scores, out } = self;
        let width = query.len();
        let at = |t: usize| t * view.stride + view.offset;
        let (q, q_tail) = S::as_simd_f32s(query);
        for (t, score) in scores.iter_mut().enumerate() {
            let (k, k_tail) = S::as_simd_f32s(&view.keys[at(t)..at(t) + width]);
            let mut acc = simd.splat_f32s(0.0);
            for (a, b) in q.iter().zip(k) {
                acc = simd.mul_add_e_f32s(*a, *b, acc);
            }
            let tail: f32 = q_tail.iter().zip(k_tail).map(|(a, b)| a * b).sum();
            *score = (simd.reduce_sum_f32s(acc) + tail) * scale;
        }
        let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut total = 0.0;
        for s in scores.iter_mut() {
            *s = (*s - max).exp();
            total += *s;
        }
        out.iter_mut().for_each(|o| *o = 0.0);
        let (o, o_tail) = S::as_mut_simd_f32s(out);
        for (t, s) in scores.iter().enumerate() {
            let p = s / total;
            let weight = simd.splat_f32s(p);
            let (v, v_tail) = S::as_simd_f32s(&view.values[at(t)..at(t) + width]);
            for (o, v) in o.iter_mut().zip(v) {
                *o = simd.mul_add_e_f32s(weight, *v, *o);
            }
            for (o, v) in o_tail.iter_mut().zip(v_tail) {
                *o += p * v;
            }
        }
    }
}

struct Products<'a> {
    rows: &'a [f32],
    cols: usize,
    xs: &'a [&'a [f32]],
    out: &'a mut [f32],
}

impl WithSimd for Products<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) -> Self::Output {
        let Products { rows, cols, xs, out } = self;
        let n = xs.len();
        if n == 0 || cols == 0 {
            return;
        }
        let count = out.len() / n;
        let mut row = 0;
        while row < count {
            let take = (count - row).min(TILE_ROWS);
            let mut first = 0;
            while first < n {
                let inputs = &xs[first..(first + TILE_INPUTS).min(n)];
                let weights = &rows[row * cols..(row + take) * cols];
                match (take, inputs.len()) {
                    (2, 4) => tile::<S, 2, 4>(simd, weights, cols, inputs, out, row, first, count),
                    (2, 3) => tile::<S, 2, 3>(simd, weights, cols, inputs, out, row, first, count),
                    (2, 2) => tile::<S, 2, 2>(simd, weights, cols, inputs, out, row, first, count),
                    (2, _) => tile::<S, 2, 1>(simd, weights, cols, inputs, out, row, first, count),
                    (_, 4) => tile::<S, 1, 4>(simd, weights, cols, inputs, out, row, first, count),
                    (_, 3) => tile::<S, 1, 3>(simd, weights, cols, inputs, out, row, first, count),
                    (_, 2) => tile::<S, 1, 2>(simd, weights, cols, inputs, out, row, first, count),
                    _ => tile::<S, 1, 1>(simd, weights, cols, inputs, out, row, first, count),
                }
                first += TILE_INPUTS;
            }
            row += take;
        }
    }
}

/// One tile: `R` consecutive rows (in `weights`) times `N` inputs, written
/// to `out[(first + i) * count + row + r]`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn tile<S: Simd, const R: usize, const N: usize>(
    simd: S,
    weights: &[f32],
    cols: usize,
    inputs: &[&[f32]],
    out: &mut [f32],
    row: usize,
    first: usize,
    count: usize,
) {
    let rows: [(&[S::f32s], &[f32]); R] = std::array::from_fn(|r| S::as_simd_f32s(&weights[r * cols..(r + 1) * cols]));
    let xs: [(&[S::f32s], &[f32]); N] = std::array::from_fn(|i| S::as_simd_f32s(&inputs[i][..cols]));
    let zero = simd.splat_f32s(0.0);
    let mut acc = [[zero; N]; R];
    for v in 0..rows[0].0.len() {
        let w: [S::f32s; R] = std::array::from_fn(|r| rows[r].0[v]);
        for i in 0..N {
            let x = xs[i].0[v];
            for r in 0..R {
                acc[r][i] = simd.mul_add_e_f32s(w[r], x, acc[r][i]);
            }
        }
    }
    for r in 0..R {
        for i in 0..N {
            let tail: f32 = rows[r].1.iter().zip(xs[i].1).map(|(w, x)| w * x).sum();
            out[(first + i) * count + row + r] = simd.reduce_sum_f32s(acc[r][i]) + tail;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(rows: &[f32], cols: usize, xs: &[&[f32]]) -> Vec<f32> {
        let n = xs.len();
        let count = rows.len() / cols;
        let mut out = vec![0.0; count * n];
        for k in 0..count {
            for (i, x) in xs.iter().enumerate() {
                out[i * count + k] = rows[k * cols..(k + 1) * cols].iter().zip(*x).map(|(a, b)| a * b).sum();
            }
        }
        out
    }

    #[test]
    fn products_match_plain_sums_for_every_tile_shape_and_tail() {
        // Odd row counts, input counts that are not multiples of the tile,
        // and widths with and without a remainder past the vector lanes.
        for (count, cols, n) in [(1, 1, 1), (3, 17, 5), (7, 64, 8), (5, 40, 3), (2, 33, 9), (9, 256, 4)] {
            let rows: Vec<f32> = (0..count * cols).map(|i| ((i * 7919 % 97) as f32 - 48.0) / 31.0).collect();
            let inputs: Vec<Vec<f32>> =
                (0..n).map(|j| (0..cols).map(|c| ((c * 31 + j * 13) % 23) as f32 / 11.0 - 1.0).collect()).collect();
            let xs: Vec<&[f32]> = inputs.iter().map(Vec::as_slice).collect();
            let mut out = vec![f32::NAN; count * n];
            products_into(&rows, cols, &xs, &mut out);
            for (got, want) in out.iter().zip(naive(&rows, cols, &xs)) {
                assert!((got - want).abs() <= 1e-4 * want.abs().max(1.0), "{count}x{cols} by {n}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn attention_is_the_softmax_weighted_sum_of_the_values() {
        let (stride, offset, width, positions, scale) = (24, 5, 19, 6, 0.3);
        let keys: Vec<f32> = (0..stride * positions).map(|i| ((i % 13) as f32 - 6.0) * 0.1).collect();
        let values: Vec<f32> = (0..stride * positions).map(|i| ((i % 11) as f32 - 5.0) * 0.2).collect();
        let query: Vec<f32> = (0..width).map(|i| i as f32 * 0.05 - 0.3).collect();
        let at = |t: usize| t * stride + offset;
        let logits: Vec<f32> = (0..positions)
            .map(|t| query.iter().zip(&keys[at(t)..at(t) + width]).map(|(a, b)| a * b).sum::<f32>() * scale)
            .collect();
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let total: f32 = logits.iter().map(|l| (l - max).exp()).sum();
        let want: Vec<f32> = (0..width)
            .map(|j| (0..positions).map(|t| (logits[t] - max).exp() / total * values[at(t) + j]).sum())
            .collect();
        let (mut scores, mut out) = (vec![0.0; positions], vec![f32::NAN; width]);
        attend(&query, HeadView { keys: &keys, values: &values, stride, offset }, scale, &mut scores, &mut out);
        for (got, want) in out.iter().zip(&want) {
            assert!((got - want).abs() < 1e-5, "{got} vs {want}");
        }
    }
}
