//! The native engine against the burn reference: logits, input gradients and training steps
//! must agree within float tolerance (issue #4: the burn path stays the reference).

mod common;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use redblue::attack::ClipMode;
use redblue::model::{Classifier, Engine, Mlp, MlpConfig};
use redblue::nn::Precision;
use redblue::train::{self, AdvTraining, TrainConfig};

/// Hidden width 100 = one block of 64, two of 16 and 4 single columns in the sparse kernels.
fn arch() -> MlpConfig {
    MlpConfig { input: 90, hidden: 100, classes: 10, init_std: 0.2, ..MlpConfig::default() }
}

/// `n` images: even rows MNIST-like (about 80% exactly 0), odd rows dense (every pixel > 0).
fn mixed_batch(n: usize, d: usize, seed: u64) -> (Vec<f32>, Vec<u8>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut x = Vec::with_capacity(n * d);
    for r in 0..n {
        for _ in 0..d {
            let v: f32 = rng.gen();
            x.push(if r % 2 == 1 {
                v.max(0.01)
            } else if rng.gen_bool(0.2) {
                v
            } else {
                0.0
            });
        }
    }
    (x, (0..n).map(|_| rng.gen_range(0..10)).collect())
}

fn max_rel_diff(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(1e-6f64, |m, v| m.max(f64::from(v.abs())));
    a.iter().zip(b).map(|(x, y)| f64::from((x - y).abs())).fold(0.0, f64::max) / scale
}

#[test]
fn native_logits_and_input_gradient_match_burn() {
    let burn = Mlp::init(arch(), &mut ChaCha8Rng::seed_from_u64(3)).expect("init").with_engine(Engine::Burn);
    let native = burn.clone().with_engine(Engine::Native);
    // 300 images: more than one 128-row group of the sparse kernel.
    let (x, y) = mixed_batch(300, 90, 4);
    let (lb, ln) = (burn.logits_host(&x, 300), native.logits_host(&x, 300));
    assert!(max_rel_diff(&ln, &lb) < 1e-5, "logits differ by {}", max_rel_diff(&ln, &lb));
    // Both precisions: the frameworks' float32 computation against burn's autodiff, and the
    // exact one (stable logit gradient, f64 products) against burn's VJP of the stable gradient.
    for p in [Precision::Float32, Precision::Exact] {
        let (gb, gn) = (burn.input_gradient(&x, &y, p), native.input_gradient(&x, &y, p));
        assert!(
            max_rel_diff(&gn.grad, &gb.grad) < 1e-5,
            "{p:?}: gradients differ by {}",
            max_rel_diff(&gn.grad, &gb.grad)
        );
        assert!(max_rel_diff(&gn.loss, &gb.loss) < 1e-5, "{p:?}: losses differ");
        assert_eq!(gn.logits, ln, "{p:?}");
    }
    let (gb, gn) = (burn.input_gradient(&x, &y, Precision::Float32), native.input_gradient(&x, &y, Precision::Exact));
    // The gradient's logits are the forward pass's, bit for bit, in both engines (the sweep
    // takes its clean row from them).
    assert_eq!(gn.logits, ln);
    assert_eq!(gb.logits, lb);
    // The gradient is not trivially small, so the comparison means something.
    assert!(gb.grad.iter().filter(|g| g.abs() > 1e-3).count() > x.len() / 2);
}

#[test]
fn native_logits_of_an_image_do_not_depend_on_its_batch() {
    let m = Mlp::init(arch(), &mut ChaCha8Rng::seed_from_u64(5)).expect("init");
    let (x, _) = mixed_batch(260, 90, 6);
    let all = m.logits_host(&x, 260);
    for r in [0usize, 1, 130, 259] {
        let one = m.logits_host(&x[r * 90..(r + 1) * 90], 1);
        assert_eq!(one[..], all[r * 10..(r + 1) * 10], "image {r}");
    }
}

fn config(engine: Engine, adv: bool) -> TrainConfig {
    TrainConfig {
        arch: arch(),
        epochs: 2,
        batch_size: 32,
        lr: 0.002,
        l1: 1e-4,
        l2: 1e-3,
        adv: adv.then_some(AdvTraining {
            eps: 0.1,
            weight: 0.5,
            clip: ClipMode::Clipped,
            random_start: false,
            steps: 1,
        }),
        seed: 11,
        engine,
        ..TrainConfig::default()
    }
}

/// Trains with both engines from the same seed (same initialisation, shuffles and dropout
/// draws) and compares losses and weights.
fn engines_agree(adv: bool) {
    let (x, _) = mixed_batch(96, 90, 12);
    // Labels the model can learn: the brightest of the first 10 pixels.
    let y: Vec<u8> = x.chunks(90).map(|img| redblue::attack::pgd::argmax(&img[..10]) as u8).collect();
    let (mb, rb) = train::train(&x, &y, &config(Engine::Burn, adv), &mut |_| {}).expect("burn");
    let (mn, rn) = train::train(&x, &y, &config(Engine::Native, adv), &mut |_| {}).expect("native");
    for (eb, en) in rb.epochs.iter().zip(&rn.epochs) {
        let rel = (eb.mean_loss - en.mean_loss).abs() / eb.mean_loss;
        assert!(rel < 1e-4, "epoch losses {} (burn) vs {} (native)", eb.mean_loss, en.mean_loss);
    }
    let (pb, pn) = (mb.to_host(), mn.to_host());
    let init = Mlp::init(arch(), &mut ChaCha8Rng::seed_from_u64(11)).expect("init").to_host();
    for k in 0..4 {
        let moved = pb[k].iter().zip(&init[k]).filter(|(a, b)| (*a - *b).abs() > 1e-3).count();
        assert!(moved * 2 > pb[k].len(), "parameter {k}: training must move most values ({moved})");
        let off = pb[k].iter().zip(&pn[k]).filter(|(a, b)| (*a - *b).abs() > 1e-5).count();
        assert!(off * 1000 <= pb[k].len(), "parameter {k}: {off} of {} values differ", pb[k].len());
    }
}

#[test]
fn native_training_matches_burn_reference() {
    engines_agree(false);
}

#[test]
fn native_adversarial_training_matches_burn_reference() {
    engines_agree(true);
}

/// The model contract for attacks (forward pass + vector-Jacobian product w.r.t. the input):
/// the native engine against burn's autodiff for an arbitrary cotangent, and every loss's
/// input gradient against central finite differences of that loss through the model.
#[test]
fn forward_vjp_matches_burn_and_every_loss_gradient_matches_finite_differences() {
    use redblue::attack::{gradient::loss_gradient, Loss};
    let burn = Mlp::init(arch(), &mut ChaCha8Rng::seed_from_u64(5)).expect("init").with_engine(Engine::Burn);
    let native = burn.clone().with_engine(Engine::Native);
    let (x, _) = mixed_batch(130, 90, 6);
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let cot: Vec<f32> = (0..130 * 10).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let (lb, gb) = burn.forward_vjp(&x, 130, &mut |_| cot.clone());
    let (ln, gn) = native.forward_vjp(&x, 130, &mut |_| cot.clone());
    assert_eq!(ln, native.logits_host(&x, 130), "the VJP's logits are the forward pass's");
    assert!(max_rel_diff(&ln, &lb) < 1e-5);
    assert!(max_rel_diff(&gn, &gb) < 1e-5, "VJPs differ by {}", max_rel_diff(&gn, &gb));
    assert!(gb.iter().filter(|g| g.abs() > 1e-3).count() > x.len() / 2, "the VJP is not trivially small");

    // Cross-entropy through the VJP equals the fused cross-entropy gradient.
    let (x, y) = mixed_batch(12, 90, 8);
    let fused = native.input_gradient(&x, &y, Precision::Exact);
    let via = loss_gradient(&native, &x, &y, None, Loss::Ce);
    assert!(max_rel_diff(&via.grad, &fused.grad) < 1e-4, "{}", max_rel_diff(&via.grad, &fused.grad));
    assert!(max_rel_diff(&via.loss, &fused.loss) < 1e-5);

    // Finite differences (in f64 around f32 inputs) for each loss, on a few pixels per image.
    let targets: Vec<u8> = y.iter().map(|&l| (l + 1) % 10).collect();
    for loss in [Loss::Ce, Loss::Cw, Loss::Dlr, Loss::DlrTargeted] {
        let g = loss_gradient(&burn, &x, &y, Some(&targets), loss);
        let mut checked = 0;
        for i in 0..12 {
            for p in [3usize, 17, 45, 88] {
                let at = |d: f32| {
                    let mut xi = x[i * 90..(i + 1) * 90].to_vec();
                    xi[p] += d;
                    loss_gradient(&burn, &xi, &y[i..=i], Some(&targets[i..=i]), loss).loss[0]
                };
                let h = 1e-2f32;
                let fd = (at(h) - at(-h)) / (2.0 * h);
                let an = g.grad[i * 90 + p];
                // ReLU kinks and DLR's sorting make a few points non-smooth; allow none to be
                // far off and require most to match closely.
                if (fd - an).abs() <= 2e-2 * (1.0 + fd.abs()) {
                    checked += 1;
                }
            }
        }
        assert!(checked >= 44, "{}: only {checked} of 48 finite differences match", loss.name());
    }
}
