//! Sound lower bounds on the margins `z_y - z_j` of a one-hidden-layer ReLU network over an
//! L-inf ball intersected with the pixel box.
//!
//! - **IBP** (Gowal et al., "On the Effectiveness of Interval Bound Propagation for Training
//!   Verifiably Robust Models", arXiv:1810.12715): intervals through each layer.
//! - **CROWN** (Zhang et al., "Efficient Neural Network Robustness Certification with General
//!   Activation Functions", NeurIPS 2018, arXiv:1811.00866): each margin's dependence on the
//!   hidden units is relaxed to a linear function of the pre-activations, per unit: stable
//!   units exactly, unstable ones (`l < 0 < u`) by the chord `u (z - l) / (u - l)` from above
//!   when the margin's coefficient is negative, and from below by `alpha z` with the adaptive
//!   `alpha = 1` if `u >= -l`, else 0 (as auto_LiRPA does), then back-substituted through the
//!   first layer to a linear function of the input, minimised over the box in closed form.
//!   The first layer's intervals are exact for an affine map over a box, so they serve as
//!   CROWN's intermediate bounds. The reported CROWN bound is the larger of that linear bound
//!   and IBP's (both are sound).
//! - **alpha-CROWN** (Xu et al., "Fast and Complete: Enabling Complete Neural Network
//!   Verification with Rapid and Massively Parallel Incomplete Verifiers", ICLR 2021,
//!   arXiv:2011.13824): every lower slope `alpha` in `[0, 1]` gives a sound bound, so the
//!   slopes of each margin are optimised, by projected Adam ascent on the bound ([`ALPHA_STEPS`]
//!   steps of size [`ALPHA_LR`], auto_LiRPA's defaults), from CROWN's adaptive choice. The bound
//!   is concave in the slopes and its gradient by `alpha_k` is `v_k z_k(x*)`, `x*` the box
//!   corner that minimises the linear bound, so each step costs two products. For one hidden
//!   layer the optimum is the triangle-relaxation LP's (tested against the LP of
//!   [`super::exact`]). The optimisation is a search; the reported bound is recomputed from
//!   the best slopes by the same outward-rounded CROWN arithmetic (and is at least CROWN's).
//!
//! **Soundness in floating point.** Everything is computed in f64 from the model's f32
//! parameters, and every computed sum is widened outward by the standard bound on its
//! rounding error (`gamma_n = n u / (1 - n u)` times the sum of its terms' magnitudes, `u =
//! 2^-53`); the chord slope is rounded up and the input box outward. So a bound holds for the
//! network evaluated in exact arithmetic. The model's own f32 forward pass rounds too: a
//! certificate says "verified" only when the bound exceeds [`f32_margin_error`], a bound on
//! the f32 evaluation's error in the margin, so the f32 model's prediction is covered as well.

use crate::attack::Norm;
use crate::model::Mlp;
use crate::native::dense::{matmul, Mat};
use rayon::prelude::*;

/// Which bound to compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Interval bound propagation.
    Ibp,
    /// CROWN with adaptive lower slopes (at least as tight as IBP: the larger of the two).
    Crown,
    /// CROWN with the lower slopes optimised per margin (at least as tight as CROWN).
    AlphaCrown,
}

/// Projected-Adam steps of alpha-CROWN's slope search.
pub const ALPHA_STEPS: usize = 20;
/// Adam step size of alpha-CROWN's slope search (slopes live in `[0, 1]`).
pub const ALPHA_LR: f64 = 0.1;

impl Method {
    /// The name people read.
    pub fn name(self) -> &'static str {
        match self {
            Method::Ibp => "ibp",
            Method::Crown => "crown",
            Method::AlphaCrown => "alpha-crown",
        }
    }
}

/// The next f64 above `v` (`f64::next_up`, which the crate's minimum Rust version lacks).
pub(crate) fn up(v: f64) -> f64 {
    if v.is_nan() || v == f64::INFINITY {
        v
    } else if v == 0.0 {
        f64::from_bits(1)
    } else if v > 0.0 {
        f64::from_bits(v.to_bits() + 1)
    } else {
        f64::from_bits(v.to_bits() - 1)
    }
}

/// The next f64 below `v`.
pub(crate) fn down(v: f64) -> f64 {
    -up(-v)
}

/// `gamma_n`: the relative error bound of an `n`-term f64 sum of products.
pub(crate) fn gamma(n: usize) -> f64 {
    let nu = (n as f64 + 2.0) * f64::EPSILON / 2.0;
    nu / (1.0 - nu)
}

/// The network's parameters in f64, without the padded hidden units.
pub struct Net {
    pub(crate) d: usize,
    pub(crate) h: usize,
    pub(crate) c: usize,
    /// `[d, h]`.
    pub(crate) w1: Vec<f64>,
    /// `|w1|`.
    w1_abs: Vec<f64>,
    /// `max_k |w1[i, k]|` per input.
    w1_rowmax: Vec<f64>,
    /// `max_i |w1[i, k]|` per hidden unit.
    w1_colmax: Vec<f64>,
    /// An upper bound on `||w1[:, k]||_2` per hidden unit.
    w1_col_l2: Vec<f64>,
    pub(crate) b1: Vec<f64>,
    /// `[h, c]`.
    pub(crate) w2: Vec<f64>,
    pub(crate) b2: Vec<f64>,
}

impl Net {
    /// The parameters of `model`.
    pub fn of(model: &Mlp) -> Net {
        let w = model.weights();
        let (d, h, c, stride) = (w.input, w.units, w.classes, w.hidden);
        let mut w1 = Vec::with_capacity(d * h);
        for i in 0..d {
            w1.extend(w.w1[i * stride..i * stride + h].iter().map(|&v| f64::from(v)));
        }
        let w2 = w.w2[..h * c].iter().map(|&v| f64::from(v)).collect();
        let b1 = w.b1[..h].iter().map(|&v| f64::from(v)).collect();
        Net::from_parts((d, h, c), w1, b1, w2, w.b2.iter().map(|&v| f64::from(v)).collect())
    }

    /// A network from its parameters: `w1` `[d, h]`, `b1` `[h]`, `w2` `[h, c]`, `b2` `[c]`.
    pub fn from_parts((d, h, c): (usize, usize, usize), w1: Vec<f64>, b1: Vec<f64>, w2: Vec<f64>, b2: Vec<f64>) -> Net {
        Net {
            d,
            h,
            c,
            w1_abs: w1.iter().map(|v: &f64| v.abs()).collect(),
            w1_rowmax: w1
                .chunks_exact(h.max(1))
                .map(|r: &[f64]| r.iter().fold(0.0f64, |m, v| m.max(v.abs())))
                .collect(),
            w1_colmax: (0..h).map(|k| (0..d).fold(0.0f64, |m, i| m.max(w1[i * h + k].abs()))).collect(),
            w1_col_l2: (0..h).map(|k| l2_up((0..d).map(|i| w1[i * h + k]))).collect(),
            w1,
            b1,
            w2,
            b2,
        }
    }
}

/// An upper bound on the Euclidean length of `v` (the sum of squares widened by its rounding,
/// the square root rounded up).
pub(crate) fn l2_up(v: impl Iterator<Item = f64>) -> f64 {
    let (mut sq, mut n) = (0.0f64, 0usize);
    for x in v {
        sq += x * x;
        n += 1;
    }
    up(up(sq * (1.0 + gamma(n + 2))).sqrt())
}

/// The input box of one image: `[max(x - eps, lo), min(x + eps, hi)]`, rounded outward.
pub(crate) fn input_box(x: &[f32], eps: f64, bounds: Option<(f32, f32)>) -> (Vec<f64>, Vec<f64>) {
    let (lo, hi) = bounds.map_or((f64::NEG_INFINITY, f64::INFINITY), |(l, h)| (f64::from(l), f64::from(h)));
    let l = x.iter().map(|&v| down(f64::from(v) - eps).max(lo)).collect();
    let u = x.iter().map(|&v| up(f64::from(v) + eps).min(hi)).collect();
    (l, u)
}

/// Exact-arithmetic outer bounds of the first layer's pre-activations over each box of a
/// block, `(lower, upper)` per image, from two products: the centres `c` times `W1` and the
/// radii `r` (rounded up, so `[c - r, c + r]` holds the box) times `|W1|`.
pub(crate) fn first_layer(net: &Net, boxes: &[(Vec<f64>, Vec<f64>)]) -> Vec<(Vec<f64>, Vec<f64>)> {
    let (d, h, n) = (net.d, net.h, boxes.len());
    let (mut c, mut r) = (vec![0.0f64; n * d], vec![0.0f64; n * d]);
    let mut c_l1 = vec![0.0f64; n];
    for (b, (l0, u0)) in boxes.iter().enumerate() {
        for i in 0..d {
            let ci = 0.5 * (l0[i] + u0[i]);
            c[b * d + i] = ci;
            r[b * d + i] = up(up(u0[i] - ci).max(up(ci - l0[i])));
            c_l1[b] += ci.abs();
        }
    }
    let (mut zc, mut zr) = (vec![0.0f64; n * h], vec![0.0f64; n * h]);
    matmul(Mat::new(&c, n, d), Mat::new(&net.w1, d, h), &mut zc, false);
    matmul(Mat::new(&r, n, d), Mat::new(&net.w1_abs, d, h), &mut zr, false);
    // Each computed product is within gamma(d) of its magnitude product: for c·W1 that is at
    // most |c|_1 · max_i |W1_ik|; r·|W1| is its own magnitude (computed, so within a factor
    // 1 + gamma(d) of the exact one).
    let g = gamma(d + 2);
    (0..n)
        .map(|b| {
            let (mut lo, mut hi) = (vec![0.0f64; h], vec![0.0f64; h]);
            for k in 0..h {
                let t = b * h + k;
                let err = up(g * (c_l1[b] * (1.0 + g) * net.w1_colmax[k] + zr[t]) * (1.0 + g));
                let radius = up(zr[t] + err);
                let centre = zc[t] + net.b1[k];
                lo[k] = down(down(centre) - radius);
                hi[k] = up(up(centre) + radius);
            }
            (lo, hi)
        })
        .collect()
}

/// Lower bounds of `z_y - z_j` for every class `j` (`+inf` at `j = y`) over the ball of
/// radius `eps` around each image (`x` is `[n, input]`), intersected with `bounds`.
pub fn margin_lower_bounds(
    model: &Mlp,
    x: &[f32],
    labels: &[u8],
    eps: f64,
    bounds: Option<(f32, f32)>,
    method: Method,
) -> Vec<f64> {
    margin_bounds(model, x, labels, Norm::Linf, eps, bounds, method)
}

/// [`margin_lower_bounds`] over the `norm` ball of radius `eps`. For L2 every bound is the
/// larger of the L-inf box's (the ball lies inside the box of the same radius) and the ball's
/// own: the first layer's intervals `x·W1[:, k] ± eps ||W1[:, k]||_2` (intersected with the
/// box's) and CROWN's linear bound minimised over the ball, `g·x - eps ||g||_2` (the pixel
/// range ignored, which only loosens it). alpha-CROWN's slopes are searched over the box.
pub fn margin_bounds(
    model: &Mlp,
    x: &[f32],
    labels: &[u8],
    norm: Norm,
    eps: f64,
    bounds: Option<(f32, f32)>,
    method: Method,
) -> Vec<f64> {
    bounds_with_steps(model, x, labels, (norm, eps), bounds, method, ALPHA_STEPS)
}

/// [`margin_lower_bounds`] with `steps` of alpha-CROWN's search.
pub(crate) fn bounds_with_steps(
    model: &Mlp,
    x: &[f32],
    labels: &[u8],
    (norm, eps): (Norm, f64),
    bounds: Option<(f32, f32)>,
    method: Method,
    steps: usize,
) -> Vec<f64> {
    let net = Net::of(model);
    let d = net.d;
    // Blocks of images in parallel; each image's bounds depend on it alone (its columns of
    // the block's products are computed as if alone), so the thread count changes nothing.
    const BLOCK: usize = 32;
    let blocks: Vec<Vec<f64>> = x
        .par_chunks(BLOCK * d.max(1))
        .zip(labels.par_chunks(BLOCK))
        .map(|(xs, ys)| {
            let boxes: Vec<(Vec<f64>, Vec<f64>)> =
                xs.chunks_exact(d.max(1)).map(|img| input_box(img, eps, bounds)).collect();
            let mut pre = first_layer(&net, &boxes);
            if norm == Norm::L2 {
                for ((lo, hi), (l2lo, l2hi)) in pre.iter_mut().zip(l2_first_layer(&net, xs, eps)) {
                    lo.iter_mut().zip(l2lo).for_each(|(a, b)| *a = a.max(b));
                    hi.iter_mut().zip(l2hi).for_each(|(a, b)| *a = a.min(b));
                }
            }
            let ball = (norm == Norm::L2).then_some((xs, eps));
            let ibp: Vec<Vec<f64>> =
                pre.iter().zip(ys).map(|((zl, zu), &y)| ibp_margins(&net, zl, zu, usize::from(y))).collect();
            if method == Method::Ibp {
                return ibp.concat();
            }
            let relaxed: Vec<Relaxed> =
                pre.iter().zip(ys).map(|((zl, zu), &y)| crown_relax(&net, zl, zu, usize::from(y), None)).collect();
            let mut out = crown_block(&net, &relaxed, &boxes, ys, ball);
            for (o, p) in out.iter_mut().zip(ibp.concat()) {
                *o = o.max(p);
            }
            if method == Method::AlphaCrown {
                let alphas = optimise_slopes(&net, (&relaxed, &pre, &boxes), ys, steps);
                let tuned: Vec<Relaxed> = pre
                    .iter()
                    .zip(ys)
                    .zip(&alphas)
                    .map(|(((zl, zu), &y), a)| crown_relax(&net, zl, zu, usize::from(y), Some(a)))
                    .collect();
                for (o, t) in out.iter_mut().zip(crown_block(&net, &tuned, &boxes, ys, ball)) {
                    *o = o.max(t);
                }
            }
            out
        })
        .collect();
    blocks.concat()
}

/// A block's `A` side by side, `[h, n·c]` (column `b·c + j`: image b's margin j).
fn side_by_side(net: &Net, relaxed: &[Relaxed]) -> Vec<f64> {
    let (h, c, w) = (net.h, net.c, relaxed.len() * net.c);
    let mut a = vec![0.0f64; h * w];
    for (b, r) in relaxed.iter().enumerate() {
        for k in 0..h {
            a[k * w + b * c..k * w + (b + 1) * c].copy_from_slice(&r.a[k * c..(k + 1) * c]);
        }
    }
    a
}

/// The sound CROWN bounds of a block of images from their relaxations (one product): over
/// each box, and where `ball` gives the images and an L2 radius, the larger of that and the
/// bound over the ball.
fn crown_block(
    net: &Net,
    relaxed: &[Relaxed],
    boxes: &[(Vec<f64>, Vec<f64>)],
    ys: &[u8],
    ball: Option<(&[f32], f64)>,
) -> Vec<f64> {
    let (d, h, c) = (net.d, net.h, net.c);
    let w = relaxed.len() * c;
    let a = side_by_side(net, relaxed);
    let mut g = vec![0.0f64; d * w];
    matmul(Mat::new(&net.w1, d, h), Mat::new(&a, h, w), &mut g, false);
    let mut out = Vec::with_capacity(w);
    for (b, ((r, (l0, u0)), &y)) in relaxed.iter().zip(boxes).zip(ys).enumerate() {
        let over_box = crown_finish(net, r, &g[b * c..], w, l0, u0, usize::from(y));
        match ball {
            Some((xs, eps)) => {
                let x0 = &xs[b * d..(b + 1) * d];
                let over_ball = crown_finish_l2(net, r, &g[b * c..], w, x0, eps, usize::from(y));
                out.extend(over_box.iter().zip(over_ball).map(|(p, q)| p.max(q)));
            }
            None => out.extend(over_box),
        }
    }
    out
}

/// The first layer's pre-activation bounds over the L2 ball of radius `eps` around each image
/// of a block (`xs`, `[n, d]`): `x·W1[:, k] + b1_k ± eps ||W1[:, k]||_2`, widened by the
/// product's rounding.
fn l2_first_layer(net: &Net, xs: &[f32], eps: f64) -> Vec<(Vec<f64>, Vec<f64>)> {
    let (d, h) = (net.d, net.h);
    let n = xs.len() / d.max(1);
    let x0: Vec<f64> = xs.iter().map(|&v| f64::from(v)).collect();
    let mut z = vec![0.0f64; n * h];
    matmul(Mat::new(&x0, n, d), Mat::new(&net.w1, d, h), &mut z, false);
    let g = gamma(d + 2);
    (0..n)
        .map(|b| {
            let l1: f64 = x0[b * d..(b + 1) * d].iter().map(|v| v.abs()).sum();
            let (mut lo, mut hi) = (vec![0.0f64; h], vec![0.0f64; h]);
            for k in 0..h {
                let err = up(g * l1 * (1.0 + g) * net.w1_colmax[k] * (1.0 + g));
                let radius = up(up(eps * net.w1_col_l2[k]) + err);
                let centre = z[b * h + k] + net.b1[k];
                lo[k] = down(down(centre) - radius);
                hi[k] = up(up(centre) + radius);
            }
            (lo, hi)
        })
        .collect()
}

/// CROWN's margin bounds of one image over the L2 ball of radius `eps` around `x0`: the
/// linear bound `x·G[:, j] + konst_j` is at least `x0·G[:, j] - eps ||G[:, j]||_2 + konst_j`
/// there, less every rounding allowance (as [`crown_finish`], plus the error of `G` in the
/// norm term).
fn crown_finish_l2(net: &Net, r: &Relaxed, g: &[f64], stride: usize, x0: &[f32], eps: f64, y: usize) -> Vec<f64> {
    let (d, h, c) = (net.d, net.h, net.c);
    let gh = gamma(h + 2);
    let col = r.column_mass(h, c, gh);
    let rowmax_l2 = l2_up(net.w1_rowmax.iter().copied());
    let (mut lin, mut lmag) = (vec![0.0f64; c], vec![0.0f64; c]);
    let mut xw = 0.0f64;
    for i in 0..d {
        let xi = f64::from(x0[i]);
        xw += xi.abs() * net.w1_rowmax[i];
        for j in 0..c {
            let p = g[i * stride + j] * xi;
            lin[j] += p;
            lmag[j] += p.abs();
        }
    }
    (0..c)
        .map(|j| {
            if j == y {
                return f64::INFINITY;
            }
            // ||G_exact[:, j]|| <= ||G[:, j]|| + gamma(h)·(sum_k |A_kj|)·||max_k |W1_ik| ||.
            let norm = up(l2_up((0..d).map(|i| g[i * stride + j])) + gh * col[j] * rowmax_l2 * (1.0 + gh));
            let spread = up(up(eps * norm) * (1.0 + gamma(4)));
            let err = gh * xw * col[j] * (1.0 + gamma(d + 2)) + gamma(d + h + 4) * (lmag[j] + r.kmag[j]);
            lin[j] + r.konst[j] - spread - err
        })
        .collect()
}

/// alpha-CROWN's search (module docs): per image, the lower slopes `[h, c]` (entry `k·c + j`
/// for margin j) that gave the best bound seen, starting from CROWN's. Only the slopes of
/// unstable units with a non-negative coefficient are free; the rest are never read.
type Block<'a> = (&'a [Relaxed], &'a [(Vec<f64>, Vec<f64>)], &'a [(Vec<f64>, Vec<f64>)]);

#[allow(clippy::needless_range_loop)] // index arithmetic over units, pixels and columns
fn optimise_slopes(net: &Net, (relaxed, pre, boxes): Block<'_>, ys: &[u8], steps: usize) -> Vec<Vec<f64>> {
    let (d, h, c, n) = (net.d, net.h, net.c, relaxed.len());
    let w = n * c;
    // Per column: v (the margin's hidden coefficients), which units are free, the current
    // slopes (CROWN's: A / v where defined), and the constant part that does not move.
    let mut v = vec![0.0f64; h * w];
    let mut free = vec![false; h * w];
    let mut alpha = vec![0.0f64; h * w];
    let a0 = side_by_side(net, relaxed);
    for (b, ((zl, zu), &y)) in pre.iter().zip(ys).enumerate() {
        let y = usize::from(y);
        for j in (0..c).filter(|&j| j != y) {
            let col = b * c + j;
            for k in 0..h {
                let vk = net.w2[k * c + y] - net.w2[k * c + j];
                let t = k * w + col;
                v[t] = vk;
                free[t] = zl[k] < 0.0 && zu[k] > 0.0 && vk >= 0.0;
                if free[t] {
                    alpha[t] = if vk > 0.0 { a0[t] / vk } else { 0.0 };
                }
            }
        }
    }
    // konst minus the free units' part (their intercept is 0 and their b1 term moves).
    let fixed: Vec<f64> = (0..w)
        .map(|col| {
            let (b, j) = (col / c, col % c);
            (0..h).fold(relaxed[b].konst[j], |acc, k| {
                let t = k * w + col;
                if free[t] {
                    acc - a0[t] * net.b1[k]
                } else {
                    acc
                }
            })
        })
        .collect();
    let (mut m1, mut m2) = (vec![0.0f64; h * w], vec![0.0f64; h * w]);
    let mut best = vec![f64::NEG_INFINITY; w];
    let mut best_alpha = alpha.clone();
    let (mut coef, mut lam, mut xs, mut z) = (vec![0.0; h * w], vec![0.0; d * w], vec![0.0; d * w], vec![0.0; h * w]);
    for step in 0..=steps {
        for t in 0..h * w {
            coef[t] = if free[t] { v[t] * alpha[t] } else { a0[t] };
        }
        matmul(Mat::new(&net.w1, d, h), Mat::new(&coef, h, w), &mut lam, false);
        // The minimising corner of each column's linear bound, and the bound there.
        let mut value = fixed.clone();
        for (i, (lr, xr)) in lam.chunks_exact(w).zip(xs.chunks_exact_mut(w)).enumerate() {
            for col in 0..w {
                let b = col / c;
                let xi = if lr[col] >= 0.0 { boxes[b].0[i] } else { boxes[b].1[i] };
                xr[col] = xi;
                value[col] += lr[col] * xi;
            }
        }
        for k in 0..h {
            for col in 0..w {
                let t = k * w + col;
                if free[t] {
                    value[col] += coef[t] * net.b1[k];
                }
            }
        }
        for col in 0..w {
            if value[col] > best[col] {
                best[col] = value[col];
                for k in 0..h {
                    best_alpha[k * w + col] = alpha[k * w + col];
                }
            }
        }
        if step == steps {
            break;
        }
        // z(x*) = W1ᵀ x* + b1; the bound's gradient by alpha_k is v_k z_k(x*).
        matmul(Mat::new(&net.w1, d, h).t(), Mat::new(&xs, d, w), &mut z, false);
        let t1 = (step + 1) as i32;
        let (c1, c2) = (1.0 - 0.9f64.powi(t1), 1.0 - 0.999f64.powi(t1));
        for k in 0..h {
            for col in 0..w {
                let t = k * w + col;
                if !free[t] {
                    continue;
                }
                let g = v[t] * (z[t] + net.b1[k]);
                m1[t] = 0.9 * m1[t] + 0.1 * g;
                m2[t] = 0.999 * m2[t] + 0.001 * g * g;
                let stepv = ALPHA_LR * (m1[t] / c1) / ((m2[t] / c2).sqrt() + 1e-8);
                alpha[t] = (alpha[t] + stepv).clamp(0.0, 1.0);
            }
        }
    }
    (0..n)
        .map(|b| {
            let mut out = vec![0.0f64; h * c];
            for k in 0..h {
                out[k * c..(k + 1) * c].copy_from_slice(&best_alpha[k * w + b * c..k * w + (b + 1) * c]);
            }
            out
        })
        .collect()
}

/// IBP's margin bounds from the pre-activation intervals.
fn ibp_margins(net: &Net, zl: &[f64], zu: &[f64], y: usize) -> Vec<f64> {
    let (h, c) = (net.h, net.c);
    (0..c)
        .map(|j| {
            if j == y {
                return f64::INFINITY;
            }
            let db = net.b2[y] - net.b2[j];
            let (mut sum, mut mag) = (db, db.abs());
            for k in 0..h {
                let v = net.w2[k * c + y] - net.w2[k * c + j];
                let (a, b) = (v * zl[k].max(0.0), v * zu[k].max(0.0));
                sum += a.min(b);
                mag += a.abs().max(b.abs()) + v.abs() * zu[k].abs().max(zl[k].abs());
            }
            sum - gamma(h + 2) * mag
        })
        .collect()
}

/// CROWN's relaxation of one image's margins: `A` (`[h, c]`, column j the coefficients of
/// the pre-activations in margin j's linear lower bound), the constants and the magnitudes
/// that bound their rounding.
struct Relaxed {
    a: Vec<f64>,
    konst: Vec<f64>,
    kmag: Vec<f64>,
}

impl Relaxed {
    /// Per margin `j`, `sum_k |A_kj|` widened by `1 + gh`: with `max_k |W1_ik|` it bounds the
    /// rounding of `G = W1·A`.
    fn column_mass(&self, h: usize, c: usize, gh: f64) -> Vec<f64> {
        (0..c).map(|j| (0..h).map(|k| self.a[k * c + j].abs()).sum::<f64>() * (1.0 + gh)).collect()
    }
}

fn crown_relax(net: &Net, zl: &[f64], zu: &[f64], y: usize, alpha: Option<&[f64]>) -> Relaxed {
    let (h, c) = (net.h, net.c);
    // Per class j: m_j >= sum_k A[k, j] z_k + konst_j, with A[k, j] = v_jk * slope_jk.
    let mut a = vec![0.0f64; h * c];
    let (mut konst, mut kmag) = (vec![0.0f64; c], vec![0.0f64; c]);
    for j in (0..c).filter(|&j| j != y) {
        let db = net.b2[y] - net.b2[j];
        (konst[j], kmag[j]) = (db, db.abs());
        for k in 0..h {
            let v = net.w2[k * c + y] - net.w2[k * c + j];
            let (l, u) = (zl[k], zu[k]);
            let (slope, icpt) = if l >= 0.0 {
                (1.0, 0.0)
            } else if u <= 0.0 {
                (0.0, 0.0)
            } else if v < 0.0 {
                // Upper chord through (l, 0) and (u, u), its slope rounded up.
                let s = up(u / down(u - l));
                (s, -s * l)
            } else if let Some(alpha) = alpha {
                (alpha[k * c + j].clamp(0.0, 1.0), 0.0)
            } else if u >= -l {
                (1.0, 0.0)
            } else {
                (0.0, 0.0)
            };
            let ak = v * slope;
            a[k * c + j] = ak;
            // Through the first layer, z_k = x·W1[:, k] + b1_k.
            konst[j] += v * icpt + ak * net.b1[k];
            // The rounding of A, of the intercept's product and of v itself: each at most a
            // few ulps of these magnitudes (the gamma applied below is far larger).
            kmag[j] += (v * icpt).abs() * 2.0 + (ak * net.b1[k]).abs() + (ak.abs() + v.abs()) * u.abs().max(l.abs());
        }
    }
    Relaxed { a, konst, kmag }
}

/// CROWN's margin bounds of one image from its relaxation and `G = W1·A` (`[d, c]`, row
/// stride `stride`): the linear bound `x·G[:, j] + konst_j` minimised over the box, less
/// every rounding allowance.
fn crown_finish(net: &Net, r: &Relaxed, g: &[f64], stride: usize, l0: &[f64], u0: &[f64], y: usize) -> Vec<f64> {
    let (d, h, c) = (net.d, net.h, net.c);
    let gh = gamma(h + 2);
    // |G_ij - exact| <= gamma(h)·sum_k |W1_ik||A_kj| <= gamma(h)·max_k |W1_ik|·sum_k |A_kj|.
    let col = r.column_mass(h, c, gh);
    let mut lin = vec![0.0f64; c];
    let (mut lmag, mut xw) = (vec![0.0f64; c], 0.0f64);
    for i in 0..d {
        let xmax = l0[i].abs().max(u0[i].abs());
        xw += xmax * net.w1_rowmax[i];
        for j in 0..c {
            let gij = g[i * stride + j];
            let (p, q) = (gij * l0[i], gij * u0[i]);
            lin[j] += p.min(q);
            lmag[j] += p.abs().max(q.abs());
        }
    }
    (0..c)
        .map(|j| {
            if j == y {
                return f64::INFINITY;
            }
            // So x·exact >= x·G - gamma(h)·sum_i |x_i| max_k |W1_ik| · sum_k |A_kj|; the
            // products above carry their own rounding (1 + u each), covered by the gammas.
            let err = gh * xw * col[j] * (1.0 + gamma(d + 2)) + gamma(d + h + 4) * (lmag[j] + r.kmag[j]);
            lin[j] + r.konst[j] - err
        })
        .collect()
}

/// A bound on how far the f32 forward pass's margin `z_y - z_j` can be from the exact one at
/// any point of the box: `gamma_n` in f32 arithmetic over the magnitudes of both layers'
/// terms, with the largest input magnitude. A verified margin must exceed it.
pub fn f32_margin_error(model: &Mlp, bounds: Option<(f32, f32)>, eps: f64) -> f64 {
    let net = Net::of(model);
    let (d, h, c) = (net.d, net.h, net.c);
    let xmax = bounds.map_or(f64::INFINITY, |(l, u)| f64::from(l.abs().max(u.abs()))) + eps;
    let u32 = f64::from(f32::EPSILON) / 2.0;
    let g = |n: usize| (n as f64 + 2.0) * u32 / (1.0 - (n as f64 + 2.0) * u32);
    // First layer: |z_k| and its error, over any input with |x_i| <= xmax.
    let mut zmax = vec![0.0f64; h];
    for row in net.w1.chunks_exact(h.max(1)).take(d) {
        zmax.iter_mut().zip(row).for_each(|(z, w)| *z += w.abs() * xmax);
    }
    let zerr: Vec<f64> = zmax.iter().zip(&net.b1).map(|(z, b)| g(d + 1) * (z + b.abs())).collect();
    let mut worst = 0.0f64;
    for y in 0..c {
        let wy: f64 = (0..h).map(|k| net.w2[k * c + y].abs() * (zmax[k] + net.b1[k].abs() + zerr[k])).sum::<f64>();
        let ey: f64 =
            (0..h).map(|k| net.w2[k * c + y].abs() * zerr[k]).sum::<f64>() + g(h + 1) * (wy + net.b2[y].abs());
        worst = worst.max(ey);
    }
    // Both logits of a margin, and the subtraction.
    2.0 * worst * (1.0 + u32) + f64::MIN_POSITIVE
}

/// Per image, a bound on how far the model's f32 forward pass can move the margin
/// `z_y - z_j` (for the worst `j`) at any point of the image's threat set (the ball of radius
/// `eps` intersected with `bounds`): the same rounding analysis as [`f32_margin_error`], but
/// with each pixel's own largest magnitude in the ball instead of the largest over all
/// images (most MNIST pixels sit in `[0, eps]`), so the bound a certificate must clear is the
/// image's, not the worst image's.
pub fn f32_margin_errors(model: &Mlp, x: &[f32], labels: &[u8], eps: f64, bounds: Option<(f32, f32)>) -> Vec<f64> {
    let net = Net::of(model);
    let (d, h, c, n) = (net.d, net.h, net.c, labels.len());
    let u32 = f64::from(f32::EPSILON) / 2.0;
    let g = |k: usize| (k as f64 + 2.0) * u32 / (1.0 - (k as f64 + 2.0) * u32);
    // |x_i| over the ball, then |W1|ᵀ|x| (an f64 product: its own rounding, ~1e-13 relative,
    // is covered by the factor below).
    let mut mag = vec![0.0f64; n * d];
    for (i, row) in x.chunks_exact(d.max(1)).take(n).enumerate() {
        let (lo, hi) = input_box(row, eps, bounds);
        for p in 0..d {
            mag[i * d + p] = lo[p].abs().max(hi[p].abs());
        }
    }
    let mut zmag = vec![0.0f64; n * h];
    matmul(Mat::new(&mag, n, d), Mat::new(&net.w1_abs, d, h), &mut zmag, false);
    let safety = 1.0 + 1e-9;
    let w2_abs: Vec<f64> = net.w2.iter().map(|v| v.abs()).collect();
    (0..n)
        .map(|i| {
            let y = usize::from(labels[i]).min(c.saturating_sub(1));
            let z = &zmag[i * h..(i + 1) * h];
            // First layer: each pre-activation's error; ReLU adds none and cannot grow it.
            let zerr: Vec<f64> = z.iter().zip(&net.b1).map(|(m, b)| g(d + 1) * (m + b.abs()) * safety).collect();
            let logit_err = |j: usize| -> f64 {
                let (mut carried, mut size) = (0.0f64, net.b2[j].abs());
                for k in 0..h {
                    let w = w2_abs[k * c + j];
                    carried += w * zerr[k];
                    size += w * (z[k] + net.b1[k].abs() + zerr[k]);
                }
                (carried + g(h + 1) * size) * safety
            };
            let ey = logit_err(y);
            let worst = (0..c).filter(|&j| j != y).map(logit_err).fold(0.0f64, f64::max);
            (ey + worst) * (1.0 + u32) + f64::MIN_POSITIVE
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Classifier, MlpConfig};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn model(seed: u64, d: usize, h: usize, c: usize) -> Mlp {
        let cfg = MlpConfig { input: d, hidden: h, classes: c, init_std: 0.6, ..MlpConfig::default() };
        Mlp::init(cfg, &mut ChaCha8Rng::seed_from_u64(seed)).expect("init")
    }

    /// On random networks, no point of the box (corners, random points, and a sign-gradient
    /// walk toward each wrong class) has a margin below either bound, and CROWN is at least
    /// IBP; on most examples CROWN's linear bound is strictly tighter.
    #[test]
    fn bounds_are_sound_and_crown_is_tighter() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let (mut tighter, mut unstable_cases) = (0usize, 0usize);
        for case in 0..60 {
            let (d, h, c) = (rng.gen_range(2..9), rng.gen_range(3..13), rng.gen_range(2..5));
            let m = model(case, d, h, c);
            let x: Vec<f32> = (0..d).map(|_| rng.gen()).collect();
            let y = [rng.gen_range(0..c as u8)];
            let eps = rng.gen_range(0.01..0.3);
            let bd = Some((0.0f32, 1.0f32));
            let ibp = margin_lower_bounds(&m, &x, &y, eps, bd, Method::Ibp);
            let crown = margin_lower_bounds(&m, &x, &y, eps, bd, Method::Crown);
            let (l0, u0) = input_box(&x, eps, bd);
            let mut points: Vec<Vec<f32>> =
                (0..400).map(|_| (0..d).map(|i| rng.gen_range(l0[i]..=u0[i]) as f32).collect()).collect();
            for corner in 0..(1usize << d.min(8)) {
                points.push((0..d).map(|i| if corner >> i & 1 == 1 { u0[i] } else { l0[i] } as f32).collect());
            }
            for p in &points {
                let p: Vec<f32> = p
                    .iter()
                    .zip(&x)
                    .map(|(v, xi)| v.clamp((xi - eps as f32).max(0.0), (xi + eps as f32).min(1.0)))
                    .collect();
                let z = m.logits_host(&p, 1);
                for j in 0..c {
                    if j == usize::from(y[0]) {
                        continue;
                    }
                    let margin = f64::from(z[usize::from(y[0])]) - f64::from(z[j]);
                    assert!(margin >= ibp[j] - 1e-5, "case {case}: IBP {} above margin {margin}", ibp[j]);
                    assert!(margin >= crown[j] - 1e-5, "case {case}: CROWN {} above margin {margin}", crown[j]);
                }
            }
            for j in 0..c {
                assert!(crown[j] >= ibp[j]);
                if j != usize::from(y[0]) {
                    unstable_cases += 1;
                    tighter += usize::from(crown[j] > ibp[j] + 1e-9);
                }
            }
        }
        assert!(tighter * 2 > unstable_cases, "CROWN tighter on {tighter} of {unstable_cases} margins");
    }

    /// On random networks: IBP <= CROWN <= alpha-CROWN <= the exact minimum (branch and bound)
    /// <= the margin at sampled points; with a long search alpha-CROWN reaches the triangle
    /// relaxation's LP optimum (the root LP of the branch and bound), and the default 20 steps
    /// already close most of CROWN's gap to it.
    #[test]
    fn alpha_crown_sits_between_crown_and_the_exact_minimum_and_reaches_the_lp() {
        use crate::certify::exact::Margin;
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let (mut at_lp, mut gap_crown, mut gap_alpha, mut cases) = (0usize, 0.0f64, 0.0f64, 0usize);
        for case in 0..80 {
            let (d, h, c) = (rng.gen_range(2..7), rng.gen_range(3..11), 3);
            let m = model(100 + case, d, h, c);
            let x: Vec<f32> = (0..d).map(|_| rng.gen()).collect();
            let y = [rng.gen_range(0..c as u8)];
            let eps = rng.gen_range(0.05..0.4);
            let bd = Some((0.0f32, 1.0f32));
            let ibp = margin_lower_bounds(&m, &x, &y, eps, bd, Method::Ibp);
            let crown = margin_lower_bounds(&m, &x, &y, eps, bd, Method::Crown);
            let alpha = margin_lower_bounds(&m, &x, &y, eps, bd, Method::AlphaCrown);
            let long = bounds_with_steps(&m, &x, &y, (Norm::Linf, eps), bd, Method::AlphaCrown, 400);
            let net = Net::of(&m);
            let (lo, hi) = input_box(&x, eps, bd);
            let (zl, zu) = first_layer(&net, &[(lo.clone(), hi.clone())]).remove(0);
            let yy = usize::from(y[0]);
            for j in (0..c).filter(|&j| j != yy) {
                assert!(ibp[j] <= crown[j] && crown[j] <= alpha[j] && alpha[j] <= long[j] + 1e-9, "case {case}");
                let a: Vec<f64> = (0..h).map(|k| net.w2[k * c + yy] - net.w2[k * c + j]).collect();
                let mg = Margin { net: &net, a, c: net.b2[yy] - net.b2[j], lo: &lo, hi: &hi, zl: &zl, zu: &zu };
                let exact = mg.minimum(1e-9).expect("every LP settles");
                assert!(
                    long[j] <= exact.lower + 1e-6,
                    "case {case}: alpha {} above the minimum {}",
                    long[j],
                    exact.lower
                );
                let lp = mg.relaxation().expect("the root LP settles");
                assert!(long[j] <= lp + 1e-6 * (1.0 + lp.abs()), "case {case}: alpha {} above the LP {lp}", long[j]);
                at_lp += usize::from(lp - long[j] <= 1e-4 * (1.0 + lp.abs()));
                gap_crown += lp - crown[j];
                gap_alpha += lp - alpha[j];
                cases += 1;
            }
        }
        assert!(at_lp * 10 >= cases * 9, "the long search reached the LP on {at_lp} of {cases} margins");
        assert!(gap_alpha < 0.05 * gap_crown, "20 steps left {gap_alpha} of CROWN's gap {gap_crown}");
    }

    /// Over L2 balls every bound holds at points of the ball (its surface in random
    /// directions, and the steepest directions of each margin's first-layer bound), is at
    /// least the bound over the L-inf box of the same radius that holds the ball, and is often
    /// strictly tighter.
    #[test]
    fn l2_bounds_are_sound_and_tighter_than_the_box() {
        let mut rng = ChaCha8Rng::seed_from_u64(13);
        let (mut tighter, mut margins) = (0usize, 0usize);
        for case in 0..60 {
            let (d, h, c) = (rng.gen_range(2..12), rng.gen_range(3..13), rng.gen_range(2..5));
            let m = model(200 + case, d, h, c);
            let x: Vec<f32> = (0..d).map(|_| rng.gen()).collect();
            let y = [rng.gen_range(0..c as u8)];
            let yy = usize::from(y[0]);
            let eps = rng.gen_range(0.05..0.8);
            let bd = Some((0.0f32, 1.0f32));
            let mut points: Vec<Vec<f64>> = (0..300)
                .map(|_| {
                    let dir: Vec<f64> = (0..d).map(|_| rng.gen_range(-1.0..1.0)).collect();
                    let len = dir.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-12);
                    dir.iter().map(|v| v / len * eps).collect()
                })
                .collect();
            // Toward and away from each hidden unit's weights.
            let w = Net::of(&m);
            for k in 0..h {
                let col: Vec<f64> = (0..d).map(|i| w.w1[i * h + k]).collect();
                let len = col.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-12);
                for sgn in [1.0, -1.0] {
                    points.push(col.iter().map(|v| sgn * v / len * eps).collect());
                }
            }
            for method in [Method::Ibp, Method::Crown, Method::AlphaCrown] {
                let ball = margin_bounds(&m, &x, &y, Norm::L2, eps, bd, method);
                let cube = margin_bounds(&m, &x, &y, Norm::Linf, eps, bd, method);
                for p in &points {
                    // Clipping to the pixel range moves every pixel toward the clean one's: the
                    // point stays in the ball.
                    let pt: Vec<f32> =
                        p.iter().zip(&x).map(|(dv, &xi)| (f64::from(xi) + dv).clamp(0.0, 1.0) as f32).collect();
                    let z = m.logits_host(&pt, 1);
                    for j in (0..c).filter(|&j| j != yy) {
                        let margin = f64::from(z[yy]) - f64::from(z[j]);
                        assert!(margin >= ball[j] - 1e-5, "case {case} {method:?}: {} above {margin}", ball[j]);
                    }
                }
                for j in (0..c).filter(|&j| j != yy) {
                    assert!(ball[j] >= cube[j], "case {case} {method:?}");
                    if method == Method::Crown {
                        margins += 1;
                        tighter += usize::from(ball[j] > cube[j] + 1e-9);
                    }
                }
            }
        }
        assert!(tighter * 3 > margins, "the ball's bound was tighter on {tighter} of {margins} margins");
    }

    /// At eps 0 both bounds equal the exact margin up to the rounding allowance, and the f32
    /// error bound is small but positive.
    #[test]
    fn next_up_and_down_step_one_ulp() {
        for v in [0.0f64, 1.0, -1.0, 0.1, -3.5e-300, 1e300] {
            assert!(up(v) > v && down(v) < v, "{v}");
            assert_eq!(down(up(v)), if v == 0.0 { 0.0 } else { v });
        }
        assert_eq!(up(f64::INFINITY), f64::INFINITY);
    }

    #[test]
    fn at_eps_zero_the_bounds_are_the_margin() {
        let m = model(3, 6, 10, 3);
        let x = [0.1f32, 0.9, 0.4, 0.0, 1.0, 0.5];
        let z = m.logits_host(&x, 1);
        for method in [Method::Ibp, Method::Crown, Method::AlphaCrown] {
            let b = margin_lower_bounds(&m, &x, &[1], 0.0, Some((0.0, 1.0)), method);
            for j in [0usize, 2] {
                let margin = f64::from(z[1]) - f64::from(z[j]);
                assert!((b[j] - margin).abs() < 1e-5, "{method:?}: {} vs {margin}", b[j]);
            }
        }
        let e = f32_margin_error(&m, Some((0.0, 1.0)), 0.0);
        assert!(e > 0.0 && e < 1e-4, "{e}");
        // The image's own bound is no looser than the global one, and positive.
        let mine = f32_margin_errors(&m, &x, &[1], 0.0, Some((0.0, 1.0)));
        assert!(mine[0] > 0.0 && mine[0] <= e, "{} vs {e}", mine[0]);
    }
}
