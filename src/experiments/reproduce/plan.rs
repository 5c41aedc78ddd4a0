//! Which models the reproduction trains, and how their results are stored.

use super::ReproduceConfig;
use crate::eval::Row;
use crate::train::{AdvTraining, TrainConfig};
use serde::{Deserialize, Serialize};

/// One model to train: its penalties, adversarial training and seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    /// File-friendly unique name, e.g. `l1-1e-4_l2-0_s0` or `adv-0.1_l1-0_l2-0_s0`.
    pub name: String,
    /// Name without the seed: models that differ only by seed share it.
    pub group: String,
    /// L1 penalty.
    pub l1: f64,
    /// L2 penalty.
    pub l2: f64,
    /// FGSM adversarial-training eps, if adversarially trained.
    pub adv_eps: Option<f64>,
    /// Training seed.
    pub seed: u64,
}

fn fmt_coef(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else {
        format!("{v:e}")
    }
}

impl ModelSpec {
    /// Builds a spec and its names.
    pub fn new(l1: f64, l2: f64, adv_eps: Option<f64>, seed: u64) -> Self {
        let reg = format!("l1-{}_l2-{}", fmt_coef(l1), fmt_coef(l2));
        let group = match adv_eps {
            Some(e) => format!("adv-{e}_{reg}"),
            None => reg,
        };
        ModelSpec { name: format!("{group}_s{seed}"), group, l1, l2, adv_eps, seed }
    }

    /// The full training configuration of this model under `cfg`.
    pub fn train_config(&self, cfg: &ReproduceConfig) -> TrainConfig {
        TrainConfig {
            arch: cfg.arch.clone(),
            network: cfg.network.clone(),
            epochs: cfg.epochs,
            batch_size: cfg.batch_size,
            lr: cfg.lr,
            l1: self.l1,
            l2: self.l2,
            adv: self.adv_eps.map(|eps| AdvTraining {
                eps,
                weight: cfg.adv_weight,
                clip: crate::attack::ClipMode::Clipped,
                random_start: false,
                steps: 1,
            }),
            seed: self.seed,
            train_subset: cfg.train_subset,
            ..TrainConfig::default()
        }
    }
}

/// The seeds of a run.
pub fn seeds(cfg: &ReproduceConfig) -> Vec<u64> {
    (0..cfg.seeds as u64).map(|k| cfg.base_seed + k).collect()
}

/// The paper's grid: every (l1, l2) pair, every seed, in grid order.
pub fn grid_specs(cfg: &ReproduceConfig) -> Vec<ModelSpec> {
    let mut out = Vec::new();
    for &l1 in &cfg.l1_grid {
        for &l2 in &cfg.l2_grid {
            for s in seeds(cfg) {
                out.push(ModelSpec::new(l1, l2, None, s));
            }
        }
    }
    out
}

/// Adversarially trained models: each adv eps, without and with the chosen penalties.
pub fn adv_specs(cfg: &ReproduceConfig, chosen: (f64, f64)) -> Vec<ModelSpec> {
    let mut out = Vec::new();
    for &eps in &cfg.adv_train_eps {
        for (l1, l2) in [(0.0, 0.0), chosen] {
            for s in seeds(cfg) {
                let spec = ModelSpec::new(l1, l2, Some(eps), s);
                if !out.contains(&spec) {
                    out.push(spec);
                }
            }
        }
    }
    out
}

/// Everything measured on one trained model.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModelResult {
    /// Which model.
    pub spec: ModelSpec,
    /// Its full training configuration.
    pub train: TrainConfig,
    /// Wall seconds spent training (0 if loaded from a previous run).
    pub train_seconds: f64,
    /// Mean training loss of the last epoch.
    pub final_train_loss: f64,
    /// FGSM sweep, clipped to [0, 1]; row 0 is clean.
    pub fgsm_clipped: Vec<Row>,
    /// FGSM sweep, unclipped (the paper's equation as written); row 0 is clean.
    pub fgsm_unclipped: Vec<Row>,
    /// PGD sweep (clipped) on the PGD subset; row 0 is clean on that subset.
    pub pgd: Vec<Row>,
    /// FGSM (clipped) at the same eps and on the same subset as `pgd`, for the masking check.
    pub fgsm_on_pgd_subset: Vec<Row>,
    /// FGSM clipped with the frameworks' float32 gradient (`fgsm_clipped` has exact signs).
    #[serde(default)]
    pub fgsm_clipped_float32: Vec<Row>,
    /// FGSM unclipped with the frameworks' float32 gradient.
    #[serde(default)]
    pub fgsm_unclipped_float32: Vec<Row>,
    /// `auto` (AutoAttack's standard sequence, clipped) on the auto subset; row 0 is clean there.
    #[serde(default)]
    pub auto: Vec<Row>,
    /// Verified accuracy (CROWN, clipped) on the evaluation set at the verify budgets.
    #[serde(default)]
    pub verified: Vec<Verified>,
}

/// A proven lower bound on robust accuracy at one budget.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Verified {
    /// L-inf radius.
    pub eps: f64,
    /// Images.
    pub n: usize,
    /// The bound that verified.
    pub method: crate::certify::Method,
    /// Share verified.
    pub accuracy: f64,
}

/// Accuracy-vs-eps curves of one model.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Curves {
    /// Model name.
    pub model: String,
    /// Label used in the plot.
    pub label: String,
    /// FGSM (clipped) on the curve subset.
    pub fgsm: Vec<Row>,
    /// PGD (clipped) on the same images.
    pub pgd: Vec<Row>,
}

/// Looks up the row for `eps` in a sweep.
pub fn at(rows: &[Row], eps: f64) -> Option<&Row> {
    rows.iter().find(|r| (r.eps - eps).abs() < 1e-9)
}
