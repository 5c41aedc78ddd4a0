//! Image grids: rows of grayscale tiles (e.g. MNIST digits) with a title,
//! column headers, row labels on the left and a caption under every tile.
//!
//! Every column has the same width (the widest of tile, caption and header),
//! so text never overlaps neighbouring tiles. Rows may be ragged; missing
//! cells stay blank. Captions and labels may contain `'\n'`.

use super::canvas::{Canvas, MAX_UPSCALE, WHITE};
use super::error::FigureError;
use super::font::LINE_HEIGHT;

/// Scale of every text element of a grid.
pub const TEXT_SCALE: usize = 2;
/// Blank border around the whole figure.
pub const MARGIN: usize = 16;
/// Horizontal gap between columns (and between row labels and tiles).
pub const COL_GAP: usize = 16;
/// Vertical gap between rows.
pub const ROW_GAP: usize = 16;
/// Gap between a tile and its caption / a header and its tiles.
pub const TEXT_GAP: usize = 6;

const TEXT_COLOR: [u8; 3] = [0, 0, 0];
const FRAME_COLOR: [u8; 3] = [160, 160, 160];

/// One grayscale image of the grid; values in [0, 1] (0 = black).
#[derive(Debug, Clone, PartialEq)]
pub struct Tile {
    /// `width * height` values, row-major.
    pub pixels: Vec<f32>,
    /// Image width in pixels (before upscaling).
    pub width: usize,
    /// Image height in pixels (before upscaling).
    pub height: usize,
    /// Text under the tile, e.g. "pred 7 (0.98)" (may be empty).
    pub caption: String,
}

/// A titled grid of tiles.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageGrid {
    /// Title on top (may be empty).
    pub title: String,
    /// One label per row, or none at all.
    pub row_labels: Vec<String>,
    /// One label per column, or none at all.
    pub col_labels: Vec<String>,
    /// Tiles, row by row.
    pub rows: Vec<Vec<Tile>>,
    /// Nearest-neighbour enlargement factor (1..=64).
    pub upscale: usize,
}

fn to_i64(v: usize) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Text height plus a gap, or 0 for empty text.
fn text_block(text: &str, gap: usize) -> usize {
    match Canvas::text_height(text, TEXT_SCALE) {
        0 => 0,
        h => h + gap,
    }
}

/// Draws every line of `text` centred on `cx`, starting at `y`.
fn draw_centered_lines(c: &mut Canvas, cx: i64, y: i64, text: &str) {
    for (i, line) in text.split('\n').enumerate() {
        let dy = to_i64(i * LINE_HEIGHT * TEXT_SCALE);
        c.draw_text_centered(cx, y + dy, line, TEXT_SCALE, TEXT_COLOR);
    }
}

impl ImageGrid {
    fn validate(&self) -> Result<usize, FigureError> {
        if self.upscale == 0 || self.upscale > MAX_UPSCALE {
            return Err(FigureError::BadUpscale(self.upscale));
        }
        let ncols = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        if ncols == 0 {
            return Err(FigureError::EmptyGrid);
        }
        for (row, tiles) in self.rows.iter().enumerate() {
            for (col, t) in tiles.iter().enumerate() {
                if t.width.checked_mul(t.height) != Some(t.pixels.len()) {
                    let expected = t.width.saturating_mul(t.height);
                    return Err(FigureError::BadTile { row, col, expected, found: t.pixels.len() });
                }
            }
        }
        for (what, labels, n) in
            [("row_labels", &self.row_labels, self.rows.len()), ("col_labels", &self.col_labels, ncols)]
        {
            if !labels.is_empty() && labels.len() != n {
                return Err(FigureError::BadLabels { what, expected: n, found: labels.len() });
            }
        }
        Ok(ncols)
    }

    /// Renders the grid onto a new white canvas sized to fit everything.
    pub fn render(&self) -> Result<Canvas, FigureError> {
        let ncols = self.validate()?;
        let tiles = || self.rows.iter().flatten();
        let up = self.upscale;
        let too_big = || FigureError::BadSize { width: usize::MAX, height: usize::MAX, reason: "grid too large" };
        let cell_w = tiles().map(|t| t.width).max().unwrap_or(0).checked_mul(up).ok_or_else(too_big)?;
        let cell_h = tiles().map(|t| t.height).max().unwrap_or(0).checked_mul(up).ok_or_else(too_big)?;

        let widest = |texts: &mut dyn Iterator<Item = &String>| {
            texts.map(|s| Canvas::text_width(s, TEXT_SCALE)).max().unwrap_or(0)
        };
        let col_w = cell_w.max(widest(&mut tiles().map(|t| &t.caption))).max(widest(&mut self.col_labels.iter()));
        let label_w = widest(&mut self.row_labels.iter());
        let label_col = if label_w > 0 { label_w + COL_GAP } else { 0 };
        let header_h = self.col_labels.iter().map(|l| text_block(l, TEXT_GAP)).max().unwrap_or(0);
        let title_h = text_block(&self.title, MARGIN);
        let caption_h: Vec<usize> =
            self.rows.iter().map(|r| r.iter().map(|t| text_block(&t.caption, TEXT_GAP)).max().unwrap_or(0)).collect();
        let row_h = |r: usize| cell_h + caption_h.get(r).copied().unwrap_or(0);

        let grid_w = ncols.saturating_mul(col_w).saturating_add((ncols - 1) * COL_GAP);
        let width = (MARGIN * 2 + label_col)
            .saturating_add(grid_w)
            .max(Canvas::text_width(&self.title, TEXT_SCALE).saturating_add(2 * MARGIN));
        let rows_h = (0..self.rows.len()).map(row_h).fold(0usize, usize::saturating_add);
        let height = (MARGIN * 2 + title_h + header_h)
            .saturating_add(rows_h)
            .saturating_add(self.rows.len().saturating_sub(1).saturating_mul(ROW_GAP));
        let mut c = Canvas::new(width, height, WHITE)?;

        if !self.title.is_empty() {
            draw_centered_lines(&mut c, to_i64(width / 2), to_i64(MARGIN), &self.title);
        }
        let col_x = |col: usize| to_i64(MARGIN + label_col + col * (col_w + COL_GAP));
        let half_col = to_i64(col_w / 2);
        for (col, label) in self.col_labels.iter().enumerate() {
            draw_centered_lines(&mut c, col_x(col) + half_col, to_i64(MARGIN + title_h), label);
        }
        let mut y = to_i64(MARGIN + title_h + header_h);
        for (r, tiles) in self.rows.iter().enumerate() {
            if let Some(label) = self.row_labels.get(r) {
                let ly = y + to_i64(cell_h / 2) - to_i64(Canvas::text_height(label, TEXT_SCALE) / 2);
                c.draw_text(to_i64(MARGIN), ly, label, TEXT_SCALE, TEXT_COLOR);
            }
            for (col, t) in tiles.iter().enumerate() {
                let (tw, th) = (t.width * up, t.height * up);
                let tx = col_x(col) + to_i64((col_w - tw) / 2);
                let ty = y + to_i64((cell_h - th) / 2);
                if tw > 0 && th > 0 {
                    c.stroke_rect(tx - 1, ty - 1, tw + 2, th + 2, FRAME_COLOR);
                }
                c.blit_gray(tx, ty, &t.pixels, t.width, t.height, up)?;
                draw_centered_lines(&mut c, col_x(col) + half_col, y + to_i64(cell_h + TEXT_GAP), &t.caption);
            }
            y += to_i64(row_h(r) + ROW_GAP);
        }
        Ok(c)
    }
}
