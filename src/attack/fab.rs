//! FAB-T: the targeted Fast Adaptive Boundary attack, a minimum-norm attack.
//!
//! Croce & Hein, "Minimally distorted Adversarial Examples with a Fast Adaptive Boundary
//! Attack", ICML 2020, arXiv:1907.02044 (Algorithm 1), in its targeted form as AutoAttack runs
//! it (arXiv:2003.01690, section 4). Norms: L-inf and L2. Defaults in pixel units as in
//! AutoAttack's standard run: 100 iterations, one restart, the 9 highest-scoring other classes
//! of the clean image as targets in turn, alpha_max 0.1, overshoot eta 1.05, backward step beta
//! 0.9.
//!
//! Each iteration linearises the margin `f(x) = z_t(x) - z_y(x)` at the current point `x` (one
//! forward pass and one vector-Jacobian product: `w = grad f`), and projects both `x` and the
//! clean image `x0` onto the hyperplane `f(x) + w·(z - x) = 0` intersected with the pixel box,
//! each by the smallest perturbation in the attack's norm ([`super::hyperplane::project`]). The next
//! point mixes the two, `(x + eta·d_x)(1 - a) + (x0 + eta·d_0) a` with
//! `a = min(|d_x| / (|d_x| + |d_0|), alpha_max)`, which biases it toward the clean image. Once
//! a point is misclassified it is kept if it is the closest so far and the search steps back
//! toward the clean image, `x0 + beta (x - x0)`. Restarts after the first start at a random
//! point at half the smaller of the best distance found so far and eps.
//!
//! A success is any misclassification (as in AutoAttack: the target only steers the search).
//! Because FAB minimises the distance rather than working inside one budget, one run gives
//! each example's distance to the nearest adversarial point found ([`Fab::min_norm`]), and with
//! it the whole robust-accuracy-vs-eps curve; [`Attack::run_multi`] over several budgets uses
//! that single run.

use super::hyperplane::{dot, project, Scratch};
use super::{Attack, ClipMode, Goal, Norm};
use crate::error::{Error, Result};
use crate::model::Classifier;
use crate::nn::ops::gather_rows;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// FAB-T's configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fab {
    /// Iterations per run.
    pub iterations: usize,
    /// Runs per target, the first from the clean image, the others from random points.
    pub restarts: usize,
    /// How many of the clean image's highest-scoring other classes are targeted in turn.
    pub targets: usize,
    /// The norm whose distance is minimised.
    pub norm: Norm,
    /// Largest weight of the clean image's projection in each step (alpha_max).
    pub alpha_max: f32,
    /// Overshoot of each projection (eta).
    pub eta: f32,
    /// Backward step toward the clean image after a success (beta).
    pub beta: f32,
}

/// Each example's closest adversarial point: the distance (0 for an example the model already
/// gets wrong, infinity where none was found) and the point (the clean image where none).
#[derive(Clone, Debug, PartialEq)]
pub struct MinNorm {
    /// Per example, the distance in the attack's norm.
    pub distances: Vec<f32>,
    /// Per example, the adversarial point, flat `[n, dim]`.
    pub images: Vec<f32>,
}

impl MinNorm {
    /// The share of examples whose distance exceeds `eps`: the robust accuracy FAB certifies
    /// nothing about but can attest no lower than.
    pub fn robust_accuracy(&self, eps: f32) -> f64 {
        let robust = self.distances.iter().filter(|&&d| d > eps).count();
        robust as f64 / self.distances.len().max(1) as f64
    }

    /// The images an attack at budget `eps` hands over: the adversarial point where its
    /// distance is within `eps`, else the clean image.
    pub fn at(&self, x0: &[f32], eps: f32, dim: usize) -> Vec<f32> {
        let mut out = x0.to_vec();
        for (i, &d) in self.distances.iter().enumerate() {
            if d <= eps {
                out[i * dim..(i + 1) * dim].copy_from_slice(&self.images[i * dim..(i + 1) * dim]);
            }
        }
        out
    }
}

impl Fab {
    /// FAB-T with AutoAttack's standard settings.
    pub fn targeted(norm: Norm) -> Self {
        Fab { iterations: 100, restarts: 1, targets: 9, norm, alpha_max: 0.1, eta: 1.05, beta: 0.9 }
    }

    /// Rejects impossible settings.
    pub fn validate(&self) -> Result<()> {
        if self.iterations == 0 || self.iterations > 100_000 {
            return Err(Error::param("--steps", self.iterations, "must be between 1 and 100000"));
        }
        if self.restarts == 0 || self.restarts > 10_000 {
            return Err(Error::param("--restarts", self.restarts, "must be between 1 and 10000"));
        }
        if self.targets == 0 {
            return Err(Error::param("targets", 0, "FAB-T needs at least one target class"));
        }
        let unit = |v: f32| v.is_finite() && (0.0..=1.0).contains(&v);
        if !(unit(self.alpha_max) && unit(self.beta) && self.eta.is_finite() && self.eta >= 1.0) {
            return Err(Error::param("fab", format!("{self:?}"), "needs alpha_max, beta in [0, 1] and eta >= 1"));
        }
        Ok(())
    }

    /// Every target and restart on every example, keeping each example's closest adversarial
    /// point. Random restarts start within `start_eps` (and within half the best distance).
    pub fn min_norm(
        &self,
        model: &dyn Classifier,
        x0: &[f32],
        goal: Goal<'_>,
        clip: ClipMode,
        start_eps: f32,
        rng: &mut dyn rand::RngCore,
    ) -> MinNorm {
        self.search(model, x0, goal, clip, start_eps, None, rng)
    }

    /// The search behind [`Fab::min_norm`] and [`Attack::run_one`]. With `stop_at = Some(eps)`
    /// an example leaves the search once it is fooled within `eps` (AutoAttack's use).
    #[allow(clippy::too_many_arguments)]
    fn search(
        &self,
        model: &dyn Classifier,
        x0: &[f32],
        goal: Goal<'_>,
        clip: ClipMode,
        start_eps: f32,
        stop_at: Option<f32>,
        rng: &mut dyn rand::RngCore,
    ) -> MinNorm {
        let (d, c, n) = (model.input_dim(), model.num_classes(), goal.labels().len());
        let logits = super::gradient::logits_host(model, x0, n);
        let mut best = MinNorm { distances: vec![f32::INFINITY; n], images: x0.to_vec() };
        // Per example: the class to leave, and the targets in order.
        let mut plan: Vec<(u8, Vec<u8>)> = Vec::with_capacity(n);
        for (i, row) in logits.chunks_exact(c).enumerate() {
            let pred = super::pgd::argmax(row);
            if goal.is_success(i, pred) {
                best.distances[i] = 0.0;
            }
            match goal {
                Goal::Untargeted(y) => {
                    let mut order: Vec<u8> = (0..c as u8).filter(|&k| k != y[i]).collect();
                    order.sort_by(|&a, &b| row[usize::from(b)].total_cmp(&row[usize::from(a)]));
                    order.truncate(self.targets);
                    plan.push((y[i], order));
                }
                Goal::Targeted(t) => plan.push((pred as u8, vec![t[i]])),
            }
        }
        let bounds = (clip == ClipMode::Clipped).then_some(model.bounds());
        let passes = plan.iter().map(|p| p.1.len()).max().unwrap_or(0);
        for pass in 0..passes {
            for restart in 0..self.restarts {
                let done = |dist: f32| dist == 0.0 || stop_at.is_some_and(|e| dist <= e);
                let todo: Vec<usize> = (0..n).filter(|&i| pass < plan[i].1.len() && !done(best.distances[i])).collect();
                if todo.is_empty() {
                    continue;
                }
                let mut xs = Vec::new();
                gather_rows(x0, d, &todo, &mut xs);
                let ys: Vec<u8> = todo.iter().map(|&i| plan[i].0).collect();
                let ts: Vec<u8> = todo.iter().map(|&i| plan[i].1[pass]).collect();
                let start = (restart > 0).then(|| {
                    let radii: Vec<f32> = todo.iter().map(|&i| 0.5 * best.distances[i].min(start_eps)).collect();
                    let mut s = self.norm.surface_start(&xs, &radii, d, rng);
                    if let Some(bd) = bounds {
                        super::norm::clamp(&mut s, bd);
                    }
                    s
                });
                let success = |k: usize, pred: usize| match goal {
                    Goal::Untargeted(_) => pred != usize::from(ys[k]),
                    Goal::Targeted(_) => pred == usize::from(ts[k]),
                };
                let run = Run { model, x0: &xs, ys: &ys, ts: &ts, bounds, success: &success };
                let found = self.single_run(&run, start);
                for (k, &i) in todo.iter().enumerate() {
                    if found.distances[k] < best.distances[i] {
                        best.distances[i] = found.distances[k];
                        best.images[i * d..(i + 1) * d].copy_from_slice(&found.images[k * d..(k + 1) * d]);
                    }
                }
            }
        }
        best
    }

    /// One run of Algorithm 1 from the clean images (or from `start`).
    fn single_run(&self, r: &Run<'_>, start: Option<Vec<f32>>) -> MinNorm {
        let (d, c, m) = (r.model.input_dim(), r.model.num_classes(), r.ys.len());
        let mut x = start.unwrap_or_else(|| r.x0.to_vec());
        let mut best = MinNorm { distances: vec![f32::INFINITY; m], images: r.x0.to_vec() };
        crate::backend::flush_denormals();
        let mut path = r.model.anchored_path();
        path.anchors(r.x0, m);
        path.logits(&x, m);
        for _ in 0..self.iterations {
            // f = z_t - z_y and its input gradient w, in one VJP at the current points.
            let (logits, w) = path.forward_vjp(&mut |logits: &[f32]| {
                let mut dl = vec![0.0f32; logits.len()];
                for (k, row) in dl.chunks_exact_mut(c).enumerate() {
                    row[usize::from(r.ts[k])] += 1.0;
                    row[usize::from(r.ys[k])] -= 1.0;
                }
                dl
            });
            // Each row's step depends on that row alone: rows run in parallel, results do not
            // depend on the thread count.
            x.par_chunks_mut(d.max(1)).enumerate().for_each_init(
                || (vec![0.0f32; d], vec![0.0f32; d], Scratch::default()),
                |(d1, d2, scratch), (k, xk)| {
                    let rows = k * d..(k + 1) * d;
                    let (wk, x0k) = (&w[rows.clone()], &r.x0[rows]);
                    let (t, y) = (usize::from(r.ts[k]), usize::from(r.ys[k]));
                    let f = f64::from(logits[k * c + t]) - f64::from(logits[k * c + y]);
                    // The linearised boundary: w·z = w·x - f.
                    let b = dot(wk, xk) - f;
                    let a1 = project(self.norm, xk, wk, b, r.bounds, d1, scratch).max(1e-8);
                    let a2 = project(self.norm, x0k, wk, b, r.bounds, d2, scratch).max(1e-8);
                    let alpha = (a1 / (a1 + a2)).clamp(0.0, f64::from(self.alpha_max)) as f32;
                    for j in 0..d {
                        let v = (xk[j] + self.eta * d1[j]) * (1.0 - alpha) + (x0k[j] + self.eta * d2[j]) * alpha;
                        xk[j] = r.bounds.map_or(v, |(lo, hi)| v.clamp(lo, hi));
                    }
                },
            );
            let logits = path.logits(&x, m);
            for k in 0..m {
                if !(r.success)(k, super::pgd::argmax(&logits[k * c..(k + 1) * c])) {
                    continue;
                }
                let rows = k * d..(k + 1) * d;
                let dist = self.norm.distance(&x[rows.clone()], &r.x0[rows.clone()]);
                if dist < best.distances[k] {
                    best.distances[k] = dist;
                    best.images[rows.clone()].copy_from_slice(&x[rows.clone()]);
                }
                for (v, &o) in x[rows.clone()].iter_mut().zip(&r.x0[rows.clone()]) {
                    *v = o + (*v - o) * self.beta;
                }
                path.shrink(k, self.beta, &x[rows]);
            }
        }
        best
    }
}

/// What one run works on: the model, the clean images, the classes to leave and to reach, the
/// box, and what counts as a success for example `k` predicted as `pred`.
struct Run<'a> {
    model: &'a dyn Classifier,
    x0: &'a [f32],
    ys: &'a [u8],
    ts: &'a [u8],
    bounds: Option<(f32, f32)>,
    success: &'a (dyn Fn(usize, usize) -> bool + Sync),
}

impl Attack for Fab {
    fn name(&self) -> &'static str {
        "fab-t"
    }

    fn params(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    fn norm(&self) -> Norm {
        self.norm
    }

    fn stronger(&self) -> Option<Box<dyn Attack>> {
        Some(Box::new(Fab { iterations: self.iterations * 2, restarts: self.restarts + 1, ..self.clone() }))
    }

    /// AutoAttack's use: each example leaves the search once fooled within `eps`.
    fn run_one(
        &self,
        model: &dyn Classifier,
        x: &[f32],
        goal: Goal<'_>,
        eps: f32,
        clip: ClipMode,
        rng: &mut dyn rand::RngCore,
    ) -> Vec<f32> {
        if eps == 0.0 {
            return x.to_vec();
        }
        let found = self.search(model, x, goal, clip, eps, Some(eps), rng);
        found.at(x, eps, model.input_dim())
    }

    /// One minimum-norm search for all budgets (one budget: [`Attack::run_one`]). With one
    /// restart both give the same images at every budget: each example's run for each target
    /// starts at its clean image and does not depend on the others.
    fn run_multi(
        &self,
        model: &dyn Classifier,
        x: &[f32],
        goal: Goal<'_>,
        eps: &[f32],
        clip: ClipMode,
        rng: &mut dyn rand::RngCore,
    ) -> Vec<Vec<f32>> {
        if eps.len() == 1 {
            return vec![self.run_one(model, x, goal, eps[0], clip, rng)];
        }
        let largest = eps.iter().copied().fold(0.0f32, f32::max);
        let found = self.min_norm(model, x, goal, clip, largest, rng);
        eps.iter().map(|&e| if e == 0.0 { x.to_vec() } else { found.at(x, e, model.input_dim()) }).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_settings_are_refused() {
        assert!(Fab { iterations: 0, ..Fab::targeted(Norm::Linf) }.validate().is_err());
        assert!(Fab { targets: 0, ..Fab::targeted(Norm::Linf) }.validate().is_err());
        assert!(Fab { eta: 0.5, ..Fab::targeted(Norm::Linf) }.validate().is_err());
        assert!(Fab { beta: f32::NAN, ..Fab::targeted(Norm::L2) }.validate().is_err());
        Fab::targeted(Norm::L2).validate().expect("standard");
    }
}
