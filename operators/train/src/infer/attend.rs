//! Attention of one query head over a sequence's cached keys and values,
//! vectorised with `pulp` (AVX-512, AVX2+FMA, NEON or plain code, chosen at
//! run time) like the matrix products in `panels`.

use pulp::{Arch, Simd, WithSimd};

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

#[cfg(test)]
mod tests {
    use super::*;

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
