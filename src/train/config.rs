//! Every knob of a training run, recorded in the model file and in reports.

use super::certified::CertTraining;
use crate::attack::ClipMode;
use crate::error::{check_eps, Error, Result};
use crate::model::{Arch, Engine, MlpConfig};
use serde::{Deserialize, Serialize};

/// Adversarial training: FGSM (Goodfellow et al., arXiv:1412.6572, section 6), or PGD with
/// `steps` > 1 (Madry et al., "Towards Deep Learning Models Resistant to Adversarial Attacks",
/// arXiv:1706.06083).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdvTraining {
    /// FGSM budget used to craft training examples.
    pub eps: f64,
    /// Weight `a` of the adversarial loss: `(1-a)*CE(x) + a*CE(x_adv)`.
    pub weight: f64,
    /// Clip crafted examples to [0, 1].
    pub clip: ClipMode,
    /// FGSM from a uniform random point of the eps-ball with a step of 1.25·eps, projected
    /// back (Wong, Rice & Kolter, "Fast is better than free", arXiv:2001.03994), instead of
    /// Goodfellow's step from the clean image; guards against catastrophic overfitting.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub random_start: bool,
    /// Gradient steps per training example: 1 is FGSM; more is Madry et al.'s PGD (a uniform
    /// random start in the eps-ball, steps of 2.5·eps/steps, each projected back).
    #[serde(default = "one_step", skip_serializing_if = "is_one_step")]
    pub steps: usize,
}

fn one_step() -> usize {
    1
}

fn is_one_step(s: &usize) -> bool {
    *s == 1
}

impl AdvTraining {
    /// The attack that crafts the training examples.
    pub fn attack(&self) -> crate::attack::Pgd {
        let fgsm = crate::attack::Pgd::fgsm();
        if self.steps > 1 {
            crate::attack::Pgd::madry(self.steps, 1)
        } else if self.random_start {
            crate::attack::Pgd { rel_step: 1.25, random_start: true, ..fgsm }
        } else {
            fgsm
        }
    }

    /// The training examples of batch `x` (labels `y`) against the current `model`, in eval
    /// mode. A random start (FGSM's, or PGD's) draws its stream's key from the run's `rng`
    /// (only then, so plain FGSM runs keep their stream).
    pub fn craft(
        &self,
        model: &dyn crate::model::Classifier,
        x: &[f32],
        y: &[u8],
        rng: &mut dyn rand::RngCore,
    ) -> Vec<f32> {
        use crate::attack::{Attack, Goal};
        use rand::SeedableRng;
        let mut start: Box<dyn rand::RngCore> = if self.random_start || self.steps > 1 {
            Box::new(rand_chacha::ChaCha8Rng::seed_from_u64(rng.next_u64()))
        } else {
            Box::new(rand::rngs::mock::StepRng::new(0, 0))
        };
        self.attack()
            .run_multi(model, x, Goal::Untargeted(y), &[self.eps as f32], self.clip, &mut start)
            .pop()
            .unwrap_or_else(|| x.to_vec())
    }
}

/// A full training configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// The paper's MLP's architecture (its input and class counts only, when `network` is set).
    pub arch: MlpConfig,
    /// Any other architecture to train instead of the MLP ([`crate::train::network`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Arch>,
    /// Passes over the training set.
    pub epochs: usize,
    /// Mini-batch size (paper: 128).
    pub batch_size: usize,
    /// RMSProp learning rate (paper: 0.001).
    pub lr: f64,
    /// Epochs after which the learning rate is multiplied by `lr_drop_factor` (none in the
    /// paper; a step schedule as in the certified-training papers).
    #[serde(default)]
    pub lr_drops: Vec<usize>,
    /// Factor applied to the learning rate at each of `lr_drops`.
    #[serde(default = "default_drop_factor")]
    pub lr_drop_factor: f64,
    /// RMSProp decay of the mean square (paper: 0.9).
    pub rms_decay: f64,
    /// RMSProp smoothing term added outside the square root (paper's "TinySmoothingValue").
    pub rms_eps: f64,
    /// L1 penalty on the weight matrices (not biases).
    pub l1: f64,
    /// L2 penalty (sum of squares) on the weight matrices (not biases).
    pub l2: f64,
    /// Adversarial training, if any.
    pub adv: Option<AdvTraining>,
    /// Certified (bound-based) training, if any (files from before it existed have none).
    #[serde(default)]
    pub certified: Option<CertTraining>,
    /// Seed for initialisation, shuffling and dropout.
    pub seed: u64,
    /// Train on the first N training images only (None = all).
    pub train_subset: Option<usize>,
    /// Compute engine (native kernels by default; burn is the reference).
    #[serde(default)]
    pub engine: Engine,
}

fn default_drop_factor() -> f64 {
    0.1
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            arch: MlpConfig::default(),
            network: None,
            epochs: 20,
            batch_size: 128,
            lr: 0.001,
            lr_drops: Vec::new(),
            lr_drop_factor: default_drop_factor(),
            rms_decay: 0.9,
            rms_eps: 1e-6,
            l1: 0.0,
            l2: 0.0,
            adv: None,
            certified: None,
            seed: 0,
            train_subset: None,
            engine: Engine::default(),
        }
    }
}

fn in_range(name: &'static str, v: f64, lo: f64, hi: f64) -> Result<()> {
    if v.is_finite() && v >= lo && v <= hi {
        Ok(())
    } else {
        Err(Error::param(name, v, format!("must be a number in [{lo}, {hi}]")))
    }
}

impl TrainConfig {
    /// The error for a non-finite `loss` at 1-based `epoch` and `batch`, naming the settings
    /// that most often cause it.
    pub fn diverged(&self, loss: f64, epoch: usize, batch: usize) -> Error {
        Error::Diverged {
            loss: loss.to_string(),
            epoch,
            batch,
            settings: format!(
                "RMSProp lr {}, decay {}, eps {}; l1 {}, l2 {}",
                self.lr, self.rms_decay, self.rms_eps, self.l1, self.l2
            ),
        }
    }

    /// The learning rate of 1-based `epoch`: `lr` times the drop factor once per drop passed.
    pub fn lr_at(&self, epoch: usize) -> f64 {
        let drops = self.lr_drops.iter().filter(|&&e| epoch > e).count();
        self.lr * self.lr_drop_factor.powi(drops as i32)
    }

    /// Rejects impossible hyper-parameters with a specific error.
    pub fn validate(&self) -> Result<()> {
        self.arch.validate()?;
        if self.epochs == 0 || self.epochs > 10_000 {
            return Err(Error::param("--epochs", self.epochs, "must be between 1 and 10000"));
        }
        if self.batch_size == 0 || self.batch_size > 1 << 20 {
            return Err(Error::param("--batch-size", self.batch_size, "must be between 1 and 1048576"));
        }
        if !(self.lr.is_finite() && self.lr > 0.0 && self.lr <= 10.0) {
            return Err(Error::param("--lr", self.lr, "must be in (0, 10]"));
        }
        if !(self.lr_drop_factor.is_finite() && self.lr_drop_factor > 0.0 && self.lr_drop_factor <= 1.0) {
            return Err(Error::param("--lr-drop-factor", self.lr_drop_factor, "must be in (0, 1]"));
        }
        for (k, &e) in self.lr_drops.iter().enumerate() {
            if e == 0 || e >= self.epochs || (k > 0 && e <= self.lr_drops[k - 1]) {
                return Err(Error::param(
                    "--lr-drops",
                    e,
                    format!(
                        "must be increasing epochs between 1 and {} (--epochs minus 1)",
                        self.epochs.saturating_sub(1)
                    ),
                ));
            }
        }
        in_range("--rms-decay", self.rms_decay, 0.0, 0.999_999)?;
        if !(self.rms_eps.is_finite() && self.rms_eps > 0.0 && self.rms_eps <= 1.0) {
            return Err(Error::param("--rms-eps", self.rms_eps, "must be in (0, 1]"));
        }
        in_range("--l1", self.l1, 0.0, 1.0)?;
        in_range("--l2", self.l2, 0.0, 1.0)?;
        if let Some(adv) = &self.adv {
            check_eps("--adv-eps", adv.eps, 1.0)?;
            in_range("--adv-weight", adv.weight, 0.0, 1.0)?;
            if adv.steps == 0 || adv.steps > 1000 {
                return Err(Error::param("--adv-steps", adv.steps, "must be between 1 and 1000"));
            }
            if adv.steps > 1 && adv.random_start {
                return Err(Error::param(
                    "--adv-random-start",
                    "with --adv-steps above 1",
                    "PGD training always starts at a random point of the ball; the flag is FGSM's",
                ));
            }
        }
        if let Some(cert) = &self.certified {
            if self.adv.is_some() {
                return Err(Error::param(
                    "--certified",
                    "with --adv-eps",
                    "choose one: certified training bounds the worst case itself, FGSM examples would be a second, weaker defence in the same loss",
                ));
            }
            if self.engine == Engine::Burn {
                return Err(Error::param(
                    "--certified",
                    "with --engine burn",
                    "certified training runs on the native engine only",
                ));
            }
            cert.validate(self.epochs)?;
        }
        if let Some(net) = &self.network {
            net.shapes()?;
            if self.certified.is_some() {
                return Err(Error::param(
                    "--certified",
                    "with --arch",
                    "certified training supports the one-hidden-layer MLP only so far",
                ));
            }
            if self.engine == Engine::Burn {
                return Err(Error::param(
                    "--engine",
                    "burn",
                    "networks other than the MLP train on the native engine only",
                ));
            }
        }
        if self.train_subset == Some(0) {
            return Err(Error::param("--train-subset", 0, "must be at least 1"));
        }
        Ok(())
    }
}
