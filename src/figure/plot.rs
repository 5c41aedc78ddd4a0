//! Line plots: series of `(x, y)` points drawn as lines with square markers,
//! with axes, numeric ticks, axis labels, a title and a legend.
//!
//! Points outside the axis ranges are clipped (segments are cut at the plot
//! border), non-finite points are skipped and break the line.

use super::canvas::{Canvas, BLACK, WHITE};
use super::error::FigureError;
use super::line::clip_segment;
use super::plot_layout::{
    compute, Layout, LayoutInput, PlotArea, LEGEND_ROW, LEGEND_SAMPLE, LEGEND_TEXT_GAP, PAD, TEXT_SCALE, TICK_GAP,
    TICK_LEN,
};

/// Eight clearly distinct series colours (blue, red, green, orange, purple,
/// brown, pink, cyan).
pub const PALETTE: [[u8; 3]; 8] = [
    [31, 119, 180],
    [214, 39, 40],
    [44, 160, 44],
    [255, 127, 14],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
    [23, 190, 207],
];

/// Smallest accepted figure width.
pub const MIN_WIDTH: usize = 240;
/// Smallest accepted figure height.
pub const MIN_HEIGHT: usize = 180;
/// Largest accepted figure width or height.
pub const MAX_SIDE: usize = 8000;

const GRID_COLOR: [u8; 3] = [225, 225, 225];
const LINE_THICKNESS: usize = 2;
const MARKER: usize = 5;
const DASH: (usize, usize) = (8, 5);

/// One named line of a plot.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Name shown in the legend.
    pub name: String,
    /// Data points, drawn in order.
    pub points: Vec<(f64, f64)>,
    /// Line and marker colour.
    pub color: [u8; 3],
    /// Draw the line dashed instead of solid.
    pub dashed: bool,
}

/// A complete line plot description.
#[derive(Debug, Clone, PartialEq)]
pub struct LinePlot {
    /// Title above the plot (may be empty).
    pub title: String,
    /// Label under the x axis (may be empty).
    pub x_label: String,
    /// Label left of the y axis, drawn rotated (may be empty).
    pub y_label: String,
    /// Visible x range `(min, max)`.
    pub x_range: (f64, f64),
    /// Visible y range `(min, max)`.
    pub y_range: (f64, f64),
    /// Lines to draw, listed in the legend in this order.
    pub series: Vec<Series>,
    /// Figure width in pixels.
    pub width: usize,
    /// Figure height in pixels.
    pub height: usize,
}

fn check_range(axis: &'static str, (min, max): (f64, f64)) -> Result<(), FigureError> {
    let ok = min.is_finite() && max.is_finite() && min < max && (max - min).is_finite();
    if ok {
        Ok(())
    } else {
        Err(FigureError::BadRange { axis, min, max })
    }
}

fn to_i64(v: usize) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl LinePlot {
    fn layout(&self) -> Result<Layout, FigureError> {
        check_range("x", self.x_range)?;
        check_range("y", self.y_range)?;
        let (w, h) = (self.width, self.height);
        if !(MIN_WIDTH..=MAX_SIDE).contains(&w) || !(MIN_HEIGHT..=MAX_SIDE).contains(&h) {
            let reason = "plot must be between 240x180 and 8000x8000";
            return Err(FigureError::BadSize { width: w, height: h, reason });
        }
        compute(&LayoutInput {
            width: w,
            height: h,
            title: &self.title,
            x_label: &self.x_label,
            y_label: &self.y_label,
            x_range: self.x_range,
            y_range: self.y_range,
            names: self.series.iter().map(|s| s.name.as_str()).collect(),
        })
    }

    /// Where the data will be drawn, after validating the plot.
    pub fn plot_area(&self) -> Result<PlotArea, FigureError> {
        self.layout().map(|l| l.area)
    }

    /// Data coordinates to (fractional) canvas pixel coordinates.
    fn to_px(&self, a: &PlotArea, (x, y): (f64, f64)) -> (f64, f64) {
        let (x0, x1) = self.x_range;
        let (y0, y1) = self.y_range;
        let px = a.left as f64 + (x - x0) / (x1 - x0) * (a.width as f64 - 1.0);
        let py = a.top as f64 + (y1 - y) / (y1 - y0) * (a.height as f64 - 1.0);
        (px, py)
    }

    /// Renders the plot onto a new white canvas of `width` x `height`.
    pub fn render(&self) -> Result<Canvas, FigureError> {
        let layout = self.layout()?;
        let a = layout.area;
        let mut c = Canvas::new(self.width, self.height, WHITE)?;
        let (left, top) = (to_i64(a.left), to_i64(a.top));
        let (right, bottom) = (left + to_i64(a.width) - 1, top + to_i64(a.height) - 1);
        let text_h = to_i64(Canvas::text_height("X", TEXT_SCALE));

        // Grid lines and ticks.
        for t in &layout.x_ticks {
            let px = self.to_px(&a, (t.value, self.y_range.0)).0.round() as i64;
            c.draw_line(px, top, px, bottom, GRID_COLOR, 1);
            c.draw_line(px, bottom + 1, px, bottom + to_i64(TICK_LEN), BLACK, 1);
            let tw = to_i64(Canvas::text_width(&t.label, TEXT_SCALE));
            let tx = (px - tw / 2).clamp(0, (to_i64(self.width) - tw).max(0));
            c.draw_text(tx, bottom + to_i64(TICK_LEN + TICK_GAP), &t.label, TEXT_SCALE, BLACK);
        }
        for t in &layout.y_ticks {
            let py = self.to_px(&a, (self.x_range.0, t.value)).1.round() as i64;
            c.draw_line(left, py, right, py, GRID_COLOR, 1);
            c.draw_line(left - to_i64(TICK_LEN), py, left - 1, py, BLACK, 1);
            let tw = to_i64(Canvas::text_width(&t.label, TEXT_SCALE));
            // Centre the label on the cap height (rows 0..7 of the glyph).
            let ty = py - to_i64(7 * TEXT_SCALE) / 2;
            c.draw_text(left - to_i64(TICK_LEN + TICK_GAP) - tw, ty, &t.label, TEXT_SCALE, BLACK);
        }

        // Data, clipped to the plot area (plus room for edge markers).
        let m = to_i64(MARKER / 2);
        c.set_clip(left - m, top - m, a.width + MARKER, a.height + MARKER);
        for s in &self.series {
            self.draw_series(&mut c, &a, s);
        }
        c.clear_clip();
        c.stroke_rect(left - 1, top - 1, a.width + 2, a.height + 2, BLACK);

        // Labels and title.
        let mid_x = left + to_i64(a.width) / 2;
        if !self.x_label.is_empty() {
            let y = bottom + to_i64(TICK_LEN + TICK_GAP + PAD / 2) + text_h + to_i64(PAD / 2);
            c.draw_text_centered(mid_x, y, &self.x_label, TEXT_SCALE, BLACK);
        }
        if !self.y_label.is_empty() {
            let len = to_i64(Canvas::text_width(&self.y_label, TEXT_SCALE));
            let y = (top + to_i64(a.height) / 2 - len / 2).max(0);
            c.draw_text_up(to_i64(PAD), y, &self.y_label, TEXT_SCALE, BLACK);
        }
        if !self.title.is_empty() {
            let tw = to_i64(Canvas::text_width(&self.title, TEXT_SCALE));
            let pad = to_i64(PAD);
            let tx = (mid_x - tw / 2).clamp(pad, (to_i64(self.width) - tw - pad).max(pad));
            c.draw_text(tx, to_i64(PAD), &self.title, TEXT_SCALE, BLACK);
        }
        self.draw_legend(&mut c, &layout);
        Ok(c)
    }

    fn draw_series(&self, c: &mut Canvas, a: &PlotArea, s: &Series) {
        let bounds = (self.x_range.0, self.y_range.0, self.x_range.1, self.y_range.1);
        let pattern = s.dashed.then_some(DASH);
        let mut phase = 0;
        let mut prev: Option<(f64, f64)> = None;
        for &p in &s.points {
            if !(p.0.is_finite() && p.1.is_finite()) {
                prev = None;
                continue;
            }
            if let Some(q) = prev {
                if let Some((ax, ay, bx, by)) = clip_segment((q.0, q.1, p.0, p.1), bounds) {
                    let (x0, y0) = self.to_px(a, (ax, ay));
                    let (x1, y1) = self.to_px(a, (bx, by));
                    let (from, to) = ((x0.round() as i64, y0.round() as i64), (x1.round() as i64, y1.round() as i64));
                    phase = c.draw_pattern_line(from, to, s.color, LINE_THICKNESS, pattern, phase);
                }
            }
            prev = Some(p);
        }
        for &p in &s.points {
            let inside = p.0 >= bounds.0 && p.0 <= bounds.2 && p.1 >= bounds.1 && p.1 <= bounds.3;
            if inside {
                let (px, py) = self.to_px(a, p);
                let m = to_i64(MARKER / 2);
                c.fill_rect(px.round() as i64 - m, py.round() as i64 - m, MARKER, MARKER, s.color);
            }
        }
    }

    fn draw_legend(&self, c: &mut Canvas, layout: &Layout) {
        let Some((lx, ly, lw, lh)) = layout.legend else {
            return;
        };
        let (lx, ly) = (to_i64(lx), to_i64(ly));
        c.fill_rect(lx, ly, lw, lh, WHITE);
        c.stroke_rect(lx, ly, lw, lh, BLACK);
        let cap_mid = to_i64(7 * TEXT_SCALE / 2);
        for (i, (s, name)) in self.series.iter().zip(&layout.names).enumerate() {
            let row_top = ly + to_i64(PAD / 2 + i * LEGEND_ROW);
            let mid = row_top + cap_mid;
            let x0 = lx + to_i64(PAD / 2);
            let x1 = x0 + to_i64(LEGEND_SAMPLE);
            let pattern = s.dashed.then_some(DASH);
            c.draw_pattern_line((x0, mid), (x1, mid), s.color, LINE_THICKNESS, pattern, 0);
            let m = to_i64(MARKER / 2);
            c.fill_rect((x0 + x1) / 2 - m, mid - m, MARKER, MARKER, s.color);
            c.draw_text(x1 + to_i64(LEGEND_TEXT_GAP), row_top, name, TEXT_SCALE, BLACK);
        }
    }
}
