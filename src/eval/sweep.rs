//! Robustness sweeps: one attack, many epsilons, the harness enforcing the budget.

use super::metrics::{Accumulator, Row};
use crate::attack::gradient::{input_gradient_at, logits_host};
use crate::attack::{enforce_budget, Attack, ClipMode, Goal};
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
        return Err(Error::param("--eval-batch", 0, "must be at least 1"));
    }
    Ok(())
}

/// Sorted, de-duplicated, validated epsilons with 0 first.
/// `max` is the norm's largest budget ([`crate::attack::Norm::max_eps`]).
pub fn eps_list(eps: &[f64], max: f64) -> Result<Vec<f64>> {
    let mut out = vec![0.0];
    for &e in eps {
        check_eps("--eps", e, max)?;
        out.push(e + 0.0); // -0 becomes 0
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
        acc.add(&logits_host(model, xb, yb.len()), yb, model.num_classes())?;
    }
    Ok(acc.finish(eps))
}

/// One batch of the evaluation set, with its index (which seeds its random generator).
struct Chunk<'a> {
    index: usize,
    x: &'a [f32],
    y: &'a [u8],
}

fn chunks<'a>(x: &'a [f32], y: &'a [u8], batch: usize, dim: usize) -> Vec<Chunk<'a>> {
    x.chunks(batch * dim).zip(y.chunks(batch)).enumerate().map(|(index, (x, y))| Chunk { index, x, y }).collect()
}

/// The attack's random generator for one batch: a ChaCha stream per batch, so results do not
/// depend on how many threads process the batches or in which order.
fn chunk_rng(seed: u64, index: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index as u64);
    rng
}

/// Runs `work` on every batch, [`crate::parallel::threads`] batches at a time, calling
/// `progress` after each wave; results come back in batch order.
fn for_chunks<R: Send>(
    chunks: &[Chunk<'_>],
    total: usize,
    progress: &mut dyn FnMut(usize, usize),
    work: &(dyn Fn(&Chunk<'_>) -> Result<R> + Sync),
) -> Result<Vec<R>> {
    let threads = crate::parallel::threads();
    let mut out = Vec::with_capacity(chunks.len());
    let mut done = 0;
    for wave in chunks.chunks(threads) {
        out.extend(crate::parallel::map_in_order(wave, work)?);
        done += wave.iter().map(|c| c.y.len()).sum::<usize>();
        progress(done, total);
    }
    Ok(out)
}

/// Attacks every image at every eps and scores the harness-clipped results.
/// Batches run in parallel on the machine's cores; results do not depend on the thread count.
/// `progress(done, total)` is called as batches finish.
pub fn sweep(
    model: &dyn Classifier,
    attack: &dyn Attack,
    x: &[f32],
    labels: &[u8],
    cfg: &SweepConfig,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Sweep> {
    sweep_transfer(model, None, attack, x, labels, cfg, progress)
}

/// [`sweep`] with the attack run on `surrogate` when given (a transfer attack: the red team
/// crafts on a model it has, the judge scores the target), else on `model`. The clean row and
/// every score always come from `model`.
pub fn sweep_transfer(
    model: &dyn Classifier,
    surrogate: Option<&dyn Classifier>,
    attack: &dyn Attack,
    x: &[f32],
    labels: &[u8],
    cfg: &SweepConfig,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Sweep> {
    check_inputs(model, x, labels, cfg.batch_size)?;
    if let Some(s) = surrogate {
        if (s.input_dim(), s.num_classes()) != (model.input_dim(), model.num_classes()) {
            return Err(Error::Shape {
                what: "surrogate vs target model".into(),
                expected: format!("{} inputs and {} classes", model.input_dim(), model.num_classes()),
                found: format!("{} inputs and {} classes", s.input_dim(), s.num_classes()),
            });
        }
    }
    let eps = eps_list(&cfg.eps, attack.norm().max_eps(model.input_dim()))?;
    if let Some(t) = attack.target() {
        t.validate(model.num_classes())?;
    }
    let attacked: Vec<f32> = eps[1..].iter().map(|&e| e as f32).collect();
    let c = model.num_classes();
    let parts = for_chunks(&chunks(x, labels, cfg.batch_size, model.input_dim()), labels.len(), progress, &|ch| {
        crate::backend::flush_denormals();
        let mut rng = chunk_rng(cfg.seed, ch.index);
        let goal = Goal::Untargeted(ch.y);
        // The clean logits come from the model, never from the attack: either a forward pass
        // or the harness's own gradient call (whose logits are that forward pass's, bit for bit).
        let one_step = attack.starts_at_clean_gradient();
        let (clean, mut advs) = if let Some(s) = surrogate {
            (logits_host(model, ch.x, ch.y.len()), attack.run_multi(s, ch.x, goal, &attacked, cfg.clip, &mut rng))
        } else if let Some(precision) = one_step {
            let g = input_gradient_at(model, ch.x, ch.y, precision);
            let advs = attack.run_multi_from(model, ch.x, goal, &attacked, cfg.clip, &mut rng, &g);
            (g.logits, advs)
        } else {
            (logits_host(model, ch.x, ch.y.len()), attack.run_multi(model, ch.x, goal, &attacked, cfg.clip, &mut rng))
        };
        // One output per requested eps, never fewer silently dropped by a zip.
        if advs.len() != attacked.len() || advs.iter().any(|a| a.len() != ch.x.len()) {
            return Err(Error::Shape {
                what: format!("the {} attack's outputs", attack.name()),
                expected: format!("{} images of {} values", attacked.len(), ch.x.len()),
                found: format!("{} images of {:?} values", advs.len(), advs.iter().map(Vec::len).collect::<Vec<_>>()),
            });
        }
        for (adv, &e) in advs.iter_mut().zip(&attacked) {
            enforce_budget(attack.norm(), adv, ch.x, e, model.input_dim(), cfg.clip, model.bounds());
        }
        let mut logits = vec![clean];
        if one_step.is_some() && surrogate.is_none() {
            // One-step images lie on rays from the clean images, which the model may exploit
            // (the same logits up to float rounding; images off their ray are scored directly).
            logits.extend(model.adversarial_logits(ch.x, ch.y.len(), &advs, &attacked));
        } else {
            logits.extend(advs.iter().map(|adv| logits_host(model, adv, ch.y.len())));
        }
        // A targeted attack's targets, recomputed by the judge from the model that crafted.
        let targets = attack.target().map(|t| t.labels(surrogate.unwrap_or(model), ch.x, ch.y));
        Ok((logits, targets))
    })?;
    // Scores are summed image by image in order, exactly as `evaluate` does, so the eps = 0
    // row equals the clean evaluation bit for bit whatever the batching.
    let mut accs = vec![Accumulator::default(); eps.len()];
    for (part, ch) in parts.iter().zip(chunks(x, labels, cfg.batch_size, model.input_dim())) {
        let (part, targets) = part;
        for (acc, logits) in accs.iter_mut().zip(part) {
            acc.add(logits, ch.y, c)?;
            if let Some(t) = targets {
                acc.add_hits(logits, ch.y, t, c);
            }
        }
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
    check_eps("--eps", eps, attack.norm().max_eps(model.input_dim()))?;
    if let Some(t) = attack.target() {
        t.validate(model.num_classes())?;
    }
    let e = eps as f32;
    let parts = for_chunks(&chunks(x, labels, cfg.batch_size, model.input_dim()), labels.len(), progress, &|ch| {
        crate::backend::flush_denormals();
        let mut rng = chunk_rng(cfg.seed, ch.index);
        let mut advs = attack.run_multi(model, ch.x, Goal::Untargeted(ch.y), &[e], cfg.clip, &mut rng);
        let mut adv = match (advs.pop(), advs.is_empty()) {
            (Some(a), true) if a.len() == ch.x.len() => a,
            _ => {
                return Err(Error::Shape {
                    what: format!("the {} attack's output", attack.name()),
                    expected: format!("one image batch of {} values", ch.x.len()),
                    found: "another number of outputs".into(),
                })
            }
        };
        enforce_budget(attack.norm(), &mut adv, ch.x, e, model.input_dim(), cfg.clip, model.bounds());
        Ok(adv)
    })?;
    Ok(parts.concat())
}
