//! Everything measured on one model: FGSM in both clip modes, PGD, and the FGSM twin of the
//! PGD check on the same subset; robustness curves for selected models.

use super::plan::{Curves, ModelResult, ModelSpec};
use super::ReproduceConfig;
use crate::attack::{ClipMode, Pgd};
use crate::error::Result;
use crate::eval::{self, Row, SweepConfig};
use crate::model::Mlp;
use crate::train::TrainReport;

/// The evaluation images: the test set or its first `test_subset` images.
pub struct EvalSet<'a> {
    /// Flattened images.
    pub x: &'a [f32],
    /// Labels.
    pub y: &'a [u8],
    /// Pixels per image.
    pub dim: usize,
}

impl<'a> EvalSet<'a> {
    /// The first `n` images (or all when `n` is None or larger).
    pub fn head(&self, n: Option<usize>) -> EvalSet<'a> {
        let n = n.unwrap_or(self.y.len()).min(self.y.len());
        EvalSet { x: &self.x[..n * self.dim], y: &self.y[..n], dim: self.dim }
    }
}

fn run_sweep(
    model: &Mlp,
    attack: &Pgd,
    set: &EvalSet<'_>,
    eps: &[f64],
    clip: ClipMode,
    cfg: &ReproduceConfig,
    seed: u64,
) -> Result<Vec<Row>> {
    let sc = SweepConfig { eps: eps.to_vec(), clip, batch_size: cfg.eval_batch, seed };
    Ok(eval::sweep(model, attack, set.x, set.y, &sc, &mut |_, _| {})?.rows)
}

/// The PGD attack of the reproduction.
pub fn pgd_attack(cfg: &ReproduceConfig) -> Pgd {
    Pgd::madry(cfg.pgd_steps, cfg.pgd_restarts)
}

/// Measures one trained model.
pub fn measure(
    spec: &ModelSpec,
    model: &Mlp,
    report: &TrainReport,
    train_seconds: f64,
    set: &EvalSet<'_>,
    cfg: &ReproduceConfig,
) -> Result<ModelResult> {
    let fgsm = Pgd::fgsm();
    let pgd_set = set.head(cfg.pgd_subset);
    Ok(ModelResult {
        spec: spec.clone(),
        train: report.config.clone(),
        train_seconds,
        final_train_loss: report.epochs.last().map(|e| e.mean_loss).unwrap_or(f64::NAN),
        fgsm_clipped: run_sweep(model, &fgsm, set, &cfg.fgsm_eps, ClipMode::Clipped, cfg, 0)?,
        fgsm_unclipped: run_sweep(model, &fgsm, set, &cfg.fgsm_eps, ClipMode::Unclipped, cfg, 0)?,
        pgd: run_sweep(model, &pgd_attack(cfg), &pgd_set, &cfg.pgd_eps, ClipMode::Clipped, cfg, spec.seed)?,
        fgsm_on_pgd_subset: run_sweep(model, &fgsm, &pgd_set, &cfg.pgd_eps, ClipMode::Clipped, cfg, 0)?,
    })
}

/// Accuracy-vs-eps curves (clipped) under FGSM and PGD, both on the curve subset.
pub fn curves(
    name: &str,
    label: &str,
    seed: u64,
    model: &Mlp,
    set: &EvalSet<'_>,
    cfg: &ReproduceConfig,
) -> Result<Curves> {
    let sub = set.head(cfg.curve_subset);
    Ok(Curves {
        model: name.to_string(),
        label: label.to_string(),
        fgsm: run_sweep(model, &Pgd::fgsm(), &sub, &cfg.curve_eps, ClipMode::Clipped, cfg, 0)?,
        pgd: run_sweep(model, &pgd_attack(cfg), &sub, &cfg.curve_eps, ClipMode::Clipped, cfg, seed)?,
    })
}
