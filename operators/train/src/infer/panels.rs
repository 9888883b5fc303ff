//! Weight matrices packed for decoding: rows grouped in panels of
//! [`PANEL`] outputs, each panel stored column by column, so that a product
//! streams the weights once, front to back, and every multiply-add lands in
//! a vector of outputs (a broadcast input times a vector of weights) — no
//! horizontal sums. Packed once when a model loads; the kernel is compiled
//! for the widest vector instructions the CPU has (AVX-512, AVX2+FMA, NEON
//! or plain code), chosen at run time by `pulp`, so the code stays safe and
//! the binary portable.

use pulp::{Arch, Simd, WithSimd};

/// Outputs per panel: two AVX-512 vectors, four AVX2 ones.
pub const PANEL: usize = 32;

/// How decoding keeps its weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WeightPrecision {
    /// As trained: products equal the framework's to float rounding.
    #[default]
    F32,
    /// bfloat16 (rounded to nearest even), widened to f32 in registers:
    /// half the bytes streamed per token, where batch-1 decoding spends its
    /// time; sums stay f32. Each weight keeps 8 bits of mantissa (about
    /// 3 significant digits), so greedy outputs may differ from f32's.
    Bf16,
}

/// Words per panel column in bf16: two weights in each `u32`.
const BF16_WORDS: usize = PANEL / 2;

/// A `[out][cols]` matrix as panels. In f32, `panels[(p * cols + c) * PANEL + j]`
/// is row `p * PANEL + j`, column `c` (zero past the last row). In bf16,
/// word `(p * cols + c) * 16 + w` holds row `w` in its low half and row
/// `w + 16` in its high half, whatever the vector width.
pub struct Panels {
    weights: Weights,
    out: usize,
    cols: usize,
}

enum Weights {
    F32(Vec<f32>),
    Bf16(Vec<u32>),
}

/// The bfloat16 bits of `x`, rounded to nearest even.
fn bf16_bits(x: f32) -> u32 {
    let bits = x.to_bits();
    if x.is_nan() {
        return (bits >> 16) | 0x40;
    }
    (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
}

impl Panels {
    /// Packs `rows` (`out` rows of `cols`) in f32.
    #[cfg(test)]
    pub fn pack(rows: &[f32], out: usize, cols: usize) -> Self {
        Self::pack_as(rows, out, cols, WeightPrecision::F32)
    }

    /// Packs `rows` (`out` rows of `cols`) at the given precision.
    pub fn pack_as(rows: &[f32], out: usize, cols: usize, precision: WeightPrecision) -> Self {
        let count = out.div_ceil(PANEL);
        let weights = match precision {
            WeightPrecision::F32 => {
                let mut panels = vec![0.0f32; count * cols * PANEL];
                for (r, row) in rows.chunks_exact(cols.max(1)).take(out).enumerate() {
                    let (p, j) = (r / PANEL, r % PANEL);
                    for (c, &w) in row.iter().enumerate() {
                        panels[(p * cols + c) * PANEL + j] = w;
                    }
                }
                Weights::F32(panels)
            }
            WeightPrecision::Bf16 => {
                let mut words = vec![0u32; count * cols * BF16_WORDS];
                for (r, row) in rows.chunks_exact(cols.max(1)).take(out).enumerate() {
                    let (p, j) = (r / PANEL, r % PANEL);
                    let (word, shift) = (j % BF16_WORDS, if j < BF16_WORDS { 0 } else { 16 });
                    for (c, &w) in row.iter().enumerate() {
                        words[(p * cols + c) * BF16_WORDS + word] |= bf16_bits(w) << shift;
                    }
                }
                Weights::Bf16(words)
            }
        };
        Self { weights, out, cols }
    }

    /// Weight of row `p * PANEL + j`, column `c`, as the kernels see it.
    fn weight(&self, p: usize, c: usize, j: usize) -> f32 {
        match &self.weights {
            Weights::F32(panels) => panels[(p * self.cols + c) * PANEL + j],
            Weights::Bf16(words) => {
                let word = words[(p * self.cols + c) * BF16_WORDS + j % BF16_WORDS];
                f32::from_bits(if j < BF16_WORDS { word << 16 } else { word & 0xFFFF_0000 })
            }
        }
    }

    pub fn out(&self) -> usize {
        self.out
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Number of panels.
    pub fn panel_count(&self) -> usize {
        self.out.div_ceil(PANEL)
    }

    /// Rows `first * PANEL ..` of the panels `first..end`, for every input:
    /// `piece[i * rows + k] = xs[i] · row (first * PANEL + k)`, where `rows`
    /// is how many real rows those panels hold. Each input is `cols` long.
    pub fn products(&self, panels: std::ops::Range<usize>, xs: &[&[f32]]) -> Vec<f32> {
        let rows = (panels.end * PANEL).min(self.out).saturating_sub(panels.start * PANEL);
        let mut piece = vec![0.0f32; rows * xs.len()];
        Arch::new().dispatch(Kernel { w: self, panels, xs, rows, piece: &mut piece });
        piece
    }
}

/// Calls `$tile::<S, N, P>` with `P`, the vectors per panel column, as a
/// constant: the accumulators are then an array of exactly the vectors
/// used, which the compiler keeps in registers.
macro_rules! by_width {
    ($tile:ident, $n:literal, $simd:expr, $data:expr, $cols:expr, $inputs:expr, $at:expr) => {
        match PANEL / S::F32_LANES {
            2 => $tile::<S, $n, 2>($simd, $data, $cols, $inputs, $at),
            4 => $tile::<S, $n, 4>($simd, $data, $cols, $inputs, $at),
            _ => $tile::<S, $n, 8>($simd, $data, $cols, $inputs, $at),
        }
    };
}

/// Runs `$tile::<S, N>` over every panel (its weights from `$panel_of`) and
/// every group of inputs: few enough inputs at a time that the sums stay
/// in registers.
macro_rules! each_tile {
    ($simd:expr, $tile:ident, $panel_of:expr, $panels:expr, $xs:expr, $rows:expr, $piece:expr, $cols:expr) => {{
        let first = $panels.start;
        let group = if PANEL / S::F32_LANES <= 2 { 8 } else { 2 };
        for p in $panels {
            let data = $panel_of(p);
            let row = (p - first) * PANEL;
            let valid = ($rows - row).min(PANEL);
            let mut start = 0;
            while start < $xs.len() {
                let inputs = &$xs[start..(start + group).min($xs.len())];
                let at = Place { piece: &mut *$piece, rows: $rows, row, valid, first_input: start };
                match inputs.len() {
                    8 => by_width!($tile, 8, $simd, data, $cols, inputs, at),
                    7 => by_width!($tile, 7, $simd, data, $cols, inputs, at),
                    6 => by_width!($tile, 6, $simd, data, $cols, inputs, at),
                    5 => by_width!($tile, 5, $simd, data, $cols, inputs, at),
                    4 => by_width!($tile, 4, $simd, data, $cols, inputs, at),
                    3 => by_width!($tile, 3, $simd, data, $cols, inputs, at),
                    2 => by_width!($tile, 2, $simd, data, $cols, inputs, at),
                    _ => by_width!($tile, 1, $simd, data, $cols, inputs, at),
                }
                start += group;
            }
        }
    }};
}

struct Kernel<'a> {
    w: &'a Panels,
    panels: std::ops::Range<usize>,
    xs: &'a [&'a [f32]],
    rows: usize,
    piece: &'a mut [f32],
}

impl WithSimd for Kernel<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) -> Self::Output {
        let Kernel { w, panels, xs, rows, piece } = self;
        let cols = w.cols;
        if S::F32_LANES < 4 || !BF16_WORDS.is_multiple_of(S::F32_LANES) || cols == 0 {
            return plain(w, panels, xs, rows, piece);
        }
        match &w.weights {
            Weights::F32(all) => each_tile!(
                simd,
                panel_tile,
                |p: usize| S::as_simd_f32s(&all[p * cols * PANEL..(p + 1) * cols * PANEL]).0,
                panels,
                xs,
                rows,
                piece,
                cols
            ),
            Weights::Bf16(all) => each_tile!(
                simd,
                bf16_tile,
                |p: usize| S::as_simd_u32s(&all[p * cols * BF16_WORDS..(p + 1) * cols * BF16_WORDS]).0,
                panels,
                xs,
                rows,
                piece,
                cols
            ),
        }
    }
}

/// One bf16 panel times `N` inputs: word vector `v` of a column widens to
/// rows `v·L..` (low halves, shifted up) and `16 + v·L..` (high halves,
/// low bits cleared), L being the lanes per vector.
#[inline(always)]
fn bf16_tile<S: Simd, const N: usize, const P: usize>(
    simd: S,
    words: &[S::u32s],
    cols: usize,
    inputs: &[&[f32]],
    at: Place<'_>,
) {
    let words_per_column = P / 2;
    let xs: [&[f32]; N] = std::array::from_fn(|i| &inputs[i][..cols]);
    let zero = simd.splat_f32s(0.0);
    let sixteen = simd.splat_u32s(16);
    let mut acc = [[zero; P]; N];
    let mut wide = [zero; P];
    for (c, column) in words.chunks_exact(words_per_column).enumerate() {
        for v in 0..words_per_column {
            let low = simd.wrapping_dyn_shl_u32s(column[v], sixteen);
            let high = simd.wrapping_dyn_shl_u32s(simd.wrapping_dyn_shr_u32s(column[v], sixteen), sixteen);
            wide[v] = simd.transmute_f32s_u32s(low);
            wide[words_per_column + v] = simd.transmute_f32s_u32s(high);
        }
        for i in 0..N {
            let x = simd.splat_f32s(xs[i][c]);
            for k in 0..P {
                acc[i][k] = simd.mul_add_e_f32s(wide[k], x, acc[i][k]);
            }
        }
    }
    store_sums::<S, N, P>(&acc, at);
}

/// Writes a tile's sums, one panel's valid rows per input, where they go.
#[inline(always)]
fn store_sums<S: Simd, const N: usize, const P: usize>(acc: &[[S::f32s; P]; N], at: Place<'_>) {
    for (i, sums) in acc.iter().enumerate() {
        let mut lanes = [0.0f32; PANEL];
        let (out, _) = S::as_mut_simd_f32s(&mut lanes);
        out.copy_from_slice(sums);
        let base = (at.first_input + i) * at.rows + at.row;
        at.piece[base..base + at.valid].copy_from_slice(&lanes[..at.valid]);
    }
}

/// Where a tile's sums go: rows `row .. row + valid` of inputs
/// `first_input ..` in a piece `rows` long per input.
struct Place<'a> {
    piece: &'a mut [f32],
    rows: usize,
    row: usize,
    valid: usize,
    first_input: usize,
}

/// One panel times `N` inputs.
#[inline(always)]
fn panel_tile<S: Simd, const N: usize, const P: usize>(
    simd: S,
    vectors: &[S::f32s],
    cols: usize,
    inputs: &[&[f32]],
    at: Place<'_>,
) {
    let xs: [&[f32]; N] = std::array::from_fn(|i| &inputs[i][..cols]);
    let zero = simd.splat_f32s(0.0);
    let mut acc = [[zero; P]; N];
    for (c, column) in vectors.chunks_exact(P).enumerate() {
        for i in 0..N {
            let x = simd.splat_f32s(xs[i][c]);
            for k in 0..P {
                acc[i][k] = simd.mul_add_e_f32s(column[k], x, acc[i][k]);
            }
        }
    }
    store_sums::<S, N, P>(&acc, at);
}

/// The same sums without vectors, for CPUs `pulp` has none for.
fn plain(w: &Panels, panels: std::ops::Range<usize>, xs: &[&[f32]], rows: usize, piece: &mut [f32]) {
    let first = panels.start;
    for p in panels {
        for j in 0..PANEL {
            let row = (p - first) * PANEL + j;
            if row >= rows {
                break;
            }
            for (i, x) in xs.iter().enumerate() {
                piece[i * rows + row] = (0..w.cols).map(|c| w.weight(p, c, j) * x[c]).sum();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(rows: &[f32], cols: usize, xs: &[&[f32]]) -> Vec<f32> {
        let count = rows.len() / cols;
        let mut out = vec![0.0; count * xs.len()];
        for (i, x) in xs.iter().enumerate() {
            for k in 0..count {
                out[i * count + k] = rows[k * cols..(k + 1) * cols].iter().zip(*x).map(|(a, b)| a * b).sum();
            }
        }
        out
    }

    #[test]
    fn bf16_rounds_to_nearest_even() {
        assert_eq!(bf16_bits(1.0), 0x3F80);
        assert_eq!(bf16_bits(f32::from_bits(0x3F80_8000)), 0x3F80, "a tie goes to the even neighbour");
        assert_eq!(bf16_bits(f32::from_bits(0x3F81_8000)), 0x3F82, "a tie goes to the even neighbour");
        assert_eq!(bf16_bits(f32::from_bits(0x3F80_8001)), 0x3F81);
        assert_eq!(bf16_bits(-2.5), 0xC020);
    }

    #[test]
    fn packed_products_match_plain_sums_for_any_shape_and_panel_range() {
        // Row counts that do not fill the last panel, input counts that do
        // not fill a group, and ranges that start past the first panel.
        for (count, cols, n) in [(1, 1, 1), (33, 17, 5), (70, 64, 8), (5, 40, 3), (100, 33, 9), (64, 256, 4)] {
            let rows: Vec<f32> = (0..count * cols).map(|i| ((i * 7919 % 97) as f32 - 48.0) / 31.0).collect();
            let inputs: Vec<Vec<f32>> =
                (0..n).map(|j| (0..cols).map(|c| ((c * 31 + j * 13) % 23) as f32 / 11.0 - 1.0).collect()).collect();
            let xs: Vec<&[f32]> = inputs.iter().map(Vec::as_slice).collect();
            let packed = Panels::pack(&rows, count, cols);
            let want = naive(&rows, cols, &xs);
            let whole = packed.products(0..packed.panel_count(), &xs);
            for (got, want) in whole.iter().zip(&want) {
                assert!((got - want).abs() <= 1e-4 * want.abs().max(1.0), "{count}x{cols} by {n}: {got} vs {want}");
            }
            // bf16 weights: the same sums as f32 over the rounded weights.
            let rounded: Vec<f32> = rows.iter().map(|&w| f32::from_bits(bf16_bits(w) << 16)).collect();
            let want_bf16 = naive(&rounded, cols, &xs);
            let halves = Panels::pack_as(&rows, count, cols, WeightPrecision::Bf16);
            for (got, want) in halves.products(0..halves.panel_count(), &xs).iter().zip(&want_bf16) {
                assert!(
                    (got - want).abs() <= 1e-4 * want.abs().max(1.0),
                    "bf16 {count}x{cols} by {n}: {got} vs {want}"
                );
            }
            if packed.panel_count() > 1 {
                let tail = packed.products(1..packed.panel_count(), &xs);
                let rest = count - PANEL;
                for i in 0..n {
                    for k in 0..rest {
                        let (got, want) = (tail[i * rest + k], want[i * count + PANEL + k]);
                        assert!((got - want).abs() <= 1e-4 * want.abs().max(1.0), "from panel 1: {got} vs {want}");
                    }
                }
            }
        }
    }
}
