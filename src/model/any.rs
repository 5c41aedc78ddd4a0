//! Any model a file can hold: the paper's MLP (the fast engine, the bounds and the complete
//! verifier know it) or a sequential [`Network`] of any architecture. A network that is a
//! one-hidden-layer ReLU MLP on flat pixels becomes an [`Mlp`], so every command treats it
//! as the paper's model.

use super::arch::Layer;
use super::file::transpose;
use super::{Anchored, Classifier, InputGradient, Mlp, MlpConfig, Network, Path, Queries};
use crate::error::{Error, Result};
use crate::nn::Precision;
use burn::tensor::Tensor;

/// A loaded model.
#[derive(Clone, Debug)]
pub enum Model {
    /// The paper's architecture: input -> hidden ReLU -> classes.
    Mlp(Mlp),
    /// Any other sequential architecture.
    Network(Network),
}

impl Model {
    /// `net` as the paper's MLP when it is one (flatten, linear, ReLU, linear; dropout
    /// layers aside), else as a network.
    pub fn from_network(net: Network) -> Result<Model> {
        let core: Vec<&Layer> = net.arch().layers.iter().filter(|l| !matches!(l, Layer::Dropout { .. })).collect();
        if !matches!(core.as_slice(), [Layer::Flatten, Layer::Linear { .. }, Layer::Relu, Layer::Linear { .. }]) {
            return Ok(Model::Network(net));
        }
        let p = net.params();
        let (h, d) = (p[1].len(), net.input_dim());
        let c = p[3].len();
        let config = MlpConfig {
            input: d,
            hidden: h,
            classes: c,
            dropout_input: 0.0,
            dropout_hidden: 0.0,
            ..MlpConfig::default()
        };
        let host = [transpose(&p[0], h, d), p[1].clone(), transpose(&p[2], c, h), p[3].clone()];
        Ok(Model::Mlp(Mlp::from_host(config, host)?))
    }

    /// The paper's MLP, or an error naming what the model is and what `needs` it.
    pub fn into_mlp(self, needs: &str) -> Result<Mlp> {
        match self {
            Model::Mlp(m) => Ok(m),
            Model::Network(n) => Err(Error::Arch(format!(
                "{needs} supports the one-hidden-layer ReLU MLP only so far; this model is {}",
                n.arch().summary()
            ))),
        }
    }

    /// The model as a classifier.
    pub fn classifier(&self) -> &dyn Classifier {
        match self {
            Model::Mlp(m) => m,
            Model::Network(n) => n,
        }
    }

    /// The paper's MLP, when the model is one.
    pub fn mlp(&self) -> Option<&Mlp> {
        match self {
            Model::Mlp(m) => Some(m),
            Model::Network(_) => None,
        }
    }

    /// One line naming the architecture.
    pub fn summary(&self) -> String {
        match self {
            Model::Mlp(m) => format!("mlp {}-{}-{}", m.config.input, m.config.hidden, m.config.classes),
            Model::Network(n) => n.arch().summary(),
        }
    }
}

impl Classifier for Model {
    fn logits(&self, x: Tensor<2>) -> Tensor<2> {
        self.classifier().logits(x)
    }
    fn input_dim(&self) -> usize {
        self.classifier().input_dim()
    }
    fn num_classes(&self) -> usize {
        self.classifier().num_classes()
    }
    fn logits_host(&self, x: &[f32], n: usize) -> Vec<f32> {
        self.classifier().logits_host(x, n)
    }
    fn forward_vjp(&self, x: &[f32], n: usize, dlogits: &mut dyn FnMut(&[f32]) -> Vec<f32>) -> (Vec<f32>, Vec<f32>) {
        self.classifier().forward_vjp(x, n, dlogits)
    }
    fn input_gradient(&self, x: &[f32], labels: &[u8], precision: Precision) -> InputGradient {
        self.classifier().input_gradient(x, labels, precision)
    }
    fn adversarial_logits(&self, x: &[f32], n: usize, advs: &[Vec<f32>], eps: &[f32]) -> Vec<Vec<f32>> {
        self.classifier().adversarial_logits(x, n, advs, eps)
    }
    fn gradient_path(&self) -> Box<dyn Path + '_> {
        self.classifier().gradient_path()
    }
    fn query_path(&self) -> Box<dyn Queries + '_> {
        self.classifier().query_path()
    }
    fn anchored_path(&self) -> Box<dyn Anchored + '_> {
        self.classifier().anchored_path()
    }
    fn bounds(&self) -> (f32, f32) {
        self.classifier().bounds()
    }
}

impl super::arch::Arch {
    /// One line naming the layers, e.g. `[1, 28, 28] conv2d(16, k4, s2, p1) relu ... linear(10)`.
    pub fn summary(&self) -> String {
        let mut s = self.input_shape().to_string();
        for l in &self.layers {
            s.push(' ');
            s.push_str(&match l {
                Layer::Normalize { .. } => "normalize".into(),
                Layer::Conv2d { out_channels, kernel, stride, padding, .. } => {
                    format!("conv2d({out_channels}, k{kernel}, s{stride}, p{padding})")
                }
                Layer::Linear { out_features, .. } => format!("linear({out_features})"),
                Layer::Relu => "relu".into(),
                Layer::MaxPool2d { kernel, stride } => format!("max_pool2d(k{kernel}, s{stride})"),
                Layer::Flatten => "flatten".into(),
                Layer::Dropout { p } => format!("dropout({p})"),
            });
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::arch::Arch;
    use rand::SeedableRng;

    /// A one-hidden-layer network becomes the paper's MLP with the same logits; anything
    /// else stays a network, and asking it for the MLP names what it is.
    #[test]
    fn one_hidden_layer_networks_become_the_mlp() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let arch = Arch::builtin("mlp", [1, 28, 28], 10, &[50]).expect("arch");
        let net = Network::init(arch, &mut rng).expect("init");
        let x: Vec<f32> = (0..2 * 784).map(|i| (i % 7) as f32 / 7.0).collect();
        let want = net.logits_host(&x, 2);
        let m = Model::from_network(net).expect("model");
        assert!(m.mlp().is_some(), "{}", m.summary());
        for (a, b) in m.logits_host(&x, 2).iter().zip(&want) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
        let deep =
            Network::init(Arch::builtin("mlp", [1, 28, 28], 10, &[20, 20]).expect("arch"), &mut rng).expect("init");
        let m = Model::from_network(deep).expect("model");
        let err = m.into_mlp("certify").expect_err("a network").to_string();
        assert!(err.contains("certify supports") && err.contains("linear(20) relu linear(20)"), "{err}");
    }
}
