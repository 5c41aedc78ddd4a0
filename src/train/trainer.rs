//! The one training loop: shuffled mini-batches, dropout, penalties, RMSProp, and the
//! adversarial-example hook.

use super::step::{Batch, Stepper};
use super::TrainConfig;
use crate::error::{Error, Result};
use crate::model::{Engine, Mlp};
use crate::native::images::Images;
use crate::native::sparse::SparseRows;
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
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut model = Mlp::init(cfg.arch.clone(), &mut rng)?.with_engine(cfg.engine);
    let mut stepper = Stepper::new(cfg, &model);
    let mut order: Vec<usize> = (0..n).collect();
    let batches = n.div_ceil(cfg.batch_size);
    let mut stats = Vec::with_capacity(cfg.epochs);
    let mut xb = Vec::with_capacity(cfg.batch_size * d);
    // The native engine builds each batch's sparse input straight from the training set's
    // sparse form.
    let index = match cfg.engine {
        Engine::Native => Some(SparseRows::from_dense(&x[..n * d], d)),
        Engine::Burn => None,
    };
    for epoch in 1..=cfg.epochs {
        let start = Instant::now();
        order.shuffle(&mut rng);
        let mut loss_sum = 0.0;
        for (b, idx) in order.chunks(cfg.batch_size).enumerate() {
            let yb: Vec<u8> = idx.iter().map(|&i| labels[i]).collect();
            // A dense copy only where something needs it: the adversarial hook, or no index.
            if cfg.adv.is_some() || cfg.certified.is_some() || index.is_none() {
                xb.clear();
                for &i in idx {
                    xb.extend_from_slice(&x[i * d..(i + 1) * d]);
                }
            }
            let images = match &index {
                Some(index) => Images::Rows { all: &x[..n * d], index, rows: idx },
                None => Images::Dense(&xb),
            };
            // The hook: adversarial examples of the current model (eval mode, one FGSM step).
            let x_adv = cfg.adv.as_ref().map(|adv| adv.craft(&model, &xb, &yb, &mut rng));
            let adv = match (&cfg.adv, &x_adv) {
                (Some(a), Some(xa)) => Some((xa.as_slice(), a.weight)),
                _ => None,
            };
            let cert = cfg.certified.as_ref().map(|c| (c.at((epoch - 1) * batches + b, batches), xb.as_slice()));
            let loss_value =
                stepper.step(cfg, &mut model, &Batch { x: images, y: &yb, adv, cert, lr: cfg.lr_at(epoch) }, &mut rng);
            if !loss_value.is_finite() {
                return Err(cfg.diverged(loss_value, epoch, b + 1));
            }
            loss_sum += loss_value;
            progress(TrainProgress { epoch, epochs: cfg.epochs, batch: b + 1, batches, loss: loss_value });
        }
        stats.push(EpochStats { epoch, mean_loss: loss_sum / batches as f64, seconds: start.elapsed().as_secs_f64() });
    }
    Ok((model, TrainReport { config: cfg.clone(), epochs: stats, train_images: n }))
}
