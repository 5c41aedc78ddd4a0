//! One training pass (dropout, forward, backward) and the fused penalty + RMSProp update.

use super::dense::{matmul, Mat};
use super::mlp::{add_rows, ce_grad_row, fill_rows, layer2, use_sparse, Weights};
use super::simd::madd;
use super::sparse::{scatter_times, transposed_times, SparseRows};
use crate::model::mlp::Dropout;
use rand::RngCore;

/// Reusable buffers for training passes (no allocation in the hot loop once warm).
#[derive(Debug, Default)]
pub struct Workspace {
    sparse: SparseRows,
    sparse_t: SparseRows,
    bits: Vec<u32>,
    dense: Vec<f32>,
    hidden: Vec<f32>,
    dz2: Vec<f32>,
    dz1: Vec<f32>,
}

/// Dropout settings of one pass.
#[derive(Clone, Copy, Debug)]
pub struct Masks {
    /// On the input pixels.
    pub input: Option<Dropout>,
    /// On the hidden units.
    pub hidden: Option<Dropout>,
}

/// Adds `weight` times the gradient of the batch-mean cross-entropy (training mode, fresh
/// dropout masks drawn from `rng`: input mask then hidden mask, row-major, as the burn path
/// draws them) to `grads` (`[w1, b1, w2, b2]`), and returns the batch-mean cross-entropy.
#[allow(clippy::too_many_arguments)]
pub fn accumulate_pass(
    w: &Weights<'_>,
    x: &[f32],
    labels: &[u8],
    masks: Masks,
    rng: &mut dyn RngCore,
    weight: f32,
    grads: &mut [Vec<f32>; 4],
    ws: &mut Workspace,
) -> f64 {
    let (n, d, h, c) = (labels.len(), w.input, w.hidden, w.classes);
    // Masked input, kept sparse (rows) and grouped by pixel (columns).
    ws.sparse.reset(d);
    match &masks.input {
        Some(m) => {
            m.draw(rng, n * d, &mut ws.bits);
            for (row, bits) in x.chunks_exact(d).take(n).zip(ws.bits.chunks_exact(d)) {
                for (p, (&v, &b)) in row.iter().zip(bits).enumerate() {
                    if v != 0.0 && m.keeps(b) {
                        ws.sparse.push(p as u32, v * m.scale());
                    }
                }
                ws.sparse.end_row();
            }
        }
        None => x.chunks_exact(d).take(n).for_each(|row| ws.sparse.push_dense_row(row)),
    }
    let sparse = use_sparse(ws.sparse.nnz(), n * d);
    // First layer, fused bias + ReLU + hidden dropout.
    ws.hidden.clear();
    ws.hidden.resize(n * h, 0.0);
    if sparse {
        fill_rows(&mut ws.hidden, w.b1);
        ws.sparse.transpose_into(&mut ws.sparse_t);
        scatter_times(&ws.sparse_t, w.w1, h, &mut ws.hidden);
    } else {
        densify(&ws.sparse, &mut ws.dense);
        matmul(Mat::new(&ws.dense, n, d), Mat::new(w.w1, d, h), &mut ws.hidden, false);
        add_rows(&mut ws.hidden, w.b1);
    }
    match &masks.hidden {
        Some(m) => {
            m.draw(rng, n * h, &mut ws.bits);
            let scale = m.scale();
            ws.hidden.iter_mut().zip(&ws.bits).for_each(|(v, &b)| *v = if m.keeps(b) { v.max(0.0) * scale } else { 0.0 });
        }
        None => ws.hidden.iter_mut().for_each(|v| *v = v.max(0.0)),
    }
    let logits = layer2(w, &ws.hidden, n);
    // Cross-entropy and its gradient, scaled for the batch mean.
    ws.dz2.clear();
    ws.dz2.resize(n * c, 0.0);
    let scale = weight / n as f32;
    let mut loss = 0.0f64;
    for ((row, out), &y) in logits.chunks_exact(c).zip(ws.dz2.chunks_exact_mut(c)).zip(labels) {
        loss += f64::from(ce_grad_row(row, y as usize, scale, out));
    }
    let [g_w1, g_b1, g_w2, g_b2] = grads;
    for row in ws.dz2.chunks_exact(c) {
        g_b2.iter_mut().zip(row).for_each(|(g, v)| *g += v);
    }
    matmul(Mat::new(&ws.hidden, n, h).t(), Mat::new(&ws.dz2, n, c), g_w2, true);
    // Back through layer 2, ReLU and dropout: d h / d z = mask scale where h > 0, else 0.
    ws.dz1.clear();
    ws.dz1.resize(n * h, 0.0);
    matmul(Mat::new(&ws.dz2, n, c), Mat::new(w.w2, h, c).t(), &mut ws.dz1, false);
    let hscale = masks.hidden.map_or(1.0, |m| m.scale());
    ws.dz1.iter_mut().zip(&ws.hidden).for_each(|(g, &a)| *g = if a > 0.0 { *g * hscale } else { 0.0 });
    for row in ws.dz1.chunks_exact(h) {
        g_b1.iter_mut().zip(row).for_each(|(g, v)| *g += v);
    }
    if sparse {
        transposed_times(&ws.sparse_t, &ws.dz1, h, g_w1);
    } else {
        matmul(Mat::new(&ws.dense, n, d).t(), Mat::new(&ws.dz1, n, h), g_w1, true);
    }
    loss / n as f64
}

fn densify(s: &SparseRows, out: &mut Vec<f32>) {
    out.clear();
    out.resize(s.rows() * s.cols, 0.0);
    for r in 0..s.rows() {
        let (idx, val) = s.row(r);
        let row = &mut out[r * s.cols..(r + 1) * s.cols];
        idx.iter().zip(val).for_each(|(&p, &v)| row[p as usize] = v);
    }
}

/// RMSProp hyper-parameters and the weight penalties of one parameter.
#[derive(Clone, Copy, Debug)]
pub struct Update {
    /// Learning rate.
    pub lr: f32,
    /// Decay of the mean square.
    pub decay: f32,
    /// Smoothing term outside the square root.
    pub eps: f32,
    /// L1 coefficient (0 for biases).
    pub l1: f32,
    /// L2 coefficient (0 for biases).
    pub l2: f32,
}

#[inline(always)]
fn rmsprop_imp<const F: bool>(w: &mut [f32], g: &[f32], ms: &mut [f32], u: Update) {
    let n = w.len().min(g.len()).min(ms.len());
    let (w, g, ms) = (&mut w[..n], &g[..n], &mut ms[..n]);
    for i in 0..n {
        let wi = w[i];
        let sign = if wi > 0.0 {
            1.0
        } else if wi < 0.0 {
            -1.0
        } else {
            0.0
        };
        let gi = g[i] + u.l1 * sign + 2.0 * u.l2 * wi;
        let m = u.decay * ms[i] + (1.0 - u.decay) * (gi * gi);
        ms[i] = m;
        w[i] = wi - u.lr * gi / (m.sqrt() + u.eps);
    }
}

crate::multiversion! {
    /// The penalised RMSProp step in place: `g' = g + l1·sign(w) + 2·l2·w`,
    /// `ms = decay·ms + (1 - decay)·g'²`, `w -= lr·g' / (sqrt(ms) + eps)`.
    pub fn rmsprop_step(w: &mut [f32], g: &[f32], ms: &mut [f32], u: Update) => rmsprop_imp
}

const LANES: usize = 16;

#[inline(always)]
fn norms_imp<const F: bool>(w: &[f32]) -> (f64, f64) {
    let (mut abs, mut sq) = ([0.0f32; LANES], [0.0f32; LANES]);
    let chunks = w.chunks_exact(LANES);
    let rest = chunks.remainder();
    for ch in chunks {
        for l in 0..LANES {
            abs[l] += ch[l].abs();
            sq[l] = madd::<F>(ch[l], ch[l], sq[l]);
        }
    }
    let mut a: f64 = abs.iter().map(|&v| f64::from(v)).sum();
    let mut s: f64 = sq.iter().map(|&v| f64::from(v)).sum();
    for &v in rest {
        a += f64::from(v.abs());
        s += f64::from(v) * f64::from(v);
    }
    (a, s)
}

crate::multiversion! {
    /// `(Σ|w|, Σw²)`, summed in a fixed order.
    pub fn norms(w: &[f32]) -> (f64, f64) => norms_imp
}
