//! Node bounds for the branch and bound without a linear program: the Lagrangian dual of a
//! node's LP, its multipliers found by projected gradient ascent, in the manner of
//! beta-CROWN (Wang et al., "Beta-CROWN: Efficient Bound Propagation with Per-neuron Split
//! Constraints for Neural Network Robustness Verification", NeurIPS 2021, arXiv:2103.06624).
//!
//! For the one-hidden-layer margin `m(x) = c + sum_k a_k relu(z_k(x))` at a node (some units
//! split active, `z_k >= 0`, or inactive, `z_k <= 0`), every choice of
//! - a lower slope `alpha_k` in [0, 1] for each free unstable unit with `a_k > 0`
//!   (`relu(z) >= alpha z`, the optimised slopes of alpha-CROWN),
//! - the chord for each free unstable unit with `a_k < 0`,
//! - a multiplier `beta_k >= 0` for each split constraint,
//!
//! gives a linear function of `x` below the margin on the node's region, and its minimum over
//! the box (at a corner, in closed form) is a lower bound. Its gradient in `alpha` and `beta`
//! is the pre-activations at that corner, so each ascent step is two products with the
//! unstable units' weights. The best multipliers equal the node LP's optimum (LP duality),
//! which the ascent approaches; children start from their parent's multipliers.
//!
//! Only the multipliers come from this floating-point search. The bound that prunes a node is
//! recomputed from them by the same outward-rounded Lagrangian as the LP's duals
//! ([`super::exact`]), so a poor or rounded search can only weaken a bound, never make it
//! unsound.

use super::exact::Margin;

/// Ascent steps for the root node and for each child (warm-started from its parent).
pub const ROOT_STEPS: usize = 60;
/// See [`ROOT_STEPS`].
pub const CHILD_STEPS: usize = 15;
const LR_ALPHA: f64 = 0.1;
const LR_BETA: f64 = 0.05;

/// The margin's unstable units and their weights, gathered once per margin.
pub struct Dual {
    /// The unstable units (`l_k < 0 < u_k`, `a_k != 0`).
    pub units: Vec<usize>,
    /// Their first-layer weights, `[d, units]`.
    w: Vec<f64>,
    /// Each unit's position in `units`, or `usize::MAX`.
    pub pos: Vec<usize>,
    /// The stable active units' part of `g`, `[d]`.
    q_fixed: Vec<f64>,
    /// `c` plus the stable active units' biases times `a`.
    c_fixed: f64,
    /// The chord slope of each unit with `a_k < 0` (as the LP rounds it), else 0.
    slope: Vec<f64>,
}

/// A node's multipliers, one of each per unstable unit (in [`Dual::units`] order): `alpha`
/// is used while the unit is free, `beta` once it is split.
#[derive(Clone, Debug)]
pub struct Multipliers {
    pub alpha: Vec<f64>,
    pub beta: Vec<f64>,
}

impl Dual {
    /// Gathers the unstable units of `m`.
    pub fn new(m: &Margin<'_>) -> Dual {
        let (d, h) = (m.net.d, m.net.h);
        let units: Vec<usize> = (0..h).filter(|&k| m.zl[k] < 0.0 && m.zu[k] > 0.0 && m.a[k] != 0.0).collect();
        let mut pos = vec![usize::MAX; h];
        units.iter().enumerate().for_each(|(u, &k)| pos[k] = u);
        let nu = units.len();
        let mut w = vec![0.0; d * nu];
        let mut q_fixed = vec![0.0; d];
        let mut c_fixed = m.c;
        let active: Vec<usize> = (0..h).filter(|&k| m.zl[k] >= 0.0 && m.a[k] != 0.0).collect();
        for &k in &active {
            c_fixed += m.a[k] * m.net.b1[k];
        }
        for i in 0..d {
            let row = &m.net.w1[i * m.net.h..(i + 1) * m.net.h];
            for (u, &k) in units.iter().enumerate() {
                w[i * nu + u] = row[k];
            }
            q_fixed[i] = active.iter().map(|&k| m.a[k] * row[k]).sum();
        }
        let slope = units.iter().map(|&k| if m.a[k] < 0.0 { m.chord_slope(k) } else { 0.0 }).collect();
        Dual { units, w, pos, q_fixed, c_fixed, slope }
    }

    /// The root's multipliers: CROWN's adaptive slopes, no split yet.
    pub fn start(&self, m: &Margin<'_>) -> Multipliers {
        let alpha = self.units.iter().map(|&k| if m.zu[k] >= -m.zl[k] { 1.0 } else { 0.0 }).collect();
        Multipliers { alpha, beta: vec![0.0; self.units.len()] }
    }

    /// Each unit's coefficient on `z_k` and the constant, for `splits` and `p`.
    fn coefficients(&self, m: &Margin<'_>, splits: &[i8], p: &Multipliers) -> (Vec<f64>, f64) {
        let mut konst = self.c_fixed;
        let coef = self
            .units
            .iter()
            .enumerate()
            .map(|(u, &k)| {
                let a = m.a[k];
                let cf = match splits[k] {
                    1 => a - p.beta[u],
                    -1 => p.beta[u],
                    _ if a > 0.0 => a * p.alpha[u],
                    _ => {
                        konst -= a * self.slope[u] * m.zl[k];
                        a * self.slope[u]
                    }
                };
                konst += cf * m.net.b1[k];
                cf
            })
            .collect();
        (coef, konst)
    }

    /// The linear bound's minimum over the box (plain f64) and the corner that attains it.
    fn evaluate(&self, m: &Margin<'_>, coef: &[f64], konst: f64) -> (f64, Vec<f64>) {
        let nu = self.units.len();
        let mut total = konst;
        let corner = (0..m.net.d)
            .map(|i| {
                let g =
                    self.q_fixed[i] + self.w[i * nu..(i + 1) * nu].iter().zip(coef).map(|(w, c)| w * c).sum::<f64>();
                let x = if g >= 0.0 { m.lo[i] } else { m.hi[i] };
                total += g * x;
                x
            })
            .collect();
        (total, corner)
    }

    /// The unstable units' pre-activations at `x`.
    pub fn preactivations(&self, m: &Margin<'_>, x: &[f64]) -> Vec<f64> {
        let nu = self.units.len();
        let mut z: Vec<f64> = self.units.iter().map(|&k| m.net.b1[k]).collect();
        for (i, &xi) in x.iter().enumerate() {
            z.iter_mut().zip(&self.w[i * nu..(i + 1) * nu]).for_each(|(zu, w)| *zu += xi * w);
        }
        z
    }

    /// Projected Adam ascent on the node's dual for `steps` steps from `p`, which is left at
    /// the best multipliers seen; returns the (unrounded) bound there and its corner.
    pub fn ascend(&self, m: &Margin<'_>, splits: &[i8], p: &mut Multipliers, steps: usize) -> (f64, Vec<f64>) {
        let nu = self.units.len();
        let (coef, konst) = self.coefficients(m, splits, p);
        let (mut best, mut best_x) = self.evaluate(m, &coef, konst);
        let mut best_p = p.clone();
        // Which parameter moves for each unit, and the sign of its effect on the coefficient.
        let (mut m1, mut m2) = (vec![0.0; nu], vec![0.0; nu]);
        let (b1, b2) = (0.9f64, 0.999f64);
        let mut x = best_x.clone();
        for t in 1..=steps {
            let z = self.preactivations(m, &x);
            for (u, &k) in self.units.iter().enumerate() {
                // d bound / d parameter, ascent direction.
                let (grad, lr) = match splits[k] {
                    1 => (-z[u], LR_BETA),
                    -1 => (z[u], LR_BETA),
                    _ if m.a[k] > 0.0 => (m.a[k] * z[u], LR_ALPHA),
                    _ => continue,
                };
                m1[u] = b1 * m1[u] + (1.0 - b1) * grad;
                m2[u] = b2 * m2[u] + (1.0 - b2) * grad * grad;
                let step =
                    lr * (m1[u] / (1.0 - b1.powi(t as i32))) / ((m2[u] / (1.0 - b2.powi(t as i32))).sqrt() + 1e-8);
                if splits[k] != 0 {
                    p.beta[u] = (p.beta[u] + step).max(0.0);
                } else {
                    p.alpha[u] = (p.alpha[u] + step).clamp(0.0, 1.0);
                }
            }
            let (coef, konst) = self.coefficients(m, splits, p);
            let (v, cx) = self.evaluate(m, &coef, konst);
            if v > best {
                (best, best_x, best_p) = (v, cx.clone(), p.clone());
            }
            x = cx;
        }
        *p = best_p;
        (best, best_x)
    }

    /// The LP row multipliers that these multipliers stand for, in [`Margin`]'s row order
    /// (the free unstable units' envelope or chord rows, then the split rows).
    pub fn row_multipliers(&self, m: &Margin<'_>, splits: &[i8], p: &Multipliers) -> Vec<f64> {
        let free = self.units.iter().enumerate().filter(|(_, &k)| splits[k] == 0);
        let mut lambda: Vec<f64> =
            free.map(|(u, &k)| if m.a[k] > 0.0 { m.a[k] * p.alpha[u] } else { -m.a[k] }).collect();
        for (k, &s) in splits.iter().enumerate() {
            if s != 0 {
                let u = self.pos[k];
                lambda.push(if u == usize::MAX { 0.0 } else { p.beta[u] });
            }
        }
        lambda
    }
}
