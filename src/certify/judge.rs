//! The certified judge: per image and budget, a status that is proven either way where
//! possible, and robust accuracy as the interval `[verified, attacked]`.
//!
//! - **verified**: every wrong class's margin lower bound ([`super::margin_bounds`])
//!   exceeds a bound on the f32 forward pass's rounding error over the image's threat set
//!   ([`super::f32_margin_errors`]), so no
//!   point of the threat set changes the model's f32 prediction (at eps 0 the threat set is
//!   the clean image, so verified means classified correctly);
//! - **falsified**: a concrete image inside the threat set that the model's f32 forward pass
//!   misclassifies: the clean image itself for a clean error, else the attack's image, which
//!   the judge moves inside the ball in exact arithmetic (pixel by pixel toward the clean
//!   one, by at most one float step) and checks again;
//! - **unknown**: neither.
//!
//! An image both verified and falsified would mean a bound or the judge is wrong: that is an
//! error, never a result. So `verified <= attacked <= clean` holds by construction.

use super::{model_f32_margin_errors, model_margin_bounds, verified_each, Method};
use crate::attack::{Attack, Norm};
use crate::error::{Error, Result};
use crate::eval::sweep::{self, SweepConfig};
use crate::model::{Classifier, Mlp, Model};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// What the judge could prove about one image at one budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// No point of the threat set changes the prediction from the true class.
    Verified,
    /// A concrete image in the threat set is misclassified.
    Falsified,
    /// Neither was shown.
    Unknown,
}

impl Status {
    /// The name in reports and files.
    pub fn name(self) -> &'static str {
        match self {
            Status::Verified => "verified",
            Status::Falsified => "falsified",
            Status::Unknown => "unknown",
        }
    }

    /// The code in status files: 0 unknown, 1 verified, 2 falsified.
    pub fn code(self) -> u8 {
        match self {
            Status::Unknown => 0,
            Status::Verified => 1,
            Status::Falsified => 2,
        }
    }
}

/// One budget's verdict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CertRow {
    /// Radius in pixel units (of the attack's norm).
    pub eps: f64,
    /// Images judged.
    pub images: usize,
    /// Share classified correctly without perturbation.
    pub clean_accuracy: f64,
    /// Share verified: the proven lower end of robust accuracy.
    pub verified_accuracy: f64,
    /// Share not falsified: the attacked upper end of robust accuracy.
    pub attacked_accuracy: f64,
    /// Images verified.
    pub verified: usize,
    /// Images falsified.
    pub falsified: usize,
    /// Images neither (robust under the attack, not verified).
    pub unknown: usize,
    /// The largest rounding margin an image's bound had to clear (each image has its own:
    /// a bound on the f32 forward pass's error over its threat set).
    pub tolerance: f64,
    /// Seconds spent on the bounds.
    pub bound_seconds: f64,
    /// Seconds spent on the attack.
    pub attack_seconds: f64,
    /// The complete verifier's work on the images left unknown, when it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact: Option<ExactStats>,
}

/// What the complete verifier did at one budget.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExactStats {
    /// Images it was given (unknown after the bound and the attack).
    pub tried: usize,
    /// Of those, proven verified.
    pub verified: usize,
    /// Of those, falsified (a checked counterexample found by the search).
    pub falsified: usize,
    /// Time limit per image, seconds.
    pub time_limit: f64,
    /// Wall-clock seconds for all of them.
    pub seconds: f64,
    /// Median seconds per decided image (`None` when none was decided).
    pub median_decided_seconds: Option<f64>,
    /// Longest seconds for a decided image.
    pub max_decided_seconds: Option<f64>,
}

/// The judge's result: one row per budget, and per budget each image's status and its
/// counterexample (the clean image where there is none).
#[derive(Clone, Debug)]
pub struct Certification {
    /// Per budget, the verdict.
    pub rows: Vec<CertRow>,
    /// Per budget, each image's status.
    pub statuses: Vec<Vec<Status>>,
    /// Per budget, `[n, input]`: the falsifying image, or the clean image.
    pub counterexamples: Vec<Vec<f32>>,
}

/// How to judge.
#[derive(Clone, Debug)]
pub struct CertifyConfig {
    /// Budgets (pixel units, in the attack's norm); 0 gives the clean verdict.
    pub eps: Vec<f64>,
    /// Which bound verifies.
    pub method: Method,
    /// Batching, clip mode and seed of the attack.
    pub attack: SweepConfig,
    /// Run the complete verifier ([`super::exact`]) on the images still unknown, with this
    /// time limit per image in seconds.
    pub exact: Option<f64>,
}

/// Refuses a norm the complete verifier cannot judge: its linear programs are over L-inf
/// boxes (the bounds alone cover L2 balls too).
pub fn exact_supports(norm: Norm) -> Result<()> {
    match norm {
        Norm::Linf => Ok(()),
        other => Err(Error::param(
            "--norm",
            other.name(),
            format!(
                "--method exact with --norm {}: the complete verifier's linear programs are over L-inf boxes; use --method ibp, crown or alpha-crown for L2 balls",
                other.name()
            ),
        )),
    }
}

/// The paper's MLP, which the complete verifier needs (its branch and bound splits one
/// hidden layer), or an error naming the model.
pub fn exact_model(model: &Model) -> Result<&Mlp> {
    model.mlp().ok_or_else(|| {
        Error::Arch(format!(
            "the complete verifier (--method exact) supports the one-hidden-layer ReLU MLP only; this model is {} \
             (use --method crown or ibp)",
            model.summary()
        ))
    })
}

/// Judges `model` on `x` (`[n, input]`) with labels `y`: bounds by `cfg.method`, attacks by
/// `attack` (whose norm, L-inf or L2, sets the ball; the strongest available is `auto`). `progress(done, total)`
/// counts attacked batches over all budgets.
pub fn certify(
    model: &Model,
    attack: &dyn Attack,
    x: &[f32],
    y: &[u8],
    cfg: &CertifyConfig,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Certification> {
    let norm = attack.norm();
    let exact_mlp = match cfg.exact {
        Some(_) => {
            exact_supports(norm)?;
            Some(exact_model(model)?)
        }
        None => None,
    };
    let eps = sweep::eps_list(&cfg.eps, norm.max_eps(model.input_dim()))?;
    if let Some(limit) = cfg.exact {
        if !(limit.is_finite() && limit > 0.0) {
            return Err(Error::param("--time-limit", limit, "must be a positive number of seconds"));
        }
    }
    let (d, c, n) = (model.input_dim(), model.num_classes(), y.len());
    if n == 0 || x.len() != n * d {
        return Err(Error::Shape {
            what: "images to certify".into(),
            expected: format!("{n} images of {d} values (at least one)"),
            found: format!("{} values", x.len()),
        });
    }
    let clip = cfg.attack.clip;
    let bounds = (clip == crate::attack::ClipMode::Clipped).then_some(model.bounds());
    let clean_pred = predictions(model, x, n, c);
    let correct: Vec<bool> = clean_pred.iter().zip(y).map(|(&p, &l)| p == usize::from(l)).collect();
    let clean_accuracy = share(correct.iter().filter(|&&k| k).count(), n);
    let (mut rows, mut statuses, mut counterexamples) = (Vec::new(), Vec::new(), Vec::new());
    let batches = n.div_ceil(cfg.attack.batch_size.max(1));
    for (k, &e) in eps.iter().enumerate() {
        let t = Instant::now();
        // At eps 0 no bound is needed (and the complete verifier never runs).
        let lower = if e == 0.0 { Vec::new() } else { model_margin_bounds(model, x, y, norm, e, bounds, cfg.method)? };
        let tolerances = model_f32_margin_errors(model, x, y, e, bounds)?;
        let tolerance = tolerances.iter().copied().fold(0.0f64, f64::max);
        // At eps 0 the threat set is the clean image alone, whose f32 prediction is known.
        let ok = if e == 0.0 { correct.clone() } else { verified_each(&lower, c, &tolerances) };
        let bound_seconds = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let mut cex = if e == 0.0 {
            x.to_vec()
        } else {
            let base = k * batches;
            let mut adv = sweep::generate(model, attack, x, y, e, &cfg.attack, &mut |done, _| {
                progress(base + done, eps.len() * batches)
            })?;
            for (a, o) in adv.chunks_exact_mut(d).zip(x.chunks_exact(d)) {
                match norm {
                    Norm::Linf => pull_inside(a, o, e, bounds),
                    Norm::L2 => pull_inside_l2(a, o, e, bounds),
                }
            }
            adv
        };
        let adv_pred = predictions(model, &cex, n, c);
        let attack_seconds = t.elapsed().as_secs_f64();
        let mut status = Vec::with_capacity(n);
        for i in 0..n {
            let rows_i = i * d..(i + 1) * d;
            let fooled = adv_pred[i] != usize::from(y[i]);
            // The counterexample: the attack's image where it fooled a correct prediction,
            // else the clean image (itself one where the prediction is wrong).
            if !(correct[i] && fooled) {
                cex[rows_i].copy_from_slice(&x[i * d..(i + 1) * d]);
            }
            let s = match (ok[i], !correct[i] || fooled) {
                (true, true) => {
                    return Err(Error::Judge(format!(
                    "image {i} at eps {e} is both verified ({} bound) and misclassified at a point of the threat set: \
                         a bound is unsound; no result is reported",
                    cfg.method.name()
                )))
                }
                (true, false) => Status::Verified,
                (false, true) => Status::Falsified,
                (false, false) => Status::Unknown,
            };
            status.push(s);
        }
        let exact = match (cfg.exact, exact_mlp) {
            (Some(limit), Some(mlp)) if e > 0.0 => {
                Some(decide_unknown(mlp, x, y, e, bounds, (&lower, &tolerances), limit, &mut status, &mut cex)?)
            }
            _ => None,
        };
        let count = |s: Status| status.iter().filter(|&&v| v == s).count();
        let (v, f, u) = (count(Status::Verified), count(Status::Falsified), count(Status::Unknown));
        rows.push(CertRow {
            eps: e,
            images: n,
            clean_accuracy,
            verified_accuracy: share(v, n),
            attacked_accuracy: share(n - f, n),
            verified: v,
            falsified: f,
            unknown: u,
            tolerance,
            bound_seconds,
            attack_seconds,
            exact,
        });
        statuses.push(status);
        counterexamples.push(cex);
    }
    Ok(Certification { rows, statuses, counterexamples })
}

/// Runs the complete verifier on every image whose status is unknown, in parallel (each
/// image's search depends on it alone; only the time limit depends on the machine).
#[allow(clippy::too_many_arguments)]
fn decide_unknown(
    model: &Mlp,
    x: &[f32],
    y: &[u8],
    eps: f64,
    bounds: Option<(f32, f32)>,
    (lower, tolerance): (&[f64], &[f64]),
    limit: f64,
    status: &mut [Status],
    cex: &mut [f32],
) -> Result<ExactStats> {
    use rayon::prelude::*;
    let (d, c) = (model.input_dim(), model.num_classes());
    let net = super::bounds::Net::of(model);
    let todo: Vec<usize> = (0..y.len()).filter(|&i| status[i] == Status::Unknown).collect();
    let t = Instant::now();
    let found: Vec<(Status, Option<Vec<f32>>, f64)> = todo
        .par_iter()
        .map(|&i| {
            let start = Instant::now();
            let x0 = &x[i * d..(i + 1) * d];
            let row = &lower[i * c..(i + 1) * c];
            let (s, img) = super::exact::decide(
                &net,
                model,
                x0,
                y[i],
                eps,
                bounds,
                row,
                tolerance[i],
                start + std::time::Duration::from_secs_f64(limit),
            );
            (s, img, start.elapsed().as_secs_f64())
        })
        .collect();
    let mut times = Vec::new();
    let (mut verified, mut falsified) = (0, 0);
    for (&i, (s, img, secs)) in todo.iter().zip(found) {
        if s == Status::Falsified {
            let Some(img) = img else { continue };
            cex[i * d..(i + 1) * d].copy_from_slice(&img);
            falsified += 1;
        }
        if s == Status::Verified {
            verified += 1;
        }
        if s != Status::Unknown {
            times.push(secs);
        }
        status[i] = s;
    }
    times.sort_by(f64::total_cmp);
    Ok(ExactStats {
        tried: todo.len(),
        verified,
        falsified,
        time_limit: limit,
        seconds: t.elapsed().as_secs_f64(),
        median_decided_seconds: (!times.is_empty()).then(|| times[times.len() / 2]),
        max_decided_seconds: times.last().copied(),
    })
}

pub(crate) fn share(k: usize, n: usize) -> f64 {
    k as f64 / n.max(1) as f64
}

pub(crate) fn predictions(model: &dyn Classifier, x: &[f32], n: usize, c: usize) -> Vec<usize> {
    let logits = crate::attack::gradient::logits_host(model, x, n);
    logits.chunks_exact(c.max(1)).map(crate::attack::pgd::argmax).collect()
}

/// Moves every pixel of `adv` that lies outside `[o - eps, o + eps]` (in exact arithmetic)
/// or outside `bounds` to the nearest float inside both, so the image is in the threat set
/// the bounds cover, not just within float rounding of it.
pub fn pull_inside(adv: &mut [f32], clean: &[f32], eps: f64, bounds: Option<(f32, f32)>) {
    for (a, &o) in adv.iter_mut().zip(clean) {
        let (lo, hi) = bounds.unwrap_or((f32::NEG_INFINITY, f32::INFINITY));
        let mut v = if a.is_finite() { a.clamp(lo, hi) } else { o };
        while (f64::from(v) - f64::from(o)).abs() > eps {
            v = step_toward(v, o);
        }
        *a = v;
    }
}

/// [`pull_inside`] for the L2 ball: the image clamped to `bounds` (non-finite pixels reset to
/// the clean ones), then its perturbation shrunk until its length, in f64 from the f32
/// pixels, is at most `eps` (the clean image itself if that does not settle).
pub fn pull_inside_l2(adv: &mut [f32], clean: &[f32], eps: f64, bounds: Option<(f32, f32)>) {
    let (lo, hi) = bounds.unwrap_or((f32::NEG_INFINITY, f32::INFINITY));
    for (a, &o) in adv.iter_mut().zip(clean) {
        *a = if a.is_finite() { a.clamp(lo, hi) } else { o };
    }
    for _ in 0..64 {
        let dist = adv.iter().zip(clean).map(|(&a, &o)| (f64::from(a) - f64::from(o)).powi(2)).sum::<f64>().sqrt();
        if dist <= eps {
            return;
        }
        let scale = eps / dist * (1.0 - 1e-6);
        for (a, &o) in adv.iter_mut().zip(clean) {
            // Toward the clean pixel, which is inside the bounds: the clamp only moves closer.
            *a = ((f64::from(o) + (f64::from(*a) - f64::from(o)) * scale) as f32).clamp(lo, hi);
        }
    }
    adv.copy_from_slice(clean);
}

/// The f32 next to `v` in the direction of `o` (`v != o`).
fn step_toward(v: f32, o: f32) -> f32 {
    if v == 0.0 {
        let tiny = f32::from_bits(1);
        return if o > v { tiny } else { -tiny };
    }
    let bits = v.to_bits();
    // Away from zero adds one to the magnitude's bits, toward zero subtracts one.
    let away = (o > v) == (v > 0.0);
    f32::from_bits(if away { bits + 1 } else { bits - 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn l2_counterexamples_are_pulled_inside_the_ball_and_the_bounds() {
        let clean = [0.2f32, 0.9, 0.5, 0.0];
        for eps in [0.05, 0.3, 1.0, 3.0] {
            let mut adv = [0.9f32, -0.4, f32::NAN, 0.7];
            pull_inside_l2(&mut adv, &clean, eps, Some((0.0, 1.0)));
            let dist: f64 =
                adv.iter().zip(&clean).map(|(&a, &o)| (f64::from(a) - f64::from(o)).powi(2)).sum::<f64>().sqrt();
            assert!(dist <= eps, "eps {eps}: {dist}");
            assert!(adv.iter().all(|v| (0.0..=1.0).contains(v)), "{adv:?}");
            // Not collapsed onto the clean image: the shrink keeps most of the budget.
            assert!(dist > 0.9 * eps.min(1.0), "eps {eps}: {dist}");
        }
        // Inside already: untouched.
        let mut inside = [0.25f32, 0.85, 0.5, 0.05];
        pull_inside_l2(&mut inside, &clean, 1.0, Some((0.0, 1.0)));
        assert_eq!(inside, [0.25f32, 0.85, 0.5, 0.05]);
    }

    #[test]
    fn one_float_step_toward_a_target() {
        for (v, o) in [(0.5f32, 0.0f32), (0.5, 1.0), (-0.5, 0.0), (-0.5, -1.0), (0.0, 1.0), (0.0, -1.0), (1e-38, 0.0)] {
            let s = step_toward(v, o);
            assert!((s - v).signum() == (o - v).signum() && s != v, "{v} toward {o}: {s}");
            // No float strictly between v and s.
            let mid = (f64::from(v) + f64::from(s)) / 2.0;
            assert!(mid as f32 == v || mid as f32 == s);
        }
    }

    #[test]
    fn pulled_pixels_are_inside_the_ball_in_exact_arithmetic() {
        let clean = [0.3f32, 0.7, 0.0, 1.0, 0.123_456_7];
        for eps in [0.1f64, 0.02, 0.3, 1e-3] {
            let e = eps as f32;
            let mut adv: Vec<f32> =
                clean.iter().enumerate().map(|(i, &c)| if i % 2 == 0 { c + e } else { c - e }).collect();
            adv.push(f32::NAN);
            let mut cl = clean.to_vec();
            cl.push(0.5);
            pull_inside(&mut adv, &cl, eps, Some((0.0, 1.0)));
            for (i, (a, o)) in adv.iter().zip(&cl).enumerate() {
                let dist = (f64::from(*a) - f64::from(*o)).abs();
                assert!(dist <= eps && (0.0..=1.0).contains(a), "eps {eps}: {a} vs {o}");
                // Moved by float steps only: the distance the attack meant, within the box.
                let meant = if i == 5 {
                    0.0
                } else if i % 2 == 0 {
                    eps.min(1.0 - f64::from(*o))
                } else {
                    eps.min(f64::from(*o))
                };
                assert!((dist - meant).abs() <= 1e-6, "eps {eps}, pixel {i}: moved {dist}, meant {meant}");
            }
        }
    }
}
