//! Input gradients along an attack's path: each PGD iterate differs from the previous one in
//! fewer and fewer pixels (a pixel stops moving once it sits on the eps-ball's face or on the
//! image bounds and the gradient keeps pushing it outwards: on trained MNIST models fewer than
//! 30% of the pixels still move after about 20 of 40 steps). The first layer's pre-activations
//! are then updated as `z1 += (x_t - x_{t-1})·W1` over the changed pixels with the sparse
//! kernel instead of recomputing `x_t·W1` with a dense product.
//!
//! The input gradient's product `dZ1·W1ᵀ` goes through [`InputProduct`], whose transposed
//! copy of `W1` is made once per path.
//!
//! The update is exact in real arithmetic; in floats it differs from a fresh product by
//! rounding only, and each row is recomputed from scratch at least every [`REFRESH`] updates
//! so that rounding cannot build up. Each row's choice (update or recompute) depends on that
//! row alone, so an image's gradients do not depend on its batch.

use super::aligned::AlignedVec;
use super::backward::InputProduct;
use super::elementwise::relu;
use super::mlp::{backward_dz2, hidden_gradient, layer1, layer2, scatter_rows, use_sparse, Weights, GROUP};
use super::sparse::{scatter_times, SparseRows};

/// A row is recomputed from its pixels after this many sparse updates.
pub const REFRESH: u16 = 32;

/// The state of one attack path: the last point and its first-layer pre-activations.
#[derive(Debug, Default)]
pub struct GradientPath {
    prev: Vec<f32>,
    z1: AlignedVec,
    age: Vec<u16>,
    hidden: AlignedVec,
    update: RowUpdate,
    product: InputProduct,
}

impl GradientPath {
    /// Input gradient of the summed cross-entropy at `x` (`[n, input]`), the per-example
    /// losses and the logits, as [`super::mlp::input_gradient`], reusing the previous call's
    /// pre-activations where `x` moved in few pixels.
    pub fn gradient(&mut self, w: &Weights<'_>, x: &[f32], labels: &[u8]) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let n = labels.len();
        self.pre_activations(w, &x[..n * w.input], n);
        self.hidden.set_len_uninit(self.z1.len());
        self.hidden.copy_from_slice(&self.z1);
        relu(&mut self.hidden);
        let (dz1, loss, logits) = hidden_gradient(w, &self.hidden, labels);
        let grad = self.product.run(w, &self.hidden, &dz1, n);
        (grad, loss, logits)
    }

    /// The logits at `x` (`[n, input]`), then `dx = dlogits(logits)·J` there, as
    /// [`super::mlp::forward_vjp`], reusing the previous call's pre-activations where `x`
    /// moved in few pixels.
    pub fn forward_vjp(
        &mut self,
        w: &Weights<'_>,
        x: &[f32],
        n: usize,
        dlogits: &mut dyn FnMut(&[f32]) -> Vec<f32>,
    ) -> (Vec<f32>, Vec<f32>) {
        self.pre_activations(w, &x[..n * w.input], n);
        self.hidden.set_len_uninit(self.z1.len());
        self.hidden.copy_from_slice(&self.z1);
        relu(&mut self.hidden);
        let logits = layer2(w, &self.hidden, n);
        let dl = dlogits(&logits);
        let dx = backward_dz2(w, &self.hidden, &dl, n);
        (logits, dx)
    }

    /// Keeps the rows `r` with `keep[r]`, in order.
    pub fn retain(&mut self, w: &Weights<'_>, keep: &[bool]) {
        if self.age.len() != keep.len() {
            return; // no state for this shape: the next call starts afresh
        }
        crate::nn::ops::retain_rows(&mut self.prev, w.input, keep);
        crate::nn::ops::retain_rows(&mut self.age, 1, keep);
        let kept = crate::nn::ops::compact_rows(&mut self.z1, w.hidden, keep);
        self.z1.set_len_uninit(kept * w.hidden);
    }

    /// Brings `z1` to `x·W1 + b1`: a fresh product on the first call (or a new shape) and for
    /// rows that moved in many pixels or are due for a refresh, a sparse update for the rest.
    fn pre_activations(&mut self, w: &Weights<'_>, x: &[f32], n: usize) {
        let (d, h) = (w.input, w.hidden);
        if self.prev.len() != x.len() || self.z1.len() != n * h {
            layer1(w, x, n, &mut self.z1);
            self.prev.clear();
            self.prev.extend_from_slice(x);
            self.age.clear();
            self.age.resize(n, 0);
            return;
        }
        let (prev, age) = (&self.prev, &self.age);
        let src = DenseRows { now: x, before: |r: usize| &prev[r * d..(r + 1) * d], d };
        let fresh = self.update.run(w, &src, n, |r| age[r] < REFRESH, &mut self.z1);
        let mut fresh = fresh.iter().peekable();
        for (r, a) in self.age.iter_mut().enumerate() {
            if fresh.next_if_eq(&&r).is_some() {
                *a = 0;
            } else {
                *a += 1;
            }
        }
        self.prev.copy_from_slice(x);
    }
}

/// Where [`RowUpdate::run`] gets its rows: each row's change from its reference point, and
/// the row itself.
pub trait RowSource {
    /// Appends row `k`'s change `now - before` (its non-zero entries, increasing pixel order)
    /// as one row of `rows` and returns how many entries it has.
    fn push_change(&self, k: usize, rows: &mut SparseRows) -> usize;
    /// Writes row `k` (`[input]`) into `out`.
    fn write_row(&self, k: usize, out: &mut [f32]);
}

/// Dense rows `now` against reference rows `before(k)`.
pub struct DenseRows<'a, F> {
    /// The rows, `[m, input]`.
    pub now: &'a [f32],
    /// Row `k`'s reference point.
    pub before: F,
    /// Pixels per row.
    pub d: usize,
}

impl<'a, F: Fn(usize) -> &'a [f32]> RowSource for DenseRows<'a, F> {
    fn push_change(&self, k: usize, rows: &mut SparseRows) -> usize {
        rows.push_difference(&self.now[k * self.d..(k + 1) * self.d], (self.before)(k))
    }
    fn write_row(&self, k: usize, out: &mut [f32]) {
        out.copy_from_slice(&self.now[k * self.d..(k + 1) * self.d]);
    }
}

/// The update both paths share: the first-layer pre-activations of points that each change
/// a reference point, over the changed pixels where few changed, by a fresh product where
/// many did.
#[derive(Debug, Default)]
pub struct RowUpdate {
    rows: SparseRows,
    cols: SparseRows,
    fresh: Vec<usize>,
    gathered: Vec<f32>,
    fresh_z1: AlignedVec,
}

impl RowUpdate {
    /// Brings `out` (`[m, hidden]`, row `k` holding the pre-activations of row `k`'s
    /// reference point) to the pre-activations of `src`'s rows. A row with `may_update(k)`
    /// and at most [`super::mlp::SPARSE_MAX_DENSITY`] of its pixels changed gets its change
    /// times `W1` added with the sparse kernel; the others are recomputed. Each row's choice
    /// depends on that row alone. Returns the recomputed rows, in increasing order.
    pub fn run(
        &mut self,
        w: &Weights<'_>,
        src: &impl RowSource,
        m: usize,
        may_update: impl Fn(usize) -> bool,
        out: &mut [f32],
    ) -> &[usize] {
        let (d, h) = (w.input, w.hidden);
        self.fresh.clear();
        for g0 in (0..m).step_by(GROUP) {
            let g1 = (g0 + GROUP).min(m);
            self.rows.reset(d);
            for k in g0..g1 {
                let changed = src.push_change(k, &mut self.rows);
                if !(may_update(k) && use_sparse(changed, d)) {
                    self.rows.clear_last_row();
                    self.fresh.push(k);
                }
            }
            if self.rows.nnz() > 0 {
                self.rows.transpose_into(&mut self.cols);
                scatter_times(&self.cols, w.w1, h, &mut out[g0 * h..g1 * h]);
            }
        }
        if !self.fresh.is_empty() {
            self.gathered.resize(self.fresh.len() * d, 0.0);
            for (j, &k) in self.fresh.iter().enumerate() {
                src.write_row(k, &mut self.gathered[j * d..(j + 1) * d]);
            }
            layer1(w, &self.gathered, self.fresh.len(), &mut self.fresh_z1);
            scatter_rows(&self.fresh_z1, h, &self.fresh, out);
        }
        &self.fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Mlp, MlpConfig};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn close(a: &[f32], b: &[f32], tol: f32) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol * (1.0 + y.abs()))
    }

    /// Along a path whose points move in fewer and fewer pixels (and sometimes in all of
    /// them), the gradients, losses and logits equal those of a fresh computation at every
    /// point within float rounding, past several refreshes.
    #[test]
    fn path_gradients_match_fresh_ones() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let arch = MlpConfig { input: 100, hidden: 40, classes: 10, init_std: 0.3, ..MlpConfig::default() };
        let mut host = Mlp::init(arch.clone(), &mut rng).expect("init").to_host();
        // Most hidden units off for most images, so both backward kernels are used.
        host[1].iter_mut().enumerate().for_each(|(j, b)| *b = if j % 4 < 2 { 0.0 } else { -2.0 });
        let model = Mlp::from_host(arch, host).expect("model");
        let w = model.weights();
        let n = 150; // more than one group of rows
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        let mut x: Vec<f32> = (0..n * 100).map(|_| if rng.gen_bool(0.3) { rng.gen() } else { 0.0 }).collect();
        let mut path = GradientPath::default();
        let (mut updated, mut sparse_backward) = (0, 0);
        for step in 0..(2 * REFRESH as usize + 5) {
            let moving = if step % 17 == 3 { 1.0 } else { 0.6 / (1.0 + step as f64) };
            for v in x.iter_mut() {
                if rng.gen_bool(moving) {
                    *v = (*v + rng.gen_range(-0.1f32..0.1)).clamp(0.0, 1.0);
                }
            }
            let (g, loss, logits) = path.gradient(&w, &x, &labels);
            if step > 0 {
                updated += path.age.iter().filter(|&&a| a > 0).count();
            }
            sparse_backward += n - path.product.dense_rows();
            let (g0, loss0, logits0) =
                super::super::mlp::input_gradient(&w, &x, &labels, super::super::mlp::Precision::Exact);
            assert!(close(&g, &g0, 1e-4), "gradient at step {step}");
            assert!(close(&loss, &loss0, 1e-4) && close(&logits, &logits0, 1e-4), "loss/logits at step {step}");
        }
        // The sparse update did the work for most rows, and refreshes happened.
        assert!(updated > n * REFRESH as usize, "only {updated} row updates");
        assert!(path.age.iter().all(|&a| a <= REFRESH));
        let calls = 2 * REFRESH as usize + 5;
        assert!(sparse_backward > 0 && sparse_backward < n * calls, "{sparse_backward} sparse backward rows");
    }

    /// Arbitrary cotangents along a path whose rows are dropped as it goes (APGD's
    /// compaction): logits and VJPs equal fresh ones at every point within float rounding.
    #[test]
    fn path_vjps_match_fresh_ones_as_rows_leave() {
        let mut rng = ChaCha8Rng::seed_from_u64(6);
        let arch = MlpConfig { input: 100, hidden: 40, classes: 10, init_std: 0.3, ..MlpConfig::default() };
        let model = Mlp::init(arch, &mut rng).expect("init");
        let w = model.weights();
        let mut n = 150;
        let mut x: Vec<f32> = (0..n * 100).map(|_| if rng.gen_bool(0.3) { rng.gen() } else { 0.0 }).collect();
        let mut path = GradientPath::default();
        let cot = |l: &[f32]| -> Vec<f32> { l.iter().map(|v| (v * 0.5).sin()).collect() };
        let mut updated = 0;
        for step in 0..(REFRESH as usize + 8) {
            for v in x.iter_mut() {
                if rng.gen_bool(0.1) {
                    *v = (*v + rng.gen_range(-0.1f32..0.1)).clamp(0.0, 1.0);
                }
            }
            let (logits, dx) = path.forward_vjp(&w, &x, n, &mut |l: &[f32]| cot(l));
            let (logits0, dx0) = super::super::mlp::forward_vjp(&w, &x, n, &mut |l: &[f32]| cot(l));
            assert!(close(&logits, &logits0, 1e-4) && close(&dx, &dx0, 1e-4), "step {step}");
            updated += path.age.iter().filter(|&&a| a > 0).count();
            if step % 5 == 2 {
                let keep: Vec<bool> = (0..n).map(|_| rng.gen_bool(0.8)).collect();
                path.retain(&w, &keep);
                crate::nn::ops::retain_rows(&mut x, 100, &keep);
                n = x.len() / 100;
                assert_eq!(path.age.len(), n);
            }
        }
        assert!(updated > 0, "the sparse update never ran");
    }
}
