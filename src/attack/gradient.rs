//! The ONE input-gradient function. Attacks never call `backward` themselves.
//!
//! [`input_gradient`] asks the model ([`Classifier::input_gradient`]: the native kernels for
//! the MLP); [`reference_input_gradient`] computes the same thing with burn's autodiff, the
//! reference every engine is tested against.
//!
//! Eval mode (the [`Classifier`] has no dropout), sum-reduced cross-entropy (so each example's
//! gradient is independent of the batch size), gradient with respect to the input only: the
//! model's parameters are constants, so no weight gradient is computed.

pub use crate::model::reference::{
    default_input_gradient, one_hot, reference_forward_vjp, reference_input_gradient, reference_logits,
};
use crate::model::Classifier;
pub use crate::model::{InputGradient, Path, Stateless};
pub use crate::nn::Precision;

/// Gradient of `sum_i CE(model(x_i), labels_i)` with respect to `x` (`[n, input_dim]`).
/// With exact signs ([`Precision::Exact`]); [`input_gradient_at`] chooses.
pub fn input_gradient(model: &dyn Classifier, x: &[f32], labels: &[u8]) -> InputGradient {
    input_gradient_at(model, x, labels, Precision::Exact)
}

/// [`input_gradient`] at the given precision.
pub fn input_gradient_at(model: &dyn Classifier, x: &[f32], labels: &[u8], precision: Precision) -> InputGradient {
    crate::backend::flush_denormals();
    model.input_gradient(x, labels, precision)
}

/// The gradient of `sum_i loss(f(x_i), y_i [, t_i])` with respect to the input, with the
/// per-example losses and the logits, in one forward pass and one vector-Jacobian product of
/// the model. `targets` (one per example) is needed by targeted losses only.
pub fn loss_gradient<C: Classifier + ?Sized>(
    model: &C,
    x: &[f32],
    labels: &[u8],
    targets: Option<&[u8]>,
    loss: super::Loss,
) -> InputGradient {
    crate::backend::flush_denormals();
    let vjp = |x: &[f32], n: usize, f: &mut dyn FnMut(&[f32]) -> Vec<f32>| model.forward_vjp(x, n, f);
    loss_gradient_with(vjp, model.num_classes(), x, labels, targets, loss)
}

/// [`loss_gradient`] at the next point of a gradient path ([`Classifier::gradient_path`]).
pub fn loss_gradient_on(
    path: &mut dyn crate::model::Path,
    classes: usize,
    x: &[f32],
    labels: &[u8],
    targets: Option<&[u8]>,
    loss: super::Loss,
) -> InputGradient {
    let vjp = |x: &[f32], n: usize, f: &mut dyn FnMut(&[f32]) -> Vec<f32>| path.forward_vjp(x, n, f);
    loss_gradient_with(vjp, classes, x, labels, targets, loss)
}

fn loss_gradient_with(
    mut vjp: impl FnMut(&[f32], usize, &mut dyn FnMut(&[f32]) -> Vec<f32>) -> (Vec<f32>, Vec<f32>),
    c: usize,
    x: &[f32],
    labels: &[u8],
    targets: Option<&[u8]>,
    loss: super::Loss,
) -> InputGradient {
    let mut values = Vec::with_capacity(labels.len());
    let (logits, grad) = vjp(x, labels.len(), &mut |logits: &[f32]| {
        let mut dl = vec![0.0f32; logits.len()];
        values.clear();
        for (i, (row, out)) in logits.chunks_exact(c).zip(dl.chunks_exact_mut(c)).enumerate() {
            let t = targets.and_then(|t| t.get(i)).map(|&t| usize::from(t));
            values.push(loss.value_grad(row, usize::from(labels[i]), t, 1.0, out));
        }
        dl
    });
    InputGradient { grad, loss: values, logits }
}

/// Logits for a batch copied to the host (`[n, classes]`), computed by the model's engine.
pub fn logits_host(model: &dyn Classifier, x: &[f32], n: usize) -> Vec<f32> {
    crate::backend::flush_denormals();
    model.logits_host(x, n)
}
