//! Points that step back toward fixed anchors (FAB's step `x0 + beta·(x - x0)` toward the
//! clean image after each success): the first layer is affine, so the stepped-back point's
//! pre-activations are `z1(x0) + beta·(z1(x) - z1(x0))`, with no product. A FAB iteration then
//! costs two products (the forward one at its new point, the input gradient's backward one)
//! instead of three.
//!
//! The interpolation is exact in real arithmetic and differs from a fresh product by rounding
//! only; it never compounds, because every new point gets a fresh product.

use super::aligned::AlignedVec;
use super::elementwise::relu;
use super::mlp::{backward_dz2, layer1, layer2, Weights};

/// The anchors' and the current points' first-layer pre-activations.
#[derive(Debug, Default)]
pub struct AnchoredPath {
    anchor_z1: AlignedVec,
    z1: AlignedVec,
    hidden: AlignedVec,
    n: usize,
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

    /// The logits at the current points, then `dx = dlogits(logits)·J` there.
    pub fn forward_vjp(
        &mut self,
        w: &Weights<'_>,
        dlogits: &mut dyn FnMut(&[f32]) -> Vec<f32>,
    ) -> (Vec<f32>, Vec<f32>) {
        self.activate();
        let logits = layer2(w, &self.hidden, self.n);
        let dl = dlogits(&logits);
        let dx = backward_dz2(w, &self.hidden, &dl, self.n);
        (logits, dx)
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
        for step in 0..6 {
            let mut x: Vec<f32> = anchors.iter().map(|&a| (a + rng.gen_range(-0.3f32..0.3)).clamp(0.0, 1.0)).collect();
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
        }
    }
}
