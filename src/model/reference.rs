//! burn's autodiff as the reference implementation of the model contract: logits, input
//! gradients and vector-Jacobian products of any [`Classifier`] through
//! [`Classifier::logits`]. These are the defaults of the trait's methods and what every
//! native kernel is tested against.

use super::{Classifier, InputGradient};
use crate::backend::{device, tensor2, to_host};
use crate::nn::Precision;
use burn::tensor::{activation::log_softmax, Tensor, TensorData};

/// One-hot float matrix `[n, classes]` for the given labels.
pub fn one_hot(labels: &[u8], classes: usize) -> Tensor<2> {
    let mut data = vec![0.0f32; labels.len() * classes];
    for (i, &y) in labels.iter().enumerate() {
        data[i * classes + y as usize] = 1.0;
    }
    Tensor::<2>::from_data(TensorData::new(data, [labels.len(), classes]), &device())
}

/// What [`Classifier::input_gradient`] does unless a model knows better: burn's autodiff for
/// [`Precision::Float32`], the stable cross-entropy gradient through the model's
/// vector-Jacobian product for [`Precision::Exact`].
pub fn default_input_gradient<C: Classifier + ?Sized>(
    model: &C,
    x: &[f32],
    labels: &[u8],
    precision: Precision,
) -> InputGradient {
    match precision {
        Precision::Float32 => reference_input_gradient(model, x, labels),
        Precision::Exact => {
            let c = model.num_classes();
            let mut loss = Vec::new();
            let (logits, grad) = model.forward_vjp(x, labels.len(), &mut |logits: &[f32]| {
                let (dl, l) = crate::nn::ops::ce_grad_exact_rows(logits, labels, c);
                loss = l;
                dl.into_iter().map(|v| v as f32).collect()
            });
            InputGradient { grad, loss, logits }
        }
    }
}

/// [`Classifier::input_gradient`] computed by burn's autodiff through [`Classifier::logits`].
pub fn reference_input_gradient<C: Classifier + ?Sized>(model: &C, x: &[f32], labels: &[u8]) -> InputGradient {
    crate::backend::flush_denormals();
    let n = labels.len();
    let d = model.input_dim();
    let xt = tensor2(x.to_vec(), n, d).autodiff().require_grad();
    let logits = model.logits(xt.clone());
    let logits_value = to_host(logits.clone().without_autodiff());
    let per_example = (log_softmax(logits, 1) * one_hot(labels, model.num_classes())).sum_dim(1).neg();
    let grads = per_example.clone().sum().backward();
    let grad = match xt.grad(&grads) {
        Some(g) => to_host(g),
        // The loss depends on x through the first layer, so a missing gradient can only be a
        // model that ignores its input; report it as all-zero rather than panic.
        None => vec![0.0; n * d],
    };
    InputGradient { grad, loss: to_host(per_example.without_autodiff()), logits: logits_value }
}

/// [`Classifier::forward_vjp`] computed by burn's autodiff through [`Classifier::logits`]:
/// the gradient of `sum(logits * dlogits)` with `dlogits` held constant.
pub fn reference_forward_vjp<C: Classifier + ?Sized>(
    model: &C,
    x: &[f32],
    n: usize,
    dlogits: &mut dyn FnMut(&[f32]) -> Vec<f32>,
) -> (Vec<f32>, Vec<f32>) {
    crate::backend::flush_denormals();
    let d = model.input_dim();
    let xt = tensor2(x.to_vec(), n, d).autodiff().require_grad();
    let logits = model.logits(xt.clone());
    let logits_value = to_host(logits.clone().without_autodiff());
    let cot = tensor2(dlogits(&logits_value), n, model.num_classes()).autodiff();
    let grads = (logits * cot).sum().backward();
    let grad = match xt.grad(&grads) {
        Some(g) => to_host(g),
        None => vec![0.0; n * d],
    };
    (logits_value, grad)
}

/// [`logits_host`] computed by burn through [`Classifier::logits`], without autodiff.
pub fn reference_logits<C: Classifier + ?Sized>(model: &C, x: &[f32], n: usize) -> Vec<f32> {
    crate::backend::flush_denormals();
    to_host(model.logits(tensor2(x.to_vec(), n, model.input_dim())))
}
