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
use crate::model::{Classifier, Path};
use crate::nn::ops::{gather_rows, retain_rows};
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
fn evaluate(path: &mut dyn Path, c: usize, b: &Batch<'_>, loss: Loss, x: &[f32]) -> (Vec<f32>, Vec<f32>, Vec<usize>) {
    let g = gradient::loss_gradient_on(path, c, x, b.goal.labels(), b.targets, loss);
    let preds = g.logits.chunks_exact(c).map(super::pgd::argmax).collect();
    let sign = b.goal.step_sign();
    let values = g.loss.iter().map(|v| sign * v).collect();
    let grad = if sign == 1.0 { g.grad } else { g.grad.iter().map(|v| -v).collect() };
    (values, grad, preds)
}

/// The per-example state of one run, for the examples still being attacked: an example
/// leaves it (every array compacted) at its first fooling point, so later iterations cost
/// nothing for it. Each example's iterates depend on its own state only, so dropping the
/// others changes nothing for it.
struct Live {
    /// Position of each live example in the run's batch.
    idx: Vec<usize>,
    x0: Vec<f32>,
    labels: Vec<u8>,
    targets: Vec<u8>,
    x: Vec<f32>,
    x_old: Vec<f32>,
    grad: Vec<f32>,
    x_best: Vec<f32>,
    grad_best: Vec<f32>,
    loss: Vec<f32>,
    prev_loss: Vec<f32>,
    loss_best: Vec<f32>,
    best_at_check: Vec<f32>,
    step: Vec<f32>,
    /// How many steps since the last checkpoint raised the loss.
    raised: Vec<usize>,
    halved_last: Vec<bool>,
}

impl Live {
    fn len(&self) -> usize {
        self.idx.len()
    }

    /// Keeps the examples with `keep[k]`, in order.
    fn retain(&mut self, keep: &[bool], d: usize) {
        for v in [&mut self.x0, &mut self.x, &mut self.x_old, &mut self.grad, &mut self.x_best, &mut self.grad_best] {
            retain_rows(v, d, keep);
        }
        for v in [&mut self.loss, &mut self.prev_loss, &mut self.loss_best, &mut self.best_at_check, &mut self.step] {
            retain_rows(v, 1, keep);
        }
        retain_rows(&mut self.idx, 1, keep);
        retain_rows(&mut self.raised, 1, keep);
        retain_rows(&mut self.halved_last, 1, keep);
        retain_rows(&mut self.labels, 1, keep);
        if !self.targets.is_empty() {
            retain_rows(&mut self.targets, 1, keep);
        }
    }

    /// Loss, gradient and predictions at the live examples' current points.
    fn evaluate(&self, path: &mut dyn Path, c: usize, goal: Goal<'_>, loss: Loss) -> (Vec<f32>, Vec<f32>, Vec<usize>) {
        let targets = (!self.targets.is_empty()).then_some(self.targets.as_slice());
        let b = Batch { x0: &self.x0, goal: goal.with_labels(&self.labels), targets };
        evaluate(path, c, &b, loss, &self.x)
    }
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
        // Iterates move in few pixels once most sit on the ball's faces: the path reuses the
        // previous point's first layer.
        let (mut path, c) = (model.gradient_path(), model.num_classes());
        let (loss, grad, preds) = evaluate(path.as_mut(), c, b, self.loss, &x);
        let mut fooled: Vec<bool> = preds.iter().enumerate().map(|(i, &p)| b.fooled(i, p)).collect();
        let mut out = x.clone();
        let mut live = Live {
            idx: (0..m).collect(),
            x0: b.x0.to_vec(),
            labels: b.goal.labels().to_vec(),
            targets: b.targets.map(<[u8]>::to_vec).unwrap_or_default(),
            x_old: x.clone(),
            x_best: x.clone(),
            grad_best: grad.clone(),
            x,
            grad,
            prev_loss: loss.clone(),
            loss_best: loss.clone(),
            best_at_check: loss.clone(),
            loss,
            step: vec![2.0 * eps; m],
            raised: vec![0; m],
            halved_last: vec![true; m],
        };
        let keep: Vec<bool> = fooled.iter().map(|f| !f).collect();
        live.retain(&keep, d);
        path.retain(&keep);
        let checks = self.checkpoints();
        let (mut next_check, mut last_check) = (0usize, 0usize);
        for it in 0..self.iterations {
            if live.len() == 0 {
                break;
            }
            let a = if it == 0 { 1.0 } else { self.momentum };
            let mut x_new = vec![0.0f32; live.len() * d];
            for (k, &eta) in live.step.iter().enumerate() {
                let r = k * d..(k + 1) * d;
                let (xi, x0i) = (&live.x[r.clone()], &live.x0[r.clone()]);
                // z = P(x + eta * dir(grad)); x' = P(x + a (z - x) + (1 - a)(x - x_old)).
                let mut z = xi.to_vec();
                self.norm.ascend_project(&mut z, &live.grad[r.clone()], eta, x0i, eps, d, bounds);
                let row = &mut x_new[r.clone()];
                for (j, v) in row.iter_mut().enumerate() {
                    *v = xi[j] + a * (z[j] - xi[j]) + (1.0 - a) * (xi[j] - live.x_old[r.start + j]);
                }
                self.norm.project_clamp(row, x0i, eps, d, bounds);
            }
            live.x_old = std::mem::replace(&mut live.x, x_new);
            let (l, g, preds) = live.evaluate(path.as_mut(), c, b.goal, self.loss);
            live.loss = l;
            live.grad = g;
            let mut keep = vec![true; live.len()];
            for k in 0..live.len() {
                let (i, r) = (live.idx[k], k * d..(k + 1) * d);
                if b.fooled(i, preds[k]) {
                    fooled[i] = true;
                    keep[k] = false;
                    out[i * d..(i + 1) * d].copy_from_slice(&live.x[r]);
                    continue;
                }
                if live.loss[k] > live.prev_loss[k] {
                    live.raised[k] += 1;
                }
                if live.loss[k] > live.loss_best[k] {
                    live.loss_best[k] = live.loss[k];
                    live.x_best[r.clone()].copy_from_slice(&live.x[r.clone()]);
                    live.grad_best[r.clone()].copy_from_slice(&live.grad[r]);
                }
            }
            live.prev_loss.clone_from(&live.loss);
            if checks.get(next_check) == Some(&(it + 1)) {
                let interval = it + 1 - last_check;
                (next_check, last_check) = (next_check + 1, it + 1);
                for k in 0..live.len() {
                    let oscillates = (live.raised[k] as f32) <= self.rho * interval as f32;
                    let stalled = !live.halved_last[k] && live.best_at_check[k] >= live.loss_best[k];
                    let halve = oscillates || stalled;
                    live.halved_last[k] = halve;
                    live.best_at_check[k] = live.loss_best[k];
                    live.raised[k] = 0;
                    if halve {
                        live.step[k] /= 2.0;
                        let r = k * d..(k + 1) * d;
                        live.x[r.clone()].copy_from_slice(&live.x_best[r.clone()]);
                        live.grad[r.clone()].copy_from_slice(&live.grad_best[r]);
                    }
                }
            }
            if keep.contains(&false) {
                live.retain(&keep, d);
                path.retain(&keep);
            }
        }
        // The examples never fooled end at their point of highest loss.
        for (k, &i) in live.idx.iter().enumerate() {
            out[i * d..(i + 1) * d].copy_from_slice(&live.x_best[k * d..(k + 1) * d]);
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
