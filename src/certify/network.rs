//! Sound IBP and CROWN bounds on the margins `z_y - z_j` of any sequential [`Network`]
//! (input normalisation, convolutions, linear layers, ReLU, max-pooling, flatten, dropout)
//! over an L-inf ball intersected with the pixel box.
//!
//! - **IBP** (Gowal et al., "On the Effectiveness of Interval Bound Propagation for Training
//!   Verifiably Robust Models", arXiv:1810.12715): every affine layer maps the box's centre
//!   and radius (`W c + b`, `|W| r`), ReLU and max-pooling map the ends.
//! - **CROWN** (Zhang et al., "Efficient Neural Network Robustness Certification with General
//!   Activation Functions", NeurIPS 2018, arXiv:1811.00866), with the layer-by-layer
//!   intermediate bounds of its general form (as auto_LiRPA's `CROWN` method computes them):
//!   each margin, and each unstable ReLU's pre-activation in turn, is bounded by a linear
//!   function of the layer below, back-substituted to the pixels and minimised over the box.
//!   An unstable ReLU (`l < 0 < u`) is relaxed from above by its chord `u (z - l) / (u - l)`
//!   and from below by `alpha z` with the adaptive `alpha` (1 when `u >= -l`, else 0, as
//!   auto_LiRPA does). A max-pooling output is bounded below by the input whose lower bound
//!   is largest and above by the largest upper bound of its window (exactly, when that input
//!   dominates the window). Back-substituting a layer's unstable units costs their count
//!   times the work of one row, which grows with the row's receptive field at each layer
//!   below; a layer whose cost would pass [`INTERMEDIATE_BUDGET`] operations per image keeps
//!   its IBP bounds (so `madry-cnn`'s fully connected layer does), which only loosens the
//!   result. Every CROWN bound is taken
//!   with IBP's (the larger of two sound bounds).
//!
//! For the L2 ball the bounds are those of the L-inf box of the same radius, which holds it.
//!
//! **Soundness in floating point.** The weights are the model's f32 values, exactly in f64;
//! every computed quantity is f64 and its rounding is bounded: an affine layer's interval is
//! widened by `gamma_{n+2}` times the magnitude of its terms; each back-substitution step
//! through an affine layer subtracts `gamma_{n_out+2} · |Λ| · (|W| M + |b|)`, `M` the sound
//! magnitude bound of the layer's input (the computed `Λ W` then stands as the exact
//! coefficients of a valid inequality); a chord's slope is rounded up and its products are
//! charged the same way; the constants' sums carry `gamma` of their term count times their
//! magnitude. So each bound holds for the network in exact arithmetic. The model's own f32
//! forward pass rounds too: [`f32_margin_errors`] bounds its error in the margin over the
//! box by the same analysis in f32 (`gamma_n` of each dot product over the sound magnitudes,
//! propagated through the layers), and a certificate needs the bound above it.

use super::bounds::{down, gamma, input_box, up, Method};
use crate::error::{Error, Result};
use crate::model::arch::{Layer, Shape};
use crate::model::{Classifier, Network};
use rayon::prelude::*;

/// The most multiply-adds per image that one layer's intermediate CROWN bounds may cost;
/// beyond it that layer keeps its IBP bounds.
pub const INTERMEDIATE_BUDGET: f64 = 1e9;

/// An affine map in f64 as sparse rows: output `o` is `sum w[t] · x[idx[t]] + b[o]` over
/// `t` in `start[o]..start[o + 1]`.
struct Affine {
    n_in: usize,
    start: Vec<usize>,
    idx: Vec<u32>,
    w: Vec<f64>,
    b: Vec<f64>,
    /// The most terms in one output's sum (bias aside).
    fan_in: usize,
    /// The most outputs one input feeds.
    fan_out: usize,
}

impl Affine {
    fn n_out(&self) -> usize {
        self.b.len()
    }

    fn row(&self, o: usize) -> (&[u32], &[f64]) {
        let r = self.start[o]..self.start[o + 1];
        (&self.idx[r.clone()], &self.w[r])
    }

    fn from_rows(n_in: usize, rows: Vec<Vec<(u32, f64)>>, b: Vec<f64>) -> Affine {
        let mut start = Vec::with_capacity(rows.len() + 1);
        start.push(0);
        let (mut idx, mut w) = (Vec::new(), Vec::new());
        let mut fan_in = 0;
        let mut feeds = vec![0usize; n_in];
        for r in rows {
            fan_in = fan_in.max(r.len());
            for (i, v) in r {
                feeds[i as usize] += 1;
                idx.push(i);
                w.push(v);
            }
            start.push(idx.len());
        }
        let fan_out = feeds.into_iter().max().unwrap_or(0);
        Affine { n_in, start, idx, w, b, fan_in, fan_out }
    }

    /// `sum_i |W_oi| m_i` per output.
    fn abs_times(&self, m: &[f64]) -> Vec<f64> {
        (0..self.n_out())
            .map(|o| {
                let (ix, w) = self.row(o);
                ix.iter().zip(w).map(|(&i, v)| v.abs() * m[i as usize]).sum::<f64>()
            })
            .collect()
    }
}

/// One step of the network, as the bounds see it (flatten and dropout vanish).
enum Step {
    Affine(Affine),
    Relu,
    /// Each output's window of input indices.
    Pool {
        windows: Vec<Vec<u32>>,
        overlapping: bool,
    },
}

/// A network's steps in f64.
pub struct DeepNet {
    steps: Vec<Step>,
    input: usize,
    classes: usize,
}

/// Sound bounds of every step's input (and the logits last): `lo[s]`, `hi[s]`.
struct Boxes {
    lo: Vec<Vec<f64>>,
    hi: Vec<Vec<f64>>,
}

impl Boxes {
    /// The largest magnitude of step `s`'s input.
    fn mag(&self, s: usize) -> Vec<f64> {
        self.lo[s].iter().zip(&self.hi[s]).map(|(l, h)| l.abs().max(h.abs())).collect()
    }
}

impl DeepNet {
    /// The steps of `net`.
    pub fn of(net: &Network) -> Result<DeepNet> {
        let arch = net.arch();
        let shapes = arch.shapes()?;
        let params = net.params();
        let specs = net.specs();
        let mut steps = Vec::new();
        for (i, layer) in arch.layers.iter().enumerate() {
            let before = if i == 0 { arch.input_shape() } else { shapes[i - 1] };
            let p = specs.iter().position(|s| s.layer == i);
            let weights = |k: usize| -> Result<&[f32]> {
                p.and_then(|p| params.get(p + k))
                    .map(|v| v.as_slice())
                    .ok_or_else(|| Error::Arch(format!("layer {i}: its parameters are missing")))
            };
            match (layer, before) {
                (Layer::Normalize { mean, std }, s) => {
                    let plane = s.len() / mean.len().max(1);
                    let n = s.len();
                    let mut rows = Vec::with_capacity(n);
                    let mut b = Vec::with_capacity(n);
                    for t in 0..n {
                        let ch = t / plane.max(1);
                        let (m, sd) = (f64::from(mean[ch]), f64::from(std[ch]));
                        rows.push(vec![(t as u32, 1.0 / sd)]);
                        b.push(-m / sd);
                    }
                    steps.push(Step::Affine(Affine::from_rows(n, rows, b)));
                }
                (Layer::Conv2d { out_channels, kernel, stride, padding, .. }, Shape::Image { c, h, w }) => {
                    let (wt, bias) = (weights(0)?, weights(1)?);
                    let (k, s, pad, oc) = (*kernel, *stride, *padding, *out_channels);
                    let oh = (h + 2 * pad - k) / s + 1;
                    let ow = (w + 2 * pad - k) / s + 1;
                    let mut rows = Vec::with_capacity(oc * oh * ow);
                    let mut b = Vec::with_capacity(oc * oh * ow);
                    for o in 0..oc {
                        for y in 0..oh {
                            for x in 0..ow {
                                let mut row = Vec::with_capacity(c * k * k);
                                for ci in 0..c {
                                    for ki in 0..k {
                                        let iy = (y * s + ki) as isize - pad as isize;
                                        if iy < 0 || iy >= h as isize {
                                            continue;
                                        }
                                        for kj in 0..k {
                                            let ix = (x * s + kj) as isize - pad as isize;
                                            if ix < 0 || ix >= w as isize {
                                                continue;
                                            }
                                            let v = wt[((o * c + ci) * k + ki) * k + kj];
                                            if v != 0.0 {
                                                let at = (ci * h + iy as usize) * w + ix as usize;
                                                row.push((at as u32, f64::from(v)));
                                            }
                                        }
                                    }
                                }
                                rows.push(row);
                                b.push(f64::from(bias[o]));
                            }
                        }
                    }
                    steps.push(Step::Affine(Affine::from_rows(c * h * w, rows, b)));
                }
                (Layer::Linear { out_features, .. }, s) => {
                    let (wt, bias) = (weights(0)?, weights(1)?);
                    let n = s.len();
                    let rows = (0..*out_features)
                        .map(|o| {
                            wt[o * n..(o + 1) * n]
                                .iter()
                                .enumerate()
                                .filter(|(_, v)| **v != 0.0)
                                .map(|(t, &v)| (t as u32, f64::from(v)))
                                .collect()
                        })
                        .collect();
                    let b = bias.iter().map(|&v| f64::from(v)).collect();
                    steps.push(Step::Affine(Affine::from_rows(n, rows, b)));
                }
                (Layer::Relu, _) => steps.push(Step::Relu),
                (Layer::MaxPool2d { kernel, stride }, Shape::Image { c, h, w }) => {
                    let (k, s) = (*kernel, *stride);
                    let (oh, ow) = ((h - k) / s + 1, (w - k) / s + 1);
                    let mut windows = Vec::with_capacity(c * oh * ow);
                    for ch in 0..c {
                        for y in 0..oh {
                            for x in 0..ow {
                                let mut win = Vec::with_capacity(k * k);
                                for ki in 0..k {
                                    for kj in 0..k {
                                        win.push(((ch * h + y * s + ki) * w + x * s + kj) as u32);
                                    }
                                }
                                windows.push(win);
                            }
                        }
                    }
                    steps.push(Step::Pool { windows, overlapping: s < k });
                }
                (Layer::Flatten | Layer::Dropout { .. }, _) => {}
                (l, s) => return Err(Error::Arch(format!("layer {i} ({l:?}) cannot take {s}"))),
            }
        }
        Ok(DeepNet { steps, input: net.input_dim(), classes: net.num_classes() })
    }

    /// IBP through steps `from..`, starting from `b.lo[from]`, `b.hi[from]` (each later
    /// entry replaced).
    fn ibp_from(&self, b: &mut Boxes, from: usize) {
        b.lo.truncate(from + 1);
        b.hi.truncate(from + 1);
        for s in from..self.steps.len() {
            let (l, h) = (&b.lo[s], &b.hi[s]);
            let (nl, nh) = match &self.steps[s] {
                Step::Affine(a) => ibp_affine(a, l, h),
                Step::Relu => (l.iter().map(|v| v.max(0.0)).collect(), h.iter().map(|v| v.max(0.0)).collect()),
                Step::Pool { windows, .. } => {
                    let max = |v: &[f64], w: &[u32]| w.iter().map(|&i| v[i as usize]).fold(f64::NEG_INFINITY, f64::max);
                    (windows.iter().map(|w| max(l, w)).collect(), windows.iter().map(|w| max(h, w)).collect())
                }
            };
            b.lo.push(nl);
            b.hi.push(nh);
        }
    }

    /// Sound bounds of every step's input over the box `[l0, u0]`: IBP, and with `crown` each
    /// ReLU's unstable pre-activations tightened by back-substitution where affordable.
    fn boxes(&self, l0: Vec<f64>, u0: Vec<f64>, crown: bool) -> Boxes {
        let mut b = Boxes { lo: vec![l0], hi: vec![u0] };
        self.ibp_from(&mut b, 0);
        if !crown {
            return b;
        }
        for s in 1..self.steps.len() {
            if !matches!(self.steps[s], Step::Relu) {
                continue;
            }
            let unstable: Vec<usize> = (0..b.lo[s].len()).filter(|&k| b.lo[s][k] < 0.0 && b.hi[s][k] > 0.0).collect();
            if unstable.is_empty() {
                continue;
            }
            if 2.0 * unstable.len() as f64 * self.row_cost(&b, s) > INTERMEDIATE_BUDGET {
                continue;
            }
            let width = b.lo[s].len();
            for chunk in unstable.chunks(32) {
                // Rows: +e_k (the lower bound) and -e_k (minus the upper bound).
                let mut rows = vec![0.0f64; 2 * chunk.len() * width];
                for (r, &k) in chunk.iter().enumerate() {
                    rows[(2 * r) * width + k] = 1.0;
                    rows[(2 * r + 1) * width + k] = -1.0;
                }
                let low = self.back_substitute(&b, s, rows, 2 * chunk.len());
                for (r, &k) in chunk.iter().enumerate() {
                    b.lo[s][k] = b.lo[s][k].max(low[2 * r]);
                    b.hi[s][k] = b.hi[s][k].min(-low[2 * r + 1]);
                }
            }
            self.ibp_from(&mut b, s);
        }
        b
    }

    /// The work of back-substituting one row from step `s`'s input to the pixels: at each
    /// step the widths it scans plus its receptive field there times the fan-in (a row
    /// starts as one unit and reaches more of each layer below).
    fn row_cost(&self, b: &Boxes, s: usize) -> f64 {
        let (mut cost, mut reach) = (0.0f64, 1.0f64);
        for t in (0..s).rev() {
            let (w_out, w_in) = (b.lo[t + 1].len() as f64, b.lo[t].len() as f64);
            let fan = match &self.steps[t] {
                Step::Affine(a) => a.fan_in as f64,
                Step::Pool { windows, .. } => windows.first().map_or(1, Vec::len) as f64,
                Step::Relu => {
                    cost += w_out;
                    continue;
                }
            };
            cost += w_out + w_in + reach * fan;
            reach = (reach * fan).min(w_in);
        }
        cost
    }

    /// Lower bounds of `rows · z_s` (`rows` is `[n_rows, |z_s|]`) over the box, by CROWN's
    /// back-substitution through steps `s-1..0` with the bounds `b`.
    fn back_substitute(&self, b: &Boxes, s: usize, mut lam: Vec<f64>, n_rows: usize) -> Vec<f64> {
        let mut konst = vec![0.0f64; n_rows];
        let mut kmag = vec![0.0f64; n_rows];
        let mut terms = 0usize;
        let mut err = vec![0.0f64; n_rows];
        let u64r = f64::EPSILON / 2.0;
        for t in (0..s).rev() {
            let mag = b.mag(t);
            let width = b.lo[t + 1].len();
            match &self.steps[t] {
                Step::Affine(a) => {
                    let n_in = a.n_in;
                    let wm = a.abs_times(&mag);
                    let g = gamma(a.fan_out.max(a.n_out()) + 2);
                    let mut next = vec![0.0f64; n_rows * n_in];
                    for r in 0..n_rows {
                        let (src, dst) = (&lam[r * width..(r + 1) * width], &mut next[r * n_in..(r + 1) * n_in]);
                        let (mut e, mut kc, mut km) = (0.0f64, 0.0f64, 0.0f64);
                        for (o, &l) in src.iter().enumerate() {
                            if l == 0.0 {
                                continue;
                            }
                            let (ix, w) = a.row(o);
                            for (&i, &v) in ix.iter().zip(w) {
                                dst[i as usize] += l * v;
                            }
                            e += l.abs() * (wm[o] + a.b[o].abs());
                            kc += l * a.b[o];
                            km += (l * a.b[o]).abs();
                        }
                        err[r] += g * e * (1.0 + 4.0 * g);
                        konst[r] += kc;
                        kmag[r] += km;
                    }
                    terms += a.n_out() + 1;
                    lam = next;
                }
                Step::Relu => {
                    let (lo, hi) = (&b.lo[t], &b.hi[t]);
                    for r in 0..n_rows {
                        let row = &mut lam[r * width..(r + 1) * width];
                        let (mut e, mut kc, mut km) = (0.0f64, 0.0f64, 0.0f64);
                        for (k, lk) in row.iter_mut().enumerate() {
                            let (l, u, v) = (lo[k], hi[k], *lk);
                            if v == 0.0 || l >= 0.0 {
                                continue;
                            }
                            if u <= 0.0 {
                                *lk = 0.0;
                            } else if v < 0.0 {
                                let slope = up(u / down(u - l));
                                let c = v * (-slope * l);
                                *lk = v * slope;
                                e += u64r * lk.abs() * mag[k];
                                kc += c;
                                km += 2.0 * c.abs();
                            } else if u < -l {
                                *lk = 0.0;
                            }
                        }
                        err[r] += e * (1.0 + 1e-9);
                        konst[r] += kc;
                        kmag[r] += km;
                    }
                    terms += width + 1;
                }
                Step::Pool { windows, overlapping } => {
                    let (lo, hi) = (&b.lo[t], &b.hi[t]);
                    let n_in = lo.len();
                    let mut next = vec![0.0f64; n_rows * n_in];
                    for r in 0..n_rows {
                        let (src, dst) = (&lam[r * width..(r + 1) * width], &mut next[r * n_in..(r + 1) * n_in]);
                        let (mut e, mut kc, mut km) = (0.0f64, 0.0f64, 0.0f64);
                        for (o, &v) in src.iter().enumerate() {
                            if v == 0.0 {
                                continue;
                            }
                            let win = &windows[o];
                            // The input with the largest lower bound (the first such).
                            let mut best = win[0] as usize;
                            for &i in &win[1..] {
                                if lo[i as usize] > lo[best] {
                                    best = i as usize;
                                }
                            }
                            let top = win.iter().map(|&i| hi[i as usize]).fold(f64::NEG_INFINITY, f64::max);
                            let others = win
                                .iter()
                                .filter(|&&i| i as usize != best)
                                .map(|&i| hi[i as usize])
                                .fold(f64::NEG_INFINITY, f64::max);
                            if v > 0.0 || lo[best] >= others {
                                dst[best] += v;
                                if *overlapping {
                                    e += u64r * v.abs() * mag[best];
                                }
                            } else {
                                kc += v * top;
                                km += (v * top).abs();
                            }
                        }
                        err[r] += e * (1.0 + 1e-9);
                        konst[r] += kc;
                        kmag[r] += km;
                    }
                    terms += width + 1;
                    lam = next;
                }
            }
        }
        // Over the input box, in closed form.
        let (l0, u0) = (&b.lo[0], &b.hi[0]);
        let d = l0.len();
        (0..n_rows)
            .map(|r| {
                let row = &lam[r * d..(r + 1) * d];
                let (mut lin, mut lmag) = (0.0f64, 0.0f64);
                for i in 0..d {
                    let (p, q) = (row[i] * l0[i], row[i] * u0[i]);
                    lin += p.min(q);
                    lmag += p.abs().max(q.abs());
                }
                let round = gamma(d + 2) * lmag + gamma(terms + 4) * kmag[r];
                down(lin + konst[r] - (err[r] + round) * (1.0 + 1e-9))
            })
            .collect()
    }

    /// Lower bounds of the margins `z_y - z_j` (`+inf` at `j = y`) over the box `[l0, u0]`.
    fn margins(&self, l0: Vec<f64>, u0: Vec<f64>, y: usize, method: Method) -> Vec<f64> {
        let c = self.classes;
        let b = self.boxes(l0, u0, method != Method::Ibp);
        let last = self.steps.len();
        let (zl, zu) = (&b.lo[last], &b.hi[last]);
        let mut out: Vec<f64> = (0..c).map(|j| if j == y { f64::INFINITY } else { down(zl[y] - zu[j]) }).collect();
        if let (Some(Step::Affine(a)), true) = (self.steps.last(), last > 0) {
            // IBP with the last layer elided: each margin's row `W_y - W_j` over the box of
            // the layer's input (Gowal et al.).
            let (l, h) = (&b.lo[last - 1], &b.hi[last - 1]);
            let dense = |o: usize| {
                let mut v = vec![0.0f64; a.n_in];
                let (ix, w) = a.row(o);
                ix.iter().zip(w).for_each(|(&i, &x)| v[i as usize] = x);
                v
            };
            let wy = dense(y);
            for j in (0..c).filter(|&j| j != y) {
                let diff: Vec<(u32, f64)> =
                    wy.iter().zip(dense(j)).enumerate().map(|(i, (p, q))| (i as u32, p - q)).collect();
                let row = Affine::from_rows(a.n_in, vec![diff], vec![a.b[y] - a.b[j]]);
                // The differences and the bias difference each round once: gamma + 2 covers it.
                let (lo, _) = ibp_affine(&row, l, h);
                out[j] = out[j].max(lo[0]);
            }
        }
        if method == Method::Ibp {
            return out;
        }
        let wrong: Vec<usize> = (0..c).filter(|&j| j != y).collect();
        let mut rows = vec![0.0f64; wrong.len() * c];
        for (r, &j) in wrong.iter().enumerate() {
            rows[r * c + y] = 1.0;
            rows[r * c + j] = -1.0;
        }
        let crown = self.back_substitute(&b, last, rows, wrong.len());
        for (&j, v) in wrong.iter().zip(crown) {
            out[j] = out[j].max(v);
        }
        out
    }

    /// Per image, a bound on how far the f32 forward pass can move the margin of its label
    /// (for the worst wrong class) at any point of the box `[l0, u0]`: each affine output's
    /// error is `|W| e + gamma32_{n+2} (|W| (M + e) + |b|)`, `M` the sound magnitude of its
    /// input and `e` the error carried in; ReLU and max-pooling carry the largest error in.
    fn f32_error(&self, l0: Vec<f64>, u0: Vec<f64>, y: usize) -> f64 {
        let b = self.boxes(l0, u0, false);
        let u32r = f64::from(f32::EPSILON) / 2.0;
        let g = |n: usize| (n as f64 + 2.0) * u32r / (1.0 - (n as f64 + 2.0) * u32r);
        let safety = 1.0 + 1e-9;
        let mut e = vec![0.0f64; self.input];
        for (s, step) in self.steps.iter().enumerate() {
            e = match step {
                Step::Affine(a) => {
                    let mag = b.mag(s);
                    let carried = a.abs_times(&e);
                    let me: Vec<f64> = mag.iter().zip(&e).map(|(m, v)| m + v).collect();
                    let size = a.abs_times(&me);
                    let gn = g(a.fan_in + 1);
                    // Flushed subnormals add at most the smallest normal f32 per operation.
                    let ftz = (a.fan_in + 2) as f64 * f64::from(f32::MIN_POSITIVE);
                    (0..a.n_out()).map(|o| (carried[o] + gn * (size[o] + a.b[o].abs()) + ftz) * safety).collect()
                }
                Step::Relu => e,
                Step::Pool { windows, .. } => {
                    windows.iter().map(|w| w.iter().map(|&i| e[i as usize]).fold(0.0f64, f64::max)).collect()
                }
            };
        }
        let c = self.classes;
        let y = y.min(c.saturating_sub(1));
        let worst = (0..c).filter(|&j| j != y).map(|j| e[j]).fold(0.0f64, f64::max);
        (e[y] + worst) * (1.0 + u32r) + f64::MIN_POSITIVE
    }
}

/// IBP through one affine map: centre and radius, each sum widened by its rounding.
fn ibp_affine(a: &Affine, l: &[f64], h: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let g = gamma(a.fan_in + 2);
    let (c, r): (Vec<f64>, Vec<f64>) = l
        .iter()
        .zip(h)
        .map(|(&l, &h)| {
            let c = 0.5 * (l + h);
            (c, up(up(h - c).max(up(c - l))))
        })
        .unzip();
    (0..a.n_out())
        .map(|o| {
            let (ix, w) = a.row(o);
            let (mut zc, mut zr, mut mag) = (a.b[o], 0.0f64, a.b[o].abs());
            for (&i, &v) in ix.iter().zip(w) {
                let i = i as usize;
                zc += v * c[i];
                zr += v.abs() * r[i];
                mag += v.abs() * (c[i].abs() + r[i]);
            }
            let widen = up(zr + g * mag * (1.0 + 2.0 * g));
            (down(zc - widen), up(zc + widen))
        })
        .unzip()
}

/// Whether `method` bounds `net`: IBP and CROWN do; alpha-CROWN's slope search is written for
/// one hidden layer, so it is refused by name.
pub fn supports(net: &Network, method: Method) -> Result<()> {
    if method == Method::AlphaCrown {
        return Err(Error::Arch(format!(
            "alpha-CROWN supports the one-hidden-layer ReLU MLP only so far; this model is {} (use crown or ibp)",
            net.arch().summary()
        )));
    }
    Ok(())
}

/// Lower bounds of `z_y - z_j` for every class `j` (`+inf` at `j = y`) of `net` over the
/// L-inf ball of radius `eps` around each image (`x` is `[n, input]`), intersected with
/// `bounds` (see the module docs; an L2 ball takes its box's bounds). alpha-CROWN is refused
/// ([`supports`]).
pub fn margin_bounds(
    net: &Network,
    x: &[f32],
    labels: &[u8],
    eps: f64,
    bounds: Option<(f32, f32)>,
    method: Method,
) -> Result<Vec<f64>> {
    supports(net, method)?;
    let deep = DeepNet::of(net)?;
    let d = deep.input.max(1);
    Ok(x.par_chunks(d)
        .zip(labels.par_iter())
        .flat_map_iter(|(img, &y)| {
            let (l0, u0) = input_box(img, eps, bounds);
            deep.margins(l0, u0, usize::from(y), method)
        })
        .collect())
}

/// Per image, the bound [`margin_bounds`]' certificate must clear: how far `net`'s f32
/// forward pass can move the margin anywhere in the image's threat set.
pub fn f32_margin_errors(
    net: &Network,
    x: &[f32],
    labels: &[u8],
    eps: f64,
    bounds: Option<(f32, f32)>,
) -> Result<Vec<f64>> {
    let deep = DeepNet::of(net)?;
    let d = deep.input.max(1);
    Ok(x.par_chunks(d)
        .zip(labels.par_iter())
        .map(|(img, &y)| {
            let (l0, u0) = input_box(img, eps, bounds);
            deep.f32_error(l0, u0, usize::from(y))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::arch::{Arch, VERSION};
    use crate::model::{Mlp, Model};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// An independent f64 forward pass of `net` (eval mode), straight from the layers.
    fn reference(net: &Network, x: &[f64]) -> Vec<f64> {
        let arch = net.arch();
        let specs = net.specs();
        let mut shape = arch.input_shape();
        let mut v = x.to_vec();
        for (i, layer) in arch.layers.iter().enumerate() {
            let p = specs.iter().position(|s| s.layer == i).map(|p| (&net.params()[p], &net.params()[p + 1]));
            (v, shape) = match (layer, shape) {
                (Layer::Normalize { mean, std }, s @ Shape::Image { h, w, .. }) => {
                    let out = v
                        .iter()
                        .enumerate()
                        .map(|(t, &a)| (a - f64::from(mean[t / (h * w)])) / f64::from(std[t / (h * w)]))
                        .collect();
                    (out, s)
                }
                (
                    Layer::Conv2d { out_channels: oc, kernel: k, stride: st, padding: pd, .. },
                    Shape::Image { c, h, w },
                ) => {
                    let (wt, b) = p.unwrap();
                    let (oh, ow) = ((h + 2 * pd - k) / st + 1, (w + 2 * pd - k) / st + 1);
                    let mut out = vec![0.0; oc * oh * ow];
                    for o in 0..*oc {
                        for y in 0..oh {
                            for xx in 0..ow {
                                let mut acc = f64::from(b[o]);
                                for ci in 0..c {
                                    for ki in 0..*k {
                                        for kj in 0..*k {
                                            let (iy, ix) = (
                                                (y * st + ki) as isize - *pd as isize,
                                                (xx * st + kj) as isize - *pd as isize,
                                            );
                                            if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                                                let wv = f64::from(wt[((o * c + ci) * k + ki) * k + kj]);
                                                acc += wv * v[(ci * h + iy as usize) * w + ix as usize];
                                            }
                                        }
                                    }
                                }
                                out[(o * oh + y) * ow + xx] = acc;
                            }
                        }
                    }
                    (out, Shape::Image { c: *oc, h: oh, w: ow })
                }
                (Layer::MaxPool2d { kernel: k, stride: st }, Shape::Image { c, h, w }) => {
                    let (oh, ow) = ((h - k) / st + 1, (w - k) / st + 1);
                    let mut out = vec![f64::NEG_INFINITY; c * oh * ow];
                    for ch in 0..c {
                        for y in 0..oh {
                            for xx in 0..ow {
                                for ki in 0..*k {
                                    for kj in 0..*k {
                                        let a = v[(ch * h + y * st + ki) * w + xx * st + kj];
                                        let o = &mut out[(ch * oh + y) * ow + xx];
                                        *o = o.max(a);
                                    }
                                }
                            }
                        }
                    }
                    (out, Shape::Image { c, h: oh, w: ow })
                }
                (Layer::Linear { out_features: o, .. }, s) => {
                    let (wt, b) = p.unwrap();
                    let n = s.len();
                    let out = (0..*o)
                        .map(|r| f64::from(b[r]) + (0..n).map(|t| f64::from(wt[r * n + t]) * v[t]).sum::<f64>())
                        .collect();
                    (out, Shape::Flat(*o))
                }
                (Layer::Relu, s) => (v.iter().map(|a| a.max(0.0)).collect(), s),
                (Layer::Flatten, s) => (v, Shape::Flat(s.len())),
                (Layer::Dropout { .. }, s) => (v, s),
                (l, s) => panic!("{l:?} on {s}"),
            };
        }
        v
    }

    /// Small random networks with every layer kind: normalisation, padded and strided
    /// convolutions, disjoint and overlapping max-pooling, linear layers and dropout.
    fn networks(seed: u64) -> Vec<Network> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let conv = |name: &str, out_channels, kernel, stride, padding| Layer::Conv2d {
            name: name.into(),
            out_channels,
            kernel,
            stride,
            padding,
        };
        let fc = |name: &str, out_features| Layer::Linear { name: name.into(), out_features };
        let a = vec![
            Layer::Normalize { mean: vec![0.1, 0.3], std: vec![0.3, 0.6] },
            conv("conv1", 3, 3, 1, 1),
            Layer::Relu,
            Layer::MaxPool2d { kernel: 2, stride: 2 },
            conv("conv2", 4, 2, 1, 0),
            Layer::Relu,
            Layer::Flatten,
            fc("fc1", 8),
            Layer::Relu,
            Layer::Dropout { p: 0.5 },
            fc("fc2", 5),
        ];
        let b = vec![
            conv("conv1", 4, 3, 2, 1),
            Layer::Relu,
            Layer::MaxPool2d { kernel: 2, stride: 1 },
            Layer::Flatten,
            fc("fc1", 10),
            Layer::Relu,
            fc("fc2", 6),
            Layer::Relu,
            fc("fc3", 4),
        ];
        [(a, [2, 6, 6]), (b, [2, 6, 6])]
            .into_iter()
            .map(|(layers, input)| {
                let arch = Arch { version: VERSION, input, layers };
                let mut net = Network::init(arch, &mut rng).unwrap();
                // Larger weights than PyTorch's default, so more units are unstable.
                for p in net.params_mut() {
                    p.iter_mut().for_each(|v| *v *= 1.7);
                }
                net
            })
            .collect()
    }

    /// No point of the box has a margin (exact, or the f32 model's within the f32
    /// allowance) below either bound; the f32 allowance covers the f32 forward pass; CROWN is
    /// at least IBP and strictly tighter on most margins.
    #[test]
    fn network_bounds_are_sound_and_crown_is_tighter() {
        let (mut tighter, mut margins) = (0usize, 0usize);
        for seed in 0..12u64 {
            let mut rng = ChaCha8Rng::seed_from_u64(100 + seed);
            for net in networks(seed) {
                let deep = DeepNet::of(&net).unwrap();
                let (d, c) = (deep.input, deep.classes);
                for &eps in &[0.02, 0.1, 0.3] {
                    let x0: Vec<f32> = (0..d).map(|_| rng.gen_range(0.0f32..1.0)).collect();
                    let y = rng.gen_range(0..c);
                    let (l0, u0) = input_box(&x0, eps, Some((0.0, 1.0)));
                    let ibp = deep.margins(l0.clone(), u0.clone(), y, Method::Ibp);
                    let crown = deep.margins(l0.clone(), u0.clone(), y, Method::Crown);
                    let tol = deep.f32_error(l0.clone(), u0.clone(), y);
                    for j in (0..c).filter(|&j| j != y) {
                        assert!(crown[j] >= ibp[j], "CROWN {} below IBP {}", crown[j], ibp[j]);
                        tighter += usize::from(crown[j] > ibp[j] + 1e-9);
                        margins += 1;
                    }
                    // A sign-gradient walk (finite differences) toward each wrong class.
                    for j in (0..c).filter(|&j| j != y) {
                        let margin = |p: &[f64]| {
                            let z = reference(&net, p);
                            z[y] - z[j]
                        };
                        let mut p: Vec<f64> = l0.iter().zip(&u0).map(|(l, u)| 0.5 * (l + u)).collect();
                        for _ in 0..12 {
                            let m0 = margin(&p);
                            let grad: Vec<f64> = (0..d)
                                .map(|i| {
                                    let mut q = p.clone();
                                    q[i] += 1e-6;
                                    margin(&q) - m0
                                })
                                .collect();
                            for i in 0..d {
                                p[i] = (p[i] - grad[i].signum() * 0.25 * (u0[i] - l0[i])).clamp(l0[i], u0[i]);
                            }
                            let m = margin(&p);
                            assert!(
                                m >= crown[j] && m >= ibp[j],
                                "walk: margin {m} below CROWN {} / IBP {}",
                                crown[j],
                                ibp[j]
                            );
                        }
                    }
                    for t in 0..300 {
                        // Corners, then random points of the box.
                        let p: Vec<f32> = (0..d)
                            .map(|i| {
                                let r: f64 = if t < 150 { f64::from(rng.gen_range(0..2u8)) } else { rng.gen() };
                                (l0[i] + r * (u0[i] - l0[i])).clamp(l0[i], u0[i]) as f32
                            })
                            .map(|v| v.clamp(0.0, 1.0))
                            .collect();
                        let pf: Vec<f64> = p.iter().map(|&v| f64::from(v)).collect();
                        if pf.iter().zip(l0.iter().zip(&u0)).any(|(v, (l, u))| v < l || v > u) {
                            continue;
                        }
                        let exact = reference(&net, &pf);
                        let f32l = net.forward(&p, 1).logits().to_vec();
                        let worst_exact =
                            (0..c).filter(|&j| j != y).map(|j| exact[y] - exact[j]).fold(f64::INFINITY, f64::min);
                        let worst_f32 = (0..c)
                            .filter(|&j| j != y)
                            .map(|j| f64::from(f32l[y]) - f64::from(f32l[j]))
                            .fold(f64::INFINITY, f64::min);
                        assert!(
                            (worst_f32 - worst_exact).abs() <= tol,
                            "f32 {worst_f32} exact {worst_exact} tol {tol}"
                        );
                        for j in (0..c).filter(|&j| j != y) {
                            let m = exact[y] - exact[j];
                            assert!(
                                m >= crown[j] && m >= ibp[j],
                                "margin {m} below CROWN {} / IBP {}",
                                crown[j],
                                ibp[j]
                            );
                        }
                    }
                }
            }
        }
        assert!(tighter * 10 >= margins * 7, "CROWN tighter on only {tighter} of {margins} margins");
    }

    /// On the paper's architecture the network bounds equal the MLP's own (written
    /// independently in `super::bounds`), for IBP and CROWN.
    #[test]
    fn a_network_that_is_an_mlp_gets_the_mlps_bounds() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut compared = 0;
        for seed in 0..10u64 {
            let arch = Arch::builtin("mlp", [1, 5, 5], 4, &[16]).unwrap();
            let mut net = Network::init(arch, &mut ChaCha8Rng::seed_from_u64(seed)).unwrap();
            for p in net.params_mut() {
                p.iter_mut().for_each(|v| *v *= 2.0);
            }
            let mlp: Mlp = Model::from_network(net.clone()).unwrap().into_mlp("test").unwrap();
            let n = 6;
            let x: Vec<f32> = (0..n * 25).map(|_| rng.gen_range(0.0f32..1.0)).collect();
            let y: Vec<u8> = (0..n).map(|_| rng.gen_range(0..4u8)).collect();
            for method in [Method::Ibp, Method::Crown] {
                for eps in [0.05, 0.2] {
                    let ours = margin_bounds(&net, &x, &y, eps, Some((0.0, 1.0)), method).unwrap();
                    let theirs = crate::certify::margin_lower_bounds(&mlp, &x, &y, eps, Some((0.0, 1.0)), method);
                    for (a, b) in ours.iter().zip(&theirs) {
                        if b.is_infinite() {
                            assert_eq!(a, b);
                            continue;
                        }
                        assert!((a - b).abs() <= 1e-9 * (1.0 + b.abs()), "{method:?} eps {eps}: {a} vs {b}");
                        compared += 1;
                    }
                }
            }
        }
        assert_eq!(compared, 10 * 2 * 2 * 6 * 3);
    }

    #[test]
    fn alpha_crown_is_refused_for_networks_by_name() {
        let net = &networks(0)[0];
        let err = margin_bounds(net, &[0.5; 72], &[0], 0.1, None, Method::AlphaCrown).unwrap_err().to_string();
        assert!(err.contains("alpha-CROWN") && err.contains("conv2d"), "{err}");
    }
}
