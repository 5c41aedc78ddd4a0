//! Scalar and row operations on logits and gradients.
//!
//! Cross-entropy has two logit gradients here. [`ce_grad_exact`] is the stable form attacks
//! use: for `j != y` `p_j`, and for the true class `p_y - 1 = -sum_{j != y} p_j`, in f64, so a
//! confidently classified image (whose `p_y` rounds to 1 in f32) keeps its true-class term and
//! with it the sign of its input gradient. [`ce_grad_f32`] is `softmax - onehot` in f32, what
//! deep-learning frameworks compute; training uses it (its weight gradients are sums over a
//! batch, dominated by the examples that are not yet confidently right), and it stays the
//! "float32 framework" variant the reproduction reports beside the exact one.

/// sign(x) with sign(0) = 0, as torch.sign and numpy.sign.
pub fn sign(x: f32) -> f32 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// Index of the largest value (first one on ties).
pub fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, v) in row.iter().enumerate() {
        if *v > row[best] {
            best = i;
        }
    }
    best
}

/// Log-sum-exp of a logits row in f32, computed stably.
pub fn log_sum_exp(row: &[f32]) -> f32 {
    let m = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    if !m.is_finite() {
        return m;
    }
    m + row.iter().map(|&v| (v - m).exp()).sum::<f32>().ln()
}

/// Cross-entropy of one logits row for class `label`, in f64.
pub fn cross_entropy(row: &[f32], label: usize) -> f64 {
    let m = f64::from(row.iter().copied().fold(f32::NEG_INFINITY, f32::max));
    let lse = m + row.iter().map(|&v| (f64::from(v) - m).exp()).sum::<f64>().ln();
    lse - f64::from(row[label])
}

/// Cross-entropy of the f64 logits `z` for class `y`, with its stable logit gradient
/// (`p_j` for `j != y`, `-sum_{j != y} p_j` for `y`) written into `g`.
pub fn ce_grad_exact(z: &[f64], y: usize, g: &mut [f64]) -> f64 {
    ce_grad_exact_with(z.len(), |j| z[j], y, g)
}

/// [`ce_grad_exact`] over logits `z(0..c)` (f64 logits or f32 ones widened), one pass order.
fn ce_grad_exact_with(c: usize, z: impl Fn(usize) -> f64, y: usize, g: &mut [f64]) -> f64 {
    let m = (0..c).map(&z).fold(f64::NEG_INFINITY, f64::max);
    let mut sum = 0.0;
    for (j, gj) in g.iter_mut().enumerate().take(c) {
        *gj = (z(j) - m).exp();
        sum += *gj;
    }
    let mut others = 0.0;
    for (j, gj) in g.iter_mut().enumerate() {
        if j != y {
            *gj /= sum;
            others += *gj;
        }
    }
    g[y] = -others;
    m + sum.ln() - z(y)
}

/// [`ce_grad_exact`] of an f32 logits row, the gradient written into `out` in f64.
pub fn ce_grad_exact_row(row: &[f32], y: usize, out: &mut [f64]) -> f64 {
    ce_grad_exact_with(row.len(), |j| f64::from(row[j]), y, out)
}

/// [`ce_grad_exact_row`] for every row of `logits` (`[labels.len(), c]`): the f64 logit
/// gradients and the per-example losses.
pub fn ce_grad_exact_rows(logits: &[f32], labels: &[u8], c: usize) -> (Vec<f64>, Vec<f32>) {
    let mut dz = vec![0.0f64; labels.len() * c];
    let loss = logits
        .chunks_exact(c)
        .zip(dz.chunks_exact_mut(c))
        .zip(labels)
        .map(|((row, out), &y)| ce_grad_exact_row(row, usize::from(y), out) as f32)
        .collect();
    (dz, loss)
}

/// Rows `rows` of `src` (rows of `width` values), one after another, into `out`.
pub fn gather_rows(src: &[f32], width: usize, rows: &[usize], out: &mut Vec<f32>) {
    out.clear();
    for &r in rows {
        out.extend_from_slice(&src[r * width..(r + 1) * width]);
    }
}

/// The consecutive rows of `src` (rows of `width` values) written to rows `rows` of `dst`:
/// the inverse of [`gather_rows`].
pub fn scatter_rows(src: &[f32], width: usize, rows: &[usize], dst: &mut [f32]) {
    for (&r, row) in rows.iter().zip(src.chunks_exact(width)) {
        dst[r * width..(r + 1) * width].copy_from_slice(row);
    }
}

/// Keeps the rows `r` of `v` (rows of `width` values) with `keep[r]`, in order, in place.
pub fn retain_rows<T: Copy>(v: &mut Vec<T>, width: usize, keep: &[bool]) {
    let kept = compact_rows(v, width, keep);
    v.truncate(kept * width);
}

/// Moves the rows `r` of `v` (`[rows, width]`) with `keep[r]` to the front, in order, and
/// returns how many there are (the rest of `v` is left unspecified).
pub fn compact_rows<T: Copy>(v: &mut [T], width: usize, keep: &[bool]) -> usize {
    let mut kept = 0;
    for (r, _) in keep.iter().enumerate().filter(|(_, &k)| k) {
        if kept != r {
            v.copy_within(r * width..(r + 1) * width, kept * width);
        }
        kept += 1;
    }
    kept
}

/// `scale * (softmax(row) - onehot(label))` in f32 into `out` (the frameworks' gradient);
/// returns the cross-entropy.
pub fn ce_grad_f32(row: &[f32], label: usize, scale: f32, out: &mut [f32]) -> f32 {
    let lse = log_sum_exp(row);
    for (j, (o, &z)) in out.iter_mut().zip(row).enumerate() {
        let p = (z - lse).exp();
        *o = scale * (p - if j == label { 1.0 } else { 0.0 });
    }
    lse - row[label]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_gradient_keeps_the_true_class_term_that_f32_rounds_away() {
        // p_y rounds to 1 in f32: softmax - onehot gives exactly 0 for the true class.
        let row = [30.0f32, 0.0, -1.0];
        let mut f = [0.0f32; 3];
        ce_grad_f32(&row, 0, 1.0, &mut f);
        assert_eq!(f[0], 0.0);
        let mut g = [0.0f64; 3];
        ce_grad_exact_row(&row, 0, &mut g);
        let want = -((-30.0f64).exp() + (-31.0f64).exp()) / (1.0 + (-30.0f64).exp() + (-31.0f64).exp());
        assert!((g[0] - want).abs() < 1e-25 && g[0] < 0.0, "{g:?}");
        assert!((g.iter().sum::<f64>()).abs() < 1e-25);
    }

    #[test]
    fn retain_rows_keeps_the_marked_rows_in_order() {
        let mut v: Vec<u32> = (0..12).collect();
        retain_rows(&mut v, 3, &[false, true, false, true]);
        assert_eq!(v, vec![3, 4, 5, 9, 10, 11]);
        retain_rows(&mut v, 3, &[true, false]);
        assert_eq!(v, vec![3, 4, 5]);
        retain_rows(&mut v, 3, &[false]);
        assert!(v.is_empty());
    }

    #[test]
    fn small_ops() {
        assert_eq!([sign(-2.0), sign(0.0), sign(3.0)], [-1.0, 0.0, 1.0]);
        assert_eq!(argmax(&[1.0, 3.0, 3.0, 0.0]), 1);
        assert!((cross_entropy(&[0.0, 0.0], 1) - 2f64.ln()).abs() < 1e-12);
        assert!((f64::from(log_sum_exp(&[0.0, 0.0])) - 2f64.ln()).abs() < 1e-6);
    }
}
