//! The first layer's weight gradient `Xᵀ·dZ` when the images are dense but the gradient is
//! sparse: adversarial images are about half non-zero, while ReLU and hidden dropout leave
//! only 15-25% of `dZ` non-zero in adversarial training's second pass.
//!
//! `dZ` comes grouped by hidden unit (one list of `(image, value)` per unit). For a block of
//! up to 64 pixels and 16 units at a time, each unit's block of the gradient row
//! `Σ v·X[image, block]` is summed in registers over its list (the other weight-gradient
//! kernel's [`sum_entries`]), then the 16-unit tile is added, transposed, into the
//! `[pixels, units]` gradient.

use super::sparse::{blocks, sum_entries, SparseRows};

/// Units per tile: one cache line of a gradient row.
const UNITS: usize = 16;

/// Pixels `i0..i0 + B` of `out += xᵀ · dZ`.
///
/// # Safety
/// [`check`]`(x, d, dz, out)` passed and `i0 + B <= d`.
#[inline(always)]
unsafe fn block<const F: bool, const B: usize>(x: &[f32], d: usize, dz: &SparseRows, i0: usize, out: &mut [f32]) {
    let h = dz.rows();
    let mut tile = [[0.0f32; B]; UNITS];
    for j0 in (0..h).step_by(UNITS) {
        let units = (h - j0).min(UNITS);
        for (u, acc) in tile.iter_mut().enumerate().take(units) {
            let span = (*dz.ptr.get_unchecked(j0 + u), *dz.ptr.get_unchecked(j0 + u + 1));
            *acc = sum_entries::<F, B>(dz, span, x.as_ptr(), d, i0, [0.0; B]);
        }
        for t in 0..B {
            let o = out.as_mut_ptr().add((i0 + t) * h + j0);
            for (u, acc) in tile.iter().enumerate().take(units) {
                *o.add(u) += acc[t];
            }
        }
    }
}

/// Checks what the unchecked kernel relies on: `dz` is well formed, its entries index rows
/// of `x` (`[images, d]`), and `out` holds `[d, units]`.
fn check(x: &[f32], d: usize, dz: &SparseRows, out: &[f32]) {
    let ok = dz.ptr.first() == Some(&0)
        && dz.ptr.windows(2).all(|w| w[0] <= w[1])
        && dz.ptr.last() == Some(&dz.idx.len())
        && dz.val.len() == dz.idx.len()
        && dz.idx.iter().all(|&r| (r as usize) < dz.cols)
        && x.len() >= dz.cols * d
        && out.len() >= d * dz.rows();
    assert!(ok, "internal error: sparse-gradient kernel called with inconsistent shapes");
}

#[inline(always)]
fn dense_t_times_sparse_imp<const F: bool>(x: &[f32], d: usize, dz: &SparseRows, out: &mut [f32]) {
    check(x, d, dz, out);
    for (i0, width) in blocks(d) {
        // SAFETY: shapes checked above; `blocks` keeps every block inside `0..d`.
        unsafe {
            match width {
                64 => block::<F, 64>(x, d, dz, i0, out),
                48 => block::<F, 48>(x, d, dz, i0, out),
                32 => block::<F, 32>(x, d, dz, i0, out),
                16 => block::<F, 16>(x, d, dz, i0, out),
                _ => block::<F, 1>(x, d, dz, i0, out),
            }
        }
    }
}

crate::multiversion! {
    /// Weight gradient `out += xᵀ · dZ`: `x` is dense `[images, d]`, `dz` is `dZ` grouped by
    /// unit ([`SparseRows::transpose_into`] of its rows: `dz.rows()` units, `dz.cols` images)
    /// and `out` is `[d, units]`. Each output element sums its unit's entries in image order.
    pub fn dense_t_times_sparse(x: &[f32], d: usize, dz: &SparseRows, out: &mut [f32]) => dense_t_times_sparse_imp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_dense_product() {
        // Pixel counts that use every block width; unit counts with a partial tile.
        for (d, h) in [(23usize, 5usize), (64 + 48 + 3, 37), (2 * 64 + 32 + 16, 16), (784, 40)] {
            let n = 9;
            let x: Vec<f32> = (0..n * d).map(|i| ((i * 7919) % 101) as f32 * 0.01 - 0.3).collect();
            let g: Vec<f32> =
                (0..n * h).map(|i| if i % 3 == 0 { ((i * 31) % 17) as f32 * 0.1 - 0.8 } else { 0.0 }).collect();
            let rows = SparseRows::from_dense(&g, h);
            let mut by_unit = SparseRows::default();
            rows.transpose_into(&mut by_unit);
            let mut out = vec![0.25f32; d * h];
            dense_t_times_sparse(&x, d, &by_unit, &mut out);
            for i in 0..d {
                for j in 0..h {
                    let want: f64 = (0..n).map(|r| f64::from(x[r * d + i]) * f64::from(g[r * h + j])).sum();
                    let got = f64::from(out[i * h + j]) - 0.25;
                    assert!((got - want).abs() < 1e-4, "d {d} h {h} ({i}, {j}): {got} vs {want}");
                }
            }
        }
    }
}
