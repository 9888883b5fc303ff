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

/// A `[out][cols]` matrix as panels: `panels[(p * cols + c) * PANEL + j]`
/// is row `p * PANEL + j`, column `c` (zero past the last row).
pub struct Panels {
    panels: Vec<f32>,
    out: usize,
    cols: usize,
}

impl Panels {
    /// Packs `rows` (`out` rows of `cols`).
    pub fn pack(rows: &[f32], out: usize, cols: usize) -> Self {
        let count = out.div_ceil(PANEL);
        let mut panels = vec![0.0f32; count * cols * PANEL];
        for (r, row) in rows.chunks_exact(cols.max(1)).take(out).enumerate() {
            let (p, j) = (r / PANEL, r % PANEL);
            for (c, &w) in row.iter().enumerate() {
                panels[(p * cols + c) * PANEL + j] = w;
            }
        }
        Self { panels, out, cols }
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
        if S::F32_LANES < 4 || !PANEL.is_multiple_of(S::F32_LANES) || cols == 0 {
            return plain(w, panels, xs, rows, piece);
        }
        let first = panels.start;
        for p in panels {
            let panel = &w.panels[p * cols * PANEL..(p + 1) * cols * PANEL];
            let (vectors, _) = S::as_simd_f32s(panel);
            let row = (p - first) * PANEL;
            let valid = (rows - row).min(PANEL);
            let mut start = 0;
            // Few enough inputs at a time that the sums stay in registers.
            let group = if PANEL / S::F32_LANES <= 2 { 8 } else { 2 };
            while start < xs.len() {
                let inputs = &xs[start..(start + group).min(xs.len())];
                let at = Place { piece: &mut *piece, rows, row, valid, first_input: start };
                match inputs.len() {
                    8 => panel_tile::<S, 8>(simd, vectors, cols, inputs, at),
                    7 => panel_tile::<S, 7>(simd, vectors, cols, inputs, at),
                    6 => panel_tile::<S, 6>(simd, vectors, cols, inputs, at),
                    5 => panel_tile::<S, 5>(simd, vectors, cols, inputs, at),
                    4 => panel_tile::<S, 4>(simd, vectors, cols, inputs, at),
                    3 => panel_tile::<S, 3>(simd, vectors, cols, inputs, at),
                    2 => panel_tile::<S, 2>(simd, vectors, cols, inputs, at),
                    _ => panel_tile::<S, 1>(simd, vectors, cols, inputs, at),
                }
                start += group;
            }
        }
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

/// Vectors per panel column (at most eight: NEON's four lanes).
const MAX_VECTORS: usize = 8;

/// One panel times `N` inputs.
#[inline(always)]
fn panel_tile<S: Simd, const N: usize>(simd: S, vectors: &[S::f32s], cols: usize, inputs: &[&[f32]], at: Place<'_>) {
    let per_column = PANEL / S::F32_LANES;
    let xs: [&[f32]; N] = std::array::from_fn(|i| &inputs[i][..cols]);
    let zero = simd.splat_f32s(0.0);
    let mut acc = [[zero; MAX_VECTORS]; N];
    for (c, column) in vectors.chunks_exact(per_column).enumerate() {
        for i in 0..N {
            let x = simd.splat_f32s(xs[i][c]);
            for k in 0..per_column {
                acc[i][k] = simd.mul_add_e_f32s(column[k], x, acc[i][k]);
            }
        }
    }
    for (i, sums) in acc.iter().enumerate() {
        let mut lanes = [0.0f32; PANEL];
        let (out, _) = S::as_mut_simd_f32s(&mut lanes);
        out.copy_from_slice(&sums[..per_column]);
        let base = (at.first_input + i) * at.rows + at.row;
        at.piece[base..base + at.valid].copy_from_slice(&lanes[..at.valid]);
    }
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
                piece[i * rows + row] = (0..w.cols).map(|c| w.panels[(p * w.cols + c) * PANEL + j] * x[c]).sum();
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
