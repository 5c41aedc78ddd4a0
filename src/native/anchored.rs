//! Points that step back toward fixed anchors (FAB's step `x0 + beta·(x - x0)` toward the
//! clean image after each success): the first layer is affine, so the stepped-back point's
//! pre-activations are `z1(x0) + beta·(z1(x) - z1(x0))`, with no product. A FAB iteration then
//! costs two products (the forward one at its new point, the input gradient's backward one)
//! instead of three.
//!
//! FAB's cotangent does not change within a run, so the input gradient is updated over the
//! hidden units that switched since the last call, where few did.
//!
//! The interpolation is exact in real arithmetic and differs from a fresh product by rounding
//! only; it never compounds, because every new point gets a fresh product.

use super::aligned::AlignedVec;
use super::dense::{matmul, transpose_into, Mat};
use super::elementwise::relu;
use super::mlp::{gather_rows, hidden_backward, layer1, layer2, scatter_rows, use_sparse, Weights, GROUP};
use super::path::REFRESH;
use super::sparse::{scatter_times, SparseRows};

/// The anchors' and the current points' first-layer pre-activations, and the last input
/// gradient with what it was made from.
#[derive(Debug, Default)]
pub struct AnchoredPath {
    anchor_z1: AlignedVec,
    z1: AlignedVec,
    hidden: AlignedVec,
    n: usize,
    /// The last call's logit cotangents, hidden-layer gradients and input gradients.
    prev_dl: Vec<f32>,
    prev_dz1: AlignedVec,
    dx: Vec<f32>,
    /// Per row, updates since its input gradient was last computed afresh.
    age: Vec<u16>,
    /// `W1ᵀ` `[hidden, input]`, made once.
    w1t: AlignedVec,
    rows: SparseRows,
    cols: SparseRows,
    fresh: Vec<usize>,
    gathered: Vec<f32>,
}

impl AnchoredPath {
    /// Sets the anchors (`[n, input]`).
    pub fn anchors(&mut self, w: &Weights<'_>, anchors: &[f32], n: usize) {
        layer1(w, anchors, n, &mut self.anchor_z1);
    }

    /// Makes `x` (`[n, input]`) the current points and returns their logits.
    pub fn logits(&mut self, w: &Weights<'_>, x: &[f32], n: usize) -> Vec<f32> {
        self.n = n;
        layer1(w, x, n, &mut self.z1);
        self.activate();
        layer2(w, &self.hidden, n)
    }

    /// Moves current point `k` to `anchor_k + beta·(x_k - anchor_k)`.
    pub fn shrink(&mut self, w: &Weights<'_>, k: usize, beta: f32) {
        let h = w.hidden;
        if (k + 1) * h > self.z1.len().min(self.anchor_z1.len()) {
            return;
        }
        let rows = k * h..(k + 1) * h;
        for (z, &a) in self.z1[rows.clone()].iter_mut().zip(&self.anchor_z1[rows]) {
            *z = a + (*z - a) * beta;
        }
    }

    /// The logits at the current points, then `dx = dlogits(logits)·J` there. FAB's
    /// cotangent is the same at every call (`e_t - e_y` per row), so between calls a row's
    /// hidden-layer gradient changes only at the units that switched on or off: where those
    /// are few, `dx` is updated over them with the sparse kernel (`W1ᵀ`'s rows), otherwise
    /// (and every [`REFRESH`] updates) recomputed. Each row's choice depends on that row alone.
    pub fn forward_vjp(
        &mut self,
        w: &Weights<'_>,
        dlogits: &mut dyn FnMut(&[f32]) -> Vec<f32>,
    ) -> (Vec<f32>, Vec<f32>) {
        let (n, d, h, c) = (self.n, w.input, w.hidden, w.classes);
        self.activate();
        let logits = layer2(w, &self.hidden, n);
        let dl = dlogits(&logits);
        let dz1 = hidden_backward(w, &self.hidden, &dl, n);
        let continues = self.dx.len() == n * d && self.prev_dl.len() == n * c && self.age.len() == n;
        if !continues {
            self.dx = vec![0.0f32; n * d];
            matmul(Mat::new(&dz1, n, h), Mat::new(w.w1, d, h).t(), &mut self.dx, false);
            self.age = vec![0; n];
        } else {
            if self.w1t.len() != d * h {
                self.w1t.set_len_uninit(d * h); // every value is written
                transpose_into(w.w1, d, h, &mut self.w1t);
            }
            self.fresh.clear();
            for g0 in (0..n).step_by(GROUP) {
                let g1 = (g0 + GROUP).min(n);
                self.rows.reset(h);
                for k in g0..g1 {
                    let same = dl[k * c..(k + 1) * c] == self.prev_dl[k * c..(k + 1) * c];
                    let changed =
                        self.rows.push_difference(&dz1[k * h..(k + 1) * h], &self.prev_dz1[k * h..(k + 1) * h]);
                    if !(same && self.age[k] < REFRESH && use_sparse(changed, h)) {
                        self.rows.clear_last_row();
                        self.fresh.push(k);
                    }
                }
                if self.rows.nnz() > 0 {
                    self.rows.transpose_into(&mut self.cols);
                    scatter_times(&self.cols, &self.w1t, d, &mut self.dx[g0 * d..g1 * d]);
                }
            }
            let mut fresh = self.fresh.iter().peekable();
            for (k, a) in self.age.iter_mut().enumerate() {
                *a = if fresh.next_if_eq(&&k).is_some() { 0 } else { *a + 1 };
            }
            if !self.fresh.is_empty() {
                gather_rows(&dz1, h, &self.fresh, &mut self.gathered);
                let mut prod = vec![0.0f32; self.fresh.len() * d];
                matmul(Mat::new(&self.gathered, self.fresh.len(), h), Mat::new(w.w1, d, h).t(), &mut prod, false);
                scatter_rows(&prod, d, &self.fresh, &mut self.dx);
            }
        }
        self.prev_dl = dl;
        self.prev_dz1 = dz1;
        (logits, self.dx.clone())
    }

    fn activate(&mut self) {
        self.hidden.set_len_uninit(self.z1.len());
        self.hidden.copy_from_slice(&self.z1);
        relu(&mut self.hidden);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Mlp, MlpConfig};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Along a FAB-like sequence (fresh points, some rows stepped back toward their anchors),
    /// the logits and input gradients equal a fresh forward pass and VJP at the stepped-back
    /// images within float rounding.
    #[test]
    fn stepped_back_points_match_fresh_passes() {
        let mut rng = ChaCha8Rng::seed_from_u64(12);
        let arch = MlpConfig { input: 60, hidden: 30, classes: 10, init_std: 0.3, ..MlpConfig::default() };
        let model = Mlp::init(arch, &mut rng).expect("init");
        let w = model.weights();
        let n = 70;
        let anchors: Vec<f32> = (0..n * 60).map(|_| rng.gen()).collect();
        let mut path = AnchoredPath::default();
        path.anchors(&w, &anchors, n);
        let cot = |logits: &[f32]| -> Vec<f32> {
            logits
                .iter()
                .enumerate()
                .map(|(i, _)| {
                    if i % 10 == 3 {
                        1.0
                    } else if i % 10 == 7 {
                        -1.0
                    } else {
                        0.0
                    }
                })
                .collect()
        };
        let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-4 * (1.0 + y.abs()));
        let mut x = anchors.clone();
        let mut updated = 0;
        for step in 0..(2 * REFRESH as usize + 6) {
            // Mostly small moves (few units switch), sometimes a jump.
            let jump = if step % 13 == 0 { 0.3f32 } else { 0.01 };
            x.iter_mut().for_each(|v| *v = (*v + rng.gen_range(-jump..jump)).clamp(0.0, 1.0));
            let l = path.logits(&w, &x, n);
            assert!(close(&l, &crate::native::mlp::forward(&w, &x, n).logits), "step {step}");
            let beta = 0.9f32;
            for k in (0..n).filter(|k| (k + step) % 2 == 0) {
                path.shrink(&w, k, beta);
                for j in k * 60..(k + 1) * 60 {
                    x[j] = anchors[j] + (x[j] - anchors[j]) * beta;
                }
            }
            let (logits, dx) = path.forward_vjp(&w, &mut |l: &[f32]| cot(l));
            let (logits0, dx0) = crate::native::mlp::forward_vjp(&w, &x, n, &mut |l: &[f32]| cot(l));
            assert!(close(&logits, &logits0) && close(&dx, &dx0), "step {step}");
            updated += path.age.iter().filter(|&&a| a > 0).count();
        }
        assert!(updated > n * REFRESH as usize / 2, "only {updated} sparse gradient updates");
        assert!(path.age.iter().all(|&a| a <= REFRESH));
    }
}
