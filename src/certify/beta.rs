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

use super::bounds::{down, gamma};
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
    /// The same transposed, `[units, d]`.
    wt: Vec<f64>,
    /// Each unit's position in `units`, or `usize::MAX`.
    pub pos: Vec<usize>,
    /// The stable active units' part of `g`, `[d]`.
    q_fixed: Vec<f64>,
    /// The magnitudes of its terms, `sum_k |a_k W1[i, k]|`, `[d]`.
    q_mag: Vec<f64>,
    /// `c` plus the stable active units' biases times `a`.
    c_fixed: f64,
    /// The magnitudes of its terms.
    c_mag: f64,
    /// The stable active units' count (terms in `q_fixed`).
    n_active: usize,
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
        let mut q_mag = vec![0.0; d];
        let (mut c_fixed, mut c_mag) = (m.c, m.c.abs());
        let active: Vec<usize> = (0..h).filter(|&k| m.zl[k] >= 0.0 && m.a[k] != 0.0).collect();
        for &k in &active {
            c_fixed += m.a[k] * m.net.b1[k];
            c_mag += (m.a[k] * m.net.b1[k]).abs();
        }
        for i in 0..d {
            let row = &m.net.w1[i * m.net.h..(i + 1) * m.net.h];
            for (u, &k) in units.iter().enumerate() {
                w[i * nu + u] = row[k];
            }
            q_fixed[i] = active.iter().map(|&k| m.a[k] * row[k]).sum();
            q_mag[i] = active.iter().map(|&k| (m.a[k] * row[k]).abs()).sum();
        }
        let slope = units.iter().map(|&k| if m.a[k] < 0.0 { m.chord_slope(k) } else { 0.0 }).collect();
        let mut wt = vec![0.0; d * nu];
        for i in 0..d {
            for u in 0..nu {
                wt[u * d + i] = w[i * nu + u];
            }
        }
        Dual { units, w, wt, pos, q_fixed, q_mag, c_fixed, c_mag, n_active: active.len(), slope }
    }

    /// The root's multipliers: CROWN's adaptive slopes, no split yet.
    pub fn start(&self, m: &Margin<'_>) -> Multipliers {
        let alpha = self.units.iter().map(|&k| if m.zu[k] >= -m.zl[k] { 1.0 } else { 0.0 }).collect();
        Multipliers { alpha, beta: vec![0.0; self.units.len()] }
    }

    /// Each unit's coefficient on `z_k`, for `splits` and `p`, and the constant with the
    /// magnitude of its terms. Each coefficient, as rounded, stands for valid multipliers of
    /// its own: `fl(a - beta) <= a`, `0 <= fl(a alpha) <= a` (rounding is monotone), and a
    /// chord's `a s` is rounded down, so its slope `fl(a s) / a` is at least `s`.
    fn coefficients(&self, m: &Margin<'_>, splits: &[i8], p: &Multipliers) -> (Vec<f64>, f64, f64) {
        let (mut konst, mut mag) = (self.c_fixed, self.c_mag);
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
                        let cf = down(a * self.slope[u]);
                        konst -= cf * m.zl[k];
                        mag += (cf * m.zl[k]).abs();
                        cf
                    }
                };
                konst += cf * m.net.b1[k];
                mag += (cf * m.net.b1[k]).abs();
                cf
            })
            .collect();
        (coef, konst, mag)
    }

    /// The proven lower bound on the margin over the node's region that `p` gives: the
    /// linear bound's minimum over the box, less a bound on every rounding in computing it.
    ///
    /// With the rounded coefficients `γ` as exact multipliers, the bound is exactly
    /// `K + sum_i min(G_i lo_i, G_i hi_i)`, `G_i = sum_k γ_k W1[i, k]` (stable active units
    /// at `a_k`). Each computed `g_i` is within `gamma_n M_i` of `G_i` (`M_i` its terms'
    /// magnitudes), which moves its pixel's term by at most that times `max(|lo_i|, |hi_i|)`;
    /// the constant's and the final sum's roundings are bounded the same way.
    pub fn bound(&self, m: &Margin<'_>, splits: &[i8], p: &Multipliers) -> f64 {
        let (d, nu) = (m.net.d, self.units.len());
        let (coef, konst, k_mag) = self.coefficients(m, splits, p);
        let mut g = self.q_fixed.clone();
        let mut g_mag = self.q_mag.clone();
        for (u, &cf) in coef.iter().enumerate().filter(|(_, &cf)| cf != 0.0) {
            let col = &self.wt[u * d..(u + 1) * d];
            g.iter_mut().zip(col).for_each(|(g, w)| *g += w * cf);
            g_mag.iter_mut().zip(col).for_each(|(g, w)| *g += (w * cf).abs());
        }
        let (mut total, mut err_mag) = (konst, k_mag + konst.abs());
        for ((&g, &gm), (&l, &h)) in g.iter().zip(&g_mag).zip(m.lo.iter().zip(m.hi)) {
            let x = if g >= 0.0 { l } else { h };
            total += g * x;
            err_mag += gm * l.abs().max(h.abs()) + (g * x).abs();
        }
        // Doubled: the error terms are themselves rounded sums.
        let err = gamma(self.n_active + 2 * nu + d + 8) * err_mag * 2.0;
        let b = down(total - err);
        if b.is_nan() {
            f64::NEG_INFINITY
        } else {
            b
        }
    }

    /// The linear bound's minimum over the box (plain f64) and the corner that attains it,
    /// `g` starting from `base` (the terms that do not move) plus the units `moving`.
    fn evaluate(&self, m: &Margin<'_>, base: &[f64], coef: &[f64], moving: &[usize], konst: f64) -> (f64, Vec<f64>) {
        let d = m.net.d;
        let mut g = base.to_vec();
        for &u in moving.iter().filter(|&&u| coef[u] != 0.0) {
            let cf = coef[u];
            g.iter_mut().zip(&self.wt[u * d..(u + 1) * d]).for_each(|(g, w)| *g += w * cf);
        }
        let mut total = konst;
        let corner = g
            .iter()
            .zip(m.lo.iter().zip(m.hi))
            .map(|(&g, (&l, &h))| {
                let x = if g >= 0.0 { l } else { h };
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
        let (d, nu) = (m.net.d, self.units.len());
        // The units whose multiplier moves (free with a_k > 0, or split); the chords' part
        // of `g` is summed once.
        let moves = |u: usize| splits[self.units[u]] != 0 || m.a[self.units[u]] > 0.0;
        let moving: Vec<usize> = (0..nu).filter(|&u| moves(u)).collect();
        let (coef, konst, _) = self.coefficients(m, splits, p);
        let mut base = self.q_fixed.clone();
        for (u, &cf) in coef.iter().enumerate().filter(|&(u, _)| !moves(u)) {
            base.iter_mut().zip(&self.wt[u * d..(u + 1) * d]).for_each(|(g, w)| *g += w * cf);
        }
        let (mut best, mut best_x) = self.evaluate(m, &base, &coef, &moving, konst);
        let mut best_p = p.clone();
        let (mut m1, mut m2) = (vec![0.0; nu], vec![0.0; nu]);
        let (b1, b2) = (0.9f64, 0.999f64);
        let mut x = best_x.clone();
        // The pre-activations at the current corner, updated over the pixels that move.
        let mut z = self.preactivations(m, &x);
        for t in 1..=steps {
            for &u in &moving {
                // d bound / d parameter, ascent direction.
                let (grad, lr) = match splits[self.units[u]] {
                    1 => (-z[u], LR_BETA),
                    -1 => (z[u], LR_BETA),
                    _ => (m.a[self.units[u]] * z[u], LR_ALPHA),
                };
                m1[u] = b1 * m1[u] + (1.0 - b1) * grad;
                m2[u] = b2 * m2[u] + (1.0 - b2) * grad * grad;
                let step =
                    lr * (m1[u] / (1.0 - b1.powi(t as i32))) / ((m2[u] / (1.0 - b2.powi(t as i32))).sqrt() + 1e-8);
                if splits[self.units[u]] != 0 {
                    p.beta[u] = (p.beta[u] + step).max(0.0);
                } else {
                    p.alpha[u] = (p.alpha[u] + step).clamp(0.0, 1.0);
                }
            }
            let (coef, konst, _) = self.coefficients(m, splits, p);
            let (v, cx) = self.evaluate(m, &base, &coef, &moving, konst);
            if v > best {
                (best, best_x, best_p) = (v, cx.clone(), p.clone());
            }
            for (i, (new, old)) in cx.iter().zip(&x).enumerate().filter(|(_, (n, o))| n != o) {
                let dx = new - old;
                z.iter_mut().zip(&self.w[i * nu..(i + 1) * nu]).for_each(|(z, w)| *z += dx * w);
            }
            x = cx;
        }
        *p = best_p;
        (best, best_x)
    }

    /// The margin at `x` (plain f64) from the unstable units' pre-activations `z` there:
    /// the stable inactive units add nothing anywhere in the box, the stable active ones
    /// their linear part.
    pub fn value(&self, m: &Margin<'_>, x: &[f64], z: &[f64]) -> f64 {
        let linear: f64 = self.q_fixed.iter().zip(x).map(|(q, x)| q * x).sum();
        let relu: f64 = self.units.iter().zip(z).map(|(&k, z)| m.a[k] * z.max(0.0)).sum();
        self.c_fixed + linear + relu
    }
}
