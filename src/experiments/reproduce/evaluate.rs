//! Everything measured on one model: FGSM in both clip modes, PGD, and the FGSM twin of the
//! PGD check on the same subset; robustness curves for selected models.

use super::plan::{Curves, ModelResult, ModelSpec, Verified};
use super::ReproduceConfig;
use crate::attack::{ClipMode, Pgd};
use crate::certify::{self, Method};
use crate::error::Result;
use crate::eval::{self, Row, SweepConfig};
use crate::model::{Classifier, Model};
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
    model: &dyn Classifier,
    attack: &dyn crate::attack::Attack,
    set: &EvalSet<'_>,
    eps: &[f64],
    clip: ClipMode,
    cfg: &ReproduceConfig,
    seed: u64,
) -> Result<Vec<Row>> {
    let sc = SweepConfig { eps: eps.to_vec(), clip, batch_size: cfg.eval_batch, seed };
    Ok(eval::sweep(model, attack, set.x, set.y, &sc, &mut |_, _| {})?.rows)
}

/// The bound of the reproduction's verified accuracies.
pub const VERIFY_METHOD: Method = Method::Crown;

/// Gives each row its verified accuracy (CROWN, clipped) on the same images and budget,
/// taken from `known` (computed on the first `known`'s `n` images of the same set) where it
/// holds that budget on the same images; else computed for the paper's MLP, and for a network
/// only on a set no larger than the certified table's `limit` (its bounds cost tens of
/// milliseconds an image).
fn with_verified(
    model: &Model,
    set: &EvalSet<'_>,
    mut rows: Vec<Row>,
    known: &[Verified],
    limit: Option<usize>,
) -> Result<Vec<Row>> {
    let affordable = model.mlp().is_some() || set.y.len() <= limit.unwrap_or(usize::MAX);
    for r in &mut rows {
        let same = known.iter().find(|v| v.eps == r.eps && v.n == set.y.len() && v.method == VERIFY_METHOD);
        r.verified = match same {
            Some(v) => Some(v.accuracy),
            None if affordable => Some(verified_on(model, set, r.eps)?),
            None => None,
        };
    }
    Ok(rows)
}

fn verified_on(model: &Model, set: &EvalSet<'_>, eps: f64) -> Result<f64> {
    let norm = crate::attack::Norm::Linf;
    certify::model_verified_accuracy(model, set.x, set.y, norm, eps, Some(model.bounds()), VERIFY_METHOD)
}

/// Verified accuracy (CROWN, clipped) on `set` at each budget.
pub fn verified(model: &Model, set: &EvalSet<'_>, eps: &[f64]) -> Result<Vec<Verified>> {
    eval::sweep::eps_list(eps, 1.0)?
        .into_iter()
        .map(|e| Ok(Verified { eps: e, n: set.y.len(), method: VERIFY_METHOD, accuracy: verified_on(model, set, e)? }))
        .collect()
}

/// The PGD attack of the reproduction.
pub fn pgd_attack(cfg: &ReproduceConfig) -> Pgd {
    Pgd::madry(cfg.pgd_steps, cfg.pgd_restarts)
}

/// FGSM (clipped) at the PGD budgets on the PGD images. FGSM is deterministic and each eps
/// is computed on its own, so when the PGD images are the whole set and the PGD budgets are
/// among the FGSM ones, those rows are already in `fgsm_clipped`; otherwise the sweep runs.
fn fgsm_on_pgd_set(
    model: &Model,
    fgsm_clipped: &[Row],
    set: &EvalSet<'_>,
    pgd_set: &EvalSet<'_>,
    cfg: &ReproduceConfig,
) -> Result<Vec<Row>> {
    if pgd_set.y.len() == set.y.len() {
        let eps = eval::sweep::eps_list(&cfg.pgd_eps, 1.0)?;
        let rows: Option<Vec<Row>> = eps.iter().map(|&e| fgsm_clipped.iter().find(|r| r.eps == e).cloned()).collect();
        if let Some(rows) = rows {
            return Ok(rows);
        }
    }
    run_sweep(model, &Pgd::fgsm(), pgd_set, &cfg.pgd_eps, ClipMode::Clipped, cfg, 0)
}

/// Measures one trained model.
pub fn measure(
    spec: &ModelSpec,
    model: &Model,
    report: &TrainReport,
    train_seconds: f64,
    set: &EvalSet<'_>,
    cfg: &ReproduceConfig,
) -> Result<ModelResult> {
    let fgsm = Pgd::fgsm();
    let fgsm32 = Pgd { precision: crate::nn::Precision::Float32, ..Pgd::fgsm() };
    let pgd_set = set.head(cfg.pgd_subset);
    let auto = crate::attack::Auto::standard(crate::attack::Norm::Linf);
    let auto_set = set.head(cfg.auto_subset);
    let fgsm_clipped = run_sweep(model, &fgsm, set, &cfg.fgsm_eps, ClipMode::Clipped, cfg, 0)?;
    let fgsm_on_pgd_subset = fgsm_on_pgd_set(model, &fgsm_clipped, set, &pgd_set, cfg)?;
    let verified = verified(model, &set.head(cfg.verify_subset), &cfg.verify_eps)?;
    Ok(ModelResult {
        spec: spec.clone(),
        train: report.config.clone(),
        train_seconds,
        final_train_loss: report.epochs.last().map(|e| e.mean_loss).unwrap_or(f64::NAN),
        fgsm_unclipped: run_sweep(model, &fgsm, set, &cfg.fgsm_eps, ClipMode::Unclipped, cfg, 0)?,
        fgsm_clipped,
        pgd: with_verified(
            model,
            &pgd_set,
            run_sweep(model, &pgd_attack(cfg), &pgd_set, &cfg.pgd_eps, ClipMode::Clipped, cfg, spec.seed)?,
            &verified,
            cfg.verify_subset,
        )?,
        fgsm_on_pgd_subset,
        fgsm_clipped_float32: run_sweep(model, &fgsm32, set, &cfg.fgsm_eps, ClipMode::Clipped, cfg, 0)?,
        fgsm_unclipped_float32: run_sweep(model, &fgsm32, set, &cfg.fgsm_eps, ClipMode::Unclipped, cfg, 0)?,
        auto: with_verified(
            model,
            &auto_set,
            run_sweep(model, &auto, &auto_set, &cfg.auto_eps, ClipMode::Clipped, cfg, spec.seed)?,
            &verified,
            cfg.verify_subset,
        )?,
        verified,
    })
}

/// Accuracy-vs-eps curves (clipped) under FGSM and PGD, both on the curve subset.
pub fn curves(
    name: &str,
    label: &str,
    seed: u64,
    model: &Model,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Mlp, MlpConfig};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn reused_fgsm_rows_equal_a_fresh_sweep() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let arch = MlpConfig { input: 20, hidden: 30, classes: 10, init_std: 0.3, ..MlpConfig::default() };
        let model = Model::Mlp(Mlp::init(arch, &mut rng).expect("init"));
        let x: Vec<f32> = (0..50 * 20).map(|_| rng.gen()).collect();
        let y: Vec<u8> = (0..50).map(|_| rng.gen_range(0..10)).collect();
        let set = EvalSet { x: &x, y: &y, dim: 20 };
        let cfg = ReproduceConfig { pgd_eps: vec![0.25, 0.10], eval_batch: 16, ..ReproduceConfig::default() };
        let fgsm_clipped =
            run_sweep(&model, &Pgd::fgsm(), &set, &cfg.fgsm_eps, ClipMode::Clipped, &cfg, 0).expect("sweep");
        let reused = fgsm_on_pgd_set(&model, &fgsm_clipped, &set, &set.head(None), &cfg).expect("reuse");
        let fresh = run_sweep(&model, &Pgd::fgsm(), &set, &cfg.pgd_eps, ClipMode::Clipped, &cfg, 0).expect("sweep");
        assert_eq!(reused, fresh);
        assert_eq!(reused.iter().map(|r| r.eps).collect::<Vec<_>>(), [0.0, 0.10, 0.25]);
        // A budget FGSM did not run, or a smaller PGD set, is swept afresh.
        let other = ReproduceConfig { pgd_eps: vec![0.2], ..cfg.clone() };
        let swept = fgsm_on_pgd_set(&model, &fgsm_clipped, &set, &set, &other).expect("sweep");
        assert_eq!(swept[1].eps, 0.2);
        let head = set.head(Some(20));
        assert_eq!(fgsm_on_pgd_set(&model, &fgsm_clipped, &set, &head, &cfg).expect("sweep")[0].n, 20);
    }
}
