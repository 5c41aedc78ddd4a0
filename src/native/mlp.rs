//! Eval-mode forward pass and input gradient of the MLP on the host.

use super::aligned::AlignedVec;
use super::dense::{matmul, Mat};
use super::elementwise::{add_rows, count_nonzero, relu, relu_backward};
use super::sparse::{scatter_times, SparseRows};
pub use crate::nn::Precision;

/// A borrowed view of the MLP's parameters (`w1 [input, hidden]`, `b1 [hidden]`,
/// `w2 [hidden, classes]`, `b2 [classes]`, row-major), usually in the padded layout of
/// [`super::layout`], where `hidden` is the padded width and `units` the real one.
#[derive(Clone, Copy, Debug)]
pub struct Weights<'a> {
    /// First-layer weights.
    pub w1: &'a [f32],
    /// First-layer bias.
    pub b1: &'a [f32],
    /// Second-layer weights.
    pub w2: &'a [f32],
    /// Second-layer bias.
    pub b2: &'a [f32],
    /// Pixels per image.
    pub input: usize,
    /// Hidden width as stored (row stride of `w1`; padded units have zero weights).
    pub hidden: usize,
    /// Real hidden units (dropout draws one value per real unit).
    pub units: usize,
    /// Classes.
    pub classes: usize,
}

/// Rows with at most this share of non-zero values go through the sparse first-layer kernel;
/// denser rows (e.g. PGD iterates after a random start) go through dense GEMM. On the
/// benchmark machine the sparse kernels cost about 40 ns per non-zero (784-625 layer) and
/// GEMM about 12 ns per value, so they break even near 0.3.
pub const SPARSE_MAX_DENSITY: f64 = 0.3;

/// Whether a row (or batch) with `nnz` of `len` values non-zero should use the sparse kernel.
pub fn use_sparse(nnz: usize, len: usize) -> bool {
    (nnz as f64) <= SPARSE_MAX_DENSITY * len as f64
}

/// [`use_sparse`] for one row, counting its non-zeros block by block and stopping as soon as
/// the count rules the sparse kernel out (dense rows, e.g. attack iterates, are decided after
/// a fraction of their values).
pub fn sparse_row(row: &[f32]) -> bool {
    let limit = (SPARSE_MAX_DENSITY * row.len() as f64).floor() as usize;
    let mut nnz = 0;
    for block in row.chunks(128) {
        nnz += count_nonzero(block);
        if nnz > limit {
            return false;
        }
    }
    true
}

/// Copies `bias` into every row of `out` (`[rows, bias.len()]`).
pub fn fill_rows(out: &mut [f32], bias: &[f32]) {
    for row in out.chunks_exact_mut(bias.len().max(1)) {
        row.copy_from_slice(bias);
    }
}

pub use crate::nn::ops::{gather_rows, scatter_rows};

/// Rows per call of the sparse kernels: the group's block of outputs (128 rows x 64 columns)
/// stays in the L1 cache.
pub(crate) const GROUP: usize = 128;

/// First-layer pre-activations `z1 = x·W1 + b1` for `n` images. Each row independently uses
/// the sparse or the dense kernel (a function of that row alone), so an image's result does
/// not depend on the rest of its batch.
pub fn layer1(w: &Weights<'_>, x: &[f32], n: usize, z1: &mut AlignedVec) {
    let (d, h) = (w.input, w.hidden);
    // Every row is written below: the bias then the sparse product, or the dense product.
    z1.set_len_uninit(n * h);
    let mut dense_rows = Vec::new();
    let (mut rows, mut cols) = (SparseRows::default(), SparseRows::default());
    for g0 in (0..n).step_by(GROUP) {
        let g1 = (g0 + GROUP).min(n);
        rows.reset(d);
        for r in g0..g1 {
            let row = &x[r * d..(r + 1) * d];
            if sparse_row(row) {
                rows.push_dense_row(row);
                z1[r * h..(r + 1) * h].copy_from_slice(w.b1);
            } else {
                rows.end_row();
                dense_rows.push(r);
            }
        }
        if rows.nnz() > 0 {
            rows.transpose_into(&mut cols);
            scatter_times(&cols, w.w1, h, &mut z1[g0 * h..g1 * h]);
        }
    }
    if dense_rows.is_empty() {
        return;
    }
    if dense_rows.len() == n {
        // All dense (e.g. attack iterates): one product straight from the input.
        matmul(Mat::new(&x[..n * d], n, d), Mat::new(w.w1, d, h), z1, false);
        add_rows(z1, w.b1);
        return;
    }
    let mut gathered = Vec::new();
    gather_rows(x, d, &dense_rows, &mut gathered);
    let mut prod = vec![0.0f32; dense_rows.len() * h];
    matmul(Mat::new(&gathered, dense_rows.len(), d), Mat::new(w.w1, d, h), &mut prod, false);
    add_rows(&mut prod, w.b1);
    scatter_rows(&prod, h, &dense_rows, z1);
}

/// Logits `h·W2 + b2` from hidden activations `[n, hidden]`.
pub fn layer2(w: &Weights<'_>, hidden: &[f32], n: usize) -> Vec<f32> {
    let mut logits = vec![0.0f32; n * w.classes];
    matmul(Mat::new(hidden, n, w.hidden), Mat::new(w.w2, w.hidden, w.classes), &mut logits, false);
    add_rows(&mut logits, w.b2);
    logits
}

/// Eval-mode activations of a batch.
#[derive(Clone, Debug)]
pub struct Forward {
    /// Post-ReLU hidden activations `[n, hidden]`.
    pub hidden: AlignedVec,
    /// Logits `[n, classes]`.
    pub logits: Vec<f32>,
}

/// Eval-mode forward pass (no dropout) of `n` images.
pub fn forward(w: &Weights<'_>, x: &[f32], n: usize) -> Forward {
    let mut hidden = AlignedVec::default();
    layer1(w, x, n, &mut hidden);
    relu(&mut hidden);
    let logits = layer2(w, &hidden, n);
    Forward { hidden, logits }
}

/// Input gradient of the summed cross-entropy, the per-example losses and the logits, at the
/// given precision: [`Precision::Exact`] takes the stable logit gradient in f64 and runs both
/// backward products in f64 ([`exact_backward`]); [`Precision::Float32`] is the frameworks'
/// computation, `softmax - onehot` and f32 products.
pub fn input_gradient(
    w: &Weights<'_>,
    x: &[f32],
    labels: &[u8],
    precision: Precision,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let mut hidden = AlignedVec::default();
    layer1(w, x, labels.len(), &mut hidden);
    relu(&mut hidden);
    match precision {
        Precision::Exact => exact_backward(w, &hidden, labels),
        Precision::Float32 => {
            let (n, c) = (labels.len(), w.classes);
            let logits = layer2(w, &hidden, n);
            let mut dz2 = vec![0.0f32; n * c];
            let loss = logits
                .chunks_exact(c)
                .zip(dz2.chunks_exact_mut(c))
                .zip(labels)
                .map(|((row, out), &y)| crate::nn::ops::ce_grad_f32(row, usize::from(y), 1.0, out))
                .collect();
            let grad = backward_dz2(w, &hidden, &dz2, n);
            (grad, loss, logits)
        }
    }
}

/// The exact-sign input gradient from the post-ReLU hidden activations: logits in f32 (as
/// every forward pass), then the stable cross-entropy gradient ([`crate::nn::ops::ce_grad_exact`])
/// and both backward products `dz1 = dz2·W2^T` (masked by ReLU) and `dx = dz1·W1^T` in f64,
/// rounded to f32 at the end. Where f32 sums cancel (pixels whose gradient is small against
/// its terms) this is what decides the sign.
pub fn exact_backward(w: &Weights<'_>, hidden: &[f32], labels: &[u8]) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let (n, c, h, d) = (labels.len(), w.classes, w.hidden, w.input);
    let logits = layer2(w, hidden, n);
    let (dz2, loss) = crate::nn::ops::ce_grad_exact_rows(&logits, labels, c);
    let w2: Vec<f64> = w.w2[..h * c].iter().map(|&v| f64::from(v)).collect();
    let w1: Vec<f64> = w.w1[..d * h].iter().map(|&v| f64::from(v)).collect();
    let mut dz1 = vec![0.0f64; n * h];
    matmul(Mat::new(&dz2, n, c), Mat::new(&w2, h, c).t(), &mut dz1, false);
    for (g, &a) in dz1.iter_mut().zip(hidden) {
        if a <= 0.0 {
            *g = 0.0;
        }
    }
    let mut dx = vec![0.0f64; n * d];
    matmul(Mat::new(&dz1, n, h), Mat::new(&w1, d, h).t(), &mut dx, false);
    (dx.into_iter().map(|v| v as f32).collect(), loss, logits)
}

/// `dz1 = (dz2·W2^T)` masked by ReLU, in f32: the gradient at the first layer's
/// pre-activations `[n, hidden]`.
pub fn hidden_backward(w: &Weights<'_>, hidden: &[f32], dz2: &[f32], n: usize) -> AlignedVec {
    let h = w.hidden;
    let mut dz1 = AlignedVec::default();
    dz1.set_len_uninit(n * h); // overwritten by the product
    matmul(Mat::new(dz2, n, w.classes), Mat::new(w.w2, h, w.classes).t(), &mut dz1, false);
    relu_backward(&mut dz1, hidden, 1.0);
    dz1
}

/// `dx = ((dz2·W2^T) masked by ReLU)·W1^T` in f32.
pub fn backward_dz2(w: &Weights<'_>, hidden: &[f32], dz2: &[f32], n: usize) -> Vec<f32> {
    let h = w.hidden;
    let dz1 = hidden_backward(w, hidden, dz2, n);
    let mut grad = vec![0.0f32; n * w.input];
    matmul(Mat::new(&dz1, n, h), Mat::new(w.w1, w.input, h).t(), &mut grad, false);
    grad
}

/// One forward pass and one vector-Jacobian product: the logits of `n` images, then
/// `dlogits = f(logits)` from the caller, then `dx = dlogits · J(x)` through ReLU and both
/// layers. Returns `(logits, dx)`.
pub fn forward_vjp(
    w: &Weights<'_>,
    x: &[f32],
    n: usize,
    f: &mut dyn FnMut(&[f32]) -> Vec<f32>,
) -> (Vec<f32>, Vec<f32>) {
    let fwd = forward(w, x, n);
    let dlogits = f(&fwd.logits);
    let dx = backward_dz2(w, &fwd.hidden, &dlogits, n);
    (fwd.logits, dx)
}

/// From the post-ReLU hidden activations: the gradient of the summed cross-entropy with
/// respect to the first layer's pre-activations `[n, hidden]` (zero where ReLU is off), the
/// per-example losses and the logits. The logit gradient is the stable one, rounded to f32;
/// the products run in f32 (the fast path of iterative attacks).
pub fn hidden_gradient(w: &Weights<'_>, hidden: &[f32], labels: &[u8]) -> (AlignedVec, Vec<f32>, Vec<f32>) {
    let n = labels.len();
    let logits = layer2(w, hidden, n);
    let (dz2, loss) = crate::nn::ops::ce_grad_exact_rows(&logits, labels, w.classes);
    let dz2: Vec<f32> = dz2.into_iter().map(|v| v as f32).collect();
    (hidden_backward(w, hidden, &dz2, n), loss, logits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn early_stopping_row_test_agrees_with_the_full_count() {
        for len in [1usize, 10, 127, 128, 300, 784] {
            for nnz in [0, 1, len * 3 / 10, len * 3 / 10 + 1, len / 2, len] {
                for spread in [1usize, 11] {
                    let mut row = vec![0.0f32; len];
                    let mut placed = 0;
                    let mut i = 0;
                    while placed < nnz.min(len) {
                        let p = (i * spread) % len;
                        if row[p] == 0.0 {
                            row[p] = 0.5;
                            placed += 1;
                        }
                        i += 1;
                    }
                    assert_eq!(sparse_row(&row), use_sparse(count_nonzero(&row), len), "len {len} nnz {nnz}");
                }
            }
        }
    }
}
