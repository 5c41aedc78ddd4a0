//! The paper's claims, each judged from our numbers: holds / partly / does not hold.
//!
//! Thresholds are ours (the paper gives none) and are written into every verdict's evidence.

use super::analysis::{GridRow, RobustRow, Selection, Table3Row};
use super::ReproduceConfig;
use crate::attack::ClipMode;
use serde::{Deserialize, Serialize};

/// How a claim fares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Holds,
    Partly,
    DoesNotHold,
    /// Not something a number can decide (e.g. a visual judgement).
    NotMeasured,
}

impl Verdict {
    /// Human-readable verdict.
    pub fn text(self) -> &'static str {
        match self {
            Verdict::Holds => "holds",
            Verdict::Partly => "partly",
            Verdict::DoesNotHold => "does not hold",
            Verdict::NotMeasured => "not measured",
        }
    }
}

/// One claim of the paper with our verdict and the numbers that decide it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claim {
    pub claim: String,
    pub verdict: Verdict,
    pub evidence: String,
}

/// Which FGSM clip mode reproduces the paper's adversarial numbers more closely.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Closeness {
    /// Mean |ours - paper| over all adversarial cells of Tables 1-3, clipped FGSM.
    pub clipped_mae: f64,
    /// The same for unclipped FGSM.
    pub unclipped_mae: f64,
    /// Cells compared per mode.
    pub cells: usize,
    /// The closer mode.
    pub closer: ClipMode,
}

/// Mean absolute paper-vs-ours difference per clip mode over Tables 1-3's adversarial cells.
pub fn closeness<'a>(rows: impl Iterator<Item = &'a GridRow>, table3: &[Table3Row]) -> Closeness {
    let (mut sums, mut counts) = ([0.0f64; 2], [0usize; 2]);
    let mut add = |clip: ClipMode, d: Option<f64>| {
        if let Some(d) = d.filter(|d| d.is_finite()) {
            let k = usize::from(clip == ClipMode::Unclipped);
            sums[k] += d.abs();
            counts[k] += 1;
        }
    };
    for r in rows {
        for a in &r.adv {
            add(a.clip, a.accuracy.diff);
            add(a.clip, a.confidence.diff);
        }
    }
    for t in table3 {
        for c in [&t.with_reg_accuracy, &t.with_reg_confidence, &t.without_reg_accuracy, &t.without_reg_confidence] {
            add(t.clip, c.diff);
        }
    }
    let mae = |k: usize| sums[k] / counts[k].max(1) as f64;
    Closeness {
        clipped_mae: mae(0),
        unclipped_mae: mae(1),
        cells: counts[0],
        closer: if mae(1) < mae(0) { ClipMode::Unclipped } else { ClipMode::Clipped },
    }
}

/// In one clip mode: the mean |ours - paper| over Tables 1-2's adversarial cells with FGSM's
/// gradient exact and float32, and which lies closer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GradientCloseness {
    /// The clip mode.
    pub clip: ClipMode,
    /// With exact gradient signs (redblue's default).
    pub exact_mae: f64,
    /// With the frameworks' float32 gradient.
    pub float32_mae: f64,
    /// Cells compared.
    pub cells: usize,
    /// "exact", "float32", or "neither (the two agree)".
    pub closer: String,
}

/// [`GradientCloseness`] per clip mode.
pub fn gradient_closeness<'a>(rows: impl Iterator<Item = &'a GridRow> + Clone) -> Vec<GradientCloseness> {
    [ClipMode::Unclipped, ClipMode::Clipped]
        .into_iter()
        .map(|clip| {
            let mae = |pick: fn(&GridRow) -> &[super::analysis::AdvCell]| {
                let d: Vec<f64> = rows
                    .clone()
                    .flat_map(|r| {
                        pick(r).iter().filter(|a| a.clip == clip).flat_map(|a| [a.accuracy.diff, a.confidence.diff])
                    })
                    .flatten()
                    .filter(|d| d.is_finite())
                    .map(f64::abs)
                    .collect();
                (d.iter().sum::<f64>() / d.len().max(1) as f64, d.len())
            };
            let ((exact_mae, cells), (float32_mae, _)) = (mae(|r| &r.adv), mae(|r| &r.adv_float32));
            let closer = match float32_mae.total_cmp(&exact_mae) {
                std::cmp::Ordering::Less => "float32",
                std::cmp::Ordering::Greater => "exact",
                std::cmp::Ordering::Equal => "neither (the two agree)",
            }
            .to_string();
            GradientCloseness { clip, exact_mae, float32_mae, cells, closer }
        })
        .collect()
}

fn adv_acc(r: &GridRow, eps: f64, clip: ClipMode) -> f64 {
    r.adv.iter().find(|a| a.eps == eps && a.clip == clip).map_or(f64::NAN, |a| a.accuracy.ours.mean)
}

/// Accuracy under FGSM at which we say "the red team fails" against adversarial training.
pub const RED_TEAM_FAILS_AT: f64 = 0.80;
/// PGD accuracy below which an FGSM-robust model is only "partly" robust.
pub const PGD_FLOOR: f64 = 0.50;

/// Judges every claim of the paper.
pub fn judge(
    cfg: &ReproduceConfig,
    sel: &Selection,
    table1: Option<&GridRow>,
    table2: &[GridRow],
    table3: &[Table3Row],
    adv_training: &[RobustRow],
) -> Vec<Claim> {
    let mut out = Vec::new();
    let chosen = table2.iter().find(|r| (r.l1, r.l2) == sel.chosen);
    if let (Some(t1), Some(ch)) = (table1, chosen) {
        let modes: Vec<(ClipMode, f64, f64)> = [ClipMode::Clipped, ClipMode::Unclipped]
            .iter()
            .map(|&c| (c, adv_acc(t1, 0.10, c), adv_acc(ch, 0.10, c)))
            .collect();
        let better = modes.iter().filter(|(_, a, b)| b > a).count();
        out.push(Claim {
            claim: "L1/L2 regularization raises FGSM accuracy at eps 0.10 over no regularization (Tables 1-2)".into(),
            verdict: match better {
                2 => Verdict::Holds,
                1 => Verdict::Partly,
                _ => Verdict::DoesNotHold,
            },
            evidence: modes
                .iter()
                .map(|(c, a, b)| format!("{}: {:.4} (none) -> {:.4} (l1={}, l2={})", c.name(), a, b, ch.l1, ch.l2))
                .collect::<Vec<_>>()
                .join("; "),
        });
    }
    out.push(Claim {
        claim: "The selection rule picks l1 = l2 = 1e-4".into(),
        verdict: if sel.chosen == sel.paper_choice { Verdict::Holds } else { Verdict::DoesNotHold },
        evidence: format!(
            "our table picks l1={}, l2={} (clipped FGSM accuracy {:.4} at eps 0.10); scored unclipped it picks l1={}, l2={}",
            sel.chosen.0, sel.chosen.1, sel.value, sel.chosen_unclipped.0, sel.chosen_unclipped.1
        ),
    });
    let t3: Vec<&Table3Row> = table3.iter().filter(|t| t.clip == ClipMode::Clipped).collect();
    let wins = t3.iter().filter(|t| t.with_reg_accuracy.ours.mean > t.without_reg_accuracy.ours.mean).count();
    out.push(Claim {
        claim: "At eps 0.05 and 0.075 the chosen regularized model is more accurate under FGSM than the unregularized one (Table 3)".into(),
        verdict: if wins == t3.len() && wins > 0 { Verdict::Holds } else if wins > 0 { Verdict::Partly } else { Verdict::DoesNotHold },
        evidence: t3
            .iter()
            .map(|t| format!("eps {}: {:.4} with vs {:.4} without (clipped)", t.eps, t.with_reg_accuracy.ours.mean, t.without_reg_accuracy.ours.mean))
            .collect::<Vec<_>>()
            .join("; "),
    });
    for r in adv_training.iter().filter(|r| r.adv_eps.is_some()) {
        let e = r.adv_eps.unwrap_or(0.0);
        let f = r.fgsm.iter().find(|(x, _)| *x == e).map(|(_, s)| s.mean);
        let p = r.pgd.iter().find(|m| m.eps == e);
        let auto = r.auto.iter().find(|(x, s)| *x == e && s.n > 0).map(|(_, s)| s.mean);
        let fgsm_ok = f.is_some_and(|f| f >= RED_TEAM_FAILS_AT);
        // Robustness holds only as far as the strongest attack run supports it.
        let strongest = p.map(|m| m.pgd.mean).into_iter().chain(auto).fold(f64::INFINITY, f64::min);
        let pgd_ok = (p.is_none() && auto.is_none()) || (strongest >= PGD_FLOOR && !p.is_some_and(|m| m.flagged));
        // A claim of robustness holds only as far as it is proven: the lower end of robust
        // accuracy (CROWN on the PGD images, else on the auto images) must clear the bar too.
        let verified = p
            .map(|m| m.verified)
            .filter(|v| v.n > 0)
            .or_else(|| r.auto_verified.iter().find(|(x, v)| *x == e && v.n > 0).map(|(_, v)| *v))
            .map(|v| v.mean);
        let proven = verified.is_some_and(|v| v >= RED_TEAM_FAILS_AT);
        out.push(Claim {
            claim: format!("After FGSM adversarial training (eps {e}, l1={}, l2={}) the red team fails", r.l1, r.l2),
            verdict: match (fgsm_ok, pgd_ok, proven) {
                (true, true, true) => Verdict::Holds,
                (true, _, _) => Verdict::Partly,
                _ => Verdict::DoesNotHold,
            },
            evidence: format!(
                "robust accuracy at eps {e} in [{}, {}] (verified by CROWN, attacked by the strongest attack run; \
                 holds only if the verified end is >= {RED_TEAM_FAILS_AT}); FGSM accuracy at eps {e}: {} (fails if \
                 >= {RED_TEAM_FAILS_AT}); PGD-{} accuracy: {}; auto (AutoAttack standard) accuracy: {}{}",
                verified.map_or("n/a".into(), |v| format!("{v:.4}")),
                if strongest.is_finite() { format!("{strongest:.4}") } else { "n/a".into() },
                f.map_or("n/a".into(), |v| format!("{v:.4}")),
                cfg.pgd_steps,
                p.map_or("n/a".into(), |m| format!(
                    "{:.4} on {} images",
                    m.pgd.mean,
                    cfg.pgd_subset.map_or("all".into(), |n| n.to_string())
                )),
                auto.map_or("n/a".into(), |v| format!(
                    "{v:.4} on {} images",
                    cfg.auto_subset.map_or("all".into(), |n| n.to_string())
                )),
                p.filter(|m| m.flagged)
                    .map_or(String::new(), |_| " - robust to FGSM only (gradient masking suspected)".into()),
            ),
        });
    }
    out.push(Claim {
        claim: "Adversarial images with eps > 0.10 are visibly perturbed, so attackers must use eps < 0.10".into(),
        verdict: Verdict::NotMeasured,
        evidence: "a visual judgement: see figure1.png".into(),
    });
    out
}
