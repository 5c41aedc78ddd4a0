//! The input gradient's last product `dZ1·W1ᵀ`, over the active hidden units where few are.
//!
//! ReLU zeroes `dZ1` wherever a hidden unit is off, and adversarially trained models keep
//! only about a quarter of their units on. Rows with at most 30% active units go through the
//! sparse kernel over a transposed copy of `W1` (made once, on first need); the other rows
//! through one dense product. Each row's choice depends on that row alone.

use super::aligned::AlignedVec;
use super::dense::{matmul, transpose_into, Mat};
use super::mlp::{gather_rows, scatter_rows, sparse_row, Weights, GROUP};
use super::sparse::{scatter_times, SparseRows};

/// Scratch space (and the transposed `W1`) for [`InputProduct::run`]; reuse one only with
/// the same weights.
#[derive(Debug, Default)]
pub struct InputProduct {
    w1t: AlignedVec,
    rows: SparseRows,
    cols: SparseRows,
    dense_rows: Vec<usize>,
    gathered: Vec<f32>,
}

impl InputProduct {
    /// `dz1·W1ᵀ` (`[n, input]`) for `dz1` `[n, hidden]`, where `hidden` holds the layer's
    /// post-ReLU activations (a row's active units are its non-zero ones).
    pub fn run(&mut self, w: &Weights<'_>, hidden: &[f32], dz1: &[f32], n: usize) -> Vec<f32> {
        let (d, h) = (w.input, w.hidden);
        let mut grad = vec![0.0f32; n * d];
        self.dense_rows.clear();
        for g0 in (0..n).step_by(GROUP) {
            let g1 = (g0 + GROUP).min(n);
            self.rows.reset(h);
            for r in g0..g1 {
                if sparse_row(&hidden[r * h..(r + 1) * h]) {
                    self.rows.push_dense_row(&dz1[r * h..(r + 1) * h]);
                } else {
                    self.rows.end_row();
                    self.dense_rows.push(r);
                }
            }
            if self.rows.nnz() > 0 {
                if self.w1t.len() != d * h {
                    self.w1t.set_len_uninit(d * h); // every value is written
                    transpose_into(w.w1, d, h, &mut self.w1t);
                }
                self.rows.transpose_into(&mut self.cols);
                scatter_times(&self.cols, &self.w1t, d, &mut grad[g0 * d..g1 * d]);
            }
        }
        let w1t = Mat::new(w.w1, d, h).t();
        if self.dense_rows.len() == n {
            matmul(Mat::new(dz1, n, h), w1t, &mut grad, false);
        } else if !self.dense_rows.is_empty() {
            gather_rows(dz1, h, &self.dense_rows, &mut self.gathered);
            let mut prod = vec![0.0f32; self.dense_rows.len() * d];
            matmul(Mat::new(&self.gathered, self.dense_rows.len(), h), w1t, &mut prod, false);
            scatter_rows(&prod, d, &self.dense_rows, &mut grad);
        }
        grad
    }

    /// How many rows of the last [`InputProduct::run`] took the dense product.
    pub fn dense_rows(&self) -> usize {
        self.dense_rows.len()
    }
}
