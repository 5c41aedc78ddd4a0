//! Text drawing on a [`Canvas`] with the embedded bitmap font: horizontal
//! text, upward (rotated 90° counter-clockwise) text, and text metrics.
//!
//! `'\n'` starts a new line; each line is left-aligned. A `scale` of `s`
//! draws every font pixel as an `s` x `s` square; scale 0 draws nothing and
//! scales above [`MAX_TEXT_SCALE`] are treated as `MAX_TEXT_SCALE`.

use super::canvas::Canvas;
use super::font::{glyph, ink, ADVANCE, GLYPH_HEIGHT, GLYPH_WIDTH, LINE_HEIGHT};

/// Largest text scale; larger requests are clamped to it.
pub const MAX_TEXT_SCALE: usize = 64;

/// Calls `f(u, v)` with the top-left corner of every inked font pixel of
/// `text`, in unrotated text coordinates (scaled).
fn for_each_ink(text: &str, scale: usize, mut f: impl FnMut(usize, usize)) {
    let scale = scale.min(MAX_TEXT_SCALE);
    for (line_no, line) in text.split('\n').enumerate() {
        let top = line_no.saturating_mul(LINE_HEIGHT);
        for (i, c) in line.chars().enumerate() {
            let left = i.saturating_mul(ADVANCE);
            let g = glyph(c);
            for row in 0..GLYPH_HEIGHT {
                for col in 0..GLYPH_WIDTH {
                    if ink(g, col, row) {
                        let u = left.saturating_add(col).saturating_mul(scale);
                        let v = top.saturating_add(row).saturating_mul(scale);
                        f(u, v);
                    }
                }
            }
        }
    }
}

fn to_i64(v: usize) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Canvas {
    /// Width in pixels of `text` at `scale` (widest line; 0 for empty text).
    pub fn text_width(text: &str, scale: usize) -> usize {
        let scale = scale.min(MAX_TEXT_SCALE);
        text.split('\n')
            .map(|line| line.chars().count())
            .max()
            .filter(|&n| n > 0)
            .map_or(0, |n| n.saturating_mul(ADVANCE).saturating_sub(1).saturating_mul(scale))
    }

    /// Height in pixels of `text` at `scale` (0 for empty text), including
    /// descender rows of the last line.
    pub fn text_height(text: &str, scale: usize) -> usize {
        if text.is_empty() {
            return 0;
        }
        let scale = scale.min(MAX_TEXT_SCALE);
        let lines = text.split('\n').count();
        (lines - 1).saturating_mul(LINE_HEIGHT).saturating_add(GLYPH_HEIGHT).saturating_mul(scale)
    }

    /// Draws `text` with its bounding box's top-left corner at `(x, y)`.
    /// Only pixels inside `text_width` x `text_height` from there are touched.
    pub fn draw_text(&mut self, x: i64, y: i64, text: &str, scale: usize, color: [u8; 3]) {
        let scale = scale.min(MAX_TEXT_SCALE);
        for_each_ink(text, scale, |u, v| {
            self.fill_rect(x.saturating_add(to_i64(u)), y.saturating_add(to_i64(v)), scale, scale, color);
        });
    }

    /// Draws `text` reading bottom-to-top (rotated 90° counter-clockwise).
    /// Its box has its top-left corner at `(x, y)`, is `text_height` wide and
    /// `text_width` tall.
    pub fn draw_text_up(&mut self, x: i64, y: i64, text: &str, scale: usize, color: [u8; 3]) {
        let scale = scale.min(MAX_TEXT_SCALE);
        let w = to_i64(Self::text_width(text, scale));
        let s = to_i64(scale);
        for_each_ink(text, scale, |u, v| {
            let px = x.saturating_add(to_i64(v));
            let py = y.saturating_add(w - to_i64(u) - s);
            self.fill_rect(px, py, scale, scale, color);
        });
    }

    /// Draws `text` horizontally centred on `cx`, top at `y`.
    pub fn draw_text_centered(&mut self, cx: i64, y: i64, text: &str, scale: usize, color: [u8; 3]) {
        let half = to_i64(Self::text_width(text, scale) / 2);
        self.draw_text(cx.saturating_sub(half), y, text, scale, color);
    }
}
