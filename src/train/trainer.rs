//! The one training loop: shuffled mini-batches, dropout, penalties, RMSProp, and the
//! adversarial-example hook.

use super::{penalty::weight_penalty, rmsprop::RmsProp, TrainConfig};
use crate::attack::{gradient::one_hot, Attack, Goal, Pgd};
use crate::backend::{tensor2, to_host};
use crate::error::{Error, Result};
use crate::model::{mlp::WEIGHT_PARAMS, Mlp};
use burn::tensor::{activation::log_softmax, Tensor};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Progress of a run, reported after every batch.
#[derive(Clone, Copy, Debug)]
pub struct TrainProgress {
    /// 1-based epoch.
    pub epoch: usize,
    /// Total epochs.
    pub epochs: usize,
    /// Batches done in this epoch.
    pub batch: usize,
    /// Batches per epoch.
    pub batches: usize,
    /// Loss of the last batch (including penalties).
    pub loss: f64,
}

/// Per-epoch statistics.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EpochStats {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss (including penalties) over the epoch's batches.
    pub mean_loss: f64,
    /// Wall seconds for the epoch.
    pub seconds: f64,
}

/// What a training run reports besides the model.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainReport {
    /// The configuration used.
    pub config: TrainConfig,
    /// One entry per epoch.
    pub epochs: Vec<EpochStats>,
    /// Training images used.
    pub train_images: usize,
}

/// Mean cross-entropy of a logits batch against labels, in the autodiff graph.
fn mean_ce(logits: Tensor<2>, labels: &[u8], classes: usize) -> Tensor<1> {
    (log_softmax(logits, 1) * one_hot(labels, classes))
        .sum()
        .mul_scalar(-1.0 / labels.len() as f64)
}

impl TrainReport {
    /// Mean training loss per epoch (reproducible, unlike the timings).
    pub fn epoch_losses(&self) -> Vec<f64> {
        self.epochs.iter().map(|e| e.mean_loss).collect()
    }
}

/// Trains the MLP on `x` (`[n, input]`, pixels in [0, 1]) and `labels`.
pub fn train(
    x: &[f32],
    labels: &[u8],
    cfg: &TrainConfig,
    progress: &mut dyn FnMut(TrainProgress),
) -> Result<(Mlp, TrainReport)> {
    cfg.validate()?;
    crate::backend::flush_denormals();
    let d = cfg.arch.input;
    if x.len() != labels.len() * d || labels.is_empty() {
        return Err(Error::Shape {
            what: "training images vs labels".into(),
            expected: format!("{} labels x {d} pixels (and at least one image)", labels.len()),
            found: format!("{} pixel values", x.len()),
        });
    }
    if let Some(i) = labels.iter().position(|&y| y as usize >= cfg.arch.classes) {
        return Err(Error::param("label", labels[i], format!("at index {i} is not a class")));
    }
    let n = cfg.train_subset.unwrap_or(labels.len()).min(labels.len());
    let classes = cfg.arch.classes;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut model = Mlp::init(cfg.arch.clone(), &mut rng)?;
    let mut opt = RmsProp::new(cfg.lr, cfg.rms_decay, cfg.rms_eps, model.params.len());
    let fgsm = Pgd::fgsm();
    let mut order: Vec<usize> = (0..n).collect();
    let batches = n.div_ceil(cfg.batch_size);
    let mut stats = Vec::with_capacity(cfg.epochs);
    for epoch in 1..=cfg.epochs {
        let start = Instant::now();
        order.shuffle(&mut rng);
        let mut loss_sum = 0.0;
        for (b, idx) in order.chunks(cfg.batch_size).enumerate() {
            let bs = idx.len();
            let mut xb = Vec::with_capacity(bs * d);
            let yb: Vec<u8> = idx.iter().map(|&i| labels[i]).collect();
            for &i in idx {
                xb.extend_from_slice(&x[i * d..(i + 1) * d]);
            }
            // The hook: adversarial examples of the current model (eval mode, one FGSM step).
            let x_adv = cfg.adv.as_ref().map(|adv| {
                let mut no_rng = rand::rngs::mock::StepRng::new(0, 0);
                let e = [adv.eps as f32];
                fgsm.run_multi(&model, &xb, Goal::Untargeted(&yb), &e, adv.clip, &mut no_rng)
                    .pop()
                    .unwrap_or_else(|| xb.clone())
            });
            let tracked: Vec<Tensor<2>> =
                model.params.iter().map(|p| p.clone().autodiff().require_grad()).collect();
            let ce_of = |xs: Vec<f32>, rng: &mut ChaCha8Rng| {
                let im = Mlp::dropout_mask(bs, d, cfg.arch.dropout_input, rng);
                let hm = Mlp::dropout_mask(bs, cfg.arch.hidden, cfg.arch.dropout_hidden, rng);
                let logits = Mlp::forward_with(&tracked, tensor2(xs, bs, d), im, hm);
                mean_ce(logits, &yb, classes)
            };
            let mut loss = match (&cfg.adv, x_adv) {
                (Some(adv), Some(xa)) => {
                    let clean = ce_of(xb, &mut rng).mul_scalar(1.0 - adv.weight);
                    clean + ce_of(xa, &mut rng).mul_scalar(adv.weight)
                }
                _ => ce_of(xb, &mut rng),
            };
            let weights: Vec<&Tensor<2>> = WEIGHT_PARAMS.iter().map(|&k| &tracked[k]).collect();
            if let Some(p) = weight_penalty(&weights, cfg.l1, cfg.l2) {
                loss = loss + p;
            }
            let grads = loss.backward();
            let loss_value = f64::from(to_host(loss.without_autodiff())[0]);
            if !loss_value.is_finite() {
                return Err(Error::param(
                    "lr",
                    cfg.lr,
                    format!("training diverged (loss {loss_value} at epoch {epoch}, batch {b})"),
                ));
            }
            for (k, t) in tracked.iter().enumerate() {
                if let Some(g) = t.grad(&grads) {
                    opt.step(k, &mut model.params[k], g);
                }
            }
            loss_sum += loss_value;
            progress(TrainProgress { epoch, epochs: cfg.epochs, batch: b + 1, batches, loss: loss_value });
        }
        stats.push(EpochStats {
            epoch,
            mean_loss: loss_sum / batches as f64,
            seconds: start.elapsed().as_secs_f64(),
        });
    }
    Ok((model, TrainReport { config: cfg.clone(), epochs: stats, train_images: n }))
}
