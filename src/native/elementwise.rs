//! Element-wise loops of the forward and backward passes (bias, ReLU, dropout, masks).
//!
//! Each runs once per layer and batch over `[batch, hidden]` values; [`multiversion!`]
//! (crate::multiversion) compiles them for AVX-512/AVX2 so they vectorise to full width.

use crate::nn::dropout::Dropout;

#[inline(always)]
fn add_rows_imp<const F: bool>(out: &mut [f32], bias: &[f32]) {
    for row in out.chunks_exact_mut(bias.len().max(1)) {
        row.iter_mut().zip(bias).for_each(|(o, b)| *o += b);
    }
}

crate::multiversion! {
    /// Adds `bias` to every row of `out` (`[rows, bias.len()]`).
    pub fn add_rows(out: &mut [f32], bias: &[f32]) => add_rows_imp
}

#[inline(always)]
fn sum_rows_into_imp<const F: bool>(acc: &mut [f32], rows: &[f32]) {
    for row in rows.chunks_exact(acc.len().max(1)) {
        acc.iter_mut().zip(row).for_each(|(a, v)| *a += v);
    }
}

crate::multiversion! {
    /// Adds every row of `rows` (`[n, acc.len()]`) to `acc`, in row order (bias gradients).
    pub fn sum_rows_into(acc: &mut [f32], rows: &[f32]) => sum_rows_into_imp
}

#[inline(always)]
fn relu_imp<const F: bool>(v: &mut [f32]) {
    v.iter_mut().for_each(|x| *x = x.max(0.0));
}

crate::multiversion! {
    /// `v = max(v, 0)` in place.
    pub fn relu(v: &mut [f32]) => relu_imp
}

#[inline(always)]
fn relu_dropout_imp<const F: bool>(v: &mut [f32], bits: &[u32], m: Dropout) {
    let scale = m.scale();
    v.iter_mut().zip(bits).for_each(|(x, &b)| *x = if m.keeps(b) { x.max(0.0) * scale } else { 0.0 });
}

crate::multiversion! {
    /// ReLU then inverted dropout with one draw per value: `v = keep ? max(v, 0)·scale : 0`.
    pub fn relu_dropout(v: &mut [f32], bits: &[u32], m: Dropout) => relu_dropout_imp
}

#[inline(always)]
fn dropout_into_imp<const F: bool>(out: &mut [f32], x: &[f32], bits: &[u32], m: Dropout) {
    let scale = m.scale();
    out.iter_mut().zip(x).zip(bits).for_each(|((o, &v), &b)| *o = if m.keeps(b) { v * scale } else { 0.0 });
}

crate::multiversion! {
    /// `out = keep ? x·scale : 0` with one draw per value.
    pub fn dropout_into(out: &mut [f32], x: &[f32], bits: &[u32], m: Dropout) => dropout_into_imp
}

#[inline(always)]
fn relu_backward_imp<const F: bool>(g: &mut [f32], act: &[f32], scale: f32) {
    g.iter_mut().zip(act).for_each(|(g, &a)| *g = if a > 0.0 { *g * scale } else { 0.0 });
}

crate::multiversion! {
    /// Back through ReLU (and dropout's scale): `g = act > 0 ? g·scale : 0`, where `act` is the
    /// layer's output (0 wherever ReLU or dropout zeroed it).
    pub fn relu_backward(g: &mut [f32], act: &[f32], scale: f32) => relu_backward_imp
}

#[inline(always)]
fn count_nonzero_imp<const F: bool>(x: &[f32]) -> usize {
    x.iter().filter(|v| **v != 0.0).count()
}

crate::multiversion! {
    /// Number of values that are not exactly zero.
    pub fn count_nonzero(x: &[f32]) -> usize => count_nonzero_imp
}

pub use crate::nn::dropout::{splitmix64, splitmix_at, splitmix_bits, splitmix_rows};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn element_wise_kernels_match_their_definitions() {
        let v: Vec<f32> = (0..37).map(|i| (i as f32 - 18.0) * 0.5).collect();
        let mut r = v.clone();
        relu(&mut r);
        assert!(r.iter().zip(&v).all(|(a, b)| *a == b.max(0.0)));
        assert_eq!(count_nonzero(&v), 36);
        let m = Dropout::new(0.5).expect("p > 0");
        let bits: Vec<u32> = (0..37u32).map(|i| i.wrapping_mul(0x9E37_79B9)).collect();
        let mut d = v.clone();
        relu_dropout(&mut d, &bits, m);
        let mut o = vec![0.0; 37];
        dropout_into(&mut o, &v, &bits, m);
        for i in 0..37 {
            let keep = m.keeps(bits[i]);
            assert_eq!(d[i], if keep { v[i].max(0.0) * 2.0 } else { 0.0 });
            assert_eq!(o[i], if keep { v[i] * 2.0 } else { 0.0 });
        }
        assert!(bits.iter().any(|&b| m.keeps(b)) && bits.iter().any(|&b| !m.keeps(b)));
        let mut g = vec![1.0f32; 37];
        relu_backward(&mut g, &d, 2.0);
        assert!(g.iter().zip(&d).all(|(g, a)| *g == if *a > 0.0 { 2.0 } else { 0.0 }));
        let mut rows = vec![1.0f32; 6];
        add_rows(&mut rows, &[1.0, 2.0, 3.0]);
        assert_eq!(rows, [2.0, 3.0, 4.0, 2.0, 3.0, 4.0]);
        let mut acc = vec![0.5f32; 3];
        sum_rows_into(&mut acc, &rows);
        assert_eq!(acc, [4.5, 6.5, 8.5]);
    }

    #[test]
    fn splitmix_bits_follow_the_reference_generator() {
        // SplitMix64 seeded with 1234567: its published first outputs.
        let mut state = 1_234_567u64;
        let mut next = || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        let first = next();
        assert_eq!(first, 6_457_827_717_110_365_317);
        let mut out = vec![0u32; 100];
        splitmix_bits(&mut out, 1_234_567);
        assert_eq!(out[0], (first >> 32) as u32);
        assert_eq!(out[1], (next() >> 32) as u32);
        assert_eq!(out[99], (splitmix64(1_234_567, 99) >> 32) as u32);
        // Roughly uniform: about half the values have the top bit set.
        let mut many = vec![0u32; 10_000];
        splitmix_bits(&mut many, 42);
        let high = many.iter().filter(|&&v| v >= 1 << 31).count();
        assert!((4800..5200).contains(&high), "{high}");
        // Chosen positions: the same values as the whole stream.
        let mut at = vec![0u32; 3];
        splitmix_at(&mut at, 1_234_567, 90, &[0, 3, 9]);
        assert_eq!(at, [out[90], out[93], out[99]]);
        // Padded rows: the same stream as the unpadded layout, zeros in the padding.
        let mut flat = vec![0u32; 3 * 5];
        splitmix_bits(&mut flat, 9);
        let mut rows = vec![7u32; 3 * 8];
        splitmix_rows(&mut rows, 9, 5, 8);
        for r in 0..3 {
            assert_eq!(&rows[r * 8..r * 8 + 5], &flat[r * 5..r * 5 + 5]);
            assert_eq!(&rows[r * 8 + 5..r * 8 + 8], &[0, 0, 0]);
        }
    }
}
