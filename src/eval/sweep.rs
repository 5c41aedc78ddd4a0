//! Robustness sweeps: one attack, many epsilons, the harness enforcing the budget.

use super::metrics::{Accumulator, Row};
use crate::attack::{enforce_budget, gradient::logits_host, Attack, ClipMode, Goal};
use crate::error::{check_eps, Error, Result};
use crate::model::Classifier;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// How a sweep runs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SweepConfig {
    /// Budgets to attack at (pixel units); 0 is always added as the clean row.
    pub eps: Vec<f64>,
    /// Clip adversarial images to the valid range (default) or not (the paper's variant).
    pub clip: ClipMode,
    /// Images per attack batch (does not change results of deterministic attacks).
    pub batch_size: usize,
    /// Seed of the attack's random generator (random starts).
    pub seed: u64,
}

/// The result of a sweep: the attack, its settings and one row per epsilon.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Sweep {
    /// Attack name.
    pub attack: String,
    /// Attack parameters.
    pub params: serde_json::Value,
    /// Threat model.
    pub norm: String,
    /// Clip mode used.
    pub clip: ClipMode,
    /// Seed used.
    pub seed: u64,
    /// Rows sorted by eps, first row eps = 0 (clean).
    pub rows: Vec<Row>,
}

fn check_inputs(model: &dyn Classifier, x: &[f32], labels: &[u8], batch: usize) -> Result<()> {
    crate::backend::flush_denormals();
    let d = model.input_dim();
    if x.len() != labels.len() * d {
        return Err(Error::Shape {
            what: "images vs labels".into(),
            expected: format!("{} labels x {d} pixels = {}", labels.len(), labels.len() * d),
            found: format!("{} pixel values", x.len()),
        });
    }
    if let Some(i) = labels.iter().position(|&y| y as usize >= model.num_classes()) {
        return Err(Error::param("label", labels[i], format!("at index {i} is not a class")));
    }
    if batch == 0 {
        return Err(Error::param("batch-size", 0, "must be at least 1"));
    }
    Ok(())
}

/// Sorted, de-duplicated, validated epsilons with 0 first.
pub fn eps_list(eps: &[f64]) -> Result<Vec<f64>> {
    let mut out = vec![0.0];
    for &e in eps {
        check_eps("eps", e, 1.0)?;
        out.push(e);
    }
    out.sort_by(f64::total_cmp);
    out.dedup();
    Ok(out)
}

/// Scores clean images: the eps = 0 row.
pub fn evaluate(model: &dyn Classifier, x: &[f32], labels: &[u8], batch: usize) -> Result<Row> {
    score(model, x, labels, 0.0, batch)
}

/// Scores already-verified images (clean or adversarial), labelling the row with `eps`.
pub fn score(model: &dyn Classifier, x: &[f32], labels: &[u8], eps: f64, batch: usize) -> Result<Row> {
    check_inputs(model, x, labels, batch)?;
    let d = model.input_dim();
    let mut acc = Accumulator::default();
    for (xb, yb) in x.chunks(batch * d).zip(labels.chunks(batch)) {
        acc.add(&logits_host(model, xb, yb.len()), yb, model.num_classes());
    }
    Ok(acc.finish(eps))
}

/// Attacks every image at every eps and scores the harness-clipped results.
/// `progress(done, total)` is called after each batch.
pub fn sweep(
    model: &dyn Classifier,
    attack: &dyn Attack,
    x: &[f32],
    labels: &[u8],
    cfg: &SweepConfig,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Sweep> {
    check_inputs(model, x, labels, cfg.batch_size)?;
    let eps = eps_list(&cfg.eps)?;
    let attacked: Vec<f32> = eps[1..].iter().map(|&e| e as f32).collect();
    let d = model.input_dim();
    let c = model.num_classes();
    let mut accs = vec![Accumulator::default(); eps.len()];
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut done = 0;
    for (xb, yb) in x.chunks(cfg.batch_size * d).zip(labels.chunks(cfg.batch_size)) {
        accs[0].add(&logits_host(model, xb, yb.len()), yb, c);
        let advs = attack.run_multi(model, xb, Goal::Untargeted(yb), &attacked, cfg.clip, &mut rng);
        for ((mut adv, &e), acc) in advs.into_iter().zip(&attacked).zip(&mut accs[1..]) {
            enforce_budget(attack.norm(), &mut adv, xb, e, cfg.clip, model.bounds());
            acc.add(&logits_host(model, &adv, yb.len()), yb, c);
        }
        done += yb.len();
        progress(done, labels.len());
    }
    Ok(Sweep {
        attack: attack.name().to_string(),
        params: attack.params(),
        norm: attack.norm().name().to_string(),
        clip: cfg.clip,
        seed: cfg.seed,
        rows: accs.iter().zip(&eps).map(|(a, &e)| a.finish(e)).collect(),
    })
}

/// Adversarial images for one eps (harness-enforced budget), e.g. to write an adversarial set.
pub fn generate(
    model: &dyn Classifier,
    attack: &dyn Attack,
    x: &[f32],
    labels: &[u8],
    eps: f64,
    cfg: &SweepConfig,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<f32>> {
    check_inputs(model, x, labels, cfg.batch_size)?;
    check_eps("eps", eps, 1.0)?;
    let d = model.input_dim();
    let e = eps as f32;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut out = Vec::with_capacity(x.len());
    for (xb, yb) in x.chunks(cfg.batch_size * d).zip(labels.chunks(cfg.batch_size)) {
        let mut adv = attack
            .run_multi(model, xb, Goal::Untargeted(yb), &[e], cfg.clip, &mut rng)
            .pop()
            .unwrap_or_else(|| xb.to_vec());
        enforce_budget(attack.norm(), &mut adv, xb, e, cfg.clip, model.bounds());
        out.extend_from_slice(&adv);
        progress(out.len() / d, labels.len());
    }
    Ok(out)
}
