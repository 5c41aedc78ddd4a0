//! A training batch's images: a dense block, or rows of the training set read through its
//! sparse form.
//!
//! A batch is a random choice of images. Built once per training run, the sparse form of the
//! training set ([`SparseRows::from_dense`]: each image's non-zero pixels, about 150 of
//! MNIST's 784, with their values, a few contiguous cache lines per image) lets the first
//! layer's sparse input be assembled without copying the batch or drawing dropout values for
//! the zero pixels (whose product is 0 whatever the mask says).

use super::sparse::SparseRows;

/// The images of a training batch.
#[derive(Clone, Copy, Debug)]
pub enum Images<'a> {
    /// `[n, cols]` row-major.
    Dense(&'a [f32]),
    /// Rows `rows` (in this order) of the set `all`, whose sparse form is `index`.
    Rows {
        /// The whole set, `[index.rows(), index.cols]`.
        all: &'a [f32],
        /// Its non-zero values, row by row.
        index: &'a SparseRows,
        /// The batch's row numbers in the set.
        rows: &'a [usize],
    },
}

impl Images<'_> {
    /// Writes the batch as a dense `[n, cols]` block into `out` (cleared first).
    pub fn gather_into(&self, cols: usize, out: &mut Vec<f32>) {
        out.clear();
        match self {
            Images::Dense(x) => out.extend_from_slice(x),
            Images::Rows { all, rows, .. } => {
                for &r in *rows {
                    out.extend_from_slice(&all[r * cols..(r + 1) * cols]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_gather_in_batch_order() {
        let x = [0.0, 1.0, 0.0, -2.0, 0.0, 0.0, 0.0, 0.0, f32::NAN, 0.0, 0.0, 3.0];
        let index = SparseRows::from_dense(&x, 4);
        let mut out = Vec::new();
        Images::Rows { all: &x, index: &index, rows: &[2, 0] }.gather_into(4, &mut out);
        assert_eq!(out[4..], x[..4]);
        assert!(out[0].is_nan() && out[3] == 3.0);
        Images::Dense(&x[4..8]).gather_into(4, &mut out);
        assert_eq!(out, [0.0; 4]);
    }
}
