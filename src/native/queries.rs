//! Logits of a score-based attack's candidates: each candidate changes a few pixels of its
//! example's current best point (Square Attack's window), so its first-layer pre-activations
//! are the best point's plus `(x_cand - x_best)·W1` over the changed pixels, with the sparse
//! kernel, instead of a dense `x_cand·W1`. For a 784-625-10 MLP and a 5x5 window that is 25
//! of the 784 weight rows per query.
//!
//! As in [`super::path`], the update is exact in real arithmetic and differs from a fresh
//! product by rounding only; a base point reached through [`REFRESH`] accepted updates is
//! recomputed from its pixels at its next query, and each candidate's choice (update or fresh
//! product) depends on that candidate alone, so results do not depend on the batch.

use super::aligned::AlignedVec;
use super::elementwise::relu;
use super::mlp::{layer1, layer2, Weights};
use super::path::{RowSource, RowUpdate, REFRESH};
use super::sparse::SparseRows;
use crate::model::Changes;

/// Base points, their pre-activations, and the last call's candidates.
#[derive(Debug, Default)]
pub struct QueryPath {
    base: Vec<f32>,
    z1: AlignedVec,
    age: Vec<u16>,
    last: Changes,
    cand_z1: AlignedVec,
    hidden: AlignedVec,
    cand_fresh: Vec<bool>,
    update: RowUpdate,
}

/// Candidates as changes of their base rows, for [`RowUpdate::run`].
struct ChangeRows<'a> {
    cand: &'a Changes,
    base: &'a [f32],
    d: usize,
}

impl RowSource for ChangeRows<'_> {
    fn push_change(&self, k: usize, rows: &mut SparseRows) -> usize {
        let (pixels, values) = self.cand.entries(k);
        let base = &self.base[self.cand.row(k) * self.d..(self.cand.row(k) + 1) * self.d];
        let mut count = 0;
        for (&p, &v) in pixels.iter().zip(values) {
            let Some(&b) = base.get(p as usize) else { continue };
            if v != b {
                rows.push(p, v - b);
                count += 1;
            }
        }
        rows.end_row();
        count
    }
    fn write_row(&self, k: usize, out: &mut [f32]) {
        let r = self.cand.row(k);
        out.copy_from_slice(&self.base[r * self.d..(r + 1) * self.d]);
        self.cand.apply(k, out);
    }
}

impl QueryPath {
    /// Sets the base points (`[n, input]`) and returns their logits.
    pub fn reset(&mut self, w: &Weights<'_>, base: &[f32], n: usize) -> Vec<f32> {
        self.base.clear();
        self.base.extend_from_slice(&base[..n * w.input]);
        layer1(w, &self.base, n, &mut self.z1);
        self.age.clear();
        self.age.resize(n, 0);
        self.last.clear();
        let mut hidden = self.z1.clone();
        relu(&mut hidden);
        layer2(w, &hidden, n)
    }

    /// Logits of the candidates `cand`, each a change of its base row.
    pub fn logits(&mut self, w: &Weights<'_>, cand: &Changes) -> Vec<f32> {
        let (d, h, m) = (w.input, w.hidden, cand.len());
        self.cand_z1.set_len_uninit(m * h); // every row is written below
        for k in 0..m {
            let r = cand.row(k);
            self.cand_z1[k * h..(k + 1) * h].copy_from_slice(&self.z1[r * h..(r + 1) * h]);
        }
        let age = &self.age;
        let src = ChangeRows { cand, base: &self.base, d };
        let fresh = self.update.run(w, &src, m, |k| age[cand.row(k)] < REFRESH, &mut self.cand_z1);
        self.cand_fresh.clear();
        self.cand_fresh.resize(m, false);
        fresh.iter().for_each(|&k| self.cand_fresh[k] = true);
        self.last.clone_from(cand);
        self.hidden.set_len_uninit(m * h);
        self.hidden.copy_from_slice(&self.cand_z1);
        relu(&mut self.hidden);
        layer2(w, &self.hidden, m)
    }

    /// Makes candidate `k` of the last [`QueryPath::logits`] call its row's base point.
    pub fn accept(&mut self, w: &Weights<'_>, k: usize) {
        let (d, h) = (w.input, w.hidden);
        if k >= self.last.len() {
            return;
        }
        let r = self.last.row(k);
        self.last.apply(k, &mut self.base[r * d..(r + 1) * d]);
        self.z1[r * h..(r + 1) * h].copy_from_slice(&self.cand_z1[k * h..(k + 1) * h]);
        self.age[r] = if self.cand_fresh[k] { 0 } else { self.age[r] + 1 };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Mlp, MlpConfig};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Candidates that change a small window (and sometimes every pixel) of their base point,
    /// some accepted, past several refreshes: every logit equals a fresh forward pass's within
    /// float rounding, and most candidates took the sparse update.
    #[test]
    fn candidate_logits_match_fresh_ones() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let arch = MlpConfig { input: 100, hidden: 40, classes: 10, init_std: 0.3, ..MlpConfig::default() };
        let model = Mlp::init(arch, &mut rng).expect("init");
        let w = model.weights();
        let n = 140; // more than one group
        let mut base: Vec<f32> = (0..n * 100).map(|_| rng.gen()).collect();
        let mut q = QueryPath::default();
        let l0 = q.reset(&w, &base, n);
        let fresh = |x: &[f32], m: usize| crate::native::mlp::forward(&w, x, m).logits;
        let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-4 * (1.0 + y.abs()));
        assert!(close(&l0, &fresh(&base, n)));
        let (mut updates, mut calls) = (0usize, 0usize);
        for step in 0..(3 * REFRESH as usize) {
            let rows: Vec<usize> = (0..n).filter(|&i| (i + step) % 3 != 0).collect();
            let (mut cand, mut changes) = (Vec::new(), Changes::default());
            for &r in &rows {
                let mut img = base[r * 100..(r + 1) * 100].to_vec();
                changes.begin(r);
                let (a, b) = if step % 11 == 7 {
                    (0, 100)
                } else {
                    let a = rng.gen_range(0..95);
                    (a, a + 5)
                };
                for (p, px) in img.iter_mut().enumerate().take(b).skip(a) {
                    // Some pixels "change" to their own value.
                    if p % 4 != 0 {
                        *px = rng.gen();
                    }
                    changes.set(p, *px);
                }
                cand.extend_from_slice(&img);
            }
            let logits = q.logits(&w, &changes);
            assert!(close(&logits, &fresh(&cand, rows.len())), "step {step}");
            updates += q.cand_fresh.iter().filter(|f| !**f).count();
            calls += rows.len();
            for (k, &r) in rows.iter().enumerate() {
                if rng.gen_bool(0.7) {
                    q.accept(&w, k);
                    base[r * 100..(r + 1) * 100].copy_from_slice(&cand[k * 100..(k + 1) * 100]);
                }
            }
        }
        assert!(updates > calls / 2 && updates < calls, "{updates} sparse updates of {calls}");
        assert!(q.age.iter().all(|&a| a <= REFRESH));
    }
}
