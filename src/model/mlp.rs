//! The paper's blue-team model: 784 -> hidden ReLU -> 10 logits, dropout on input and hidden.
//!
//! Parameters live on the host in burn's layout (`[in, out]` weights, `[1, out]` biases). The
//! [`Engine`] says who computes with them: the native kernels ([`crate::native`], default) or
//! burn's Flex backend (the reference; [`Mlp::tensors`] builds burn tensors on demand).
//! Dropout masks come from the caller's seeded RNG ([`Dropout`]), drawn in the same order by
//! both engines, so every run is reproducible independently of the backend's generator.

use super::InputGradient;
use super::{Classifier, Engine};
use crate::backend::tensor2;
use crate::error::{Error, Result};
use crate::native::layout::Params;
use crate::native::mlp::Weights;
pub use crate::nn::dropout::Dropout;
use crate::nn::Precision;
use burn::tensor::{activation::relu, Tensor};
use rand::{Rng, RngCore};
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

/// Architecture of the paper's MLP.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MlpConfig {
    /// Input features (784 for 28x28 images).
    pub input: usize,
    /// Hidden ReLU units (paper: 625).
    pub hidden: usize,
    /// Output classes (10 digits).
    pub classes: usize,
    /// Dropout probability on the input pixels during training (paper: 0.2).
    pub dropout_input: f64,
    /// Dropout probability on the hidden units during training (paper: 0.5).
    pub dropout_hidden: f64,
    /// Standard deviation of the N(0, std) weight initialisation (paper: 0.01); biases start at 0.
    pub init_std: f64,
}

impl Default for MlpConfig {
    fn default() -> Self {
        MlpConfig { input: 784, hidden: 625, classes: 10, dropout_input: 0.2, dropout_hidden: 0.5, init_std: 0.01 }
    }
}

impl MlpConfig {
    /// Rejects impossible architectures with a specific error.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [("input", self.input), ("--hidden", self.hidden), ("classes", self.classes)] {
            if v == 0 || v > 1 << 20 {
                return Err(Error::param(name, v, "must be between 1 and 1048576"));
            }
        }
        if self.classes < 2 {
            return Err(Error::param("classes", self.classes, "must be at least 2"));
        }
        for (name, p) in [("--dropout-input", self.dropout_input), ("--dropout-hidden", self.dropout_hidden)] {
            if !(0.0..1.0).contains(&p) {
                return Err(Error::param(name, p, "must be in [0, 1)"));
            }
        }
        if !(self.init_std.is_finite() && self.init_std > 0.0 && self.init_std <= 10.0) {
            return Err(Error::param("--init-std", self.init_std, "must be in (0, 10]"));
        }
        Ok(())
    }
}

/// The trained (or training) parameters of the MLP.
#[derive(Clone, Debug)]
pub struct Mlp {
    /// Architecture.
    pub config: MlpConfig,
    /// Which engine computes logits and gradients.
    pub engine: Engine,
    /// `w1 [in, hidden]`, `b1 [hidden]`, `w2 [hidden, classes]`, `b2 [classes]`, stored in the
    /// native engine's padded layout ([`Params`]); [`Mlp::to_host`] gives burn layout.
    params: Params,
}

/// Indices into [`Mlp::params`] of the weight matrices (the only tensors L1/L2 penalise).
pub const WEIGHT_PARAMS: [usize; 2] = [0, 2];

impl Mlp {
    /// Initialises weights from N(0, init_std) and biases at zero, drawing from `rng`.
    pub fn init(config: MlpConfig, rng: &mut impl Rng) -> Result<Self> {
        config.validate()?;
        let normal = Normal::new(0.0f32, config.init_std as f32)
            .map_err(|e| Error::param("--init-std", config.init_std, e.to_string()))?;
        let (i, h, c) = (config.input, config.hidden, config.classes);
        let w1: Vec<f32> = (0..i * h).map(|_| normal.sample(rng)).collect();
        let w2: Vec<f32> = (0..h * c).map(|_| normal.sample(rng)).collect();
        let params = Params::from_host(&[w1, vec![0.0; h], w2, vec![0.0; c]], i, h, c);
        Ok(Mlp { config, engine: Engine::default(), params })
    }

    /// Builds a model from host parameters in burn layout, checking every shape.
    pub fn from_host(config: MlpConfig, host: [Vec<f32>; 4]) -> Result<Self> {
        config.validate()?;
        let shapes = Self::shapes(&config);
        for (k, (data, (r, c))) in host.iter().zip(shapes).enumerate() {
            if data.len() != r * c {
                return Err(Error::Shape {
                    what: format!("MLP parameter {k}"),
                    expected: format!("{r}x{c} = {} values", r * c),
                    found: format!("{} values", data.len()),
                });
            }
        }
        let params = Params::from_host(&host, config.input, config.hidden, config.classes);
        Ok(Mlp { config, engine: Engine::default(), params })
    }

    /// The same model computed by `engine`.
    pub fn with_engine(mut self, engine: Engine) -> Self {
        self.engine = engine;
        self
    }

    /// The parameters in the native engine's padded layout.
    pub fn native_params(&self) -> &Params {
        &self.params
    }

    /// Mutable padded parameters for the native optimiser (the padding must stay zero).
    pub(crate) fn native_params_mut(&mut self) -> &mut Params {
        &mut self.params
    }

    /// Replaces the parameters with `host` in burn layout (same shapes, from the burn
    /// optimiser).
    pub(crate) fn set_host(&mut self, host: &[Vec<f32>; 4]) {
        self.params = Params::from_host(host, self.config.input, self.config.hidden, self.config.classes);
    }

    /// The parameters as burn tensors (`[in, h]`, `[1, h]`, `[h, c]`, `[1, c]`).
    pub fn tensors(&self) -> Vec<Tensor<2>> {
        self.to_host().into_iter().zip(Self::shapes(&self.config)).map(|(p, (r, c))| tensor2(p, r, c)).collect()
    }

    /// A borrowed view for the native kernels (padded layout).
    pub fn weights(&self) -> Weights<'_> {
        self.params.weights()
    }

    /// Shapes of the four parameters in burn layout.
    pub fn shapes(config: &MlpConfig) -> [(usize, usize); 4] {
        let (i, h, c) = (config.input, config.hidden, config.classes);
        [(i, h), (1, h), (h, c), (1, c)]
    }

    /// Training-mode forward: `masks` are the pre-scaled dropout masks (values 0 or 1/keep)
    /// for the input and hidden layer, or `None` for a layer without dropout.
    pub fn forward_with(
        params: &[Tensor<2>],
        x: Tensor<2>,
        input_mask: Option<Tensor<2>>,
        hidden_mask: Option<Tensor<2>>,
    ) -> Tensor<2> {
        let x = match input_mask {
            Some(m) => x * m,
            None => x,
        };
        let h = relu(x.matmul(params[0].clone()) + params[1].clone());
        let h = match hidden_mask {
            Some(m) => h * m,
            None => h,
        };
        h.matmul(params[2].clone()) + params[3].clone()
    }

    /// Draws an inverted-dropout mask `[rows, cols]` with drop probability `p` (see [`Dropout`]).
    pub fn dropout_mask(rows: usize, cols: usize, p: f64, rng: &mut dyn RngCore) -> Option<Tensor<2>> {
        let drop = Dropout::new(p)?;
        let mut bits = Vec::new();
        drop.draw(rng, rows * cols, &mut bits);
        let data: Vec<f32> = bits.iter().map(|&b| if drop.keeps(b) { drop.scale() } else { 0.0 }).collect();
        Some(tensor2(data, rows, cols))
    }

    /// The parameters copied, in burn layout.
    pub fn to_host(&self) -> [Vec<f32>; 4] {
        self.params.to_host()
    }

    /// Number of trainable scalars.
    pub fn num_params(&self) -> usize {
        Self::shapes(&self.config).iter().map(|(r, c)| r * c).sum()
    }
}

impl Classifier for Mlp {
    fn logits(&self, x: Tensor<2>) -> Tensor<2> {
        Self::forward_with(&self.tensors(), x, None, None)
    }
    fn logits_host(&self, x: &[f32], n: usize) -> Vec<f32> {
        match self.engine {
            Engine::Native => crate::native::mlp::forward(&self.weights(), x, n).logits,
            Engine::Burn => super::reference::reference_logits(self, x, n),
        }
    }
    fn input_gradient(&self, x: &[f32], labels: &[u8], precision: Precision) -> InputGradient {
        match self.engine {
            Engine::Native => {
                let (grad, loss, logits) = crate::native::mlp::input_gradient(&self.weights(), x, labels, precision);
                InputGradient { grad, loss, logits }
            }
            Engine::Burn => super::reference::default_input_gradient(self, x, labels, precision),
        }
    }
    fn forward_vjp(&self, x: &[f32], n: usize, dlogits: &mut dyn FnMut(&[f32]) -> Vec<f32>) -> (Vec<f32>, Vec<f32>) {
        match self.engine {
            Engine::Native => crate::native::mlp::forward_vjp(&self.weights(), x, n, dlogits),
            Engine::Burn => super::reference::reference_forward_vjp(self, x, n, dlogits),
        }
    }
    fn adversarial_logits(&self, x: &[f32], n: usize, advs: &[Vec<f32>], eps: &[f32]) -> Vec<Vec<f32>> {
        match self.engine {
            Engine::Native => crate::native::rays::ray_logits(&self.weights(), x, n, advs, eps).0,
            Engine::Burn => advs.iter().map(|a| self.logits_host(a, n)).collect(),
        }
    }
    fn gradient_path(&self) -> Box<dyn super::Path + '_> {
        match self.engine {
            Engine::Native => Box::new(NativePath { model: self, path: Default::default() }),
            Engine::Burn => Box::new(super::Stateless(self)),
        }
    }
    fn query_path(&self) -> Box<dyn super::Queries + '_> {
        match self.engine {
            Engine::Native => Box::new(NativeQueries { model: self, path: Default::default() }),
            Engine::Burn => Box::new(super::StatelessQueries::new(self)),
        }
    }
    fn anchored_path(&self) -> Box<dyn super::Anchored + '_> {
        match self.engine {
            Engine::Native => Box::new(NativeAnchored { model: self, path: Default::default() }),
            Engine::Burn => Box::new(super::StatelessAnchored::new(self)),
        }
    }
    fn input_dim(&self) -> usize {
        self.config.input
    }
    fn num_classes(&self) -> usize {
        self.config.classes
    }
}

/// The native engine's [`super::Path`]: first-layer pre-activations updated
/// over the pixels that moved ([`crate::native::path`]).
struct NativePath<'a> {
    model: &'a Mlp,
    path: crate::native::path::GradientPath,
}

impl super::Path for NativePath<'_> {
    fn gradient(&mut self, x: &[f32], labels: &[u8]) -> InputGradient {
        crate::backend::flush_denormals();
        let (grad, loss, logits) = self.path.gradient(&self.model.weights(), x, labels);
        InputGradient { grad, loss, logits }
    }
    fn forward_vjp(
        &mut self,
        x: &[f32],
        n: usize,
        dlogits: &mut dyn FnMut(&[f32]) -> Vec<f32>,
    ) -> (Vec<f32>, Vec<f32>) {
        crate::backend::flush_denormals();
        self.path.forward_vjp(&self.model.weights(), x, n, dlogits)
    }
    fn retain(&mut self, keep: &[bool]) {
        self.path.retain(&self.model.weights(), keep);
    }
}

/// The native engine's [`super::Queries`]: first-layer pre-activations updated over the
/// pixels a candidate changed ([`crate::native::queries`]).
struct NativeQueries<'a> {
    model: &'a Mlp,
    path: crate::native::queries::QueryPath,
}

impl super::Queries for NativeQueries<'_> {
    fn reset(&mut self, base: &[f32], n: usize) -> Vec<f32> {
        crate::backend::flush_denormals();
        self.path.reset(&self.model.weights(), base, n)
    }
    fn logits(&mut self, cand: &super::Changes) -> Vec<f32> {
        crate::backend::flush_denormals();
        self.path.logits(&self.model.weights(), cand)
    }
    fn accept(&mut self, k: usize) {
        self.path.accept(&self.model.weights(), k);
    }
}

/// The native engine's [`super::Anchored`]: stepped-back points' pre-activations
/// interpolated ([`crate::native::anchored`]).
struct NativeAnchored<'a> {
    model: &'a Mlp,
    path: crate::native::anchored::AnchoredPath,
}

impl super::Anchored for NativeAnchored<'_> {
    fn anchors(&mut self, anchors: &[f32], n: usize) {
        crate::backend::flush_denormals();
        self.path.anchors(&self.model.weights(), anchors, n);
    }
    fn logits(&mut self, x: &[f32], n: usize) -> Vec<f32> {
        crate::backend::flush_denormals();
        self.path.logits(&self.model.weights(), x, n)
    }
    fn shrink(&mut self, k: usize, beta: f32, _point: &[f32]) {
        self.path.shrink(&self.model.weights(), k, beta);
    }
    fn forward_vjp(&mut self, dlogits: &mut dyn FnMut(&[f32]) -> Vec<f32>) -> (Vec<f32>, Vec<f32>) {
        crate::backend::flush_denormals();
        self.path.forward_vjp(&self.model.weights(), dlogits)
    }
}
