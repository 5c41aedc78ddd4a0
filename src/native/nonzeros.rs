//! The non-zero pixels of every training image, found once per training run.
//!
//! A training batch is a random choice of images; with this index the first layer's sparse
//! input is built straight from each image's non-zero pixels (about 150 of MNIST's 784, kept
//! with their values, so an image is a few contiguous cache lines), without copying the batch
//! or drawing dropout values for the zero pixels (whose product is 0 whatever the mask says).

/// The non-zero values of every row of a dense `[rows, cols]` matrix, with their positions.
#[derive(Clone, Debug)]
pub struct NonZeros {
    cols: usize,
    ptr: Vec<usize>,
    idx: Vec<u16>,
    val: Vec<f32>,
}

impl NonZeros {
    /// Indexes `x` (`[x.len() / cols, cols]`); `None` when a column does not fit in 16 bits.
    pub fn new(x: &[f32], cols: usize) -> Option<Self> {
        if cols == 0 || cols > usize::from(u16::MAX) + 1 {
            return None;
        }
        let mut ptr = Vec::with_capacity(x.len() / cols + 1);
        ptr.push(0);
        let (mut idx, mut val) = (Vec::new(), Vec::new());
        for row in x.chunks_exact(cols) {
            // Branch-free: write every value, advance only past the non-zeros.
            let start = idx.len();
            idx.resize(start + cols, 0u16);
            val.resize(start + cols, 0.0f32);
            let (i, v) = (&mut idx[start..], &mut val[start..]);
            let mut k = 0;
            for (p, &x) in row.iter().enumerate() {
                // Every column index is below `cols` <= 65536, so it fits in u16.
                i[k] = p as u16;
                v[k] = x;
                k += usize::from(x != 0.0);
            }
            idx.truncate(start + k);
            val.truncate(start + k);
            ptr.push(idx.len());
        }
        idx.shrink_to_fit();
        val.shrink_to_fit();
        Some(NonZeros {
            cols,
            ptr,
            idx,
            val,
        })
    }

    /// Values per row.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Number of rows indexed.
    pub fn rows(&self) -> usize {
        self.ptr.len() - 1
    }

    /// The columns of row `r` that are not zero (increasing) and their values.
    pub fn row(&self, r: usize) -> (&[u16], &[f32]) {
        let (a, b) = (self.ptr[r], self.ptr[r + 1]);
        (&self.idx[a..b], &self.val[a..b])
    }
}

/// A training batch's images: a dense block, or rows of an indexed set.
#[derive(Clone, Copy, Debug)]
pub enum Images<'a> {
    /// `[n, cols]` row-major.
    Dense(&'a [f32]),
    /// Rows `rows` (in this order) of the set `all`, indexed by `index`.
    Rows {
        /// The whole set, `[index.rows(), index.cols()]`.
        all: &'a [f32],
        /// Its non-zero values.
        index: &'a NonZeros,
        /// The batch's row numbers in the set.
        rows: &'a [usize],
    },
}

impl Images<'_> {
    /// Appends the batch as a dense `[n, cols]` block to `out` (cleared first).
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
    fn index_lists_exactly_the_non_zero_columns() {
        let x = [
            0.0,
            1.0,
            0.0,
            -2.0,
            0.0,
            0.0,
            0.0,
            0.0,
            f32::NAN,
            0.0,
            0.0,
            3.0,
        ];
        let nz = NonZeros::new(&x, 4).expect("small");
        assert_eq!((nz.rows(), nz.cols()), (3, 4));
        assert_eq!(nz.row(0), (&[1u16, 3][..], &[1.0f32, -2.0][..]));
        assert!(nz.row(1).0.is_empty());
        assert_eq!(nz.row(2).0, [0, 3], "NaN is not zero");
        assert!(nz.row(2).1[0].is_nan() && nz.row(2).1[1] == 3.0);
        assert!(NonZeros::new(&x, 70_000).is_none());
        let mut out = Vec::new();
        Images::Rows {
            all: &x,
            index: &nz,
            rows: &[2, 0],
        }
        .gather_into(4, &mut out);
        assert_eq!(out[4..], x[..4]);
        assert!(out[0].is_nan() && out[3] == 3.0);
    }
}
