//! Blue-team tests: RMSProp step, L1/L2 gradient, training determinism, model files.

mod common;

use common::{random_batch, small_model};
use redblue::attack::ClipMode;
use redblue::backend::{tensor2, to_host};
use redblue::model::{file, MlpConfig};
use redblue::train::{
    self, penalty::weight_penalty, rmsprop::RmsProp, AdvTraining, CertMethod, CertTraining, TrainConfig,
};

#[test]
fn rmsprop_two_steps_match_hand_computation() {
    let (lr, decay, eps) = (0.001f64, 0.9f64, 1e-6f64);
    let mut opt = RmsProp::new(lr, decay, eps, 1);
    let w0 = [1.0f64, -2.0, 0.0];
    let grads = [[0.5f64, -0.1, 0.0], [0.2, 0.3, 1e-3]];
    let mut p = tensor2(w0.iter().map(|&v| v as f32).collect(), 1, 3);
    let (mut w, mut ms) = (w0, [0.0f64; 3]);
    for g in grads {
        opt.step(0, &mut p, tensor2(g.iter().map(|&v| v as f32).collect(), 1, 3));
        for i in 0..3 {
            ms[i] = decay * ms[i] + (1.0 - decay) * g[i] * g[i];
            w[i] -= lr * g[i] / (ms[i].sqrt() + eps);
        }
    }
    let got = to_host(p);
    for i in 0..3 {
        assert!((got[i] as f64 - w[i]).abs() < 1e-6, "param {i}: {} vs hand {}", got[i], w[i]);
    }
    // First step of the first coordinate is lr * g / (sqrt(0.1 g^2) + eps) ~= lr * sqrt(10).
    assert!((w0[0] - w[0]) > 0.0);
}

#[test]
fn l1_l2_penalty_value_and_gradient() {
    let vals = vec![0.5f32, -1.5, 2.0, -0.25];
    let w = tensor2(vals.clone(), 2, 2).autodiff().require_grad();
    let (l1, l2) = (0.01, 0.001);
    let p = weight_penalty(&[&w], l1, l2).expect("non-zero penalty");
    let grads = p.backward();
    let value = to_host(p.without_autodiff())[0] as f64;
    let hand: f64 = vals.iter().map(|&v| l1 * (v as f64).abs() + l2 * (v as f64).powi(2)).sum();
    assert!((value - hand).abs() < 1e-6, "{value} vs {hand}");
    let g = to_host(w.grad(&grads).expect("gradient"));
    for (gi, &v) in g.iter().zip(&vals) {
        let expect = l1 * (v as f64).signum() + 2.0 * l2 * v as f64;
        assert!((*gi as f64 - expect).abs() < 1e-6, "{gi} vs {expect}");
    }
    assert!(weight_penalty(&[&w], 0.0, 0.0).is_none());
}

fn tiny_config(seed: u64) -> TrainConfig {
    TrainConfig {
        arch: MlpConfig { input: 16, hidden: 12, classes: 4, ..MlpConfig::default() },
        epochs: 3,
        batch_size: 32,
        lr: 0.01,
        l1: 1e-4,
        l2: 1e-4,
        seed,
        ..TrainConfig::default()
    }
}

/// A learnable synthetic task: the label is the index of the brightest of 4 pixel groups.
fn learnable(n: usize, seed: u64) -> (Vec<f32>, Vec<u8>) {
    let (x, _) = random_batch(n, 16, 4, seed);
    let y = x
        .chunks(16)
        .map(|img| {
            let sums: Vec<f32> = img.chunks(4).map(|g| g.iter().sum()).collect();
            redblue::attack::pgd::argmax(&sums) as u8
        })
        .collect();
    (x, y)
}

#[test]
fn training_is_deterministic_and_learns() {
    let (x, y) = learnable(400, 1);
    let cfg = TrainConfig { epochs: 20, ..tiny_config(7) };
    let (m1, r1) = train::train(&x, &y, &cfg, &mut |_| {}).expect("train");
    let (m2, r2) = train::train(&x, &y, &cfg, &mut |_| {}).expect("train");
    let (m3, _) = train::train(&x, &y, &tiny_config(8), &mut |_| {}).expect("train");
    assert_eq!(m1.to_host(), m2.to_host(), "same seed must give bit-identical weights");
    assert_ne!(m1.to_host(), m3.to_host(), "another seed must give other weights");
    let losses: Vec<f64> = r1.epochs.iter().map(|e| e.mean_loss).collect();
    assert_eq!(losses, r2.epochs.iter().map(|e| e.mean_loss).collect::<Vec<_>>());
    assert!(losses[19] < losses[0], "loss did not fall: {losses:?}");
    let acc = redblue::eval::evaluate(&m1, &x, &y, 100).expect("eval").accuracy;
    assert!(acc > 0.8, "train accuracy {acc}");
}

#[test]
fn adversarial_training_runs_the_hook_and_changes_the_model() {
    let (x, y) = learnable(200, 2);
    let plain = tiny_config(3);
    let adv = TrainConfig {
        adv: Some(AdvTraining { eps: 0.1, weight: 0.5, clip: ClipMode::Clipped, random_start: false, steps: 1 }),
        ..tiny_config(3)
    };
    let (m_plain, _) = train::train(&x, &y, &plain, &mut |_| {}).expect("train");
    let (m_adv, _) = train::train(&x, &y, &adv, &mut |_| {}).expect("train");
    assert_ne!(m_plain.to_host(), m_adv.to_host());
}

/// A task with room for a robust classifier: the label's group of 4 pixels is bright (in
/// [0.5, 1]), the others dark (in [0, 0.5]).
fn separable(n: usize, seed: u64) -> (Vec<f32>, Vec<u8>) {
    let (noise, _) = random_batch(n, 16, 4, seed);
    let y: Vec<u8> = (0..n).map(|i| (i * 7 % 4) as u8).collect();
    let x = noise
        .chunks(16)
        .zip(&y)
        .flat_map(|(img, &label)| {
            img.iter().enumerate().map(move |(p, &v)| if p / 4 == label as usize { 0.5 + 0.5 * v } else { 0.5 * v })
        })
        .collect();
    (x, y)
}

fn ibp(eps: f64) -> CertTraining {
    CertTraining { method: CertMethod::Ibp, eps, kappa: 0.5, warmup_epochs: 1.0, ramp_epochs: 10.0 }
}

/// The blue team that trains on the bound wins certificates the plain one does not: at the
/// training budget its IBP and CROWN verified accuracies beat the plain model's (same data,
/// seed, epochs), its clean accuracy stays useful, and the run is reproducible.
#[test]
fn certified_training_buys_verified_accuracy() {
    use redblue::certify::{verified_accuracy, Method};
    let (x, y) = separable(600, 4);
    let plain =
        TrainConfig { epochs: 25, arch: MlpConfig { dropout_input: 0.0, ..tiny_config(5).arch }, ..tiny_config(5) };
    let cert = TrainConfig { certified: Some(ibp(0.15)), ..plain.clone() };
    let (m_plain, _) = train::train(&x, &y, &plain, &mut |_| {}).expect("train");
    let (m_cert, r_cert) = train::train(&x, &y, &cert, &mut |_| {}).expect("train");
    let (m_again, r_again) = train::train(&x, &y, &cert, &mut |_| {}).expect("train");
    assert_eq!(m_cert.to_host(), m_again.to_host(), "certified training must be reproducible");
    assert_eq!(r_cert.epoch_losses(), r_again.epoch_losses());
    assert_eq!(r_cert.config.certified, Some(ibp(0.15)), "the report records the settings");
    let eps = 0.12;
    for method in [Method::Ibp, Method::Crown] {
        let v_plain = verified_accuracy(&m_plain, &x, &y, eps, Some((0.0, 1.0)), method);
        let v_cert = verified_accuracy(&m_cert, &x, &y, eps, Some((0.0, 1.0)), method);
        assert!(v_cert > v_plain + 0.15, "{method:?}: certified {v_cert} vs plain {v_plain}");
    }
    let clean = redblue::eval::evaluate(&m_cert, &x, &y, 100).expect("eval").accuracy;
    assert!(clean > 0.7, "clean accuracy {clean}");
}

#[test]
fn learning_rate_drops_apply_after_their_epochs() {
    let cfg = TrainConfig { lr: 0.01, lr_drops: vec![2, 4], lr_drop_factor: 0.5, epochs: 6, ..tiny_config(0) };
    let lrs: Vec<f64> = (1..=6).map(|e| cfg.lr_at(e)).collect();
    assert_eq!(lrs, vec![0.01, 0.01, 0.005, 0.005, 0.0025, 0.0025]);
    // The schedule changes the run from its first drop on, not before.
    let (x, y) = learnable(200, 6);
    let (_, with) = train::train(&x, &y, &cfg, &mut |_| {}).expect("train");
    let (_, without) =
        train::train(&x, &y, &TrainConfig { lr_drops: vec![], ..cfg.clone() }, &mut |_| {}).expect("train");
    let (a, b) = (with.epoch_losses(), without.epoch_losses());
    assert_eq!(a[..2], b[..2]);
    assert_ne!(a[2..], b[2..]);
    for bad in [vec![0], vec![3, 2], vec![6]] {
        let c = TrainConfig { lr_drops: bad.clone(), ..cfg.clone() };
        let err = train::train(&x, &y, &c, &mut |_| {}).expect_err("bad drops");
        assert!(err.to_string().contains("--lr-drops"), "{bad:?}: {err}");
    }
    let c = TrainConfig { lr_drop_factor: 0.0, ..cfg.clone() };
    assert!(train::train(&x, &y, &c, &mut |_| {}).is_err());
}

#[test]
fn impossible_hyper_parameters_are_rejected() {
    let (x, y) = learnable(10, 3);
    let cases: Vec<(&str, TrainConfig)> = vec![
        ("batch-size", TrainConfig { batch_size: 0, ..tiny_config(0) }),
        ("epochs", TrainConfig { epochs: 0, ..tiny_config(0) }),
        ("lr", TrainConfig { lr: f64::NAN, ..tiny_config(0) }),
        ("l1", TrainConfig { l1: -1.0, ..tiny_config(0) }),
        (
            "dropout-hidden",
            TrainConfig { arch: MlpConfig { dropout_hidden: 1.0, ..tiny_config(0).arch }, ..tiny_config(0) },
        ),
        (
            "adv-eps",
            TrainConfig {
                adv: Some(AdvTraining {
                    eps: -0.1,
                    weight: 0.5,
                    clip: ClipMode::Clipped,
                    random_start: false,
                    steps: 1,
                }),
                ..tiny_config(0)
            },
        ),
        ("--cert-eps", TrainConfig { certified: Some(ibp(f64::NAN)), epochs: 20, ..tiny_config(0) }),
        (
            "--cert-kappa",
            TrainConfig { certified: Some(CertTraining { kappa: -0.5, ..ibp(0.1) }), epochs: 20, ..tiny_config(0) },
        ),
        ("--cert-warmup + --cert-ramp", TrainConfig { certified: Some(ibp(0.1)), ..tiny_config(0) }),
        (
            "--certified",
            TrainConfig {
                certified: Some(ibp(0.1)),
                adv: Some(AdvTraining {
                    eps: 0.1,
                    weight: 0.5,
                    clip: ClipMode::Clipped,
                    random_start: false,
                    steps: 1,
                }),
                epochs: 20,
                ..tiny_config(0)
            },
        ),
        (
            "--certified",
            TrainConfig {
                certified: Some(ibp(0.1)),
                engine: redblue::model::Engine::Burn,
                epochs: 20,
                ..tiny_config(0)
            },
        ),
    ];
    for (name, cfg) in cases {
        let err = train::train(&x, &y, &cfg, &mut |_| {}).expect_err(name);
        assert!(err.to_string().contains(name), "{name}: {err}");
    }
    let err = train::train(&x[..20], &y, &tiny_config(0), &mut |_| {}).expect_err("shape");
    assert!(err.to_string().contains("shape mismatch"), "{err}");
}

#[test]
fn model_file_round_trip_in_pytorch_layout() {
    let model = small_model(4);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("m.safetensors");
    let meta = serde_json::json!({"seed": 4});
    file::save(&model, &meta, &path).expect("save");
    let (back, info) = file::load(&path).expect("load");
    assert_eq!(back.config, model.config);
    assert_eq!(back.to_host(), model.to_host());
    assert_eq!(info.train, meta);
    assert_eq!(info.sha256.len(), 64);
    // PyTorch layout: fc1.weight is [hidden, input] and equals the transpose of burn's w1.
    let bytes = std::fs::read(&path).expect("read");
    let st = safetensors::SafeTensors::deserialize(&bytes).expect("safetensors");
    let fc1 = st.tensor("fc1.weight").expect("fc1.weight");
    assert_eq!(fc1.shape(), &[12, 16]);
    let first = f32::from_le_bytes(fc1.data()[4..8].try_into().expect("4 bytes"));
    assert_eq!(first, model.to_host()[0][12], "fc1.weight[0][1] must be w1[1][0]");
    assert_eq!(st.tensor("fc2.bias").expect("fc2.bias").shape(), &[4]);
}

#[test]
fn model_file_errors_are_specific() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nope.safetensors");
    assert!(file::load(&missing).expect_err("missing").to_string().contains("nope.safetensors"));
    let junk = dir.path().join("junk.safetensors");
    std::fs::write(&junk, b"not a model").expect("write");
    let e = file::load(&junk).expect_err("junk").to_string();
    assert!(e.contains("junk.safetensors") && e.contains("not a safetensors file"), "{e}");
    // Shape mismatch: an architecture claiming hidden 12 but a tensor of another shape.
    let model = small_model(5);
    let good = file::to_bytes(&model, &serde_json::Value::Null).expect("bytes");
    let st = safetensors::SafeTensors::deserialize(&good).expect("st");
    let mut tensors: Vec<(String, safetensors::tensor::TensorView)> = Vec::new();
    let short = vec![0u8; 4 * 11];
    for name in file::NAMES {
        let t = st.tensor(name).expect("tensor");
        let view = if name == "fc1.bias" {
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![11], &short).expect("view")
        } else {
            t
        };
        tensors.push((name.to_string(), view));
    }
    let (_, header) = safetensors::SafeTensors::read_metadata(&good).expect("meta");
    let bad = safetensors::serialize(tensors, header.metadata()).expect("serialize");
    let path = dir.path().join("bad.safetensors");
    std::fs::write(&path, bad).expect("write");
    let msg = file::load(&path).expect_err("shape").to_string();
    assert!(msg.contains("fc1.bias") && msg.contains("[12]") && msg.contains("[11]"), "{msg}");
}

/// Issue 3 regression: the paper's RMSProp decays L2-only weights to ~1e-38, and denormal
/// products then slowed attacks ~8x; every compute entry point flushes them to zero.
#[test]
fn denormals_are_flushed_to_zero_issue_3() {
    redblue::backend::flush_denormals();
    let a = tensor2(vec![3.4e-38, 1.0], 1, 2);
    let b = tensor2(vec![1e-3, 2.0], 1, 2);
    let p = to_host(a * b);
    if cfg!(target_arch = "x86_64") {
        assert_eq!(p[0], 0.0, "a denormal product must be flushed to zero");
    }
    assert_eq!(p[1], 2.0);
}
