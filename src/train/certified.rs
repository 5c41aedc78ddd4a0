//! Certified training: the blue team minimises a bound on the worst case, not a guess at it.
//!
//! Interval bound propagation (IBP) training, Gowal et al., "On the Effectiveness of Interval
//! Bound Propagation for Training Verifiably Robust Models", arXiv:1810.12715. For the
//! one-hidden-layer MLP the bound is computed in closed form:
//!
//! - the L-inf ball of radius `eps` around `x`, intersected with `[0, 1]`, is the box with
//!   centre `c` and radius `r`;
//! - the first layer is affine, so the interval of each pre-activation is exact:
//!   `z ∈ [zc - zr, zc + zr]` with `zc = c·W1 + b1`, `zr = r·|W1|`;
//! - ReLU is monotone: `h ∈ [relu(l), relu(u)]`, centre `hc`, radius `hr`;
//! - the last layer is *elided* into the specification (Gowal et al., section 3): the margin
//!   `logit_y - logit_j = (W2[:,y] - W2[:,j])·h + b2_y - b2_j` is bounded below directly,
//!   `m_j = v·hc - |v|·hr + b2_y - b2_j` with `v = W2[:,y] - W2[:,j]`, which is tighter than
//!   bounding the logits one by one.
//!
//! **CROWN-IBP** (Zhang et al., "Towards Stable and Efficient Training of Verifiably Robust
//! Neural Networks", ICLR 2020, arXiv:1906.06316) keeps IBP's intervals for the first layer
//! (exact here) and bounds the margin by CROWN's back-substitution through the ReLUs (chord
//! above for negative coefficients, adaptive slope below); the worst case is
//! `β·CROWN + (1-β)·IBP`, `β` ramping from 1 to 0 with `eps` (the paper's schedule), so the
//! costlier CROWN pass runs only during the ramp.
//!
//! The worst-case logits are `-m` (with `m_y = 0`); the training loss is
//! `κ·CE(clean) + (1-κ)·CE(-m)`, with the published schedule: `eps` and `κ` stay at `0` and
//! `1` for a warm-up, then `eps` ramps linearly to the training budget while `κ` ramps to its
//! final value (0.5 in the paper), and both hold for the rest of the run. The bound is taken
//! in eval mode (no dropout: the certificate is about the deployed model); the clean term keeps
//! the run's dropout. The gradient is written out by hand (below) and checked against finite
//! differences of an independent f64 implementation of the bound.
//!
//! What this trains for is checked by the certified judge ([`crate::certify`]), which bounds
//! the trained model with sound, outward-rounded bounds or decides it exactly; the bound in
//! training is plain f32 arithmetic, as it only needs to be a good loss.

use crate::error::{check_eps, Error, Result};
use crate::native::aligned::AlignedVec;
use crate::native::dense::{matmul, Mat};
use crate::native::elementwise::{add_rows, sum_rows_into};
use crate::native::mlp::Weights;
use serde::{Deserialize, Serialize};

/// Which bound the certified loss uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CertMethod {
    /// Interval bound propagation with the last layer elided (Gowal et al. 2018).
    Ibp,
    /// CROWN-IBP (Zhang et al. 2019): the worst case mixes CROWN's bound with weight `β`
    /// and IBP's with `1-β`, `β` ramping from 1 to 0 with `eps` (the paper's schedule).
    CrownIbp,
}

impl CertMethod {
    /// The name used on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            CertMethod::Ibp => "ibp",
            CertMethod::CrownIbp => "crown-ibp",
        }
    }
}

/// Certified (bound-based) training settings, recorded in the model file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CertTraining {
    /// The bound minimised.
    pub method: CertMethod,
    /// The L-inf training budget reached at the end of the ramp.
    pub eps: f64,
    /// Final weight of the clean loss (`κ` ramps from 1 to this value with `eps`).
    pub kappa: f64,
    /// Epochs of clean training (`eps = 0`, `κ = 1`) before the ramp.
    pub warmup_epochs: f64,
    /// Epochs over which `eps` and `κ` ramp linearly to their final values.
    pub ramp_epochs: f64,
}

/// The budget and clean weight at one training step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Schedule {
    /// Training eps of this step.
    pub eps: f64,
    /// Weight of the clean loss.
    pub kappa: f64,
    /// Weight of CROWN's bound in the worst case (the rest is IBP's).
    pub beta: f64,
}

impl CertTraining {
    /// Rejects impossible settings with a specific error.
    pub fn validate(&self, epochs: usize) -> Result<()> {
        check_eps("--cert-eps", self.eps, 1.0)?;
        if self.eps == 0.0 {
            return Err(Error::param("--cert-eps", self.eps, "must be > 0 (at eps 0 the bound is the clean loss)"));
        }
        if !(self.kappa.is_finite() && (0.0..1.0).contains(&self.kappa)) {
            return Err(Error::param(
                "--cert-kappa",
                self.kappa,
                "must be a number in [0, 1) (at 1 the bound never enters the loss)",
            ));
        }
        for (name, v) in [("--cert-warmup", self.warmup_epochs), ("--cert-ramp", self.ramp_epochs)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::param(name, v, "must be a number of epochs >= 0"));
            }
        }
        if self.warmup_epochs + self.ramp_epochs > epochs as f64 {
            return Err(Error::param(
                "--cert-warmup + --cert-ramp",
                self.warmup_epochs + self.ramp_epochs,
                format!("must not exceed --epochs {epochs} (the run would end before the full budget is trained)"),
            ));
        }
        Ok(())
    }

    /// The schedule after `done` of `per_epoch` steps per epoch: constant through the warm-up,
    /// linear through the ramp, constant after it.
    pub fn at(&self, done: usize, per_epoch: usize) -> Schedule {
        let epochs = done as f64 / per_epoch.max(1) as f64;
        let t = if self.ramp_epochs > 0.0 {
            ((epochs - self.warmup_epochs) / self.ramp_epochs).clamp(0.0, 1.0)
        } else if epochs >= self.warmup_epochs {
            1.0
        } else {
            0.0
        };
        let beta = match self.method {
            CertMethod::Ibp => 0.0,
            CertMethod::CrownIbp => 1.0 - t,
        };
        Schedule { eps: t * self.eps, kappa: 1.0 - t * (1.0 - self.kappa), beta }
    }
}

/// Reusable buffers of the bound's pass.
#[derive(Debug, Default)]
pub struct BoundWorkspace {
    c: Vec<f32>,
    r: Vec<f32>,
    abs_w1: AlignedVec,
    zc: AlignedVec,
    zr: AlignedVec,
    hc: AlignedVec,
    hr: AlignedVec,
    pairs: Vec<f32>,
    s: Vec<f32>,
    q: Vec<f32>,
    worst: Vec<f32>,
    g: Vec<f32>,
    e: Vec<f32>,
    d_pairs: Vec<f32>,
    dzc: AlignedVec,
    dzr: AlignedVec,
    tmp: AlignedVec,
    // CROWN: one row per (image, wrong class).
    coef: AlignedVec,
    lambda: AlignedVec,
    konst: Vec<f32>,
}

fn resize(v: &mut Vec<f32>, n: usize) {
    v.clear();
    v.resize(n, 0.0);
}

fn zeroed(v: &mut AlignedVec, n: usize) {
    v.set_len_uninit(n);
    v.fill(0.0);
}

/// CROWN's relaxation of one ReLU for a margin coefficient `v`, given its pre-activation
/// interval: `(slope, intercept)` of the linear function that bounds `v·relu(z)` from below
/// (the adaptive lower slope for `v >= 0`, the chord above for `v < 0`), and whether it is the
/// chord (the only case that depends on `l` and `u`).
#[inline]
fn relax(l: f32, u: f32, v: f32) -> (f32, f32, bool) {
    if l >= 0.0 {
        (1.0, 0.0, false)
    } else if u <= 0.0 {
        (0.0, 0.0, false)
    } else if v < 0.0 {
        let a = u / (u - l);
        (a, -a * l, true)
    } else if u >= -l {
        (1.0, 0.0, false)
    } else {
        (0.0, 0.0, false)
    }
}

/// Adds `weight` times the gradient of the batch-mean cross-entropy of the worst-case logits
/// over the `sch.eps` box (module docs) to `grads` (`[w1, b1, w2, b2]` in `w`'s layout), and
/// returns that cross-entropy. The worst case mixes the bounds, `β·CROWN + (1-β)·IBP` with
/// `β = sch.beta` (0: IBP alone, and the CROWN pass is skipped). `x` is `[n, input]` dense,
/// pixels in `[0, 1]`.
pub fn accumulate_certified(
    w: &Weights<'_>,
    x: &[f32],
    labels: &[u8],
    sch: Schedule,
    weight: f32,
    grads: &mut [AlignedVec; 4],
    ws: &mut BoundWorkspace,
) -> f64 {
    let (n, d, h, c) = (labels.len(), w.input, w.hidden, w.classes);
    let (eps, beta) = (sch.eps as f32, sch.beta as f32);
    // The box.
    resize(&mut ws.c, n * d);
    resize(&mut ws.r, n * d);
    for ((&xi, ci), ri) in x[..n * d].iter().zip(ws.c.iter_mut()).zip(ws.r.iter_mut()) {
        let (lo, hi) = ((xi - eps).max(0.0), (xi + eps).min(1.0));
        *ci = 0.5 * (lo + hi);
        *ri = 0.5 * (hi - lo);
    }
    ws.abs_w1.set_len_uninit(d * h);
    ws.abs_w1.iter_mut().zip(w.w1).for_each(|(a, &v)| *a = v.abs());
    // First layer: centre and radius of the pre-activations (exact for an affine layer).
    ws.zc.set_len_uninit(n * h);
    matmul(Mat::new(&ws.c, n, d), Mat::new(w.w1, d, h), &mut ws.zc, false);
    add_rows(&mut ws.zc, w.b1);
    ws.zr.set_len_uninit(n * h);
    matmul(Mat::new(&ws.r, n, d), Mat::new(&ws.abs_w1, d, h), &mut ws.zr, false);
    ibp_forward(w, n, ws, labels);
    if beta > 0.0 {
        crown_forward(w, n, ws, labels, beta);
    }
    // The cross-entropy of the worst case and its gradient (worst_y is the constant 0).
    resize(&mut ws.g, n * c);
    let scale = weight / n as f32;
    let mut loss = 0.0f64;
    for ((worst, g), &y) in ws.worst.chunks_exact(c).zip(ws.g.chunks_exact_mut(c)).zip(labels) {
        loss += f64::from(crate::nn::ops::ce_grad_f32(worst, usize::from(y), scale, g));
        g[usize::from(y)] = 0.0;
    }
    zeroed(&mut ws.dzc, n * h);
    zeroed(&mut ws.dzr, n * h);
    ibp_backward(w, n, ws, labels, grads, 1.0 - beta);
    if beta > 0.0 {
        crown_backward(w, n, ws, labels, grads, beta);
    }
    // Back through the first layer: zc = c·W1 + b1, zr = r·|W1|.
    let [g_w1, g_b1, _, _] = grads;
    sum_rows_into(g_b1, &ws.dzc);
    matmul(Mat::new(&ws.c, n, d).t(), Mat::new(&ws.dzc, n, h), g_w1, true);
    ws.tmp.set_len_uninit(d * h);
    matmul(Mat::new(&ws.r, n, d).t(), Mat::new(&ws.dzr, n, h), &mut ws.tmp, false);
    for ((g, &t), &v) in g_w1.iter_mut().zip(ws.tmp.iter()).zip(w.w1) {
        *g += crate::nn::ops::sign(v) * t;
    }
    loss / n as f64
}

/// IBP through the ReLUs and the elided last layer: `ws.worst = -m` (`[n, c]`).
fn ibp_forward(w: &Weights<'_>, n: usize, ws: &mut BoundWorkspace, labels: &[u8]) {
    let (h, c) = (w.hidden, w.classes);
    ws.hc.set_len_uninit(n * h);
    ws.hr.set_len_uninit(n * h);
    for k in 0..n * h {
        let (lo, hi) = ((ws.zc[k] - ws.zr[k]).max(0.0), (ws.zc[k] + ws.zr[k]).max(0.0));
        ws.hc[k] = 0.5 * (hi + lo);
        ws.hr[k] = 0.5 * (hi - lo);
    }
    // |W2[:,y] - W2[:,j]| for every pair, [h, c*c].
    resize(&mut ws.pairs, h * c * c);
    for (row, out) in w.w2.chunks_exact(c).zip(ws.pairs.chunks_exact_mut(c * c)) {
        for y in 0..c {
            for j in 0..c {
                out[y * c + j] = (row[y] - row[j]).abs();
            }
        }
    }
    resize(&mut ws.s, n * c);
    matmul(Mat::new(&ws.hc, n, h), Mat::new(w.w2, h, c), &mut ws.s, false);
    resize(&mut ws.q, n * c * c);
    matmul(Mat::new(&ws.hr, n, h), Mat::new(&ws.pairs, h, c * c), &mut ws.q, false);
    resize(&mut ws.worst, n * c);
    for (b, &y) in labels.iter().enumerate() {
        let y = usize::from(y);
        let s = &ws.s[b * c..(b + 1) * c];
        let q = &ws.q[b * c * c + y * c..b * c * c + (y + 1) * c];
        for (j, out) in ws.worst[b * c..(b + 1) * c].iter_mut().enumerate() {
            *out = if j == y { 0.0 } else { s[j] - s[y] + w.b2[j] - w.b2[y] + q[j] };
        }
    }
}

/// Adds `share` of the gradient `ws.g` (of the loss by the worst logits) through the IBP
/// bound: to `W2`, `b2` in `grads`, and to the first layer's `ws.dzc`, `ws.dzr`.
fn ibp_backward(
    w: &Weights<'_>,
    n: usize,
    ws: &mut BoundWorkspace,
    labels: &[u8],
    grads: &mut [AlignedVec; 4],
    share: f32,
) {
    let (h, c) = (w.hidden, w.classes);
    if share == 0.0 {
        return;
    }
    // ds: the gradient of s = hc·W2 (and of the b2 terms); e: of the pair block q.
    let mut ds = std::mem::take(&mut ws.s);
    resize(&mut ds, n * c);
    resize(&mut ws.e, n * c * c);
    for (b, &y) in labels.iter().enumerate() {
        let y = usize::from(y);
        let g = &ws.g[b * c..(b + 1) * c];
        let e = &mut ws.e[b * c * c + y * c..b * c * c + (y + 1) * c];
        let out = &mut ds[b * c..(b + 1) * c];
        for j in 0..c {
            e[j] = share * g[j];
            out[j] = share * g[j];
        }
        out[y] = -out.iter().sum::<f32>();
    }
    let [_, _, g_w2, g_b2] = grads;
    sum_rows_into(g_b2, &ds);
    matmul(Mat::new(&ws.hc, n, h).t(), Mat::new(&ds, n, c), g_w2, true);
    resize(&mut ws.d_pairs, h * c * c);
    matmul(Mat::new(&ws.hr, n, h).t(), Mat::new(&ws.e, n, c * c), &mut ws.d_pairs, false);
    for ((row, grow), dp) in w.w2.chunks_exact(c).zip(g_w2.chunks_exact_mut(c)).zip(ws.d_pairs.chunks_exact(c * c)) {
        for y in 0..c {
            for j in 0..c {
                let g = dp[y * c + j] * crate::nn::ops::sign(row[y] - row[j]);
                grow[y] += g;
                grow[j] -= g;
            }
        }
    }
    // d hc and d hr (into the buffers of hc and hr, no longer needed), then through the
    // ReLUs and the interval: hc, hr = (relu(u) ± relu(l)) / 2, u, l = zc ± zr.
    matmul(Mat::new(&ds, n, c), Mat::new(w.w2, h, c).t(), &mut ws.hc, false);
    matmul(Mat::new(&ws.e, n, c * c), Mat::new(&ws.pairs, h, c * c).t(), &mut ws.hr, false);
    for k in 0..n * h {
        let (l, u) = (ws.zc[k] - ws.zr[k], ws.zc[k] + ws.zr[k]);
        let du = if u > 0.0 { 0.5 * (ws.hc[k] + ws.hr[k]) } else { 0.0 };
        let dl = if l > 0.0 { 0.5 * (ws.hc[k] - ws.hr[k]) } else { 0.0 };
        ws.dzc[k] += du + dl;
        ws.dzr[k] += du - dl;
    }
    ws.s = ds;
}

/// CROWN through the last two layers (Zhang et al. 2018; with IBP's, here exact, first-layer
/// intervals this is CROWN-IBP, Zhang et al. 2019, arXiv:1906.06316): per image and wrong
/// class j, `m_j >= b2_y - b2_j + g·zc + v·o - |W1·g|·r` with `v = W2[:,y] - W2[:,j]`, `g = v ⊙
/// slope` and `o` the intercepts of [`relax`]. Mixes `β·(-m)` into `ws.worst`.
fn crown_forward(w: &Weights<'_>, n: usize, ws: &mut BoundWorkspace, labels: &[u8], beta: f32) {
    let (d, h, c) = (w.input, w.hidden, w.classes);
    let rows = n * (c - 1);
    ws.coef.set_len_uninit(rows * h);
    resize(&mut ws.konst, rows);
    for (b, &y) in labels.iter().enumerate() {
        let y = usize::from(y);
        for (jj, j) in (0..c).filter(|&j| j != y).enumerate() {
            let s = b * (c - 1) + jj;
            let coef = &mut ws.coef[s * h..(s + 1) * h];
            let mut konst = w.b2[y] - w.b2[j];
            let (zcs, zrs) = (&ws.zc[b * h..(b + 1) * h], &ws.zr[b * h..(b + 1) * h]);
            for (((out, row), &zc), &zr) in coef.iter_mut().zip(w.w2.chunks_exact(c)).zip(zcs).zip(zrs) {
                let v = row[y] - row[j];
                let (a, o, _) = relax(zc - zr, zc + zr, v);
                *out = v * a;
                konst += v * a * zc + v * o;
            }
            ws.konst[s] = konst;
        }
    }
    ws.lambda.set_len_uninit(rows * d);
    matmul(Mat::new(&ws.coef, rows, h), Mat::new(w.w1, d, h).t(), &mut ws.lambda, false);
    for (b, &y) in labels.iter().enumerate() {
        let y = usize::from(y);
        let r = &ws.r[b * d..(b + 1) * d];
        for (jj, j) in (0..c).filter(|&j| j != y).enumerate() {
            let s = b * (c - 1) + jj;
            let lam = &ws.lambda[s * d..(s + 1) * d];
            let spread: f32 = lam.iter().zip(r).map(|(l, r)| l.abs() * r).sum();
            let m = ws.konst[s] - spread;
            let cell = &mut ws.worst[b * c + j];
            *cell = beta * (-m) + (1.0 - beta) * *cell;
        }
    }
}

/// Adds `share` of the gradient `ws.g` through the CROWN bound of [`crown_forward`].
fn crown_backward(
    w: &Weights<'_>,
    n: usize,
    ws: &mut BoundWorkspace,
    labels: &[u8],
    grads: &mut [AlignedVec; 4],
    share: f32,
) {
    let (d, h, c) = (w.input, w.hidden, w.classes);
    let rows = n * (c - 1);
    // dm per row (the loss's gradient by the margin bound, -share·g), and d lambda in place.
    let dm = |ws: &BoundWorkspace, b: usize, j: usize| -share * ws.g[b * c + j];
    for (b, &y) in labels.iter().enumerate() {
        let y = usize::from(y);
        let r = &ws.r[b * d..(b + 1) * d];
        for (jj, j) in (0..c).filter(|&j| j != y).enumerate() {
            let s = b * (c - 1) + jj;
            let m = dm(ws, b, j);
            for (l, &ri) in ws.lambda[s * d..(s + 1) * d].iter_mut().zip(r) {
                *l = -m * crate::nn::ops::sign(*l) * ri;
            }
        }
    }
    let [g_w1, _, g_w2, g_b2] = grads;
    matmul(Mat::new(&ws.lambda, rows, d).t(), Mat::new(&ws.coef, rows, h), g_w1, true);
    // d coef from lambda = coef·W1ᵀ, into coef's buffer after its last use.
    let mut dcoef = std::mem::take(&mut ws.tmp);
    dcoef.set_len_uninit(rows * h);
    matmul(Mat::new(&ws.lambda, rows, d), Mat::new(w.w1, d, h), &mut dcoef, false);
    for (b, &y) in labels.iter().enumerate() {
        let y = usize::from(y);
        for (jj, j) in (0..c).filter(|&j| j != y).enumerate() {
            let s = b * (c - 1) + jj;
            let m = dm(ws, b, j);
            g_b2[y] += m;
            g_b2[j] -= m;
            for k in 0..h {
                let v = w.w2[k * c + y] - w.w2[k * c + j];
                let (zc, zr) = (ws.zc[b * h + k], ws.zr[b * h + k]);
                let (l, u) = (zc - zr, zc + zr);
                let (a, o, chord) = relax(l, u, v);
                // konst = ... + g·zc + v·o with g = v·a; lambda = g·W1ᵀ.
                let dg = dcoef[s * h + k] + m * zc;
                let dv = m * o + dg * a;
                let mut dzc = m * v * a;
                let mut dzr = 0.0;
                if chord {
                    // a = u/(u-l), o = -u·l/(u-l): their derivatives by l and u.
                    let (da, d_o) = (dg * v, m * v);
                    let den = (u - l) * (u - l);
                    let dl = (da * u - d_o * u * u) / den;
                    let du = (-da * l + d_o * l * l) / den;
                    dzc += dl + du;
                    dzr += du - dl;
                }
                ws.dzc[b * h + k] += dzc;
                ws.dzr[b * h + k] += dzr;
                g_w2[k * c + y] += dv;
                g_w2[k * c + j] -= dv;
            }
        }
    }
    ws.tmp = dcoef;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Mlp, MlpConfig};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// One image's margin bounds from their definitions, in f64 on host-layout parameters
    /// (`[d, h]`, `[h]`, `[h, c]`, `[c]`): IBP per unit and per wrong class the smaller of
    /// `v·relu(l)` and `v·relu(u)`; CROWN with each unit's linear relaxation pulled back to the
    /// input and minimised corner-wise over the box (not the centre/radius forms of the kernel).
    fn reference_margins(
        p: &[Vec<f64>; 4],
        dims: (usize, usize, usize),
        xb: &[f32],
        y: usize,
        eps: f64,
    ) -> (Vec<f64>, Vec<f64>) {
        let (d, h, c) = dims;
        let lo: Vec<f64> = xb.iter().map(|&v| (f64::from(v) - eps).max(0.0)).collect();
        let hi: Vec<f64> = xb.iter().map(|&v| (f64::from(v) + eps).min(1.0)).collect();
        let (mut zl, mut zu) = (p[1].clone(), p[1].clone());
        for k in 0..h {
            for i in 0..d {
                let wv = p[0][i * h + k];
                zl[k] += (wv * lo[i]).min(wv * hi[i]);
                zu[k] += (wv * lo[i]).max(wv * hi[i]);
            }
        }
        let (mut ibp, mut crown) = (vec![0.0; c], vec![0.0; c]);
        for j in (0..c).filter(|&j| j != y) {
            let v: Vec<f64> = (0..h).map(|k| p[2][k * c + y] - p[2][k * c + j]).collect();
            ibp[j] =
                p[3][y] - p[3][j] + (0..h).map(|k| (v[k] * zl[k].max(0.0)).min(v[k] * zu[k].max(0.0))).sum::<f64>();
            let mut konst = p[3][y] - p[3][j];
            let mut lin = vec![0.0; d];
            for k in 0..h {
                let (l, u) = (zl[k], zu[k]);
                let (a, o) = if l >= 0.0 {
                    (1.0, 0.0)
                } else if u <= 0.0 {
                    (0.0, 0.0)
                } else if v[k] < 0.0 {
                    (u / (u - l), -u * l / (u - l))
                } else {
                    (if u >= -l { 1.0 } else { 0.0 }, 0.0)
                };
                konst += v[k] * (a * p[1][k] + o);
                for i in 0..d {
                    lin[i] += v[k] * a * p[0][i * h + k];
                }
            }
            crown[j] = konst + (0..d).map(|i| (lin[i] * lo[i]).min(lin[i] * hi[i])).sum::<f64>();
        }
        (ibp, crown)
    }

    /// The batch-mean cross-entropy of the worst logits `-(β·CROWN + (1-β)·IBP)`.
    fn reference_loss(p: &[Vec<f64>; 4], dims: (usize, usize, usize), x: &[f32], y: &[u8], eps: f64, beta: f64) -> f64 {
        let (d, c) = (dims.0, dims.2);
        let mut total = 0.0;
        for (b, &label) in y.iter().enumerate() {
            let yy = usize::from(label);
            let (ibp, crown) = reference_margins(p, dims, &x[b * d..(b + 1) * d], yy, eps);
            let worst: Vec<f64> = (0..c).map(|j| -(beta * crown[j] + (1.0 - beta) * ibp[j])).collect();
            let mx = worst.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let lse = mx + worst.iter().map(|v| (v - mx).exp()).sum::<f64>().ln();
            total += lse - worst[yy];
        }
        total / y.len() as f64
    }

    /// The hand-written gradient equals central finite differences of the f64 definition, for
    /// every parameter of a small network (padded hidden layer, clipped and unclipped box
    /// sides, stable and unstable units, both relaxations of the unstable ones), for IBP alone,
    /// CROWN alone and their mix.
    #[test]
    fn bound_gradients_match_finite_differences_of_the_definition() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let (d, h, c, n) = (7, 5, 4, 6);
        let arch = MlpConfig { input: d, hidden: h, classes: c, init_std: 0.6, ..MlpConfig::default() };
        let mut host = Mlp::init(arch.clone(), &mut rng).expect("init").to_host();
        host[1].iter_mut().for_each(|b| *b = rng.gen_range(-0.5..0.5));
        host[3].iter_mut().for_each(|b| *b = rng.gen_range(-0.5..0.5));
        let model = Mlp::from_host(arch, host.clone()).expect("model");
        let x: Vec<f32> = (0..n * d).map(|i| if i % 5 == 0 { 0.0 } else { rng.gen_range(0.0f32..1.0) }).collect();
        let y: Vec<u8> = (0..n).map(|i| (i % c) as u8).collect();
        let eps = f64::from(0.15f32);
        let p64: [Vec<f64>; 4] = std::array::from_fn(|k| host[k].iter().map(|&v| f64::from(v)).collect());
        // The reference's CROWN is a different bound from its IBP here (else the mix is moot),
        // and both are sound: below the margin at points of the box.
        let (ibp, crown) = reference_margins(&p64, (d, h, c), &x[..d], usize::from(y[0]), eps);
        assert!(ibp.iter().zip(&crown).any(|(a, b)| (a - b).abs() > 1e-3), "{ibp:?} {crown:?}");
        let stride = model.native_params().stride;
        for beta in [0.0, 1.0, 0.5] {
            let mut grads: [AlignedVec; 4] =
                std::array::from_fn(|k| AlignedVec::zeros(model.native_params().tensors[k].len()));
            let sch = Schedule { eps, kappa: 0.5, beta };
            let loss =
                accumulate_certified(&model.weights(), &x, &y, sch, 0.5, &mut grads, &mut BoundWorkspace::default());
            let f = |p: &[Vec<f64>; 4]| reference_loss(p, (d, h, c), &x, &y, eps, beta);
            assert!((loss - f(&p64)).abs() < 1e-5, "beta {beta}: {loss} vs {}", f(&p64));
            // The kernel's gradient in host layout (padding dropped), times 2 for the weight 0.5.
            let host_grad = |k: usize, i: usize| -> f64 {
                let v = if k == 0 { grads[0][(i / h) * stride + i % h] } else { grads[k][i] };
                2.0 * f64::from(v)
            };
            let mut checked = 0;
            for k in 0..4 {
                for i in 0..p64[k].len() {
                    let step = 1e-6;
                    let (mut plus, mut minus) = (p64.clone(), p64.clone());
                    plus[k][i] += step;
                    minus[k][i] -= step;
                    let fd = (f(&plus) - f(&minus)) / (2.0 * step);
                    let got = host_grad(k, i);
                    assert!((got - fd).abs() < 1e-4 + 1e-3 * fd.abs(), "beta {beta}, param {k}[{i}]: {got} vs {fd}");
                    checked += usize::from(fd != 0.0);
                }
            }
            assert!(checked > 40, "only {checked} non-zero derivatives: the check is vacuous");
            // The padding's gradients stay exactly 0.
            for row in grads[0].chunks_exact(stride) {
                assert!(row[h..].iter().all(|&g| g == 0.0));
            }
        }
    }

    /// The reference bounds are sound: below the true margin at random points of the box.
    #[test]
    fn reference_bounds_hold_at_points_of_the_box() {
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        let (d, h, c) = (6, 9, 3);
        let p: [Vec<f64>; 4] = [d * h, h, h * c, c].map(|len| (0..len).map(|_| rng.gen_range(-1.0..1.0)).collect());
        for _ in 0..20 {
            let x: Vec<f32> = (0..d).map(|_| rng.gen_range(0.0f32..1.0)).collect();
            let y = rng.gen_range(0..c);
            let eps = 0.1;
            let (ibp, crown) = reference_margins(&p, (d, h, c), &x, y, eps);
            for _ in 0..200 {
                let pt: Vec<f64> =
                    x.iter().map(|&v| (f64::from(v) + rng.gen_range(-eps..eps)).clamp(0.0, 1.0)).collect();
                let z: Vec<f64> = (0..c)
                    .map(|j| {
                        p[3][j]
                            + (0..h)
                                .map(|k| {
                                    (p[1][k] + (0..d).map(|i| p[0][i * h + k] * pt[i]).sum::<f64>()).max(0.0)
                                        * p[2][k * c + j]
                                })
                                .sum::<f64>()
                    })
                    .collect();
                for j in (0..c).filter(|&j| j != y) {
                    assert!(ibp[j] <= z[y] - z[j] + 1e-9 && crown[j] <= z[y] - z[j] + 1e-9);
                }
            }
        }
    }

    #[test]
    fn the_schedule_warms_up_ramps_and_holds() {
        let t =
            CertTraining { method: CertMethod::CrownIbp, eps: 0.2, kappa: 0.5, warmup_epochs: 1.0, ramp_epochs: 2.0 };
        let per = 10;
        assert_eq!(t.at(0, per), Schedule { eps: 0.0, kappa: 1.0, beta: 1.0 });
        assert_eq!(t.at(10, per), Schedule { eps: 0.0, kappa: 1.0, beta: 1.0 });
        let mid = t.at(20, per);
        assert!(
            (mid.eps - 0.1).abs() < 1e-12 && (mid.kappa - 0.75).abs() < 1e-12 && (mid.beta - 0.5).abs() < 1e-12,
            "{mid:?}"
        );
        assert_eq!(t.at(30, per), Schedule { eps: 0.2, kappa: 0.5, beta: 0.0 });
        assert_eq!(t.at(99, per), Schedule { eps: 0.2, kappa: 0.5, beta: 0.0 });
        let ibp = CertTraining { method: CertMethod::Ibp, ..t.clone() };
        assert_eq!(ibp.at(20, per).beta, 0.0, "IBP never uses CROWN");
        assert!(t.validate(3).is_ok());
        assert!(t.validate(2).is_err());
        for bad in [
            CertTraining { eps: f64::NAN, ..t.clone() },
            CertTraining { eps: -0.1, ..t.clone() },
            CertTraining { kappa: 1.5, ..t.clone() },
            CertTraining { kappa: 1.0, ..t.clone() },
            CertTraining { eps: 0.0, ..t.clone() },
            CertTraining { ramp_epochs: -1.0, ..t.clone() },
        ] {
            assert!(bad.validate(10).is_err(), "{bad:?}");
        }
    }
}
