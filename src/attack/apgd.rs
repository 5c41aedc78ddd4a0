//! Auto-PGD (APGD) and its targeted version APGD-T.
//!
//! Croce & Hein, "Reliable evaluation of adversarial robustness with an ensemble of diverse
//! parameter-free attacks", ICML 2020, arXiv:2003.01690 (section 3, Algorithm 1). Norms:
//! L-inf and L2. Defaults as in the paper and AutoAttack's "standard" run: 100 iterations, one
//! restart, momentum 0.75, initial step 2·eps per example, checkpoints after 0.22·N iterations,
//! then at intervals shrinking by 0.03·N down to 0.06·N; at a checkpoint an example's step is
//! halved, and it restarts from its best point, when fewer than 75% of the steps since the last
//! checkpoint raised its loss, or when its step was not halved at the last checkpoint and its
//! best loss has not risen since. Losses: cross-entropy or DLR (APGD), targeted DLR toward each
//! of the top `targets` other classes of the clean image in turn (APGD-T, 9 in the standard).
//!
//! Every restart and every target runs only on the examples not yet fooled; an example's first
//! adversarial point is kept (the per-example worst case); for the others the point of highest
//! loss is returned. Starts: L-inf `x + eps·t/max|t|` with `t` uniform in [-1, 1]^d; L2
//! `x + eps·t/|t|` with `t` Gaussian; then clipped to the valid range.

use super::{gradient, Attack, ClipMode, Goal, Loss, Norm};
use crate::error::{Error, Result};
use crate::model::Classifier;
use crate::nn::ops::gather_rows;
use serde::{Deserialize, Serialize};

/// APGD's configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Apgd {
    /// Iterations per run (N).
    pub iterations: usize,
    /// Runs per target (or per attack when untargeted), each from a random start.
    pub restarts: usize,
    /// The loss ascended: CE or DLR; with `targets > 0` the targeted DLR.
    pub loss: Loss,
    /// Threat model.
    pub norm: Norm,
    /// APGD-T: how many of the clean image's highest-scoring other classes are targeted in
    /// turn (0: untargeted APGD).
    pub targets: usize,
    /// Momentum weight alpha (0.75).
    pub momentum: f32,
    /// Share of loss-raising steps below which the step is halved (rho = 0.75).
    pub rho: f32,
}

impl Apgd {
    /// APGD with the paper's defaults on `loss` (CE or DLR).
    pub fn new(loss: Loss, norm: Norm) -> Self {
        Apgd { iterations: 100, restarts: 1, loss, norm, targets: 0, momentum: 0.75, rho: 0.75 }
    }

    /// APGD-T: targeted DLR over the top 9 other classes, one restart each.
    pub fn targeted(norm: Norm) -> Self {
        Apgd { targets: 9, ..Apgd::new(Loss::DlrTargeted, norm) }
    }

    /// Rejects impossible settings.
    pub fn validate(&self) -> Result<()> {
        if self.iterations == 0 || self.iterations > 100_000 {
            return Err(Error::param("--steps", self.iterations, "must be between 1 and 100000"));
        }
        if self.restarts == 0 || self.restarts > 10_000 {
            return Err(Error::param("--restarts", self.restarts, "must be between 1 and 10000"));
        }
        if (self.targets > 0) != (self.loss == Loss::DlrTargeted) {
            return Err(Error::param("--loss", self.loss.name(), "APGD takes ce or dlr; APGD-T the targeted DLR"));
        }
        if self.loss == Loss::Cw {
            return Err(Error::param("--loss", "cw", "APGD takes ce or dlr"));
        }
        Ok(())
    }

    /// The iterations after which the step size is checked: the first after 0.22·N, then
    /// at intervals shrinking by 0.03·N down to 0.06·N (each rounded down, at least 1), as
    /// AutoAttack runs the paper's `p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06)`.
    pub fn checkpoints(&self) -> Vec<usize> {
        let n = self.iterations as f64;
        let at = |p: f64| ((p * n) as usize).max(1);
        let (mut interval, shrink, min_interval) = (at(0.22), at(0.03), at(0.06));
        let (mut out, mut done) = (Vec::new(), 0);
        while done + interval <= self.iterations {
            done += interval;
            out.push(done);
            interval = interval.saturating_sub(shrink).max(min_interval);
        }
        out
    }
}

/// What one run needs to know about its examples: the clean images, the goal (its labels are
/// the ones the loss is taken of; it says what success is and whether to ascend or descend),
/// and for APGD-T the target classes.
struct Batch<'a> {
    x0: &'a [f32],
    goal: Goal<'a>,
    targets: Option<&'a [u8]>,
}

impl Batch<'_> {
    fn len(&self) -> usize {
        self.goal.labels().len()
    }

    /// Whether example `i` with prediction `pred` is fooled (the attacker's success).
    fn fooled(&self, i: usize, pred: usize) -> bool {
        self.goal.is_success(i, pred)
    }
}

/// Loss (signed so that higher is better for the attacker), its input gradient and the
/// predictions at `x`.
fn evaluate(model: &dyn Classifier, b: &Batch<'_>, loss: Loss, x: &[f32]) -> (Vec<f32>, Vec<f32>, Vec<usize>) {
    let g = gradient::loss_gradient(model, x, b.goal.labels(), b.targets, loss);
    let c = model.num_classes();
    let preds = g.logits.chunks_exact(c).map(super::pgd::argmax).collect();
    let sign = b.goal.step_sign();
    let values = g.loss.iter().map(|v| sign * v).collect();
    let grad = if sign == 1.0 { g.grad } else { g.grad.iter().map(|v| -v).collect() };
    (values, grad, preds)
}

impl Apgd {
    /// One run of Algorithm 1 on a batch: per example, whether it was fooled, and its point
    /// (the first fooling point, else the point of highest loss).
    fn single_run(
        &self,
        model: &dyn Classifier,
        b: &Batch<'_>,
        eps: f32,
        clip: ClipMode,
        rng: &mut dyn rand::RngCore,
    ) -> (Vec<bool>, Vec<f32>) {
        let (m, d) = (b.len(), model.input_dim());
        let bounds = (clip == ClipMode::Clipped).then_some(model.bounds());
        let mut x = self.norm.surface_start(b.x0, &vec![eps; m], d, rng);
        if let Some(bd) = bounds {
            super::norm::clamp(&mut x, bd);
        }
        let (mut loss, mut grad, preds) = evaluate(model, b, self.loss, &x);
        let mut fooled: Vec<bool> = preds.iter().enumerate().map(|(i, &p)| b.fooled(i, p)).collect();
        let mut out = x.clone();
        let (mut x_best, mut grad_best, mut loss_best) = (x.clone(), grad.clone(), loss.clone());
        let mut step = vec![2.0 * eps; m];
        let mut x_old = x.clone();
        let checks = self.checkpoints();
        let (mut next_check, mut last_check) = (0usize, 0usize);
        // Per example: how many steps since the last checkpoint raised the loss.
        let mut raised = vec![0usize; m];
        let mut prev_loss = loss.clone();
        let mut halved_last = vec![true; m];
        let mut best_at_check = loss_best.clone();
        for it in 0..self.iterations {
            let a = if it == 0 { 1.0 } else { self.momentum };
            let mut x_new = vec![0.0f32; m * d];
            for (i, &eta) in step.iter().enumerate() {
                let r = i * d..(i + 1) * d;
                let (xi, x0i) = (&x[r.clone()], &b.x0[r.clone()]);
                // z = P(x + eta * dir(grad)); x' = P(x + a (z - x) + (1 - a)(x - x_old)).
                let mut z = xi.to_vec();
                self.norm.ascend_project(&mut z, &grad[r.clone()], eta, x0i, eps, d, bounds);
                let row = &mut x_new[r.clone()];
                for (k, v) in row.iter_mut().enumerate() {
                    *v = xi[k] + a * (z[k] - xi[k]) + (1.0 - a) * (xi[k] - x_old[r.start + k]);
                }
                self.norm.project_clamp(row, x0i, eps, d, bounds);
            }
            x_old = std::mem::replace(&mut x, x_new);
            let (l, g, preds) = evaluate(model, b, self.loss, &x);
            loss = l;
            grad = g;
            for i in 0..m {
                let r = i * d..(i + 1) * d;
                if !fooled[i] && b.fooled(i, preds[i]) {
                    fooled[i] = true;
                    out[r.clone()].copy_from_slice(&x[r.clone()]);
                }
                if loss[i] > prev_loss[i] {
                    raised[i] += 1;
                }
                if loss[i] > loss_best[i] {
                    loss_best[i] = loss[i];
                    x_best[r.clone()].copy_from_slice(&x[r.clone()]);
                    grad_best[r.clone()].copy_from_slice(&grad[r]);
                }
            }
            prev_loss.clone_from(&loss);
            if checks.get(next_check) == Some(&(it + 1)) {
                let interval = it + 1 - last_check;
                (next_check, last_check) = (next_check + 1, it + 1);
                for i in 0..m {
                    let oscillates = (raised[i] as f32) <= self.rho * interval as f32;
                    let stalled = !halved_last[i] && best_at_check[i] >= loss_best[i];
                    let halve = oscillates || stalled;
                    halved_last[i] = halve;
                    best_at_check[i] = loss_best[i];
                    raised[i] = 0;
                    if halve {
                        step[i] /= 2.0;
                        let r = i * d..(i + 1) * d;
                        x[r.clone()].copy_from_slice(&x_best[r.clone()]);
                        grad[r.clone()].copy_from_slice(&grad_best[r]);
                    }
                }
            }
        }
        for (i, _) in fooled.iter().enumerate().filter(|(_, &f)| !f) {
            let r = i * d..(i + 1) * d;
            out[r.clone()].copy_from_slice(&x_best[r]);
        }
        (fooled, out)
    }
}

impl Attack for Apgd {
    fn name(&self) -> &'static str {
        if self.targets > 0 {
            "apgd-t"
        } else {
            "apgd"
        }
    }

    fn params(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    fn norm(&self) -> Norm {
        self.norm
    }

    fn stronger(&self) -> Option<Box<dyn Attack>> {
        Some(Box::new(Apgd { iterations: self.iterations * 2, restarts: self.restarts + 1, ..self.clone() }))
    }

    /// Every target and restart on the examples not yet fooled, for one eps.
    fn run_one(
        &self,
        model: &dyn Classifier,
        x0: &[f32],
        goal: Goal<'_>,
        eps: f32,
        clip: ClipMode,
        rng: &mut dyn rand::RngCore,
    ) -> Vec<f32> {
        let (d, c) = (model.input_dim(), model.num_classes());
        let n = goal.labels().len();
        let logits = gradient::logits_host(model, x0, n);
        let preds: Vec<usize> = logits.chunks_exact(c).map(super::pgd::argmax).collect();
        let mut fooled: Vec<bool> = preds.iter().enumerate().map(|(i, &p)| goal.is_success(i, p)).collect();
        let mut out = x0.to_vec();
        if eps == 0.0 {
            return out;
        }
        // APGD-T: the k-th target of an example is its (k+1)-th highest clean logit.
        let rank: Vec<Vec<u8>> = logits
            .chunks_exact(c)
            .map(|row| {
                let mut idx: Vec<u8> = (0..c as u8).collect();
                idx.sort_by(|&a, &b| row[usize::from(b)].total_cmp(&row[usize::from(a)]));
                idx
            })
            .collect();
        let passes = if self.targets == 0 { 1 } else { self.targets.min(c.saturating_sub(1)) };
        for pass in 0..passes {
            for _ in 0..self.restarts {
                let todo: Vec<usize> = (0..n).filter(|&i| !fooled[i]).collect();
                if todo.is_empty() {
                    return out;
                }
                let mut xs = Vec::new();
                gather_rows(x0, d, &todo, &mut xs);
                let ys: Vec<u8> = todo.iter().map(|&i| goal.labels()[i]).collect();
                let ts: Vec<u8> = todo.iter().map(|&i| rank[i][pass + 1]).collect();
                let sub_goal = goal.with_labels(&ys);
                let b = Batch { x0: &xs, goal: sub_goal, targets: (self.targets > 0).then_some(ts.as_slice()) };
                let (hit, adv) = self.single_run(model, &b, eps, clip, rng);
                // Every example here was not fooled yet: it takes this run's point (a fooling one,
                // else its highest-loss one), and once fooled it is never attacked again.
                for (k, &i) in todo.iter().enumerate() {
                    out[i * d..(i + 1) * d].copy_from_slice(&adv[k * d..(k + 1) * d]);
                    fooled[i] = hit[k];
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_follow_the_papers_schedule() {
        // p = 0.22, 0.41, 0.57, 0.70, 0.80, 0.87, 0.93, 0.99 of N = 100 (section 3.2).
        let a = Apgd::new(Loss::Ce, Norm::Linf);
        assert_eq!(a.checkpoints(), vec![22, 41, 57, 70, 80, 87, 93, 99]);
        assert_eq!(Apgd { iterations: 10, ..a.clone() }.checkpoints(), vec![2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert!(Apgd { iterations: 1, ..a }.checkpoints() == vec![1]);
    }

    #[test]
    fn invalid_settings_are_refused() {
        assert!(Apgd { iterations: 0, ..Apgd::new(Loss::Ce, Norm::Linf) }.validate().is_err());
        assert!(Apgd::new(Loss::Cw, Norm::Linf).validate().is_err());
        assert!(Apgd::new(Loss::DlrTargeted, Norm::Linf).validate().is_err());
        assert!(Apgd { targets: 0, ..Apgd::targeted(Norm::L2) }.validate().is_err());
        Apgd::targeted(Norm::L2).validate().expect("APGD-T");
    }
}
