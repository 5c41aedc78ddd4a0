//! One optimisation step of the MLP, by either engine.
//!
//! Both engines compute the same step: the penalised batch loss
//! `(1-a)·CE(x) + a·CE(x_adv) + l1·Σ|w| + l2·Σw²` (just `CE(x)` without adversarial training),
//! its gradient with fresh dropout masks (input then hidden, per pass, from the run's RNG), and
//! the paper's RMSProp update. The burn step is the reference; a test checks they agree.
//! Certified training (native only) mixes in the bound's loss, `κ·CE(x) + (1-κ)·CE(worst)`
//! ([`super::certified`]).

use super::certified::{accumulate_certified, BoundWorkspace, Schedule};
use super::{penalty::weight_penalty, rmsprop::RmsProp, TrainConfig};
use crate::attack::gradient::one_hot;
use crate::backend::{tensor2, to_host};
use crate::model::mlp::{Dropout, WEIGHT_PARAMS};
use crate::model::{Engine, Mlp};
use crate::native::aligned::AlignedVec;
use crate::native::images::Images;
use crate::native::train::{accumulate_pass, rmsprop_step, Masks, Update, Workspace};
use burn::tensor::{activation::log_softmax, Tensor};
use rand::RngCore;

/// Optimiser state of either engine.
pub enum Stepper {
    /// burn autodiff + tensor RMSProp.
    Burn(RmsProp),
    /// Native kernels: mean squares, gradient buffers and scratch space.
    Native(Box<NativeState>),
}

/// State of the native engine.
pub struct NativeState {
    mean_square: [AlignedVec; 4],
    grads: [AlignedVec; 4],
    ws: Workspace,
    bounds: BoundWorkspace,
}

/// A batch to learn from: the clean images and, with adversarial training, the crafted ones.
pub struct Batch<'a> {
    /// Clean images `[n, input]`.
    pub x: Images<'a>,
    /// Labels.
    pub y: &'a [u8],
    /// Adversarial images of the current model and their weight `a`.
    pub adv: Option<(&'a [f32], f64)>,
    /// The learning rate of this step ([`TrainConfig::lr_at`]).
    pub lr: f64,
    /// Certified training: this step's schedule and the clean images as one dense block.
    pub cert: Option<(Schedule, &'a [f32])>,
}

impl Stepper {
    /// Fresh optimiser state for `model` under `cfg`.
    pub fn new(cfg: &TrainConfig, model: &Mlp) -> Self {
        match cfg.engine {
            Engine::Burn => Stepper::Burn(RmsProp::new(cfg.lr, cfg.rms_decay, cfg.rms_eps, 4)),
            Engine::Native => {
                // In the native layout (hidden padded): the padding's gradients stay 0.
                let p = model.native_params();
                let zeros = || -> [AlignedVec; 4] { std::array::from_fn(|k| AlignedVec::zeros(p.tensors[k].len())) };
                Stepper::Native(Box::new(NativeState {
                    mean_square: zeros(),
                    grads: zeros(),
                    ws: Workspace::default(),
                    bounds: BoundWorkspace::default(),
                }))
            }
        }
    }

    /// One step on `batch`; returns the penalised loss before the update.
    pub fn step(&mut self, cfg: &TrainConfig, model: &mut Mlp, batch: &Batch<'_>, rng: &mut dyn RngCore) -> f64 {
        match self {
            Stepper::Burn(opt) => burn_step(cfg, model, batch, opt, rng),
            Stepper::Native(state) => native_step(cfg, model, batch, state, rng),
        }
    }
}

/// Mean cross-entropy of a logits batch against labels, in the autodiff graph.
fn mean_ce(logits: Tensor<2>, labels: &[u8], classes: usize) -> Tensor<1> {
    (log_softmax(logits, 1) * one_hot(labels, classes)).sum().mul_scalar(-1.0 / labels.len() as f64)
}

fn burn_step(cfg: &TrainConfig, model: &mut Mlp, b: &Batch<'_>, opt: &mut RmsProp, rng: &mut dyn RngCore) -> f64 {
    opt.lr = b.lr;
    let (n, d, arch) = (b.y.len(), cfg.arch.input, &cfg.arch);
    let tracked: Vec<Tensor<2>> = model.tensors().into_iter().map(|p| p.autodiff().require_grad()).collect();
    let mut ce_of = |xs: &[f32]| {
        let im = Mlp::dropout_mask(n, d, arch.dropout_input, rng);
        let hm = Mlp::dropout_mask(n, arch.hidden, arch.dropout_hidden, rng);
        let logits = Mlp::forward_with(&tracked, tensor2(xs.to_vec(), n, d), im, hm);
        mean_ce(logits, b.y, arch.classes)
    };
    let mut clean_x = Vec::new();
    b.x.gather_into(d, &mut clean_x);
    let mut loss = match b.adv {
        Some((xa, a)) => {
            let clean = ce_of(&clean_x).mul_scalar(1.0 - a);
            clean + ce_of(xa).mul_scalar(a)
        }
        None => ce_of(&clean_x),
    };
    let weights: Vec<&Tensor<2>> = WEIGHT_PARAMS.iter().map(|&k| &tracked[k]).collect();
    if let Some(p) = weight_penalty(&weights, cfg.l1, cfg.l2) {
        loss = loss + p;
    }
    let grads = loss.backward();
    let value = f64::from(to_host(loss.without_autodiff())[0]);
    let mut params = model.tensors();
    for (k, t) in tracked.iter().enumerate() {
        if let Some(g) = t.grad(&grads) {
            opt.step(k, &mut params[k], g);
        }
    }
    let host: [Vec<f32>; 4] = std::array::from_fn(|k| to_host(params[k].clone()));
    model.set_host(&host);
    value
}

fn native_step(cfg: &TrainConfig, model: &mut Mlp, b: &Batch<'_>, st: &mut NativeState, rng: &mut dyn RngCore) -> f64 {
    crate::backend::flush_denormals();
    let masks = Masks { input: Dropout::new(cfg.arch.dropout_input), hidden: Dropout::new(cfg.arch.dropout_hidden) };
    // The gradient buffers are zero here: fresh, or cleared by the previous step's update.
    let w = model.weights();
    let mut loss = match b.adv {
        Some((xa, a)) => {
            let clean = accumulate_pass(&w, b.x, b.y, masks, rng, (1.0 - a) as f32, &mut st.grads, &mut st.ws);
            let adv = accumulate_pass(&w, Images::Dense(xa), b.y, masks, rng, a as f32, &mut st.grads, &mut st.ws);
            (1.0 - a) * clean + a * adv
        }
        None => match b.cert {
            // kappa·CE(clean) + (1-kappa)·CE(worst case of the bound); the warm-up is clean only.
            Some((sch, dense)) if sch.kappa < 1.0 => {
                let k = sch.kappa;
                let clean = accumulate_pass(&w, b.x, b.y, masks, rng, k as f32, &mut st.grads, &mut st.ws);
                let bound = accumulate_certified(&w, dense, b.y, sch, (1.0 - k) as f32, &mut st.grads, &mut st.bounds);
                k * clean + (1.0 - k) * bound
            }
            _ => accumulate_pass(&w, b.x, b.y, masks, rng, 1.0, &mut st.grads, &mut st.ws),
        },
    };
    if !loss.is_finite() {
        return loss;
    }
    for (k, p) in model.native_params_mut().tensors.iter_mut().enumerate() {
        let penalised = WEIGHT_PARAMS.contains(&k);
        let u = Update {
            lr: b.lr as f32,
            decay: cfg.rms_decay as f32,
            eps: cfg.rms_eps as f32,
            l1: if penalised { cfg.l1 as f32 } else { 0.0 },
            l2: if penalised { cfg.l2 as f32 } else { 0.0 },
        };
        // The penalty of the weights before this update, as the burn path adds it to the loss.
        let (abs, sq) = rmsprop_step(p, &mut st.grads[k], &mut st.mean_square[k], u);
        if penalised {
            loss += cfg.l1 * abs + cfg.l2 * sq;
        }
    }
    loss
}
