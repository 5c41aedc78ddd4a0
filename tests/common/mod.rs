//! Shared helpers for integration tests: small synthetic models and inputs.
#![allow(dead_code)]

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use redblue::model::{Mlp, MlpConfig};

/// A small random MLP (input 16, hidden 12, 4 classes) with weights large enough that
/// gradients are far from zero.
pub fn small_model(seed: u64) -> Mlp {
    let cfg = MlpConfig { input: 16, hidden: 12, classes: 4, init_std: 0.5, ..MlpConfig::default() };
    Mlp::init(cfg, &mut ChaCha8Rng::seed_from_u64(seed)).expect("valid test config")
}

/// `n` random images in [0, 1] of `d` pixels, some exactly 0 or 1, and labels < classes.
pub fn random_batch(n: usize, d: usize, classes: u8, seed: u64) -> (Vec<f32>, Vec<u8>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x = (0..n * d)
        .map(|_| match rng.gen_range(0..4) {
            0 => 0.0,
            1 => 1.0,
            _ => rng.gen::<f32>(),
        })
        .collect();
    let y = (0..n).map(|_| rng.gen_range(0..classes)).collect();
    (x, y)
}
