//! Losses as values: what an attack maximises, computed from one example's logits, with its
//! gradient with respect to those logits. The model turns that gradient into an input
//! gradient ([`crate::model::Classifier::forward_vjp`]); nothing outside the model runs a
//! backward pass.
//!
//! - Cross-entropy, `log sum_j exp z_j - z_y`, with the gradient in a stable form: for `j != y`
//!   `p_j`, and for the true class `p_y - 1 = -sum_{j != y} p_j` (summed in f64), so that a
//!   confidently classified image, whose `p_y` rounds to 1 in f32, keeps its true-class term.
//! - CW margin (Carlini & Wagner, "Towards Evaluating the Robustness of Neural Networks",
//!   arXiv:1608.04644): `max_{j != y} z_j - z_y`, positive once the image is misclassified.
//! - DLR and targeted DLR (Croce & Hein, "Reliable evaluation of adversarial robustness with an
//!   ensemble of diverse parameter-free attacks", arXiv:2003.01690, eqs. 5 and 6), with
//!   `z_(1) >= z_(2) >= ...` the sorted logits:
//!   `DLR = -(z_y - max_{j != y} z_j) / (z_(1) - z_(3) + 1e-12)` and
//!   `DLR_t = -(z_y - z_t) / (z_(1) - (z_(3) + z_(4)) / 2 + 1e-12)`. Both are invariant to
//!   shifting and scaling the logits, which defeats gradient masking by logit scaling.
//!
//! Every loss here is to be maximised by an untargeted attack (the targeted DLR already points
//! toward its target class).

use serde::{Deserialize, Serialize};

/// An attack's objective.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Loss {
    /// Cross-entropy of the true class.
    #[default]
    Ce,
    /// Carlini-Wagner margin `max_{j != y} z_j - z_y`.
    Cw,
    /// Difference of logits ratio.
    Dlr,
    /// Targeted difference of logits ratio (needs a target class; at least 4 classes).
    DlrTargeted,
}

/// DLR's guard against a zero denominator (the paper's 1e-12).
const DLR_GUARD: f64 = 1e-12;

impl Loss {
    /// Name used in files and reports.
    pub fn name(self) -> &'static str {
        match self {
            Loss::Ce => "ce",
            Loss::Cw => "cw",
            Loss::Dlr => "dlr",
            Loss::DlrTargeted => "dlr-targeted",
        }
    }

    /// Whether the loss needs a target class.
    pub fn targeted(self) -> bool {
        self == Loss::DlrTargeted
    }

    /// The loss of one logits row for true class `y` (and `target` for the targeted loss),
    /// with its gradient with respect to the logits written into `grad` (scaled by `scale`).
    /// Ties between logits take one side's subgradient.
    pub fn value_grad(self, row: &[f32], y: usize, target: Option<usize>, scale: f32, grad: &mut [f32]) -> f32 {
        let z: Vec<f64> = row.iter().map(|&v| f64::from(v)).collect();
        let mut g = vec![0.0f64; z.len()];
        let value = match self {
            Loss::Ce => crate::nn::ops::ce_grad_exact(&z, y, &mut g),
            Loss::Cw => {
                let m = best_other(&z, y);
                g[m] += 1.0;
                g[y] -= 1.0;
                z[m] - z[y]
            }
            Loss::Dlr => {
                let order = sorted(&z);
                let m = best_other(&z, y);
                let num = z[y] - z[m];
                let den = z[order[0]] - z[order[2.min(z.len() - 1)]] + DLR_GUARD;
                // L = -num / den: dL = -dnum / den + num / den^2 * dden.
                g[y] -= 1.0 / den;
                g[m] += 1.0 / den;
                g[order[0]] += num / (den * den);
                g[order[2.min(z.len() - 1)]] -= num / (den * den);
                -num / den
            }
            Loss::DlrTargeted => {
                let t = target.unwrap_or(y);
                let order = sorted(&z);
                let (i3, i4) = (order[2.min(z.len() - 1)], order[3.min(z.len() - 1)]);
                let num = z[y] - z[t];
                let den = z[order[0]] - 0.5 * (z[i3] + z[i4]) + DLR_GUARD;
                g[y] -= 1.0 / den;
                g[t] += 1.0 / den;
                let k = num / (den * den);
                g[order[0]] += k;
                g[i3] -= 0.5 * k;
                g[i4] -= 0.5 * k;
                -num / den
            }
        };
        for (o, v) in grad.iter_mut().zip(&g) {
            *o = scale * *v as f32;
        }
        value as f32
    }
}

/// The index of the largest logit other than `y` (the first one on ties).
fn best_other(z: &[f64], y: usize) -> usize {
    let mut best = if y == 0 { 1.min(z.len() - 1) } else { 0 };
    for (j, &v) in z.iter().enumerate() {
        if j != y && v > z[best] {
            best = j;
        }
    }
    best
}

/// Indices of the logits from the largest down (stable on ties).
fn sorted(z: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..z.len()).collect();
    idx.sort_by(|&a, &b| z[b].total_cmp(&z[a]));
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Logits without ties, spread like a trained model's (one large, several small).
    fn rows() -> Vec<Vec<f32>> {
        let mut s = 17u64;
        let mut next = || {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 33) as f32 / (1u64 << 31) as f32) * 2.0 - 1.0
        };
        (0..40).map(|k| (0..10).map(|j| next() * 4.0 + if j == k % 10 { 6.0 } else { 0.0 }).collect()).collect()
    }

    #[test]
    fn every_gradient_matches_central_finite_differences() {
        for loss in [Loss::Ce, Loss::Cw, Loss::Dlr, Loss::DlrTargeted] {
            for (k, row) in rows().iter().enumerate() {
                let (y, t) = (k % 10, (k + 3) % 10);
                let mut g = vec![0.0f32; 10];
                loss.value_grad(row, y, Some(t), 1.0, &mut g);
                for (j, &gj) in g.iter().enumerate() {
                    let h = 1e-3f64;
                    let at = |d: f64| {
                        let r: Vec<f32> = row
                            .iter()
                            .enumerate()
                            .map(|(i, &v)| if i == j { (f64::from(v) + d) as f32 } else { v })
                            .collect();
                        let mut scratch = vec![0.0f32; 10];
                        f64::from(loss.value_grad(&r, y, Some(t), 1.0, &mut scratch))
                    };
                    let fd = (at(h) - at(-h)) / (2.0 * h);
                    assert!(
                        (fd - f64::from(gj)).abs() <= 2e-3 * (1.0 + fd.abs()),
                        "{} row {k} logit {j}: analytic {gj} vs finite difference {fd}",
                        loss.name()
                    );
                }
            }
        }
    }

    #[test]
    fn cross_entropy_keeps_the_true_class_term_when_p_y_rounds_to_one() {
        // p_y = 1 - ~1e-9: in f32 softmax - onehot would give exactly 0 for the true class.
        let row = [25.0f32, 5.0, 4.0, 3.0, 2.0, 1.0, 0.0, -1.0, -2.0, -3.0];
        let mut g = vec![0.0f32; 10];
        let value = Loss::Ce.value_grad(&row, 0, None, 1.0, &mut g);
        let p1 = (5.0f64 - 25.0).exp();
        assert!(g[0] < 0.0 && (f64::from(g[0]) + g[1..].iter().map(|&v| f64::from(v)).sum::<f64>()).abs() < 1e-12);
        assert!((f64::from(g[1]) - p1).abs() < 1e-3 * p1, "{}", g[1]);
        assert!(value > 0.0 && value < 1e-7);
    }

    #[test]
    fn losses_have_the_documented_signs_and_invariances() {
        let row = [3.0f32, 1.0, 0.5, 0.2];
        let mut g = [0.0f32; 4];
        assert_eq!(Loss::Cw.value_grad(&row, 0, None, 1.0, &mut g), -2.0);
        assert_eq!(Loss::Cw.value_grad(&row, 1, None, 1.0, &mut g), 2.0);
        // DLR: correctly classified -> negative; invariant to shift and positive scale.
        let d = Loss::Dlr.value_grad(&row, 0, None, 1.0, &mut g);
        assert!(d < 0.0);
        let moved: Vec<f32> = row.iter().map(|v| 7.0 * v + 3.0).collect();
        let d2 = Loss::Dlr.value_grad(&moved, 0, None, 1.0, &mut g);
        assert!((d - d2).abs() < 1e-6, "{d} vs {d2}");
        let t = Loss::DlrTargeted.value_grad(&row, 0, Some(3), 1.0, &mut g);
        assert!(t < 0.0 && g[3] > 0.0, "{t} {g:?}");
    }
}
