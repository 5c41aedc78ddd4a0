//! Geometry of a [`LinePlot`](super::plot::LinePlot): margins, plot area,
//! tick choice (thinned until labels cannot overlap) and legend placement.

use super::canvas::Canvas;
use super::error::FigureError;
use super::font::{ADVANCE, LINE_HEIGHT};
use super::ticks::{nice_ticks, Tick};

/// Scale of every text element of a plot.
pub const TEXT_SCALE: usize = 2;
/// General padding between elements, in pixels.
pub const PAD: usize = 12;
/// Length of axis tick marks, in pixels.
pub const TICK_LEN: usize = 5;
/// Gap between a tick mark and its label.
pub const TICK_GAP: usize = 6;
/// Length of the line sample in a legend entry.
pub const LEGEND_SAMPLE: usize = 30;
/// Gap between a legend line sample and the series name.
pub const LEGEND_TEXT_GAP: usize = 8;
/// Height of one legend entry.
pub const LEGEND_ROW: usize = LINE_HEIGHT * TEXT_SCALE + 6;
/// Smallest plot area (each side) left after margins.
pub const MIN_AREA: usize = 60;

/// The rectangle that holds the data, in canvas pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlotArea {
    /// Left edge (first data column).
    pub left: usize,
    /// Top edge (first data row).
    pub top: usize,
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
}

/// Everything `render` needs to place.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub area: PlotArea,
    pub x_ticks: Vec<Tick>,
    pub y_ticks: Vec<Tick>,
    /// Legend box `(x, y, w, h)`, if there are series.
    pub legend: Option<(usize, usize, usize, usize)>,
    /// Legend names after truncation to the space available.
    pub names: Vec<String>,
}

/// Inputs of the layout computation (borrowed from the plot).
pub(crate) struct LayoutInput<'a> {
    pub width: usize,
    pub height: usize,
    pub title: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
    pub x_range: (f64, f64),
    pub y_range: (f64, f64),
    pub names: Vec<&'a str>,
}

fn widest(ticks: &[Tick]) -> usize {
    ticks.iter().map(|t| Canvas::text_width(&t.label, TEXT_SCALE)).max().unwrap_or(0)
}

/// Shortens `name` to at most `max_chars` characters, marking the cut with "..".
fn truncate(name: &str, max_chars: usize) -> String {
    if name.chars().count() <= max_chars {
        return name.to_string();
    }
    let keep = max_chars.saturating_sub(2);
    name.chars().take(keep).chain("..".chars()).collect()
}

/// Most ticks (at most 7) whose spacing over `length` pixels exceeds `need`.
fn fitting_ticks(range: (f64, f64), length: usize, need: impl Fn(&[Tick]) -> usize) -> Vec<Tick> {
    let mut fallback = Vec::new();
    for target in (2..=6).rev() {
        let ticks = nice_ticks(range.0, range.1, target);
        let n = ticks.len().max(2);
        let spacing = length / (n - 1);
        if spacing >= need(&ticks) {
            return ticks;
        }
        fallback = ticks;
    }
    // Even the coarsest choice is crowded: keep only the end ticks.
    if fallback.len() > 2 {
        let last = fallback.len() - 1;
        fallback = fallback.into_iter().enumerate().filter(|(i, _)| *i == 0 || *i == last).map(|(_, t)| t).collect();
    }
    fallback
}

pub(crate) fn compute(input: &LayoutInput<'_>) -> Result<Layout, FigureError> {
    let text_h = Canvas::text_height("X", TEXT_SCALE);
    let (w, h) = (input.width, input.height);
    let too_small = FigureError::BadSize { width: w, height: h, reason: "too small for labels and legend" };

    // Legend on the right, outside the data area; names shortened to keep it
    // within two fifths of the figure.
    let legend_fixed = PAD / 2 + LEGEND_SAMPLE + LEGEND_TEXT_GAP + PAD / 2;
    let max_chars = (w * 2 / 5).saturating_sub(legend_fixed) / (ADVANCE * TEXT_SCALE);
    let names: Vec<String> = input.names.iter().map(|n| truncate(n, max_chars.max(3))).collect();
    let name_w = names.iter().map(|n| Canvas::text_width(n, TEXT_SCALE)).max().unwrap_or(0);
    let legend_w = legend_fixed + name_w;
    let legend_h = names.len() * LEGEND_ROW + PAD / 2;

    let top = PAD + if input.title.is_empty() { text_h / 2 } else { text_h + PAD };
    let bottom = TICK_LEN + TICK_GAP + text_h + PAD + if input.x_label.is_empty() { 0 } else { text_h + PAD };
    let plot_h = h.checked_sub(top + bottom).filter(|&v| v >= MIN_AREA).ok_or(too_small)?;

    let y_ticks = fitting_ticks(input.y_range, plot_h, |_| text_h + PAD);
    let y_label_w = if input.y_label.is_empty() { 0 } else { text_h + PAD };
    let left = PAD + y_label_w + widest(&y_ticks) + TICK_GAP + TICK_LEN;

    let x_guess = nice_ticks(input.x_range.0, input.x_range.1, 6);
    let half_label = widest(&x_guess) / 2;
    let right = if names.is_empty() { PAD + half_label } else { PAD + legend_w + PAD.max(half_label) };
    let too_small = || FigureError::BadSize { width: w, height: h, reason: "too small for labels and legend" };
    if !names.is_empty() && top + legend_h + PAD / 2 > h {
        return Err(too_small());
    }
    let plot_w = w.checked_sub(left + right).filter(|&v| v >= MIN_AREA).ok_or_else(too_small)?;
    let x_ticks = fitting_ticks(input.x_range, plot_w, |t| widest(t) + PAD);

    let area = PlotArea { left, top, width: plot_w, height: plot_h };
    let legend = (!names.is_empty()).then(|| (left + plot_w + PAD.max(half_label), top, legend_w, legend_h));
    Ok(Layout { area, x_ticks, y_ticks, legend, names })
}
