//! Logits of several adversarial batches made from one clean batch, for sweeps over eps.
//!
//! FGSM's images at every eps lie on one ray per image: `x_e = x + e·s` (`s` = the gradient's
//! sign) except where clipping to the image bounds cut the step short. So
//! `x_e·W1 = x·W1 + e·(s·W1) + c_e·W1`, where the correction `c_e = x_e - (x + e·s)` is
//! non-zero only at clipped pixels. One dense product `s·W1` then serves every eps, and each
//! eps costs a sparse product over its few clipped pixels instead of a dense one.
//!
//! Nothing is assumed of the images: `s` is read off the batch with the largest eps, and a
//! pixel counts as on the ray only if `x + e·s` rounds to exactly its value; every other
//! pixel goes into the correction. A row whose correction is not sparse (any image that is
//! not on a ray, e.g. a PGD iterate) is computed directly. The results equal a direct
//! forward pass up to float rounding.

use super::aligned::AlignedVec;
use super::dense::{matmul, Mat};
use super::elementwise::relu;
use super::mlp::{gather_rows, layer1, layer2, scatter_rows, sparse_row, Weights, GROUP};
use super::sparse::{scatter_times, SparseRows};
use crate::nn::ops::sign;

/// Logits `[n, classes]` of each batch `advs[k]` (`[n, input]`, made from the clean batch `x`
/// at budget `eps[k]`), plus how many rows took the direct path.
pub fn ray_logits(w: &Weights<'_>, x: &[f32], n: usize, advs: &[Vec<f32>], eps: &[f32]) -> (Vec<Vec<f32>>, usize) {
    let (d, h) = (w.input, w.hidden);
    let Some(top) = (0..advs.len().min(eps.len())).max_by(|&a, &b| eps[a].total_cmp(&eps[b])) else {
        return (Vec::new(), 0);
    };
    let x = &x[..n * d];
    // The ray directions, from the farthest batch.
    let s: Vec<f32> = advs[top][..n * d].iter().zip(x).map(|(&a, &c)| sign(a - c)).collect();
    let mut z0 = AlignedVec::default();
    layer1(w, x, n, &mut z0);
    let mut p = AlignedVec::default();
    p.set_len_uninit(n * h); // overwritten by the product
    matmul(Mat::new(&s, n, d), Mat::new(w.w1, d, h), &mut p, false);
    let (mut rows, mut cols) = (SparseRows::default(), SparseRows::default());
    let mut corr = vec![0.0f32; d];
    let mut direct_rows = 0;
    let (mut z, mut zd, mut gathered) = (AlignedVec::default(), AlignedVec::default(), Vec::new());
    let out = advs
        .iter()
        .zip(eps)
        .map(|(adv, &e)| {
            z.set_len_uninit(n * h); // every row is written below
            let mut direct = Vec::new();
            for g0 in (0..n).step_by(GROUP) {
                let g1 = (g0 + GROUP).min(n);
                rows.reset(d);
                for r in g0..g1 {
                    let span = r * d..(r + 1) * d;
                    for ((c, &a), (&x0, &si)) in
                        corr.iter_mut().zip(&adv[span.clone()]).zip(x[span.clone()].iter().zip(&s[span]))
                    {
                        let on_ray = x0 + e * si;
                        *c = if on_ray == a { 0.0 } else { a - on_ray };
                    }
                    let zr = &mut z[r * h..(r + 1) * h];
                    if sparse_row(&corr) {
                        rows.push_dense_row(&corr);
                        let (z0r, pr) = (&z0[r * h..(r + 1) * h], &p[r * h..(r + 1) * h]);
                        zr.iter_mut().zip(z0r.iter().zip(pr)).for_each(|(o, (&a, &b))| *o = a + e * b);
                    } else {
                        rows.end_row();
                        direct.push(r);
                    }
                }
                if rows.nnz() > 0 {
                    rows.transpose_into(&mut cols);
                    scatter_times(&cols, w.w1, h, &mut z[g0 * h..g1 * h]);
                }
            }
            if !direct.is_empty() {
                direct_rows += direct.len();
                gather_rows(adv, d, &direct, &mut gathered);
                layer1(w, &gathered, direct.len(), &mut zd);
                scatter_rows(&zd, h, &direct, &mut z);
            }
            relu(&mut z);
            layer2(w, &z, n)
        })
        .collect();
    (out, direct_rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Mlp, MlpConfig};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn close(a: &[f32], b: &[f32]) -> bool {
        a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-4 * (1.0 + y.abs()))
    }

    /// FGSM-like batches (clipped and unclipped) go through the ray path, other batches
    /// (random points in the ball) through the direct one; both equal a direct forward pass.
    #[test]
    fn ray_logits_match_direct_logits() {
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        let arch = MlpConfig { input: 120, hidden: 50, classes: 10, init_std: 0.3, ..MlpConfig::default() };
        let model = Mlp::init(arch, &mut rng).expect("init");
        let w = model.weights();
        let n = 140;
        let x: Vec<f32> =
            (0..n * 120).map(|_| if rng.gen_bool(0.2) { rng.gen_range(0.0f32..=1.0) } else { 0.0 }).collect();
        let g: Vec<f32> = (0..n * 120).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
        let eps = [0.05f32, 0.25, 0.1];
        let fgsm = |e: f32, clip: bool| -> Vec<f32> {
            x.iter()
                .zip(&g)
                .map(|(&c, &gi)| {
                    let v = c + e * sign(gi);
                    if clip {
                        v.clamp(0.0, 1.0)
                    } else {
                        v
                    }
                })
                .collect()
        };
        for clip in [true, false] {
            let advs: Vec<Vec<f32>> = eps.iter().map(|&e| fgsm(e, clip)).collect();
            let (logits, direct) = ray_logits(&w, &x, n, &advs, &eps);
            assert_eq!(direct, 0, "FGSM rows lie on their rays");
            for (adv, l) in advs.iter().zip(&logits) {
                assert!(close(l, &super::super::mlp::forward(&w, adv, n).logits));
            }
        }
        let advs: Vec<Vec<f32>> =
            eps.iter().map(|&e| x.iter().map(|&c| (c + rng.gen_range(-e..=e)).clamp(0.0, 1.0)).collect()).collect();
        let (logits, direct) = ray_logits(&w, &x, n, &advs, &eps);
        assert!(direct > n, "random points are off the rays");
        for (adv, l) in advs.iter().zip(&logits) {
            assert!(close(l, &super::super::mlp::forward(&w, adv, n).logits));
        }
    }
}
