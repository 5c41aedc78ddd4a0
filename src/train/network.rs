//! Training any sequential network ([`crate::model::Network`]) on the native engine: the
//! MLP's loop (seeded shuffles, mini-batches, the paper's RMSProp, L1/L2 on the weight
//! tensors, FGSM adversarial training with Goodfellow's mix `(1-a)·CE(x) + a·CE(x_adv)`),
//! with the network's own dropout layers drawing their masks from the run's RNG.

use super::trainer::{EpochStats, TrainProgress, TrainReport};
use super::TrainConfig;
use crate::error::{Error, Result};
use crate::model::{Classifier, Model, Network};
use crate::native::train::{rmsprop_step, Update};
use rand::seq::SliceRandom;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Instant;

/// Trains `cfg.network` (which must be set) on `x` (`[n, input]`) and `labels`.
pub fn train_network(
    x: &[f32],
    labels: &[u8],
    cfg: &TrainConfig,
    progress: &mut dyn FnMut(TrainProgress),
) -> Result<(Network, TrainReport)> {
    cfg.validate()?;
    crate::backend::flush_denormals();
    let arch =
        cfg.network.clone().ok_or_else(|| Error::param("--arch", "(none)", "no network architecture to train"))?;
    let d = arch.input_len();
    let classes = arch.classes();
    if x.len() != labels.len() * d || labels.is_empty() {
        return Err(Error::Shape {
            what: "training images vs labels".into(),
            expected: format!("{} labels x {d} pixels (and at least one image)", labels.len()),
            found: format!("{} pixel values", x.len()),
        });
    }
    if let Some(i) = labels.iter().position(|&y| y as usize >= classes) {
        return Err(Error::param(
            "label",
            labels[i],
            format!("at index {i} is not one of the network's {classes} classes"),
        ));
    }
    let n = cfg.train_subset.unwrap_or(labels.len()).min(labels.len());
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut net = Network::init(arch, &mut rng)?;
    let penalised: Vec<bool> = net.specs().iter().map(|s| s.name.ends_with(".weight")).collect();
    let mut mean_square: Vec<Vec<f32>> = net.params().iter().map(|p| vec![0.0; p.len()]).collect();
    let mut order: Vec<usize> = (0..n).collect();
    let batches = n.div_ceil(cfg.batch_size);
    let mut stats = Vec::with_capacity(cfg.epochs);
    let mut xb = Vec::with_capacity(cfg.batch_size * d);
    for epoch in 1..=cfg.epochs {
        let start = Instant::now();
        order.shuffle(&mut rng);
        let mut loss_sum = 0.0;
        for (b, idx) in order.chunks(cfg.batch_size).enumerate() {
            let yb: Vec<u8> = idx.iter().map(|&i| labels[i]).collect();
            xb.clear();
            for &i in idx {
                xb.extend_from_slice(&x[i * d..(i + 1) * d]);
            }
            // Adversarial examples of the current network, in eval mode (one FGSM step).
            let x_adv = cfg.adv.as_ref().map(|adv| adv.craft(&net, &xb, &yb, &mut rng));
            let mut grads: Vec<Vec<f32>> = net.params().iter().map(|p| vec![0.0; p.len()]).collect();
            let mut loss = match (&cfg.adv, &x_adv) {
                (Some(adv), Some(xa)) => {
                    let a = adv.weight;
                    (1.0 - a) * pass(&net, &xb, &yb, 1.0 - a, &mut grads, &mut rng)
                        + a * pass(&net, xa, &yb, a, &mut grads, &mut rng)
                }
                _ => pass(&net, &xb, &yb, 1.0, &mut grads, &mut rng),
            };
            if loss.is_finite() {
                let lr = cfg.lr_at(epoch);
                for (k, (p, g)) in net.params_mut().iter_mut().zip(grads.iter_mut()).enumerate() {
                    let u = Update {
                        lr: lr as f32,
                        decay: cfg.rms_decay as f32,
                        eps: cfg.rms_eps as f32,
                        l1: if penalised[k] { cfg.l1 as f32 } else { 0.0 },
                        l2: if penalised[k] { cfg.l2 as f32 } else { 0.0 },
                    };
                    let (abs, sq) = rmsprop_step(p, g, &mut mean_square[k], u);
                    if penalised[k] {
                        loss += cfg.l1 * abs + cfg.l2 * sq;
                    }
                }
            }
            if !loss.is_finite() || net.params().iter().flatten().any(|v| !v.is_finite()) {
                return Err(cfg.diverged(loss, epoch, b + 1));
            }
            loss_sum += loss;
            progress(TrainProgress { epoch, epochs: cfg.epochs, batch: b + 1, batches, loss });
        }
        stats.push(EpochStats { epoch, mean_loss: loss_sum / batches as f64, seconds: start.elapsed().as_secs_f64() });
    }
    Ok((net, TrainReport { config: cfg.clone(), epochs: stats, train_images: n }))
}

/// One training-mode pass: the batch's mean cross-entropy, its gradient times `weight`
/// added to `grads`.
fn pass(net: &Network, x: &[f32], y: &[u8], weight: f64, grads: &mut [Vec<f32>], rng: &mut dyn RngCore) -> f64 {
    let n = y.len();
    let t = net.forward_train(x, n, Some(rng));
    let (dl, losses) = crate::nn::ops::ce_grad_exact_rows(t.logits(), y, net.num_classes());
    let scale = weight / n as f64;
    let cot: Vec<f32> = dl.iter().map(|v| (v * scale) as f32).collect();
    let (_, g) = net.backward(&t, &cot, true, false);
    for (acc, g) in grads.iter_mut().zip(g) {
        acc.iter_mut().zip(g).for_each(|(a, v)| *a += v);
    }
    losses.iter().map(|&l| f64::from(l)).sum::<f64>() / n as f64
}

/// Trains whatever `cfg` describes: a network when `cfg.network` is set, else the paper's MLP.
pub fn train_any(
    x: &[f32],
    labels: &[u8],
    cfg: &TrainConfig,
    progress: &mut dyn FnMut(TrainProgress),
) -> Result<(Model, TrainReport)> {
    match cfg.network {
        Some(_) => {
            let (net, report) = train_network(x, labels, cfg, progress)?;
            Ok((Model::Network(net), report))
        }
        None => {
            let (mlp, report) = super::trainer::train(x, labels, cfg, progress)?;
            Ok((Model::Mlp(mlp), report))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attack::{Attack, Goal, Pgd};
    use crate::model::arch::Arch;

    /// Synthetic two-class images (a bright left or right half) a small CNN learns: the loss
    /// falls, the training set is fitted, the same seed gives the same parameters, and FGSM
    /// adversarial training raises the accuracy and lowers the loss under FGSM.
    #[test]
    fn a_small_cnn_learns_and_adversarial_training_helps() {
        let (n, side) = (256, 8);
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        let mut x = Vec::with_capacity(n * side * side);
        let mut y = Vec::with_capacity(n);
        for i in 0..n {
            let class = (i % 2) as u8;
            for _ in 0..side {
                for c in 0..side {
                    let bright = (c < side / 2) == (class == 0);
                    let base: f32 = if bright { 0.65 } else { 0.35 };
                    x.push((base + rand::Rng::gen_range(&mut rng, -0.2f32..0.2)).clamp(0.0, 1.0));
                }
            }
            y.push(class);
        }
        let mut arch = Arch::builtin("small-cnn", [1, side, side], 2, &[]).expect("arch");
        arch.layers.insert(7, crate::model::arch::Layer::Dropout { p: 0.2 });
        let cfg = TrainConfig { network: Some(arch), epochs: 12, batch_size: 32, lr: 0.003, ..TrainConfig::default() };
        let (net, report) = train_network(&x, &y, &cfg, &mut |_| {}).expect("train");
        let losses = report.epoch_losses();
        assert!(losses[losses.len() - 1] < 0.5 * losses[0], "losses {losses:?}");
        let acc = |m: &Network, xs: &[f32]| {
            let l = m.logits_host(xs, n);
            l.chunks_exact(2).zip(&y).filter(|(r, &t)| (r[1] > r[0]) == (t == 1)).count() as f64 / n as f64
        };
        assert!(acc(&net, &x) > 0.95, "train accuracy {}", acc(&net, &x));
        let (again, _) = train_network(&x, &y, &cfg, &mut |_| {}).expect("train");
        assert_eq!(again.params(), net.params(), "same seed, same parameters");
        // Accuracy and mean cross-entropy on FGSM examples of the model itself.
        let under_fgsm = |m: &Network| {
            let mut no_rng = rand::rngs::mock::StepRng::new(0, 0);
            let adv = Pgd::fgsm()
                .run_multi(m, &x, Goal::Untargeted(&y), &[0.12], crate::attack::ClipMode::Clipped, &mut no_rng)
                .pop()
                .expect("one budget");
            let (_, loss) = crate::nn::ops::ce_grad_exact_rows(&m.logits_host(&adv, n), &y, 2);
            (acc(m, &adv), loss.iter().map(|&l| f64::from(l)).sum::<f64>() / n as f64)
        };
        let adv_cfg = TrainConfig {
            adv: Some(crate::train::AdvTraining {
                eps: 0.12,
                weight: 0.5,
                clip: crate::attack::ClipMode::Clipped,
                random_start: false,
                steps: 1,
            }),
            ..cfg.clone()
        };
        let (robust, _) = train_network(&x, &y, &adv_cfg, &mut |_| {}).expect("adversarial training");
        // Wong et al.'s random start: other training examples, the same ones for the same seed.
        let fast_cfg = TrainConfig {
            adv: adv_cfg.adv.clone().map(|a| crate::train::AdvTraining { random_start: true, ..a }),
            ..adv_cfg.clone()
        };
        let (fast, _) = train_network(&x, &y, &fast_cfg, &mut |_| {}).expect("fast adversarial training");
        let (fast2, _) = train_network(&x, &y, &fast_cfg, &mut |_| {}).expect("fast adversarial training");
        assert_eq!(fast.params(), fast2.params(), "same seed, same parameters");
        assert_ne!(fast.params(), robust.params(), "the random start changes the training examples");
        // Madry et al.'s PGD training: reproducible, other examples than FGSM's, and more
        // accurate than the undefended model under PGD itself.
        let pgd_cfg = TrainConfig {
            adv: adv_cfg.adv.clone().map(|a| crate::train::AdvTraining { steps: 5, ..a }),
            ..adv_cfg.clone()
        };
        let (pgd, _) = train_network(&x, &y, &pgd_cfg, &mut |_| {}).expect("PGD training");
        let (pgd2, _) = train_network(&x, &y, &pgd_cfg, &mut |_| {}).expect("PGD training");
        assert_eq!(pgd.params(), pgd2.params(), "same seed, same parameters");
        assert_ne!(pgd.params(), robust.params(), "PGD crafts other examples than FGSM");
        // Accuracy and mean cross-entropy on PGD-10 examples of the model itself.
        let under_pgd = |m: &Network| {
            let mut r = ChaCha8Rng::seed_from_u64(3);
            let adv = Pgd::madry(10, 1)
                .run_multi(m, &x, Goal::Untargeted(&y), &[0.12], crate::attack::ClipMode::Clipped, &mut r)
                .pop()
                .expect("one budget");
            let (_, loss) = crate::nn::ops::ce_grad_exact_rows(&m.logits_host(&adv, n), &y, 2);
            (acc(m, &adv), loss.iter().map(|&l| f64::from(l)).sum::<f64>() / n as f64)
        };
        let (plain_pgd, defended_pgd) = (under_pgd(&net), under_pgd(&pgd));
        assert!(
            defended_pgd.0 >= plain_pgd.0 && defended_pgd.1 < 0.7 * plain_pgd.1,
            "under PGD-10 (accuracy, loss): plain {plain_pgd:?}, PGD-trained {defended_pgd:?}"
        );
        let (plain, defended) = (under_fgsm(&net), under_fgsm(&robust));
        assert!(
            defended.0 > plain.0 && defended.1 < 0.7 * plain.1,
            "under FGSM (accuracy, loss): plain {plain:?}, adversarially trained {defended:?}"
        );
    }
}

#[cfg(test)]
mod burn_step {
    use super::*;
    use crate::backend::{tensor2, to_host};
    use crate::model::arch::Arch;
    use crate::train::rmsprop::RmsProp;
    use burn::tensor::Tensor;
    use rand::Rng;

    /// One training step of every built-in architecture, native against burn: the mean
    /// cross-entropy's parameter gradients (native backward against burn's autodiff through
    /// its conv2d, max_pool2d and matmul) and the parameters after one RMSProp update (the
    /// native fused step against the burn-tensor one of the paper's MLP engine).
    #[test]
    fn one_training_step_matches_burn_on_every_builtin() {
        let mut rng = ChaCha8Rng::seed_from_u64(21);
        let arches = [
            Arch::builtin("small-cnn", [1, 12, 12], 5, &[]).expect("small-cnn"),
            Arch::builtin("madry-cnn", [1, 12, 12], 5, &[]).expect("madry-cnn"),
            Arch::builtin("mlp", [1, 6, 6], 4, &[7, 5]).expect("mlp"),
        ];
        for arch in arches {
            let net = Network::init(arch, &mut rng).expect("init");
            let (n, d, c) = (6, net.input_dim(), net.num_classes());
            let x: Vec<f32> = (0..n * d).map(|_| rng.gen_range(0.0..1.0)).collect();
            let y: Vec<u8> = (0..n).map(|_| rng.gen_range(0..c as u8)).collect();
            // Native: the training loop's own pass.
            let mut grads: Vec<Vec<f32>> = net.params().iter().map(|p| vec![0.0; p.len()]).collect();
            pass(&net, &x, &y, 1.0, &mut grads, &mut ChaCha8Rng::seed_from_u64(0));
            // burn: autodiff of the mean cross-entropy over the reference graph.
            let p: Vec<Tensor<1>> = net.tensors().into_iter().map(|t| t.autodiff().require_grad()).collect();
            let logits = net.logits_with(tensor2(x.clone(), n, d).autodiff(), &p);
            let onehot = crate::model::reference::one_hot(&y, c).autodiff();
            let loss = -(burn::tensor::activation::log_softmax(logits, 1) * onehot).sum() / n as f32;
            let g = loss.backward();
            let summary = net.arch().summary();
            let mut opt = RmsProp::new(1e-3, 0.9, 1e-6, p.len());
            for (k, (pt, native_g)) in p.iter().zip(&grads).enumerate() {
                let name = &net.specs()[k].name;
                let burn_g = to_host(pt.grad(&g).unwrap_or_else(|| panic!("{summary}: no gradient for {name}")));
                for (a, b) in native_g.iter().zip(&burn_g) {
                    assert!((a - b).abs() <= 1e-5 + 1e-4 * b.abs(), "{summary} {name}: native {a} vs burn {b}");
                }
                // One RMSProp step each way, from the same gradient values.
                let len = native_g.len();
                let mut native_p = net.params()[k].clone();
                let (mut ng, mut ms) = (burn_g.clone(), vec![0.0f32; len]);
                let u = Update { lr: 1e-3, decay: 0.9, eps: 1e-6, l1: 0.0, l2: 0.0 };
                rmsprop_step(&mut native_p, &mut ng, &mut ms, u);
                let mut burn_p = tensor2(net.params()[k].clone(), 1, len);
                opt.step(k, &mut burn_p, tensor2(burn_g, 1, len));
                for (a, b) in native_p.iter().zip(to_host(burn_p)) {
                    assert!((a - b).abs() <= 1e-6 * (1.0 + b.abs()), "{summary} {name} after RMSProp: {a} vs {b}");
                }
            }
        }
    }
}
