//! Square Attack, L-inf and L2: a score-based black-box attack that only ever asks for logits.
//!
//! Andriushchenko, Croce, Flammarion & Hein, "Square Attack: a query-efficient black-box
//! adversarial attack via random search", ECCV 2020, arXiv:1912.00049 (Algorithm 1 and the
//! L-inf sampling distribution of section 3.1). Start: vertical stripes, every column of the
//! image moved by +eps or -eps. Each iteration draws a square window of side
//! `s = max(1, round(sqrt(p * pixels)))` at a random position, sets the perturbation inside it
//! to a random +-eps (redrawn until the window changes), and keeps the candidate if it lowers
//! the margin `z_y - max_{j != y} z_j`; an example is done once that margin is negative. The
//! share `p` follows AutoAttack's schedule: `p_init` (0.8 in the standard run) halved at 10,
//! 50, 200, 500, 1000, 2000, 4000, 6000 and 8000 of every 10,000 queries. Defaults: 5000
//! queries per example, one restart. Images are treated as square (`sqrt(dim)` a side; other
//! sizes as one row).
//!
//! L2 (section 3.2 and AutoAttack's implementation of it): the start is a 5x5 grid of tiles,
//! each a random-signed copy of the paper's "double pyramid" window `eta(s)` (two rectangles of
//! opposite sign whose weights fall off as `1/(k+1)^2` from their centres), scaled to length
//! eps. Each iteration draws two windows of odd side `s >= 3`: the perturbation's mass in both
//! is moved into the first (a new random-signed `eta(s)` plus the old content, rescaled so the
//! whole perturbation keeps length eps), the second is emptied, and the image is clipped.
//!
//! Queries are counted (one per example per forward pass, the start included) and reported in
//! the attack's parameters as `queries_used`.

use super::{gradient, Attack, ClipMode, Goal, Norm};
use crate::error::{Error, Result};
use crate::model::{Changes, Classifier};
use crate::nn::ops::gather_rows;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};

/// Square Attack's configuration.
#[derive(Debug, Serialize, Deserialize)]
pub struct Square {
    /// Queries per example (the start's included).
    pub queries: usize,
    /// Initial share of the image a window covers.
    pub p_init: f32,
    /// Independent runs on the examples still not fooled.
    pub restarts: usize,
    /// Threat model (L-inf by default).
    #[serde(default = "linf")]
    pub norm: Norm,
    /// Forward passes asked for so far, one per example per query (not part of the settings).
    #[serde(skip)]
    used: AtomicU64,
}

impl Clone for Square {
    fn clone(&self) -> Self {
        Square { used: AtomicU64::new(0), ..*self }
    }
}

impl Square {
    /// The AutoAttack standard: 5000 queries, p_init 0.8, one run.
    pub fn standard() -> Self {
        Square { queries: 5000, p_init: 0.8, restarts: 1, norm: Norm::Linf, used: AtomicU64::new(0) }
    }

    /// The same settings for another threat model.
    pub fn with_norm(self, norm: Norm) -> Self {
        Square { norm, ..self }
    }

    /// The standard settings with another query budget.
    pub fn with_queries(queries: usize) -> Self {
        Square { queries, ..Square::standard() }
    }

    /// Queries asked for so far (over every batch this attack ran on).
    pub fn queries_used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// Rejects impossible settings.
    pub fn validate(&self) -> Result<()> {
        if self.queries == 0 || self.queries > 1_000_000 {
            return Err(Error::param("--queries", self.queries, "must be between 1 and 1000000"));
        }
        if !(self.p_init > 0.0 && self.p_init <= 1.0) {
            return Err(Error::param("p-init", self.p_init, "must be in (0, 1]"));
        }
        if self.restarts == 0 || self.restarts > 10_000 {
            return Err(Error::param("--restarts", self.restarts, "must be between 1 and 10000"));
        }
        Ok(())
    }

    /// The window share after `i` of `n` queries (AutoAttack's schedule, scaled to 10,000).
    pub fn p_at(&self, i: usize, n: usize) -> f32 {
        let it = (i as f64 / n.max(1) as f64 * 10_000.0) as usize;
        let halvings = [10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000].iter().filter(|&&b| it > b).count();
        self.p_init / (1u32 << halvings) as f32
    }
}

fn linf() -> Norm {
    Norm::Linf
}

/// `z_y - max_{j != y} z_j` per example (negative: misclassified), or for a targeted goal
/// `max_{j != t} z_j - z_t` (negative: the target is predicted).
fn margins(logits: &[f32], c: usize, labels: &[u8], targeted: bool) -> Vec<f32> {
    logits
        .chunks_exact(c)
        .zip(labels)
        .map(|(row, &l)| {
            let y = usize::from(l);
            let other =
                row.iter().enumerate().filter(|&(j, _)| j != y).map(|(_, &v)| v).fold(f32::NEG_INFINITY, f32::max);
            if targeted {
                other - row[y]
            } else {
                row[y] - other
            }
        })
        .collect()
}

impl Square {
    fn query(&self, model: &dyn Classifier, x: &[f32], n: usize) -> Vec<f32> {
        self.count(n);
        gradient::logits_host(model, x, n)
    }

    /// Counts `n` forward passes.
    fn count(&self, n: usize) {
        self.used.fetch_add(n as u64, Ordering::Relaxed);
    }
}

impl Attack for Square {
    fn name(&self) -> &'static str {
        "square"
    }

    fn params(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        v["queries_used"] = self.queries_used().into();
        v
    }

    fn norm(&self) -> Norm {
        self.norm
    }

    fn stronger(&self) -> Option<Box<dyn Attack>> {
        Some(Box::new(Square { queries: self.queries * 2, restarts: self.restarts + 1, ..self.clone() }))
    }

    fn run_one(
        &self,
        model: &dyn Classifier,
        x0: &[f32],
        goal: Goal<'_>,
        eps: f32,
        clip: ClipMode,
        rng: &mut dyn rand::RngCore,
    ) -> Vec<f32> {
        let (d, c) = (model.input_dim(), model.num_classes());
        let labels = goal.labels();
        let targeted = matches!(goal, Goal::Targeted(_));
        let n = labels.len();
        let (lo, hi) = match clip {
            ClipMode::Clipped => model.bounds(),
            ClipMode::Unclipped => (f32::NEG_INFINITY, f32::INFINITY),
        };
        let side = (d as f64).sqrt() as usize;
        let (rows, cols) = if side * side == d { (side, side) } else { (1, d) };
        let mut best = x0.to_vec();
        if eps == 0.0 || n == 0 {
            return best;
        }
        if self.norm == Norm::L2 {
            let shape = L2Shape { rows, cols, lo, hi, eps };
            return self.run_l2(model, x0, labels, targeted, &shape, rng);
        }
        let mut margin = margins(&self.query(model, x0, n), c, labels, targeted);
        for _ in 0..self.restarts {
            let todo: Vec<usize> = (0..n).filter(|&i| margin[i] >= 0.0).collect();
            if todo.is_empty() {
                break;
            }
            // Vertical stripes: every column of every image moves by +eps or -eps. The run works
            // on the examples in `todo` only (row k of `run_best` is example todo[k]).
            let mut run_best = Vec::with_capacity(todo.len() * d);
            for &i in &todo {
                let clean = &x0[i * d..(i + 1) * d];
                let at = run_best.len();
                run_best.extend_from_slice(clean);
                for col in 0..cols {
                    let v = if rng.gen_bool(0.5) { eps } else { -eps };
                    for r in 0..rows {
                        let k = r * cols + col;
                        run_best[at + k] = (clean[k] + v).max(lo).min(hi);
                    }
                }
            }
            let ys: Vec<u8> = todo.iter().map(|&i| labels[i]).collect();
            let mut queries = model.query_path();
            let mut changes = Changes::default();
            self.count(todo.len());
            // The stripes are the run's start, kept even if no better than the clean point.
            let mut run_margin = margins(&queries.reset(&run_best, todo.len()), c, &ys, targeted);
            for q in 1..self.queries {
                let active: Vec<usize> = (0..todo.len()).filter(|&k| run_margin[k] >= 0.0).collect();
                if active.is_empty() {
                    break;
                }
                let p = self.p_at(q, self.queries);
                let s = ((p * (rows * cols) as f32).sqrt().round() as usize).clamp(1, rows.min(cols).max(1));
                let (s_r, s_c) = (s.min(rows), s.min(cols));
                // Each candidate is its best point with one window set to clean ± eps.
                changes.clear();
                for &k in &active {
                    let (r0, c0) = (rng.gen_range(0..=rows - s_r), rng.gen_range(0..=cols - s_c));
                    let (img, clean) = (&run_best[k * d..(k + 1) * d], &x0[todo[k] * d..(todo[k] + 1) * d]);
                    let pixels = || (r0..r0 + s_r).flat_map(|r| (r * cols + c0)..(r * cols + c0 + s_c));
                    // Redraw the window's sign until the candidate differs from the best point
                    // (a window clipped to the same values both ways keeps its last draw).
                    let mut v = eps;
                    for _ in 0..8 {
                        v = if rng.gen_bool(0.5) { eps } else { -eps };
                        if pixels().any(|p| ((clean[p] + v).max(lo).min(hi) - img[p]).abs() > 1e-7) {
                            break;
                        }
                    }
                    changes.begin(k);
                    pixels().for_each(|p| changes.set(p, (clean[p] + v).max(lo).min(hi)));
                }
                let ys: Vec<u8> = active.iter().map(|&k| labels[todo[k]]).collect();
                self.count(active.len());
                let m = margins(&queries.logits(&changes), c, &ys, targeted);
                for (j, &k) in active.iter().enumerate() {
                    if m[j] < run_margin[k] {
                        run_margin[k] = m[j];
                        changes.apply(j, &mut run_best[k * d..(k + 1) * d]);
                        queries.accept(j);
                    }
                }
            }
            for (k, &i) in todo.iter().enumerate() {
                if run_margin[k] < margin[i] {
                    margin[i] = run_margin[k];
                    best[i * d..(i + 1) * d].copy_from_slice(&run_best[k * d..(k + 1) * d]);
                }
            }
        }
        best
    }
}

/// An L2 run's geometry: image shape, pixel bounds, budget.
struct L2Shape {
    rows: usize,
    cols: usize,
    lo: f32,
    hi: f32,
    eps: f32,
}

/// The paper's `eta_rectangles(h, w)`: weights `1/(k+1)^2` summed over the rectangles of side
/// `2k+1` around the centre `(h/2, w/2)` (clipped to the window), scaled to unit length.
fn eta_rectangles(h: usize, w: usize) -> Vec<f64> {
    let mut out = vec![0.0f64; h * w];
    let (ch, cw) = ((h / 2) as isize, (w / 2) as isize);
    for k in 0..(h / 2 + 1).max(w / 2 + 1) as isize {
        let (r0, c0) = ((ch - k).max(0) as usize, (cw - k).max(0) as usize);
        let (r1, c1) = (
            ((ch - k) + 2 * k + 1).clamp(0, h as isize) as usize,
            ((cw - k) + 2 * k + 1).clamp(0, w as isize) as usize,
        );
        for r in r0..r1 {
            for c in c0..c1 {
                out[r * w + c] += 1.0 / ((k + 1) * (k + 1)) as f64;
            }
        }
    }
    unit(&mut out);
    out
}

fn unit(v: &mut [f64]) {
    let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    v.iter_mut().for_each(|x| *x /= n + 1e-12);
}

/// The paper's L2 window `eta(s)` (`s x s`): the top `s/2` rows one rectangle, the others the
/// negated other, unit length, transposed when `transpose`.
fn eta(s: usize, transpose: bool) -> Vec<f64> {
    let top = eta_rectangles(s / 2, s);
    let bottom = eta_rectangles(s - s / 2, s);
    let mut out: Vec<f64> = top.into_iter().chain(bottom.into_iter().map(|v| -v)).collect();
    unit(&mut out);
    if transpose {
        let t: Vec<f64> = (0..s * s).map(|k| out[(k % s) * s + k / s]).collect();
        return t;
    }
    out
}

/// The pixel indices of the `s x s` window at row `r0`, column `c0`, row by row.
fn window(r0: usize, c0: usize, s: usize, cols: usize) -> impl Iterator<Item = usize> {
    (r0..r0 + s).flat_map(move |r| (r * cols + c0)..(r * cols + c0 + s))
}

/// `x0 + eps·delta/|delta|`, clipped to the bounds.
fn place(x0: &[f32], delta: &[f64], s: &L2Shape, out: &mut [f32]) {
    let n = delta.iter().map(|v| v * v).sum::<f64>().sqrt();
    let k = f64::from(s.eps) / (n + 1e-12);
    for ((o, &c), &v) in out.iter_mut().zip(x0).zip(delta) {
        *o = ((f64::from(c) + k * v) as f32).max(s.lo).min(s.hi);
    }
}

impl Square {
    /// The L2 version (see the module docs), with this attack's restarts and query budget.
    fn run_l2(
        &self,
        model: &dyn Classifier,
        x0: &[f32],
        labels: &[u8],
        targeted: bool,
        sh: &L2Shape,
        rng: &mut dyn rand::RngCore,
    ) -> Vec<f32> {
        let (d, c, n) = (model.input_dim(), model.num_classes(), labels.len());
        let (rows, cols) = (sh.rows, sh.cols);
        let mut best = x0.to_vec();
        let mut margin = margins(&self.query(model, x0, n), c, labels, targeted);
        let sign = |rng: &mut dyn rand::RngCore| if rng.gen_bool(0.5) { 1.0 } else { -1.0 };
        for _ in 0..self.restarts {
            let todo: Vec<usize> = (0..n).filter(|&i| margin[i] >= 0.0).collect();
            if todo.is_empty() {
                break;
            }
            // The start: a 5x5 grid of random-signed eta windows of side rows/5.
            let tile = rows.min(cols) / 5;
            let mut run_best = best.clone();
            let mut deltas: Vec<Vec<f64>> = Vec::with_capacity(todo.len());
            for &i in &todo {
                let mut delta = vec![0.0f64; d];
                if tile == 0 {
                    delta.iter_mut().for_each(|v| *v = sign(rng));
                } else {
                    let (r_off, c_off) = ((rows - 5 * tile) / 2, (cols - 5 * tile) / 2);
                    for tr in 0..5 {
                        for tc in 0..5 {
                            let e = eta(tile, rng.gen_bool(0.5));
                            let sg = sign(rng);
                            for r in 0..tile {
                                for col in 0..tile {
                                    delta[(r_off + tr * tile + r) * cols + c_off + tc * tile + col] +=
                                        sg * e[r * tile + col];
                                }
                            }
                        }
                    }
                }
                let (xi, oi) = (&x0[i * d..(i + 1) * d], &mut run_best[i * d..(i + 1) * d]);
                place(xi, &delta, sh, oi);
                deltas.push(oi.iter().zip(xi).map(|(a, b)| f64::from(a - b)).collect());
            }
            let mut sub = Vec::new();
            gather_rows(&run_best, d, &todo, &mut sub);
            let ys: Vec<u8> = todo.iter().map(|&i| labels[i]).collect();
            let m = margins(&self.query(model, &sub, todo.len()), c, &ys, targeted);
            let mut run_margin = vec![f32::INFINITY; n];
            for (k, &i) in todo.iter().enumerate() {
                run_margin[i] = m[k];
            }
            for q in 1..self.queries {
                let active: Vec<usize> = (0..todo.len()).filter(|&k| run_margin[todo[k]] >= 0.0).collect();
                if active.is_empty() {
                    break;
                }
                let p = self.p_at(q, self.queries);
                let mut s = ((p * (rows * cols) as f32).sqrt().round() as usize).max(3);
                if s % 2 == 0 {
                    s += 1;
                }
                let s = s.min(rows).min(cols).max(1);
                let mut batch = Vec::with_capacity(active.len() * d);
                for &k in &active {
                    let i = todo[k];
                    let delta = &deltas[k];
                    let (a_r, a_c) = (rng.gen_range(0..=rows - s), rng.gen_range(0..=cols - s));
                    let (b_r, b_c) = (rng.gen_range(0..=rows - s), rng.gen_range(0..=cols - s));
                    let in_a = |p: usize| (a_r..a_r + s).contains(&(p / cols)) && (a_c..a_c + s).contains(&(p % cols));
                    let in_b = |p: usize| (b_r..b_r + s).contains(&(p / cols)) && (b_c..b_c + s).contains(&(p % cols));
                    // Pixels of both windows in index order, visiting only their bounding box.
                    let (r0, r1) = (a_r.min(b_r), a_r.max(b_r) + s);
                    let (c0, c1) = (a_c.min(b_c), a_c.max(b_c) + s);
                    let union = (r0..r1).flat_map(|r| (c0..c1).map(move |col| r * cols + col));
                    let total: f64 = delta.iter().map(|v| v * v).sum();
                    let window_a: f64 = window(a_r, a_c, s, cols).map(|p| delta[p] * delta[p]).sum::<f64>().sqrt();
                    let both: f64 = union.filter(|&p| in_a(p) || in_b(p)).map(|p| delta[p] * delta[p]).sum();
                    let e = eta(s, rng.gen_bool(0.5));
                    let sg = sign(rng);
                    let mut new: Vec<f64> = window(a_r, a_c, s, cols)
                        .zip(&e)
                        .map(|(p, ew)| sg * ew + delta[p] / (1e-12 + window_a))
                        .collect();
                    let free = (f64::from(sh.eps).powi(2) - total).max(0.0);
                    let len = (free + both).sqrt();
                    unit(&mut new);
                    let mut cand = delta.clone();
                    window(b_r, b_c, s, cols).for_each(|p| cand[p] = 0.0);
                    window(a_r, a_c, s, cols).zip(&new).for_each(|(p, v)| cand[p] = v * len);
                    let start = batch.len();
                    batch.resize(start + d, 0.0);
                    place(&x0[i * d..(i + 1) * d], &cand, sh, &mut batch[start..]);
                }
                let ys: Vec<u8> = active.iter().map(|&k| labels[todo[k]]).collect();
                let m = margins(&self.query(model, &batch, active.len()), c, &ys, targeted);
                for (j, &k) in active.iter().enumerate() {
                    let i = todo[k];
                    if m[j] < run_margin[i] {
                        run_margin[i] = m[j];
                        run_best[i * d..(i + 1) * d].copy_from_slice(&batch[j * d..(j + 1) * d]);
                        let xi = &x0[i * d..(i + 1) * d];
                        deltas[k] =
                            run_best[i * d..(i + 1) * d].iter().zip(xi).map(|(a, b)| f64::from(a - b)).collect();
                    }
                }
            }
            for &i in &todo {
                if run_margin[i] < margin[i] {
                    margin[i] = run_margin[i];
                    best[i * d..(i + 1) * d].copy_from_slice(&run_best[i * d..(i + 1) * d]);
                }
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_share_halves_on_autoattacks_schedule() {
        let s = Square::standard();
        assert_eq!(s.p_at(0, 5000), 0.8);
        assert_eq!(s.p_at(5, 5000), 0.8); // it = 10: not yet past 10
        assert_eq!(s.p_at(6, 5000), 0.4);
        assert_eq!(s.p_at(26, 5000), 0.2);
        assert_eq!(s.p_at(4999, 5000), 0.8 / 512.0);
    }
}
