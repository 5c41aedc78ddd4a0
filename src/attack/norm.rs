//! Threat-model geometry. Today: L-inf (every pixel moves by at most eps).
//!
//! The norm owns distance, projection onto the eps-ball, gradient normalisation (sign for
//! L-inf) and the random start. Inputs are flat slices in pixel units.

use rand::Rng;
use serde::{Deserialize, Serialize};

/// Supported threat models.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Norm {
    /// max_i |x_adv_i - x_i| <= eps.
    Linf,
}

impl Norm {
    /// Name used in files and reports.
    pub fn name(self) -> &'static str {
        match self {
            Norm::Linf => "linf",
        }
    }

    /// The largest meaningful budget in pixel units (images live in [0, 1]).
    pub fn max_eps(self) -> f64 {
        match self {
            Norm::Linf => 1.0,
        }
    }

    /// Distance between two images.
    pub fn distance(self, a: &[f32], b: &[f32]) -> f32 {
        match self {
            Norm::Linf => a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max),
        }
    }

    /// Steepest-ascent direction for this norm (sign of the gradient for L-inf).
    pub fn normalize_grad(self, grad: &mut [f32]) {
        match self {
            Norm::Linf => grad.iter_mut().for_each(|g| *g = sign(*g)),
        }
    }

    /// Projects `x` onto the eps-ball around `x0`, in place.
    pub fn project(self, x: &mut [f32], x0: &[f32], eps: f32) {
        match self {
            Norm::Linf => project_linf(x, x0, eps),
        }
    }

    /// [`Norm::project`] then, with `bounds`, [`clamp`], in one pass (the same operations per
    /// value, so the same result).
    pub fn project_clamp(self, x: &mut [f32], x0: &[f32], eps: f32, bounds: Option<(f32, f32)>) {
        match (self, bounds) {
            (Norm::Linf, Some((lo, hi))) => project_clamp_linf(x, x0, eps, lo, hi),
            (Norm::Linf, None) => project_linf(x, x0, eps),
        }
    }

    /// One step from `x0`'s neighbourhood in place: `x += alpha · normalize_grad(grad)`, then
    /// projection onto the eps-ball around `x0` and, with `bounds`, clamping, in one pass (the
    /// same operations per value as those steps one after another).
    pub fn ascend_project(
        self,
        x: &mut [f32],
        grad: &[f32],
        alpha: f32,
        x0: &[f32],
        eps: f32,
        bounds: Option<(f32, f32)>,
    ) {
        let (lo, hi) = bounds.unwrap_or((f32::NEG_INFINITY, f32::INFINITY));
        match self {
            Norm::Linf => ascend_project_linf(x, grad, alpha, x0, eps, lo, hi),
        }
    }

    /// [`Norm::ascend_project`] from `x = x0`, into a new image (no copy of `x0` first; the
    /// same operations per value).
    pub fn step_from(self, x0: &[f32], grad: &[f32], alpha: f32, eps: f32, bounds: Option<(f32, f32)>) -> Vec<f32> {
        let (lo, hi) = bounds.unwrap_or((f32::NEG_INFINITY, f32::INFINITY));
        match self {
            Norm::Linf => step_from_linf(x0, grad, alpha, eps, lo, hi),
        }
    }

    /// Uniform random point in the eps-ball around `x0`.
    pub fn random_start(self, x0: &[f32], eps: f32, rng: &mut dyn rand::RngCore) -> Vec<f32> {
        match self {
            Norm::Linf => x0.iter().map(|c| c + rng.gen_range(-1.0f32..=1.0) * eps).collect(),
        }
    }
}

/// sign(x) with sign(0) = 0, as torch.sign and numpy.sign.
pub fn sign(x: f32) -> f32 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

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

    #[test]
    fn fused_passes_equal_the_separate_ones() {
        let n = 103;
        let x0: Vec<f32> = (0..n).map(|i| (i % 11) as f32 / 10.0).collect();
        let x: Vec<f32> = (0..n).map(|i| x0[i] + ((i * 7) % 5) as f32 * 0.03 - 0.06).collect();
        let g: Vec<f32> = (0..n).map(|i| ((i * 13) % 7) as f32 - 3.0).collect();
        for bounds in [Some((0.0, 1.0)), None] {
            let mut fused = x.clone();
            Norm::Linf.ascend_project(&mut fused, &g, 0.04, &x0, 0.05, bounds);
            let mut dir = g.clone();
            Norm::Linf.normalize_grad(&mut dir);
            let mut sep: Vec<f32> = x.iter().zip(&dir).map(|(v, d)| v + 0.04 * d).collect();
            Norm::Linf.project(&mut sep, &x0, 0.05);
            if let Some(b) = bounds {
                clamp(&mut sep, b);
            }
            assert_eq!(fused, sep);
            // From the clean image, out of place: the same as stepping a copy in place.
            let mut copy = x0.clone();
            Norm::Linf.ascend_project(&mut copy, &g, 0.04, &x0, 0.05, bounds);
            assert_eq!(Norm::Linf.step_from(&x0, &g, 0.04, 0.05, bounds), copy);
            let mut pc = x.clone();
            Norm::Linf.project_clamp(&mut pc, &x0, 0.05, bounds);
            let mut sep = x.clone();
            Norm::Linf.project(&mut sep, &x0, 0.05);
            if let Some(b) = bounds {
                clamp(&mut sep, b);
            }
            assert_eq!(pc, sep);
        }
        // Something was actually projected and clipped.
        let mut y = x.clone();
        Norm::Linf.ascend_project(&mut y, &g, 0.5, &x0, 0.05, Some((0.0, 1.0)));
        assert!(y.iter().zip(&x0).any(|(a, b)| (a - b).abs() > 0.049));
        assert!(y.contains(&0.0) && y.contains(&1.0));
    }
}
