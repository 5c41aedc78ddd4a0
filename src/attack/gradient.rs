//! The ONE input-gradient function. Attacks never call `backward` themselves.
//!
//! [`input_gradient`] asks the model ([`Classifier::input_gradient`]: the native kernels for
//! the MLP); [`reference_input_gradient`] computes the same thing with burn's autodiff, the
//! reference every engine is tested against.
//!
//! Eval mode (the [`Classifier`] has no dropout), sum-reduced cross-entropy (so each example's
//! gradient is independent of the batch size), gradient with respect to the input only: the
//! model's parameters are constants, so no weight gradient is computed.

use crate::backend::{device, tensor2, to_host};
use crate::model::Classifier;
pub use crate::nn::Precision;
use burn::tensor::{activation::log_softmax, Tensor, TensorData};

/// Input gradient of the summed cross-entropy plus the per-example loss at the same point.
#[derive(Clone, Debug)]
pub struct InputGradient {
    /// d(sum_i CE(f(x_i), y_i)) / dx, row-major `[n, input_dim]`.
    pub grad: Vec<f32>,
    /// CE(f(x_i), y_i) for each example.
    pub loss: Vec<f32>,
    /// Logits `[n, classes]` at the same point (bit-identical to [`logits_host`]).
    pub logits: Vec<f32>,
}

/// One-hot float matrix `[n, classes]` for the given labels.
pub fn one_hot(labels: &[u8], classes: usize) -> Tensor<2> {
    let mut data = vec![0.0f32; labels.len() * classes];
    for (i, &y) in labels.iter().enumerate() {
        data[i * classes + y as usize] = 1.0;
    }
    Tensor::<2>::from_data(TensorData::new(data, [labels.len(), classes]), &device())
}

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
        Precision::Exact => loss_gradient(model, x, labels, None, super::Loss::Ce),
    }
}

/// Input gradients at a sequence of nearby points (an attack's iterates), for models that can
/// reuse work from one point to the next ([`Classifier::gradient_path`]). Each call returns
/// what [`input_gradient`] returns at that point, up to float rounding.
pub trait Path {
    /// The input gradient at `x`, the next point of the path.
    fn gradient(&mut self, x: &[f32], labels: &[u8]) -> InputGradient;
}

/// A path with no state: every point through [`input_gradient`].
pub struct Stateless<'a, C: ?Sized>(pub &'a C);

impl<C: Classifier + ?Sized> Path for Stateless<'_, C> {
    fn gradient(&mut self, x: &[f32], labels: &[u8]) -> InputGradient {
        crate::backend::flush_denormals();
        self.0.input_gradient(x, labels, Precision::Exact)
    }
}

/// [`input_gradient`] computed by burn's autodiff through [`Classifier::logits`].
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
    let c = model.num_classes();
    let mut values = Vec::with_capacity(labels.len());
    let (logits, grad) = model.forward_vjp(x, labels.len(), &mut |logits: &[f32]| {
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

/// [`logits_host`] computed by burn through [`Classifier::logits`], without autodiff.
pub fn reference_logits<C: Classifier + ?Sized>(model: &C, x: &[f32], n: usize) -> Vec<f32> {
    crate::backend::flush_denormals();
    to_host(model.logits(tensor2(x.to_vec(), n, model.input_dim())))
}
