//! The judge's report card: checks that an evaluation's robust accuracy can be trusted.
//!
//! In the spirit of AutoAttack's flags (Croce & Hein 2020, arXiv:2003.01690) and of Carlini et
//! al., "On Evaluating Adversarial Robustness" (arXiv:1902.06705, section 5): each check either
//! passes, raises a flag (with the numbers behind it), or is skipped (with the reason).
//!
//! - **eps0-clean**: the eps = 0 row equals the clean evaluation.
//! - **monotone**: accuracy does not rise with eps.
//! - **deterministic**: the model gives the same logits twice, and alone as in a batch (a
//!   randomised model makes attacks and the judge see different functions).
//! - **zero-gradients**: images whose input gradient is exactly zero (an attack that follows
//!   gradients cannot move them).
//! - **single-step-vs-iterative**: FGSM must not beat the iterative attack.
//! - **fgsm-only**: FGSM accuracy more than 10 points above the attack's (robust to FGSM only:
//!   gradient masking suspected).
//! - **black-box-vs-white-box**: Square (gradient-free) must not beat a white-box attack.
//! - **transfer-vs-white-box**: a transfer attack must not beat the white-box one.
//! - **convergence**: the attack with twice the iterations and more restarts must not lower
//!   accuracy by more than 1 point.
//!
//! The comparisons run on the first `subset` images (the evaluation's own rows when it has no
//! more), each at every attacked eps.

use super::sweep::{sweep, sweep_transfer, Sweep, SweepConfig};
use crate::attack::{Attack, Pgd, Square};
use crate::error::Result;
use crate::model::Classifier;
use serde::{Deserialize, Serialize};

/// A check's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Nothing suspicious.
    Pass,
    /// Something to look at before trusting the number.
    Flag,
    /// Not run (the reason is in the detail).
    Skipped,
}

/// One check.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Check {
    /// Short id ("convergence").
    pub id: String,
    /// What is checked.
    pub title: String,
    /// Its outcome.
    pub status: Status,
    /// The numbers behind it.
    pub detail: String,
}

/// All checks of one evaluation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Card {
    /// The attack judged.
    pub attack: String,
    /// Images the comparisons ran on.
    pub subset: usize,
    /// The checks, in a fixed order.
    pub checks: Vec<Check>,
}

impl Card {
    /// Whether any check raised a flag.
    pub fn flagged(&self) -> bool {
        self.checks.iter().any(|c| c.status == Status::Flag)
    }

    /// The card as a Markdown checklist.
    pub fn markdown(&self) -> String {
        let mut out = format!(
            "# Report card: {}\n\nComparisons on the first {} images. `[x]` passed, `[ ]` raised a flag, `[-]` skipped.\n\n",
            self.attack, self.subset
        );
        for c in &self.checks {
            let mark = match c.status {
                Status::Pass => "[x]",
                Status::Flag => "[ ] **FLAG**",
                Status::Skipped => "[-]",
            };
            out.push_str(&format!("- {mark} {} (`{}`): {}\n", c.title, c.id, c.detail));
        }
        out
    }
}

/// What the card judges: the evaluation that ran and what it ran on.
pub struct Evaluation<'a> {
    /// The judged model.
    pub model: &'a dyn Classifier,
    /// The model the attack ran on, for a transfer attack.
    pub surrogate: Option<&'a dyn Classifier>,
    /// The attack.
    pub attack: &'a dyn Attack,
    /// The evaluation's images and labels.
    pub x: &'a [f32],
    /// Labels.
    pub y: &'a [u8],
    /// Its sweep settings.
    pub cfg: &'a SweepConfig,
    /// Its result.
    pub result: &'a Sweep,
    /// The clean evaluation of the same images.
    pub clean: &'a super::Row,
}

/// Accuracy gap (fraction) above which a stronger run flags the attack as not converged.
pub const CONVERGENCE_GAP: f64 = 0.01;
/// FGSM-minus-attack gap above which a model is robust to FGSM only.
pub const FGSM_ONLY_GAP: f64 = 0.10;

fn check(id: &str, title: &str, status: Status, detail: String) -> Check {
    Check { id: id.into(), title: title.into(), status, detail }
}

/// Rows of `s` past eps 0, as (eps, accuracy).
fn attacked(s: &Sweep) -> Vec<(f64, f64)> {
    s.rows.iter().skip(1).map(|r| (r.eps, r.accuracy)).collect()
}

fn pct(v: f64) -> String {
    format!("{:.1}%", 100.0 * v)
}

/// Compares `other` with `base` per eps: flags where `worse(base_acc, other_acc)`, describing
/// each eps as "eps E: base B, other O".
fn compare(
    base: &[(f64, f64)],
    other: &[(f64, f64)],
    names: (&str, &str),
    worse: impl Fn(f64, f64) -> bool,
) -> (Status, String) {
    let mut flagged = false;
    let parts: Vec<String> = base
        .iter()
        .zip(other)
        .map(|(&(e, a), &(_, b))| {
            flagged |= worse(a, b);
            format!("eps {e}: {} {}, {} {}", names.0, pct(a), names.1, pct(b))
        })
        .collect();
    (if flagged { Status::Flag } else { Status::Pass }, parts.join("; "))
}

/// Runs every check on an evaluation. `subset` bounds the images the extra attacks run on.
pub fn report_card(ev: &Evaluation<'_>, subset: usize) -> Result<Card> {
    let (model, d) = (ev.model, ev.model.input_dim());
    let n = ev.y.len().min(subset.max(1));
    let (xs, ys) = (&ev.x[..n * d], &ev.y[..n]);
    let cfg = SweepConfig { batch_size: ev.cfg.batch_size.min(n.max(1)), ..ev.cfg.clone() };
    let run = |a: &dyn Attack| sweep(model, a, xs, ys, &cfg, &mut |_, _| {});
    // The attack's own rows on the subset (the evaluation's rows when it ran on no more).
    let own = if n == ev.y.len() {
        ev.result.clone()
    } else {
        sweep_transfer(model, ev.surrogate, ev.attack, xs, ys, &cfg, &mut |_, _| {})?
    };
    let own_rows = attacked(&own);
    let name = ev.attack.name();
    let mut checks = Vec::new();

    let row0 = &ev.result.rows[0];
    checks.push(check(
        "eps0-clean",
        "the eps = 0 row equals clean accuracy",
        if row0 == ev.clean { Status::Pass } else { Status::Flag },
        format!("eps 0 row {}, clean {}", pct(row0.accuracy), pct(ev.clean.accuracy)),
    ));
    let rising: Vec<String> = ev
        .result
        .rows
        .windows(2)
        .filter(|w| w[1].accuracy > w[0].accuracy)
        .map(|w| format!("eps {} {} -> eps {} {}", w[0].eps, pct(w[0].accuracy), w[1].eps, pct(w[1].accuracy)))
        .collect();
    checks.push(check(
        "monotone",
        "accuracy does not rise with eps",
        if rising.is_empty() { Status::Pass } else { Status::Flag },
        if rising.is_empty() { "non-increasing over every eps".into() } else { rising.join("; ") },
    ));
    checks.push(determinism(model, xs, n));
    let g = crate::attack::gradient::input_gradient(model, xs, ys);
    let zero = g.grad.chunks_exact(d.max(1)).filter(|row| row.iter().all(|&v| v == 0.0)).count();
    checks.push(check(
        "zero-gradients",
        "no image has an all-zero input gradient",
        if zero == 0 { Status::Pass } else { Status::Flag },
        format!("{zero} of {n} images"),
    ));

    let fgsm = Pgd { norm: ev.attack.norm(), ..Pgd::fgsm() };
    let is_fgsm = name == "fgsm";
    if is_fgsm {
        let pgd = Pgd { norm: ev.attack.norm(), ..Pgd::madry(40, 1) };
        let p = attacked(&run(&pgd)?);
        let (s, detail) = compare(&own_rows, &p, ("FGSM", "PGD-40"), |f, p| p > f + 1e-12);
        checks.push(check("single-step-vs-iterative", "FGSM does not beat an iterative attack", s, detail));
        let (s, detail) = compare(&own_rows, &p, ("FGSM", "PGD-40"), |f, p| f - p > FGSM_ONLY_GAP);
        checks.push(check("fgsm-only", "FGSM does not overstate robustness by more than 10 points against PGD (FGSM-only robustness, gradient masking)", s, detail));
    } else {
        let f = attacked(&run(&fgsm)?);
        let (s, detail) = compare(&own_rows, &f, (name, "FGSM"), |a, f| f < a - 1e-12);
        checks.push(check("single-step-vs-iterative", "FGSM does not beat the attack", s, detail));
        let (s, detail) = compare(&own_rows, &f, (name, "FGSM"), |a, f| f - a > FGSM_ONLY_GAP);
        checks.push(check("fgsm-only", "FGSM does not overstate robustness by more than 10 points against the attack (FGSM-only robustness, gradient masking)", s, detail));
    }

    checks.push(black_box(ev, &own, &own_rows, &run)?);
    checks.push(match ev.surrogate {
        Some(_) => {
            let white = attacked(&run(ev.attack)?);
            let (s, detail) = compare(&white, &own_rows, ("white-box", "transfer"), |w, t| t < w - 1e-12);
            check("transfer-vs-white-box", "a transfer attack does not beat the white-box one", s, detail)
        }
        None => check(
            "transfer-vs-white-box",
            "a transfer attack does not beat the white-box one",
            Status::Skipped,
            "no --surrogate".into(),
        ),
    });
    checks.push(match ev.attack.stronger() {
        Some(strong) if ev.surrogate.is_none() => {
            let s_rows = attacked(&run(strong.as_ref())?);
            let (s, detail) =
                compare(&own_rows, &s_rows, (name, "twice the iterations, more restarts"), |a, b| a - b > CONVERGENCE_GAP);
            check("convergence", "a stronger run lowers accuracy by at most 1 point", s, detail)
        }
        Some(_) => check(
            "convergence",
            "a stronger run lowers accuracy by at most 1 point",
            Status::Skipped,
            "transfer attack".into(),
        ),
        None => check(
            "convergence",
            "a stronger run lowers accuracy by at most 1 point",
            Status::Skipped,
            format!("{name} has no stronger variant (auto: every stage runs its standard settings; see the per-stage counts)"),
        ),
    });
    Ok(Card { attack: name.to_string(), subset: n, checks })
}

/// Logits twice, and one image alone against its batch.
fn determinism(model: &dyn Classifier, xs: &[f32], n: usize) -> Check {
    let d = model.input_dim();
    let a = crate::attack::gradient::logits_host(model, xs, n);
    let b = crate::attack::gradient::logits_host(model, xs, n);
    let alone: Vec<f32> =
        (0..n.min(8)).flat_map(|i| crate::attack::gradient::logits_host(model, &xs[i * d..(i + 1) * d], 1)).collect();
    let scale = a.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    let batch_gap = alone.iter().zip(&a[..alone.len()]).fold(0.0f32, |m, (x, y)| m.max((x - y).abs())) / scale;
    let repeat_same = a == b;
    let status = if repeat_same && batch_gap <= 1e-5 { Status::Pass } else { Status::Flag };
    check(
        "deterministic",
        "the model is deterministic (same logits twice, alone as in a batch)",
        status,
        format!(
            "repeated logits {}; largest relative difference alone vs in a batch {batch_gap:.1e}",
            if repeat_same { "identical" } else { "DIFFER" }
        ),
    )
}

/// Square against the white-box attack: from `auto`'s own stage counts when it ran Square,
/// else a Square run with 1000 queries (L-inf only).
fn black_box(
    ev: &Evaluation<'_>,
    own: &Sweep,
    own_rows: &[(f64, f64)],
    run: &dyn Fn(&dyn Attack) -> Result<Sweep>,
) -> Result<Check> {
    const TITLE: &str = "a black-box attack (Square) does not beat the white-box attack";
    if let Some(after) = own.params["robust_after_each_stage"].as_array() {
        // auto: the stage before Square is the white-box worst case so far.
        let mut flagged = false;
        let mut parts = Vec::new();
        for e in after {
            let stages = e["stages"].as_array().cloned().unwrap_or_default();
            let acc = |k: usize| stages.get(k).and_then(|s| s["accuracy"].as_f64());
            if let Some(k) = stages.iter().position(|s| s["after"] == "square").filter(|&k| k > 0) {
                let (white, black) = (acc(k - 1).unwrap_or(f64::NAN), acc(k).unwrap_or(f64::NAN));
                flagged |= black < white;
                let eps = e["eps"].as_f64().unwrap_or(f64::NAN);
                parts.push(format!(
                    "eps {eps}: after the white-box stages {}, after Square {}",
                    pct(white),
                    pct(black)
                ));
            }
        }
        if !parts.is_empty() {
            return Ok(check(
                "black-box-vs-white-box",
                TITLE,
                if flagged { Status::Flag } else { Status::Pass },
                parts.join("; "),
            ));
        }
    }
    if ev.attack.name() == "square" || ev.surrogate.is_some() {
        let why = if ev.surrogate.is_some() { "a transfer attack is not white-box" } else { "the attack is Square" };
        return Ok(check("black-box-vs-white-box", TITLE, Status::Skipped, why.into()));
    }
    let sq = attacked(&run(&Square::with_queries(1000).with_norm(ev.attack.norm()))?);
    let (s, detail) = compare(own_rows, &sq, (ev.attack.name(), "Square-1000"), |w, b| b < w - 1e-12);
    Ok(check("black-box-vs-white-box", TITLE, s, detail))
}
