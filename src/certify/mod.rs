//! The certified judge: sound lower bounds on robust accuracy, to set against the attacks'
//! upper bounds.
//!
//! An attack that finds no adversarial example proves nothing; a bound that shows every point
//! of the threat set keeps the true class on top proves the example robust. [`bounds`] gives,
//! per image and wrong class, a lower bound on the margin `z_y - z_j` over the L-inf ball
//! intersected with the pixel box; an image is verified when every such bound exceeds the f32
//! forward pass's possible rounding error.

pub mod bounds;
pub mod exact;
pub mod judge;

pub use bounds::{f32_margin_error, f32_margin_errors, margin_lower_bounds, Method};
pub use judge::{certify, CertRow, Certification, CertifyConfig, ExactStats, Status};

/// Which images are verified: every wrong class's margin bound (`[n, classes]`, as
/// [`margin_lower_bounds`] returns) above `tolerance`.
pub fn verified(lower: &[f64], classes: usize, tolerance: f64) -> Vec<bool> {
    lower.chunks_exact(classes.max(1)).map(|row| row.iter().all(|&m| m > tolerance)).collect()
}

/// [`verified`] with each image's own tolerance ([`f32_margin_errors`]).
pub fn verified_each(lower: &[f64], classes: usize, tolerance: &[f64]) -> Vec<bool> {
    lower.chunks_exact(classes.max(1)).zip(tolerance).map(|(row, &t)| row.iter().all(|&m| m > t)).collect()
}
