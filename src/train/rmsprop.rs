//! RMSProp exactly as the paper writes it:
//!
//! `ms(t) = decay * ms(t-1) + (1 - decay) * g(t)^2`,
//! `w(t) = w(t-1) - lr * g(t) / (sqrt(ms(t)) + eps)`, with decay 0.9, lr 0.001, eps 1e-6.
//!
//! Note the smoothing term sits OUTSIDE the square root (burn's and PyTorch's RMSProp put it
//! inside or use other defaults), no momentum, and the mean square starts at zero.

use burn::tensor::Tensor;

/// Optimiser state: one mean-square tensor per parameter.
#[derive(Clone, Debug)]
pub struct RmsProp {
    /// Learning rate.
    pub lr: f64,
    /// Decay of the running mean square.
    pub decay: f64,
    /// Smoothing term added to sqrt(ms).
    pub eps: f64,
    mean_square: Vec<Option<Tensor<2>>>,
}

impl RmsProp {
    /// Fresh state for `n_params` parameters.
    pub fn new(lr: f64, decay: f64, eps: f64, n_params: usize) -> Self {
        RmsProp { lr, decay, eps, mean_square: vec![None; n_params] }
    }

    /// Updates parameter `k` in place given its gradient.
    pub fn step(&mut self, k: usize, param: &mut Tensor<2>, grad: Tensor<2>) {
        let g2 = grad.clone() * grad.clone();
        let ms = match self.mean_square[k].take() {
            Some(ms) => ms.mul_scalar(self.decay) + g2.mul_scalar(1.0 - self.decay),
            None => g2.mul_scalar(1.0 - self.decay),
        };
        let update = grad.mul_scalar(self.lr) / ms.clone().sqrt().add_scalar(self.eps);
        *param = param.clone() - update;
        self.mean_square[k] = Some(ms);
    }
}
