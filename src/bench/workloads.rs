//! The timed workloads, each on the real data it is given.

use super::{flops, median, time_runs, WorkloadResult};
use crate::attack::{ClipMode, Pgd};
use crate::error::Result;
use crate::eval::{self, SweepConfig};
use crate::model::Mlp;
use crate::train::{self, TrainConfig};

fn result(name: &str, description: &str, runs: Vec<f64>, samples: usize, gflop: f64) -> WorkloadResult {
    let m = median(&runs);
    WorkloadResult {
        name: name.into(),
        description: description.into(),
        runs,
        median_s: m,
        samples,
        samples_per_s: samples as f64 / m,
        gflop,
        gflops: gflop / m,
        peak_rss_mib: super::peak_rss_mib(),
    }
}

/// W1: one training epoch of the paper MLP (784-625-10, dropout 0.2/0.5, batch 128, RMSProp).
pub fn w1(x: &[f32], y: &[u8], runs: usize) -> Result<WorkloadResult> {
    let cfg = TrainConfig { epochs: 1, ..TrainConfig::default() };
    let t = time_runs(runs, || train::train(x, y, &cfg, &mut |_| {}).map(|_| ()))?;
    let a = &cfg.arch;
    let gflop = y.len() as f64 * flops::train_step(a.input, a.hidden, a.classes) / 1e9;
    Ok(result("w1", "one training epoch, paper MLP, batch 128, RMSProp", t, y.len(), gflop))
}

/// W4: 50 training batches (batch 128, RMSProp, lr 0.001) of `madry-cnn` (conv 5x5x32, max-pool
/// 2, conv 5x5x64, max-pool 2, fc 1024, fc 10) on the first 6400 training images.
pub fn w4(x: &[f32], y: &[u8], (rows, cols): (usize, usize), runs: usize) -> Result<WorkloadResult> {
    let arch = crate::model::Arch::builtin("madry-cnn", [1, rows, cols], 10, &[])?;
    let n = (50 * 128).min(y.len());
    let cfg = TrainConfig { epochs: 1, network: Some(arch), train_subset: Some(n), ..TrainConfig::default() };
    let t = time_runs(runs, || train::train_network(x, y, &cfg, &mut |_| {}).map(|_| ()))?;
    // Forward multiply-adds per image: conv1 32·25·784, conv2 64·800·196, fc1 1024·3136,
    // fc2 10·1024; training is about three times the forward pass, 2 flops per multiply-add.
    let fwd = (32.0 * 25.0 * 784.0 + 64.0 * 800.0 * 196.0 + 1024.0 * 3136.0 + 10.0 * 1024.0) * 2.0;
    Ok(result("w4", "50 training batches of madry-cnn, batch 128, RMSProp", t, n, n as f64 * 3.0 * fwd / 1e9))
}

/// W2: FGSM at the paper's four eps over the given test images, plus clean evaluation.
pub fn w2(model: &Mlp, x: &[f32], y: &[u8], runs: usize) -> Result<WorkloadResult> {
    let cfg = SweepConfig { eps: vec![0.05, 0.075, 0.10, 0.25], clip: ClipMode::Clipped, batch_size: 1000, seed: 0 };
    let t = time_runs(runs, || eval::sweep(model, &Pgd::fgsm(), x, y, &cfg, &mut |_, _| {}).map(|_| ()))?;
    let c = &model.config;
    // One input gradient, then 5 forward passes (clean + 4 eps) per image.
    let per = flops::input_gradient(c.input, c.hidden, c.classes) + 5.0 * flops::forward(c.input, c.hidden, c.classes);
    Ok(result("w2", "FGSM at eps 0.05/0.075/0.1/0.25 + evaluation", t, y.len(), y.len() as f64 * per / 1e9))
}

/// W3: PGD-40 (random start) at eps 0.1 over the given images, plus evaluation.
pub fn w3(model: &Mlp, x: &[f32], y: &[u8], runs: usize) -> Result<WorkloadResult> {
    let cfg = SweepConfig { eps: vec![0.10], clip: ClipMode::Clipped, batch_size: 250, seed: 0 };
    let pgd = Pgd::madry(40, 1);
    let t = time_runs(runs, || eval::sweep(model, &pgd, x, y, &cfg, &mut |_, _| {}).map(|_| ()))?;
    let c = &model.config;
    let per =
        40.0 * flops::input_gradient(c.input, c.hidden, c.classes) + 2.0 * flops::forward(c.input, c.hidden, c.classes);
    Ok(result("w3", "PGD-40 (random start) at eps 0.1 + evaluation", t, y.len(), y.len() as f64 * per / 1e9))
}

/// W10 (IBP), W11 (CROWN) and W12 (alpha-CROWN): margin lower bounds of the given test images
/// at L-inf eps 0.02 (the certified judge's bounds, [`crate::certify`]).
pub fn certify(
    model: &Mlp,
    x: &[f32],
    y: &[u8],
    runs: usize,
    method: crate::certify::Method,
) -> Result<WorkloadResult> {
    use crate::certify::{margin_lower_bounds, Method};
    let bd = Some((0.0f32, 1.0f32));
    let t = time_runs(runs, || {
        let b = margin_lower_bounds(model, x, y, 0.02, bd, method);
        if b.len() == y.len() * model.config.classes {
            Ok(())
        } else {
            Err(crate::error::Error::param("bounds", b.len(), "one bound per image and class"))
        }
    })?;
    let (d, h, c) = (model.config.input as f64, model.config.hidden as f64, model.config.classes as f64);
    // IBP: the first layer's two products (2dh each) and the output layer; CROWN adds the
    // back-substitution W1·A (2dhc).
    // alpha-CROWN: CROWN's product again for the tuned slopes, and two products (2dhc each)
    // per search step.
    let per = 4.0 * d * h
        + 4.0 * h * c
        + match method {
            Method::Ibp => 0.0,
            Method::Crown => 2.0 * d * h * c,
            Method::AlphaCrown => (4.0 + 4.0 * crate::certify::bounds::ALPHA_STEPS as f64) * d * h * c,
        };
    let (name, what) = match method {
        Method::Ibp => ("w10", "IBP margin bounds at eps 0.02"),
        Method::Crown => ("w11", "CROWN margin bounds at eps 0.02"),
        Method::AlphaCrown => ("w12", "alpha-CROWN margin bounds at eps 0.02"),
    };
    Ok(result(name, what, t, y.len(), y.len() as f64 * per / 1e9))
}
