//! Complete verification of a one-hidden-layer ReLU network: branch and bound over hidden
//! units, each node bounded by its linear program's Lagrangian dual.
//!
//! The margin `m(x) = sum_k a_k relu(z_k(x)) + c` (`a = W2[:, y] - W2[:, j]`, `z = x·W1 + b1`)
//! is minimised over the input box. Stable units (`l_k >= 0` or `u_k <= 0` over the box) are
//! linear. An unstable unit with `a_k > 0` contributes a convex term, which the LP's lower
//! envelope `r_k >= z_k, r_k >= 0` gives exactly; one with `a_k < 0` contributes a concave
//! term, relaxed by the chord `r_k <= u_k (z_k - l_k) / (u_k - l_k)` (the triangle relaxation
//! of Ehlers, "Formal Verification of Piece-Wise Linear Feed-Forward Neural Networks", ATVA
//! 2017, arXiv:1705.01320). Only those units are branched on: splitting one into its active
//! (`z_k >= 0`, term `a_k z_k`) and inactive (`z_k <= 0`, term 0) halves makes it linear, so
//! a node with every such unit split is an exact LP, and the search is complete (the branch
//! and bound of Bunel et al., "A Unified View of Piecewise Linear Neural Network
//! Verification", NeurIPS 2018, arXiv:1711.00455). A node with a concave unit still free is
//! bounded by the dual of its LP with multipliers found by ascent ([`super::beta`], split
//! constraints as in beta-CROWN, Wang et al. 2021, arXiv:2103.06624), far cheaper than
//! the LP; a node with none free is solved as the exact LP. Nodes are
//! taken lowest bound first; each split is the unit whose chord is loosest at the node's
//! candidate point (the dual's minimising corner, or the LP's optimum), which is also
//! checked as a counterexample.
//!
//! **Soundness.** The LPs go to Clarabel (an interior-point solver, pure Rust), whose answers
//! are approximate, and the ascent's multipliers are approximate too. No answer is trusted as
//! is: a node's lower bound is the Lagrangian of the solver's (or the ascent's) multipliers,
//! `min over the box of (q + Gᵀλ)·v - λ·h`, which is a valid bound for any `λ >= 0`, computed
//! with its rounding error bounded and subtracted; an infeasible node is pruned only when the
//! solver's Farkas multipliers prove it the same way. A node the solver cannot settle stays
//! open (the answer is then unknown, never verified).

use super::beta::{Dual, Multipliers, CHILD_STEPS, ROOT_STEPS};
use super::bounds::{down, gamma, up, Net};
use clarabel::algebra::CscMatrix;
use clarabel::solver::{DefaultSettingsBuilder, DefaultSolver, IPSolver, NonnegativeConeT, SolverStatus};
use std::collections::BinaryHeap;
use std::time::Instant;

/// One margin to minimise: the network's first layer, the margin's hidden coefficients `a`
/// and constant `c`, the input box and the first layer's pre-activation bounds over it.
pub struct Margin<'a> {
    /// The network (first layer used).
    pub net: &'a Net,
    /// `a_k = W2[k, y] - W2[k, j]`.
    pub a: Vec<f64>,
    /// `c = b2[y] - b2[j]`.
    pub c: f64,
    /// The input box, per pixel.
    pub lo: &'a [f64],
    /// The input box's upper ends.
    pub hi: &'a [f64],
    /// Lower bounds of the pre-activations over the box (sound).
    pub zl: &'a [f64],
    /// Upper bounds of the pre-activations over the box (sound).
    pub zu: &'a [f64],
}

/// What the search ended with.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Every point of the box has a margin above the threshold (proven).
    Above,
    /// A point the caller's check accepted as a counterexample.
    Counterexample(Vec<f64>),
    /// Neither, within the time limit (or an LP the solver could not settle).
    Unknown,
}

/// Result of [`Margin::minimum`]: proven bounds on the minimum margin over the box.
#[derive(Clone, Debug, PartialEq)]
pub struct Minimum {
    /// Every point's margin is at least this (proven).
    pub lower: f64,
    /// A point's margin (exact arithmetic up to f64 rounding) equals this.
    pub upper: f64,
    /// That point.
    pub argmin: Vec<f64>,
    /// Nodes solved.
    pub nodes: usize,
}

/// A node: the split decisions (per unit: 0 free, 1 active, -1 inactive) and its bound.
struct Node {
    bound: f64,
    splits: Vec<i8>,
    /// The dual multipliers this node's bound came from (its children start there).
    mult: Multipliers,
    /// The unit to split next and the LP's optimum, from this node's solve.
    branch: Option<usize>,
}

impl PartialEq for Node {
    fn eq(&self, o: &Self) -> bool {
        self.bound.total_cmp(&o.bound).is_eq()
    }
}
impl Eq for Node {}
impl PartialOrd for Node {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Node {
    /// The lowest bound first out of a max-heap.
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        o.bound.total_cmp(&self.bound)
    }
}

/// One node's LP: variables `x` then one `r_k` per relaxed unit; objective `q·v + q0`
/// (`objective_error` bounds its rounding); rows `G v <= g` loosened for rounding; the box.
struct Lp {
    relaxed: Vec<usize>,
    q: Vec<f64>,
    q0: f64,
    objective_error: f64,
    rows: Vec<(Vec<(usize, f64)>, f64)>,
    vl: Vec<f64>,
    vu: Vec<f64>,
}

/// One node's LP solution.
struct Solved {
    /// Proven lower bound over the node's region (`+inf` when proven empty).
    bound: f64,
    /// The LP optimum's input point and its exact-arithmetic margin (f64), when solved.
    point: Option<(Vec<f64>, f64)>,
    /// The unit whose chord is loosest at the optimum.
    branch: Option<usize>,
}

impl Margin<'_> {
    /// The margin at `x` in f64.
    pub fn value(&self, x: &[f64]) -> f64 {
        self.value_at(&self.preactivations(x))
    }

    /// The margin from the pre-activations `z`.
    fn value_at(&self, z: &[f64]) -> f64 {
        self.c + z.iter().zip(&self.a).map(|(zk, ak)| ak * zk.max(0.0)).sum::<f64>()
    }

    /// Whether unit `k` is unstable with a concave term (the only units branched on).
    fn branchable(&self, k: usize) -> bool {
        self.zl[k] < 0.0 && self.zu[k] > 0.0 && self.a[k] < 0.0
    }

    /// Decides whether every point's margin exceeds `threshold`: branch and bound until
    /// proven, until `is_counterexample` accepts a node's candidate point, or until
    /// `deadline`.
    pub fn above(
        &self,
        threshold: f64,
        deadline: Instant,
        is_counterexample: &mut dyn FnMut(&[f64]) -> bool,
    ) -> Outcome {
        let dual = Dual::new(self);
        let root = vec![0i8; self.net.h];
        let mut mult = dual.start(self);
        let mut heap = BinaryHeap::new();
        let mut open_unknown = false;
        match self.bound_node(&dual, &root, &mut mult, ROOT_STEPS) {
            None => return Outcome::Unknown,
            Some(s) => {
                if let Some((x, _)) = &s.point {
                    if is_counterexample(x) {
                        return Outcome::Counterexample(x.clone());
                    }
                }
                heap.push(Node { bound: s.bound, splits: root, branch: s.branch, mult });
            }
        }
        while let Some(node) = heap.pop() {
            if node.bound > threshold {
                break; // every open node is above
            }
            if Instant::now() >= deadline {
                return Outcome::Unknown;
            }
            let Some(k) = node.branch else {
                // Exact LP at or below the threshold, and its optimum is no counterexample
                // the caller accepts: undecidable here.
                open_unknown = true;
                continue;
            };
            for side in [1i8, -1] {
                let mut splits = node.splits.clone();
                splits[k] = side;
                let mut mult = node.mult.clone();
                let Some(s) = self.bound_node(&dual, &splits, &mut mult, CHILD_STEPS) else {
                    open_unknown = true;
                    continue;
                };
                if let Some((x, _)) = &s.point {
                    if is_counterexample(x) {
                        return Outcome::Counterexample(x.clone());
                    }
                }
                if s.bound <= threshold {
                    heap.push(Node { bound: s.bound, splits, branch: s.branch, mult });
                }
            }
        }
        if open_unknown {
            Outcome::Unknown
        } else {
            Outcome::Above
        }
    }

    /// The proven lower bound of the root LP (the triangle relaxation, no unit split);
    /// `None` when the solver cannot settle it.
    pub fn relaxation(&self) -> Option<f64> {
        self.solve(&vec![0i8; self.net.h]).map(|s| s.bound)
    }

    /// The minimum margin over the box, to within `tol` (proven lower bound, attained upper
    /// bound), by branch and bound; `None` when an LP could not be settled.
    pub fn minimum(&self, tol: f64) -> Option<Minimum> {
        let dual = Dual::new(self);
        let root = vec![0i8; self.net.h];
        let mut mult = dual.start(self);
        let s = self.bound_node(&dual, &root, &mut mult, ROOT_STEPS)?;
        let (mut argmin, mut upper) = s.point.clone()?;
        let mut heap = BinaryHeap::new();
        heap.push(Node { bound: s.bound, splits: root, branch: s.branch, mult });
        let mut nodes = 1;
        // The lowest bound of the nodes closed without a split (exact LPs).
        let mut closed = f64::INFINITY;
        while let Some(node) = heap.pop() {
            if node.bound >= upper - tol {
                heap.push(node);
                break;
            }
            let Some(k) = node.branch else {
                closed = closed.min(node.bound);
                continue;
            };
            for side in [1i8, -1] {
                let mut splits = node.splits.clone();
                splits[k] = side;
                let mut mult = node.mult.clone();
                let s = self.bound_node(&dual, &splits, &mut mult, CHILD_STEPS)?;
                nodes += 1;
                if let Some((x, v)) = s.point {
                    if v < upper {
                        (argmin, upper) = (x, v);
                    }
                }
                if s.bound < upper - tol {
                    heap.push(Node { bound: s.bound, splits, branch: s.branch, mult });
                } else {
                    closed = closed.min(s.bound); // dropped, but its bound still counts
                }
            }
        }
        let open = heap.iter().map(|n| n.bound).fold(f64::INFINITY, f64::min);
        Some(Minimum { lower: open.min(closed).min(upper), upper, argmin, nodes })
    }

    /// The slope of unit `k`'s chord, `u / (u - l)`, rounded up (a looser chord).
    pub(crate) fn chord_slope(&self, k: usize) -> f64 {
        up(up(self.zu[k]) / down(self.zu[k] - self.zl[k]))
    }

    /// One node's LP, its rows loosened for rounding.
    #[allow(clippy::needless_range_loop)] // index arithmetic over units, pixels and columns
    fn lp(&self, splits: &[i8]) -> Lp {
        let (d, h) = (self.net.d, self.net.h);
        // Variables: x (d), then r_k for each free unstable unit with a_k != 0.
        let relaxed: Vec<usize> =
            (0..h).filter(|&k| splits[k] == 0 && self.zl[k] < 0.0 && self.zu[k] > 0.0 && self.a[k] != 0.0).collect();
        let nv = d + relaxed.len();
        // Objective q·v + q0: linear units (stable active, split active) through x, the
        // relaxed ones through r.
        let mut q = vec![0.0f64; nv];
        let (mut q0, mut q0_mag) = (self.c, self.c.abs());
        // Per pixel, the magnitude of q's terms: q's own rounding is bounded by it.
        let mut q_mag = vec![0.0f64; d];
        let active: Vec<usize> =
            (0..h).filter(|&k| (splits[k] == 1 || (splits[k] == 0 && self.zl[k] >= 0.0)) && self.a[k] != 0.0).collect();
        for &k in &active {
            q0 += self.a[k] * self.net.b1[k];
            q0_mag += (self.a[k] * self.net.b1[k]).abs();
        }
        // Pixel by pixel (W1's rows are contiguous), each in the units' order as before.
        for i in 0..d {
            let row = &self.net.w1[i * h..(i + 1) * h];
            for &k in &active {
                let t = self.a[k] * row[k];
                q[i] += t;
                q_mag[i] += t.abs();
            }
        }
        let g = gamma(h + 2);
        let objective_error = g
            * (q0_mag
                + q_mag
                    .iter()
                    .zip(self.lo.iter().zip(self.hi))
                    .map(|(m, (l, u))| m * l.abs().max(u.abs()))
                    .sum::<f64>());
        for (j, &k) in relaxed.iter().enumerate() {
            q[d + j] = self.a[k];
        }
        // Rows G v <= g: one per relaxed unit (the envelope or the chord) and per split unit,
        // each `scale · z_k` plus at most one r entry; (unit, scale, r entry, rhs).
        type Shape = (usize, f64, Option<(usize, f64)>, f64);
        let mut shape: Vec<Shape> = Vec::new();
        for (j, &k) in relaxed.iter().enumerate() {
            if self.a[k] > 0.0 {
                // z_k - r_k <= -b_k
                shape.push((k, 1.0, Some((d + j, -1.0)), -self.net.b1[k]));
            } else {
                // r_k - s (z_k - l_k) <= 0, s = u / (u - l) rounded up (a looser chord).
                let s = self.chord_slope(k);
                shape.push((k, -s, Some((d + j, 1.0)), s * (self.net.b1[k] - self.zl[k])));
            }
        }
        for k in 0..h {
            match splits[k] {
                1 => shape.push((k, -1.0, None, self.net.b1[k])),  // -z_k <= 0
                -1 => shape.push((k, 1.0, None, -self.net.b1[k])), // z_k <= 0
                _ => {}
            }
        }
        let mut rows: Vec<(Vec<(usize, f64)>, f64)> =
            shape.iter().map(|&(_, _, _, rhs)| (Vec::with_capacity(d + 1), rhs)).collect();
        for i in 0..d {
            let row = &self.net.w1[i * h..(i + 1) * h];
            for ((entries, _), &(k, scale, _, _)) in rows.iter_mut().zip(&shape) {
                let v = scale * row[k];
                if v != 0.0 {
                    entries.push((i, v));
                }
            }
        }
        for ((entries, _), &(_, _, r, _)) in rows.iter_mut().zip(&shape) {
            entries.extend(r);
        }
        // The box: x in [lo, hi], r_k in [0, max(u_k, 0)].
        let mut vl: Vec<f64> = self.lo[..d].to_vec();
        let mut vu: Vec<f64> = self.hi[..d].to_vec();
        for &k in &relaxed {
            vl.push(0.0);
            vu.push(self.zu[k].max(0.0));
        }
        // Each row as stored (products rounded) is loosened by a bound on that rounding, so
        // every point of the exact region satisfies it.
        let wide = |v: &f64, l: f64, u: f64| v.abs() * l.abs().max(u.abs());
        let r_max = self.zu.iter().fold(0.0, |m: f64, z| m.max(z.abs()));
        for (entries, rhs) in rows.iter_mut() {
            let mag: f64 = entries
                .iter()
                .map(|&(c, v)| if c < d { wide(&v, self.lo[c], self.hi[c]) } else { wide(&v, 0.0, r_max) })
                .sum();
            *rhs = up(*rhs + gamma(d + 4) * (mag + rhs.abs()) * 2.0);
        }
        Lp { relaxed, q, q0, objective_error, rows, vl, vu }
    }

    /// Bounds one node: by the dual ascent ([`Dual`]) while a unit with a concave term is
    /// free, and by the node's LP once none is (the LP is then exact). Each unit to split
    /// next is the free concave unit whose chord is loosest at the candidate point (the
    /// dual's minimising corner, or the LP's optimum); `None` when an LP is not settled.
    fn bound_node(&self, dual: &Dual, splits: &[i8], mult: &mut Multipliers, steps: usize) -> Option<Solved> {
        let free = |k: usize| splits[k] == 0 && self.branchable(k);
        if !(0..self.net.h).any(free) {
            return self.solve(splits);
        }
        let (_, corner) = dual.ascend(self, splits, mult, steps);
        let bound = dual.bound(self, splits, mult);
        let z = dual.preactivations(self, &corner);
        let value = dual.value(self, &corner, &z);
        let branch = dual
            .units
            .iter()
            .zip(&z)
            .filter(|(&k, _)| free(k))
            .map(|(&k, &z)| {
                let s = self.chord_slope(k);
                let gap = (s * (z - self.zl[k]) - z.max(0.0)).max(0.0);
                // Ties (no gap at the corner) go to the chord with the largest intercept.
                (k, -self.a[k] * (gap + 1e-3 * s * -self.zl[k]))
            })
            .max_by(|x, y| x.1.total_cmp(&y.1))
            .map(|(k, _)| k);
        Some(Solved { bound, point: Some((corner, value)), branch })
    }

    /// Solves one node's LP; `None` when the solver settles nothing usable.
    #[allow(clippy::needless_range_loop)] // index arithmetic over units, pixels and columns
    fn solve(&self, splits: &[i8]) -> Option<Solved> {
        let d = self.net.d;
        let Lp { relaxed, q, q0, objective_error, rows, vl, vu } = self.lp(splits);
        let nv = q.len();
        let m = rows.len();
        // Clarabel: A v + s = b, s >= 0, with the G rows first, then v <= vu, then -v <= -vl.
        let mut cols: Vec<Vec<(usize, f64)>> = vec![Vec::new(); nv];
        for (r, (entries, _)) in rows.iter().enumerate() {
            for &(c, v) in entries {
                cols[c].push((r, v));
            }
        }
        for c in 0..nv {
            cols[c].push((m + c, 1.0));
            cols[c].push((m + nv + c, -1.0));
        }
        let (mut colptr, mut rowval, mut nzval) = (vec![0usize], Vec::new(), Vec::new());
        for col in &cols {
            for &(r, v) in col {
                rowval.push(r);
                nzval.push(v);
            }
            colptr.push(rowval.len());
        }
        let nrows = m + 2 * nv;
        let a = CscMatrix::new(nrows, nv, colptr, rowval, nzval);
        let mut b: Vec<f64> = rows.iter().map(|r| r.1).collect();
        b.extend(vu.iter().copied());
        b.extend(vl.iter().map(|v| -v));
        let p = CscMatrix::zeros((nv, nv));
        let settings = DefaultSettingsBuilder::default()
            .verbose(false)
            .max_iter(200)
            // The bound is the duals' Lagrangian, valid at any accuracy: no need for 1e-8 gaps.
            .tol_gap_abs(1e-6)
            .tol_gap_rel(1e-6)
            .tol_feas(1e-7)
            .build()
            .ok()?;
        let cones = [NonnegativeConeT(nrows)];
        let mut solver = DefaultSolver::new(&p, &q, &a, &b, &cones, settings).ok()?;
        solver.solve();
        let sol = &solver.solution;
        let status = sol.status;
        let lambda: Vec<f64> = sol.z[..m].iter().map(|v| v.max(0.0)).collect();
        match status {
            SolverStatus::PrimalInfeasible | SolverStatus::AlmostPrimalInfeasible => {
                // Farkas: min over the box of (Gᵀλ)·v - λ·g > 0 proves the region empty.
                let zero = vec![0.0; nv];
                let (val, err) = lagrangian(&zero, 0.0, &rows, &lambda, &vl, &vu);
                (val - err > 0.0).then_some(Solved { bound: f64::INFINITY, point: None, branch: None })
            }
            SolverStatus::Solved | SolverStatus::AlmostSolved => {
                let (val, err) = lagrangian(&q, q0, &rows, &lambda, &vl, &vu);
                let bound = down(val - err - objective_error);
                let x: Vec<f64> =
                    sol.x[..d].iter().zip(self.lo.iter().zip(self.hi)).map(|(v, (l, u))| v.clamp(*l, *u)).collect();
                // The loosest chord at the optimum, among the units that can be split.
                let z = self.preactivations(&x);
                let value = self.value_at(&z);
                let branch = relaxed
                    .iter()
                    .enumerate()
                    .filter(|(_, &k)| self.branchable(k))
                    .map(|(j, &k)| {
                        (k, self.a[k].abs() * (sol.x[d + j] - z[k].max(0.0)).max(0.0) + 1e-12 * self.a[k].abs())
                    })
                    .max_by(|x, y| x.1.total_cmp(&y.1))
                    .map(|(k, _)| k);
                Some(Solved { bound: bound.is_finite().then_some(bound)?, point: Some((x, value)), branch })
            }
            _ => None,
        }
    }

    fn preactivations(&self, x: &[f64]) -> Vec<f64> {
        let h = self.net.h;
        let mut z = self.net.b1.clone();
        for (i, &xi) in x.iter().enumerate().take(self.net.d) {
            z.iter_mut().zip(&self.net.w1[i * h..(i + 1) * h]).for_each(|(zk, w)| *zk += xi * w);
        }
        z
    }
}

/// Decides one image at one budget with the complete verifier: each wrong class whose bound
/// (`lower`, one per class, as [`super::margin_lower_bounds`] gives) does not clear
/// `tolerance` is searched, lowest bound first, until `deadline`. A counterexample is an LP
/// optimum that, rounded to f32 and moved inside the ball ([`super::judge::pull_inside`]), the
/// model's own f32 forward pass misclassifies; it is returned with the status.
#[allow(clippy::too_many_arguments)]
pub fn decide(
    net: &Net,
    model: &crate::model::Mlp,
    x0: &[f32],
    y: u8,
    eps: f64,
    bounds: Option<(f32, f32)>,
    lower: &[f64],
    tolerance: f64,
    deadline: Instant,
) -> (super::Status, Option<Vec<f32>>) {
    use super::Status;
    let (h, c, y) = (net.h, net.c, usize::from(y));
    let (lo, hi) = super::bounds::input_box(x0, eps, bounds);
    let Some((zl, zu)) = super::bounds::first_layer(net, &[(lo.clone(), hi.clone())]).pop() else {
        return (Status::Unknown, None);
    };
    let mut classes: Vec<usize> = (0..c).filter(|&j| j != y && lower.get(j).is_some_and(|&l| l <= tolerance)).collect();
    classes.sort_by(|&a, &b| lower[a].total_cmp(&lower[b]));
    let mut found = None;
    for j in classes {
        let a: Vec<f64> = (0..h).map(|k| net.w2[k * c + y] - net.w2[k * c + j]).collect();
        let c0 = net.b2[y] - net.b2[j];
        // The margin's coefficients as computed may differ from the exact differences by a
        // rounding each: the threshold grows by a bound on what that can change.
        let slack =
            f64::EPSILON * (c0.abs() + (0..h).map(|k| a[k].abs() * zl[k].abs().max(zu[k].abs())).sum::<f64>()) * 2.0;
        let m = Margin { net, a, c: c0, lo: &lo, hi: &hi, zl: &zl, zu: &zu };
        let outcome = m.above(up(tolerance + slack), deadline, &mut |x: &[f64]| {
            let mut img: Vec<f32> = x.iter().map(|&v| v as f32).collect();
            super::judge::pull_inside(&mut img, x0, eps, bounds);
            let logits = crate::model::Classifier::logits_host(model, &img, 1);
            let wrong = crate::attack::pgd::argmax(&logits) != y;
            if wrong {
                found = Some(img);
            }
            wrong
        });
        match outcome {
            Outcome::Above => {}
            Outcome::Counterexample(_) => return (Status::Falsified, found),
            Outcome::Unknown => return (Status::Unknown, None),
        }
    }
    (Status::Verified, None)
}

/// `min over v in [vl, vu] of (q + Gᵀλ)·v - λ·g + q0` and a bound on its rounding error.
fn lagrangian(
    q: &[f64],
    q0: f64,
    rows: &[(Vec<(usize, f64)>, f64)],
    lambda: &[f64],
    vl: &[f64],
    vu: &[f64],
) -> (f64, f64) {
    let mut coef = q.to_vec();
    let mut mag = q.iter().map(|v| v.abs()).collect::<Vec<_>>();
    let mut total = q0;
    let mut total_mag = q0.abs();
    for ((entries, g), &l) in rows.iter().zip(lambda) {
        if l == 0.0 {
            continue;
        }
        for &(c, v) in entries {
            coef[c] += l * v;
            mag[c] += (l * v).abs();
        }
        total -= l * g;
        total_mag += (l * g).abs();
    }
    let n = rows.iter().map(|r| r.0.len()).max().unwrap_or(0) + rows.len() + 2;
    for (i, &c) in coef.iter().enumerate() {
        // The worse end for this coefficient (an error in c moves it by at most mag·gamma).
        let t = if c >= 0.0 { c * vl[i] } else { c * vu[i] };
        total += t;
        total_mag += mag[i] * vl[i].abs().max(vu[i].abs()) * 2.0;
    }
    (total, gamma(n + coef.len()) * total_mag * 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certify::bounds::first_layer;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// The minimum of `a·relu(z(x)) + c` with every unit's state fixed by `pattern`: one LP
    /// over the box and the pattern's half-spaces, without relaxations or branching;
    /// `None` when the pattern's region is empty.
    fn pattern_minimum(net: &Net, a: &[f64], c: f64, lo: &[f64], hi: &[f64], pattern: u32) -> Option<f64> {
        let (d, h) = (net.d, net.h);
        let active = |k: usize| pattern >> k & 1 == 1;
        let mut q = vec![0.0; d];
        let mut q0 = c;
        for k in (0..h).filter(|&k| active(k)) {
            (0..d).for_each(|i| q[i] += a[k] * net.w1[i * h + k]);
            q0 += a[k] * net.b1[k];
        }
        // Rows: active: -z <= b; inactive: z <= -b; then the box.
        let m = h + 2 * d;
        let mut cols: Vec<Vec<(usize, f64)>> = vec![Vec::new(); d];
        let mut b = Vec::with_capacity(m);
        for k in 0..h {
            let s = if active(k) { -1.0 } else { 1.0 };
            (0..d).for_each(|i| cols[i].push((k, s * net.w1[i * h + k])));
            b.push(-s * net.b1[k]);
        }
        for (i, col) in cols.iter_mut().enumerate() {
            col.push((h + i, 1.0));
            col.push((h + d + i, -1.0));
        }
        b.extend(hi.iter().copied());
        b.extend(lo.iter().map(|v| -v));
        let (mut colptr, mut rowval, mut nzval) = (vec![0], Vec::new(), Vec::new());
        for col in &cols {
            for &(r, v) in col {
                rowval.push(r);
                nzval.push(v);
            }
            colptr.push(rowval.len());
        }
        let a_mat = CscMatrix::new(m, d, colptr, rowval, nzval);
        let settings = DefaultSettingsBuilder::default().verbose(false).build().unwrap();
        let p = CscMatrix::zeros((d, d));
        let mut solver = DefaultSolver::new(&p, &q, &a_mat, &b, &[NonnegativeConeT(m)], settings).unwrap();
        solver.solve();
        match solver.solution.status {
            SolverStatus::Solved | SolverStatus::AlmostSolved => Some(solver.solution.obj_val + q0),
            _ => None,
        }
    }

    fn random_problem(rng: &mut ChaCha8Rng) -> (Net, Vec<f64>, f64, Vec<f64>, Vec<f64>) {
        let (d, h, c) = (rng.gen_range(2..=6), rng.gen_range(3..=7), 3);
        let g = |rng: &mut ChaCha8Rng, n: usize| (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect::<Vec<f64>>();
        let net = Net::from_parts((d, h, c), g(rng, d * h), g(rng, h), g(rng, h * c), g(rng, c));
        let a: Vec<f64> = (0..h).map(|k| net.w2[k * c] - net.w2[k * c + 1]).collect();
        let c0 = net.b2[0] - net.b2[1];
        let eps = rng.gen_range(0.05..0.6);
        let x0: Vec<f64> = (0..d).map(|_| rng.gen_range(0.0..1.0)).collect();
        let lo = x0.iter().map(|v| (v - eps).max(0.0)).collect();
        let hi = x0.iter().map(|v| (v + eps).min(1.0)).collect();
        (net, a, c0, lo, hi)
    }

    /// On hundreds of small random networks the branch and bound's minimum equals the
    /// minimum over every activation pattern (each an LP), and no sampled point lies below
    /// its proven lower bound.
    #[test]
    fn minimum_equals_brute_force_over_activation_patterns() {
        let mut rng = ChaCha8Rng::seed_from_u64(17);
        let mut branched = 0;
        for case in 0..200 {
            let (net, a, c0, lo, hi) = random_problem(&mut rng);
            let (zl, zu) = first_layer(&net, &[(lo.clone(), hi.clone())]).remove(0);
            let m = Margin { net: &net, a: a.clone(), c: c0, lo: &lo, hi: &hi, zl: &zl, zu: &zu };
            let got = m.minimum(1e-9).expect("every LP settles");
            let brute = (0..1u32 << net.h)
                .filter_map(|p| pattern_minimum(&net, &a, c0, &lo, &hi, p))
                .fold(f64::INFINITY, f64::min);
            assert!(
                (got.upper - brute).abs() <= 1e-6 * (1.0 + brute.abs()),
                "case {case}: bab {got:?} vs brute {brute}"
            );
            // (The reference LPs are solved to the solver's tolerance, about 1e-8.)
            assert!((got.lower - brute).abs() <= 1e-6 * (1.0 + brute.abs()), "case {case}: {got:?} vs {brute}");
            assert!((m.value(&got.argmin) - got.upper).abs() <= 1e-12 * (1.0 + got.upper.abs()));
            for _ in 0..200 {
                let x: Vec<f64> = lo.iter().zip(&hi).map(|(l, u)| rng.gen_range(*l..=*u)).collect();
                assert!(m.value(&x) >= got.lower - 1e-12, "case {case}: a sample below the proven bound");
            }
            branched += usize::from(got.nodes > 1);
        }
        assert!(branched > 30, "only {branched} problems needed a split");
    }

    /// The dual's node bounds (beta-CROWN's multipliers by projected ascent) never exceed
    /// the node's exact minimum (brute force over the activation patterns its splits allow),
    /// and with a long ascent they reach the node's LP bound, which is the best any
    /// multipliers can give.
    #[test]
    fn dual_node_bounds_are_below_the_node_minimum_and_reach_its_lp() {
        let mut rng = ChaCha8Rng::seed_from_u64(31);
        let (mut nodes, mut reached, mut split_nodes) = (0, 0, 0);
        for case in 0..600 {
            let (net, a, c0, lo, hi) = random_problem(&mut rng);
            let (zl, zu) = first_layer(&net, &[(lo.clone(), hi.clone())]).remove(0);
            let m = Margin { net: &net, a: a.clone(), c: c0, lo: &lo, hi: &hi, zl: &zl, zu: &zu };
            let branchable: Vec<usize> = (0..net.h).filter(|&k| m.branchable(k)).collect();
            if branchable.is_empty() {
                continue;
            }
            let mut splits = vec![0i8; net.h];
            for &k in &branchable {
                splits[k] = [0, 1, -1][rng.gen_range(0..3)];
            }
            if branchable.iter().all(|&k| splits[k] != 0) {
                splits[branchable[0]] = 0; // keep one free: the dual's case
            }
            let dual = Dual::new(&m);
            let mut p = dual.start(&m);
            let got = m.bound_node(&dual, &splits, &mut p, 3000).expect("the dual always gives a bound");
            // The node's region: every pattern whose split units agree with the splits.
            let brute = (0..1u32 << net.h)
                .filter(|&p| (0..net.h).all(|k| splits[k] == 0 || (splits[k] == 1) == (p >> k & 1 == 1)))
                .filter_map(|p| pattern_minimum(&net, &a, c0, &lo, &hi, p))
                .fold(f64::INFINITY, f64::min);
            // (The reference LPs are solved to the solver's tolerance, about 1e-8.)
            assert!(
                got.bound <= brute + 1e-6 * (1.0 + brute.abs()),
                "case {case}: dual {} above the node's minimum {brute}",
                got.bound
            );
            let lp = m.solve(&splits).expect("the LP settles").bound;
            assert!(got.bound <= lp + 1e-6 * (1.0 + lp.abs()), "case {case}: dual {} above the LP {lp}", got.bound);
            if lp.is_finite() {
                nodes += 1;
                split_nodes += usize::from(splits.iter().any(|&s| s != 0));
                reached += usize::from(lp - got.bound <= 1e-3 * (1.0 + lp.abs()));
            }
        }
        assert!(split_nodes > 60, "only {split_nodes} nodes had a split");
        assert!(reached * 10 >= nodes * 9, "the ascent reached the LP on {reached} of {nodes} nodes");
    }

    /// In two dimensions, a dense grid agrees with the minimum (no LP in the reference).
    #[test]
    fn minimum_matches_a_dense_grid_in_two_dimensions() {
        let mut rng = ChaCha8Rng::seed_from_u64(23);
        for case in 0..60 {
            let (h, c) = (rng.gen_range(3..=10), 2);
            let g = |rng: &mut ChaCha8Rng, n: usize| (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect::<Vec<f64>>();
            let net =
                Net::from_parts((2, h, c), g(&mut rng, 2 * h), g(&mut rng, h), g(&mut rng, h * c), g(&mut rng, c));
            let a: Vec<f64> = (0..h).map(|k| net.w2[k * c] - net.w2[k * c + 1]).collect();
            let (lo, hi) = (vec![0.0, 0.0], vec![1.0, 1.0]);
            let (zl, zu) = first_layer(&net, &[(lo.clone(), hi.clone())]).remove(0);
            let m = Margin { net: &net, a: a.clone(), c: net.b2[0] - net.b2[1], lo: &lo, hi: &hi, zl: &zl, zu: &zu };
            let got = m.minimum(1e-9).expect("settles");
            let n = 400;
            let mut grid = f64::INFINITY;
            for i in 0..=n {
                for j in 0..=n {
                    grid = grid.min(m.value(&[i as f64 / n as f64, j as f64 / n as f64]));
                }
            }
            // The grid is within Lipschitz x spacing of the true minimum.
            let lip: f64 = (0..h).map(|k| a[k].abs() * (net.w1[k].abs() + net.w1[h + k].abs())).sum();
            assert!(got.lower <= grid + 1e-12, "case {case}: bound {} above a grid point {grid}", got.lower);
            assert!(got.upper >= grid - lip / n as f64 - 1e-9, "case {case}: {} vs grid {grid}", got.upper);
        }
    }

    /// `above` proves a threshold below the minimum and finds a counterexample for one
    /// above it.
    #[test]
    fn above_decides_thresholds_on_either_side_of_the_minimum() {
        let mut rng = ChaCha8Rng::seed_from_u64(29);
        for case in 0..80 {
            let (net, a, c0, lo, hi) = random_problem(&mut rng);
            let (zl, zu) = first_layer(&net, &[(lo.clone(), hi.clone())]).remove(0);
            let m = Margin { net: &net, a, c: c0, lo: &lo, hi: &hi, zl: &zl, zu: &zu };
            let min = m.minimum(1e-9).expect("settles").upper;
            let far = Instant::now() + std::time::Duration::from_secs(60);
            assert_eq!(m.above(min - 1e-3, far, &mut |_| false), Outcome::Above, "case {case}");
            let t = min + 1e-3;
            match m.above(t, far, &mut |x| m.value(x) < t) {
                Outcome::Counterexample(x) => assert!(m.value(&x) < t, "case {case}"),
                o => panic!("case {case}: {o:?} for a threshold above the minimum {min}"),
            }
        }
    }
}
