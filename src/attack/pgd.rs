//! Projected gradient descent (PGD), and FGSM as its one-step case.
//!
//! - FGSM: Goodfellow, Shlens, Szegedy, "Explaining and Harnessing Adversarial Examples",
//!   arXiv:1412.6572. x_adv = x + eps * sign(grad_x CE(theta, x, y)).
//! - PGD: Madry et al., "Towards Deep Learning Models Resistant to Adversarial Attacks",
//!   arXiv:1706.06083. Random start in the eps-ball, then `steps` signed-gradient steps of size
//!   `rel_step * eps`, each followed by projection onto the ball and clipping to [0, 1];
//!   `restarts` independent runs keep, per example, the worst case for the model.
//!
//! Norm: L-inf. Defaults (pixel units, images in [0, 1]): steps 40, rel_step 2.5/steps,
//! random start on, restarts 1. FGSM: steps 1, rel_step 1, no random start.

use super::{enforce_budget, gradient, Attack, ClipMode, Goal, Loss, Norm};
use crate::error::{Error, Result};
use crate::model::Classifier;
use crate::nn::Precision;
use serde::{Deserialize, Serialize};

/// The PGD core's configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pgd {
    /// Gradient steps per restart.
    pub steps: usize,
    /// Step size as a fraction of eps.
    pub rel_step: f32,
    /// Start from a uniform random point in the eps-ball.
    pub random_start: bool,
    /// Independent runs; per example the most damaging result is kept.
    pub restarts: usize,
    /// The loss ascended (cross-entropy by default; CW margin or DLR, [`Loss`]).
    #[serde(default)]
    pub loss: Loss,
    /// The threat model (L-inf by default; L2 steps along the gradient over its length).
    #[serde(default = "linf")]
    pub norm: Norm,
    /// How FGSM's one gradient is computed: exact signs (the default) or the frameworks'
    /// float32 computation ([`Precision`]). Iterative PGD always takes the stable logit
    /// gradient with f32 products: there exact products changed nothing measurable.
    #[serde(default)]
    pub precision: Precision,
}

fn linf() -> Norm {
    Norm::Linf
}

impl Pgd {
    /// FGSM: one step of size eps from the clean image.
    pub fn fgsm() -> Self {
        Pgd {
            steps: 1,
            rel_step: 1.0,
            random_start: false,
            restarts: 1,
            loss: Loss::Ce,
            norm: Norm::Linf,
            precision: Precision::Exact,
        }
    }

    /// Madry et al.'s PGD with `steps` steps of 2.5*eps/steps and a random start.
    pub fn madry(steps: usize, restarts: usize) -> Self {
        Pgd {
            steps,
            rel_step: 2.5 / steps.max(1) as f32,
            random_start: true,
            restarts,
            loss: Loss::Ce,
            norm: Norm::Linf,
            precision: Precision::Exact,
        }
    }

    /// Rejects impossible settings.
    pub fn validate(&self) -> Result<()> {
        if self.steps == 0 || self.steps > 100_000 {
            return Err(Error::param("--steps", self.steps, "must be between 1 and 100000"));
        }
        if self.restarts == 0 || self.restarts > 10_000 {
            return Err(Error::param("--restarts", self.restarts, "must be between 1 and 10000"));
        }
        if !(self.rel_step.is_finite() && self.rel_step > 0.0 && self.rel_step <= 10.0) {
            return Err(Error::param("--rel-step", self.rel_step, "must be in (0, 10]"));
        }
        if self.loss.targeted() {
            return Err(Error::param(
                "--loss",
                self.loss.name(),
                "PGD takes ce, cw or dlr (the targeted DLR needs target classes)",
            ));
        }
        Ok(())
    }

    /// One full step of cross-entropy from the clean image: FGSM (L-inf) or FGM (L2).
    fn is_one_step(&self) -> bool {
        self.steps == 1 && !self.random_start && self.loss == Loss::Ce
    }

    /// The L-inf one-step case, whose images for every eps come from one gradient and lie on
    /// rays from the clean image (the engines' fast path).
    fn is_fgsm(&self) -> bool {
        self.is_one_step() && self.norm == Norm::Linf
    }

    /// One restart: from the (random) start, `steps` projected signed-gradient steps.
    fn one_run(
        &self,
        model: &dyn Classifier,
        x0: &[f32],
        goal: Goal<'_>,
        eps: f32,
        clip: ClipMode,
        rng: &mut dyn rand::RngCore,
    ) -> Vec<f32> {
        let (norm, dim) = (self.norm, model.input_dim());
        let bounds = model.bounds();
        let mut x = if self.random_start && eps > 0.0 { norm.random_start(x0, eps, dim, rng) } else { x0.to_vec() };
        enforce_budget(norm, &mut x, x0, eps, dim, clip, bounds);
        let alpha = self.rel_step * eps * goal.step_sign();
        let mut path = model.gradient_path();
        for _ in 0..self.steps {
            let g = match self.loss {
                Loss::Ce => path.gradient(&x, goal.labels()).grad,
                other => gradient::loss_gradient(model, &x, goal.labels(), None, other).grad,
            };
            // x += alpha·direction(g), projected and clipped, in one pass (as `enforce_budget`).
            norm.ascend_project(&mut x, &g, alpha, x0, eps, dim, (clip == ClipMode::Clipped).then_some(bounds));
        }
        x
    }

    /// Runs all restarts for one eps, keeping per example the attacker's best result:
    /// a success beats a failure, then the higher attacker score (loss) wins.
    fn run_eps(
        &self,
        model: &dyn Classifier,
        x0: &[f32],
        goal: Goal<'_>,
        eps: f32,
        clip: ClipMode,
        rng: &mut dyn rand::RngCore,
    ) -> Vec<f32> {
        let d = model.input_dim();
        let mut best = self.one_run(model, x0, goal, eps, clip, rng);
        if self.restarts == 1 {
            return best;
        }
        let mut best_key = keys(model, &best, goal, self.loss);
        for _ in 1..self.restarts {
            let cand = self.one_run(model, x0, goal, eps, clip, rng);
            let cand_key = keys(model, &cand, goal, self.loss);
            for (i, (ck, bk)) in cand_key.iter().zip(best_key.iter_mut()).enumerate() {
                if ck > bk {
                    *bk = *ck;
                    best[i * d..(i + 1) * d].copy_from_slice(&cand[i * d..(i + 1) * d]);
                }
            }
        }
        best
    }
}

/// Per-example (success, score) used to compare restarts; larger is better for the attacker.
/// The score is the attack's own loss.
fn keys(model: &dyn Classifier, x: &[f32], goal: Goal<'_>, loss: Loss) -> Vec<(bool, f32)> {
    let n = goal.labels().len();
    let logits = gradient::logits_host(model, x, n);
    let c = model.num_classes();
    (0..n)
        .map(|i| {
            let row = &logits[i * c..(i + 1) * c];
            let y = goal.labels()[i] as usize;
            let value = match loss {
                Loss::Ce => crate::nn::ops::cross_entropy(row, y) as f32,
                other => other.value_grad(row, y, None, 1.0, &mut vec![0.0; c]),
            };
            (goal.is_success(i, argmax(row)), goal.score(value))
        })
        .collect()
}

pub use crate::nn::ops::argmax;

impl Attack for Pgd {
    fn name(&self) -> &'static str {
        if self.is_one_step() {
            "fgsm"
        } else {
            "pgd"
        }
    }

    fn params(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    fn norm(&self) -> Norm {
        self.norm
    }

    fn run_multi(
        &self,
        model: &dyn Classifier,
        x: &[f32],
        goal: Goal<'_>,
        eps: &[f32],
        clip: ClipMode,
        rng: &mut dyn rand::RngCore,
    ) -> Vec<Vec<f32>> {
        if self.is_fgsm() {
            let g = gradient::input_gradient_at(model, x, goal.labels(), self.precision);
            return self.fgsm_from(model, x, goal, eps, clip, &g.grad);
        }
        eps.iter().map(|&e| self.run_eps(model, x, goal, e, clip, rng)).collect()
    }

    fn run_one(
        &self,
        model: &dyn Classifier,
        x: &[f32],
        goal: Goal<'_>,
        eps: f32,
        clip: ClipMode,
        rng: &mut dyn rand::RngCore,
    ) -> Vec<f32> {
        self.run_eps(model, x, goal, eps, clip, rng)
    }

    fn stronger(&self) -> Option<Box<dyn Attack>> {
        // FGSM's stronger variant is an iterative attack: the card compares them separately.
        (!self.is_one_step()).then(|| {
            let steps = self.steps * 2;
            let rel_step = self.rel_step / 2.0;
            Box::new(Pgd { steps, rel_step, restarts: (self.restarts * 2).min(100), ..self.clone() }) as Box<dyn Attack>
        })
    }

    fn starts_at_clean_gradient(&self) -> Option<Precision> {
        self.is_fgsm().then_some(self.precision)
    }

    fn run_multi_from(
        &self,
        model: &dyn Classifier,
        x: &[f32],
        goal: Goal<'_>,
        eps: &[f32],
        clip: ClipMode,
        rng: &mut dyn rand::RngCore,
        clean: &gradient::InputGradient,
    ) -> Vec<Vec<f32>> {
        if self.is_fgsm() && clean.grad.len() == x.len() {
            return self.fgsm_from(model, x, goal, eps, clip, &clean.grad);
        }
        self.run_multi(model, x, goal, eps, clip, rng)
    }
}

impl Pgd {
    /// FGSM for every eps from one gradient (its sign does not depend on eps).
    fn fgsm_from(
        &self,
        model: &dyn Classifier,
        x: &[f32],
        goal: Goal<'_>,
        eps: &[f32],
        clip: ClipMode,
        grad: &[f32],
    ) -> Vec<Vec<f32>> {
        let s = goal.step_sign() * self.rel_step;
        eps.iter()
            .map(|&e| {
                let bounds = (clip == ClipMode::Clipped).then_some(model.bounds());
                Norm::Linf.step_from(x, grad, s * e, e, model.input_dim(), bounds)
            })
            .collect()
    }
}
