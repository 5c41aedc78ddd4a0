//! Budget verification for supplied adversarial sets: reject, never silently fix.

use crate::attack::{ClipMode, Norm};
use crate::error::{Error, Result};

/// Tolerance on the budget, in pixel units (float rounding of x + eps*sign).
pub const TOLERANCE: f32 = 1e-6;

/// Checks every adversarial image against its clean image: within `eps` in `norm` (plus
/// [`TOLERANCE`]), finite, and inside `bounds` when the set claims to be clipped.
pub fn verify_budget(
    clean: &[f32],
    adv: &[f32],
    dim: usize,
    eps: f32,
    norm: Norm,
    clip: ClipMode,
    bounds: (f32, f32),
) -> Result<()> {
    if clean.len() != adv.len() || dim == 0 || clean.len() % dim != 0 {
        return Err(Error::Shape {
            what: "adversarial vs clean images".into(),
            expected: format!("{} values", clean.len()),
            found: format!("{} values", adv.len()),
        });
    }
    let mut bad = Vec::new();
    let mut worst = 0.0f32;
    for (i, (c, a)) in clean.chunks_exact(dim).zip(adv.chunks_exact(dim)).enumerate() {
        let mut excess = norm.distance(c, a) - eps;
        if a.iter().any(|v| !v.is_finite()) {
            excess = f32::INFINITY;
        }
        if clip == ClipMode::Clipped {
            for &v in a {
                excess = excess.max(bounds.0 - v).max(v - bounds.1);
            }
        }
        if excess > TOLERANCE {
            bad.push(i);
            worst = worst.max(excess);
        }
    }
    if bad.is_empty() {
        return Ok(());
    }
    let bounds_rule = match clip {
        ClipMode::Clipped => format!(" and inside [{}, {}]", bounds.0, bounds.1),
        ClipMode::Unclipped => String::new(),
    };
    Err(Error::Budget {
        count: bad.len(),
        total: clean.len() / dim,
        rule: format!("{} distance <= {eps} + {TOLERANCE}{bounds_rule}", norm.name()),
        first: bad.into_iter().take(10).collect(),
        worst,
    })
}
