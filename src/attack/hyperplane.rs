//! FAB's projection: the smallest perturbation (in L-inf or L2) that moves a point onto a
//! hyperplane `w·z = b`, staying inside the pixel box.
//!
//! Croce & Hein, "Minimally distorted Adversarial Examples with a Fast Adaptive Boundary
//! Attack", ICML 2020, arXiv:1907.02044, section 3.1 (the projection onto a hyperplane with
//! box constraints, there solved by sorting the breakpoints).
//!
//! Every coordinate moves in the direction that brings `w·z` toward `b`, by `min(lambda·s_i,
//! u_i)`: `u_i` is its room to the box in that direction, `s_i = 1` for L-inf (a common step)
//! and `|w_i|` for L2 (the KKT conditions of the Euclidean projection, clipped to the box).
//! The progress `g(lambda) = sum_i |w_i| min(lambda·s_i, u_i)` is concave, piecewise linear
//! and increasing, so Newton's method from 0 finds `lambda` exactly in a few passes (a
//! selection over the breakpoints finishes the rare case that needs more, [`solve_by_selection`]).
//!
//! The passes run over structure-of-arrays scratch in f64, with AVX2 where the CPU has it and
//! the same arithmetic in plain Rust elsewhere (see the kernels' comment): every CPU gives the
//! same bits.

use super::Norm;

/// Accumulator lanes of the reductions (one AVX2 register of f64).
const LANES: usize = 4;

/// Newton passes before the selection takes over.
const NEWTON_PASSES: usize = 32;

/// Reusable per-coordinate arrays: breakpoint `u_i / s_i`, full progress `|w_i| u_i` and rate
/// `|w_i| s_i` (all 0 for a coordinate that cannot move).
#[derive(Debug, Default)]
pub struct Scratch {
    bp: Vec<f64>,
    full: Vec<f64>,
    rate: Vec<f64>,
}

// The four passes, each written once in plain Rust (the reference, and the code on CPUs
// without AVX2) and once with AVX2 intrinsics: LLVM keeps these f64 reductions over f32
// inputs scalar and turns their selects into unpredictable branches. Both keep four lanes,
// lane `l` taking the elements `4k + l`, add the lanes as `(l0 + l1) + (l2 + l3)` and then
// the tail in order, and fuse no products, so they give the same bits.

/// `a·b` in f64.
pub fn dot(a: &[f32], b: &[f32]) -> f64 {
    #[cfg(target_arch = "x86_64")]
    if crate::nn::simd::level() != crate::nn::simd::Level::Base {
        // SAFETY: `level()` checked at run time that the CPU has AVX2.
        return unsafe { avx2::dot(a, b) };
    }
    scalar::dot(a, b)
}

/// Fills `s` for moving `p` up (`up`) or down along `w` in the box `[lo, hi]` (infinite for
/// none); returns the total progress `sum_i full_i`.
#[allow(clippy::too_many_arguments)]
fn build(p: &[f32], w: &[f32], up: bool, lo: f64, hi: f64, l2: bool, s: &mut Scratch) -> f64 {
    let d = p.len().min(w.len());
    s.bp.resize(d, 0.0);
    s.full.resize(d, 0.0);
    s.rate.resize(d, 0.0);
    #[cfg(target_arch = "x86_64")]
    if crate::nn::simd::level() != crate::nn::simd::Level::Base {
        // SAFETY: as in `dot`; `s`'s arrays hold `d` entries.
        return unsafe {
            if l2 {
                avx2::build::<true>(p, w, up, lo, hi, s)
            } else {
                avx2::build::<false>(p, w, up, lo, hi, s)
            }
        };
    }
    if l2 {
        scalar::build::<true>(p, w, up, lo, hi, s)
    } else {
        scalar::build::<false>(p, w, up, lo, hi, s)
    }
}

/// The segment of `g` at `lambda`: the full progress of the saturated coordinates
/// (`bp <= lambda`), the rates of the others, and how many are saturated.
fn segment(s: &Scratch, lambda: f64) -> (f64, f64, usize) {
    #[cfg(target_arch = "x86_64")]
    if crate::nn::simd::level() != crate::nn::simd::Level::Base {
        // SAFETY: as in `dot`.
        return unsafe { avx2::segment(s, lambda) };
    }
    scalar::segment(s, lambda)
}

/// Writes the perturbation at `lambda` into `out` and returns its length in the norm.
fn emit(w: &[f32], s: &Scratch, lambda: f64, up: bool, l2: bool, out: &mut [f32]) -> f64 {
    #[cfg(target_arch = "x86_64")]
    if crate::nn::simd::level() != crate::nn::simd::Level::Base {
        // SAFETY: as in `dot`; `emit` reads `s`'s entries for the first `out.len()` weights.
        return unsafe {
            if l2 {
                avx2::emit::<true>(w, s, lambda, up, out)
            } else {
                avx2::emit::<false>(w, s, lambda, up, out)
            }
        };
    }
    if l2 {
        scalar::emit::<true>(w, s, lambda, up, out)
    } else {
        scalar::emit::<false>(w, s, lambda, up, out)
    }
}

mod scalar {
    use super::{Scratch, LANES};

    fn sum(acc: [f64; LANES]) -> f64 {
        (acc[0] + acc[1]) + (acc[2] + acc[3])
    }

    pub fn dot(a: &[f32], b: &[f32]) -> f64 {
        let n = a.len().min(b.len());
        let chunks = n / LANES * LANES;
        let mut acc = [0.0f64; LANES];
        for c in (0..chunks).step_by(LANES) {
            for l in 0..LANES {
                acc[l] += f64::from(a[c + l]) * f64::from(b[c + l]);
            }
        }
        let mut s = sum(acc);
        for i in chunks..n {
            s += f64::from(a[i]) * f64::from(b[i]);
        }
        s
    }

    /// One coordinate's (breakpoint, full progress, rate): 0s where it cannot move.
    pub fn entry<const L2: bool>(pi: f32, wi: f32, up: bool, lo: f64, hi: f64) -> (f64, f64, f64) {
        let a = f64::from(wi.abs());
        if a <= 0.0 {
            return (0.0, 0.0, 0.0);
        }
        let pi = f64::from(pi);
        let room = (if (wi < 0.0) != up { hi - pi } else { pi - lo }).max(0.0);
        let (bp, rate) = if L2 { (room / a, a * a) } else { (room, a) };
        (bp, a * room, rate)
    }

    pub fn build<const L2: bool>(p: &[f32], w: &[f32], up: bool, lo: f64, hi: f64, s: &mut Scratch) -> f64 {
        let d = s.bp.len();
        let chunks = d / LANES * LANES;
        let mut acc = [0.0f64; LANES];
        for c in (0..chunks).step_by(LANES) {
            for (l, a) in acc.iter_mut().enumerate() {
                let i = c + l;
                (s.bp[i], s.full[i], s.rate[i]) = entry::<L2>(p[i], w[i], up, lo, hi);
                *a += s.full[i];
            }
        }
        let mut total = sum(acc);
        for i in chunks..d {
            (s.bp[i], s.full[i], s.rate[i]) = entry::<L2>(p[i], w[i], up, lo, hi);
            total += s.full[i];
        }
        total
    }

    pub fn segment(s: &Scratch, lambda: f64) -> (f64, f64, usize) {
        let d = s.bp.len();
        let chunks = d / LANES * LANES;
        let (mut fixed, mut slope, mut count) = ([0.0f64; LANES], [0.0f64; LANES], 0usize);
        for c in (0..chunks).step_by(LANES) {
            for l in 0..LANES {
                let i = c + l;
                if s.bp[i] <= lambda {
                    fixed[l] += s.full[i];
                    count += 1;
                } else {
                    slope[l] += s.rate[i];
                }
            }
        }
        let (mut f, mut sl) = (sum(fixed), sum(slope));
        for i in chunks..d {
            if s.bp[i] <= lambda {
                f += s.full[i];
                count += 1;
            } else {
                sl += s.rate[i];
            }
        }
        (f, sl, count)
    }

    /// One coordinate's step `s_i·min(lambda, bp_i) = min(lambda·s_i, u_i)` in its direction.
    pub fn step<const L2: bool>(wi: f32, bp: f64, rate: f64, lambda: f64, up: bool) -> f32 {
        let s = if L2 { f64::from(wi.abs()) } else { 1.0 };
        let v = if rate > 0.0 { s * lambda.min(bp) } else { 0.0 };
        (if (wi > 0.0) == up { v } else { -v }) as f32
    }

    pub fn emit<const L2: bool>(w: &[f32], s: &Scratch, lambda: f64, up: bool, out: &mut [f32]) -> f64 {
        let d = out.len().min(w.len());
        let chunks = d / LANES * LANES;
        let mut acc = [0.0f64; LANES];
        let add = |acc: f64, v: f32| {
            let v = f64::from(v);
            if L2 {
                acc + v * v
            } else {
                acc.max(v.abs())
            }
        };
        for c in (0..chunks).step_by(LANES) {
            for (l, a) in acc.iter_mut().enumerate() {
                let i = c + l;
                out[i] = step::<L2>(w[i], s.bp[i], s.rate[i], lambda, up);
                *a = add(*a, out[i]);
            }
        }
        let mut tail = 0.0f64;
        for i in chunks..d {
            out[i] = step::<L2>(w[i], s.bp[i], s.rate[i], lambda, up);
            tail = add(tail, out[i]);
        }
        if L2 {
            (sum(acc) + tail).sqrt()
        } else {
            acc[0].max(acc[1]).max(acc[2].max(acc[3])).max(tail)
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{scalar, Scratch, LANES};
    use std::arch::x86_64::*;

    /// Four f32 from `v[i..i + 4]` as f64. Safety: `i + 4 <= v.len()`, AVX2.
    #[inline(always)]
    unsafe fn load(v: &[f32], i: usize) -> __m256d {
        _mm256_cvtps_pd(_mm_loadu_ps(v.as_ptr().add(i)))
    }

    #[inline(always)]
    unsafe fn lanes(v: __m256d) -> [f64; LANES] {
        let mut a = [0.0f64; LANES];
        _mm256_storeu_pd(a.as_mut_ptr(), v);
        a
    }

    #[inline(always)]
    unsafe fn sum(v: __m256d) -> f64 {
        let a = lanes(v);
        (a[0] + a[1]) + (a[2] + a[3])
    }

    #[inline(always)]
    unsafe fn all_ones(on: bool) -> __m256d {
        _mm256_castsi256_pd(_mm256_set1_epi64x(if on { -1 } else { 0 }))
    }

    #[target_feature(enable = "avx2")]
    pub unsafe fn dot(a: &[f32], b: &[f32]) -> f64 {
        let n = a.len().min(b.len());
        let chunks = n / LANES * LANES;
        let mut acc = _mm256_setzero_pd();
        for c in (0..chunks).step_by(LANES) {
            acc = _mm256_add_pd(acc, _mm256_mul_pd(load(a, c), load(b, c)));
        }
        let mut s = sum(acc);
        for i in chunks..n {
            s += f64::from(a[i]) * f64::from(b[i]);
        }
        s
    }

    /// Safety: AVX2; `s`'s arrays hold `min(p.len(), w.len())` entries.
    #[target_feature(enable = "avx2")]
    pub unsafe fn build<const L2: bool>(p: &[f32], w: &[f32], up: bool, lo: f64, hi: f64, s: &mut Scratch) -> f64 {
        let d = s.bp.len();
        let chunks = d / LANES * LANES;
        let (zero, sign, up_mask) = (_mm256_setzero_pd(), _mm256_set1_pd(-0.0), all_ones(up));
        let (lo_v, hi_v) = (_mm256_set1_pd(lo), _mm256_set1_pd(hi));
        let mut acc = zero;
        for c in (0..chunks).step_by(LANES) {
            let (pv, wv) = (load(p, c), load(w, c));
            let a = _mm256_andnot_pd(sign, wv);
            // Toward hi where (w < 0) != up.
            let toward_hi = _mm256_xor_pd(_mm256_cmp_pd::<_CMP_LT_OQ>(wv, zero), up_mask);
            let room = _mm256_blendv_pd(_mm256_sub_pd(pv, lo_v), _mm256_sub_pd(hi_v, pv), toward_hi);
            let room = _mm256_max_pd(room, zero);
            let (bp, rate) = if L2 { (_mm256_div_pd(room, a), _mm256_mul_pd(a, a)) } else { (room, a) };
            let movable = _mm256_cmp_pd::<_CMP_GT_OQ>(a, zero);
            let full = _mm256_and_pd(_mm256_mul_pd(a, room), movable);
            _mm256_storeu_pd(s.bp.as_mut_ptr().add(c), _mm256_and_pd(bp, movable));
            _mm256_storeu_pd(s.full.as_mut_ptr().add(c), full);
            _mm256_storeu_pd(s.rate.as_mut_ptr().add(c), _mm256_and_pd(rate, movable));
            acc = _mm256_add_pd(acc, full);
        }
        let mut total = sum(acc);
        for i in chunks..d {
            (s.bp[i], s.full[i], s.rate[i]) = scalar::entry::<L2>(p[i], w[i], up, lo, hi);
            total += s.full[i];
        }
        total
    }

    #[target_feature(enable = "avx2")]
    pub unsafe fn segment(s: &Scratch, lambda: f64) -> (f64, f64, usize) {
        let d = s.bp.len().min(s.full.len()).min(s.rate.len());
        let chunks = d / LANES * LANES;
        let l = _mm256_set1_pd(lambda);
        let (mut fixed, mut slope, mut count) = (_mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_si256());
        for c in (0..chunks).step_by(LANES) {
            let sat = _mm256_cmp_pd::<_CMP_LE_OQ>(_mm256_loadu_pd(s.bp.as_ptr().add(c)), l);
            fixed = _mm256_add_pd(fixed, _mm256_and_pd(sat, _mm256_loadu_pd(s.full.as_ptr().add(c))));
            slope = _mm256_add_pd(slope, _mm256_andnot_pd(sat, _mm256_loadu_pd(s.rate.as_ptr().add(c))));
            count = _mm256_sub_epi64(count, _mm256_castpd_si256(sat)); // sat is -1 where saturated
        }
        let mut counts = [0i64; LANES];
        _mm256_storeu_si256(counts.as_mut_ptr().cast(), count);
        let (mut f, mut sl, mut n) = (sum(fixed), sum(slope), counts.iter().sum::<i64>() as usize);
        for i in chunks..d {
            if s.bp[i] <= lambda {
                f += s.full[i];
                n += 1;
            } else {
                sl += s.rate[i];
            }
        }
        (f, sl, n)
    }

    /// Safety: AVX2; `s`'s arrays hold at least `min(out.len(), w.len())` entries.
    #[target_feature(enable = "avx2")]
    pub unsafe fn emit<const L2: bool>(w: &[f32], s: &Scratch, lambda: f64, up: bool, out: &mut [f32]) -> f64 {
        let d = out.len().min(w.len()).min(s.bp.len()).min(s.rate.len());
        let chunks = d / LANES * LANES;
        let (zero, sign, one) = (_mm256_setzero_pd(), _mm256_set1_pd(-0.0), _mm256_set1_pd(1.0));
        let (l, up_mask) = (_mm256_set1_pd(lambda), all_ones(up));
        let mut acc = zero;
        for c in (0..chunks).step_by(LANES) {
            let wv = load(w, c);
            let a = _mm256_andnot_pd(sign, wv);
            let step = if L2 { a } else { one };
            let moved = _mm256_cmp_pd::<_CMP_GT_OQ>(_mm256_loadu_pd(s.rate.as_ptr().add(c)), zero);
            let v = _mm256_and_pd(_mm256_mul_pd(step, _mm256_min_pd(_mm256_loadu_pd(s.bp.as_ptr().add(c)), l)), moved);
            // Negated where (w > 0) != up.
            let flip = _mm256_xor_pd(_mm256_cmp_pd::<_CMP_GT_OQ>(wv, zero), up_mask);
            let v = _mm256_xor_pd(v, _mm256_and_pd(flip, sign));
            let v32 = _mm256_cvtpd_ps(v);
            _mm_storeu_ps(out.as_mut_ptr().add(c), v32);
            let v = _mm256_cvtps_pd(v32);
            acc = if L2 {
                _mm256_add_pd(acc, _mm256_mul_pd(v, v))
            } else {
                _mm256_max_pd(acc, _mm256_andnot_pd(sign, v))
            };
        }
        let mut tail = 0.0f64;
        for i in chunks..d {
            out[i] = scalar::step::<L2>(w[i], s.bp[i], s.rate[i], lambda, up);
            let v = f64::from(out[i]);
            tail = if L2 { tail + v * v } else { tail.max(v.abs()) };
        }
        let a = lanes(acc);
        if L2 {
            (((a[0] + a[1]) + (a[2] + a[3])) + tail).sqrt()
        } else {
            a[0].max(a[1]).max(a[2].max(a[3])).max(tail)
        }
    }
}

/// The smallest perturbation `d` (in `norm`) with `w·(p + d) = b` and `p + d` inside `bounds`
/// (no box when `None`), written into `out`; returns `d`'s length in `norm`. When no point of
/// the box reaches the hyperplane, `d` moves to the box corner that brings `w·(p + d)` closest
/// to `b`. `scratch` is reused between calls.
pub fn project(
    norm: Norm,
    p: &[f32],
    w: &[f32],
    b: f64,
    bounds: Option<(f32, f32)>,
    out: &mut [f32],
    scratch: &mut Scratch,
) -> f64 {
    let need = b - dot(w, p);
    if need == 0.0 || !need.is_finite() {
        out.iter_mut().for_each(|v| *v = 0.0);
        return 0.0;
    }
    let up = need > 0.0;
    let l2 = norm == Norm::L2;
    let (lo, hi) = bounds.map_or((f64::NEG_INFINITY, f64::INFINITY), |(lo, hi)| (f64::from(lo), f64::from(hi)));
    let total = build(p, w, up, lo, hi, l2, scratch);
    let target = need.abs();
    let lambda = if total < target { f64::INFINITY } else { solve(scratch, target) };
    emit(w, scratch, lambda, up, l2, out)
}

/// The smallest `lambda` with `g(lambda) >= target`, given `g`'s total `>= target`. Newton
/// from 0: each step solves the current segment's line and so stays at or below the solution;
/// once a step passes no breakpoint (the saturated count is unchanged) it is on the
/// solution's segment and exact.
fn solve(s: &mut Scratch, target: f64) -> f64 {
    let (mut lambda, (mut fixed, mut slope, mut count)) = (0.0f64, segment(s, 0.0));
    for _ in 0..NEWTON_PASSES {
        if slope <= 0.0 {
            return lambda;
        }
        let next = ((target - fixed) / slope).max(lambda);
        let (f, sl, c) = segment(s, next);
        if c == count {
            return next;
        }
        (lambda, fixed, slope, count) = (next, f, sl, c);
    }
    let mut entries: Vec<(f64, f64, f64)> =
        (0..s.bp.len()).filter(|&i| s.full[i] > 0.0).map(|i| (s.bp[i], s.full[i], s.rate[i])).collect();
    solve_by_selection(&mut entries, target)
}

/// The smallest `lambda` with `g(lambda) = sum_e min(lambda·rate_e, full_e) >= target` over
/// the entries `(breakpoint, full, rate)` (`full = rate·breakpoint`), infinity when even
/// every entry's full progress falls short: a selection over the breakpoints (expected linear
/// time, no sort).
pub fn solve_by_selection(entries: &mut [(f64, f64, f64)], target: f64) -> f64 {
    // Entries known to be saturated at lambda* add their full progress to `fixed`, those
    // known not to be add their rate to `slope`.
    let (mut fixed, mut slope) = (0.0f64, 0.0f64);
    let mut cand: &mut [(f64, f64, f64)] = entries;
    while !cand.is_empty() {
        let mid = cand.len() / 2;
        let (left, pivot, right) = cand.select_nth_unstable_by(mid, |a, b| a.0.total_cmp(&b.0));
        let beta = pivot.0;
        let below: f64 = left.iter().map(|e| e.1).sum();
        let above: f64 = right.iter().map(|e| e.2).sum::<f64>() + pivot.2;
        let g = if beta.is_finite() { fixed + below + beta * (slope + above) } else { f64::INFINITY };
        if g >= target {
            slope += above;
            cand = left;
        } else {
            fixed += below + pivot.1;
            cand = right;
        }
    }
    if slope > 0.0 {
        ((target - fixed) / slope).max(0.0)
    } else {
        f64::INFINITY
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn length(norm: Norm, v: &[f32]) -> f64 {
        match norm {
            Norm::Linf => v.iter().fold(0.0f64, |m, x| m.max(f64::from(x.abs()))),
            Norm::L2 => v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt(),
        }
    }

    fn plain_dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum()
    }

    /// The projection lands on the hyperplane inside the box (or at the best corner when the
    /// box cannot reach it), no nearby point of the hyperplane in the box is closer, and the
    /// returned length is the perturbation's.
    fn check(norm: Norm, p: &[f32], w: &[f32], b: f64, bounds: Option<(f32, f32)>) {
        let mut d = vec![0.0f32; p.len()];
        let len = project(norm, p, w, b, bounds, &mut d, &mut Scratch::default());
        assert!((len - length(norm, &d)).abs() <= 1e-12 * (1.0 + len), "{norm:?}: length {len}");
        let moved: Vec<f32> = p.iter().zip(&d).map(|(a, b)| a + b).collect();
        if let Some((lo, hi)) = bounds {
            assert!(moved.iter().all(|v| (lo - 1e-6..=hi + 1e-6).contains(v)), "left the box");
        }
        let reach = plain_dot(w, &moved);
        // The best reachable value in the box, moving every coordinate to its favourable bound.
        let corner: Vec<f32> = match bounds {
            Some((lo, hi)) => w
                .iter()
                .zip(p)
                .map(|(&wi, &pi)| {
                    if wi == 0.0 {
                        pi
                    } else if (wi > 0.0) == (b > plain_dot(w, p)) {
                        hi
                    } else {
                        lo
                    }
                })
                .collect(),
            None => p.to_vec(), // only reached when w = 0: nothing can move
        };
        let feasible = w.iter().any(|&v| v != 0.0) && bounds.is_none()
            || (b - plain_dot(w, p)).abs() <= (plain_dot(w, &corner) - plain_dot(w, p)).abs();
        if feasible {
            assert!((reach - b).abs() < 1e-4 * (1.0 + b.abs()), "{norm:?}: w·(p+d) = {reach}, want {b}");
            // Optimality: no random feasible point on the hyperplane is closer.
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
            let n = length(norm, &d);
            for _ in 0..200 {
                let mut q: Vec<f32> = d.iter().map(|v| v + rng.gen_range(-0.05f32..0.05)).collect();
                // Move q back onto the hyperplane along w.
                let ww: f64 = plain_dot(w, w);
                let gap = b - plain_dot(w, &p.iter().zip(&q).map(|(a, b)| a + b).collect::<Vec<_>>());
                q.iter_mut().zip(w).for_each(|(v, &wi)| *v += (gap / ww) as f32 * wi);
                let inside = bounds.is_none_or(|(lo, hi)| p.iter().zip(&q).all(|(a, b)| (lo..=hi).contains(&(a + b))));
                if inside {
                    assert!(length(norm, &q) >= n - 1e-4, "{norm:?}: a closer point exists");
                }
            }
        } else {
            assert!(d.iter().zip(&corner).zip(p).all(|((di, ci), pi)| (pi + di - ci).abs() < 1e-6), "not the corner");
        }
    }

    #[test]
    fn hyperplane_projection_is_exact_feasible_and_minimal() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for case in 0..400 {
            let dim = rng.gen_range(1..12);
            let p: Vec<f32> = (0..dim).map(|_| rng.gen_range(0.0f32..1.0)).collect();
            let mut w: Vec<f32> = (0..dim).map(|_| rng.gen_range(-2.0f32..2.0)).collect();
            if case % 5 == 0 {
                w[0] = 0.0;
            }
            let b = plain_dot(&w, &p) + rng.gen_range(-3.0..3.0);
            for norm in [Norm::Linf, Norm::L2] {
                check(norm, &p, &w, b, Some((0.0, 1.0)));
                check(norm, &p, &w, b, None);
            }
        }
    }

    /// On image-sized problems (MNIST-like points with many pixels at the box's faces, many
    /// zero weights) the vectorised projection equals the one found by the selection over
    /// the breakpoints, coordinate by coordinate.
    #[test]
    fn newton_projection_equals_the_selection_on_image_sized_problems() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(21);
        for case in 0..300 {
            let dim = rng.gen_range(700..800);
            let p: Vec<f32> = (0..dim)
                .map(|_| match rng.gen_range(0..3) {
                    0 => 0.0,
                    1 => 1.0,
                    _ => rng.gen_range(0.0f32..1.0),
                })
                .collect();
            let w: Vec<f32> =
                (0..dim).map(|_| if rng.gen_bool(0.2) { 0.0 } else { rng.gen_range(-1.0f32..1.0) }).collect();
            let b = plain_dot(&w, &p) + rng.gen_range(-20.0..20.0);
            let norm = if case % 2 == 0 { Norm::Linf } else { Norm::L2 };
            let mut d = vec![0.0f32; dim];
            project(norm, &p, &w, b, Some((0.0, 1.0)), &mut d, &mut Scratch::default());
            // The reference: the same entries, lambda by the selection, steps as min(lambda·s, u).
            let need = b - plain_dot(&w, &p);
            let up = need > 0.0;
            let room = |i: usize| if (w[i] > 0.0) == up { 1.0 - f64::from(p[i]) } else { f64::from(p[i]) };
            let rate = |a: f64| if norm == Norm::L2 { a } else { 1.0 };
            let mut entries: Vec<(f64, f64, f64)> = (0..dim)
                .filter(|&i| w[i] != 0.0 && room(i) > 0.0)
                .map(|i| {
                    let a = f64::from(w[i].abs());
                    (room(i) / rate(a), a * room(i), a * rate(a))
                })
                .collect();
            let lambda = solve_by_selection(&mut entries, need.abs());
            for i in 0..dim {
                let a = f64::from(w[i].abs());
                let step = if a == 0.0 { 0.0 } else { (lambda * rate(a)).min(room(i)) };
                let want = if (w[i] > 0.0) == up { step } else { -step };
                assert!((f64::from(d[i]) - want).abs() <= 1e-6, "case {case} pixel {i}: {} vs {want}", d[i]);
            }
        }
    }

    /// Newton's method on the progress function and the selection agree on random problems,
    /// many with more breakpoints than Newton's passes, ties included.
    #[test]
    fn newton_and_selection_find_the_same_lambda() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        for case in 0..500 {
            let n = rng.gen_range(1..800);
            let mut s = Scratch::default();
            for _ in 0..n {
                let rate = if case % 2 == 0 { 1.0 } else { rng.gen_range(0.01..2.0) };
                let bp = if rng.gen_bool(0.1) { 0.25 } else { rng.gen_range(0.0..1.0) };
                s.bp.push(bp);
                s.full.push(bp * rate);
                s.rate.push(rate);
            }
            let mut entries: Vec<(f64, f64, f64)> = (0..n).map(|i| (s.bp[i], s.full[i], s.rate[i])).collect();
            let total: f64 = s.full.iter().sum();
            let target = total * rng.gen_range(0.0..1.0);
            let want = solve_by_selection(&mut entries, target);
            let got = solve(&mut s, target);
            assert!((got - want).abs() <= 1e-9 * (1.0 + want.abs()), "case {case}: {got} vs {want}");
            let g: f64 = entries.iter().map(|e| (got * e.2).min(e.1)).sum();
            assert!((g - target).abs() <= 1e-9 * (1.0 + target), "case {case}: g = {g}, target {target}");
        }
    }

    #[test]
    fn projection_without_a_box_has_the_closed_form() {
        // L-inf: d = c·sign(w)/|w|_1; L2: d = c·w/|w|^2.
        let (p, w) = ([0.2f32, 0.5, 0.9], [1.0f32, -2.0, 0.5]);
        let c = 0.7f64;
        let b = plain_dot(&w, &p) + c;
        let mut d = [0.0f32; 3];
        project(Norm::Linf, &p, &w, b, None, &mut d, &mut Scratch::default());
        let l1 = 3.5f64;
        for (di, wi) in d.iter().zip(&w) {
            assert!((f64::from(*di) - c / l1 * f64::from(wi.signum())).abs() < 1e-6, "{d:?}");
        }
        project(Norm::L2, &p, &w, b, None, &mut d, &mut Scratch::default());
        for (di, wi) in d.iter().zip(&w) {
            assert!((f64::from(*di) - c / 5.25 * f64::from(*wi)).abs() < 1e-6, "{d:?}");
        }
    }

    /// The dispatched kernels (AVX2 on this CPU where it has it) give the plain ones' bits.
    #[test]
    fn simd_kernels_equal_the_plain_ones_bit_for_bit() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(8);
        for case in 0..200 {
            let dim = rng.gen_range(0..40) + if case % 3 == 0 { 780 } else { 0 };
            let p: Vec<f32> =
                (0..dim).map(|_| if rng.gen_bool(0.3) { 0.0 } else { rng.gen_range(0.0f32..1.0) }).collect();
            let w: Vec<f32> =
                (0..dim).map(|_| if rng.gen_bool(0.2) { 0.0 } else { rng.gen_range(-1.0f32..1.0) }).collect();
            assert_eq!(dot(&p, &w).to_bits(), scalar::dot(&p, &w).to_bits(), "dot, case {case}");
            let up = case % 2 == 0;
            let (lo, hi) = if case % 5 == 0 { (f64::NEG_INFINITY, f64::INFINITY) } else { (0.0, 1.0) };
            for l2 in [false, true] {
                let (mut fast, mut plain) = (Scratch::default(), Scratch::default());
                let t1 = build(&p, &w, up, lo, hi, l2, &mut fast);
                plain.bp.resize(dim, 0.0);
                plain.full.resize(dim, 0.0);
                plain.rate.resize(dim, 0.0);
                let t2 = if l2 {
                    scalar::build::<true>(&p, &w, up, lo, hi, &mut plain)
                } else {
                    scalar::build::<false>(&p, &w, up, lo, hi, &mut plain)
                };
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(t1.to_bits(), t2.to_bits(), "total, case {case}");
                assert_eq!(bits(&fast.bp), bits(&plain.bp), "bp, case {case}");
                assert_eq!(bits(&fast.full), bits(&plain.full), "full, case {case}");
                assert_eq!(bits(&fast.rate), bits(&plain.rate), "rate, case {case}");
                for lambda in [0.0, rng.gen_range(0.0..0.5), 0.3, f64::INFINITY] {
                    let (a, b) = (segment(&fast, lambda), scalar::segment(&plain, lambda));
                    assert_eq!(
                        (a.0.to_bits(), a.1.to_bits(), a.2),
                        (b.0.to_bits(), b.1.to_bits(), b.2),
                        "segment, case {case}"
                    );
                    let (mut o1, mut o2) = (vec![0.0f32; dim], vec![0.0f32; dim]);
                    let n1 = emit(&w, &fast, lambda, up, l2, &mut o1);
                    let n2 = if l2 {
                        scalar::emit::<true>(&w, &plain, lambda, up, &mut o2)
                    } else {
                        scalar::emit::<false>(&w, &plain, lambda, up, &mut o2)
                    };
                    assert_eq!(n1.to_bits(), n2.to_bits(), "length, case {case}");
                    assert_eq!(o1, o2, "steps, case {case}");
                }
            }
        }
    }

    #[test]
    fn dot_matches_the_plain_sum() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
        for n in [0usize, 1, 3, 4, 5, 783, 784] {
            let a: Vec<f32> = (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let b: Vec<f32> = (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect();
            assert!((dot(&a, &b) - plain_dot(&a, &b)).abs() <= 1e-12 * (1.0 + n as f64), "n = {n}");
        }
    }
}
