//! One training pass (dropout, forward, backward) and the fused penalty + RMSProp update.

use super::aligned::AlignedVec;
use super::dense::{matmul, Mat};
use super::elementwise::{add_rows, count_nonzero, dropout_into, relu, relu_backward, relu_dropout, sum_rows_into};
use super::images::Images;
use super::mlp::{fill_rows, layer2, use_sparse, Weights};
use super::simd::madd;
use super::sparse::{scatter_times, transposed_times, SparseRows};
use super::sparse_grad::dense_t_times_sparse;
use crate::nn::dropout::Dropout;
use rand::RngCore;

/// Reusable buffers for training passes (no allocation in the hot loop once warm).
#[derive(Debug, Default)]
pub struct Workspace {
    sparse: SparseRows,
    sparse_t: SparseRows,
    bits: Vec<u32>,
    dense: Vec<f32>,
    gathered: Vec<f32>,
    hidden: AlignedVec,
    dz2: Vec<f32>,
    dz1: AlignedVec,
}

/// Dropout settings of one pass.
#[derive(Clone, Copy, Debug)]
pub struct Masks {
    /// On the input pixels.
    pub input: Option<Dropout>,
    /// On the hidden units.
    pub hidden: Option<Dropout>,
}

/// Builds the pass's (dropout-masked) input in `ws`: sparse rows when the batch is sparse
/// enough, a dense block otherwise; returns whether it is sparse. The choice depends only on
/// the clean batch and the keep probability, and the mask values are those of one
/// [`Dropout::draw`] of `n·d` values (from indexed rows, the zero pixels' values are not
/// drawn: they would multiply 0).
fn masked_input(
    x: Images<'_>,
    n: usize,
    d: usize,
    mask: Option<Dropout>,
    rng: &mut dyn RngCore,
    ws: &mut Workspace,
) -> bool {
    let keep = mask.map_or(1.0, |m| m.keep_fraction());
    if let Images::Rows { index, rows, .. } = x {
        let nnz: usize = rows.iter().map(|&r| index.row(r).0.len()).sum();
        if use_sparse((nnz as f64 * keep) as usize, n * d) {
            ws.sparse.reset(d);
            match mask {
                Some(m) => {
                    let key = m.draw_key(rng);
                    for (b, &r) in rows.iter().enumerate() {
                        let (cols, vals) = index.row(r);
                        m.draw_at(key, (b * d) as u64, cols, &mut ws.bits);
                        let bits = &ws.bits;
                        ws.sparse.push_masked_entries(cols, vals, |i| m.keeps(bits[i]), m.scale());
                    }
                }
                None => rows.iter().for_each(|&r| {
                    let (cols, vals) = index.row(r);
                    ws.sparse.push_masked_entries(cols, vals, |_| true, 1.0);
                }),
            }
            return true;
        }
    }
    let mut gathered = std::mem::take(&mut ws.gathered);
    let x: &[f32] = match x {
        Images::Dense(x) => &x[..n * d],
        rows => {
            rows.gather_into(d, &mut gathered);
            &gathered
        }
    };
    let sparse = use_sparse((count_nonzero(x) as f64 * keep) as usize, n * d);
    if let Some(m) = &mask {
        m.draw(rng, n * d, &mut ws.bits);
    }
    match (&mask, sparse) {
        (Some(m), true) => {
            ws.sparse.reset(d);
            for (row, bits) in x.chunks_exact(d).zip(ws.bits.chunks_exact(d)) {
                ws.sparse.push_masked_row(row, |p| m.keeps(bits[p]), m.scale());
            }
        }
        (None, true) => {
            ws.sparse.reset(d);
            x.chunks_exact(d).for_each(|row| ws.sparse.push_dense_row(row));
        }
        (Some(m), false) => {
            ws.dense.clear();
            ws.dense.resize(n * d, 0.0);
            dropout_into(&mut ws.dense, x, &ws.bits, *m);
        }
        (None, false) => {
            ws.dense.clear();
            ws.dense.extend_from_slice(x);
        }
    }
    ws.gathered = gathered;
    sparse
}

/// Adds `weight` times the gradient of the batch-mean cross-entropy (training mode, fresh
/// dropout masks drawn from `rng`: input mask then hidden mask, row-major, as the burn path
/// draws them) to `grads` (`[w1, b1, w2, b2]`), and returns the batch-mean cross-entropy.
#[allow(clippy::too_many_arguments)]
pub fn accumulate_pass(
    w: &Weights<'_>,
    x: Images<'_>,
    labels: &[u8],
    masks: Masks,
    rng: &mut dyn RngCore,
    weight: f32,
    grads: &mut [AlignedVec; 4],
    ws: &mut Workspace,
) -> f64 {
    let (n, d, h, c) = (labels.len(), w.input, w.hidden, w.classes);
    let sparse = masked_input(x, n, d, masks.input, rng, ws);
    // First layer, fused bias + ReLU + hidden dropout.
    ws.hidden.set_len_uninit(n * h); // the bias or the dense product overwrites it
    if sparse {
        fill_rows(&mut ws.hidden, w.b1);
        ws.sparse.transpose_into(&mut ws.sparse_t);
        scatter_times(&ws.sparse_t, w.w1, h, &mut ws.hidden);
    } else {
        matmul(Mat::new(&ws.dense, n, d), Mat::new(w.w1, d, h), &mut ws.hidden, false);
        add_rows(&mut ws.hidden, w.b1);
    }
    match &masks.hidden {
        Some(m) => {
            m.draw_rows(rng, n, w.units, h, &mut ws.bits);
            relu_dropout(&mut ws.hidden, &ws.bits, *m);
        }
        None => relu(&mut ws.hidden),
    }
    let logits = layer2(w, &ws.hidden, n);
    // Cross-entropy and its gradient, scaled for the batch mean.
    ws.dz2.clear();
    ws.dz2.resize(n * c, 0.0);
    let scale = weight / n as f32;
    let mut loss = 0.0f64;
    for ((row, out), &y) in logits.chunks_exact(c).zip(ws.dz2.chunks_exact_mut(c)).zip(labels) {
        loss += f64::from(crate::nn::ops::ce_grad_f32(row, y as usize, scale, out));
    }
    let [g_w1, g_b1, g_w2, g_b2] = grads;
    sum_rows_into(g_b2, &ws.dz2);
    matmul(Mat::new(&ws.hidden, n, h).t(), Mat::new(&ws.dz2, n, c), g_w2, true);
    // Back through layer 2, ReLU and dropout: d h / d z = mask scale where h > 0, else 0.
    ws.dz1.set_len_uninit(n * h); // overwritten by the product
    matmul(Mat::new(&ws.dz2, n, c), Mat::new(w.w2, h, c).t(), &mut ws.dz1, false);
    let hscale = masks.hidden.map_or(1.0, |m| m.scale());
    relu_backward(&mut ws.dz1, &ws.hidden, hscale);
    sum_rows_into(g_b1, &ws.dz1);
    if sparse {
        transposed_times(&ws.sparse_t, &ws.dz1, h, g_w1);
    } else if use_sparse(count_nonzero(&ws.dz1), n * h) {
        // Dense images (adversarial ones), sparse gradient (ReLU and hidden dropout).
        ws.sparse.reset(h);
        ws.dz1.chunks_exact(h).for_each(|row| ws.sparse.push_dense_row(row));
        ws.sparse.transpose_into(&mut ws.sparse_t);
        dense_t_times_sparse(&ws.dense, d, &ws.sparse_t, g_w1);
    } else {
        matmul(Mat::new(&ws.dense, n, d).t(), Mat::new(&ws.dz1, n, h), g_w1, true);
    }
    loss / n as f64
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
fn rmsprop_imp<const F: bool>(w: &mut [f32], g: &mut [f32], ms: &mut [f32], u: Update) -> (f64, f64) {
    #[inline(always)]
    fn one<const F: bool>(w: &mut f32, g: &mut f32, ms: &mut f32, u: Update) {
        let wi = *w;
        let sign = if wi > 0.0 {
            1.0
        } else if wi < 0.0 {
            -1.0
        } else {
            0.0
        };
        let gi = *g + u.l1 * sign + 2.0 * u.l2 * wi;
        let m = u.decay * *ms + (1.0 - u.decay) * (gi * gi);
        *ms = m;
        *w = wi - u.lr * gi / (m.sqrt() + u.eps);
        *g = 0.0;
    }
    let n = w.len().min(g.len()).min(ms.len());
    let (w, g, ms) = (&mut w[..n], &mut g[..n], &mut ms[..n]);
    let (mut abs, mut sq) = ([0.0f32; LANES], [0.0f32; LANES]);
    let mut wc = w.chunks_exact_mut(LANES);
    let mut gc = g.chunks_exact_mut(LANES);
    let mut mc = ms.chunks_exact_mut(LANES);
    for ((w, g), m) in (&mut wc).zip(&mut gc).zip(&mut mc) {
        for l in 0..LANES {
            abs[l] += w[l].abs();
            sq[l] = madd::<F>(w[l], w[l], sq[l]);
            one::<F>(&mut w[l], &mut g[l], &mut m[l], u);
        }
    }
    let mut a: f64 = abs.iter().map(|&v| f64::from(v)).sum();
    let mut s: f64 = sq.iter().map(|&v| f64::from(v)).sum();
    let rest = wc.into_remainder().iter_mut().zip(gc.into_remainder()).zip(mc.into_remainder());
    for ((w, g), m) in rest {
        a += f64::from(w.abs());
        s += f64::from(*w) * f64::from(*w);
        one::<F>(w, g, m, u);
    }
    (a, s)
}

crate::multiversion! {
    /// The penalised RMSProp step in place: `g' = g + l1·sign(w) + 2·l2·w`,
    /// `ms = decay·ms + (1 - decay)·g'²`, `w -= lr·g' / (sqrt(ms) + eps)`; then `g = 0` for
    /// the next step. Returns `(Σ|w|, Σw²)` of the weights before the step (summed in 16
    /// lanes, then in f64), so the penalty needs no pass of its own.
    pub fn rmsprop_step(w: &mut [f32], g: &mut [f32], ms: &mut [f32], u: Update) -> (f64, f64) => rmsprop_imp
}

const LANES: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Mlp, MlpConfig};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Dense images with a sparse hidden gradient (most units off) take the sparse-gradient
    /// kernel for the weight gradient; it equals `Xᵀ·dZ1` computed in f64 from the definition.
    #[test]
    fn dense_images_with_a_sparse_gradient_give_the_defined_weight_gradient() {
        let mut rng = ChaCha8Rng::seed_from_u64(21);
        let arch = MlpConfig { input: 70, hidden: 40, classes: 10, init_std: 0.3, ..MlpConfig::default() };
        let mut host = Mlp::init(arch.clone(), &mut rng).expect("init").to_host();
        host[1].iter_mut().enumerate().for_each(|(j, b)| *b = if j % 5 == 0 { 0.5 } else { -3.0 });
        let model = Mlp::from_host(arch, host.clone()).expect("model");
        let w = model.weights();
        let (n, d, h, c) = (50, 70, w.hidden, 10);
        let x: Vec<f32> = (0..n * d).map(|_| rng.gen_range(0.05f32..1.0)).collect();
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        let mut grads: [AlignedVec; 4] =
            std::array::from_fn(|k| AlignedVec::zeros(model.native_params().tensors[k].len()));
        let masks = Masks { input: None, hidden: None };
        let mut ws = Workspace::default();
        accumulate_pass(
            &w,
            Images::Dense(&x),
            &labels,
            masks,
            &mut ChaCha8Rng::seed_from_u64(1),
            0.5,
            &mut grads,
            &mut ws,
        );
        // The gradient was sparse enough for the kernel (and not trivially empty).
        let nnz = count_nonzero(&ws.dz1);
        assert!(nnz > 0 && use_sparse(nnz, n * h), "{nnz} of {}", n * h);
        let (w1, b1, w2, b2) = (&host[0], &host[1], &host[2], &host[3]); // [input, units], [units, classes]
        let units = w.units;
        let mut reference = vec![0.0f64; d * h];
        for b in 0..n {
            let xb = &x[b * d..(b + 1) * d];
            let z: Vec<f64> = (0..units)
                .map(|j| {
                    f64::from(b1[j]) + (0..d).map(|i| f64::from(w1[i * units + j]) * f64::from(xb[i])).sum::<f64>()
                })
                .collect();
            let logits: Vec<f64> = (0..c)
                .map(|k| f64::from(b2[k]) + (0..units).map(|j| z[j].max(0.0) * f64::from(w2[j * c + k])).sum::<f64>())
                .collect();
            let m = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = logits.iter().map(|l| (l - m).exp()).sum();
            let dz2: Vec<f64> = (0..c)
                .map(|k| {
                    0.5 / n as f64 * ((logits[k] - m).exp() / sum - if k == labels[b] as usize { 1.0 } else { 0.0 })
                })
                .collect();
            for j in 0..units {
                let dz1 = if z[j] > 0.0 { (0..c).map(|k| dz2[k] * f64::from(w2[j * c + k])).sum() } else { 0.0 };
                for i in 0..d {
                    reference[i * h + j] += f64::from(xb[i]) * dz1;
                }
            }
        }
        for (got, want) in grads[0].iter().zip(&reference) {
            assert!((f64::from(*got) - want).abs() < 1e-5, "{got} vs {want}");
        }
    }

    /// The pass from the training set's sparse form equals the pass from the gathered dense
    /// batch, bit for bit (same masks, same entries in the same order), with and without
    /// dropout, for a mostly-zero set (sparse kernels) and a mostly non-zero one (dense path).
    #[test]
    fn indexed_rows_give_the_same_pass_as_the_dense_batch() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let arch = MlpConfig { input: 40, hidden: 20, classes: 10, init_std: 0.3, ..MlpConfig::default() };
        let model = Mlp::init(arch, &mut rng).expect("init");
        let w = model.weights();
        let rows = [7usize, 3, 29, 3, 0, 12];
        let labels: Vec<u8> = rows.iter().map(|&r| (r % 10) as u8).collect();
        let with_dropout = Masks { input: Dropout::new(0.2), hidden: Dropout::new(0.5) };
        let without = Masks { input: None, hidden: None };
        for density in [0.15, 0.9] {
            let all: Vec<f32> = (0..30 * 40).map(|_| if rng.gen_bool(density) { rng.gen() } else { 0.0 }).collect();
            let index = SparseRows::from_dense(&all, 40);
            let indexed = Images::Rows { all: &all, index: &index, rows: &rows };
            let mut dense = Vec::new();
            indexed.gather_into(40, &mut dense);
            for masks in [with_dropout, without] {
                let run = |x: Images<'_>| {
                    let mut grads: [AlignedVec; 4] =
                        std::array::from_fn(|k| AlignedVec::zeros(model.native_params().tensors[k].len()));
                    let mut r = ChaCha8Rng::seed_from_u64(9);
                    let loss =
                        accumulate_pass(&w, x, &labels, masks, &mut r, 0.7, &mut grads, &mut Workspace::default());
                    (loss, grads, r.next_u64())
                };
                let a = run(indexed);
                assert_eq!(a, run(Images::Dense(&dense)));
                assert!(a.1[0].iter().any(|&g| g != 0.0));
            }
        }
    }
}
