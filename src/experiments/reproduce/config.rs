//! Every setting of the paper reproduction; all recorded in its report.

use crate::error::{check_eps, Error, Result};
use crate::model::MlpConfig;
use serde::{Deserialize, Serialize};

/// Configuration of `redblue reproduce`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReproduceConfig {
    /// Model architecture (paper: 784-625-10, dropout 0.2/0.5, init N(0, 0.01)).
    pub arch: MlpConfig,
    /// Training epochs per model.
    pub epochs: usize,
    /// Mini-batch size.
    pub batch_size: usize,
    /// RMSProp learning rate.
    pub lr: f64,
    /// L1 values of the grid.
    pub l1_grid: Vec<f64>,
    /// L2 values of the grid.
    pub l2_grid: Vec<f64>,
    /// Number of seeds; every model is trained once per seed.
    pub seeds: usize,
    /// First seed; seed k is `base_seed + k`.
    pub base_seed: u64,
    /// FGSM budgets of Tables 1-3.
    pub fgsm_eps: Vec<f64>,
    /// FGSM adversarial-training budgets (the paper's claim).
    pub adv_train_eps: Vec<f64>,
    /// Weight a of the adversarial loss.
    pub adv_weight: f64,
    /// PGD budgets for the honesty check.
    pub pgd_eps: Vec<f64>,
    /// PGD steps.
    pub pgd_steps: usize,
    /// PGD restarts.
    pub pgd_restarts: usize,
    /// PGD on the first N test images only (None = all).
    pub pgd_subset: Option<usize>,
    /// Robustness-curve budgets.
    pub curve_eps: Vec<f64>,
    /// Robustness curves (FGSM and PGD on the same images) on the first N test images
    /// (None = all).
    pub curve_subset: Option<usize>,
    /// FGSM-minus-PGD accuracy gap (same eps, clipped) that flags gradient masking.
    pub masking_gap: f64,
    /// Train on the first N training images only (None = all).
    pub train_subset: Option<usize>,
    /// Evaluate on the first N test images only (None = all).
    pub test_subset: Option<usize>,
    /// Images per attack/eval batch (does not change results).
    pub eval_batch: usize,
    /// Budgets of the `auto` (AutoAttack standard) column of the robustness tables.
    #[serde(default = "default_auto_eps")]
    pub auto_eps: Vec<f64>,
    /// `auto` on the first N test images (None = all).
    #[serde(default = "default_auto_subset")]
    pub auto_subset: Option<usize>,
    /// Budgets at which every model's verified accuracy (CROWN, sound) is computed on the
    /// evaluation set; the PGD and `auto` cells also get theirs, on their own images.
    #[serde(default = "default_verify_eps")]
    pub verify_eps: Vec<f64>,
    /// Another architecture than the paper's MLP (`reproduce --arch`): every model of the
    /// run is this network, trained by the same loop (the paper's settings otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<crate::model::Arch>,
    /// The images of the certified table (the first N of the evaluation set; all when
    /// absent). A network's bounds cost far more than the MLP's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_subset: Option<usize>,
}

fn default_verify_eps() -> Vec<f64> {
    vec![0.01, 0.02, 0.05, 0.10]
}

fn default_auto_eps() -> Vec<f64> {
    vec![0.10, 0.25]
}

fn default_auto_subset() -> Option<usize> {
    Some(200)
}

impl Default for ReproduceConfig {
    fn default() -> Self {
        ReproduceConfig {
            arch: MlpConfig::default(),
            epochs: 20,
            batch_size: 128,
            lr: 0.001,
            l1_grid: vec![0.0, 1e-5, 1e-4],
            l2_grid: vec![0.0, 1e-5, 1e-4],
            seeds: 1,
            base_seed: 0,
            fgsm_eps: vec![0.05, 0.075, 0.10, 0.25],
            adv_train_eps: vec![0.10, 0.25],
            adv_weight: 0.5,
            pgd_eps: vec![0.10, 0.25],
            pgd_steps: 40,
            pgd_restarts: 1,
            pgd_subset: None,
            curve_eps: (0..=12).map(|i| i as f64 * 0.025).collect(),
            curve_subset: Some(1000),
            masking_gap: 0.10,
            train_subset: None,
            test_subset: None,
            eval_batch: 1000,
            auto_eps: default_auto_eps(),
            auto_subset: default_auto_subset(),
            verify_eps: default_verify_eps(),
            network: None,
            verify_subset: None,
        }
    }
}

impl ReproduceConfig {
    /// The `--quick` variant: same code path, 1 epoch on 6000 images, a 2x2 grid, 1000 test
    /// images, short PGD. For tests and CI; its numbers are not the paper's.
    pub fn quick() -> Self {
        ReproduceConfig {
            epochs: 1,
            l1_grid: vec![0.0, 1e-4],
            l2_grid: vec![0.0, 1e-4],
            pgd_steps: 10,
            pgd_subset: Some(300),
            curve_eps: (0..=6).map(|i| i as f64 * 0.05).collect(),
            curve_subset: Some(200),
            train_subset: Some(6000),
            test_subset: Some(1000),
            auto_subset: Some(100),
            ..ReproduceConfig::default()
        }
    }

    /// Rejects impossible settings before any work starts.
    pub fn validate(&self) -> Result<()> {
        self.arch.validate()?;
        if let Some(net) = &self.network {
            net.shapes()?;
        }
        let positive = |name: &'static str, v: usize| {
            if v == 0 {
                Err(Error::param(name, v, "must be at least 1"))
            } else {
                Ok(())
            }
        };
        positive("--epochs", self.epochs)?;
        positive("batch-size", self.batch_size)?;
        positive("--seeds", self.seeds)?;
        positive("--pgd-steps", self.pgd_steps)?;
        positive("--pgd-restarts", self.pgd_restarts)?;
        positive("eval-batch", self.eval_batch)?;
        if self.l1_grid.is_empty() || self.l2_grid.is_empty() {
            return Err(Error::param("grid", "empty", "l1 and l2 grids need at least one value"));
        }
        for &v in self.l1_grid.iter().chain(&self.l2_grid) {
            if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
                return Err(Error::param("l1/l2 grid value", v, "must be in [0, 1]"));
            }
        }
        let all_eps = self.fgsm_eps.iter().chain(&self.adv_train_eps).chain(&self.pgd_eps).chain(&self.curve_eps);
        for &e in all_eps.chain(&self.auto_eps).chain(&self.verify_eps) {
            check_eps("eps", e, 1.0)?;
        }
        if !self.fgsm_eps.contains(&0.10) {
            return Err(Error::param(
                "fgsm-eps",
                format!("{:?}", self.fgsm_eps),
                "must contain 0.1 (the selection rule)",
            ));
        }
        if !(self.adv_weight.is_finite() && (0.0..=1.0).contains(&self.adv_weight)) {
            return Err(Error::param("adv-weight", self.adv_weight, "must be in [0, 1]"));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(Error::param("lr", self.lr, "must be > 0"));
        }
        for (name, v) in [
            ("pgd-subset", self.pgd_subset),
            ("curve-subset", self.curve_subset),
            ("auto-subset", self.auto_subset),
            ("verify-subset", self.verify_subset),
            ("train-subset", self.train_subset),
            ("test-subset", self.test_subset),
        ] {
            if v == Some(0) {
                return Err(Error::param(name, 0, "must be at least 1"));
            }
        }
        Ok(())
    }
}
