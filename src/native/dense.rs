//! Dense products through the `gemm` crate (the kernels burn's Flex backend uses), with
//! bounds checked before the unsafe call.

/// The element types the products run in: f32 everywhere, f64 where an input gradient's signs
/// must be exact ([`crate::attack::gradient::Precision::Exact`]).
pub trait Scalar: Copy + Send + Sync + 'static {
    /// 0 of the type.
    const ZERO: Self;
    /// 1 of the type.
    const ONE: Self;
}

impl Scalar for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
}

impl Scalar for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
}

/// A read-only row-major matrix, possibly viewed transposed.
#[derive(Clone, Copy, Debug)]
pub struct Mat<'a, T = f32> {
    data: &'a [T],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a, T> Mat<'a, T> {
    /// `data` as a row-major `[rows, cols]` matrix.
    ///
    /// # Panics
    /// If `data` is shorter than `rows * cols` (a programming error inside redblue).
    pub fn new(data: &'a [T], rows: usize, cols: usize) -> Self {
        assert!(data.len() >= rows * cols, "internal error: matrix {rows}x{cols} over {} values", data.len());
        Mat { data, rows, cols, row_stride: cols, col_stride: 1 }
    }

    /// The transpose, without copying.
    pub fn t(self) -> Self {
        Mat {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }
}

impl<'a, T> Mat<'a, T> {
    /// Rows `r0..r1` of the matrix (of a transposed view: columns of the original), without
    /// copying.
    ///
    /// # Panics
    /// If the rows are out of range (a programming error inside redblue).
    pub fn rows(self, r0: usize, r1: usize) -> Self {
        assert!(r0 <= r1 && r1 <= self.rows, "internal error: rows {r0}..{r1} of {}", self.rows);
        let off = (r0 * self.row_stride).min(self.data.len());
        Mat { data: &self.data[off..], rows: r1 - r0, ..self }
    }
}

/// `out = a · b` (or `out += a · b` when `accumulate`), `out` row-major `[a.rows, b.cols]`,
/// on the calling thread.
///
/// # Panics
/// If the shapes do not match (a programming error inside redblue).
pub fn matmul<T: Scalar>(a: Mat<'_, T>, b: Mat<'_, T>, out: &mut [T], accumulate: bool) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert!(b.rows == k && out.len() == m * n, "internal error: matmul {m}x{k} · {}x{n} into {}", b.rows, out.len());
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            out.fill(T::ZERO);
        }
        return;
    }
    crate::backend::flush_denormals();
    let s = |v: usize| v as isize;
    // SAFETY: `Mat::new` checked that every index (rows-1)*row_stride + (cols-1)*col_stride of
    // a and b is inside their slices (a transpose only swaps the strides, and `Mat::rows`
    // moves the start by r0 rows while keeping r1 <= rows, so the last index it can reach is
    // the original's at most); `out` holds exactly
    // m*n values with row stride n and column stride 1 and is exclusively borrowed.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            s(n),
            accumulate,
            a.data.as_ptr(),
            s(a.col_stride),
            s(a.row_stride),
            b.data.as_ptr(),
            s(b.col_stride),
            s(b.row_stride),
            T::ONE,
            T::ONE,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// `out = aᵀ`: `a` is row-major `[rows, cols]`, `out` becomes `[cols, rows]`; copied in
/// 16x16 tiles so reads and writes both stay within a few cache lines.
///
/// # Panics
/// If either slice is shorter than `rows * cols` (a programming error inside redblue).
pub fn transpose_into(a: &[f32], rows: usize, cols: usize, out: &mut [f32]) {
    assert!(a.len() >= rows * cols && out.len() >= rows * cols, "internal error: transpose {rows}x{cols}");
    const T: usize = 16;
    for i0 in (0..rows).step_by(T) {
        for j0 in (0..cols).step_by(T) {
            for i in i0..(i0 + T).min(rows) {
                for j in j0..(j0 + T).min(cols) {
                    out[j * rows + i] = a[i * cols + j];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matmul_handles_transposed_views_and_accumulation() {
        let a: Vec<f32> = (0..6).map(|v| v as f32).collect(); // 2x3
        let b: Vec<f32> = (0..12).map(|v| v as f32 - 5.0).collect(); // 3x4
        let mut out = vec![0.0; 8];
        matmul(Mat::new(&a, 2, 3), Mat::new(&b, 3, 4), &mut out, false);
        let want = |i: usize, j: usize| (0..3).map(|k| a[i * 3 + k] * b[k * 4 + j]).sum::<f32>();
        for i in 0..2 {
            for j in 0..4 {
                assert_eq!(out[i * 4 + j], want(i, j));
            }
        }
        // (bᵀ)ᵀ = b and accumulation adds.
        let mut bt = vec![0.0; 12];
        for k in 0..3 {
            for j in 0..4 {
                bt[j * 3 + k] = b[k * 4 + j];
            }
        }
        let mut bt2 = vec![0.0; 12];
        transpose_into(&b, 3, 4, &mut bt2);
        assert_eq!(bt, bt2);
        matmul(Mat::new(&a, 2, 3), Mat::new(&bt, 4, 3).t(), &mut out, true);
        for i in 0..2 {
            for j in 0..4 {
                assert_eq!(out[i * 4 + j], 2.0 * want(i, j));
            }
        }
    }
}
