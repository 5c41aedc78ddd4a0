//! The red team: attacks that turn clean images into adversarial ones.
//!
//! One input-gradient function ([`gradient`]), one geometry ([`norm`]), one PGD core
//! ([`pgd`]); FGSM is that core with a single full step and no random start. Every attack's
//! output passes through [`enforce_budget`] (projection and clipping), which the evaluation
//! harness applies itself, so no attack can hand back an out-of-budget image.

pub mod apgd;
pub mod auto;
pub mod fab;
pub mod goal;
pub mod gradient;
pub mod hyperplane;
pub mod loss;
pub mod norm;
pub mod pgd;
pub mod square;
pub mod targeted;

pub use apgd::Apgd;
pub use auto::Auto;
pub use fab::Fab;
pub use goal::Goal;
pub use loss::Loss;
pub use norm::Norm;
pub use pgd::Pgd;
pub use square::Square;
pub use targeted::{Target, Targeted};

use crate::model::Classifier;
use serde::{Deserialize, Serialize};

/// The attack names redblue writes into adversarial-set files; a set naming another is refused.
pub const KNOWN: &[&str] = &["fgsm", "pgd", "apgd", "apgd-t", "fab-t", "square", "auto"];

/// Whether adversarial images are clipped to the model's valid input range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClipMode {
    /// Clip to the valid image range (the honest default).
    Clipped,
    /// The paper's equation as written: x + eps*sign(grad), pixels may leave [0, 1].
    Unclipped,
}

impl ClipMode {
    /// Name used in files and reports.
    pub fn name(self) -> &'static str {
        match self {
            ClipMode::Clipped => "clipped",
            ClipMode::Unclipped => "unclipped",
        }
    }
}

/// An attack: given a model and a batch, produce adversarial images.
pub trait Attack: Sync {
    /// Short name ("fgsm", "pgd").
    fn name(&self) -> &'static str;
    /// The attack's parameters for reports and file metadata.
    fn params(&self) -> serde_json::Value;
    /// Threat model.
    fn norm(&self) -> Norm;
    /// Adversarial versions of the batch `x` (`[n, input_dim]`) at budget `eps`, flat. `rng`
    /// drives any randomness (random starts, random search).
    fn run_one(
        &self,
        model: &dyn Classifier,
        x: &[f32],
        goal: Goal<'_>,
        eps: f32,
        clip: ClipMode,
        rng: &mut dyn rand::RngCore,
    ) -> Vec<f32>;

    /// [`Attack::run_one`] for each epsilon in `eps`, one flat vector per epsilon (attacks that
    /// share work across budgets, as FGSM does, override it).
    fn run_multi(
        &self,
        model: &dyn Classifier,
        x: &[f32],
        goal: Goal<'_>,
        eps: &[f32],
        clip: ClipMode,
        rng: &mut dyn rand::RngCore,
    ) -> Vec<Vec<f32>> {
        eps.iter().map(|&e| self.run_one(model, x, goal, e, clip, rng)).collect()
    }

    /// Whether the attack's first step uses the loss gradient at the clean images (FGSM). The
    /// evaluation harness then computes that gradient itself, which also gives it the clean
    /// logits, and hands it to [`Attack::run_multi_from`]: one forward pass fewer per batch.
    /// The same attack with twice the iterations (or queries) and more restarts, for the report
    /// card's convergence check; `None` when there is no such variant.
    fn stronger(&self) -> Option<Box<dyn Attack>> {
        None
    }

    /// How the attack picks each image's target class, for a targeted attack
    /// ([`Targeted`]); the judge then also reports how often the target was hit.
    fn target(&self) -> Option<Target> {
        None
    }

    /// `Some(precision)`: the gradient is wanted at that precision.
    fn starts_at_clean_gradient(&self) -> Option<gradient::Precision> {
        None
    }

    /// [`Attack::run_multi`], given the model's input gradient at `x` for the goal's labels.
    #[allow(clippy::too_many_arguments)]
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
        let _ = clean;
        self.run_multi(model, x, goal, eps, clip, rng)
    }
}

/// Projects `x_adv` onto the eps-ball around `x0` and, when clipped, into the model's bounds.
/// The harness calls this on every attack output; it is idempotent for honest attacks.
#[allow(clippy::too_many_arguments)]
pub fn enforce_budget(
    norm: Norm,
    x_adv: &mut [f32],
    x0: &[f32],
    eps: f32,
    dim: usize,
    clip: ClipMode,
    bounds: (f32, f32),
) {
    norm.project_clamp(x_adv, x0, eps, dim, (clip == ClipMode::Clipped).then_some(bounds));
}
