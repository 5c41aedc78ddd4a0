//! Models the blue team trains and the red team attacks.
//!
//! A [`Classifier`] maps images in pixel space (values in its [`Classifier::bounds`]) to raw
//! logits, never probabilities. Any normalisation belongs inside the model, so attacks,
//! clipping and reports only ever see pixels.

pub mod file;
pub mod mlp;

pub use mlp::{Mlp, MlpConfig};

use burn::tensor::Tensor;

/// A differentiable image classifier in eval mode (no dropout).
pub trait Classifier: Sync {
    /// Raw logits `[N, classes]` for a batch of flattened images `[N, input_dim]`.
    ///
    /// The input may carry autodiff; the model's own parameters must not, so that input
    /// gradients never compute weight gradients.
    fn logits(&self, x: Tensor<2>) -> Tensor<2>;
    /// Number of features per image (784 for MNIST).
    fn input_dim(&self) -> usize;
    /// Number of classes (10 for MNIST).
    fn num_classes(&self) -> usize;
    /// Valid input range in pixel units; MNIST is `[0, 1]`.
    fn bounds(&self) -> (f32, f32) {
        (0.0, 1.0)
    }
}
