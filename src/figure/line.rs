//! Straight lines on a [`Canvas`]: solid or dashed Bresenham lines with a
//! square pen, clipped (Liang–Barsky) before rasterising so that far-away
//! endpoints cost nothing and never overflow.

use super::canvas::Canvas;

fn to_i64(v: usize) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Canvas {
    /// Solid line from `(x0, y0)` to `(x1, y1)`, `thickness` pixels wide
    /// (square pen; 0 draws nothing).
    pub fn draw_line(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, color: [u8; 3], thickness: usize) {
        self.draw_pattern_line((x0, y0), (x1, y1), color, thickness, None, 0);
    }

    /// Dashed line: `dash` pixels on, `gap` pixels off, starting with a dash.
    #[allow(clippy::too_many_arguments)]
    pub fn draw_dashed_line(
        &mut self,
        x0: i64,
        y0: i64,
        x1: i64,
        y1: i64,
        color: [u8; 3],
        thickness: usize,
        dash: usize,
        gap: usize,
    ) {
        self.draw_pattern_line((x0, y0), (x1, y1), color, thickness, Some((dash, gap)), 0);
    }

    /// Bresenham line with an optional `(dash, gap)` pattern. `phase` is the
    /// pattern position at the start; the position at the end is returned so
    /// that a polyline can continue its dashes across segments.
    pub(crate) fn draw_pattern_line(
        &mut self,
        from: (i64, i64),
        to: (i64, i64),
        color: [u8; 3],
        thickness: usize,
        pattern: Option<(usize, usize)>,
        phase: usize,
    ) -> usize {
        if thickness == 0 {
            return phase;
        }
        let margin = thickness as f64 + 1.0;
        let (vx0, vy0, vx1, vy1) = self.visible();
        let bounds = (vx0 as f64 - margin, vy0 as f64 - margin, vx1 as f64 + margin, vy1 as f64 + margin);
        let seg = (from.0 as f64, from.1 as f64, to.0 as f64, to.1 as f64);
        let Some((ax, ay, bx, by)) = clip_segment(seg, bounds) else {
            return phase;
        };
        let (mut x, mut y) = (ax.round() as i64, ay.round() as i64);
        let (ex, ey) = (bx.round() as i64, by.round() as i64);
        let (dx, dy) = ((ex - x).abs(), -(ey - y).abs());
        let (sx, sy) = (if x < ex { 1 } else { -1 }, if y < ey { 1 } else { -1 });
        let offset = to_i64((thickness - 1) / 2);
        let mut err = dx + dy;
        let mut step = phase;
        loop {
            let on = match pattern {
                Some((dash, gap)) => match dash.checked_add(gap) {
                    Some(period) if period > 0 => step % period < dash,
                    _ => true,
                },
                None => true,
            };
            if on {
                self.fill_rect(x - offset, y - offset, thickness, thickness, color);
            }
            if x == ex && y == ey {
                break;
            }
            step = step.wrapping_add(1);
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
        step
    }
}

/// Liang–Barsky clipping of segment `(x0, y0, x1, y1)` to the closed box
/// `(xmin, ymin, xmax, ymax)`. Returns `None` when nothing remains or any
/// input is not finite.
pub(crate) fn clip_segment(seg: (f64, f64, f64, f64), bounds: (f64, f64, f64, f64)) -> Option<(f64, f64, f64, f64)> {
    let (x0, y0, x1, y1) = seg;
    let (xmin, ymin, xmax, ymax) = bounds;
    if ![x0, y0, x1, y1].iter().all(|v| v.is_finite()) {
        return None;
    }
    let (dx, dy) = (x1 - x0, y1 - y0);
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for (p, q) in [(-dx, x0 - xmin), (dx, xmax - x0), (-dy, y0 - ymin), (dy, ymax - y0)] {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else {
            let r = q / p;
            if p < 0.0 {
                t0 = t0.max(r);
            } else {
                t1 = t1.min(r);
            }
        }
    }
    if t0 > t1 {
        return None;
    }
    let out = (x0 + t0 * dx, y0 + t0 * dy, x0 + t1 * dx, y0 + t1 * dy);
    [out.0, out.1, out.2, out.3].iter().all(|v| v.is_finite()).then_some(out)
}
