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
//!
//! **Soundness in floating point.** Everything is computed in f64 from the model's f32
//! parameters, and every computed sum is widened outward by the standard bound on its
//! rounding error (`gamma_n = n u / (1 - n u)` times the sum of its terms' magnitudes, `u =
//! 2^-53`); the chord slope is rounded up and the input box outward. So a bound holds for the
//! network evaluated in exact arithmetic. The model's own f32 forward pass rounds too: a
//! certificate says "verified" only when the bound exceeds [`f32_margin_error`], a bound on
//! the f32 evaluation's error in the margin, so the f32 model's prediction is covered as well.

use crate::model::Mlp;

/// Which bound to compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Interval bound propagation.
    Ibp,
    /// CROWN with adaptive lower slopes (at least as tight as IBP: the larger of the two).
    Crown,
}

impl Method {
    /// The name people read.
    pub fn name(self) -> &'static str {
        match self {
            Method::Ibp => "ibp",
            Method::Crown => "crown",
        }
    }
}

/// The next f64 above `v` (`f64::next_up`, which the crate's minimum Rust version lacks).
fn up(v: f64) -> f64 {
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
fn down(v: f64) -> f64 {
    -up(-v)
}

/// `gamma_n`: the relative error bound of an `n`-term f64 sum of products.
fn gamma(n: usize) -> f64 {
    let nu = (n as f64 + 2.0) * f64::EPSILON / 2.0;
    nu / (1.0 - nu)
}

/// The network's parameters in f64, without the padded hidden units.
struct Net {
    d: usize,
    h: usize,
    c: usize,
    /// `[d, h]`.
    w1: Vec<f64>,
    b1: Vec<f64>,
    /// `[h, c]`.
    w2: Vec<f64>,
    b2: Vec<f64>,
}

impl Net {
    fn of(model: &Mlp) -> Net {
        let w = model.weights();
        let (d, h, c, stride) = (w.input, w.units, w.classes, w.hidden);
        let mut w1 = Vec::with_capacity(d * h);
        for i in 0..d {
            w1.extend(w.w1[i * stride..i * stride + h].iter().map(|&v| f64::from(v)));
        }
        let w2 = w.w2[..h * c].iter().map(|&v| f64::from(v)).collect();
        Net {
            d,
            h,
            c,
            w1,
            b1: w.b1[..h].iter().map(|&v| f64::from(v)).collect(),
            w2,
            b2: w.b2.iter().map(|&v| f64::from(v)).collect(),
        }
    }
}

/// The input box of one image: `[max(x - eps, lo), min(x + eps, hi)]`, rounded outward.
fn input_box(x: &[f32], eps: f64, bounds: Option<(f32, f32)>) -> (Vec<f64>, Vec<f64>) {
    let (lo, hi) = bounds.map_or((f64::NEG_INFINITY, f64::INFINITY), |(l, h)| (f64::from(l), f64::from(h)));
    let l = x.iter().map(|&v| down(f64::from(v) - eps).max(lo)).collect();
    let u = x.iter().map(|&v| up(f64::from(v) + eps).min(hi)).collect();
    (l, u)
}

/// Exact-arithmetic outer bounds of the first layer's pre-activations over the box.
fn first_layer(net: &Net, l0: &[f64], u0: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let (d, h) = (net.d, net.h);
    let (mut lo, mut hi, mut mag) =
        (net.b1.clone(), net.b1.clone(), net.b1.iter().map(|b| b.abs()).collect::<Vec<_>>());
    for i in 0..d {
        let row = &net.w1[i * h..(i + 1) * h];
        let (a, b) = (l0[i], u0[i]);
        for k in 0..h {
            let (p, q) = (row[k] * a, row[k] * b);
            lo[k] += p.min(q);
            hi[k] += p.max(q);
            mag[k] += p.abs().max(q.abs());
        }
    }
    let g = gamma(d + 1);
    for k in 0..h {
        lo[k] -= g * mag[k];
        hi[k] += g * mag[k];
    }
    (lo, hi)
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
    let net = Net::of(model);
    let (d, c) = (net.d, net.c);
    let mut out = Vec::with_capacity(labels.len() * c);
    for (img, &y) in x.chunks_exact(d.max(1)).zip(labels) {
        let (l0, u0) = input_box(img, eps, bounds);
        let (zl, zu) = first_layer(&net, &l0, &u0);
        let ibp = ibp_margins(&net, &zl, &zu, usize::from(y));
        match method {
            Method::Ibp => out.extend(ibp),
            Method::Crown => {
                let crown = crown_margins(&net, &l0, &u0, &zl, &zu, usize::from(y));
                out.extend(ibp.iter().zip(crown).map(|(a, b)| a.max(b)));
            }
        }
    }
    out
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

/// CROWN's linear margin bounds (see the module docs).
fn crown_margins(net: &Net, l0: &[f64], u0: &[f64], zl: &[f64], zu: &[f64], y: usize) -> Vec<f64> {
    let (d, h, c) = (net.d, net.h, net.c);
    (0..c)
        .map(|j| {
            if j == y {
                return f64::INFINITY;
            }
            // m >= sum_k a_k z_k + konst, with a_k = v_k * slope_k.
            let db = net.b2[y] - net.b2[j];
            let (mut konst, mut kmag) = (db, db.abs());
            let mut a = vec![0.0f64; h];
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
                } else if u >= -l {
                    (1.0, 0.0)
                } else {
                    (0.0, 0.0)
                };
                a[k] = v * slope;
                konst += v * icpt;
                // The rounding of a_k, of the intercept's product and of v itself, each at
                // most a few ulps of these magnitudes (the gamma below is far larger).
                kmag += (v * icpt).abs() * 2.0 + (a[k].abs() + v.abs()) * u.abs().max(l.abs());
            }
            // Through the first layer: m >= sum_i g_i x_i + sum_k a_k b1_k + konst.
            for (ak, bk) in a.iter().zip(&net.b1) {
                konst += ak * bk;
                kmag += (ak * bk).abs();
            }
            let mut lin = 0.0f64;
            let mut lmag = 0.0f64;
            for i in 0..d {
                let row = &net.w1[i * h..(i + 1) * h];
                let (mut g, mut gmag) = (0.0f64, 0.0f64);
                for k in 0..h {
                    let t = row[k] * a[k];
                    g += t;
                    gmag += t.abs();
                }
                // |g - exact| <= gamma(h) gmag; so x·exact >= x·g - |x| gamma(h) gmag.
                let xmax = l0[i].abs().max(u0[i].abs());
                let (p, q) = (g * l0[i], g * u0[i]);
                lin += p.min(q);
                lmag += p.abs().max(q.abs()) + xmax * gamma(h) * gmag;
            }
            let total = lin + konst;
            total - gamma(d + h + 4) * (lmag + kmag)
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
        for method in [Method::Ibp, Method::Crown] {
            let b = margin_lower_bounds(&m, &x, &[1], 0.0, Some((0.0, 1.0)), method);
            for j in [0usize, 2] {
                let margin = f64::from(z[1]) - f64::from(z[j]);
                assert!((b[j] - margin).abs() < 1e-5, "{method:?}: {} vs {margin}", b[j]);
            }
        }
        let e = f32_margin_error(&m, Some((0.0, 1.0)), 0.0);
        assert!(e > 0.0 && e < 1e-4, "{e}");
    }
}
