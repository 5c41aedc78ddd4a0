//! Convolution and max-pooling kernels for one image in NCHW layout (PyTorch's), by im2col
//! and the `gemm` crate: the forward pass, the input's vector-Jacobian product and the
//! parameters' gradients.
//!
//! A convolution's weight `[out, in, k, k]` read row-major is a `[out, in·k·k]` matrix whose
//! columns are ordered (channel, kernel row, kernel column), which is the order of the rows
//! of [`im2col`]'s matrix, so the forward pass is one product `W · col`.

use super::dense::{matmul, Mat};

/// A convolution's geometry: `[c, h, w]` in, square `k` kernel, `stride`, zero `pad`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeom {
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub k: usize,
    pub stride: usize,
    pub pad: usize,
}

impl ConvGeom {
    /// Output height and width.
    pub fn out_hw(&self) -> (usize, usize) {
        ((self.h + 2 * self.pad - self.k) / self.stride + 1, (self.w + 2 * self.pad - self.k) / self.stride + 1)
    }
    /// Rows of the im2col matrix, `c·k·k`.
    pub fn patch(&self) -> usize {
        self.c * self.k * self.k
    }
    /// For kernel column `kj`: the output columns `x0..x1` whose input column
    /// `x·stride + kj - pad` lies inside the image, and that input column at `x0`.
    fn cols_inside(&self, kj: usize, ow: usize) -> (usize, usize, usize) {
        let (s, p) = (self.stride, self.pad);
        // ix = x·s + kj - p >= 0  <=>  x >= ceil((p - kj) / s)
        let x0 = if p > kj { (p - kj).div_ceil(s) } else { 0 };
        // ix < w  <=>  x·s < w + p - kj
        let x1 = if self.w + p > kj { ((self.w + p - kj - 1) / s + 1).min(ow) } else { 0 };
        let x1 = x1.max(x0);
        (x0, x1, (x0 * s + kj).saturating_sub(p))
    }

    /// Calls `f(col_offset, pixel_offset, count)` for each run of im2col entries inside the
    /// input: entries `col_offset + t` of the flat `[c·k·k, oh·ow]` matrix read pixels
    /// `pixel_offset + t·stride` of the `[c, h, w]` image, `t < count`.
    fn runs(&self, mut f: impl FnMut(usize, usize, usize)) {
        let (oh, ow) = self.out_hw();
        let p = oh * ow;
        for c in 0..self.c {
            for ki in 0..self.k {
                for kj in 0..self.k {
                    let row = (c * self.k + ki) * self.k + kj;
                    let (x0, x1, ix0) = self.cols_inside(kj, ow);
                    if x1 == x0 {
                        continue;
                    }
                    for y in 0..oh {
                        let iy = (y * self.stride + ki) as isize - self.pad as isize;
                        if iy < 0 || iy >= self.h as isize {
                            continue;
                        }
                        f(row * p + y * ow + x0, (c * self.h + iy as usize) * self.w + ix0, x1 - x0);
                    }
                }
            }
        }
    }
}

/// The im2col matrix `[c·k·k, oh·ow]` of one image `[c, h, w]` into `col` (overwritten).
pub fn im2col(g: &ConvGeom, x: &[f32], col: &mut Vec<f32>) {
    let (oh, ow) = g.out_hw();
    let p = oh * ow;
    col.clear();
    col.resize(g.patch() * p, 0.0);
    let s = g.stride;
    g.runs(|at, from, n| {
        let dst = &mut col[at..at + n];
        if s == 1 {
            dst.copy_from_slice(&x[from..from + n]);
        } else {
            dst.iter_mut().zip(x[from..].iter().step_by(s)).for_each(|(d, v)| *d = *v);
        }
    });
}

/// One image's convolution: `out [oc, oh·ow] = W [oc, c·k·k] · col + b`; `col` is scratch.
pub fn conv_forward(g: &ConvGeom, weight: &[f32], bias: &[f32], x: &[f32], col: &mut Vec<f32>, out: &mut [f32]) {
    let (oh, ow) = g.out_hw();
    let (p, oc) = (oh * ow, bias.len());
    im2col(g, x, col);
    for (o, row) in out.chunks_exact_mut(p).enumerate().take(oc) {
        row.fill(bias[o]);
    }
    matmul(Mat::new(weight, oc, g.patch()), Mat::new(col, g.patch(), p), &mut out[..oc * p], true);
}

/// One image's input VJP: `dx [c, h, w] = col2im(Wᵀ · dy)`, `dy [oc, oh·ow]`; `dcol` is
/// scratch. `dx` is overwritten.
pub fn conv_input_vjp(g: &ConvGeom, weight: &[f32], oc: usize, dy: &[f32], dcol: &mut Vec<f32>, dx: &mut [f32]) {
    let (oh, ow) = g.out_hw();
    let p = oh * ow;
    dcol.clear();
    dcol.resize(g.patch() * p, 0.0);
    matmul(Mat::new(weight, oc, g.patch()).t(), Mat::new(dy, oc, p), dcol, false);
    dx.fill(0.0);
    let s = g.stride;
    g.runs(|at, from, n| {
        let src = &dcol[at..at + n];
        if s == 1 {
            dx[from..from + n].iter_mut().zip(src).for_each(|(d, v)| *d += v);
        } else {
            dx[from..].iter_mut().step_by(s).zip(src).for_each(|(d, v)| *d += v);
        }
    });
}

/// One image's parameter gradients, accumulated: `dW += dy · colᵀ`, `db += sum over
/// positions of dy`; `col` is scratch.
pub fn conv_param_grads(
    g: &ConvGeom,
    x: &[f32],
    dy: &[f32],
    oc: usize,
    col: &mut Vec<f32>,
    dw: &mut [f32],
    db: &mut [f32],
) {
    let (oh, ow) = g.out_hw();
    let p = oh * ow;
    im2col(g, x, col);
    matmul(Mat::new(dy, oc, p), Mat::new(col, g.patch(), p).t(), dw, true);
    for (o, row) in dy.chunks_exact(p).enumerate().take(oc) {
        db[o] += row.iter().sum::<f32>();
    }
}

/// A max-pooling's geometry: `[c, h, w]` in, square `k` window, `stride`, no padding,
/// floor mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolGeom {
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub k: usize,
    pub stride: usize,
}

/// One image's max-pooling, `[c, h, w]` to `[c, oh, ow]`; `arg` gets each output's input
/// index (the first maximum in scan order, as PyTorch's CPU kernel keeps it; a NaN wins).
pub fn max_pool(p: &PoolGeom, x: &[f32], out: &mut [f32], arg: &mut [u32]) {
    if p.k == 2 && p.stride == 2 {
        max_pool_2x2(p, x, out, arg)
    } else {
        max_pool_any(p, x, out, arg)
    }
}

/// [`max_pool`] for any window.
fn max_pool_any(p: &PoolGeom, x: &[f32], out: &mut [f32], arg: &mut [u32]) {
    let PoolGeom { c, h, w, k, stride } = *p;
    let (oh, ow) = ((h - k) / stride + 1, (w - k) / stride + 1);
    for ch in 0..c {
        for y in 0..oh {
            for xo in 0..ow {
                let (mut best, mut at) = (f32::NEG_INFINITY, usize::MAX);
                for ki in 0..k {
                    let row = (ch * h + y * stride + ki) * w + xo * stride;
                    for (kj, &v) in x[row..row + k].iter().enumerate() {
                        if v > best || v.is_nan() || at == usize::MAX {
                            (best, at) = (v, row + kj);
                            if v.is_nan() {
                                break;
                            }
                        }
                    }
                }
                let o = (ch * oh + y) * ow + xo;
                out[o] = best;
                arg[o] = at as u32;
            }
        }
    }
}

/// [`max_pool`] with a 2x2 window and stride 2 (the common case), with [`max_pool_any`]'s
/// answers: each row of the window scanned in order, a value replacing the best when larger
/// or NaN, the rest of a row skipped after a NaN.
fn max_pool_2x2(p: &PoolGeom, x: &[f32], out: &mut [f32], arg: &mut [u32]) {
    let PoolGeom { c, h, w, .. } = *p;
    let (oh, ow) = (h / 2, w / 2);
    // Offers `v` at `i`; true when it was a NaN (the row stops there).
    let offer = |best: &mut (f32, usize), v: f32, i: usize| {
        if v > best.0 || v.is_nan() {
            *best = (v, i);
        }
        v.is_nan()
    };
    // Without NaNs the rule is the first strict maximum, with no NaN checks.
    let nan = x.iter().any(|v| v.is_nan());
    for ch in 0..c {
        for y in 0..oh {
            let top = (ch * h + 2 * y) * w;
            let (r0, r1) = (&x[top..top + w], &x[top + w..top + 2 * w]);
            let o = (ch * oh + y) * ow;
            if !nan {
                for (xo, (ov, av)) in out[o..o + ow].iter_mut().zip(&mut arg[o..o + ow]).enumerate() {
                    let j = 2 * xo;
                    let (mut bv, mut bi) = (r0[j], top + j);
                    for (v, i) in [(r0[j + 1], top + j + 1), (r1[j], top + w + j), (r1[j + 1], top + w + j + 1)] {
                        if v > bv {
                            (bv, bi) = (v, i);
                        }
                    }
                    *ov = bv;
                    *av = bi as u32;
                }
                continue;
            }
            for (xo, (ov, av)) in out[o..o + ow].iter_mut().zip(&mut arg[o..o + ow]).enumerate() {
                let j = 2 * xo;
                let mut best = (r0[j], top + j);
                if !best.0.is_nan() {
                    offer(&mut best, r0[j + 1], top + j + 1);
                }
                if !offer(&mut best, r1[j], top + w + j) {
                    offer(&mut best, r1[j + 1], top + w + j + 1);
                }
                *ov = best.0;
                *av = best.1 as u32;
            }
        }
    }
}

/// Max-pooling's VJP: `dx[arg[o]] += dy[o]`; `dx` is overwritten.
pub fn max_pool_vjp(arg: &[u32], dy: &[f32], dx: &mut [f32]) {
    dx.fill(0.0);
    for (&a, &d) in arg.iter().zip(dy) {
        dx[a as usize] += d;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// The convolution by its definition, in f64.
    fn direct(g: &ConvGeom, w: &[f32], b: &[f32], x: &[f32]) -> Vec<f64> {
        let (oh, ow) = g.out_hw();
        let mut out = vec![0.0f64; b.len() * oh * ow];
        for o in 0..b.len() {
            for y in 0..oh {
                for xo in 0..ow {
                    let mut s = f64::from(b[o]);
                    for c in 0..g.c {
                        for ki in 0..g.k {
                            for kj in 0..g.k {
                                let iy = (y * g.stride + ki) as isize - g.pad as isize;
                                let ix = (xo * g.stride + kj) as isize - g.pad as isize;
                                if iy >= 0 && ix >= 0 && (iy as usize) < g.h && (ix as usize) < g.w {
                                    let wv = w[((o * g.c + c) * g.k + ki) * g.k + kj];
                                    s += f64::from(wv) * f64::from(x[(c * g.h + iy as usize) * g.w + ix as usize]);
                                }
                            }
                        }
                    }
                    out[(o * oh + y) * ow + xo] = s;
                }
            }
        }
        out
    }

    /// Forward equals the definition; the input VJP and the parameter gradients equal the
    /// adjoint identity `<dy, J dx> = <J^T dy, dx>` (the convolution is linear in x, and in
    /// (W, b)), over random geometries with strides and padding.
    #[test]
    fn conv_matches_its_definition_and_its_adjoint() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for case in 0..40 {
            let g = ConvGeom {
                c: rng.gen_range(1..4),
                h: rng.gen_range(4..10),
                w: rng.gen_range(4..10),
                k: rng.gen_range(1..5),
                stride: rng.gen_range(1..4),
                pad: rng.gen_range(0..3),
            };
            let oc = rng.gen_range(1..5);
            let r = |rng: &mut ChaCha8Rng, n: usize| (0..n).map(|_| rng.gen_range(-1.0f32..1.0)).collect::<Vec<_>>();
            let (w, b, x) = (r(&mut rng, oc * g.patch()), r(&mut rng, oc), r(&mut rng, g.c * g.h * g.w));
            let (oh, ow) = g.out_hw();
            let mut out = vec![0.0; oc * oh * ow];
            let mut col = Vec::new();
            conv_forward(&g, &w, &b, &x, &mut col, &mut out);
            for (a, e) in out.iter().zip(direct(&g, &w, &b, &x)) {
                assert!((f64::from(*a) - e).abs() < 1e-4, "case {case}: {a} vs {e}");
            }
            let dy = r(&mut rng, oc * oh * ow);
            let mut dx = vec![0.0; x.len()];
            conv_input_vjp(&g, &w, oc, &dy, &mut col, &mut dx);
            let v = r(&mut rng, x.len());
            let zero = vec![0.0; oc];
            let jv = direct(&g, &w, &zero, &v);
            let lhs: f64 = dy.iter().zip(&jv).map(|(a, b)| f64::from(*a) * b).sum();
            let rhs: f64 = dx.iter().zip(&v).map(|(a, b)| f64::from(*a) * f64::from(*b)).sum();
            assert!((lhs - rhs).abs() < 1e-3 * (1.0 + lhs.abs()), "case {case}: input adjoint {lhs} vs {rhs}");
            let (mut dw, mut db) = (vec![0.0; w.len()], vec![0.0; oc]);
            conv_param_grads(&g, &x, &dy, oc, &mut col, &mut dw, &mut db);
            let (vw, vb) = (r(&mut rng, w.len()), r(&mut rng, oc));
            let jp = direct(&g, &vw, &vb, &x);
            let lhs: f64 = dy.iter().zip(&jp).map(|(a, b)| f64::from(*a) * b).sum();
            let rhs: f64 =
                dw.iter().zip(&vw).chain(db.iter().zip(&vb)).map(|(a, b)| f64::from(*a) * f64::from(*b)).sum();
            assert!((lhs - rhs).abs() < 1e-3 * (1.0 + lhs.abs()), "case {case}: parameter adjoint {lhs} vs {rhs}");
        }
    }

    #[test]
    fn the_2x2_pooling_path_gives_the_general_paths_answers() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for round in 0..400 {
            let with_nan = round % 2 == 0;
            let (c, h, w) =
                (rng.gen_range(1..4), 2 * rng.gen_range(1..6) + rng.gen_range(0..2), 2 * rng.gen_range(1..6));
            let p = PoolGeom { c, h, w, k: 2, stride: 2 };
            // Few distinct values (ties), infinities, and in every other round some NaNs.
            let x: Vec<f32> = (0..c * h * w)
                .map(|_| match rng.gen_range(0..12) {
                    0 if with_nan => f32::NAN,
                    1 => f32::NEG_INFINITY,
                    2 => f32::INFINITY,
                    v => (v % 4) as f32 - 1.0,
                })
                .collect();
            let n = c * (h / 2) * (w / 2);
            let (mut o1, mut a1, mut o2, mut a2) = (vec![0.0; n], vec![0; n], vec![0.0; n], vec![0; n]);
            max_pool(&p, &x, &mut o1, &mut a1);
            max_pool_any(&p, &x, &mut o2, &mut a2);
            assert_eq!(a1, a2);
            assert!(o1.iter().zip(&o2).all(|(a, b)| a.to_bits() == b.to_bits()));
        }
    }

    #[test]
    fn max_pool_keeps_the_first_maximum_and_routes_its_gradient() {
        let x = [1.0, 3.0, 3.0, 0.0, 2.0, 2.0, -1.0, 5.0, 0.0, 0.0, 0.0, 0.0, 7.0, 7.0, 0.0, -2.0];
        let (mut out, mut arg) = ([0.0; 4], [0u32; 4]);
        max_pool(&PoolGeom { c: 1, h: 4, w: 4, k: 2, stride: 2 }, &x, &mut out, &mut arg);
        assert_eq!(out, [3.0, 5.0, 7.0, 0.0]);
        assert_eq!(arg, [1, 7, 12, 10]);
        let mut dx = [9.0; 16];
        max_pool_vjp(&arg, &[1.0, 2.0, 3.0, 4.0], &mut dx);
        let mut want = [0.0; 16];
        (want[1], want[7], want[12], want[10]) = (1.0, 2.0, 3.0, 4.0);
        assert_eq!(dx, want);
    }
}
