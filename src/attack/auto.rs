//! `--attack auto`: attacks in sequence, AutoAttack style (Croce & Hein 2020,
//! arXiv:2003.01690, section 5): each stage runs only on the examples every earlier stage
//! failed to fool, each from the clean image, and an example's first fooling image is kept
//! (the per-example worst case). The stages are AutoAttack's "standard" version: APGD-CE,
//! APGD-T (9 targets), FAB-T (9 targets) and Square with 5000 queries, each with one restart.
//! The same sequence for L2, with Square's L2 version.
//!
//! The parameters also report, per eps and stage, how many examples were still robust after
//! that stage (summed over every batch the attack ran on), so a report can show the accuracy
//! after each stage.

use super::{enforce_budget, gradient, Apgd, Attack, ClipMode, Fab, Goal, Loss, Norm, Square};
use crate::model::Classifier;
use crate::nn::ops::gather_rows;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// What an eps's batches counted: examples seen, robust at the clean image, robust after each
/// stage.
type Counts = (u64, u64, Vec<u64>);

/// The sequence of stages and what it has counted so far.
pub struct Auto {
    stages: Vec<Box<dyn Attack>>,
    norm: Norm,
    /// What this sequence lacks of AutoAttack's standard one (empty: it is the standard).
    missing: Vec<&'static str>,
    /// eps (as f32 bits) -> its counts.
    counts: Mutex<BTreeMap<u32, Counts>>,
}

impl Auto {
    /// APGD-CE, APGD-T, FAB-T and Square, with their standard settings, for `norm`.
    pub fn standard(norm: Norm) -> Self {
        let stages: Vec<Box<dyn Attack>> = vec![
            Box::new(Apgd::new(Loss::Ce, norm)),
            Box::new(Apgd::targeted(norm)),
            Box::new(Fab::targeted(norm)),
            Box::new(Square::standard().with_norm(norm)),
        ];
        Auto { missing: Vec::new(), ..Self::with_stages(stages, norm) }
    }

    /// Any sequence of stages sharing `norm` (not AutoAttack's standard).
    pub fn with_stages(stages: Vec<Box<dyn Attack>>, norm: Norm) -> Self {
        Auto { stages, norm, missing: vec!["custom stages"], counts: Mutex::new(BTreeMap::new()) }
    }

    /// Whether this is AutoAttack's standard sequence with every stage.
    pub fn is_standard(&self) -> bool {
        self.missing.is_empty()
    }
}

impl Attack for Auto {
    fn name(&self) -> &'static str {
        "auto"
    }

    fn params(&self) -> serde_json::Value {
        let stages: Vec<serde_json::Value> =
            self.stages.iter().map(|s| serde_json::json!({ "attack": s.name(), "params": s.params() })).collect();
        let mut after = Vec::new();
        if let Ok(counts) = self.counts.lock() {
            for (bits, (seen, clean, robust)) in counts.iter() {
                let names = self.stages.iter().map(|s| s.name());
                let per_stage: Vec<serde_json::Value> = names
                    .zip(robust)
                    .map(|(name, r)| serde_json::json!({ "after": name, "robust": r, "accuracy": *r as f64 / (*seen).max(1) as f64 }))
                    .collect();
                after.push(serde_json::json!({
                    // The eps as typed (0.1), not its f32 widened to f64 (0.10000000149...).
                    "eps": f32::from_bits(*bits).to_string().parse::<f64>().unwrap_or(f64::NAN),
                    "images": seen,
                    "clean_accuracy": *clean as f64 / (*seen).max(1) as f64,
                    "stages": per_stage,
                }));
            }
        }
        serde_json::json!({
            "stages": stages,
            "standard": self.is_standard(),
            "missing": self.missing,
            "robust_after_each_stage": after,
        })
    }

    fn norm(&self) -> Norm {
        self.norm
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
        let (d, c, n) = (model.input_dim(), model.num_classes(), goal.labels().len());
        let ok = |logits: &[f32], i: usize, label_at: usize| {
            !goal.is_success(label_at, super::pgd::argmax(&logits[i * c..(i + 1) * c]))
        };
        let clean = gradient::logits_host(model, x, n);
        let mut robust: Vec<bool> = (0..n).map(|i| ok(&clean, i, i)).collect();
        let mut current = x.to_vec();
        let mut after = Vec::with_capacity(self.stages.len());
        let robust_clean = robust.iter().filter(|&&r| r).count() as u64;
        for stage in &self.stages {
            let todo: Vec<usize> = (0..n).filter(|&i| robust[i]).collect();
            if !todo.is_empty() && eps > 0.0 {
                let mut xs = Vec::new();
                gather_rows(x, d, &todo, &mut xs);
                let ys: Vec<u8> = todo.iter().map(|&i| goal.labels()[i]).collect();
                let sub_goal = goal.with_labels(&ys);
                let mut adv = stage.run_one(model, &xs, sub_goal, eps, clip, rng);
                if adv.len() != xs.len() {
                    adv = xs.clone(); // a stage that answers in another shape fools nobody
                }
                enforce_budget(self.norm, &mut adv, &xs, eps, d, clip, model.bounds());
                let logits = gradient::logits_host(model, &adv, todo.len());
                for (j, &i) in todo.iter().enumerate() {
                    current[i * d..(i + 1) * d].copy_from_slice(&adv[j * d..(j + 1) * d]);
                    robust[i] = !sub_goal.is_success(j, super::pgd::argmax(&logits[j * c..(j + 1) * c]));
                }
            }
            after.push(robust.iter().filter(|&&r| r).count() as u64);
        }
        if let Ok(mut counts) = self.counts.lock() {
            let entry = counts.entry(eps.to_bits()).or_insert_with(|| (0, 0, vec![0; self.stages.len()]));
            entry.0 += n as u64;
            entry.1 += robust_clean;
            entry.2.iter_mut().zip(&after).for_each(|(a, b)| *a += b);
        }
        current
    }
}
