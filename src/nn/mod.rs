//! The leaf layer: host-side numerical operations every other layer uses (sign, argmax,
//! log-sum-exp, cross-entropy and its logit gradient). It depends on nothing else in redblue,
//! so the engine (`native`), the models, the attacks and the evaluation can all build on it
//! without depending on one another for these.

pub mod dropout;
pub mod ops;
pub mod simd;

use serde::{Deserialize, Serialize};

/// How an input gradient is computed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// The stable logit gradient and f64 backward products: signs as a float64 computation
    /// gives them (the honest default for one-step attacks).
    #[default]
    Exact,
    /// What deep-learning frameworks compute in float32: `softmax - onehot` and f32 products
    /// (for a confidently classified image `p_y` rounds to 1 and the true class's term is lost).
    Float32,
}

impl Precision {
    /// Name used in files and reports.
    pub fn name(self) -> &'static str {
        match self {
            Precision::Exact => "exact",
            Precision::Float32 => "float32",
        }
    }
}
