//! Threat-model geometry: L-inf (every pixel moves by at most eps) and L2 (the Euclidean
//! length of the perturbation is at most eps).
//!
//! The norm owns distance, projection onto the eps-ball, the steepest-ascent step (the sign of
//! the gradient for L-inf, the gradient over its length for L2) and the random start. Inputs
//! are flat batches of images of `dim` pixels, in pixel units. L2 projection followed by
//! clipping to the pixel range stays inside the ball: clipping moves every pixel toward the
//! clean image's, which lies in the range.

use rand::Rng;
use serde::{Deserialize, Serialize};

/// Supported threat models.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Norm {
    /// max_i |x_adv_i - x_i| <= eps.
    Linf,
    /// sqrt(sum_i (x_adv_i - x_i)^2) <= eps.
    L2,
}

/// Guard against dividing by a zero gradient or perturbation length (AutoAttack's 1e-12).
const TINY: f64 = 1e-12;

impl Norm {
    /// Name used in files and reports.
    pub fn name(self) -> &'static str {
        match self {
            Norm::Linf => "linf",
            Norm::L2 => "l2",
        }
    }

    /// The largest meaningful budget in pixel units for images of `dim` pixels in [0, 1]: the
    /// diameter of the pixel box (1 for L-inf, sqrt(dim) for L2).
    pub fn max_eps(self, dim: usize) -> f64 {
        match self {
            Norm::Linf => 1.0,
            Norm::L2 => (dim as f64).sqrt(),
        }
    }

    /// Distance between two images.
    pub fn distance(self, a: &[f32], b: &[f32]) -> f32 {
        match self {
            Norm::Linf => a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max),
            Norm::L2 => l2(a.iter().zip(b).map(|(x, y)| x - y)) as f32,
        }
    }

    /// Steepest-ascent direction for this norm, per image of `dim` pixels: the sign of the
    /// gradient (L-inf) or the gradient over its length (L2; zero stays zero).
    pub fn normalize_grad(self, grad: &mut [f32], dim: usize) {
        match self {
            Norm::Linf => grad.iter_mut().for_each(|g| *g = sign(*g)),
            Norm::L2 => {
                for row in grad.chunks_mut(dim.max(1)) {
                    let k = (1.0 / (l2(row.iter().copied()) + TINY)) as f32;
                    row.iter_mut().for_each(|g| *g *= k);
                }
            }
        }
    }

    /// Projects `x` onto the eps-ball around `x0`, in place.
    pub fn project(self, x: &mut [f32], x0: &[f32], eps: f32, dim: usize) {
        match self {
            Norm::Linf => project_linf(x, x0, eps),
            Norm::L2 => project_l2(x, x0, eps, dim),
        }
    }

    /// [`Norm::project`] then, with `bounds`, [`clamp`], in one pass (the same operations per
    /// value, so the same result).
    pub fn project_clamp(self, x: &mut [f32], x0: &[f32], eps: f32, dim: usize, bounds: Option<(f32, f32)>) {
        match (self, bounds) {
            (Norm::Linf, Some((lo, hi))) => project_clamp_linf(x, x0, eps, lo, hi),
            (Norm::Linf, None) => project_linf(x, x0, eps),
            (Norm::L2, b) => {
                project_l2(x, x0, eps, dim);
                if let Some(b) = b {
                    clamp(x, b);
                }
            }
        }
    }

    /// One step from `x0`'s neighbourhood in place: `x += alpha · normalize_grad(grad)`, then
    /// projection onto the eps-ball around `x0` and, with `bounds`, clamping, in one pass (the
    /// same operations per value as those steps one after another).
    #[allow(clippy::too_many_arguments)]
    pub fn ascend_project(
        self,
        x: &mut [f32],
        grad: &[f32],
        alpha: f32,
        x0: &[f32],
        eps: f32,
        dim: usize,
        bounds: Option<(f32, f32)>,
    ) {
        let (lo, hi) = bounds.unwrap_or((f32::NEG_INFINITY, f32::INFINITY));
        match self {
            Norm::Linf => ascend_project_linf(x, grad, alpha, x0, eps, lo, hi),
            Norm::L2 => {
                let mut dir = grad.to_vec();
                self.normalize_grad(&mut dir, dim);
                x.iter_mut().zip(&dir).for_each(|(v, d)| *v += alpha * d);
                self.project_clamp(x, x0, eps, dim, bounds);
            }
        }
    }

    /// [`Norm::ascend_project`] from `x = x0`, into a new image (no copy of `x0` first; the
    /// same operations per value).
    pub fn step_from(
        self,
        x0: &[f32],
        grad: &[f32],
        alpha: f32,
        eps: f32,
        dim: usize,
        bounds: Option<(f32, f32)>,
    ) -> Vec<f32> {
        let (lo, hi) = bounds.unwrap_or((f32::NEG_INFINITY, f32::INFINITY));
        match self {
            Norm::Linf => step_from_linf(x0, grad, alpha, eps, lo, hi),
            Norm::L2 => {
                let mut x = x0.to_vec();
                self.ascend_project(&mut x, grad, alpha, x0, eps, dim, bounds);
                x
            }
        }
    }

    /// Uniform random point in the eps-ball around `x0` (per image of `dim` pixels).
    pub fn random_start(self, x0: &[f32], eps: f32, dim: usize, rng: &mut dyn rand::RngCore) -> Vec<f32> {
        match self {
            Norm::Linf => x0.iter().map(|c| c + rng.gen_range(-1.0f32..=1.0) * eps).collect(),
            Norm::L2 => {
                // A Gaussian direction scaled to radius eps * u^(1/dim): uniform in the ball.
                let mut out = Vec::with_capacity(x0.len());
                for row in x0.chunks(dim.max(1)) {
                    let dir: Vec<f32> = row.iter().map(|_| rng.sample::<f32, _>(rand_distr::StandardNormal)).collect();
                    let u: f64 = rng.gen_range(0.0..1.0);
                    let r = f64::from(eps) * u.powf(1.0 / row.len().max(1) as f64);
                    let k = (r / (l2(dir.iter().copied()) + TINY)) as f32;
                    out.extend(row.iter().zip(&dir).map(|(c, d)| c + k * d));
                }
                out
            }
        }
    }
    /// A random point at distance `radii[i]` from image `i` of `x0` (APGD's and FAB's starts):
    /// L-inf `x + r·t/max|t|` with `t` uniform in [-1, 1]^d; L2 `x + r·t/|t|` with `t`
    /// Gaussian. Not clipped.
    pub fn surface_start(self, x0: &[f32], radii: &[f32], dim: usize, rng: &mut dyn rand::RngCore) -> Vec<f32> {
        let mut out = Vec::with_capacity(x0.len());
        for (row, &r) in x0.chunks(dim.max(1)).zip(radii) {
            let t: Vec<f32> = match self {
                Norm::Linf => row.iter().map(|_| rng.gen_range(-1.0f32..=1.0)).collect(),
                Norm::L2 => row.iter().map(|_| rng.sample::<f32, _>(rand_distr::StandardNormal)).collect(),
            };
            let scale = match self {
                Norm::Linf => t.iter().fold(0.0f32, |m, v| m.max(v.abs())),
                Norm::L2 => l2(t.iter().copied()) as f32,
            };
            let k = r / (scale + 1e-12);
            out.extend(row.iter().zip(&t).map(|(c, v)| c + k * v));
        }
        out
    }
}

/// Euclidean length, summed in f64.
fn l2(values: impl Iterator<Item = f32>) -> f64 {
    values.map(|v| f64::from(v) * f64::from(v)).sum::<f64>().sqrt()
}

/// Per image: `x = x0 + (x - x0) · min(1, eps / |x - x0|)`.
fn project_l2(x: &mut [f32], x0: &[f32], eps: f32, dim: usize) {
    for (xr, cr) in x.chunks_mut(dim.max(1)).zip(x0.chunks(dim.max(1))) {
        let n = l2(xr.iter().zip(cr).map(|(v, c)| v - c));
        if n > f64::from(eps) {
            let k = (f64::from(eps) / n) as f32;
            xr.iter_mut().zip(cr).for_each(|(v, c)| *v = c + (*v - c) * k);
        }
    }
}

pub use crate::nn::ops::sign;

// The element-wise loops below run on every attack step; `multiversion!` compiles them for
// AVX-512/AVX2 as well. They use max/min rather than `clamp` (no per-element bounds assertion,
// so they vectorise); a NaN pixel comes out as a bound instead of NaN.

#[inline(always)]
fn project_linf_imp<const F: bool>(x: &mut [f32], x0: &[f32], eps: f32) {
    x.iter_mut().zip(x0).for_each(|(v, c)| *v = v.max(c - eps).min(c + eps));
}

crate::multiversion! {
    fn project_linf(x: &mut [f32], x0: &[f32], eps: f32) => project_linf_imp
}

#[inline(always)]
fn project_clamp_linf_imp<const F: bool>(x: &mut [f32], x0: &[f32], eps: f32, lo: f32, hi: f32) {
    x.iter_mut().zip(x0).for_each(|(v, c)| *v = v.max(c - eps).min(c + eps).max(lo).min(hi));
}

crate::multiversion! {
    fn project_clamp_linf(x: &mut [f32], x0: &[f32], eps: f32, lo: f32, hi: f32) => project_clamp_linf_imp
}

// Unbounded clipping (lo = -inf, hi = +inf) leaves every finite value unchanged.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn ascend_project_linf_imp<const F: bool>(
    x: &mut [f32],
    grad: &[f32],
    alpha: f32,
    x0: &[f32],
    eps: f32,
    lo: f32,
    hi: f32,
) {
    x.iter_mut().zip(grad).zip(x0).for_each(|((v, g), c)| {
        let stepped = *v + alpha * sign(*g);
        *v = stepped.max(c - eps).min(c + eps).max(lo).min(hi);
    });
}

#[inline(always)]
fn step_from_linf_imp<const F: bool>(x0: &[f32], grad: &[f32], alpha: f32, eps: f32, lo: f32, hi: f32) -> Vec<f32> {
    x0.iter()
        .zip(grad)
        .map(|(c, g)| {
            let stepped = c + alpha * sign(*g);
            stepped.max(c - eps).min(c + eps).max(lo).min(hi)
        })
        .collect()
}

crate::multiversion! {
    fn step_from_linf(x0: &[f32], grad: &[f32], alpha: f32, eps: f32, lo: f32, hi: f32) -> Vec<f32> => step_from_linf_imp
}

crate::multiversion! {
    #[allow(clippy::too_many_arguments)]
    fn ascend_project_linf(x: &mut [f32], grad: &[f32], alpha: f32, x0: &[f32], eps: f32, lo: f32, hi: f32) => ascend_project_linf_imp
}

#[inline(always)]
fn clamp_imp<const F: bool>(x: &mut [f32], lo: f32, hi: f32) {
    x.iter_mut().for_each(|v| *v = v.max(lo).min(hi));
}

crate::multiversion! {
    fn clamp_all(x: &mut [f32], lo: f32, hi: f32) => clamp_imp
}

/// Clamps every value into `[lo, hi]` in place.
pub fn clamp(x: &mut [f32], (lo, hi): (f32, f32)) {
    clamp_all(x, lo, hi);
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn fused_passes_equal_the_separate_ones() {
        let n = 103;
        let x0: Vec<f32> = (0..n).map(|i| (i % 11) as f32 / 10.0).collect();
        let x: Vec<f32> = (0..n).map(|i| x0[i] + ((i * 7) % 5) as f32 * 0.03 - 0.06).collect();
        let g: Vec<f32> = (0..n).map(|i| ((i * 13) % 7) as f32 - 3.0).collect();
        for bounds in [Some((0.0, 1.0)), None] {
            let mut fused = x.clone();
            Norm::Linf.ascend_project(&mut fused, &g, 0.04, &x0, 0.05, n, bounds);
            let mut dir = g.clone();
            Norm::Linf.normalize_grad(&mut dir, n);
            let mut sep: Vec<f32> = x.iter().zip(&dir).map(|(v, d)| v + 0.04 * d).collect();
            Norm::Linf.project(&mut sep, &x0, 0.05, n);
            if let Some(b) = bounds {
                clamp(&mut sep, b);
            }
            assert_eq!(fused, sep);
            // From the clean image, out of place: the same as stepping a copy in place.
            let mut copy = x0.clone();
            Norm::Linf.ascend_project(&mut copy, &g, 0.04, &x0, 0.05, n, bounds);
            assert_eq!(Norm::Linf.step_from(&x0, &g, 0.04, 0.05, n, bounds), copy);
            let mut pc = x.clone();
            Norm::Linf.project_clamp(&mut pc, &x0, 0.05, n, bounds);
            let mut sep = x.clone();
            Norm::Linf.project(&mut sep, &x0, 0.05, n);
            if let Some(b) = bounds {
                clamp(&mut sep, b);
            }
            assert_eq!(pc, sep);
        }
        // Something was actually projected and clipped.
        let mut y = x.clone();
        Norm::Linf.ascend_project(&mut y, &g, 0.5, &x0, 0.05, n, Some((0.0, 1.0)));
        assert!(y.iter().zip(&x0).any(|(a, b)| (a - b).abs() > 0.049));
        assert!(y.contains(&0.0) && y.contains(&1.0));
    }

    #[test]
    fn l2_geometry_per_image() {
        let dim = 50;
        let x0: Vec<f32> = (0..3 * dim).map(|i| ((i * 7) % 10) as f32 / 10.0).collect();
        let g: Vec<f32> = (0..3 * dim).map(|i| ((i * 13) % 7) as f32 - 3.0).collect();
        let row = |v: &[f32], i: usize| v[i * dim..(i + 1) * dim].to_vec();
        // The normalised gradient has unit length per image and points along the gradient.
        let mut dir = g.clone();
        Norm::L2.normalize_grad(&mut dir, dim);
        for i in 0..3 {
            assert!((l2(row(&dir, i).into_iter()) - 1.0).abs() < 1e-5);
            let dot: f64 = row(&dir, i).iter().zip(row(&g, i)).map(|(a, b)| f64::from(a * b)).sum();
            assert!((dot - l2(row(&g, i).into_iter())).abs() < 1e-3);
        }
        // A step of length 2 projected onto the 0.5-ball: on its surface, same direction.
        let eps = 0.5;
        let y = Norm::L2.step_from(&x0, &g, 2.0, eps, dim, None);
        for i in 0..3 {
            let d = Norm::L2.distance(&row(&y, i), &row(&x0, i));
            assert!((d - eps).abs() < 1e-5, "image {i} at distance {d}");
        }
        // Points inside the ball do not move; clipping keeps the point inside the ball.
        let mut inside = Norm::L2.step_from(&x0, &g, 0.1, eps, dim, None);
        let before = inside.clone();
        Norm::L2.project(&mut inside, &x0, eps, dim);
        assert_eq!(inside, before);
        let z = Norm::L2.step_from(&x0, &g, 2.0, eps, dim, Some((0.0, 1.0)));
        assert!(z.iter().all(|v| (0.0..=1.0).contains(v)));
        for i in 0..3 {
            assert!(Norm::L2.distance(&row(&z, i), &row(&x0, i)) <= eps + 1e-6);
        }
        // Random starts: inside the ball, not at the centre, and close to its surface in high
        // dimension (radius eps * u^(1/dim)).
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let s = Norm::L2.random_start(&x0, eps, dim, &mut rng);
        for i in 0..3 {
            let d = Norm::L2.distance(&row(&s, i), &row(&x0, i));
            assert!(d <= eps + 1e-6 && d > 0.8 * eps, "{d}");
        }
        assert_eq!(Norm::L2.max_eps(784), 28.0);
    }
}
