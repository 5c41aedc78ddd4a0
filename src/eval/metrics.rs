//! The paper's metrics, computed from raw logits on the host.
//!
//! Accuracy; confidence = mean over images of the maximum softmax probability (the paper's
//! "confidence"); mean probability of the true class; mean cross-entropy loss.

use crate::error::{Error, Result};
use crate::nn::ops::argmax;
use serde::{Deserialize, Serialize};

/// One row of an evaluation table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// Attack budget in pixel units (0 = clean images).
    pub eps: f64,
    /// Number of images scored.
    pub n: usize,
    /// Fraction classified correctly.
    pub accuracy: f64,
    /// Mean of the maximum softmax probability.
    pub confidence: f64,
    /// Mean softmax probability of the true class.
    pub true_class_prob: f64,
    /// Mean cross-entropy (nats).
    pub loss: f64,
    /// Targeted attacks only: the share of images (whose target is not their true label)
    /// classified as their target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_hits: Option<f64>,
    /// Where a bound was computed on the same images and budget: the share verified (the
    /// proven lower end of robust accuracy; `accuracy` is the attacked upper end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<f64>,
}

/// `log(sum(exp(row))) - row[label]`, computed stably in f64.
pub use crate::nn::ops::cross_entropy;

/// Running sums for a [`Row`], fed batch by batch.
#[derive(Clone, Debug, Default)]
pub struct Accumulator {
    n: usize,
    correct: usize,
    confidence: f64,
    true_prob: f64,
    loss: f64,
    /// Images with a target other than their label, and how many were classified as it
    /// (`None` for untargeted scoring).
    targets: Option<(usize, usize)>,
}

impl Accumulator {
    /// Adds a batch of logits `[labels.len(), classes]`. A NaN or infinite logit is an error
    /// (its softmax would be NaN): a numerically broken model is never scored.
    pub fn add(&mut self, logits: &[f32], labels: &[u8], classes: usize) -> Result<()> {
        for (row, &y) in logits.chunks_exact(classes).zip(labels) {
            if let Some(&v) = row.iter().find(|v| !v.is_finite()) {
                return Err(Error::NonFinite { what: "logit", value: v, index: self.n });
            }
            let y = y as usize;
            let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
            let z: f64 = row.iter().map(|&v| (v as f64 - m).exp()).sum();
            let pred = argmax(row);
            self.n += 1;
            self.correct += usize::from(pred == y);
            self.confidence += 1.0 / z; // exp(max - max) / z
            self.true_prob += (row[y] as f64 - m).exp() / z;
            self.loss += m + z.ln() - row[y] as f64;
        }
        Ok(())
    }

    /// Counts, for a batch already [`Accumulator::add`]ed, the images classified as their
    /// target (images whose target is their label are left out).
    pub fn add_hits(&mut self, logits: &[f32], labels: &[u8], targets: &[u8], classes: usize) {
        let (mut aimed, mut hits) = self.targets.unwrap_or((0, 0));
        for ((row, &y), &t) in logits.chunks_exact(classes).zip(labels).zip(targets) {
            if t != y {
                aimed += 1;
                hits += usize::from(argmax(row) == usize::from(t));
            }
        }
        self.targets = Some((aimed, hits));
    }

    /// The row for this accumulated set at budget `eps`.
    pub fn finish(&self, eps: f64) -> Row {
        let n = self.n.max(1) as f64;
        Row {
            eps,
            n: self.n,
            accuracy: self.correct as f64 / n,
            confidence: self.confidence / n,
            true_class_prob: self.true_prob / n,
            loss: self.loss / n,
            target_hits: self.targets.map(|(aimed, hits)| hits as f64 / aimed.max(1) as f64),
            verified: None,
        }
    }
}
