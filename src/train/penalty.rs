//! The paper's regularised cost, equation (2): `CE + l1 * sum|w| + l2 * sum(w^2)`.
//!
//! Applied to the weight matrices only (not biases), in exactly one place.

use burn::tensor::Tensor;

/// `l1 * sum|w| + l2 * sum(w^2)` over `weights`, as a scalar tensor in the autodiff graph;
/// `None` when both coefficients are zero.
pub fn weight_penalty(weights: &[&Tensor<2>], l1: f64, l2: f64) -> Option<Tensor<1>> {
    let mut total: Option<Tensor<1>> = None;
    for &w in weights {
        let mut add = |t: Tensor<1>| {
            total = Some(match total.take() {
                Some(acc) => acc + t,
                None => t,
            })
        };
        if l1 > 0.0 {
            add(w.clone().abs().sum().mul_scalar(l1));
        }
        if l2 > 0.0 {
            add((w.clone() * w.clone()).sum().mul_scalar(l2));
        }
    }
    total
}
