//! The paper's blue-team model: 784 -> hidden ReLU -> 10 logits, dropout on input and hidden.
//!
//! Parameters are plain (non-autodiff) tensors in burn's layout (`[in, out]` weights, `[1, out]`
//! biases). Training wraps them in autodiff per step (see `train`); inference and attacks use
//! them as constants. Dropout masks are supplied by the caller from its seeded RNG, so every run
//! is reproducible independently of the backend's random generator.

use super::Classifier;
use crate::backend::tensor2;
use crate::error::{Error, Result};
use burn::tensor::{activation::relu, Tensor};
use rand::Rng;
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
        MlpConfig {
            input: 784,
            hidden: 625,
            classes: 10,
            dropout_input: 0.2,
            dropout_hidden: 0.5,
            init_std: 0.01,
        }
    }
}

impl MlpConfig {
    /// Rejects impossible architectures with a specific error.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [("input", self.input), ("hidden", self.hidden), ("classes", self.classes)]
        {
            if v == 0 || v > 1 << 20 {
                return Err(Error::param(name, v, "must be between 1 and 1048576"));
            }
        }
        if self.classes < 2 {
            return Err(Error::param("classes", self.classes, "must be at least 2"));
        }
        for (name, p) in [("dropout-input", self.dropout_input), ("dropout-hidden", self.dropout_hidden)]
        {
            if !(0.0..1.0).contains(&p) {
                return Err(Error::param(name, p, "must be in [0, 1)"));
            }
        }
        if !(self.init_std.is_finite() && self.init_std > 0.0 && self.init_std <= 10.0) {
            return Err(Error::param("init-std", self.init_std, "must be in (0, 10]"));
        }
        Ok(())
    }
}

/// The trained (or training) parameters of the MLP.
#[derive(Clone, Debug)]
pub struct Mlp {
    /// Architecture.
    pub config: MlpConfig,
    /// `[w1 [in, hidden], b1 [1, hidden], w2 [hidden, classes], b2 [1, classes]]`.
    pub params: Vec<Tensor<2>>,
}

/// Indices into [`Mlp::params`] of the weight matrices (the only tensors L1/L2 penalise).
pub const WEIGHT_PARAMS: [usize; 2] = [0, 2];

impl Mlp {
    /// Initialises weights from N(0, init_std) and biases at zero, drawing from `rng`.
    pub fn init(config: MlpConfig, rng: &mut impl Rng) -> Result<Self> {
        config.validate()?;
        let normal = Normal::new(0.0f32, config.init_std as f32)
            .map_err(|e| Error::param("init-std", config.init_std, e.to_string()))?;
        let (i, h, c) = (config.input, config.hidden, config.classes);
        let w1: Vec<f32> = (0..i * h).map(|_| normal.sample(rng)).collect();
        let w2: Vec<f32> = (0..h * c).map(|_| normal.sample(rng)).collect();
        let params = vec![
            tensor2(w1, i, h),
            tensor2(vec![0.0; h], 1, h),
            tensor2(w2, h, c),
            tensor2(vec![0.0; c], 1, c),
        ];
        Ok(Mlp { config, params })
    }

    /// Builds a model from host parameters in burn layout, checking every shape.
    pub fn from_host(config: MlpConfig, host: [Vec<f32>; 4]) -> Result<Self> {
        config.validate()?;
        let shapes = Self::shapes(&config);
        let mut params = Vec::with_capacity(4);
        for (k, (data, (r, c))) in host.into_iter().zip(shapes).enumerate() {
            if data.len() != r * c {
                return Err(Error::Shape {
                    what: format!("MLP parameter {k}"),
                    expected: format!("{r}x{c} = {} values", r * c),
                    found: format!("{} values", data.len()),
                });
            }
            params.push(tensor2(data, r, c));
        }
        Ok(Mlp { config, params })
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

    /// Draws an inverted-dropout mask `[rows, cols]` with drop probability `p`.
    pub fn dropout_mask(rows: usize, cols: usize, p: f64, rng: &mut impl Rng) -> Option<Tensor<2>> {
        if p <= 0.0 {
            return None;
        }
        let keep = 1.0 - p;
        let scale = (1.0 / keep) as f32;
        let data: Vec<f32> =
            (0..rows * cols).map(|_| if rng.gen::<f64>() < keep { scale } else { 0.0 }).collect();
        Some(tensor2(data, rows, cols))
    }

    /// The parameters copied to the host, in burn layout.
    pub fn to_host(&self) -> [Vec<f32>; 4] {
        let mut it = self.params.iter().map(|p| crate::backend::to_host(p.clone()));
        std::array::from_fn(|_| it.next().unwrap_or_default())
    }

    /// Number of trainable scalars.
    pub fn num_params(&self) -> usize {
        Self::shapes(&self.config).iter().map(|(r, c)| r * c).sum()
    }
}

impl Classifier for Mlp {
    fn logits(&self, x: Tensor<2>) -> Tensor<2> {
        Self::forward_with(&self.params, x, None, None)
    }
    fn input_dim(&self) -> usize {
        self.config.input
    }
    fn num_classes(&self) -> usize {
        self.config.classes
    }
}
