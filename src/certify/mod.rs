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
pub mod network;

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
    let share = verified_share(model, x, y, eps, || {
        // The box of radius eps holds the L2 ball; past the pixel range it is the range.
        Ok::<_, std::convert::Infallible>((
            margin_bounds(model, x, y, norm, eps, bounds, method),
            f32_margin_errors(model, x, y, eps, bounds),
        ))
    });
    match share {
        Ok(v) => v,
        Err(never) => match never {},
    }
}

/// The share of images verified: at eps 0 those the model classifies correctly (the threat
/// set is the clean image), else those whose every margin bound clears its own tolerance,
/// from `bound() = (lower bounds, tolerances)`.
fn verified_share<E>(
    model: &dyn crate::model::Classifier,
    x: &[f32],
    y: &[u8],
    eps: f64,
    bound: impl FnOnce() -> Result<(Vec<f64>, Vec<f64>), E>,
) -> Result<f64, E> {
    let c = model.num_classes();
    let ok: Vec<bool> = if eps == 0.0 {
        judge::predictions(model, x, y.len(), c).iter().zip(y).map(|(&p, &l)| p == usize::from(l)).collect()
    } else {
        let (lower, tolerance) = bound()?;
        verified_each(&lower, c, &tolerance)
    };
    Ok(judge::share(ok.iter().filter(|&&k| k).count(), y.len()))
}

/// [`margin_bounds`] for any model: the MLP's own bounds ([`bounds`]) or a network's
/// ([`network`]; an L2 ball takes the bounds of its box, which holds it).
pub fn model_margin_bounds(
    model: &crate::model::Model,
    x: &[f32],
    y: &[u8],
    norm: crate::attack::Norm,
    eps: f64,
    bounds: Option<(f32, f32)>,
    method: Method,
) -> crate::Result<Vec<f64>> {
    match model {
        crate::model::Model::Mlp(m) => Ok(margin_bounds(m, x, y, norm, eps, bounds, method)),
        crate::model::Model::Network(n) => network::margin_bounds(n, x, y, eps, bounds, method),
    }
}

/// Whether `method` bounds `model` (every method bounds the MLP; see [`network::supports`]).
pub fn model_supports(model: &crate::model::Model, method: Method) -> crate::Result<()> {
    match model {
        crate::model::Model::Mlp(_) => Ok(()),
        crate::model::Model::Network(n) => network::supports(n, method),
    }
}

/// [`f32_margin_errors`] for any model.
pub fn model_f32_margin_errors(
    model: &crate::model::Model,
    x: &[f32],
    y: &[u8],
    eps: f64,
    bounds: Option<(f32, f32)>,
) -> crate::Result<Vec<f64>> {
    match model {
        crate::model::Model::Mlp(m) => Ok(f32_margin_errors(m, x, y, eps, bounds)),
        crate::model::Model::Network(n) => network::f32_margin_errors(n, x, y, eps, bounds),
    }
}

/// [`verified_accuracy_in`] for any model.
pub fn model_verified_accuracy(
    model: &crate::model::Model,
    x: &[f32],
    y: &[u8],
    norm: crate::attack::Norm,
    eps: f64,
    bounds: Option<(f32, f32)>,
    method: Method,
) -> crate::Result<f64> {
    verified_share(model, x, y, eps, || {
        Ok((
            model_margin_bounds(model, x, y, norm, eps, bounds, method)?,
            model_f32_margin_errors(model, x, y, eps, bounds)?,
        ))
    })
}

/// [`verified`] with each image's own tolerance ([`f32_margin_errors`]).
pub fn verified_each(lower: &[f64], classes: usize, tolerance: &[f64]) -> Vec<bool> {
    lower.chunks_exact(classes.max(1)).zip(tolerance).map(|(row, &t)| row.iter().all(|&m| m > t)).collect()
}
