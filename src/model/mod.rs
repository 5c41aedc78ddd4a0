//! Models the blue team trains and the red team attacks.
//!
//! A [`Classifier`] maps images in pixel space (values in its [`Classifier::bounds`]) to raw
//! logits, never probabilities. Any normalisation belongs inside the model, so attacks,
//! clipping and reports only ever see pixels.

pub mod any;
pub mod arch;
pub mod file;
pub mod mlp;
pub mod network;
pub mod onnx;
pub mod reference;

pub use any::Model;
pub use arch::Arch;
pub use mlp::{Mlp, MlpConfig};
pub use network::Network;

use crate::nn::Precision;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// Who computes a model's logits and gradients.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// redblue's native CPU kernels (sparse first layer, fused loops); the default.
    #[default]
    Native,
    /// burn's Flex backend with autodiff: the reference the native kernels are tested against.
    Burn,
}

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
    /// Logits of `n` flattened images on the host (`[n, classes]`); by default through
    /// [`Classifier::logits`] on burn.
    fn logits_host(&self, x: &[f32], n: usize) -> Vec<f32> {
        reference::reference_logits(self, x, n)
    }
    /// The model contract for attacks: one forward pass and one vector-Jacobian product with
    /// respect to the input. Computes the logits of `n` images (`[n, classes]`), asks
    /// `dlogits` for the cotangent at those logits (a loss's gradient, [`crate::attack::Loss`]),
    /// and returns `(logits, dx)` with `dx = dlogits · d logits / d x` (`[n, input_dim]`).
    /// By default through burn's autodiff.
    fn forward_vjp(&self, x: &[f32], n: usize, dlogits: &mut dyn FnMut(&[f32]) -> Vec<f32>) -> (Vec<f32>, Vec<f32>) {
        reference::reference_forward_vjp(self, x, n, dlogits)
    }
    /// Input gradient of the summed cross-entropy at `precision`. By default
    /// [`Precision::Float32`] is burn's autodiff (the frameworks' computation) and
    /// [`Precision::Exact`] the stable logit gradient through [`Classifier::forward_vjp`];
    /// the native MLP also runs the backward products in f64 for `Exact`.
    fn input_gradient(&self, x: &[f32], labels: &[u8], precision: Precision) -> InputGradient {
        reference::default_input_gradient(self, x, labels, precision)
    }
    /// Logits of adversarial batches `advs[k]` (`[n, input_dim]` each) made from the clean
    /// batch `x` at budgets `eps[k]`; the same as [`Classifier::logits_host`] on each, up to
    /// float rounding (engines may use that FGSM's images lie on rays from `x`).
    fn adversarial_logits(&self, x: &[f32], n: usize, advs: &[Vec<f32>], eps: &[f32]) -> Vec<Vec<f32>> {
        let _ = (x, eps);
        advs.iter().map(|a| self.logits_host(a, n)).collect()
    }
    /// Input gradients along an attack's iterates; by default each point on its own.
    fn gradient_path(&self) -> Box<dyn Path + '_> {
        Box::new(Stateless(self))
    }
    /// Logits of a score-based attack's candidates near per-example base points; by default
    /// each candidate on its own through [`Classifier::logits_host`].
    fn query_path(&self) -> Box<dyn Queries + '_> {
        Box::new(StatelessQueries::new(self))
    }
    /// Logits and input VJPs at points that step back toward fixed anchors between fresh
    /// points (FAB's iterates); by default each point on its own.
    fn anchored_path(&self) -> Box<dyn Anchored + '_> {
        Box::new(StatelessAnchored::new(self))
    }
    /// Valid input range in pixel units; MNIST is `[0, 1]`.
    fn bounds(&self) -> (f32, f32) {
        (0.0, 1.0)
    }
}

/// Input gradient of the summed cross-entropy plus the per-example loss at the same point.
#[derive(Clone, Debug)]
pub struct InputGradient {
    /// d(sum_i CE(f(x_i), y_i)) / dx, row-major `[n, input_dim]`.
    pub grad: Vec<f32>,
    /// CE(f(x_i), y_i) for each example.
    pub loss: Vec<f32>,
    /// Logits `[n, classes]` at the same point (bit-identical to [`Classifier::logits_host`]).
    pub logits: Vec<f32>,
}

/// Input gradients at a sequence of nearby points (an attack's iterates), for models that can
/// reuse work from one point to the next ([`Classifier::gradient_path`]). Each call returns
/// what [`Classifier::input_gradient`] returns at that point, up to float rounding.
pub trait Path {
    /// The input gradient at `x`, the next point of the path.
    fn gradient(&mut self, x: &[f32], labels: &[u8]) -> InputGradient;
    /// [`Classifier::forward_vjp`] at `x` (`[n, input_dim]`), the next point of the path.
    fn forward_vjp(&mut self, x: &[f32], n: usize, dlogits: &mut dyn FnMut(&[f32]) -> Vec<f32>)
        -> (Vec<f32>, Vec<f32>);
    /// Keeps the path's rows `r` with `keep[r]`, in order (the caller drops the same rows
    /// from its points).
    fn retain(&mut self, keep: &[bool]);
}

/// Logits of candidates that each change a few pixels of their example's base point (a
/// score-based attack's queries, [`Classifier::query_path`]), for models that can reuse the
/// base point's work. Each call returns what [`Classifier::logits_host`] returns on the
/// candidate images, up to float rounding.
pub trait Queries {
    /// Sets the base points (`[n, input_dim]`) and returns their logits.
    fn reset(&mut self, base: &[f32], n: usize) -> Vec<f32>;
    /// Logits of the candidates in `cand`, each a change of its row's base point.
    fn logits(&mut self, cand: &Changes) -> Vec<f32>;
    /// Makes candidate `k` of the last [`Queries::logits`] call its row's base point.
    fn accept(&mut self, k: usize);
}

/// Candidates as changes of base points: candidate `k` is base row [`Changes::row`]`(k)` with
/// the pixels of [`Changes::entries`]`(k)` (increasing, each once) set to their values.
#[derive(Clone, Debug, Default)]
pub struct Changes {
    rows: Vec<usize>,
    start: Vec<usize>,
    pixels: Vec<u32>,
    values: Vec<f32>,
}

impl Changes {
    /// No candidates, allocations kept.
    pub fn clear(&mut self) {
        self.rows.clear();
        self.start.clear();
        self.pixels.clear();
        self.values.clear();
    }
    /// Begins a candidate that changes base row `row`.
    pub fn begin(&mut self, row: usize) {
        self.rows.push(row);
        self.start.push(self.pixels.len());
    }
    /// Sets `pixel` (past the current candidate's last one) to `value`.
    pub fn set(&mut self, pixel: usize, value: f32) {
        self.pixels.push(pixel as u32);
        self.values.push(value);
    }
    /// Number of candidates.
    pub fn len(&self) -> usize {
        self.rows.len()
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
    /// The base row candidate `k` changes.
    pub fn row(&self, k: usize) -> usize {
        self.rows[k]
    }
    /// Candidate `k`'s pixels and their new values.
    pub fn entries(&self, k: usize) -> (&[u32], &[f32]) {
        let end = self.start.get(k + 1).copied().unwrap_or(self.pixels.len());
        let range = self.start[k]..end;
        (&self.pixels[range.clone()], &self.values[range])
    }
    /// Writes candidate `k`'s values into `image` (its base point, `[input_dim]`), ignoring
    /// pixels outside it.
    pub fn apply(&self, k: usize, image: &mut [f32]) {
        let (pixels, values) = self.entries(k);
        for (&p, &v) in pixels.iter().zip(values) {
            if let Some(x) = image.get_mut(p as usize) {
                *x = v;
            }
        }
    }
}

/// Queries with no shortcut: each candidate built as an image and passed to
/// [`Classifier::logits_host`].
pub struct StatelessQueries<'a, C: ?Sized> {
    model: &'a C,
    base: Vec<f32>,
    batch: Vec<f32>,
    last: Changes,
}

impl<'a, C: ?Sized> StatelessQueries<'a, C> {
    /// No base points yet.
    pub fn new(model: &'a C) -> Self {
        StatelessQueries { model, base: Vec::new(), batch: Vec::new(), last: Changes::default() }
    }
}

impl<C: Classifier + ?Sized> Queries for StatelessQueries<'_, C> {
    fn reset(&mut self, base: &[f32], n: usize) -> Vec<f32> {
        self.base.clear();
        self.base.extend_from_slice(base);
        self.model.logits_host(base, n)
    }
    fn logits(&mut self, cand: &Changes) -> Vec<f32> {
        let d = self.model.input_dim();
        self.batch.clear();
        for k in 0..cand.len() {
            let at = self.batch.len();
            let r = cand.row(k);
            self.batch.extend_from_slice(&self.base[r * d..(r + 1) * d]);
            cand.apply(k, &mut self.batch[at..]);
        }
        self.last.clone_from(cand);
        self.model.logits_host(&self.batch, cand.len())
    }
    fn accept(&mut self, k: usize) {
        if k < self.last.len() {
            let (d, r) = (self.model.input_dim(), self.last.row(k));
            self.last.apply(k, &mut self.base[r * d..(r + 1) * d]);
        }
    }
}

/// Points that each step back toward a fixed anchor, `anchor + beta·(x - anchor)`, between
/// fresh points ([`Classifier::anchored_path`]; FAB's iterates), for models that can
/// interpolate instead of recomputing. Each call returns what [`Classifier::logits_host`] and
/// [`Classifier::forward_vjp`] return at the current points, up to float rounding.
pub trait Anchored {
    /// Sets the anchors (`[n, input_dim]`).
    fn anchors(&mut self, anchors: &[f32], n: usize);
    /// Makes `x` (`[n, input_dim]`) the current points and returns their logits.
    fn logits(&mut self, x: &[f32], n: usize) -> Vec<f32>;
    /// Moves current point `k` to `anchor_k + beta·(x_k - anchor_k)`; `point` is that image,
    /// as the caller computed it.
    fn shrink(&mut self, k: usize, beta: f32, point: &[f32]);
    /// [`Classifier::forward_vjp`] at the current points.
    fn forward_vjp(&mut self, dlogits: &mut dyn FnMut(&[f32]) -> Vec<f32>) -> (Vec<f32>, Vec<f32>);
}

/// An anchored path with no shortcut: the current points kept as images.
pub struct StatelessAnchored<'a, C: ?Sized> {
    model: &'a C,
    x: Vec<f32>,
    n: usize,
}

impl<'a, C: ?Sized> StatelessAnchored<'a, C> {
    /// No points yet.
    pub fn new(model: &'a C) -> Self {
        StatelessAnchored { model, x: Vec::new(), n: 0 }
    }
}

impl<C: Classifier + ?Sized> Anchored for StatelessAnchored<'_, C> {
    fn anchors(&mut self, _anchors: &[f32], _n: usize) {}
    fn logits(&mut self, x: &[f32], n: usize) -> Vec<f32> {
        self.x.clear();
        self.x.extend_from_slice(x);
        self.n = n;
        self.model.logits_host(x, n)
    }
    fn shrink(&mut self, k: usize, _beta: f32, point: &[f32]) {
        let d = point.len();
        if let Some(row) = self.x.get_mut(k * d..(k + 1) * d) {
            row.copy_from_slice(point);
        }
    }
    fn forward_vjp(&mut self, dlogits: &mut dyn FnMut(&[f32]) -> Vec<f32>) -> (Vec<f32>, Vec<f32>) {
        self.model.forward_vjp(&self.x, self.n, dlogits)
    }
}

/// A path with no state: every point through [`Classifier::input_gradient`].
pub struct Stateless<'a, C: ?Sized>(pub &'a C);

impl<C: Classifier + ?Sized> Path for Stateless<'_, C> {
    fn gradient(&mut self, x: &[f32], labels: &[u8]) -> InputGradient {
        crate::backend::flush_denormals();
        self.0.input_gradient(x, labels, Precision::Exact)
    }
    fn forward_vjp(
        &mut self,
        x: &[f32],
        n: usize,
        dlogits: &mut dyn FnMut(&[f32]) -> Vec<f32>,
    ) -> (Vec<f32>, Vec<f32>) {
        self.0.forward_vjp(x, n, dlogits)
    }
    fn retain(&mut self, _keep: &[bool]) {}
}
