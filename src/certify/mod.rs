//! The certified judge: sound lower bounds on robust accuracy, to set against the attacks'
//! upper bounds.
//!
//! An attack that finds no adversarial example proves nothing; a bound that shows every point
//! of the threat set keeps the true class on top proves the example robust. [`bounds`] gives,
//! per image and wrong class, a lower bound on the margin `z_y - z_j` over the L-inf ball
//! intersected with the pixel box; an image is verified when every such bound exceeds the f32
//! forward pass's possible rounding error.

pub mod beta;
pub mod bounds;
pub mod exact;
pub mod judge;

pub use bounds::{f32_margin_error, f32_margin_errors, margin_bounds, margin_lower_bounds, Method};
pub use judge::{certify, CertRow, Certification, CertifyConfig, ExactStats, Status};

/// Which images are verified: every wrong class's margin bound (`[n, classes]`, as
/// [`margin_lower_bounds`] returns) above `tolerance`.
pub fn verified(lower: &[f64], classes: usize, tolerance: f64) -> Vec<bool> {
    lower.chunks_exact(classes.max(1)).map(|row| row.iter().all(|&m| m > tolerance)).collect()
}

/// The share of the images `x` (`[n, input]`, labels `y`) that `method` verifies at L-inf
/// radius `eps` within `bounds`: every wrong class's margin bound above the image's own f32
/// rounding bound ([`f32_margin_errors`]). A proven lower bound on robust accuracy. At eps 0
/// the threat set is the clean image alone, so it is the clean accuracy.
pub fn verified_accuracy(
    model: &crate::model::Mlp,
    x: &[f32],
    y: &[u8],
    eps: f64,
    bounds: Option<(f32, f32)>,
    method: Method,
) -> f64 {
    verified_accuracy_in(model, x, y, crate::attack::Norm::Linf, eps, bounds, method)
}

/// [`verified_accuracy`] over the `norm` ball (see [`margin_bounds`]). The f32 rounding
/// allowance is the L-inf box's, which holds the ball.
pub fn verified_accuracy_in(
    model: &crate::model::Mlp,
    x: &[f32],
    y: &[u8],
    norm: crate::attack::Norm,
    eps: f64,
    bounds: Option<(f32, f32)>,
    method: Method,
) -> f64 {
    use crate::model::Classifier;
    let c = model.num_classes();
    let ok: Vec<bool> = if eps == 0.0 {
        judge::predictions(model, x, y.len(), c).iter().zip(y).map(|(&p, &l)| p == usize::from(l)).collect()
    } else {
        let lower = margin_bounds(model, x, y, norm, eps, bounds, method);
        // The box of radius eps holds the L2 ball; past the pixel range it is the range.
        verified_each(&lower, c, &f32_margin_errors(model, x, y, eps, bounds))
    };
    judge::share(ok.iter().filter(|&&k| k).count(), y.len())
}

/// [`verified`] with each image's own tolerance ([`f32_margin_errors`]).
pub fn verified_each(lower: &[f64], classes: usize, tolerance: &[f64]) -> Vec<bool> {
    lower.chunks_exact(classes.max(1)).zip(tolerance).map(|(row, &t)| row.iter().all(|&m| m > t)).collect()
}
