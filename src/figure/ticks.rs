//! "Nice" axis tick selection and tick-label formatting.
//!
//! Steps are `m * 10^e` with `m` in {1, 2, 2.5, 5}; labels show exactly as
//! many decimals as the step needs (0.05, 0.10, ...), switching to
//! scientific notation for very large or very small magnitudes.

/// One axis tick: its data value and its label.
#[derive(Debug, Clone, PartialEq)]
pub struct Tick {
    /// Position in data units (inside the axis range).
    pub value: f64,
    /// Text drawn next to the tick.
    pub label: String,
}

const MANTISSAS: [f64; 4] = [1.0, 2.0, 2.5, 5.0];
/// Hard cap on ticks returned, whatever the range.
const MAX_TICKS: usize = 50;

/// Picks about `target` ticks covering `[min, max]`. Returns an empty list
/// when the range is not finite or empty.
pub fn nice_ticks(min: f64, max: f64, target: usize) -> Vec<Tick> {
    let span = max - min;
    if !(min.is_finite() && max.is_finite() && span.is_finite() && span > 0.0) {
        return Vec::new();
    }
    let target = target.clamp(2, MAX_TICKS);
    let e0 = (span / target as f64).log10().floor() as i32;
    let mut best: Option<(usize, f64, f64, i32)> = None; // (score, step, mantissa, exp)
    for e in (e0 - 1)..=(e0 + 1) {
        for m in MANTISSAS {
            let step = m * 10f64.powi(e);
            let Some(n) = count(min, max, step) else {
                continue;
            };
            let score = n.abs_diff(target);
            // Ties go to the larger step (iteration order is increasing).
            if best.is_none_or(|b| score <= b.0) {
                best = Some((score, step, m, e));
            }
        }
    }
    let Some((_, step, m, e)) = best else {
        return Vec::new();
    };
    let first = (min / step - 1e-9).ceil();
    let magnitude = min.abs().max(max.abs());
    let n = count(min, max, step).unwrap_or(0).min(MAX_TICKS);
    (0..n)
        .map(|i| {
            let mut v = (first + i as f64) * step;
            if v.abs() < step * 1e-9 {
                v = 0.0;
            }
            let v = v.clamp(min, max);
            Tick { value: v, label: format_tick(v, m, e, magnitude) }
        })
        .collect()
}

/// Number of multiples of `step` in `[min, max]`, if sane.
fn count(min: f64, max: f64, step: f64) -> Option<usize> {
    if !(step.is_finite() && step > 0.0) {
        return None;
    }
    let lo = (min / step - 1e-9).ceil();
    let hi = (max / step + 1e-9).floor();
    let n = hi - lo + 1.0;
    (n.is_finite() && (0.0..=1e6).contains(&n)).then_some(n as usize)
}

/// Formats `v` for a step of `m * 10^e` on an axis whose largest absolute
/// value is `magnitude`.
fn format_tick(v: f64, m: f64, e: i32, magnitude: f64) -> String {
    let extra = usize::from(m == 2.5);
    if magnitude >= 1e6 || e < -4 {
        let ev = if magnitude > 0.0 { magnitude.log10().floor() as i32 } else { 0 };
        let digits = (ev - e).max(0) as usize + extra;
        return format!("{:.*e}", digits.min(6), v);
    }
    let decimals = if e < 0 {
        (-e) as usize + extra
    } else if e == 0 {
        extra
    } else {
        0
    };
    format!("{:.*}", decimals, v)
}
