//! Products of a sparse batch of images with dense weight matrices.
//!
//! MNIST digits are mostly background: about 80% of the pixels are exactly 0, and input
//! dropout zeroes more. The first layer's forward product `X·W1` and its weight gradient
//! `Xᵀ·dZ` only need the non-zero pixels. Both kernels work on the column-grouped batch
//! (one list of `(image, value)` per pixel) in blocks of 64 output columns, so the block of a
//! weight row (forward) or of a gradient row (weight gradient) stays in registers while the
//! kernel streams over the images that have that pixel.

use super::simd::madd;

/// A batch of rows in compressed sparse row form: the non-zero values and their columns.
#[derive(Clone, Debug, Default)]
pub struct SparseRows {
    /// Number of columns (pixels per image).
    pub cols: usize,
    /// `ptr[r]..ptr[r + 1]` indexes row `r`'s entries.
    pub ptr: Vec<usize>,
    /// Column of each entry, increasing within a row.
    pub idx: Vec<u32>,
    /// Value of each entry.
    pub val: Vec<f32>,
}

impl SparseRows {
    /// Empties the batch, keeping its allocations, for rows of `cols` values.
    pub fn reset(&mut self, cols: usize) {
        self.cols = cols;
        self.ptr.clear();
        self.ptr.push(0);
        self.idx.clear();
        self.val.clear();
    }

    /// Appends one row given its non-zero entries in column order.
    pub fn push(&mut self, col: u32, val: f32) {
        self.idx.push(col);
        self.val.push(val);
    }

    /// Closes the row being appended.
    pub fn end_row(&mut self) {
        self.ptr.push(self.idx.len());
    }

    /// Appends the non-zero values of a dense row.
    pub fn push_dense_row(&mut self, row: &[f32]) {
        // Branch-free (a value times 1.0 is itself).
        self.push_masked_row(row, |_| true, 1.0);
    }

    /// Appends the row `keep(i) ? row[i] * scale : 0` without its zeros. Branch-free: every
    /// value is written and the write position advances only for kept non-zeros, since
    /// dropout's keep decisions are unpredictable.
    pub fn push_masked_row(&mut self, row: &[f32], keep: impl Fn(usize) -> bool, scale: f32) {
        let start = self.idx.len();
        self.idx.resize(start + row.len(), 0);
        self.val.resize(start + row.len(), 0.0);
        let (idx, val) = (&mut self.idx[start..], &mut self.val[start..]);
        let mut k = 0;
        for (p, &v) in row.iter().enumerate() {
            idx[k] = p as u32;
            val[k] = v * scale;
            // k <= p here, so the next write stays inside the row.
            k += usize::from((v != 0.0) & keep(p));
        }
        self.idx.truncate(start + k);
        self.val.truncate(start + k);
        self.end_row();
    }

    /// Appends the row `now - before` without its zeros (branch-free, as
    /// [`SparseRows::push_masked_row`]) and returns how many entries it has.
    pub fn push_difference(&mut self, now: &[f32], before: &[f32]) -> usize {
        let n = now.len().min(before.len());
        let start = self.idx.len();
        self.idx.resize(start + n, 0);
        self.val.resize(start + n, 0.0);
        let (idx, val) = (&mut self.idx[start..], &mut self.val[start..]);
        let mut k = 0;
        for p in 0..n {
            let v = now[p] - before[p];
            idx[k] = p as u32;
            val[k] = v;
            // k <= p here, so the next write stays inside the row.
            k += usize::from(v != 0.0);
        }
        self.idx.truncate(start + k);
        self.val.truncate(start + k);
        self.end_row();
        k
    }

    /// Empties the last row appended (it stays a row, with no entries).
    pub fn clear_last_row(&mut self) {
        if self.ptr.len() >= 2 {
            let start = self.ptr[self.ptr.len() - 2];
            self.idx.truncate(start);
            self.val.truncate(start);
            let last = self.ptr.len() - 1;
            self.ptr[last] = start;
        }
    }

    /// Appends the entries `(cols[i], keep(i) ? vals[i] * scale : 0)` (a row's non-zeros, in
    /// column order) without the dropped ones; branch-free as [`SparseRows::push_masked_row`].
    pub fn push_masked_entries(&mut self, cols: &[u32], vals: &[f32], keep: impl Fn(usize) -> bool, scale: f32) {
        let n = cols.len().min(vals.len());
        let start = self.idx.len();
        self.idx.resize(start + n, 0);
        self.val.resize(start + n, 0.0);
        let (idx, val) = (&mut self.idx[start..], &mut self.val[start..]);
        let mut k = 0;
        for i in 0..n {
            idx[k] = cols[i];
            val[k] = vals[i] * scale;
            // k <= i here, so the next write stays inside the row.
            k += usize::from(keep(i));
        }
        self.idx.truncate(start + k);
        self.val.truncate(start + k);
        self.end_row();
    }

    /// Builds the sparse form of `n` dense rows.
    pub fn from_dense(x: &[f32], cols: usize) -> Self {
        let mut s = SparseRows::default();
        s.reset(cols);
        for row in x.chunks_exact(cols.max(1)) {
            s.push_dense_row(row);
        }
        s
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.ptr.len().saturating_sub(1)
    }

    /// Number of stored (non-zero) values.
    pub fn nnz(&self) -> usize {
        self.idx.len()
    }

    /// Row `r`'s columns and values.
    pub fn row(&self, r: usize) -> (&[u32], &[f32]) {
        let (a, b) = (self.ptr[r], self.ptr[r + 1]);
        (&self.idx[a..b], &self.val[a..b])
    }

    /// The same entries grouped by column (rows increasing within a column), written into
    /// `out` to reuse its allocations.
    pub fn transpose_into(&self, out: &mut SparseRows) {
        let (rows, cols) = (self.rows(), self.cols);
        out.cols = rows;
        out.ptr.clear();
        out.ptr.resize(cols + 1, 0);
        for &c in &self.idx {
            out.ptr[c as usize + 1] += 1;
        }
        for c in 0..cols {
            out.ptr[c + 1] += out.ptr[c];
        }
        out.idx.clear();
        out.idx.resize(self.nnz(), 0);
        out.val.clear();
        out.val.resize(self.nnz(), 0.0);
        let mut next: Vec<usize> = out.ptr[..cols].to_vec();
        for r in 0..rows {
            let (idx, val) = self.row(r);
            for (&c, &v) in idx.iter().zip(val) {
                let slot = &mut next[c as usize];
                out.idx[*slot] = r as u32;
                out.val[*slot] = v;
                *slot += 1;
            }
        }
    }
}

/// Widest column block: 64 floats are four AVX-512 registers, so a block of a weight row (or
/// of an output row) stays in registers while the kernel streams over the batch.
const BLOCK: usize = 64;

/// Consecutive column blocks `(start, width)` covering `0..h`: widths of 64, then one block
/// of 48, 32 or 16 for the rest that fills whole registers, then single columns.
pub(crate) fn blocks(h: usize) -> impl Iterator<Item = (usize, usize)> {
    let wide = h / BLOCK * BLOCK;
    let mid = wide + (h - wide) / 16 * 16;
    (0..wide)
        .step_by(BLOCK)
        .map(|j| (j, BLOCK))
        .chain((mid > wide).then_some((wide, mid - wide)))
        .chain((mid..h).map(|j| (j, 1)))
}

/// Checks the shapes the unchecked kernels rely on: `xt` is well formed, its values index
/// rows of `dense` (`[xt.cols, h]`) and its rows index rows of `by_col` (`[xt.rows(), h]`).
fn check_shapes(xt: &SparseRows, h: usize, by_col: usize, dense: usize) {
    let ok = xt.ptr.first() == Some(&0)
        && xt.ptr.windows(2).all(|w| w[0] <= w[1])
        && xt.ptr.last() == Some(&xt.idx.len())
        && xt.val.len() == xt.idx.len()
        && xt.idx.iter().all(|&r| (r as usize) < xt.cols)
        && by_col >= xt.rows() * h
        && dense >= xt.cols * h;
    assert!(ok, "internal error: sparse kernel called with inconsistent shapes");
}

/// Columns `j0..j0 + B` of `out += X · w` from the column-grouped `xt`.
///
/// # Safety
/// [`check_shapes`]`(xt, h, w.len(), out.len())` passed and `j0 + B <= h`.
#[inline(always)]
unsafe fn scatter_block<const F: bool, const B: usize>(
    xt: &SparseRows,
    w: &[f32],
    h: usize,
    j0: usize,
    out: &mut [f32],
) {
    let out = out.as_mut_ptr();
    for p in 0..xt.rows() {
        let (a, b) = (*xt.ptr.get_unchecked(p), *xt.ptr.get_unchecked(p + 1));
        if a == b {
            continue;
        }
        let src = w.as_ptr().add(p * h + j0);
        let wr: [f32; B] = std::array::from_fn(|j| *src.add(j));
        for k in a..b {
            let (r, v) = (*xt.idx.get_unchecked(k) as usize, *xt.val.get_unchecked(k));
            let o = out.add(r * h + j0);
            for (j, &wj) in wr.iter().enumerate() {
                *o.add(j) = madd::<F>(v, wj, *o.add(j));
            }
        }
    }
}

#[inline(always)]
fn scatter_times_imp<const F: bool>(xt: &SparseRows, w: &[f32], h: usize, out: &mut [f32]) {
    check_shapes(xt, h, w.len(), out.len());
    for (j0, width) in blocks(h) {
        // SAFETY: shapes checked above; `blocks` keeps every block inside `0..h`.
        unsafe {
            match width {
                BLOCK => scatter_block::<F, BLOCK>(xt, w, h, j0, out),
                48 => scatter_block::<F, 48>(xt, w, h, j0, out),
                32 => scatter_block::<F, 32>(xt, w, h, j0, out),
                16 => scatter_block::<F, 16>(xt, w, h, j0, out),
                _ => scatter_block::<F, 1>(xt, w, h, j0, out),
            }
        }
    }
}

crate::multiversion! {
    /// Forward product `out += X · w` from the column-grouped batch `xt`
    /// ([`SparseRows::transpose_into`]): `w` is `[xt.rows(), h]` (one weight row per input
    /// column) and `out` is `[xt.cols, h]`. Each output element adds its row's terms in
    /// increasing column order, so a row's result does not depend on the other rows.
    pub fn scatter_times(xt: &SparseRows, w: &[f32], h: usize, out: &mut [f32]) => scatter_times_imp
}

/// `init + Σ v·src[r·stride + j0..][..B]` over the entries `a..b` of `s` (row `r`, value
/// `v`): even- and odd-numbered entries go to two accumulators (added at the end), which
/// hides the multiply-add latency.
///
/// # Safety
/// `a <= b <= s.nnz()` and `r·stride + j0 + B` is within `src` for every entry's row `r`.
#[inline(always)]
pub(crate) unsafe fn sum_entries<const F: bool, const B: usize>(
    s: &SparseRows,
    (a, b): (usize, usize),
    src: *const f32,
    stride: usize,
    j0: usize,
    init: [f32; B],
) -> [f32; B] {
    let mut even = init;
    let mut odd = [0.0f32; B];
    let mut k = a;
    while k + 2 <= b {
        let (r0, v0) = (*s.idx.get_unchecked(k) as usize, *s.val.get_unchecked(k));
        let (r1, v1) = (*s.idx.get_unchecked(k + 1) as usize, *s.val.get_unchecked(k + 1));
        let (s0, s1) = (src.add(r0 * stride + j0), src.add(r1 * stride + j0));
        for j in 0..B {
            even[j] = madd::<F>(v0, *s0.add(j), even[j]);
            odd[j] = madd::<F>(v1, *s1.add(j), odd[j]);
        }
        k += 2;
    }
    if k < b {
        let (r, v) = (*s.idx.get_unchecked(k) as usize, *s.val.get_unchecked(k));
        let sr = src.add(r * stride + j0);
        for (j, e) in even.iter_mut().enumerate() {
            *e = madd::<F>(v, *sr.add(j), *e);
        }
    }
    std::array::from_fn(|j| even[j] + odd[j])
}

/// Columns `j0..j0 + B` of `out += Xᵀ · g` from the column-grouped `xt` ([`sum_entries`] per
/// output row, starting from its current values).
///
/// # Safety
/// [`check_shapes`]`(xt, h, out.len(), g.len())` passed and `j0 + B <= h`.
#[inline(always)]
unsafe fn gather_block<const F: bool, const B: usize>(
    xt: &SparseRows,
    g: &[f32],
    h: usize,
    j0: usize,
    out: &mut [f32],
) {
    for p in 0..xt.rows() {
        let (a, b) = (*xt.ptr.get_unchecked(p), *xt.ptr.get_unchecked(p + 1));
        if a == b {
            continue;
        }
        let o = out.as_mut_ptr().add(p * h + j0);
        let sum = sum_entries::<F, B>(xt, (a, b), g.as_ptr(), h, j0, std::array::from_fn(|j| *o.add(j)));
        for (j, v) in sum.iter().enumerate() {
            *o.add(j) = *v;
        }
    }
}

#[inline(always)]
fn transposed_times_imp<const F: bool>(xt: &SparseRows, g: &[f32], h: usize, out: &mut [f32]) {
    check_shapes(xt, h, out.len(), g.len());
    for (j0, width) in blocks(h) {
        // SAFETY: shapes checked above; `blocks` keeps every block inside `0..h`.
        unsafe {
            match width {
                BLOCK => gather_block::<F, BLOCK>(xt, g, h, j0, out),
                48 => gather_block::<F, 48>(xt, g, h, j0, out),
                32 => gather_block::<F, 32>(xt, g, h, j0, out),
                16 => gather_block::<F, 16>(xt, g, h, j0, out),
                _ => gather_block::<F, 1>(xt, g, h, j0, out),
            }
        }
    }
}

crate::multiversion! {
    /// Weight gradient `out += Xᵀ · g`: `xt` is the column-grouped batch
    /// ([`SparseRows::transpose_into`]), `g` is `[batch, h]` and `out` is `[cols, h]`.
    /// Each output element sums the batch's even-numbered and odd-numbered entries (in row
    /// order) separately, then adds the two sums.
    pub fn transposed_times(xt: &SparseRows, g: &[f32], h: usize, out: &mut [f32])
        => transposed_times_imp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dense_mm(x: &[f32], n: usize, d: usize, w: &[f32], h: usize) -> Vec<f64> {
        let mut out = vec![0.0f64; n * h];
        for r in 0..n {
            for p in 0..d {
                for j in 0..h {
                    out[r * h + j] += x[r * d + p] as f64 * w[p * h + j] as f64;
                }
            }
        }
        out
    }

    fn sample(n: usize, d: usize) -> Vec<f32> {
        (0..n * d).map(|i| if i % 3 == 0 || i % 7 == 0 { (i % 11) as f32 * 0.1 - 0.3 } else { 0.0 }).collect()
    }

    /// Widths that use every block kind: 64, 48, 32, 16 and single columns.
    const WIDTHS: [usize; 6] = [1, 17, 64 + 48 + 3, 2 * 64 + 32 + 1, 64 + 16, 625];

    #[test]
    fn scatter_times_matches_dense_product() {
        for h in WIDTHS {
            scatter_case(h);
        }
    }

    #[test]
    fn transposed_times_matches_dense_product() {
        for h in WIDTHS {
            transposed_case(h);
        }
    }

    #[test]
    fn a_difference_row_holds_exactly_the_changed_values() {
        let mut s = SparseRows::default();
        s.reset(5);
        assert_eq!(s.push_difference(&[1.0, 2.0, 3.0, 4.0, 5.0], &[1.0, 0.0, 3.0, 5.0, 5.0]), 2);
        assert_eq!(s.row(0), (&[1u32, 3][..], &[2.0f32, -1.0][..]));
        assert_eq!(s.push_difference(&[0.0; 5], &[1.0; 5]), 5);
        s.clear_last_row();
        assert_eq!(s.push_difference(&[0.5; 5], &[0.5; 5]), 0);
        assert_eq!((s.rows(), s.nnz()), (3, 2));
        assert!(s.row(1).0.is_empty() && s.row(2).0.is_empty());
    }

    #[test]
    fn masked_rows_keep_exactly_the_kept_non_zeros() {
        let row = [0.0f32, 1.0, 2.0, 0.0, 3.0, 4.0];
        for keep_mask in 0u32..64 {
            let keep = |p: usize| keep_mask >> p & 1 == 1;
            let mut s = SparseRows::default();
            s.reset(6);
            s.push_masked_row(&row, keep, 2.0);
            s.push_masked_row(&row, |_| true, 1.0);
            let want: Vec<(u32, f32)> =
                (0..6).filter(|&p| row[p] != 0.0 && keep(p)).map(|p| (p as u32, row[p] * 2.0)).collect();
            let (idx, val) = s.row(0);
            assert_eq!(idx.iter().copied().zip(val.iter().copied()).collect::<Vec<_>>(), want);
            assert_eq!(s.row(1).0, [1, 2, 4, 5]);
            // The same row from its non-zero entries: identical entries.
            let nz = [1u32, 2, 4, 5];
            let mut t = SparseRows::default();
            t.reset(6);
            t.push_masked_entries(&nz, &[1.0, 2.0, 3.0, 4.0], |i| keep(nz[i] as usize), 2.0);
            assert_eq!(t.row(0), s.row(0));
        }
    }

    #[test]
    fn column_blocks_cover_each_column_once() {
        for h in 0..300 {
            let mut next = 0;
            for (j0, width) in blocks(h) {
                assert_eq!(j0, next, "h = {h}");
                assert!([64, 48, 32, 16, 1].contains(&width));
                next += width;
            }
            assert_eq!(next, h);
        }
    }

    fn scatter_case(h: usize) {
        let (n, d) = (5, 23);
        let x = sample(n, d);
        let w: Vec<f32> = (0..d * h).map(|i| ((i * 7919) % 101) as f32 * 0.01 - 0.5).collect();
        let s = SparseRows::from_dense(&x, d);
        assert!(s.nnz() < n * d && s.nnz() > 0);
        let mut t = SparseRows::default();
        s.transpose_into(&mut t);
        let mut out = vec![0.5f32; n * h];
        scatter_times(&t, &w, h, &mut out);
        for (a, b) in out.iter().zip(dense_mm(&x, n, d, &w, h)) {
            assert!((*a as f64 - 0.5 - b).abs() < 1e-4, "{a} vs {b}");
        }
        // A row's result does not depend on the other rows of the batch.
        let one = SparseRows::from_dense(&x[2 * d..3 * d], d);
        one.transpose_into(&mut t);
        let mut row = vec![0.5f32; h];
        scatter_times(&t, &w, h, &mut row);
        assert_eq!(row[..], out[2 * h..3 * h]);
    }

    fn transposed_case(h: usize) {
        let (n, d) = (6, 19);
        let x = sample(n, d);
        let g: Vec<f32> = (0..n * h).map(|i| ((i * 31) % 17) as f32 * 0.1 - 0.8).collect();
        let s = SparseRows::from_dense(&x, d);
        let mut t = SparseRows::default();
        s.transpose_into(&mut t);
        assert_eq!(t.rows(), d);
        assert_eq!(t.nnz(), s.nnz());
        let mut out = vec![1.0f32; d * h];
        transposed_times(&t, &g, h, &mut out);
        // Xᵀ g as a dense product of the transposed matrix.
        let mut xt = vec![0.0f32; d * n];
        for r in 0..n {
            for p in 0..d {
                xt[p * n + r] = x[r * d + p];
            }
        }
        for (a, b) in out.iter().zip(dense_mm(&xt, d, n, &g, h)) {
            assert!((*a as f64 - 1.0 - b).abs() < 1e-4, "{a} vs {b}");
        }
    }
}
